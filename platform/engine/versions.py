"""Reading the metadata versions Setup saved (the `mc_metadata` table): the newest number,
one version's overlay documents, the history, and the model they build. Writing a version
(and migrating the database to it) is overlays.py's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, MetaData, Table, func, inspect, select, text

from ..metadata import AppModel, load
from ..metadata.documents import dump, overlay_texts
from ..metadata.source import parse_documents
from .db import Database
from .errors import NotFound
from .systables import system_tables


@cache
def versions_table() -> Table:
    return system_tables(MetaData())["mc_metadata"]


@dataclass(frozen=True)
class Version:
    number: int  # 0: the app as written, no overlays
    documents: Mapping[str, str]  # path -> YAML text
    summary: str = ""
    user_id: int | None = None
    created_at: datetime | None = None

    def data(self) -> dict[str, Any]:
        """The overlay documents as plain data, by path."""
        out = {}
        for name, yaml_text in self.documents.items():
            docs, _ = parse_documents(yaml_text, name)
            if docs:
                out[name] = docs[0].data
        return out


NO_OVERLAYS = Version(0, {})


def has_versions(conn: Connection) -> bool:
    return inspect(conn).has_table("mc_metadata")


def latest_number(conn: Connection) -> int:
    """The newest version number (0 when Setup has changed nothing). One indexed read."""
    try:
        return conn.execute(select(func.max(versions_table().c.version))).scalar() or 0
    except Exception:  # the table does not exist yet (a database never migrated)
        if has_versions(conn):
            raise
        return 0


def _version(row: Any) -> Version:
    return Version(row.version, json.loads(row.documents), row.summary, row.user_id,
                   row.created_at)


def latest(db: Database) -> Version:
    with db.read() as conn:
        if not has_versions(conn):
            return NO_OVERLAYS
        t = versions_table()
        row = conn.execute(select(t).order_by(t.c.version.desc()).limit(1)).first()
    return _version(row) if row else NO_OVERLAYS


def get(db: Database, number: int) -> Version:
    if number == 0:
        return NO_OVERLAYS
    t = versions_table()
    with db.read() as conn:
        row = conn.execute(select(t).where(t.c.version == number)).first() \
            if has_versions(conn) else None
    if row is None:
        raise NotFound(f"there is no metadata version {number}")
    return _version(row)


def history(db: Database, limit: int = 200) -> list[Version]:
    """The saved versions, newest first (documents included)."""
    t = versions_table()
    with db.read() as conn:
        if not has_versions(conn):
            return []
        rows = conn.execute(select(t).order_by(t.c.version.desc()).limit(limit)).all()
    return [_version(r) for r in rows]


def texts(documents: Mapping[str, Any]) -> dict[str, str]:
    """Overlay documents (data or YAML text) as YAML texts, by path."""
    return {name: data if isinstance(data, str) else dump(data)
            for name, data in sorted(documents.items()) if data is not None}


def build(app_dir: str, documents: Mapping[str, Any]) -> AppModel:
    """The model of the app with these overlays (data or YAML text). Raises MetadataError."""
    return load(app_dir, overlays=overlay_texts(documents))


def lock(conn: Connection) -> None:
    """Serialize metadata changes: saves and purges wait for each other (SQLite's write
    transaction already does; PostgreSQL takes a transaction-level advisory lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(720401)"))


__all__ = ["NO_OVERLAYS", "Version", "build", "get", "has_versions", "history", "latest",
           "latest_number", "lock", "texts", "versions_table"]
