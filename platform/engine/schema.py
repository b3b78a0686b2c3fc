"""SQLAlchemy tables built from the model: one real table per object, one real column per
field, plus MetaCRM's own `mc_*` tables (users, tokens, audit trail, sequences, ...)."""

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
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from ..metadata.model import AppModel, FieldDef, ObjectDef
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
    vtype = fdef.value_type
    if fdef.type == "lookup":
        return f"ref:{fdef.to}"
    if vtype in ("user",):
        return "user"
    if vtype == "integer" or fdef.name in ("id", "version"):
        return "integer"
    if vtype in ("number", "currency", "percent"):
        return f"decimal:{fdef.scale if fdef.scale is not None else 2}"
    if vtype == "checkbox":
        return "boolean"
    if vtype in ("date", "datetime"):
        return vtype
    return "text"


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


def wanted_indexes(obj: ObjectDef) -> list[tuple[tuple[str, ...], bool]]:
    """(columns, unique) of every index the object should have."""
    out: dict[tuple[str, ...], bool] = {}
    for fdef in obj.fields.values():
        if fdef.name == "id":
            continue
        if fdef.unique or fdef.type == "autonumber":
            out[(fdef.name,)] = True
        elif fdef.index or fdef.type == "lookup" or fdef.name == "owner":
            out.setdefault((fdef.name,), False)
    for columns in obj.indexes:
        out.setdefault(tuple(columns), False)
    return list(out.items())


def object_table(obj: ObjectDef, metadata: MetaData) -> Table:
    columns = [field_column(f) for f in obj.fields.values()]
    if obj.search:
        columns.append(Column(SEARCH_COLUMN, Text(), nullable=True))
    # AUTOINCREMENT on SQLite: an id is never reused, so a new record cannot inherit the
    # audit trail of a deleted one
    table = Table(obj.name, metadata, *columns, sqlite_autoincrement=True)
    for cols, unique in wanted_indexes(obj):
        Index(index_name(obj.name, cols, unique), *(table.c[c] for c in cols), unique=unique)
    return table


def system_tables(metadata: MetaData) -> dict[str, Table]:
    user = Table(
        "mc_user", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("username", String(150), nullable=False, unique=True),
        Column("display_name", Text()),
        Column("email", Text()),
        Column("role", String(63), nullable=False),
        Column("password_hash", Text()),
        Column("is_active", Boolean(), nullable=False, default=True),
        Column("locale", String(10)),
        Column("failed_logins", Integer(), nullable=False, default=0),
        Column("locked_until", UtcDateTime()),
        Column("created_at", UtcDateTime(), nullable=False),
    )
    team = Table(
        "mc_team", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("name", String(150), nullable=False, unique=True),
        Column("manager_id", BigInteger()),
    )
    team_member = Table(
        "mc_team_member", metadata,
        Column("team_id", BigInteger(), nullable=False),
        Column("user_id", BigInteger(), nullable=False, index=True),
        PrimaryKeyConstraint("team_id", "user_id"),
    )
    token = Table(
        "mc_token", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("user_id", BigInteger(), nullable=False, index=True),
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("label", Text()),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("last_used_at", UtcDateTime()),
    )
    audit = Table(
        "mc_audit", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("action", String(20), nullable=False),
        Column("changes", Text(), nullable=False),
        Column("user_id", BigInteger()),
        Column("at", UtcDateTime(), nullable=False),
        Index("ix_mc_audit_record", "object", "record_id"),
    )
    sequence = Table(
        "mc_sequence", metadata,
        Column("object", String(63), nullable=False),
        Column("field", String(63), nullable=False),
        Column("value", BigInteger(), nullable=False),
        PrimaryKeyConstraint("object", "field"),
    )
    field = Table(
        "mc_field", metadata,
        Column("object", String(63), nullable=False),
        Column("field", String(63), nullable=False),
        Column("kind", String(100), nullable=False),
        Column("signature", Text(), nullable=False),
        Column("status", String(20), nullable=False),
        Column("changed_at", UtcDateTime(), nullable=False),
        PrimaryKeyConstraint("object", "field"),
    )
    note = Table(
        "mc_note", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("body", Text(), nullable=False),
        Column("user_id", BigInteger()),
        Column("at", UtcDateTime(), nullable=False),
        Index("ix_mc_note_record", "object", "record_id"),
    )
    file = Table(
        "mc_file", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("name", Text(), nullable=False),
        Column("content_type", String(100), nullable=False),
        Column("size", BigInteger(), nullable=False),
        Column("path", Text(), nullable=False),
        Column("user_id", BigInteger()),
        Column("at", UtcDateTime(), nullable=False),
        Index("ix_mc_file_record", "object", "record_id"),
    )
    view = Table(
        "mc_view", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("name", Text(), nullable=False),
        Column("user_id", BigInteger(), nullable=False),
        Column("shared", Boolean(), nullable=False, default=False),
        Column("params", Text(), nullable=False),
        Column("at", UtcDateTime(), nullable=False),
        Index("ix_mc_view_object", "object"),
    )
    return {t.name: t for t in (user, team, team_member, token, audit, sequence, field, note,
                                file, view)}


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
    tables = {name: object_table(obj, metadata) for name, obj in model.objects.items()}
    return Schema(metadata, MappingProxyType(tables), MappingProxyType(system))


__all__ = ["SEARCH_COLUMN", "Schema", "build_schema", "column_type", "index_name",
           "storage_kind", "wanted_indexes"]
