"""Forms: a widget per field type, and the submitted text turned back into values for the
record service (numbers typed the Vietnamese way, dates from date inputs, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from ..engine.runtime import Context
from ..metadata.model import FieldDef, Layout, ObjectDef
from .i18n import Formats


@dataclass
class Widget:
    """One field on a form: what to draw and what the user typed or the record holds."""

    field: FieldDef
    label: str
    kind: str  # text, textarea, email, tel, url, number, date, datetime, checkbox, select,
    #            multiselect, lookup, user, file, readonly
    value: Any  # text for an input, a list for a multiselect, a bool for a checkbox
    required: bool
    help: str | None = None
    errors: list[str] | None = None
    options: list[tuple[str, str]] | None = None
    shown: str = ""  # a lookup's title; a read-only value's display
    # a lookup with a `filter`: what its type-ahead sends besides what was typed (the field
    # it is, the record edited) and the inputs of the fields its filter reads
    choose: dict[str, Any] | None = None
    include: str = ""
    hidden: bool = False  # out of sight by its visible_if (the form shows it when it holds)
    conditional: bool = False  # asked for or shown by a condition: the form may ask again


def input_text(fdef: FieldDef, value: Any, fmt: Formats) -> Any:
    """A stored value as the text of its input."""
    return fdef.kind.input(fdef, value, fmt)


def widget_kind(fdef: FieldDef, access: str) -> str:
    if not fdef.writable or access != "edit":
        return "readonly"
    return fdef.kind.widget


def form_fields(ctx: Context, obj: ObjectDef, layout: Layout) -> list[tuple[str, list[str]]]:
    """(section label, field names) the user may see, in layout order."""
    hidden = ctx.hidden(obj.name)
    out = []
    for section in layout.sections:
        names = [n for n in section.fields if n in obj.fields and n not in hidden]
        if names:
            out.append((section.label.get(ctx.locale), names))
    return out


def parse_form(ctx: Context, obj: ObjectDef, form: FormData, fmt: Formats,
               names: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values for the record service, what the user typed) from a submitted form.

    Only fields that were on the form and that the user may edit are taken."""
    return read_fields([obj.fields[n] for n in names if ctx.can_edit(obj, n)], form, fmt)


def read_fields(fields: Iterable[FieldDef], form: FormData, fmt: Formats
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values, what the user typed) of `fields` (a record's, or an action's inputs) from
    a submitted form: each field's type reads its own input."""
    values: dict[str, Any] = {}
    typed: dict[str, Any] = {}
    for fdef in fields:
        name = fdef.name
        found = fdef.kind.read(fdef, form, fmt)
        if found is not None:
            values[name], shown = found
            typed.update(shown)
    return values, typed
