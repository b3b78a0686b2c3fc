"""Turning input values (JSON, form text, CSV cells) into typed field values.

`coerce(field, raw, tz)` returns the value to store or raises :class:`Invalid` with a code
and a plain message. Lookups and users are resolved later, against the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from ..metadata.model import FieldDef
from .text import is_digits

DEFAULT_REGION = "VN"
_TRUE = {"true", "1", "yes", "on", "y", "có", "x"}
_FALSE = {"false", "0", "no", "off", "n", "không", ""}
_INT = re.compile(r"^[+-]?\d+$")
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


class Invalid(Exception):
    """A value that cannot be stored: a stable `code`, a message, and the `params` a
    translated message needs (e.g. {"value": "abc"})."""

    def __init__(self, code: str, message: str, **params: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.params = params


def is_empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []


NUMBER_LIMIT = 10**18  # a stored number's magnitude stays below this (columns hold 10^20)
# whole numbers stay exact in JSON and JavaScript (2^53 - 1), and a sum of a thousand of them
# still fits the 64-bit columns and SQLite's integer SUM
INTEGER_LIMIT = 2**53 - 1


def coerce(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> Any:
    """The stored value of `raw` for `fdef` (None for an empty input)."""
    if is_empty(raw):
        return [] if fdef.type == "multipicklist" else None
    ftype = fdef.type
    handler = _HANDLERS.get(ftype)
    if handler is None:
        raise Invalid("read_only", f"{fdef.name} is computed and cannot be set")
    if isinstance(raw, (dict, list)) and ftype not in ("multipicklist", "lookup", "user"):
        raise Invalid("invalid", "expected a single value, not a list or an object")
    return handler(fdef, raw, tz)


def _text(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> str:
    if isinstance(raw, bool):
        raise Invalid("invalid", "expected text, not true or false")
    text = str(raw).strip() if fdef.type != "textarea" else str(raw).strip("\n\r ")
    if "\x00" in text:
        raise Invalid("invalid", "text must not contain NUL characters")
    return text


_PLAIN_EMAIL = re.compile(
    r"^[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"[a-z]{2,63}$")


def _email(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> str:
    text = _text(fdef, raw, tz)
    lowered = text.lower()
    if len(lowered) <= 254 and _PLAIN_EMAIL.match(lowered) and len(lowered.split("@")[0]) <= 64:
        return lowered  # the common case, without the full parser's cost
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise Invalid("invalid_email", f"'{text}' is not a valid email address ({exc})",
                      value=text) from exc


def normalize_phone(text: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 form of a phone number ('0912 345 678' -> '+84912345678'), None if not valid."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national_phone(e164: str, region: str = DEFAULT_REGION) -> str:
    """'+84912345678' -> '0912345678' (digits only, as dialled at home)."""
    if region == "VN" and e164.startswith("+84") and e164[3:].isdigit():
        return "0" + e164[3:]  # the common case, without parsing
    try:
        number = phonenumbers.parse(e164, region)
    except phonenumbers.NumberParseException:
        return e164
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(c for c in national if c.isdigit())


def _phone(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> str:
    text = _text(fdef, raw, tz)
    normalized = normalize_phone(text)
    if normalized is None:
        raise Invalid("invalid_phone", f"'{text}' is not a valid phone number", value=text)
    return normalized


def _url(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> str:
    text = _text(fdef, raw, tz)
    candidate = text if "://" in text else f"https://{text}"
    parts = urlsplit(candidate)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in candidate or \
            "." not in parts.netloc:
        raise Invalid("invalid_url", f"'{text}' is not a web address (http:// or https://)",
                      value=text)
    return candidate


def _integer(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> int:
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


def _decimal(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> Decimal:
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
    scale = fdef.scale if fdef.scale is not None else 2
    return value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def parse_date(raw: Any) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()
    match = _DMY.match(text)
    try:
        if match:
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day)
        return date.fromisoformat(text[:10] if len(text) > 10 and text[10] in "T " else text)
    except ValueError:
        raise Invalid("invalid_date", f"'{text}' is not a date (use YYYY-MM-DD or "
                                      "DD/MM/YYYY)", value=text) from None


def _date(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> date:
    value = parse_date(raw)
    if not 1 <= value.year <= 9999:
        raise Invalid("invalid_date", f"'{raw}' is out of range")
    return value


def _datetime(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> datetime:
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, date):
        value = datetime(raw.year, raw.month, raw.day)
    else:
        text = str(raw).strip()
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("invalid_datetime", f"'{text}' is not a date and time (use ISO "
                                              "8601, e.g. 2026-03-08T09:30:00+07:00)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise Invalid("invalid_datetime", f"'{raw}' is out of range") from None


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


def _checkbox(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> bool:
    return parse_bool(raw)


def match_option(fdef: FieldDef, raw: Any) -> str:
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


def _picklist(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> str:
    if isinstance(raw, bool):
        raise Invalid("invalid_option", "expected an option, not true or false")
    return match_option(fdef, raw)


def _multipicklist(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> list[str]:
    items = raw if isinstance(raw, list) else str(raw).split(";")
    chosen = {match_option(fdef, item) for item in items if not is_empty(item)}
    return [o.value for o in fdef.options if o.value in chosen]


def _reference(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> int | Mapping[str, Any] | str:
    """An id now, or a key ({field: value} or a user name) to resolve against the database."""
    if isinstance(raw, bool):
        raise Invalid("invalid_reference", "expected a record id, not true or false")
    if isinstance(raw, int):
        if not 0 < raw < 2**63:
            raise Invalid("invalid_reference", f"{raw} is not a record id")
        return raw
    if isinstance(raw, Mapping):
        if fdef.type == "lookup" and raw.get("id") is not None:
            return _reference(fdef, raw["id"], tz)
        if not raw:
            raise Invalid("invalid_reference", "an empty key names no record")
        return dict(raw)
    text = str(raw).strip()
    if _INT.match(text):
        return _reference(fdef, int(text), tz)
    if fdef.type == "user":
        return text  # a user name
    return {"_title": text}


def _file(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> str:
    return _text(fdef, raw, tz)


_HANDLERS = {
    "text": _text, "textarea": _text, "email": _email, "phone": _phone, "url": _url,
    "integer": _integer, "number": _decimal, "currency": _decimal, "percent": _decimal,
    "date": _date, "datetime": _datetime, "checkbox": _checkbox, "picklist": _picklist,
    "multipicklist": _multipicklist, "lookup": _reference, "user": _reference, "file": _file,
}


def coerce_result(fdef: FieldDef, value: Any) -> Any:
    """A computed (formula, rollup) value brought to the field's stored type; Invalid when
    it is beyond what a stored number holds (a line total of absurd quantities)."""
    if value is None:
        return None
    vtype = fdef.value_type
    limit = INTEGER_LIMIT + 1 if vtype == "integer" else NUMBER_LIMIT
    if vtype in ("integer", "number", "currency", "percent") and not isinstance(value, bool) \
            and isinstance(value, (int, float, Decimal)) and abs(value) >= limit:
        raise Invalid("out_of_range", f"{fdef.name} would be {value}, beyond the largest "
                                      "number a record holds")
    if vtype == "integer":
        return int(value)
    if vtype in ("number", "currency", "percent"):
        scale = fdef.scale if fdef.scale is not None else 2
        return Decimal(value).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    if vtype == "checkbox":
        return bool(value)
    if vtype == "date":
        return parse_date(value)
    if vtype == "datetime":
        return value if isinstance(value, datetime) else datetime.combine(parse_date(value),
                                                                           datetime.min.time(),
                                                                           UTC)
    return str(value)


def filter_value(fdef: FieldDef, raw: Any, tz: ZoneInfo) -> Any:
    """A value to compare a field with in a filter: typed like the stored values, without
    the write rules (a computed field can be filtered on; a picklist takes any text)."""
    if fdef.type in ("lookup", "user") or fdef.name in ("id", "created_by", "updated_by"):
        text = str(raw).strip()
        if not is_digits(text) or not 0 < int(text) < 2**63:
            raise Invalid("invalid_reference", f"'{raw}' is not a record id")
        return int(text)
    vtype = fdef.value_type
    if fdef.name == "version":  # a 32-bit column: a larger number is no row version
        value = _integer(fdef, raw, tz)
        if not 0 <= value < 2**31:
            raise Invalid("out_of_range", f"'{raw}' is not a row version", value=raw)
        return value
    if vtype in ("picklist", "multipicklist", "autonumber", "text", "textarea", "file"):
        return str(raw).strip() if not isinstance(raw, str) or vtype != "textarea" else raw
    if vtype == "email":
        return str(raw).strip().lower()
    if vtype == "phone":
        return normalize_phone(str(raw).strip()) or str(raw).strip()
    if vtype == "url":
        return str(raw).strip()
    handler = _HANDLERS.get(vtype)
    if handler is None:
        return raw
    if fdef.type != vtype:
        fdef = replace(fdef, type=vtype)
    return handler(fdef, raw, tz)
