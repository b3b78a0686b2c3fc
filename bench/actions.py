"""The cost of a record action: converting leads with the default CRM's Convert.

    python bench/actions.py [--leads 1000] [--backends sqlite,postgresql]

Each lead is converted once (half of them name a company that already exists, so the
account is found; the contact and the opportunity are made; the lead is marked converted
and linked). Per-lead times, medians:

- engine: `actions.run(..., "convert")` against the same work written by hand on the
  record service in one transaction (look the account up by name, create the missing
  account, the contact and the opportunity, update the lead), alternated lead by lead;
- API: `POST /api/v1/lead/{id}/actions/convert` against what a client would send by hand
  (GET the accounts of that name, POST account if none, POST contact, POST opportunity,
  PATCH the lead), through the real ASGI app. Target: at most 1.3x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, contacts, database, table  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from metacrm.engine import actions, query, records, sync  # noqa: E402
from metacrm.engine.boot import open_runtime  # noqa: E402
from metacrm.engine.users import create_token, create_user  # noqa: E402
from metacrm.web.app import create_app  # noqa: E402
from metacrm.web.settings import Settings  # noqa: E402

COMPANIES = 50


def _leads(ctx, count: int) -> list[dict]:
    made = []
    for i, person in enumerate(contacts(count, seed=11)):
        made.append(records.create(ctx, "lead", {
            "last_name": person["last_name"], "first_name": person["first_name"],
            "email": person["email"].replace("kh", "lead"), "phone": person["phone"],
            "city": person["city"], "company": f"Công ty {i % (2 * COMPANIES)}",
            "estimated_value": 1000000 * (i % 40 + 1), "source": "website"}))
    return made


def _by_hand(ctx, lead: dict) -> None:
    """What a developer writes for a conversion on the record service."""
    acting = replace(ctx, by_action=True)  # the converted_* links are read-only to people
    with ctx.db.write() as conn:
        found = query.list_records(ctx, "account", query.ListQuery(
            where=query.condition(ctx, ctx.model.objects["account"], "name", "eq",
                                  lead["company"]), page_size=1, with_total=False),
            conn=conn).items
        account = found[0]["id"] if found else records.create(
            ctx, "account", {"name": lead["company"], "city": lead["city"],
                             "phone": lead["phone"]}, conn=conn)["id"]
        contact = records.create(ctx, "contact", {
            "first_name": lead["first_name"], "last_name": lead["last_name"],
            "email": lead["email"], "phone": lead["phone"], "city": lead["city"],
            "account": account, "source": "lead", "lifecycle_stage": "lead"}, conn=conn)
        deal = records.create(ctx, "opportunity", {
            "name": lead["company"], "account": account, "contact": contact["id"],
            "amount": lead["estimated_value"], "source": "website"}, conn=conn)
        records.update(acting, "lead", lead["id"], {
            "status": "converted", "converted_account": account,
            "converted_contact": contact["id"], "converted_opportunity": deal["id"]},
            conn=conn)


def _api_by_hand(client: TestClient, headers: dict, lead: dict) -> None:
    found = client.get("/api/v1/account", params={"name": lead["company"], "page_size": 1},
                       headers=headers).json()["items"]
    account = found[0]["id"] if found else client.post(
        "/api/v1/account", json={"name": lead["company"], "city": lead["city"],
                                 "phone": lead["phone"]}, headers=headers).json()["id"]
    contact = client.post("/api/v1/contact", json={
        "first_name": lead["first_name"], "last_name": lead["last_name"],
        "email": lead["email"], "phone": lead["phone"], "city": lead["city"],
        "account": account, "source": "lead", "lifecycle_stage": "lead"},
        headers=headers).json()
    deal = client.post("/api/v1/opportunity", json={
        "name": lead["company"], "account": account, "contact": contact["id"],
        "amount": int(lead["estimated_value"]), "source": "website"}, headers=headers).json()
    # a client cannot set read-only fields: it records what it can (the status)
    client.patch(f"/api/v1/lead/{lead['id']}", json={
        "status": "connected", "version": lead["version"]}, headers=headers)
    assert deal["id"]


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(backend: str, leads: int, workdir: Path) -> list[list[object]]:
    rows = []
    with database(backend, workdir) as url:
        rt = open_runtime(ROOT / "apps" / "default_crm", url)
        sync.migrate(rt.db, rt.model)
        with rt.db.write() as conn:
            admin = create_user(conn, rt.schema, "admin", role="admin")
            token = create_token(conn, rt.schema, admin.id)
        ctx = rt.context(admin)
        for i in range(COMPANIES):  # half the companies exist: their account is found
            records.create(ctx, "account", {"name": f"Công ty {2 * i}"})
        pool = _leads(ctx, 4 * leads)
        engine_action, engine_hand = [], []
        for i in range(leads):
            a, b = pool[2 * i], pool[2 * i + 1]
            engine_action.append(_timed(lambda a=a: actions.run(ctx, "lead", a["id"],
                                                                "convert")))
            engine_hand.append(_timed(lambda b=b: _by_hand(ctx, b)))
        app = create_app(Settings(app_dir=str(ROOT / "apps" / "default_crm"),
                                  database_url=url, secret_key="bench"),
                         runtime=rt, migrate=False)
        headers = {"Authorization": f"Bearer {token}"}
        api_action, api_hand = [], []
        with TestClient(app) as client:
            for i in range(leads):
                a, b = pool[2 * leads + 2 * i], pool[2 * leads + 2 * i + 1]
                api_action.append(_timed(lambda a=a: client.post(
                    f"/api/v1/lead/{a['id']}/actions/convert", headers=headers)))
                api_hand.append(_timed(lambda b=b: _api_by_hand(client, headers, b)))
        for label, ours, theirs, baseline in (
                ("engine", engine_action, engine_hand, "by hand on the record service"),
                ("API", api_action, api_hand, "by hand over the API (5 calls)")):
            mine, base = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
            rows.append([backend, f"convert a lead, {label} (ms)", f"{mine:.2f}", baseline,
                         f"{base:.2f}", f"{mine / base:.2f}"])
        rt.db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends.split(","):
            results += run(backend, args.leads, Path(folder))
    print(table(["db", "measure", "median", "baseline", "baseline median", "ratio"],
                results))


if __name__ == "__main__":
    main()
