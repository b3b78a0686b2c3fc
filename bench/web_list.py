"""HTML list, detail and search pages under load: MetaCRM against a hand-written page.

    python bench/web_list.py [--rows 1000000] [--backends sqlite,postgresql] [--seconds 10]
                             [--database URL]

Loads ROWS contacts (the engine's bulk path), serves the default CRM with uvicorn (one
worker) and the hand-written Starlette + SQLAlchemy + Jinja2 page of bench/handwritten.py
(COUNT + LIMIT/OFFSET + LIKE) over the same database, and loads each from a second process
with `wrk -t1 -c8`. Prints requests per second, p50/p99 latency and the ratios.

`--database URL` serves a database an earlier run prepared (loading 1M contacts through
the engine takes a quarter of an hour): it is prepared there first if it is not yet, and
kept afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, contacts, database, table  # noqa: E402

from metacrm.engine import records, sync  # noqa: E402
from metacrm.engine.boot import open_runtime  # noqa: E402
from metacrm.engine.users import create_user  # noqa: E402

PASSWORD = "bench-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], env: dict[str, str], port: int, cwd: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", *args, "--port", str(port),
                             "--workers", "1", "--log-level", "warning"], cwd=cwd,
                            env={**os.environ, **env})
    deadline = time.monotonic() + 300  # start-up migrates: a new index on a big table
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{args[0]} did not start")


def wrk(url: str, seconds: int, cookie: str | None = None) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of `wrk -t1 -c8` on url."""
    command = ["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"errors while loading {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return rps, percentile("50"), percentile("99")


def prepare(url: str, rows: int) -> int:
    rt = open_runtime(ROOT / "apps" / "default_crm", url)
    sync.migrate(rt.db, rt.model)
    with rt.db.write() as conn:
        create_user(conn, rt.schema, "bench", role="admin", password=PASSWORD)
    ctx = rt.system_context()
    started = time.perf_counter()
    records.bulk_create(ctx, "contact", contacts(rows), batch_size=2000)
    print(f"  loaded {rows:,} contacts in {time.perf_counter() - started:.0f} s", flush=True)
    # the hand-written page gets the table with the indexes a developer would declare
    # (those of the metadata: city, last name + first name, email, account, owner), not
    # the list-order indexes and the search index MetaCRM derives from the layouts
    started = time.perf_counter()
    with rt.db.engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE hand_contact AS SELECT * FROM contact")
        for columns in ("id", "city", "last_name, first_name", "email", "account", "owner"):
            name = "hand_ix_" + columns.replace(", ", "_")
            conn.exec_driver_sql(f"CREATE INDEX {name} ON hand_contact ({columns})")
        conn.commit()
    with rt.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # after a bulk load, what autovacuum would soon do: statistics and visibility maps
        conn.exec_driver_sql("ANALYZE" if rt.db.is_sqlite else "VACUUM ANALYZE")
    print(f"  copied the table for the hand-written page in {time.perf_counter() - started:.0f}"
          " s", flush=True)
    with rt.db.read() as conn:
        contact_id = conn.exec_driver_sql("SELECT min(id) FROM contact").scalar()
    rt.db.dispose()
    return contact_id


def prepared(url: str) -> int | None:
    """The first contact's id, when an earlier run prepared this database."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("hand_contact"):
                return None
            return conn.exec_driver_sql("SELECT min(id) FROM contact").scalar()
    finally:
        engine.dispose()


def run(backend: str, rows: int, seconds: int, workdir: Path,
        kept: str | None = None) -> list[list[object]]:
    results = []
    with nullcontext(kept) if kept else database(backend, workdir) as url:
        contact_id = prepared(url) if kept else None
        if contact_id is None:
            print(f"{backend}: preparing", flush=True)
            contact_id = prepare(url, rows)
        env = {"DATABASE_URL": url, "METACRM_SECRET_KEY": "bench", "METACRM_APP":
               str(ROOT / "apps" / "default_crm"), "HAND_TABLE": "hand_contact"}
        crm_port, hand_port = free_port(), free_port()
        crm = start(["metacrm.web.app:create_app", "--factory"], env, crm_port, ROOT)
        hand = start(["handwritten:app"], env, hand_port, ROOT / "bench")
        try:
            session = httpx.Client(base_url=f"http://127.0.0.1:{crm_port}")
            token = re.search(r'name="csrf_token" value="([^"]+)"',
                              session.get("/login").text).group(1)
            session.post("/login", data={"username": "bench", "password": PASSWORD,
                                         "csrf_token": token})
            cookie = f"metacrm_session={session.cookies['metacrm_session']}"
            crm_base, hand_base = f"http://127.0.0.1:{crm_port}", f"http://127.0.0.1:{hand_port}"
            city = "Hu%E1%BA%BF"
            pages = [
                ("list city + sort, page 1", f"/o/contact?city={city}&sort=last_name,first_name",
                 f"/contacts?city={city}"),
                ("list city + sort, page 200",
                 f"/o/contact?city={city}&sort=last_name,first_name&page=200",
                 f"/contacts?city={city}&page=200"),
                ("detail", f"/o/contact/{contact_id}", f"/contacts/{contact_id}"),
                ("search 'nguyen van'", "/o/contact?search=nguyen+van", "/contacts?q=nguyen+van"),
            ]
            for name, crm_path, hand_path in pages:
                assert session.get(crm_path).status_code == 200, crm_path
                crm_rps, crm_p50, crm_p99 = wrk(crm_base + crm_path, seconds, cookie)
                hand_rps, hand_p50, hand_p99 = wrk(hand_base + hand_path, seconds)
                results.append([backend, name, f"{crm_rps:.1f}", f"{hand_rps:.1f}",
                                f"{crm_rps / hand_rps:.1f}x", f"{crm_p50:.1f} / {crm_p99:.1f}",
                                f"{hand_p50:.1f} / {hand_p99:.1f}"])
                print("  " + " | ".join(str(c) for c in results[-1]), flush=True)
        finally:
            crm.terminate()
            hand.terminate()
            crm.wait(timeout=20)
            hand.wait(timeout=20)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--database", help="a database to prepare once and keep")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.database:
            backend = "sqlite" if args.database.startswith("sqlite") else "postgresql"
            results += run(backend, args.rows, args.seconds, Path(tmp), args.database)
        for backend in [] if args.database else args.backends.split(","):
            results += run(backend, args.rows, args.seconds, Path(tmp))
    print()
    print(table(["db", "page", "MetaCRM req/s", "hand-written req/s", "ratio",
                 "MetaCRM p50/p99 ms", "hand-written p50/p99 ms"], results))


if __name__ == "__main__":
    main()
