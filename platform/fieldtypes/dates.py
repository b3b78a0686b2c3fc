"""Date types: a calendar date, a moment (stored in UTC, typed and shown in the reader's
time zone) and a time of day (an opening hour, a class's start: stored as HH:MM text, which
sorts and compares in time order). Dates are written YYYY-MM-DD or, as Vietnam writes them,
DD/MM/YYYY; times 08:30, 8:30, 8h30 or 8g30 ("8 giờ 30")."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .base import Field, FieldType, Formatter, Invalid, define, scalar, written_cell

_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


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


def _date(fdef: Field, raw: Any, tz: ZoneInfo) -> date:
    value = parse_date(raw)
    if not 1 <= value.year <= 9999:
        raise Invalid("invalid_date", f"'{raw}' is out of range")
    return value


def _datetime(fdef: Field, raw: Any, tz: ZoneInfo) -> datetime:
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


def _date_result(fdef: Field, value: Any) -> date:
    return parse_date(value)


def _datetime_result(fdef: Field, value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(parse_date(value), datetime.min.time(), UTC)


def _date_input(fdef: Field, value: Any, fmt: Formatter) -> Any:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def _datetime_input(fdef: Field, value: Any, fmt: Formatter) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(fmt.tz).strftime("%Y-%m-%dT%H:%M")
    return str(value)


# the API document's promise: a calendar date the server stores, years 1 to 9999, and a
# moment that stays within them in UTC whatever its offset
DATE = "^(?!0000)[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DATETIME = "^(?!0000|0001-01-01|9999-12-31)[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:" \
           "[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"

DATE_TYPE = define(
    "date", "date", "min max", formula_result=True, parse=_date, result=_date_result,
    bulk=True, written="date", cell=written_cell, widget="date", input=_date_input,
    schema=scalar({"type": "string", "format": "date"}, lambda fdef: {"pattern": DATE}),
    filter_schema=lambda fdef: {"type": "string", "format": "date", "pattern": DATE})
DATETIME_TYPE = define(
    "datetime", "datetime", formula_result=True, parse=_datetime, result=_datetime_result,
    written="datetime", cell=written_cell, widget="datetime", input=_datetime_input,
    schema=scalar({"type": "string", "format": "date-time"},
                  lambda fdef: {"pattern": DATETIME}),
    filter_schema=lambda fdef: {"type": "string", "format": "date-time",
                                "pattern": DATETIME})

_TIME = re.compile(r"^([01]?\d|2[0-3])\s*(?::|h|g|giờ)\s*([0-5]\d)?(?::[0-5]\d)?\s*$",
                   re.IGNORECASE)
TIME = "^([01][0-9]|2[0-3]):[0-5][0-9]$"


def parse_time(raw: Any) -> str:
    """A time of day as HH:MM: 8:30, 08:30:00, 8h30, 8g30 and 8 giờ are read too."""
    if isinstance(raw, datetime):
        return raw.strftime("%H:%M")
    text = str(raw).strip()
    found = _TIME.match(text)
    if not found:
        raise Invalid("invalid_time", f"'{text}' is not a time of day (use HH:MM, e.g. 08:30)",
                      value=text)
    return f"{int(found.group(1)):02d}:{found.group(2) or '00'}"


TIME_TYPE = define(
    "time", "text", bulk=True, parse=lambda fdef, raw, tz: parse_time(raw),
    filter=lambda fdef, raw, tz: parse_time(raw), widget="time",
    schema=scalar({"type": "string"}, lambda fdef: {"pattern": TIME}),
    filter_schema=lambda fdef: {"type": "string", "pattern": TIME})

TYPES: tuple[FieldType, ...] = (DATE_TYPE, DATETIME_TYPE, TIME_TYPE)
