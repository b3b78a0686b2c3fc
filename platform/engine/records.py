"""The record service: the one write path for forms, the API, imports and workflows.

Every write runs the save pipeline (:mod:`metacrm.engine.pipeline`), then writes with the
row-version check, records the audit trail, updates the parents' rollups and runs the
after-hooks (workflows), all inside one transaction: a save happens whole or not at all.

    records.create(ctx, "contact", {"last_name": "Nguyễn", "email": "an@example.vn"})
    records.update(ctx, "contact", 7, {"city": "Huế"}, version=3)
    records.delete(ctx, "contact", 7)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.exc import IntegrityError

from ..metadata.model import ObjectDef
from .access import check_record, in_scope, require
from .errors import (
    BadRequest,
    Conflict,
    CrmError,
    FieldError,
    NotFound,
    PossibleDuplicates,
    ValidationFailed,
)
from .pipeline import (
    RECORD,
    Save,
    check_unique,
    compute_formulas,
    new_row,
    prepare,
)
from .rollups import update_rollups
from .rows import created_audit, fetch, month_day, search_text, to_row, write_audit
from .runtime import Change, Context
from .schema import SEARCH_COLUMN
from .text import is_digits
from .types import jsonable

__all__ = ["MAX_VERSION", "RECORD", "Save", "bulk_create", "create", "delete", "get",
           "history", "load", "new_row", "object_def", "prepare", "row_version",
           "transaction", "update"]


MAX_CASCADE_DEPTH = 20


def object_def(ctx: Context, object_name: str) -> ObjectDef:
    obj = ctx.model.objects.get(object_name)
    if obj is None:
        raise NotFound(f"no object named '{object_name}'")
    return obj


def visible(ctx: Context, obj: ObjectDef, record: dict[str, Any]) -> dict[str, Any]:
    """The record without the fields the user's role hides."""
    hidden = ctx.hidden(obj.name)
    return {k: v for k, v in record.items() if k not in hidden} if hidden else record


def load(ctx: Context, conn: Connection, obj: ObjectDef, record_id: int,
         action: str) -> dict[str, Any]:
    """A record the user may `action`: 404 when they may not even see it, 403 when they may
    see it but not do this."""
    record = fetch(conn, ctx.schema.table(obj.name), obj, record_id)
    check_record(ctx, conn, obj, record_id, record, action)
    return record


MAX_VERSION = 2**63 - 1  # past any row version; a stale one is a Conflict, not an error


def row_version(raw: Any) -> int | None:
    """The row version a change starts from, as sent (a form's hidden input, a JSON body,
    a header): None when none was sent; BadRequest for anything but a whole number."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, (float, Decimal)) and math.isfinite(raw) and raw == int(raw):
        raw = int(raw)  # JSON's 3.0 is the integer 3
    text = str(raw).strip() if not isinstance(raw, bool) else ""
    if not (is_digits(text) and int(text) <= MAX_VERSION):
        raise BadRequest("The row version must be a whole number.", parameter="version")
    return int(text)


@contextmanager
def transaction(ctx: Context, conn: Connection | None) -> Iterator[Connection]:
    """Join the caller's transaction, or open a write transaction of our own."""
    if conn is not None:
        yield conn
        return
    try:
        with ctx.db.write() as own:
            yield own
    except CrmError as exc:
        # what must outlive the rollback (a refusing rule's run-log entry) is written now
        ctx.snap.hooks.run("*", "rolled_back", ctx, exc)
        raise


def get(ctx: Context, object_name: str, record_id: int, *,
        conn: Connection | None = None) -> dict[str, Any]:
    obj = object_def(ctx, object_name)
    if conn is not None:
        return visible(ctx, obj, load(ctx, conn, obj, record_id, "read"))
    with ctx.db.read() as own:
        return visible(ctx, obj, load(ctx, own, obj, record_id, "read"))


def create(ctx: Context, object_name: str, values: Mapping[str, Any], *,
           conn: Connection | None = None, ask_duplicates: bool = False) -> dict[str, Any]:
    """Create a record. A duplicate rule that blocks is a validation error; one that warns
    raises PossibleDuplicates when `ask_duplicates` (the web form asks before saving)."""
    obj = object_def(ctx, object_name)
    require(ctx, obj, "create")
    with transaction(ctx, conn) as c:
        save = prepare(ctx, c, obj, values, None)
        if save.errors:
            raise ValidationFailed(save.errors)
        _ask(save, ask_duplicates)
        record = insert(save)
        ctx.snap.hooks.run(obj.name, "after_create",
                           Change(ctx, c, obj, "created", record, None, save.notes))
        return visible(ctx, obj, record)


