"""Schema sync: compare the model's tables with the live database, plan, and migrate.

The plan is a typed list of steps. Additive steps (new table, column, index, picklist
option) apply online through Alembic's operations. Nothing is dropped: a field that leaves
the model keeps its column and data (archived) and gets them back when it returns. A type
change that could lose data is refused with what to do instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Connection, Integer, MetaData, Table, cast, func, inspect, select, text

from ..metadata.model import AppModel, FieldDef, ObjectDef
from ..metadata.objects import CHANGED_AT
from .db import Database
from .errors import Conflict, Refusal, SchemaChangeRefused
from .rows import search_text
from .schema import (
    SEARCH_COLUMN,
    Schema,
    anniversary_columns,
    build_schema,
    column_type,
    storage_kind,
    wanted_indexes,
)
from .search import create_search_index, fts_table, search_index_exists
from .systables import system_tables
from .types import now_utc
from .versions import latest_number, lock


class Action(StrEnum):
    """What a step of a plan does. Only the first group touches the database's tables; the
    others change MetaCRM's record of the fields (mc_field) alone."""

    CREATE_SYSTEM_TABLES = "create_system_tables"
    CREATE_TABLE = "create_table"
    ADD_COLUMN = "add_column"
    ALTER_COLUMN = "alter_column"
    CREATE_INDEX = "create_index"
    ADD_ANNIVERSARY = "add_anniversary"
    CREATE_SEARCH_INDEX = "create_search_index"
    REFRESH_SEARCH = "refresh_search"
    RESTORE_COLUMN = "restore_column"  # an archived column comes back
    ARCHIVE_COLUMN = "archive_column"  # a removed field's column stays, hidden
    UPDATE_FIELD = "update_field"


@dataclass(frozen=True)
class Step:
    action: Action
    object: str
    field: str | None
    description: str

    def __str__(self) -> str:
        return f"{self.action:<15} {self.description}"


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.steps and not self.refused

    def lines(self) -> list[str]:
        if self.empty:
            return ["The database matches the model; nothing to do."]
        return [str(s) for s in self.steps] + [str(r) for r in self.refused]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _signature(fdef: FieldDef) -> str:
    return json.dumps(fdef.to_data(), sort_keys=True, default=str, ensure_ascii=False)


_WIDENINGS = {("integer", "decimal")}


def type_change_refusal(obj: str, fdef: FieldDef, old_kind: str) -> str | None:
    """Why changing the column of `fdef` from `old_kind` would risk data, or None if safe."""
    new_kind = storage_kind(fdef)
    if new_kind == old_kind:
        return None
    old_base, _, old_arg = old_kind.partition(":")
    new_base, _, new_arg = new_kind.partition(":")
    if (old_base, new_base) in _WIDENINGS:
        return None
    if old_base == new_base == "decimal" and int(new_arg) >= int(old_arg):
        return None
    where = f"{obj}.{fdef.name}"
    if old_base == new_base == "decimal":
        return (f"{where}: scale {old_arg} -> {new_arg} would round away stored digits; keep "
                f"scale {old_arg} or add a new field")
    if old_base == new_base == "ref":
        return (f"{where}: the lookup pointed to {old_arg} and now points to {new_arg}; the "
                f"stored ids would name the wrong records. Add a new lookup field instead")
    return (f"{where}: changing a {old_kind} column to {new_kind} could lose data. Add a new "
            f"field of the new type, copy the values over (export and import), then remove "
            f"the old field")


class Inspection:
    """What the live database holds: tables, columns, indexes and MetaCRM's field records."""

    def __init__(self, conn: Connection, schema: Schema):
        self.inspector = inspect(conn)
        self.tables = set(self.inspector.get_table_names())
        self.fields: dict[tuple[str, str], dict[str, Any]] = {}
        mc_field = schema.system["mc_field"]
        if "mc_field" in self.tables:
            for row in conn.execute(select(mc_field)).mappings():
                self.fields[(row["object"], row["field"])] = dict(row)

    def columns(self, table: str) -> set[str]:
        return {c["name"] for c in self.inspector.get_columns(table)}

    def indexes(self, table: str) -> set[str]:
        names = {i["name"] for i in self.inspector.get_indexes(table)}
        names |= {u["name"] for u in self.inspector.get_unique_constraints(table)}
        return names


