"""Number types: integer, number, currency and percent. Numbers are typed the reader's way
(1.500.000 in Vietnamese) and stored exact: whole numbers as integers, the rest as decimals of
the field's scale."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from .base import (
    Field,
    FieldType,
    Formatter,
    Invalid,
    Resolve,
    Submitted,
    define,
    scalar,
    submitted_text,
    written_cell,
)

NUMBER_LIMIT = 10**18  # a stored number's magnitude stays below this (columns hold 10^20)
# whole numbers stay exact in JSON and JavaScript (2^53 - 1), and a sum of a thousand of them
# still fits the 64-bit columns and SQLite's integer SUM
INTEGER_LIMIT = 2**53 - 1
_INT = re.compile(r"^[+-]?\d+$")


def parse_integer(fdef: Field, raw: Any, tz: ZoneInfo) -> int:
    if isinstance(raw, bool):
        raise Invalid("invalid_number", "expected a whole number, not true or false")
    value: int | None = None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer() or \
            isinstance(raw, Decimal) and raw.is_finite() and raw == raw.to_integral_value():
        value = int(raw)
    elif _INT.match(text := str(raw).strip().replace(" ", "")):
        value = int(text)
    if value is None:
        raise Invalid("invalid_number", f"'{raw}' is not a whole number", value=raw)
    if abs(value) > INTEGER_LIMIT:
        raise Invalid("out_of_range", f"'{raw}' is too large (whole numbers go up to "
                                      f"{INTEGER_LIMIT:,})", value=raw)
    return value


def _quantized(fdef: Field, value: Any) -> Decimal:
    scale = fdef.scale if fdef.scale is not None else 2
    return Decimal(value).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def _decimal(fdef: Field, raw: Any, tz: ZoneInfo) -> Decimal:
    if isinstance(raw, bool):
        raise Invalid("invalid_number", "expected a number, not true or false")
    try:
        value = Decimal(str(raw).strip().replace(" ", "")) if not isinstance(raw, Decimal) \
            else raw
    except InvalidOperation:
        raise Invalid("invalid_number", f"'{raw}' is not a number", value=raw) from None
    if not value.is_finite():
        raise Invalid("invalid_number", f"'{raw}' is not a finite number")
    if abs(value) >= NUMBER_LIMIT:
        raise Invalid("out_of_range", f"'{raw}' is too large", value=raw)
    return _quantized(fdef, value)


def _within(fdef: Field, value: Any, limit: int) -> None:
    if not isinstance(value, bool) and isinstance(value, (int, float, Decimal)) \
            and abs(value) >= limit:
        raise Invalid("out_of_range", f"{fdef.name} would be {value}, beyond the largest "
                                      "number a record holds")


def _integer_result(fdef: Field, value: Any) -> int:
    _within(fdef, value, INTEGER_LIMIT + 1)
    return int(value)


def _decimal_result(fdef: Field, value: Any) -> Decimal:
    _within(fdef, value, NUMBER_LIMIT)
    return _quantized(fdef, value)


def _number_input(fdef: Field, value: Any, fmt: Formatter) -> Any:
    return "" if value is None else fmt.number_input(value, fdef.scale)


def _read_number(fdef: Field, form: Submitted, fmt: Formatter
                 ) -> tuple[Any, dict[str, Any]] | None:
    text = submitted_text(fdef, form)
    if text is None:
        return None
    parsed = fmt.parse_number(text)  # the text itself when it is no number: the service says
    return (None if parsed == "" else parsed), {fdef.name: text}


def number_text(text: str) -> str:
    """'25.000.000' or '25,000,000' or '1 234,5' as the record service reads numbers."""
    text = text.replace("\xa0", "").replace(" ", "").replace("₫", "").replace("đ", "")
    if re.fullmatch(r"-?\d{1,3}(\.\d{3})+(,\d+)?", text):  # Vietnamese: 25.000.000,5
        return text.replace(".", "").replace(",", ".")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):  # English: 25,000,000.5
        return text.replace(",", "")
    if re.fullmatch(r"-?\d+,\d+", text):
        return text.replace(",", ".")
    return text


def _sheet_number(fdef: Field, raw: Any, resolve: Resolve) -> Any:
    return number_text(raw) if isinstance(raw, str) else raw


def _decimal_type(name: str, written: str) -> FieldType:
    return define(
        name, "decimal", "min max scale", formula_result=True, parse=_decimal,
        result=_decimal_result, written=written, cell=written_cell, widget="number",
        input=_number_input,
        read=_read_number, sheet=_sheet_number,
        schema=scalar({"type": "number"}, lambda fdef: {"exclusiveMinimum": -NUMBER_LIMIT,
                                                        "exclusiveMaximum": NUMBER_LIMIT}),
        filter_schema=lambda fdef: {"type": "string",
                                    "pattern": "^-?[0-9]{1,15}(\\.[0-9]{1,2})?$"})


INTEGER = define(
    "integer", "integer", "min max", formula_result=True, parse=parse_integer,
    result=_integer_result, written="number", cell=written_cell, widget="number",
    input=_number_input,
    read=_read_number, sheet=_sheet_number,
    schema=scalar({"type": "integer"}, lambda fdef: {"minimum": -INTEGER_LIMIT,
                                                     "maximum": INTEGER_LIMIT}),
    filter_schema=lambda fdef: {"type": "string", "pattern": "^-?[0-9]{1,15}$"})

TYPES: tuple[FieldType, ...] = (
    INTEGER, _decimal_type("number", "number"), _decimal_type("currency", "money"),
    _decimal_type("percent", "percent"))