def _ask(save: Save, ask: bool) -> None:
    if ask and save.notes.get("duplicates"):
        raise PossibleDuplicates(save.notes["duplicates"])


def insert(save: Save) -> dict[str, Any]:
    ctx, conn, obj = save.ctx, save.conn, save.obj
    table = ctx.schema.table(obj.name)
    record, row = new_row(save)
    try:
        with conn.begin_nested():
            record_id = conn.execute(table.insert().values(row)).inserted_primary_key[0]
    except IntegrityError:
        raise ValidationFailed({RECORD: [FieldError(
            "unique", "another record was just saved with the same value in a unique field; "
                      "check the values and save again")]}) from None
    record["id"] = record_id
    ctx.runtime.counts.written()
    record = fetch(conn, table, obj, record_id) or record
    write_audit(ctx, conn, obj.name, record_id, "create", created_audit(obj, record))
    update_rollups(ctx, conn, obj, None, record)
    return record


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def bulk_create(ctx: Context, object_name: str, rows: Iterable[Mapping[str, Any]], *,
                batch_size: int = 1000, conn: Connection | None = None) -> int:
    """Create many records through the same pipeline, one INSERT per batch.

    Every row is coerced, defaulted, computed and checked like a single create; unique values
    are checked a batch at a time. A bad row fails the whole call (ValidationFailed, with the
    row number), so nothing is half-loaded. Returns the number of records created.
    """
    obj = object_def(ctx, object_name)
    require(ctx, obj, "create")
    count = 0
    with transaction(ctx, conn) as c:
        for batch in batched(rows, batch_size):
            saves = [prepare(ctx, c, obj, values, None, unique=False) for values in batch]
            check_unique(saves)
            bad = [(i, s) for i, s in enumerate(saves) if s.errors]
            if bad:
                i, failed = bad[0]
                raise ValidationFailed(failed.errors, message=(
                    f"row {count + i + 1}: " + "; ".join(
                        f"{k}: {e.message}" for k, v in failed.errors.items() for e in v)))
            insert_prepared(ctx, c, obj, saves)
            count += len(saves)
    return count


def insert_prepared(ctx: Context, conn: Connection, obj: Any, saves: list[Any]
                    ) -> list[dict[str, Any]]:
    """Insert prepared, valid creates in one statement, with their audit rows, rollups and
    after-create hooks (workflows). Returns the records as created."""
    if not saves:
        return []
    table = ctx.schema.table(obj.name)
    audit = ctx.schema.system["mc_audit"]
    rollups = ctx.snap.relations.rollups_from.get(obj.name)
    built = [new_row(save) for save in saves]
    ids = allocate_ids(conn, table, len(built))
    for record_id, (_, row) in zip(ids, built, strict=True):
        row["id"] = record_id
    insert_many(conn, table, [row for _, row in built])
    ctx.runtime.counts.written()
    now = ctx.now()
    audit_rows = []
    for record_id, (record, _) in zip(ids, built, strict=True):
        record["id"] = record_id
        audit_rows.append({
            "object": obj.name, "record_id": record_id, "action": "create",
            "changes": json.dumps({k: [jsonable(a), jsonable(b)] for k, (a, b)
                                   in created_audit(obj, record).items()},
                                  ensure_ascii=False, default=str),
            "user_id": ctx.user.id, "at": now})
    insert_many(conn, audit, audit_rows)
    for save, (record, _) in zip(saves, built, strict=True):
        if rollups:
            update_rollups(ctx, conn, obj, None, record)
        ctx.snap.hooks.run(obj.name, "after_create",
                           Change(ctx, conn, obj, "created", record, None, save.notes))
    return [record for record, _ in built]


def insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert a batch of rows. PostgreSQL gets them through COPY (psycopg would otherwise
    send one INSERT per row), each value passed through its column type's bind processing
    first, exactly as an INSERT would; SQLite's executemany is already one prepared
    statement run in a loop inside the library."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    keys = list(dict.fromkeys(k for row in rows for k in row))
    processors = [table.c[k].type._cached_bind_processor(conn.dialect) for k in keys]
    columns = ", ".join(f'"{k}"' for k in keys)  # names come from the model
    driver = conn.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(
            f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row.get(k) if process is None or row.get(k) is None
                            else process(row.get(k)) for k, process in zip(keys, processors,
                                                                           strict=True)])


