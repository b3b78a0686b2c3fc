"""The quick-search index: accent-folded text (`_search`) indexed for substring search.

- SQLite: an FTS5 table with the trigram tokenizer over `_search` (external content, kept in
  step by triggers), asked with MATCH for words of three letters or more.
- PostgreSQL: a GIN trigram index (pg_trgm) on `_search`, which `LIKE '%word%'` uses as is.

Words shorter than three letters fall back to LIKE on `_search` (the index cannot help them).
Names in the DDL come from the validated model only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Integer, Table, column, inspect, text

from ..metadata.model import ObjectDef
from .schema import SEARCH_COLUMN
from .text import like_escape

MIN_INDEXED = 3


def fts_table(object_name: str) -> str:
    return f"{object_name}__search"


def trigram_index(object_name: str) -> str:
    return f"{object_name}__search_trgm"


def search_index_exists(conn: Connection, object_name: str) -> bool:
    inspector = inspect(conn)
    if conn.dialect.name == "sqlite":
        return fts_table(object_name) in inspector.get_table_names()
    return trigram_index(object_name) in {i["name"] for i in inspector.get_indexes(object_name)}


def _trgm_schema(conn: Connection) -> str:
    """The schema pg_trgm lives in, installing it (in public) when it is missing."""
    found = conn.execute(text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'")).scalar()
    if found:
        return found
    conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    return "public"


def create_search_index(conn: Connection, object_name: str) -> None:
    name = object_name
    if conn.dialect.name == "sqlite":
        fts = fts_table(name)
        conn.exec_driver_sql(
            f'CREATE VIRTUAL TABLE "{fts}" USING fts5({SEARCH_COLUMN}, content="{name}", '
            f"content_rowid=id, tokenize='trigram')")
        conn.exec_driver_sql(
            f'CREATE TRIGGER "{fts}_ai" AFTER INSERT ON "{name}" BEGIN '
            f'INSERT INTO "{fts}"(rowid, {SEARCH_COLUMN}) VALUES (new.id, new.{SEARCH_COLUMN}); '
            "END")
        conn.exec_driver_sql(
            f'CREATE TRIGGER "{fts}_ad" AFTER DELETE ON "{name}" BEGIN '
            f'INSERT INTO "{fts}"("{fts}", rowid, {SEARCH_COLUMN}) '
            f"VALUES ('delete', old.id, old.{SEARCH_COLUMN}); END")
        conn.exec_driver_sql(
            f'CREATE TRIGGER "{fts}_au" AFTER UPDATE OF {SEARCH_COLUMN} ON "{name}" BEGIN '
            f'INSERT INTO "{fts}"("{fts}", rowid, {SEARCH_COLUMN}) '
            f"VALUES ('delete', old.id, old.{SEARCH_COLUMN}); "
            f'INSERT INTO "{fts}"(rowid, {SEARCH_COLUMN}) VALUES (new.id, new.{SEARCH_COLUMN}); '
            "END")
        conn.exec_driver_sql(f"INSERT INTO \"{fts}\"(\"{fts}\") VALUES ('rebuild')")
        return
    schema = _trgm_schema(conn)
    conn.execute(text(f'CREATE INDEX "{trigram_index(name)}" ON "{name}" USING gin '
                      f'({SEARCH_COLUMN} "{schema}".gin_trgm_ops)'))


def search_condition(dialect: str, obj: ObjectDef, table: Table, terms: list[str]) -> list[Any]:
    """WHERE clauses that keep the records whose search text holds every term."""
    clauses: list[Any] = []
    indexed = [t for t in terms if len(t) >= MIN_INDEXED]
    short = [t for t in terms if len(t) < MIN_INDEXED]
    if dialect == "sqlite" and indexed:
        fts = fts_table(obj.name)
        query = " AND ".join('"' + t.replace('"', '""') + '"' for t in indexed)
        matching = text(f'SELECT rowid FROM "{fts}" WHERE "{fts}" MATCH :fts_query'
                        ).bindparams(fts_query=query).columns(column("rowid", Integer))
        clauses.append(table.c.id.in_(matching))
    else:
        short = terms
    clauses += [table.c[SEARCH_COLUMN].like(f"%{like_escape(t)}%", escape="\\") for t in short]
    return clauses
