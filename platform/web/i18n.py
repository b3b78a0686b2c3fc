"""Languages: interface text from message catalogs, labels from metadata, numbers, money
and dates in the user's language (Babel).

Catalogs are YAML files in `messages/`, one per language (`vi.yaml`, and `vi-<part>.yaml`
for the messages of one part of the interface), mapping the English text to its
translation; English needs no catalog. `{name}` placeholders are filled after translation:

    t = translator("vi")
    t("Save")                          -> "Lưu"
    t("{count} records", count=3)      -> "3 bản ghi"
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import yaml
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


@cache
def catalog(language: str) -> dict[str, str]:
    if language == "en":
        return {}
    out: dict[str, str] = {}
    folder = resources.files(__package__).joinpath("messages")
    for item in sorted(folder.iterdir(), key=lambda i: i.name):  # vi.yaml, vi-setup.yaml, ...
        if item.name == f"{language}.yaml" or (item.name.startswith(language + "-")
                                               and item.name.endswith(".yaml")):
            out.update(yaml.safe_load(item.read_text(encoding="utf-8")) or {})
    return out


def translator(language: str) -> Callable[..., str]:
    messages = catalog(language if language in LANGUAGES else "en")

    def translate(text: str, **params: Any) -> str:
        result = messages.get(text, text)
        return result.format(**params) if params else result

    return translate


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


def error_text(t: Callable[..., str], language: str, code: str, message: str,
               params: dict[str, Any] | None, label: str) -> str:
    """A field error in the user's language: the catalog's text for its code when there is
    one, else the record service's own (English) message."""
    key = f"error.{code}"
    if language != "en" and key in catalog(language):
        try:
            return t(key, label=label, **(params or {}))
        except (KeyError, IndexError):
            return message
    return message