def allocate_ids(conn: Connection, table: Table, count: int) -> list[int]:
    """`count` new ids for a batch insert without RETURNING (the fast executemany path).

    PostgreSQL takes them from the table's sequence; SQLite continues after the largest id,
    which is safe because a SQLite write transaction holds the database's write lock.
    """
    if conn.dialect.name == "postgresql":
        sequence = func.pg_get_serial_sequence(table.name, "id")
        return list(conn.scalars(select(func.nextval(sequence)).select_from(
            func.generate_series(1, count))))
    used = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = ?",
                                (table.name,)).scalar() or 0
    start = max(used, conn.execute(select(func.max(table.c.id))).scalar() or 0)
    return list(range(start + 1, start + count + 1))


def update(ctx: Context, object_name: str, record_id: int, values: Mapping[str, Any], *,
           version: int | None = None, conn: Connection | None = None,
           ask_duplicates: bool = False) -> dict[str, Any]:
    """Change a record. `version`, when given, must be the row version the caller read."""
    obj = object_def(ctx, object_name)
    with transaction(ctx, conn) as c:
        old = load(ctx, c, obj, record_id, "edit")
        if version is not None and version != old["version"]:
            raise _conflict(obj, record_id, version, old["version"])
        save = prepare(ctx, c, obj, values, old)
        if save.errors:
            raise ValidationFailed(save.errors)
        _ask(save, ask_duplicates)
        if not save.changes:
            return visible(ctx, obj, old)
        record = write_update(save)
        ctx.snap.hooks.run(obj.name, "after_update",
                           Change(ctx, c, obj, "updated", record, old, save.notes))
        return visible(ctx, obj, record)


def _conflict(obj: ObjectDef, record_id: int, given: int, current: int) -> Conflict:
    return Conflict(f"{obj.name} #{record_id} was changed by someone else (you have version "
                    f"{given}, it is now at version {current}); reload it and apply your "
                    "change again", current_version=current)


def write_update(save: Save) -> dict[str, Any]:
    ctx, conn, obj = save.ctx, save.conn, save.obj
    assert save.old is not None
    table = ctx.schema.table(obj.name)
    old = save.old
    record = save.record
    record.update(updated_at=ctx.now(), updated_by=ctx.user.id, version=old["version"] + 1)
    row = to_row(obj, {k: record[k] for k in (*save.changes, "updated_at", "updated_by",
                                              "version")})
    if obj.search and any(f in save.changes for f in obj.search):
        row[SEARCH_COLUMN] = search_text(obj, record)
    for column, date_field in ctx.snap.relations.anniversaries[obj.name].items():
        if date_field in save.changes:
            row[column] = month_day(record.get(date_field))
    result = conn.execute(table.update().where(table.c.id == old["id"],
                                               table.c.version == old["version"]).values(row))
    if result.rowcount != 1:
        current = conn.execute(select(table.c.version).where(table.c.id == old["id"])).scalar()
        if current is None:
            raise NotFound(f"{obj.name} #{old['id']} was deleted meanwhile")
        raise _conflict(obj, old["id"], old["version"], current)
    ctx.runtime.counts.written()
    write_audit(ctx, conn, obj.name, old["id"], "update",
                {k: [old.get(k), v] for k, v in save.changes.items()})
    update_rollups(ctx, conn, obj, old, record)
    return record


def delete(ctx: Context, object_name: str, record_id: int, *, version: int | None = None,
           conn: Connection | None = None) -> dict[str, Any]:
    """Delete a record, applying each lookup's on_delete rule to the records pointing to it.
    Returns the deleted record (the audit trail keeps it too)."""
    obj = object_def(ctx, object_name)
    with transaction(ctx, conn) as c:
        old = load(ctx, c, obj, record_id, "delete")
        if version is not None and version != old["version"]:
            raise _conflict(obj, record_id, version, old["version"])
        _delete(ctx, c, obj, old, 0)
        return visible(ctx, obj, old)


