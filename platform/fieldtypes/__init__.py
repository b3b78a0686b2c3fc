"""The field types, declared once: what each type's values are, the keys its definition
takes, what a list, a search, a formula and Setup may do with it, and what it does with a
value on every path (input, filter, formula result, list cell, form, API document, import).

Every layer asks this registry instead of keeping its own list of type names or branching on
them: the metadata checks, the engine (columns, coercion, filters), the screens (cells,
widgets, Setup's new-field form), the API document and imports. A type lives in the module of
its family; adding one is its definition there, in that module's TYPES, plus its form macro
in `layouts/form.html` when it draws a widget of its own.

    text, textarea, email, phone, url, file, picklist, multipicklist, autonumber   text
    integer                                                                        integer
    number, currency, percent, rollup                                              decimal
    date / datetime / checkbox                                                     themselves
    lookup, user                                                                   reference
    formula                                        its `returns` (one of `formula_result`)

What a type does with a value is asked of the field's `kind` (`Field.kind`: the type of
the stored value, so a formula returning a date is shown and filtered as a date); what its
definition means, of `TYPES[field.type]`.
"""

from __future__ import annotations

from types import MappingProxyType

from . import choices, computed, dates, numbers, references, text
from .base import VALUES, FieldType, Invalid, Shown, is_empty, words
from .choices import match_option, option_label, parse_bool
from .dates import parse_date
from .numbers import INTEGER_LIMIT, NUMBER_LIMIT, number_text
from .references import MAX_ID
from .text import DEFAULT_REGION, file_id, national_phone, normalize_phone

_ALL = (*text.TYPES, *numbers.TYPES, *dates.TYPES, *choices.TYPES, *references.TYPES,
        *computed.TYPES)

TYPES: MappingProxyType[str, FieldType] = MappingProxyType({t.name: t for t in _ALL})
FIELD_TYPES = tuple(TYPES)
TEXT_TYPES = tuple(t.name for t in _ALL if t.is_text)
NUMBER_TYPES = tuple(t.name for t in _ALL if t.is_number)
FORMULA_RETURNS = tuple(t.name for t in _ALL if t.formula_result)
SETUP_TYPES = tuple(t.name for t in _ALL if t.in_setup)


def sortable(type_name: str) -> bool:
    """May a list be sorted by a field of this type (a formula by its result)?"""
    found = TYPES.get(type_name)
    return found is not None and found.sortable


__all__ = ["DEFAULT_REGION", "FIELD_TYPES", "FORMULA_RETURNS", "FieldType", "INTEGER_LIMIT",
           "Invalid", "MAX_ID", "NUMBER_LIMIT", "NUMBER_TYPES", "SETUP_TYPES", "Shown",
           "TEXT_TYPES", "TYPES", "VALUES", "file_id", "is_empty", "match_option",
           "national_phone", "normalize_phone", "number_text", "option_label", "parse_bool",
           "parse_date", "sortable", "words"]