def plan(db: Database, model: AppModel) -> Plan:
    """What `migrate` would do, without changing anything."""
    with db.read() as conn:
        return _plan(conn, build_schema(model), model)


def _plan(conn: Connection, schema: Schema, model: AppModel) -> Plan:
    result = Plan()
    live = Inspection(conn, schema)
    missing_system = [name for name in schema.system if name not in live.tables]
    if missing_system:
        result.steps.append(Step(Action.CREATE_SYSTEM_TABLES, "", None,
                                 f"MetaCRM's own tables: {', '.join(missing_system)}"))
    for name, obj in model.objects.items():
        table = schema.table(name)
        if name not in live.tables:
            result.steps.append(Step(Action.CREATE_TABLE, name, None,
                                     f"{name} ({len(table.columns)} columns)"))
            for spec in wanted_indexes(model, name):
                result.steps.append(Step(Action.CREATE_INDEX, name, spec.name, spec.describe()))
            _plan_search(conn, result, live, name, obj.search, exists=False)
            continue
        columns = live.columns(name)
        for fdef in obj.fields.values():
            if fdef.system:  # every table has its own; a kept one may come later
                if fdef.name not in columns:  # (track_changes' <field>_changed_at)
                    result.steps.append(Step(Action.ADD_COLUMN, name, fdef.name,
                                             f"{name}.{fdef.name} (kept by MetaCRM; "
                                             "each record's last update until it changes)"))
                continue
            record = live.fields.get((name, fdef.name))
            if fdef.name not in columns:
                result.steps.append(Step(Action.ADD_COLUMN, name, fdef.name,
                                         f"{name}.{fdef.name} {fdef.type}"))
                continue
            old_kind = record["kind"] if record else storage_kind(fdef)
            refusal = type_change_refusal(name, fdef, old_kind)
            if refusal:
                result.refused.append(Refusal(name, fdef.name, refusal))
                continue
            if record and record["status"] == "archived":
                result.steps.append(Step(Action.RESTORE_COLUMN, name, fdef.name,
                                         f"{name}.{fdef.name} comes back with its stored values"))
            if old_kind != storage_kind(fdef):
                result.steps.append(Step(Action.ALTER_COLUMN, name, fdef.name,
                                         f"{name}.{fdef.name} {old_kind} -> "
                                         f"{storage_kind(fdef)}"))
            elif record and record["signature"] != _signature(fdef) and record[
                    "status"] == "active":
                result.steps.append(Step(Action.UPDATE_FIELD, name, fdef.name,
                                         _describe_change(name, fdef, record["signature"])))
        if obj.search and SEARCH_COLUMN not in columns:
            result.steps.append(Step(Action.ADD_COLUMN, name, SEARCH_COLUMN,
                                     f"{name}.{SEARCH_COLUMN} (quick search text)"))
        _plan_search(conn, result, live, name, obj.search, exists=True)
        for column, date_field in anniversary_columns(model, name).items():
            if column not in columns:
                result.steps.append(Step(Action.ADD_ANNIVERSARY, name, column,
                                         f"{name}.{column}: month and day of {date_field}, "
                                         "for yearly rules"))
        for (obj_name, fname), record in live.fields.items():
            if obj_name == name and fname not in obj.fields and record["status"] == "active" \
                    and not fname.startswith("_"):
                result.steps.append(Step(Action.ARCHIVE_COLUMN, name, fname,
                                         f"{name}.{fname} leaves the model; its column and "
                                         f"values are kept (archived)"))
        have = live.indexes(name)
        for spec in wanted_indexes(model, name):
            if spec.name in have:
                continue
            if spec.unique:
                dupes = _duplicates(conn, schema, name, spec.plain)
                if dupes:
                    result.refused.append(Refusal(name, spec.plain[0], (
                        f"{name}.{', '.join(spec.plain)} cannot become unique: "
                        f"{len(dupes)} value(s) are used more than once "
                        f"(e.g. {', '.join(repr(d) for d in dupes[:3])}); merge or fix those "
                        "records first")))
                    continue
            result.steps.append(Step(Action.CREATE_INDEX, name, spec.name, spec.describe()))
    for (obj_name, fname), record in live.fields.items():
        if obj_name not in model.objects and record["status"] == "active" and \
                not fname.startswith("_"):
            result.steps.append(Step(Action.ARCHIVE_COLUMN, obj_name, fname,
                                     f"{obj_name}.{fname} leaves the model with its object; the "
                                     "table and values are kept (archived)"))
    return result


