"""Loading an app's `data/` files through the record service.

A YAML file holds documents like::

    object: account
    key: tax_code            # optional: update the record with this value instead of adding
    records:
      - {name: Công ty ABC, tax_code: "0101234567", city: Hà Nội}

A CSV file is named after its object (`account.csv`, or `10_account.csv` to order files) and
has field names in its header. Lookups may name their record by title ("Công ty ABC").
Everything loads in one transaction: a bad row stops the load and nothing is kept.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, select

from .coerce import Invalid, coerce
from .errors import BadRequest, CrmError, ValidationFailed
from .records import create, object_def, update
from .runtime import Context, Runtime


def _rows(path: Path) -> Iterator[tuple[str, str | None, int, dict[str, Any]]]:
    """(object, key field, row number, values) of every record in a data file."""
    if path.suffix == ".csv":
        name = re.sub(r"^\d+_", "", path.stem)
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield name, None, number, {k: v for k, v in row.items() if v not in ("", None)}
        return
    with path.open(encoding="utf-8") as handle:
        for doc in yaml.safe_load_all(handle):
            if not isinstance(doc, dict) or "object" not in doc:
                raise BadRequest(f"{path}: a data document needs 'object:' and 'records:'")
            for number, values in enumerate(doc.get("records") or [], start=1):
                if not isinstance(values, dict):
                    raise BadRequest(f"{path}: record {number} is not a map of field values")
                yield doc["object"], doc.get("key"), number, values


def _existing(ctx: Context, conn: Connection, object_name: str, key: str,
              values: Mapping[str, Any]) -> dict[str, Any] | None:
    obj = object_def(ctx, object_name)
    fdef = obj.fields.get(key)
    if fdef is None:
        raise BadRequest(f"{object_name} has no key field '{key}'")
    if values.get(key) in (None, ""):
        return None
    try:
        value = coerce(fdef, values[key], ctx.runtime.tz)
    except Invalid:
        return None
    table = ctx.schema.table(object_name)
    row = conn.execute(select(table.c.id, table.c.version).where(table.c[key] == value)).first()
    return {"id": row.id, "version": row.version} if row else None


def load_data(rt: Runtime, folder: Path, *, demo: bool = False) -> list[str]:
    """Load every data file of `folder` (and `folder/demo` with `demo`); a summary per file."""
    files = sorted(p for p in folder.glob("*") if p.suffix in (".yaml", ".yml", ".csv"))
    if demo:
        files += sorted(p for p in (folder / "demo").glob("*")
                        if p.suffix in (".yaml", ".yml", ".csv"))
    if not files:
        return [f"No data files in {folder}."]
    ctx = rt.system_context()
    summary = []
    with rt.db.write() as conn:
        for path in files:
            added = changed = 0
            for object_name, key, number, values in _rows(path):
                try:
                    found = _existing(ctx, conn, object_name, key, values) if key else None
                    if found:
                        update(ctx, object_name, found["id"], values, conn=conn)
                        changed += 1
                    else:
                        create(ctx, object_name, values, conn=conn)
                        added += 1
                except ValidationFailed as exc:
                    details = "; ".join(f"{k}: {e.message}" for k, errs in exc.errors.items()
                                        for e in errs)
                    raise BadRequest(f"{path.name} record {number} ({object_name}): {details}. "
                                     "Nothing was loaded.") from None
                except CrmError as exc:
                    raise BadRequest(f"{path.name} record {number} ({object_name}): "
                                     f"{exc.message}. Nothing was loaded.") from None
            summary.append(f"{path.name}: {added} added, {changed} updated")
    return summary
