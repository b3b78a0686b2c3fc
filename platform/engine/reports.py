"""Running reports: one GROUP BY query compiled from the report's metadata.

Aggregation happens in SQL (never by loading rows into Python). A report groups by up to two
fields - through lookups too (`contact.city` joins the contact), by date buckets (day, week,
month, quarter, year, in the app's time zone) or by numeric bands (`[18, 25, 35]` gives
"< 18", "18-24", "25-34", "≥ 35") - and measures count, sum, avg, min, max and
count_distinct (how many different values: the accounts behind the deals). The user's record
scope is a WHERE clause, hidden fields cannot be grouped or measured, and extra filters (a
dashboard's date range or owner) are added to the report's own.

Each result row keeps the filters that select its records, so a bar or a cell of a table
opens the list of exactly those records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, String, case, cast, distinct, func, literal, select, text

from ..metadata.expressions import Node
from ..metadata.model import FieldDef, Grouping, Report
from .access import require, scope_condition
from .errors import NotFound, PermissionDenied
from .query import titles, user_joins
from .records import object_def
from .runtime import Context
from .sqlexpr import SqlCompiler
from .users import names_of

BUCKETS = ("day", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class Row:
    keys: tuple[Any, ...]  # the group values as stored (bucket and band labels as text)
    values: tuple[Any, ...]  # one per measure
    filters: dict[str, str] = field(default_factory=dict)  # list-page query parameters


@dataclass
class Result:
    report: Report
    groups: tuple[Grouping, ...]
    group_fields: tuple[FieldDef, ...]
    rows: list[Row]

    def total(self, index: int) -> Any:
        """The grand total of measure `index` (a sum of counts and sums; None otherwise)."""
        measure = self.report.measures[index]
        if measure.func not in ("count", "sum"):
            return None
        return sum((r.values[index] or 0 for r in self.rows), 0)


def get_report(ctx: Context, name: str) -> Report:
    """The report `name`, if the user may see it (another user's private report is, to
    them, no report at all)."""
    report = ctx.model.reports.get(name)
    if report is None or not visible(ctx, report):
        raise NotFound(f"there is no report '{name}'")
    return report


def visible(ctx: Context, report: Report) -> bool:
    """A shared report, or a private one of the user's own (administrators see all)."""
    return report.owner is None or report.owner == ctx.user.username or ctx.is_admin


def may_save(ctx: Context, owner: str | None) -> bool:
    """May the user save a report of this owner: a private report of their own, or, with
    the `share_reports` right, a shared one (roles.yaml `can:`)."""
    if owner is not None:
        return owner == ctx.user.username or ctx.is_admin
    return ctx.can("share_reports")


def run(ctx: Context, report: Report, *, where: Node | None = None,
        limit: int = 1000) -> Result:
    """The report's rows, largest groups first for a bar or pie, in key order for dates
    and bands. `where` is an extra condition (dashboard filters)."""
    obj = object_def(ctx, report.object)
    scope = require(ctx, obj, "read")
    joins = user_joins(ctx, obj.name)
    compiler = SqlCompiler(joins, today=ctx.today(), now=ctx.now(), tz=ctx.tz)
    conditions = []
    restrict = scope_condition(ctx, joins.base, scope)
    if restrict is not None:
        conditions.append(restrict)
    try:
        if report.filter is not None:
            conditions.append(compiler.condition(report.filter))
        if where is not None:
            conditions.append(compiler.condition(where))
        keys, fields = [], []
        for grouping in report.group_by:
            column, fdef = joins.column(tuple(grouping.field.split(".")))
            keys.append(_key(ctx, column, fdef, grouping).label(f"k{len(keys)}"))
            fields.append(fdef)
        values = []
        for i, measure in enumerate(report.measures):
            if measure.func == "count":
                values.append(func.count().label(f"m{i}"))
                continue
            column, _ = joins.column(tuple(measure.field.split(".")))  # type: ignore[union-attr]
            if measure.func == "count_distinct":  # how many accounts, not how many deals
                values.append(func.count(distinct(column)).label(f"m{i}"))
                continue
            values.append(getattr(func, measure.func)(column).label(f"m{i}"))
    except Exception as exc:  # a hidden field reads as an unknown one: say so plainly
        if getattr(exc, "status", None) == 400:
            raise PermissionDenied(f"this report reads a field you may not see: "
                                   f"{exc}") from None
        raise
    query = select(*keys, *values).select_from(joins.select_from())
    if conditions:
        query = query.where(*conditions)
    if keys:
        query = query.group_by(*keys)
        by_key = any(g.bucket or g.bands for g in report.group_by) or len(keys) > 1
        if by_key or not values:  # time and bands read left to right
            query = query.order_by(*keys)
        else:  # categories: the largest first
            query = query.order_by(values[0].desc(), *keys)
    with ctx.db.read() as conn:
        rows = conn.execute(query.limit(limit)).all()
    out = []
    for row in rows:
        group_values = tuple(row[: len(keys)])
        measured = tuple(_number(v) for v in row[len(keys):])
        out.append(Row(group_values, measured, _filters(ctx, report, group_values, fields)))
    return Result(report, report.group_by, tuple(fields), out)


