"""Showing field values: formatted in the user's language, lookups as links to their
records, users by name. Titles and names for a whole page are fetched in one query per
target object, so a list of 50 rows costs the same as a list of 5."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from ..engine import query
from ..engine.attachments import file_names
from ..engine.coerce import national_phone
from ..engine.records import fetch
from ..engine.runtime import Context
from ..engine.users import user_names
from ..metadata.model import FieldDef, ObjectDef
from .i18n import Formats


class References:
    """Titles of the records and names of the users a page shows, loaded in batches."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.titles: dict[str, dict[int, str]] = {}
        self.users: dict[int, str] = {}
        self.files: dict[int, str] = {}

    def load(self, obj: ObjectDef, records: Iterable[Mapping[str, Any]],
             fields: Iterable[str], *, conn: Any = None) -> References:
        wanted: dict[str, set[int]] = defaultdict(set)
        user_ids: set[int] = set()
        file_ids: set[int] = set()
        records = list(records)
        for name in fields:
            fdef = obj.fields.get(name)
            if fdef is None:
                continue
            for record in records:
                value = record.get(name)
                if value is None:
                    continue
                if fdef.type == "lookup":
                    wanted[fdef.to or ""].add(value)
                elif fdef.type == "user":
                    user_ids.add(value)
                elif fdef.type == "file" and file_id(value) is not None:
                    file_ids.add(file_id(value))
        if not wanted and not user_ids - set(self.users) and not file_ids:
            return self
        if conn is None:
            with self.ctx.db.read() as own:
                return self.load(obj, records, fields, conn=own)
        for target, ids in wanted.items():
            self.titles.setdefault(target, {}).update(
                query.titles(self.ctx, target, ids, conn=conn))
        missing = user_ids - set(self.users)
        if missing:
            self.users.update(user_names(conn, self.ctx.schema, missing))
        if file_ids:
            self.files.update(file_names(self.ctx, file_ids))
        return self


def file_id(value: Any) -> int | None:
    """The id of a file field's value ("file:12"), or None for any other text."""
    text = str(value)
    return int(text[5:]) if text.startswith("file:") and text[5:].isdigit() else None


def related_values(ctx: Context, obj: ObjectDef, records: Sequence[dict[str, Any]],
                   paths: Iterable[str]) -> None:
    """Fill `record["account.industry"]` for dotted list columns (one query per lookup)."""
    by_lookup: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        if "." in path:
            head, _, rest = path.partition(".")
            by_lookup[head].append(rest)
    if not by_lookup:
        return
    with ctx.db.read() as conn:
        for head, rests in by_lookup.items():
            fdef = obj.fields.get(head)
            if fdef is None or fdef.type != "lookup" or ctx.scope(fdef.to, "read") == "none":
                continue
            target = ctx.model.objects[fdef.to]
            ids = {r.get(head) for r in records} - {None}
            readable = query.titles(ctx, target.name, ids, conn=conn)
            table = ctx.schema.table(target.name)
            rows = {i: fetch(conn, table, target, i) for i in readable}
            hidden = ctx.hidden(target.name)
            for record in records:
                row = rows.get(record.get(head)) or {}
                for rest in rests:
                    name = rest.split(".")[0]
                    record[f"{head}.{rest}"] = None if name in hidden else row.get(name)


def option_label(fdef: FieldDef, value: str, language: str) -> str:
    option = fdef.option(value)
    return option.label.get(language) if option else value


def display(fdef: FieldDef, value: Any, fmt: Formats, refs: References | None = None,
            language: str = "en") -> Markup | str:
    """A field's value as HTML for lists and detail pages."""
    if value is None or value == "" or value == []:
        return ""
    vtype = fdef.value_type
    if fdef.type == "lookup":
        title = (refs.titles.get(fdef.to or "", {}).get(value) if refs else None)
        if title is None:
            return Markup('<span class="muted">—</span>')
        return Markup(f'<a href="/o/{escape(fdef.to)}/{int(value)}">{escape(title)}</a>')
    if vtype == "user":
        return (refs.users.get(value) if refs else None) or f"#{value}"
    if vtype == "picklist":
        return option_label(fdef, value, language)
    if vtype == "multipicklist":
        return ", ".join(option_label(fdef, v, language) for v in value)
    if vtype == "checkbox":
        return Markup('<span class="check" title="✓">✓</span>') if value else ""
    if vtype == "currency":
        return fmt.money(value)
    if vtype == "percent":
        return fmt.percent(value)
    if vtype in ("number", "integer"):
        return fmt.number(value)
    if vtype == "date":
        return fmt.date(value)
    if vtype == "datetime":
        return fmt.datetime(value)
    if vtype == "email":
        return Markup(f'<a href="mailto:{escape(value)}">{escape(value)}</a>')
    if vtype == "phone":
        shown = national_phone(value) if str(value).startswith("+84") else value
        return Markup(f'<a href="tel:{escape(value)}">{escape(shown)}</a>')
    if vtype == "url":
        return Markup(f'<a href="{escape(value)}" rel="noopener noreferrer" target="_blank">'
                      f'{escape(value)}</a>')
    if fdef.type == "file":
        stored = file_id(value)
        if stored is None:
            return str(value)
        name = (refs.files.get(stored) if refs else None) or f"#{stored}"
        return Markup(f'<a href="/files/{stored}">{escape(name)}</a>')
    return str(value)