def _plan_search(conn: Connection, result: Plan, live: Inspection, name: str,
                 search: tuple[str, ...], *, exists: bool) -> None:
    """The quick-search index, and a refresh of the search text when its fields change."""
    if not search:
        return
    if not exists or not search_index_exists(conn, name):
        result.steps.append(Step(Action.CREATE_SEARCH_INDEX, name, SEARCH_COLUMN,
                                 f"{name} quick-search index ({', '.join(search)})"))
    record = live.fields.get((name, SEARCH_COLUMN))
    if exists and record is not None and record["signature"] != ",".join(search):
        result.steps.append(Step(Action.REFRESH_SEARCH, name, SEARCH_COLUMN,
                                 f"{name}: quick search now covers {', '.join(search)}; every "
                                 "record's search text is rebuilt"))


def _describe_change(obj: str, fdef: FieldDef, old_signature: str) -> str:
    old = json.loads(old_signature)
    new = json.loads(_signature(fdef))
    old_options = [o["value"] for o in old.get("options", [])]
    new_options = [o["value"] for o in new.get("options", [])]
    parts = []
    added = [o for o in new_options if o not in old_options]
    if added:
        parts.append("options + " + ", ".join(added))
    removed = [o for o in old_options if o not in new_options]
    if removed:
        parts.append("options no longer offered: " + ", ".join(removed) + " (values kept)")
    changed = sorted(k for k in set(old) | set(new) if k != "options" and old.get(k) != new.get(k))
    if changed:
        parts.append("changed " + ", ".join(changed))
    return f"{obj}.{fdef.name}: " + ("; ".join(parts) or "definition changed")


def _duplicates(conn: Connection, schema: Schema, table: str, cols: Iterable[str]) -> list[Any]:
    t = schema.table(table)
    columns = [t.c[c] for c in cols]
    query = (select(*columns).where(*(c.is_not(None) for c in columns)).group_by(*columns)
             .having(func.count() > 1).limit(5))
    return [row[0] if len(row) == 1 else tuple(row) for row in conn.execute(query)]


def migrate(db: Database, model: AppModel, conn: Connection | None = None) -> Plan:
    """Apply the plan. Raises SchemaChangeRefused (changing nothing) if any step is refused.

    With `conn`, the steps run in that (write) transaction and commit with it."""
    if conn is None:
        with db.write() as own:
            return migrate(db, model, own)
    schema = build_schema(model)
    result = _plan(conn, schema, model)
    if result.refused:
        raise SchemaChangeRefused(
            "the metadata change could lose data: " + "; ".join(r.reason for r in
                                                                result.refused),
            refusals=result.refused)
    ops = Operations(MigrationContext.configure(conn))
    for step in result.steps:
        _apply(conn, ops, schema, model, step, db.is_sqlite)
    _record_fields(conn, schema, model)
    return result