def _delete(ctx: Context, conn: Connection, obj: ObjectDef, old: dict[str, Any],
            depth: int) -> None:
    """The delete itself. Records that a cascade reaches are deleted as a consequence of the
    permitted delete, without asking for permission on each."""
    table = ctx.schema.table(obj.name)
    record_id = old["id"]
    _release_references(ctx, conn, obj, record_id, depth)
    result = conn.execute(table.delete().where(table.c.id == record_id,
                                               table.c.version == old["version"]))
    if result.rowcount != 1:
        raise _conflict(obj, record_id, old["version"], -1)
    ctx.runtime.counts.written()
    write_audit(ctx, conn, obj.name, record_id, "delete",
                {k: [v, None] for k, v in old.items() if v not in (None, [], "")})
    update_rollups(ctx, conn, obj, old, None)
    ctx.snap.hooks.run(obj.name, "after_delete",
                       Change(ctx, conn, obj, "deleted", old, old, {}))


def _release_references(ctx: Context, conn: Connection, obj: ObjectDef, record_id: int,
                        depth: int) -> None:
    if depth > MAX_CASCADE_DEPTH:
        raise Conflict(f"deleting {obj.name} #{record_id} cascades more than "
                       f"{MAX_CASCADE_DEPTH} levels deep; delete the related records first")
    for child_name, fdef in ctx.snap.relations.references_to.get(obj.name, []):
        child = ctx.model.objects[child_name]
        child_table = ctx.schema.table(child_name)
        ids = list(conn.scalars(select(child_table.c.id).where(
            child_table.c[fdef.name] == record_id)))
        if not ids:
            continue
        if fdef.on_delete == "restrict":
            raise Conflict(f"{obj.name} #{record_id} cannot be deleted: {len(ids)} "
                           f"{child.plural.get('en').lower()} refer to it through "
                           f"{child_name}.{fdef.name}; reassign or delete them first",
                           blocking=[{"object": child_name, "field": fdef.name,
                                      "count": len(ids)}])
        for child_id in ids:
            if child_name == obj.name and child_id == record_id:
                continue
            old = fetch(conn, child_table, child, child_id)
            if old is None:
                continue
            if fdef.on_delete == "cascade":
                _delete(ctx, conn, child, old, depth + 1)
            else:
                save = Save(ctx, conn, child, old, changes={fdef.name: None})
                compute_formulas(save)
                write_update(save)


def recompute_formulas(ctx: Context, obj: ObjectDef, *, batch: int = 1000) -> int:
    """Compute the stored formulas of every record of `obj` again, a batch per
    transaction: a formula that reads the clock, once a day, and a formula added or changed
    in Setup, for the records saved before it. Only changed values are written, with the
    search text and the parents' rollups they feed; no version bump, no audit row (nobody
    changed the record), and a record saved meanwhile is left as its save made it. Returns
    how many records changed."""
    table = ctx.schema.table(obj.name)
    searched = set(obj.search)
    count, after = 0, 0
    while True:
        with ctx.db.write() as conn:
            rows = conn.execute(select(table).where(table.c.id > after)
                                .order_by(table.c.id).limit(batch)).mappings().all()
            for row in rows:
                old = {k: v for k, v in row.items() if not k.startswith("_")}
                save = Save(ctx, conn, obj, old)
                compute_formulas(save)
                if not save.changes:
                    continue
                values = to_row(obj, save.changes)
                if searched & set(save.changes):
                    values[SEARCH_COLUMN] = search_text(obj, {**old, **save.changes})
                done = conn.execute(table.update().where(
                    table.c.id == row["id"], table.c.version == row["version"]).values(values))
                if done.rowcount:
                    update_rollups(ctx, conn, obj, old, {**old, **save.changes})
                    count += 1
        if len(rows) < batch:
            return count
        after = rows[-1]["id"]


def history(ctx: Context, object_name: str, record_id: int) -> list[dict[str, Any]]:
    """The audit trail of one record, oldest first, without the fields the user may not see."""
    obj = object_def(ctx, object_name)
    audit = ctx.schema.system["mc_audit"]
    with ctx.db.read() as conn:
        rows = conn.execute(select(audit).where(
            audit.c.object == object_name, audit.c.record_id == record_id
        ).order_by(audit.c.id)).mappings().all()
        try:
            load(ctx, conn, obj, record_id, "read")
        except NotFound:
            # a deleted record: its trail stays readable to those who could read it
            last = json.loads(rows[-1]["changes"]) if rows and rows[-1]["action"] == "delete" \
                else None
            gone = {k: v[0] for k, v in (last or {}).items() if isinstance(v, list) and v}
            if last is None or not in_scope(ctx, conn, gone, require(ctx, obj, "read")):
                raise
    hidden = ctx.hidden(object_name)
    return [{**row, "changes": {k: v for k, v in json.loads(row["changes"]).items()
                                if k not in hidden}} for row in rows]
