"""Choice types: a checkbox, a picklist (one option) and a multipicklist (several, stored
joined by ';'). Options are named by their value or by their label in any language."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from .base import (
    Cell,
    Field,
    FieldType,
    Formatter,
    Invalid,
    Resolve,
    Shown,
    Submitted,
    blank_or,
    define,
    esc,
    is_empty,
    scalar,
)
from .text import TEXT

_TRUE = {"true", "1", "yes", "on", "y", "có", "x"}
_FALSE = {"false", "0", "no", "off", "n", "không", ""}
# a sheet's words for yes and no, as their match keys (accents and case away)
_SHEET_TRUE = {"co", "x", "yes", "true", "1", "dung"}
_SHEET_FALSE = {"khong", "no", "false", "0", "sai"}


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Invalid("invalid_boolean", f"'{raw}' is not true or false")


def _checkbox(fdef: Field, raw: Any, tz: ZoneInfo) -> bool:
    return parse_bool(raw)


def _checkbox_cell(fdef: Field, shown: Shown) -> Cell:
    return lambda v: '<span class="check" title="✓">✓</span>' if v else ""


def _checkbox_input(fdef: Field, value: Any, fmt: Formatter) -> Any:
    return "" if value is None else bool(value)


def _read_ticked(fdef: Field, form: Submitted, fmt: Formatter
                 ) -> tuple[Any, dict[str, Any]] | None:
    """A checkbox sends nothing when unticked: its hidden `__present` says it was there."""
    if f"{fdef.name}__present" not in form:
        return None
    ticked = fdef.name in form
    return ticked, {fdef.name: ticked}


def _sheet_yes_no(fdef: Field, raw: Any, resolve: Resolve) -> Any:
    if isinstance(raw, str):
        folded = resolve.key(raw)
        if folded in _SHEET_TRUE:
            return True
        if folded in _SHEET_FALSE:
            return False
    return raw


CHECKBOX = define(
    "checkbox", "checkbox", formula_result=True, may_be_unique=False, bulk=True, unset=False,
    parse=_checkbox,
    result=lambda fdef, value: bool(value), cell=_checkbox_cell, widget="checkbox",
    input=_checkbox_input, read=_read_ticked, sheet=_sheet_yes_no,
    schema=scalar({"type": "boolean"}),
    filter_schema=lambda fdef: {"type": "string", "enum": ["true", "false"]})

# --- options -----------------------------------------------------------------------------------


def match_option(fdef: Field, raw: Any) -> str:
    """The option value that `raw` names, by value or by label in any language."""
    text = str(raw).strip()
    for option in fdef.options:
        if option.value == text:
            return option.value
    lowered = text.casefold()
    for option in fdef.options:
        if option.value.casefold() == lowered or any(
                label.casefold() == lowered for label in option.label.texts.values()):
            return option.value
    shown = ", ".join(o.value for o in fdef.options if o.active)
    raise Invalid("invalid_option", f"'{text}' is not one of the options ({shown})",
                  value=text, options=shown)


def option_label(fdef: Field, value: str, language: str) -> str:
    option = fdef.option(value)
    return option.label.get(language) if option else value


def _picklist(fdef: Field, raw: Any, tz: ZoneInfo) -> str:
    if isinstance(raw, bool):
        raise Invalid("invalid_option", "expected an option, not true or false")
    return match_option(fdef, raw)


def _labels(fdef: Field, shown: Shown) -> dict[str, str]:
    return {o.value: esc(o.label.get(shown.language)) for o in fdef.options}


def _picklist_cell(fdef: Field, shown: Shown) -> Cell:
    labels = _labels(fdef, shown)

    def option(value: Any) -> str:  # the commonest cells: one call each, not two
        if value is None or value == "":
            return ""
        return labels.get(value) or esc(str(value))
    return option


def _options(fdef: Field, write: bool) -> list[Any]:
    """The option values a value may be: as read any option, as written an active one."""
    return [o.value for o in fdef.options if o.active or not write]


def _picklist_schema(fdef: Field, write: bool) -> dict[str, Any]:
    options = _options(fdef, write)
    return {"type": "string",
            "enum": options + [None] if not (write and fdef.required) else options}


def _option_names(fdef: Field, shown: Shown) -> Callable[[Any], str]:
    labels = {o.value: o.label.get(shown.language) for o in fdef.options}
    return lambda value: labels.get(value, value)


def _options_names(fdef: Field, shown: Shown) -> Callable[[Any], str]:
    labels = {o.value: o.label.get(shown.language) for o in fdef.options}
    return lambda values: "; ".join(labels.get(v, v) for v in values)


PICKLIST = define(
    "picklist", "text", "options", searchable=True, bulk=True, parse=_picklist, filter=TEXT.filter,
    cell=_picklist_cell, named=_option_names, widget="select", schema=_picklist_schema,
    sheet=lambda fdef, raw, resolve: resolve.option(fdef, raw))

# --- several options ---------------------------------------------------------------------------


def _multipicklist(fdef: Field, raw: Any, tz: ZoneInfo) -> list[str]:
    items = raw if isinstance(raw, list) else str(raw).split(";")
    chosen = {match_option(fdef, item) for item in items if not is_empty(item)}
    return [o.value for o in fdef.options if o.value in chosen]


def _multipicklist_cell(fdef: Field, shown: Shown) -> Cell:
    labels = _labels(fdef, shown)
    return blank_or(lambda vs: ", ".join(labels.get(v) or esc(str(v)) for v in vs))


def _chosen_input(fdef: Field, value: Any, fmt: Formatter) -> Any:
    return [] if value is None else list(value)


def _read_chosen(fdef: Field, form: Submitted, fmt: Formatter
                 ) -> tuple[Any, dict[str, Any]] | None:
    if f"{fdef.name}__present" not in form:
        return None
    chosen = [v for v in form.getlist(fdef.name) if isinstance(v, str)]
    return chosen, {fdef.name: chosen}


def _multipicklist_schema(fdef: Field, write: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array",
                              "items": {"type": "string", "enum": _options(fdef, write)}}
    if write:
        schema["uniqueItems"] = True
        if fdef.required:
            schema["minItems"] = 1
    return schema


def _sheet_options(fdef: Field, raw: Any, resolve: Resolve) -> list[Any]:
    parts = raw if isinstance(raw, list) else re.split(r"[;,]", str(raw))
    return [resolve.option(fdef, str(p).strip()) for p in parts if str(p).strip()]


MULTIPICKLIST = define(
    "multipicklist", "text", "options", sortable=False, many=True, compound=True,
    may_be_unique=False,
    parse=_multipicklist, filter=TEXT.filter, cell=_multipicklist_cell, named=_options_names,
    widget="multiselect",
    input=_chosen_input, read=_read_chosen, schema=_multipicklist_schema,
    sheet=_sheet_options)

TYPES: tuple[FieldType, ...] = (CHECKBOX, PICKLIST, MULTIPICKLIST)
