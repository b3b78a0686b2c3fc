"""Loading an app's `data/` files through the record service.

A YAML file holds documents like::

    object: account
    key: tax_code            # optional: update the record with this value instead of adding
    records:
      - {name: Công ty ABC, tax_code: "0101234567", city: Hà Nội, owner: lan}
      - {name: Công ty XYZ, founded: "=today() - 3650"}   # `=` starts an expression
    ---
    users:                   # people (skipped when the user name exists)
      - {username: lan, role: sales_rep, name: Nguyễn Thị Lan, password: demo-2026,
         teams: [Miền Bắc]}
    teams:
      - {name: Miền Bắc, manager: hoa}

A CSV file is named after its object (`account.csv`, or `10_account.csv` to order files) and
has field names in its header; one of them may be written `key:tax_code` to make it the key
(as `key:` in YAML: a second load updates the records it finds). Lookups may name their
record by title ("Công ty ABC") and users by user name. Everything loads in one transaction:
a bad row stops the load and nothing is kept.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, select

from ..metadata.expressions import Clock, EvalError, ExpressionError, evaluate, parse
from .coerce import Invalid, coerce
from .errors import BadRequest, CrmError, ValidationFailed
from .records import create, object_def, update
from .runtime import Context, Runtime
from .users import add_to_team, create_team, create_user, find_user

DATA_SUFFIXES = (".yaml", ".yml", ".csv")
KEY_COLUMN = "key:"  # a CSV header `key:tax_code`: a second load updates by tax code


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".csv":
        name = re.sub(r"^\d+_", "", path.stem)
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            keys = [h[len(KEY_COLUMN):].strip() for h in header if h.startswith(KEY_COLUMN)]
            if len(keys) > 1:
                raise BadRequest(f"{path.name}: one column may be the key, not "
                                 f"{', '.join(keys)}")
            header = [h[len(KEY_COLUMN):].strip() if h.startswith(KEY_COLUMN) else h
                      for h in header]
            rows = [{k: v for k, v in zip(header, row, strict=False) if v not in ("", None)}
                    for row in reader if any(cell.strip() for cell in row)]
        yield {"object": name, "records": rows, "first_row": 2,
               **({"key": keys[0]} if keys else {})}
        return
    with path.open(encoding="utf-8") as handle:
        for doc in yaml.safe_load_all(handle):
            if not isinstance(doc, dict) or not ({"object", "users", "teams"} & set(doc)):
                raise BadRequest(f"{path.name}: a data document needs 'object:' and "
                                 "'records:', or 'users:' / 'teams:'")
            yield doc


def _values(ctx: Context, values: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in values.items():
        if isinstance(value, str) and value.startswith("="):
            try:
                value = evaluate(parse(value[1:]), Clock(ctx.today(), ctx.now(), ctx.model.locale))
            except (ExpressionError, EvalError) as exc:
                raise BadRequest(f"{name}: cannot compute '{value}': {exc}") from None
        out[name] = value
    return out


def _existing(ctx: Context, conn: Connection, object_name: str, key: str,
              values: Mapping[str, Any]) -> int | None:
    obj = object_def(ctx, object_name)
    fdef = obj.fields.get(key)
    if fdef is None:
        raise BadRequest(f"{object_name} has no key field '{key}'")
    if fdef.kind.is_reference or fdef.kind.many or fdef.computed and \
            fdef.type != "autonumber":
        raise BadRequest(f"key: '{key}' is a {fdef.type} field; a key is a plain field that "
                         "names one record (a code, an email, a tax number, ...)")
    if values.get(key) in (None, ""):
        return None
    try:
        value = coerce(fdef, values[key], ctx.tz)
    except Invalid:
        return None
    table = ctx.schema.table(object_name)
    return conn.execute(select(table.c.id).where(table.c[key] == value)).scalar()


def _people(ctx: Context, conn: Connection, doc: Mapping[str, Any]) -> str:
    schema = ctx.schema
    added = 0
    wanted_teams: dict[str, list[int]] = {}
    for item in doc.get("users") or []:
        user = find_user(conn, schema, str(item["username"]))
        if user is None:
            user = create_user(conn, schema, str(item["username"]), role=item["role"],
                               password=item.get("password"), display_name=item.get("name"),
                               email=item.get("email"), roles=ctx.model.roles)
            added += 1
        for team in item.get("teams") or []:
            wanted_teams.setdefault(team, []).append(user.id)
    teams = schema.system["mc_team"]
    for item in doc.get("teams") or []:
        wanted_teams.setdefault(item["name"], [])
    for name, members in wanted_teams.items():
        spec = next((t for t in doc.get("teams") or [] if t["name"] == name), {})
        team_id = conn.execute(select(teams.c.id).where(teams.c.name == name)).scalar()
        if team_id is None:
            manager = find_user(conn, schema, spec["manager"]) if spec.get("manager") else None
            team_id = create_team(conn, schema, name, manager_id=manager.id if manager else None)
        for user_id in members:
            add_to_team(conn, schema, team_id, user_id)
    return f"{added} users added, {len(wanted_teams)} teams"


def load_data(rt: Runtime, folder: Path, *, demo: bool = False) -> list[str]:
    """Load every data file of `folder` (and `folder/demo` with `demo`); a summary per file."""
    files = sorted(p for p in folder.glob("*") if p.suffix in DATA_SUFFIXES)
    if demo:
        files += sorted(p for p in (folder / "demo").glob("*") if p.suffix in DATA_SUFFIXES)
    if not files:
        return [f"No data files in {folder}."]
    ctx = rt.system_context()
    summary = []
    with rt.db.write() as conn:
        for path in files:
            added = changed = 0
            notes = []
            for doc in _documents(path):
                if "users" in doc or "teams" in doc:
                    notes.append(_people(ctx, conn, doc))
                if "object" not in doc:
                    continue
                for number, values in enumerate(doc.get("records") or [],
                                                start=doc.get("first_row", 1)):
                    where = f"{path.name} record {number} ({doc['object']})"
                    try:
                        if not isinstance(values, dict):
                            raise BadRequest("a record is a map of field values")
                        values = _values(ctx, values)
                        key = doc.get("key")
                        found = _existing(ctx, conn, doc["object"], key, values) if key else None
                        if found:
                            update(ctx, doc["object"], found, values, conn=conn)
                            changed += 1
                        else:
                            create(ctx, doc["object"], values, conn=conn)
                            added += 1
                    except ValidationFailed as exc:
                        details = "; ".join(f"{k}: {e.message}" for k, errs in exc.errors.items()
                                            for e in errs)
                        raise BadRequest(f"{where}: {details}. Nothing was loaded.") from None
                    except CrmError as exc:
                        raise BadRequest(f"{where}: {exc.message}. Nothing was loaded.") from None
            summary.append(f"{path.name}: {added} added, {changed} updated"
                           + "".join(f"; {n}" for n in notes))
    return summary
