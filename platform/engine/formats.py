"""How one language writes numbers, money and dates (Babel): the screens' formats, and
the words a rule's text template writes a value in."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    get_decimal_symbol,
    parse_decimal,
)

LANGUAGES = {"vi": "Tiếng Việt", "en": "English"}
BABEL_LOCALES = {"vi": "vi_VN", "en": "en_US"}


class Formats:
    """How one language writes numbers, money and dates."""

    def __init__(self, language: str, currency: str, tz: ZoneInfo):
        self.language = language if language in LANGUAGES else "en"
        self.locale = Locale.parse(BABEL_LOCALES[self.language])
        self.currency = currency
        self.tz = tz

    def number(self, value: Any, scale: int | None = None) -> str:
        if value is None:
            return ""
        if scale is not None:
            pattern = "#,##0" + ("." + "0" * scale if scale else "")
            return format_decimal(value, format=pattern, locale=self.locale)
        return format_decimal(value, locale=self.locale)

    def money(self, value: Any) -> str:
        if value is None:
            return ""
        return format_currency(value, self.currency, locale=self.locale)

    def percent(self, value: Any) -> str:
        if value is None:
            return ""
        return f"{self.number(Decimal(value).normalize(), None)} %"

    def date(self, value: date | None) -> str:
        if value is None:
            return ""
        return format_date(value, format="dd/MM/yyyy" if self.language == "vi" else "medium",
                           locale=self.locale)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return ""
        local = value.astimezone(self.tz)
        return format_datetime(local, format="dd/MM/yyyy HH:mm" if self.language == "vi"
                               else "medium", locale=self.locale, tzinfo=self.tz)

    def parse_number(self, text: str) -> Decimal | str:
        """A number typed in this language ('1.500.000' in Vietnamese); the text itself when
        it is not one, so that the record service can say so."""
        cleaned = text.strip().replace("\u00a0", "").replace(" ", "").replace("₫", "").replace(
            "%", "")
        if not cleaned:
            return ""
        try:
            return parse_decimal(cleaned, locale=self.locale, strict=False)
        except NumberFormatError:
            return text

    def number_input(self, value: Any, scale: int | None) -> str:
        """A number as it appears in an input box: grouped, with the needed decimals."""
        if value is None or value == "":
            return ""
        if not isinstance(value, (int, Decimal, float)):
            return str(value)
        number = Decimal(value)
        digits = 0 if number == number.to_integral_value() else (scale or 2)
        return format_decimal(number, format="#,##0" + ("." + "0" * digits if digits else ""),
                              locale=self.locale)

    @property
    def decimal_symbol(self) -> str:
        return get_decimal_symbol(self.locale)


@cache
def formats(language: str, currency: str, tz: ZoneInfo) -> Formats:
    return Formats(language, currency, tz)