def _apply(conn: Connection, ops: Operations, schema: Schema, model: AppModel, step: Step,
           sqlite: bool) -> None:
    match step.action:
        case Action.CREATE_SYSTEM_TABLES:
            schema.metadata.create_all(conn, tables=list(schema.system.values()), checkfirst=True)
        case Action.CREATE_TABLE:
            table = schema.table(step.object)
            table.create(conn, checkfirst=True)  # creates its indexes too
        case Action.ADD_COLUMN:
            table = schema.table(step.object)
            ops.add_column(step.object, table.c[step.field]._copy())
            if step.field.endswith(CHANGED_AT):  # not known before: the last update at most
                conn.execute(table.update().values({step.field: table.c.updated_at}))
        case Action.ALTER_COLUMN:
            fdef = model.objects[step.object].fields[step.field]
            if sqlite:
                with ops.batch_alter_table(step.object) as batch:
                    batch.alter_column(step.field, type_=column_type(fdef))
            else:
                ops.alter_column(step.object, step.field, type_=column_type(fdef),
                                 postgresql_using=f'"{step.field}"::numeric')
        case Action.CREATE_INDEX:
            spec = next(s for s in wanted_indexes(model, step.object) if s.name == step.field)
            if spec.name in {i["name"] for i in inspect(conn).get_indexes(step.object)}:
                return  # made with its table
            if spec.sort:
                ops.create_index(spec.name, step.object,
                                 [_ordered(c, sqlite) for c in spec.columns])
            else:
                ops.create_index(spec.name, step.object, list(spec.plain), unique=spec.unique)
        case Action.ADD_ANNIVERSARY:
            table = schema.table(step.object)
            ops.add_column(step.object, table.c[step.field]._copy())
            date_field = anniversary_columns(model, step.object)[step.field]
            conn.execute(table.update().where(table.c[date_field].is_not(None)).values(
                {step.field: month_day_sql(table.c[date_field], sqlite)}))
        case Action.CREATE_SEARCH_INDEX:
            create_search_index(conn, step.object)
        case Action.REFRESH_SEARCH:
            _refresh_search(conn, schema, model.objects[step.object])
        case Action.RESTORE_COLUMN | Action.ARCHIVE_COLUMN | Action.UPDATE_FIELD:
            pass  # only mc_field changes (migrate records the fields after the steps)
        case _:
            raise AssertionError(f"no way to apply a step of kind {step.action!r}")


def month_day_sql(column: Any, sqlite: bool) -> Any:
    """month * 100 + day of a date column, in SQL (to fill an anniversary column)."""
    if sqlite:
        return (cast(func.strftime("%m", column), Integer) * 100
                + cast(func.strftime("%d", column), Integer))
    return cast(func.extract("month", column) * 100 + func.extract("day", column), Integer)


def _ordered(column: str, sqlite: bool) -> Any:
    """An index column in a list's order. PostgreSQL puts blanks where SQLite does (first
    going up), so one index serves the same ORDER BY on both. Names come from the model."""
    name = column.lstrip("-")
    if column.startswith("-"):
        return text(f'"{name}" DESC' if sqlite else f'"{name}" DESC NULLS LAST')
    return text(f'"{name}"' if sqlite else f'"{name}" ASC NULLS FIRST')


def _refresh_search(conn: Connection, schema: Schema, obj: ObjectDef) -> None:
    table = schema.table(obj.name)
    columns = [table.c.id, *(table.c[f] for f in obj.search)]
    last = 0
    while True:
        rows = conn.execute(select(*columns).where(table.c.id > last).order_by(table.c.id)
                            .limit(1000)).mappings().all()
        if not rows:
            return
        for row in rows:
            conn.execute(table.update().where(table.c.id == row["id"]).values(
                {SEARCH_COLUMN: search_text(obj, row)}))
        last = rows[-1]["id"]


def _record_fields(conn: Connection, schema: Schema, model: AppModel) -> None:
    """Remember what each column now holds, and which columns are archived."""
    mc_field = schema.system["mc_field"]
    existing = {(r.object, r.field): r for r in conn.execute(select(mc_field))}
    now = now_utc()
    for name, obj in model.objects.items():
        for fdef in obj.fields.values():
            if fdef.system:
                continue
            values = {"kind": storage_kind(fdef), "signature": _signature(fdef),
                      "status": "active"}
            old = existing.pop((name, fdef.name), None)
            if old is None:
                conn.execute(mc_field.insert().values(object=name, field=fdef.name,
                                                      changed_at=now, **values))
            elif any(getattr(old, k) != v for k, v in values.items()):
                conn.execute(mc_field.update().where(
                    mc_field.c.object == name, mc_field.c.field == fdef.name
                ).values(changed_at=now, **values))
        search = ",".join(obj.search)
        old = existing.pop((name, SEARCH_COLUMN), None)
        if search and old is None:
            conn.execute(mc_field.insert().values(object=name, field=SEARCH_COLUMN, kind="search",
                                                  signature=search, status="active",
                                                  changed_at=now))
        elif old is not None and (old.signature != search or old.status != "active"):
            conn.execute(mc_field.update().where(
                mc_field.c.object == name, mc_field.c.field == SEARCH_COLUMN
            ).values(signature=search, status="active" if search else "archived",
                     changed_at=now))
    for (obj_name, fname), old in existing.items():
        if old.status == "active":
            conn.execute(mc_field.update().where(
                mc_field.c.object == obj_name, mc_field.c.field == fname
            ).values(status="archived", changed_at=now))


