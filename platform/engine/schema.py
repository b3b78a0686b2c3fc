"""SQLAlchemy tables built from the model: one real table per object, one real column per
field, plus MetaCRM's own `mc_*` tables (see systables.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from ..fieldtypes import TYPES, sortable
from ..metadata.model import AppModel, FieldDef, Layout, ObjectDef
from .systables import system_tables
from .types import ID, Money, UtcDateTime

SEARCH_COLUMN = "_search"


def index_name(table: str, columns: tuple[str, ...], unique: bool = False) -> str:
    """A stable index name that fits PostgreSQL's 63 characters."""
    name = f"{'ux' if unique else 'ix'}_{table}_{'_'.join(columns)}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[:54]}_{digest}"


def storage_kind(fdef: FieldDef) -> str:
    """What the column holds, coarsely: a change of kind may need (or refuse) an ALTER."""
    if fdef.type == "lookup":
        return f"ref:{fdef.to}"
    if fdef.name in ("id", "version"):
        return "integer"
    value = TYPES[fdef.value_type].value
    if value == "reference":
        return "user"
    if value == "decimal":
        return f"decimal:{fdef.scale if fdef.scale is not None else 2}"
    return "boolean" if value == "checkbox" else value or "text"


def column_type(fdef: FieldDef) -> TypeEngine[Any]:
    kind = storage_kind(fdef)
    if kind.startswith("ref:") or kind == "user":
        return BigInteger()
    if kind == "integer":
        return BigInteger()
    if kind.startswith("decimal:"):
        return Money(int(kind.split(":")[1]))
    if kind == "boolean":
        return Boolean()
    if kind == "date":
        return Date()
    if kind == "datetime":
        return UtcDateTime()
    return Text()


def field_column(fdef: FieldDef) -> Column[Any]:
    if fdef.name == "id":
        return Column("id", ID, primary_key=True, autoincrement=True)
    if fdef.name == "version":
        return Column("version", Integer(), nullable=False, default=1)
    return Column(fdef.name, column_type(fdef), nullable=True)


@dataclass(frozen=True)
class IndexSpec:
    """An index the object should have. `columns` may start with "-" (descending); a `sort`
    index follows a list view's order, so that the database reads a page straight from it."""

    table: str
    columns: tuple[str, ...]
    unique: bool = False
    sort: bool = False

    @property
    def plain(self) -> tuple[str, ...]:
        return tuple(c.lstrip("-") for c in self.columns)

    @property
    def name(self) -> str:
        if not self.sort:
            return index_name(self.table, self.plain, self.unique)
        parts = tuple(c[1:] + "_desc" if c.startswith("-") else c for c in self.columns)
        return "s" + index_name(self.table, parts)[1:]

    def describe(self) -> str:
        text = f"{self.table}({', '.join(self.columns)})"
        return text + (" unique" if self.unique else " for list order" if self.sort else "")


def list_order(obj: ObjectDef, layout: Layout | None) -> tuple[str, ...]:
    """The default order of the object's list, with the id that breaks ties."""
    sort = [s for s in (layout.list.sort if layout else ())
            if s.lstrip("-") in obj.fields and sortable(obj.fields[s.lstrip("-")].type)]
    if not sort:
        return ()
    return (*sort, "-id" if sort[-1].startswith("-") else "id")


ANNIVERSARY = "_md_"  # a hidden column: month * 100 + day of a date field (birthdays)


def scheduled_fields(model: AppModel, object_name: str) -> dict[str, bool]:
    """Date fields that scheduled rules read, and whether one repeats (every year or month:
    found by the hidden month-day column)."""
    out: dict[str, bool] = {}
    for workflow in model.workflows.values():
        if workflow.object == object_name and workflow.schedule is not None \
                and workflow.schedule.date_field is not None:
            field_name = workflow.schedule.date_field
            out[field_name] = out.get(field_name, False) or workflow.schedule.every in (
                "year", "month")
    return out