def _key(ctx: Context, column: Any, fdef: FieldDef, grouping: Grouping) -> Any:
    if grouping.bucket:
        return bucket_sql(ctx, column, fdef, grouping.bucket)
    if grouping.bands:
        return band_sql(column, grouping.bands)
    return column


def bucket_sql(ctx: Context, column: Any, fdef: FieldDef, bucket: str) -> Any:
    """The date bucket of a date or datetime column as text: 2026-11-27 (day), 2026-W48
    (week), 2026-11 (month), 2026-Q4 (quarter), 2026 (year). Datetimes are bucketed in the
    app's time zone."""
    sqlite = ctx.db.is_sqlite
    if fdef.kind.value == "datetime":
        if sqlite:
            offset = ctx.now().astimezone(ctx.tz).utcoffset() or timedelta()
            hours = int(offset.total_seconds() // 3600)
            column = func.datetime(column, f"{hours:+d} hours")
        else:
            # the column holds UTC without a zone: read it as UTC, then as the app's time
            # (timezone(zone, a zone-less value) alone would take it for local time)
            column = func.timezone(ctx.model.timezone, func.timezone("UTC", column))
    if sqlite:
        formats = {"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}
        if bucket in formats:
            return func.strftime(formats[bucket], column)
        if bucket == "quarter":
            month = cast(func.strftime("%m", column), Integer)
            return func.strftime("%Y", column).concat("-Q").concat(
                cast((month + 2) // 3, String))
        # ISO weeks: the Thursday of the date's week decides the year and the number
        thursday = func.date(column, "-3 days", "weekday 4")
        week = (cast(func.strftime("%j", thursday), Integer) + 6) // 7
        return func.strftime("%Y", thursday).concat("-W").concat(
            func.substr(literal("0").concat(cast(week, String)), -2))
    formats = {"day": "YYYY-MM-DD", "week": 'IYYY-"W"IW', "month": "YYYY-MM",
               "quarter": 'YYYY-"Q"Q', "year": "YYYY"}
    return func.to_char(column, text(f"'{formats[bucket]}'"))


def band_label(bands: tuple[Any, ...], index: int) -> str:
    """'< 18', '18-24', ..., '≥ 65' for bands [18, 25, ..., 65] (index 0 .. len)."""
    if index == 0:
        return f"< {_plain(bands[0])}"
    if index == len(bands):
        return f"≥ {_plain(bands[-1])}"
    low, high = bands[index - 1], bands[index]
    if isinstance(low, int) and isinstance(high, int):
        return f"{low}-{high - 1}"
    return f"{_plain(low)}-{_plain(high)}"


def band_sql(column: Any, bands: tuple[Any, ...]) -> Any:
    whens = [(column < bands[0], literal(band_label(bands, 0)))]
    for i in range(1, len(bands)):
        whens.append((column < bands[i], literal(band_label(bands, i))))
    return case((column.is_(None), literal(None)), *whens,
                else_=literal(band_label(bands, len(bands))))


def _plain(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def _filters(ctx: Context, report: Report, keys: tuple[Any, ...],
             fields: list[FieldDef]) -> dict[str, str]:
    """List-page query parameters that select the records of one result row (the report's
    own filter goes along as `filter=`)."""
    params: dict[str, str] = {}
    if report.filter is not None:
        params["filter"] = report.filter.source
    for grouping, fdef, key in zip(report.group_by, fields, keys, strict=True):
        path = grouping.field
        if key is None:
            params[f"{path}__is_blank"] = "true"
        elif grouping.bucket:
            start, end = bucket_range(str(key), grouping.bucket)
            params[f"{path}__ge"] = start.isoformat()
            params[f"{path}__lt"] = end.isoformat()
        elif grouping.bands:
            index = next((i for i in range(len(grouping.bands) + 1)
                          if band_label(grouping.bands, i) == key), None)
            if index is not None and index > 0:
                params[f"{path}__ge"] = str(grouping.bands[index - 1])
            if index is not None and index < len(grouping.bands):
                params[f"{path}__lt"] = str(grouping.bands[index])
        elif fdef.kind.value == "checkbox":
            params[path] = "true" if key else "false"
        else:
            params[path] = str(key.isoformat() if isinstance(key, (date, datetime)) else key)
    return params


def bucket_range(key: str, bucket: str) -> tuple[date, date]:
    """The first day of a bucket and the first day after it."""
    if bucket == "day":
        start = date.fromisoformat(key)
        return start, start + timedelta(days=1)
    if bucket == "week":
        year, week = key.split("-W")
        start = date.fromisocalendar(int(year), int(week), 1)
        return start, start + timedelta(days=7)
    if bucket == "month":
        year, month = (int(p) for p in key.split("-"))
        return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)
    if bucket == "quarter":
        year, quarter = key.split("-Q")
        first = (int(quarter) - 1) * 3 + 1
        end_month = first + 3
        return date(int(year), first, 1), date(int(year) + (end_month > 12),
                                               (end_month - 1) % 12 + 1, 1)
    year_start = date(int(key), 1, 1)
    return year_start, date(int(key) + 1, 1, 1)




def labelled(ctx: Context, result: Result) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows with readable keys: option labels, record titles, user names, in
    the user's language (the table of a report, its CSV, `metacrm report`)."""
    lang = ctx.locale
    headers = [ctx.model.resolve_path(result.report.object, tuple(g.field.split(".")))
               .label.get(lang) for g in result.groups]
    for measure in result.report.measures:
        if measure.func == "count":
            headers.append({"vi": "Số lượng"}.get(lang, "Count"))
            continue
        label = ctx.model.resolve_path(result.report.object, tuple(
            measure.field.split("."))).label.get(lang)  # type: ignore[union-attr]
        if measure.func == "count_distinct":
            headers.append(f"Số {label.lower()} khác nhau" if lang == "vi"
                           else f"Distinct {label.lower()}")
            continue
        words = {"sum": ("Sum of", "Tổng"), "avg": ("Average", "Trung bình"),
                 "min": ("Minimum", "Nhỏ nhất"), "max": ("Maximum", "Lớn nhất")}[measure.func]
        headers.append(f"{words[1] if lang == 'vi' else words[0]} {label.lower()}")
    names: dict[int, dict[int, str]] = {}
    named = [(i, fdef) for i, fdef in enumerate(result.group_fields)
             if fdef.kind.refers in ("record", "user")]
    if named and result.rows:
        with ctx.db.read() as conn:  # one connection for every record title and user name
            for i, fdef in named:
                ids = {r.keys[i] for r in result.rows if isinstance(r.keys[i], int)}
                if ids:
                    names[i] = titles(ctx, fdef.to or "", ids, conn=conn) \
                        if fdef.kind.refers == "record" else names_of(ctx.runtime, conn, ids)
    rows = []
    for row in result.rows:
        cells: list[Any] = []
        for i, (fdef, key) in enumerate(zip(result.group_fields, row.keys, strict=True)):
            if key is None:
                cells.append("—")
            elif i in names:
                cells.append(names[i].get(key, f"#{key}"))
            elif fdef.kind.has_options and not fdef.kind.many and not result.groups[i].bands:
                option = fdef.option(key)
                cells.append(option.label.get(lang) if option else key)
            else:
                cells.append(key)
        rows.append([*cells, *row.values])
    return headers, rows


__all__ = ["BUCKETS", "Result", "Row", "band_label", "bucket_range", "get_report", "labelled",
           "run"]
