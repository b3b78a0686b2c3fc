"""The field types, declared once: what each type's values are, the keys its definition
takes, and what a list, a search, a formula and Setup may do with it.

Every layer asks this table instead of keeping its own list of type names: the metadata
checks (keys, sort, search, formula results), the engine (columns, coercion, sorting), the
screens (Setup's new-field form) and the API document.

    text, textarea, email, phone, url, picklist, multipicklist, autonumber, file   text
    integer                                                                        integer
    number, currency, percent, rollup                                              decimal
    date / datetime / checkbox                                                     themselves
    lookup, user                                                                   reference
    formula                                        its `returns` (one of `formula_result`)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

VALUES = ("text", "integer", "decimal", "date", "datetime", "checkbox", "reference")


@dataclass(frozen=True)
class FieldType:
    """One field type. `value` is the family of its stored values (VALUES; None for a
    formula, whose `returns` says); `keys` the definition keys it takes besides the common
    ones (type, label, help, required, unique, default, index, read_only)."""

    name: str
    value: str | None
    keys: frozenset[str] = field(default_factory=frozenset)
    sortable: bool = True  # a list may be sorted by it (and an index serve that order)
    searchable: bool = False  # may be one of an object's quick-search fields
    computed: bool = False  # its value is worked out, never typed in
    formula_result: bool = False  # may be a formula's `returns`
    in_setup: bool = True  # offered by Setup's new-field form

    @property
    def is_text(self) -> bool:
        return self.value == "text"

    @property
    def is_number(self) -> bool:
        return self.value in ("integer", "decimal")


def _type(name: str, value: str | None, keys: str = "", **facts: bool) -> FieldType:
    return FieldType(name, value, frozenset(keys.split()), **facts)


_ALL = (
    _type("text", "text", "max_length", searchable=True, formula_result=True),
    _type("textarea", "text", "max_length", sortable=False, searchable=True),
    _type("email", "text", "max_length", searchable=True),
    _type("phone", "text", "max_length", searchable=True),
    _type("url", "text", "max_length", searchable=True),
    _type("integer", "integer", "min max", formula_result=True),
    _type("number", "decimal", "min max scale", formula_result=True),
    _type("currency", "decimal", "min max scale", formula_result=True),
    _type("percent", "decimal", "min max scale", formula_result=True),
    _type("date", "date", "min max", formula_result=True),
    _type("datetime", "datetime", formula_result=True),
    _type("checkbox", "checkbox", formula_result=True),
    _type("picklist", "text", "options", searchable=True),
    _type("multipicklist", "text", "options", sortable=False),
    _type("lookup", "reference", "to on_delete"),
    _type("user", "reference"),
    _type("formula", None, "returns expression scale", computed=True),
    _type("autonumber", "text", "format", searchable=True, computed=True),
    _type("file", "text", "accept max_size", sortable=False),
    # a rollup is made in YAML (Setup's form has no place for its source, measure, filter)
    _type("rollup", "decimal", "from via measure filter scale", computed=True,
          in_setup=False),
)

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


__all__ = ["FIELD_TYPES", "FORMULA_RETURNS", "FieldType", "NUMBER_TYPES", "SETUP_TYPES",
           "TEXT_TYPES", "TYPES", "VALUES", "sortable"]
