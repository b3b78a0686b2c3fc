"""Forms: a widget per field type, and the submitted text turned back into values for the
record service (numbers typed the Vietnamese way, dates from date inputs, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from starlette.datastructures import FormData

from ..engine.runtime import Context
from ..engine.text import is_digits
from ..metadata.model import FieldDef, Layout, ObjectDef
from .i18n import Formats

NUMERIC = ("integer", "number", "currency", "percent")


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


def input_text(fdef: FieldDef, value: Any, fmt: Formats) -> Any:
    """A stored value as the text of its input."""
    if value is None:
        return [] if fdef.type == "multipicklist" else ""
    vtype = fdef.value_type
    if fdef.type == "multipicklist":
        return list(value)
    if vtype == "checkbox":
        return bool(value)
    if vtype in NUMERIC:
        return fmt.number_input(value, fdef.scale)
    if vtype == "datetime" and isinstance(value, datetime):
        return value.astimezone(fmt.tz).strftime("%Y-%m-%dT%H:%M")
    if vtype == "date" and isinstance(value, date):
        return value.isoformat()
    return str(value)


def widget_kind(fdef: FieldDef, access: str) -> str:
    if not fdef.writable or access != "edit":
        return "readonly"
    return {
        "textarea": "textarea", "email": "email", "phone": "tel", "url": "url",
        "integer": "number", "number": "number", "currency": "number", "percent": "number",
        "date": "date", "datetime": "datetime", "checkbox": "checkbox", "picklist": "select",
        "multipicklist": "multiselect", "lookup": "lookup", "user": "user", "file": "file",
    }.get(fdef.type, "text")


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
    values: dict[str, Any] = {}
    typed: dict[str, Any] = {}
    for name in names:
        fdef = obj.fields[name]
        if not ctx.can_edit(obj, name):
            continue
        if fdef.type == "checkbox":
            if f"{name}__present" in form:
                values[name] = typed[name] = name in form
            continue
        if fdef.type == "multipicklist":
            if f"{name}__present" in form:
                chosen = [v for v in form.getlist(name) if isinstance(v, str)]
                values[name] = typed[name] = chosen
            continue
        if name not in form or fdef.type == "file":
            continue
        raw = form.get(name)
        text = raw if isinstance(raw, str) else ""
        typed[name] = text
        if fdef.type == "lookup":
            chosen_id = form.get(f"{name}__id")
            if isinstance(chosen_id, str) and is_digits(chosen_id):
                values[name] = int(chosen_id)
                typed[f"{name}__id"] = chosen_id
            else:
                values[name] = text.strip() or None
        elif fdef.type in NUMERIC:
            parsed = fmt.parse_number(text)
            values[name] = None if parsed == "" else (
                parsed if isinstance(parsed, (Decimal, str)) else parsed)
        else:
            values[name] = text if text.strip() else None
    return values, typed
