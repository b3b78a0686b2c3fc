"""Showing field values: formatted in the user's language, lookups as links to their
records, users by name. Titles and names for a whole page are fetched in one query per
target object, so a list of 50 rows costs the same as a list of 5."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from markupsafe import Markup

from ..engine import query
from ..engine.attachments import file_names
from ..engine.rows import fetch
from ..engine.runtime import Context
from ..engine.users import known_names, user_names
from ..fieldtypes import Shown, file_id
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
        return self.load_fields(obj.fields, records, fields, conn=conn)

    def load_fields(self, defs: Mapping[str, FieldDef], records: Iterable[Mapping[str, Any]],
                    fields: Iterable[str], *, conn: Any = None) -> References:
        """The titles and names `records` name in `fields` (of the definitions `defs`: an
        object's fields, or the inputs of an action)."""
        wanted: dict[str, set[int]] = defaultdict(set)
        user_ids: set[int] = set()
        file_ids: set[int] = set()
        records = list(records)
        for name in fields:
            fdef = defs.get(name)
            if fdef is None:
                continue
            for record in records:
                value = record.get(name)
                if value is None:
                    continue
                refers = fdef.kind.refers
                if refers == "record":
                    wanted[fdef.to or ""].add(value)
                elif refers == "user":
                    user_ids.add(value)
                elif refers == "file" and file_id(value) is not None:
                    file_ids.add(file_id(value))
        if user_ids - set(self.users):  # names come from the cached names of all users
            known = known_names(self.ctx.runtime, conn)
            self.users.update({i: known[i] for i in user_ids if i in known})
        if not wanted and not user_ids - set(self.users) and not file_ids:
            return self
        if conn is None:
            with self.ctx.db.read() as own:
                return self.load_fields(defs, records, fields, conn=own)
        for target, ids in wanted.items():
            self.titles.setdefault(target, {}).update(
                query.titles(self.ctx, target, ids, conn=conn))
        missing = user_ids - set(self.users)
        if missing:
            self.users.update(user_names(conn, self.ctx.schema, missing))
        if file_ids:
            self.files.update(file_names(self.ctx, file_ids))
        return self

    def shown(self, fmt: Formats | None, language: str) -> Shown:
        """What the field types need to show this page's values."""
        return Shown(fmt, language, self.titles, self.users, self.files)


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


def renderer(fdef: FieldDef, fmt: Formats, refs: References | None = None,
             language: str = "en") -> Callable[[Any], str]:
    """A function that turns one field's values into HTML (escaped): the type is looked at
    once per column, not once per cell."""
    return fdef.kind.cell(fdef, refs.shown(fmt, language) if refs else Shown(fmt, language))


def display(fdef: FieldDef, value: Any, fmt: Formats, refs: References | None = None,
            language: str = "en") -> Markup:
    """A field's value as HTML for lists and detail pages."""
    return Markup(renderer(fdef, fmt, refs, language)(value))
