"""Turning input values (JSON, form text, CSV cells) into typed field values.

`coerce(field, raw, tz)` returns the value to store or raises :class:`Invalid` with a code
and a plain message. Lookups and users are resolved later, against the database. Each
type's own rules live with the type (fieldtypes); this is where the engine asks them.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from ..fieldtypes import TYPES, Invalid, is_empty
from ..fieldtypes.numbers import parse_integer
from ..fieldtypes.references import record_id
from ..metadata.model import FieldDef

# the fields of every record that hold a record's or a user's id: filtered as ids
ID_FIELDS = ("id", "created_by", "updated_by")


def coerce(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> Any:
    """The stored value of `raw` for `fdef` (None, or [] for a list, for an empty input)."""
    ftype = TYPES[fdef.type]
    if is_empty(raw):
        return [] if ftype.many else None
    if isinstance(raw, (dict, list)) and not ftype.compound and not ftype.computed:
        raise Invalid("invalid", "expected a single value, not a list or an object")
    return ftype.parse(fdef, raw, tz)


def coerce_result(fdef: FieldDef, value: Any) -> Any:
    """A computed (formula, rollup) value brought to the field's stored type; Invalid when
    it is beyond what a stored number holds (a line total of absurd quantities)."""
    if value is None:
        return None
    return fdef.kind.result(fdef, value)


def filter_value(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> Any:
    """A value to compare a field with in a filter: typed like the stored values, without
    the write rules (a computed field can be filtered on; a picklist takes any text)."""
    if fdef.name in ID_FIELDS:
        return record_id(fdef, raw, tz)
    if fdef.name == "version":  # a 32-bit column: a larger number is no row version
        value = parse_integer(fdef, raw, tz)
        if not 0 <= value < 2**31:
            raise Invalid("out_of_range", f"'{raw}' is not a row version", value=raw)
        return value
    return fdef.kind.typed(fdef, raw, tz)