# --- archived data: listed in Setup, restorable, purged only when an admin confirms ---------


@dataclass(frozen=True)
class Archived:
    object: str
    field: str | None  # None: the whole object (its table) left the model
    kind: str
    since: Any
    signature: str


def archived(db: Database, model: AppModel) -> list[Archived]:
    """Columns and tables that left the model with their data kept."""
    mc_field = system_tables(MetaData())["mc_field"]
    with db.read() as conn:
        if not inspect(conn).has_table("mc_field"):
            return []
        rows = conn.execute(select(mc_field).where(mc_field.c.status == "archived")
                            .order_by(mc_field.c.object, mc_field.c.field)).all()
    out: list[Archived] = []
    gone = {r.object for r in rows if r.object not in model.objects}
    for obj in sorted(gone):
        first = min((r.changed_at for r in rows if r.object == obj), default=None)
        out.append(Archived(obj, None, "table", first, ""))
    for r in rows:
        if r.object in model.objects and not r.field.startswith("_"):
            out.append(Archived(r.object, r.field, r.kind, r.changed_at, r.signature))
    return out


def count_values(db: Database, obj: str, field_name: str | None) -> int:
    """How many values purging would destroy: filled values of a column, rows of a table."""
    with db.read() as conn:
        t = Table(obj, MetaData(), autoload_with=conn)
        if field_name is None:
            return conn.execute(select(func.count()).select_from(t)).scalar() or 0
        return conn.execute(select(func.count(t.c[field_name]))).scalar() or 0


def purge(db: Database, model: AppModel, obj: str, field_name: str | None, *,
          version: int | None = None) -> int:
    """Destroy an archived column (or, with field_name None, an archived object's table) and
    its values. Refused for anything the model still uses, and when `version` (the metadata
    version `model` was built from) is no longer the newest. Returns how many values went."""
    mc_field = system_tables(MetaData())["mc_field"]
    if field_name is None and obj in model.objects:
        raise SchemaChangeRefused(f"'{obj}' is still an object of the model; remove it first",
                                  obj=obj)
    if field_name is not None and obj in model.objects and field_name in model.objects[obj].fields:
        raise SchemaChangeRefused(f"{obj}.{field_name} is still a field; remove it first",
                                  obj=obj, field=field_name)
    with db.write() as conn:
        lock(conn)
        if version is not None and latest_number(conn) != version:
            raise Conflict("the metadata changed since this page was opened (a field may have "
                           "been restored); reload it and try again. Nothing was purged")
        rows = conn.execute(select(mc_field).where(
            mc_field.c.object == obj, mc_field.c.status == "archived",
            *(() if field_name is None else (mc_field.c.field == field_name,)))).all()
        if not rows:
            raise SchemaChangeRefused(f"{obj}{'.' + field_name if field_name else ''} is not "
                                      "archived data", obj=obj, field=field_name)
        t = Table(obj, MetaData(), autoload_with=conn)
        ops = Operations(MigrationContext.configure(conn))
        if field_name is None:
            count = conn.execute(select(func.count()).select_from(t)).scalar() or 0
            if db.is_sqlite:
                conn.execute(text(f'DROP TABLE IF EXISTS "{fts_table(obj)}"'))
            ops.drop_table(obj)
            conn.execute(mc_field.delete().where(mc_field.c.object == obj))
            system = system_tables(MetaData())
            for name in ("mc_note", "mc_file", "mc_view", "mc_sequence"):
                conn.execute(system[name].delete().where(system[name].c.object == obj))
            return count
        count = conn.execute(select(func.count(t.c[field_name]))).scalar() or 0
        for index in inspect(conn).get_indexes(obj):
            if field_name in index["column_names"]:
                ops.drop_index(index["name"], table_name=obj)
        ops.drop_column(obj, field_name)
        conn.execute(mc_field.delete().where(mc_field.c.object == obj,
                                             mc_field.c.field == field_name))
        return count
