"""Records as rows and back: column values of a record, a record from a row, one record by
id, the folded search words, the month-day columns of yearly rules, autonumbers. The save
steps (pipeline.py) and the record service (records.py) both use these; they check nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Table, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..metadata.model import ObjectDef
from .runtime import Context
from .text import fold
from .types import jsonable


def search_text(obj: ObjectDef, record: Mapping[str, Any]) -> str:
    """The folded words quick search looks in. Phones are there as stored (+84912345678)
    and as people write them at home (0912345678)."""
    words = []
    for name in obj.search:
        value = record.get(name)
        if value is None or value == "":
            continue
        words.append(str(value))
        spoken = obj.fields[name].kind.spoken
        if spoken is not None:
            words.append(spoken(str(value)))
    return fold(" ".join(words))


def to_row(obj: ObjectDef, record: Mapping[str, Any]) -> dict[str, Any]:
    """Column values for `record` (which may hold only some fields)."""
    row: dict[str, Any] = {}
    for name, value in record.items():
        fdef = obj.fields.get(name)
        if fdef is None or name == "id":
            continue
        row[name] = (";".join(value) or None) if fdef.kind.many and value is not None \
            else value
    return row


def from_row(obj: ObjectDef, row: Mapping[str, Any]) -> dict[str, Any]:
    """A record from a row of the object's table (multipicklists become lists)."""
    record = {k: v for k, v in row.items() if not k.startswith("_")}  # no hidden columns
    for name in obj.multipicklists:
        if name in record:
            value = record[name]
            record[name] = value.split(";") if value else []
    return record


MAX_ID = 2**63 - 1


def fetch(conn: Connection, table: Table, obj: ObjectDef, record_id: int) -> dict[str, Any] | None:
    if not 0 < record_id <= MAX_ID:
        return None
    row = conn.execute(select(table).where(table.c.id == record_id)).mappings().first()
    return from_row(obj, row) if row else None


def title_sql(obj: ObjectDef, table: Table) -> Any:
    """The SQL of a record's title (`{first_name} {last_name}` -> first_name || ' ' ||
    last_name, blanks as ''), trimmed; None for an object without a title template."""
    parts = [p for p in re.split(r"(\{[a-z][a-z0-9_]*\})", obj.title or "") if p]
    result = None
    for part in parts:
        piece = func.coalesce(table.c[part[1:-1]], "") if part.startswith("{") else \
            literal(part)
        result = piece if result is None else result.concat(piece)
    return func.trim(result) if result is not None else None


def month_day(value: Any) -> int | None:
    """Month * 100 + day of a date (a birthday's place in the year), for yearly rules."""
    return None if value is None else value.month * 100 + value.day


def created_audit(obj: ObjectDef, record: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The audit entry of a new record: each value it was created with, from blank."""
    return {k: [None, v] for k, v in record.items()
            if v not in (None, [], "") and not obj.fields[k].system}


def assign_autonumbers(ctx: Context, conn: Connection, obj: ObjectDef,
                       record: dict[str, Any]) -> None:

    for name, fdef in obj.fields.items():
        if fdef.type != "autonumber":
            continue
        number = next_sequence(ctx, conn, obj.name, name)
        fmt = fdef.format or "{0}"
        record[name] = re.sub(r"\{(0+)\}", lambda m, n=number: str(n).zfill(len(m.group(1))),
                              fmt, count=1)


def next_sequence(ctx: Context, conn: Connection, object_name: str, field_name: str) -> int:
    seq = ctx.schema.system["mc_sequence"]
    insert_ = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert_(seq).values(object=object_name, field=field_name, value=1)
    stmt = stmt.on_conflict_do_update(index_elements=[seq.c.object, seq.c.field],
                                      set_={"value": seq.c.value + 1}).returning(seq.c.value)
    return conn.execute(stmt).scalar_one()


__all__ = ["MAX_ID", "assign_autonumbers", "created_audit", "fetch", "from_row",
           "month_day", "next_sequence", "search_text", "title_sql", "to_row"]


def write_audit(ctx: Context, conn: Connection, object_name: str, record_id: int,
                action: str, changes: Mapping[str, Any]) -> None:
    audit = ctx.schema.system["mc_audit"]
    data = {k: [jsonable(v) for v in pair] for k, pair in changes.items()}
    conn.execute(audit.insert().values(
        object=object_name, record_id=record_id, action=action,
        changes=json.dumps(data, ensure_ascii=False, default=str), user_id=ctx.user.id,
        at=ctx.now()))
