"""Computed types: values worked out, never typed in. What a computed value is (how it is
shown, filtered, described) is the type of its result: a formula's `returns`, a rollup's
count (integer), sum (number) or min/max (`returns`), an autonumber's text."""

from __future__ import annotations

from .base import FieldType, define
from .text import TEXT

FORMULA = define("formula", None, "returns expression scale", computed=True)
AUTONUMBER = define("autonumber", "text", "format", searchable=True, computed=True,
                    filter=TEXT.filter)
# a rollup is made in YAML (Setup's form has no place for its source, measure, filter)
ROLLUP = define("rollup", "decimal", "from via measure filter scale", computed=True,
                in_setup=False)

TYPES: tuple[FieldType, ...] = (FORMULA, AUTONUMBER, ROLLUP)