def anniversary_columns(model: AppModel, object_name: str) -> dict[str, str]:
    """Hidden column -> date field, for the yearly and monthly rules of the object."""
    return {ANNIVERSARY + name: name
            for name, yearly in scheduled_fields(model, object_name).items() if yearly}


def wanted_indexes(model: AppModel, object_name: str, *, derived: bool = True
                   ) -> list[IndexSpec]:
    """Every index the object should have: declared ones, lookups and owner, unique fields;
    and, derived from the metadata, one per list filter in the layout's sort order (plus the
    sort order alone), those that scheduled rules search by, and the exact fields of each
    duplicate rule (checked on every save)."""
    obj = model.objects[object_name]
    layout = model.layouts.get(object_name) if derived else None
    out: dict[tuple[str, ...], IndexSpec] = {}
    for fdef in obj.fields.values():
        if fdef.name == "id":
            continue
        if fdef.unique or fdef.type == "autonumber":
            out[(fdef.name,)] = IndexSpec(obj.name, (fdef.name,), unique=True)
        elif fdef.index or fdef.type == "lookup" or fdef.name == "owner":
            out.setdefault((fdef.name,), IndexSpec(obj.name, (fdef.name,)))
    for columns in obj.indexes:
        out.setdefault(tuple(columns), IndexSpec(obj.name, tuple(columns)))
    for columns in obj.unique_together:
        out[tuple(columns)] = IndexSpec(obj.name, tuple(columns), unique=True)
    order = list_order(obj, layout)
    if order and layout is not None:
        leading = {c.lstrip("-") for c in order}
        groups = [*layout.list.filters, *([layout.kanban.group_by] if layout.kanban else [])]
        specs = [IndexSpec(obj.name, order, sort=True)]
        specs += [IndexSpec(obj.name, (f, *order), sort=True) for f in dict.fromkeys(groups)
                  if f in obj.fields and f not in leading
                  and sortable(obj.fields[f].type)]
        for spec in specs:
            out.setdefault(spec.columns, spec)
    if derived:
        for name, yearly in scheduled_fields(model, object_name).items():
            column = ANNIVERSARY + name if yearly else name
            out.setdefault((column,), IndexSpec(obj.name, (column,)))
        for rule in obj.duplicates:  # every save looks for look-alikes by these fields
            exact = tuple(m.field for m in rule.match if m.fuzzy is None)
            if exact and not any(key[:len(exact)] == exact for key in out):
                out[exact] = IndexSpec(obj.name, exact)
    return list(out.values())


def object_table(model: AppModel, object_name: str, metadata: MetaData) -> Table:
    obj = model.objects[object_name]
    columns = [field_column(f) for f in obj.fields.values()]
    if obj.search:
        columns.append(Column(SEARCH_COLUMN, Text(), nullable=True))
    columns += [Column(name, Integer(), nullable=True)
                for name in anniversary_columns(model, object_name)]
    # AUTOINCREMENT on SQLite: an id is never reused, so a new record cannot inherit the
    # audit trail of a deleted one
    table = Table(obj.name, metadata, *columns, sqlite_autoincrement=True)
    for spec in wanted_indexes(model, object_name, derived=False):
        Index(spec.name, *(table.c[c] for c in spec.plain), unique=spec.unique)
    return table


@dataclass(frozen=True)
class Schema:
    """The tables of one model: `schema.table("contact")`, `schema.system["mc_user"]`."""

    metadata: MetaData
    tables: MappingProxyType[str, Table]
    system: MappingProxyType[str, Table]

    def table(self, name: str) -> Table:
        return self.tables[name]


def build_schema(model: AppModel) -> Schema:
    metadata = MetaData()
    system = system_tables(metadata)
    tables = {name: object_table(model, name, metadata) for name in model.objects}
    return Schema(metadata, MappingProxyType(tables), MappingProxyType(system))


__all__ = ["ANNIVERSARY", "SEARCH_COLUMN", "IndexSpec", "anniversary_columns",
           "scheduled_fields", "Schema", "build_schema", "column_type",
           "index_name", "list_order", "storage_kind", "wanted_indexes"]
