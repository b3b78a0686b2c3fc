"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, Integer, Numeric
from sqlalchemy.types import TypeDecorator

ID = BigInteger().with_variant(Integer(), "sqlite")
"""Primary keys: 64-bit on PostgreSQL, SQLite's rowid alias (INTEGER) on SQLite."""


class UtcDateTime(TypeDecorator):
    """Aware datetimes, stored as UTC without a zone, read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Money(TypeDecorator):
    """Decimal numbers with a fixed scale: NUMERIC on PostgreSQL, REAL on SQLite (which has
    no decimal type), always Decimal in Python."""

    impl = Numeric
    cache_ok = True

    def __init__(self, scale: int = 2):
        super().__init__()
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Float())
        return dialect.type_descriptor(Numeric(20 + self.scale, self.scale))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return float(value)
        return Decimal(value).quantize(self._quantum)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            value = Decimal(repr(value))
        return Decimal(value).quantize(self._quantum)

    @property
    def python_type(self) -> type:
        return Decimal


def now_utc() -> datetime:
    return datetime.now(UTC)


def jsonable(value: Any) -> Any:
    """A value as JSON holds it: dates and datetimes in ISO form, decimals as text."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
