"""Showing field values: formatted in the user's language, lookups as links to their
records, users by name. Titles and names for a whole page are fetched in one query per
target object, so a list of 50 rows costs the same as a list of 5."""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from markupsafe import Markup

from ..engine import query
from ..engine.attachments import file_names
from ..engine.coerce import national_phone
from ..engine.rows import fetch
from ..engine.runtime import Context
from ..engine.text import is_digits
from ..engine.users import known_names, user_names
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
        if user_ids - set(self.users):  # names come from the cached names of all users
            known = known_names(self.ctx.runtime, conn)
            self.users.update({i: known[i] for i in user_ids if i in known})
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
    return int(text[5:]) if text.startswith("file:") and is_digits(text[5:]) else None


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


def renderer(fdef: FieldDef, fmt: Formats, refs: References | None = None,
             language: str = "en") -> Callable[[Any], str]:
    """A function that turns one field's values into HTML (escaped): the type is looked at
    once per column, not once per cell."""
    vtype = fdef.value_type
    esc = html.escape

    def blank_or(render: Callable[[Any], str]) -> Callable[[Any], str]:
        def cell(value: Any) -> str:
            if value is None or value == "" or value == []:
                return ""
            return render(value)
        return cell

    if fdef.type == "lookup":
        titles = refs.titles.get(fdef.to or "", {}) if refs else {}
        target = esc(fdef.to or "")

        def lookup(value: Any) -> str:
            title = titles.get(value)
            if title is None:
                return '<span class="muted">—</span>'
            return f'<a href="/o/{target}/{int(value)}">{esc(title)}</a>'
        return blank_or(lookup)
    if vtype == "user":
        users = refs.users if refs else {}
        return blank_or(lambda v: esc(users.get(v) or f"#{v}"))
    if vtype == "picklist":
        labels = {o.value: esc(o.label.get(language)) for o in fdef.options}

        def option(value: Any) -> str:  # the commonest cells: one call each, not two
            if value is None or value == "":
                return ""
            return labels.get(value) or esc(str(value))
        return option
    if vtype == "multipicklist":
        labels = {o.value: esc(o.label.get(language)) for o in fdef.options}
        return blank_or(lambda vs: ", ".join(labels.get(v) or esc(str(v)) for v in vs))
    if vtype == "checkbox":
        return lambda v: '<span class="check" title="✓">✓</span>' if v else ""
    simple: dict[str, Callable[[Any], str]] = {
        "currency": fmt.money, "percent": fmt.percent, "number": fmt.number,
        "integer": fmt.number, "date": fmt.date, "datetime": fmt.datetime}
    if vtype in simple:
        make = simple[vtype]
        return blank_or(lambda v: esc(make(v)))
    if vtype == "email":
        return blank_or(lambda v: f'<a href="mailto:{esc(v)}">{esc(v)}</a>')
    if vtype == "phone":
        return blank_or(lambda v: f'<a href="tel:{esc(v)}">'
                                  f'{esc(national_phone(v) if v.startswith("+84") else v)}</a>')
    if vtype == "url":
        return blank_or(lambda v: f'<a href="{esc(v)}" rel="noopener noreferrer" '
                                  f'target="_blank">{esc(v)}</a>')
    if fdef.type == "file":
        files = refs.files if refs else {}

        def stored_file(value: Any) -> str:
            stored = file_id(value)
            if stored is None:
                return esc(str(value))
            return f'<a href="/files/{stored}">{esc(files.get(stored) or f"#{stored}")}</a>'
        return blank_or(stored_file)

    def text(value: Any) -> str:
        return "" if value is None or value == "" or value == [] else esc(str(value))
    return text


def display(fdef: FieldDef, value: Any, fmt: Formats, refs: References | None = None,
            language: str = "en") -> Markup:
    """A field's value as HTML for lists and detail pages."""
    return Markup(renderer(fdef, fmt, refs, language)(value))
