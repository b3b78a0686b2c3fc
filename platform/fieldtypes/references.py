"""Reference types: a lookup (a record of another object) and a user. Both store an id; an
input may name the record instead (its title, or a key such as {"email": ...}; a user by
name), which the record service looks up in the database."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from .base import (
    Cell,
    Field,
    FieldType,
    Formatter,
    Invalid,
    Schema,
    Shown,
    Submitted,
    blank_or,
    define,
    esc,
    submitted_text,
)

MAX_ID = 2**63 - 1
_INT = re.compile(r"^[+-]?\d+$")
_IDS = "^[1-9][0-9]{0,17}$"


def parse_reference(fdef: Field, raw: Any, tz: ZoneInfo) -> int | Mapping[str, Any] | str:
    """An id now, or a key ({field: value} or a user name) to resolve against the database."""
    if isinstance(raw, bool):
        raise Invalid("invalid_reference", "expected a record id, not true or false")
    if isinstance(raw, int):
        if not 0 < raw <= MAX_ID:
            raise Invalid("invalid_reference", f"{raw} is not a record id")
        return raw
    if isinstance(raw, Mapping):
        if fdef.type == "lookup" and raw.get("id") is not None:
            return parse_reference(fdef, raw["id"], tz)
        if not raw:
            raise Invalid("invalid_reference", "an empty key names no record")
        return dict(raw)
    text = str(raw).strip()
    if _INT.match(text):
        return parse_reference(fdef, int(text), tz)
    if fdef.type == "user":
        return text  # a user name
    return {"_title": text}


def record_id(fdef: Field, raw: Any, tz: ZoneInfo) -> int:
    """An id as a filter names it: digits only."""
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        raise Invalid("invalid_reference", f"'{raw}' is not a record id")
    return int(text)


def id_filter_schema(fdef: Field) -> dict[str, Any]:
    return {"type": "string", "pattern": _IDS}


def _reference_schema(extension: Mapping[str, Any], description: str) -> Schema:
    def schema(fdef: Field, write: bool) -> dict[str, Any]:
        found: dict[str, Any] = {"type": "integer"}
        if write:
            found.update({"minimum": 1, "maximum": MAX_ID,
                          "description": description.format(to=fdef.to or "")})
        found.update({k: (fdef.to if v == "{to}" else v) for k, v in extension.items()})
        if write and fdef.filter is not None:  # a lookup's: which records it may name
            found["x-filter"] = str(fdef.filter)
            found["description"] += f", where {fdef.filter} (record.x: this record's x)"
        return found
    return schema


def _lookup_cell(fdef: Field, shown: Shown) -> Cell:
    titles = shown.titles.get(fdef.to or "", {})
    target = esc(fdef.to or "")

    def lookup(value: Any) -> str:
        title = titles.get(value)
        if title is None:
            return '<span class="muted">—</span>'
        return f'<a href="/o/{target}/{int(value)}">{esc(title)}</a>'
    return blank_or(lookup)


def _user_cell(fdef: Field, shown: Shown) -> Cell:
    users = shown.users
    return blank_or(lambda v: esc(users.get(v) or f"#{v}"))


def _read_lookup(fdef: Field, form: Submitted, fmt: Formatter
                 ) -> tuple[Any, dict[str, Any]] | None:
    """The id the type-ahead chose (`{name}__id`), else the typed title to look up."""
    text = submitted_text(fdef, form)
    if text is None:
        return None
    chosen = form.get(f"{fdef.name}__id")
    if isinstance(chosen, str) and chosen.isascii() and chosen.isdigit():
        return int(chosen), {fdef.name: text, f"{fdef.name}__id": chosen}
    return (text.strip() or None), {fdef.name: text}


LOOKUP = define(
    "lookup", "reference", "to on_delete filter", compound=True, parse=parse_reference,
    filter=record_id, refers="record", cell=_lookup_cell,
    named=lambda fdef, shown: lambda v: shown.titles.get(fdef.to or "", {}).get(v, ""),
    widget="lookup", read=_read_lookup,
    schema=_reference_schema({"x-lookup": "{to}"}, "the id of a record of {to}"),
    filter_schema=id_filter_schema, sheet=lambda fdef, raw, resolve: resolve.record(fdef, raw))
USER = define(
    "user", "reference", compound=True, bulk=True, parse=parse_reference, filter=record_id,
    refers="user",
    cell=_user_cell, named=lambda fdef, shown: lambda v: shown.users.get(v, ""), widget="user",
    schema=_reference_schema({"x-user": True},
                             "the id of an active user (never the system user)"),
    filter_schema=id_filter_schema, sheet=lambda fdef, raw, resolve: resolve.user(raw))

TYPES: tuple[FieldType, ...] = (LOOKUP, USER)
