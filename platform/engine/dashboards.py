"""Dashboards: the filters every widget shares (a date range and an owner), the KPI tiles
shown above the widgets, and the dashboard a role sees first.

A date range applies to each report's own date field: the field it buckets by
(`won_by_month` -> close_date), or `created_at` when it has none. A KPI tile is the total of
a report's first measure over the range, next to the same total over the same length of time
just before it:

    period = Period(date(2026, 3, 1), date(2026, 4, 1))     # March (the end is excluded)
    period.previous()                                       # Jan 29 .. Mar 1 (31 days)
    tiles(ctx, "sales_home", period=period)                 # [Tile(won_by_month, ...), ...]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ..metadata.expressions import Node
from ..metadata.model import Report
from . import query, reports
from .errors import BadRequest, PermissionDenied
from .runtime import Context

PRESETS = ("this_month", "this_quarter", "this_year")

# the dashboard each role opens first; roles not named here have none
ROLE_DASHBOARDS = {
    "admin": "sales_home", "sales_manager": "sales_home", "sales_rep": "sales_home",
    "marketing": "marketing_home", "support_agent": "support_home",
}

# KPI tiles per dashboard: (report, label) - the report's first measure, over the period.
# Labels are English interface text; the web layer translates them.
KPIS: dict[str, tuple[tuple[str, str], ...]] = {
    "sales_home": (("won_by_month", "Won revenue"), ("pipeline_by_stage", "New open deals"),
                   ("leads_by_month", "New leads")),
    "management_home": (("revenue_by_month", "Paid orders"), ("won_by_month", "Won revenue"),
                        ("pipeline_by_stage", "New open deals")),
    "marketing_home": (("leads_by_month", "New leads"), ("won_by_campaign", "Deals won "
                                                                           "from campaigns")),
    "support_home": (("cases_by_month", "New cases"), ("open_cases_by_priority",
                                                       "Open cases")),
}


@dataclass(frozen=True)
class Period:
    """Days from `start` up to, not including, `end`."""

    start: date
    end: date

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def previous(self) -> Period:
        """The same length of time just before this one."""
        return Period(self.start - (self.end - self.start), self.start)


def preset(name: str, today: date) -> Period:
    """this_month, this_quarter or this_year around `today`."""
    if name == "this_month":
        start = today.replace(day=1)
        return Period(start, _add_months(start, 1))
    if name == "this_quarter":
        start = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
        return Period(start, _add_months(start, 3))
    if name == "this_year":
        return Period(date(today.year, 1, 1), date(today.year + 1, 1, 1))
    raise ValueError(f"unknown period preset '{name}' (presets: {', '.join(PRESETS)})")


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, 1)


def parse_period(ctx: Context, start: str | None, last_day: str | None,
                 preset_name: str | None = None) -> Period:
    """The period of a dashboard's filter form: a preset, else from/to (both days included;
    either may be left out), else this year."""
    if preset_name in PRESETS:
        return preset(preset_name, ctx.today())
    default = preset("this_year", ctx.today())
    try:
        first = date.fromisoformat(start) if start else default.start
        last = date.fromisoformat(last_day) if last_day else default.last_day
    except ValueError:
        raise BadRequest("dates are written YYYY-MM-DD", parameter="from") from None
    if last < first:
        first, last = last, first
    return Period(first, last + timedelta(days=1))


def date_field(report: Report) -> str:
    """The field a date range applies to: the report's date bucket, else created_at."""
    for grouping in report.group_by:
        if grouping.bucket:
            return grouping.field
    return "created_at"


def params(ctx: Context, report: Report, period: Period | None = None,
           owner: int | None = None) -> dict[str, str]:
    """A dashboard's filters on one report as list-page query parameters."""
    out: dict[str, str] = {}
    if period is not None:
        field = date_field(report)
        out[f"{field}__ge"] = period.start.isoformat()
        out[f"{field}__lt"] = period.end.isoformat()
    if owner is not None and "owner" in ctx.model.objects[report.object].fields:
        out["owner"] = str(owner)
    return out


def condition(ctx: Context, report: Report, period: Period | None = None,
              owner: int | None = None) -> Node | None:
    """The extra condition of a dashboard's filters on one report."""
    return query.parse_params(ctx, ctx.model.objects[report.object],
                              params(ctx, report, period, owner))


def narrow(filters: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """List-page parameters that select the records of both: a result row's filters and a
    dashboard's. Two bounds on one date field keep the narrower (ISO dates sort as text).

    >>> narrow({"close_date__ge": "2026-03-01", "close_date__lt": "2026-04-01"},
    ...        {"close_date__ge": "2026-01-01", "close_date__lt": "2026-03-15"})
    {'close_date__ge': '2026-03-01', 'close_date__lt': '2026-03-15'}
    """
    out = dict(filters)
    for key, value in extra.items():
        if key in out and key.endswith("__ge"):
            out[key] = max(out[key], value)
        elif key in out and key.endswith("__lt"):
            out[key] = min(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Tile:
    report: Report
    label: str  # English interface text
    value: Any
    previous: Any
    filters: dict[str, str]  # list-page parameters of the records counted now

    @property
    def change(self) -> Any:
        return (self.value or 0) - (self.previous or 0)

    @property
    def change_percent(self) -> float | None:
        """The change as a share of the previous figure (None when that was nothing)."""
        if not self.previous:
            return None
        return float(self.change) / float(self.previous) * 100


def total(ctx: Context, report: Report, period: Period, owner: int | None = None) -> Any:
    """The total of the report's first measure over the period (count or sum)."""
    result = reports.run(ctx, report, where=condition(ctx, report, period, owner))
    return result.total(0) or 0


def tiles(ctx: Context, dashboard: str, *, period: Period,
          owner: int | None = None) -> list[Tile]:
    """The KPI tiles of a dashboard the user may read, for the period and the one before."""
    out = []
    for name, label in KPIS.get(dashboard, ()):
        report = ctx.model.reports.get(name)
        if report is None or report.measures[0].func not in ("count", "sum"):
            continue
        if ctx.scope(report.object, "read") == "none":
            continue
        try:
            now = total(ctx, report, period, owner)
            before = total(ctx, report, period.previous(), owner)
        except PermissionDenied:  # a hidden measure: the tile is not for this user
            continue
        filters = {**({"filter": report.filter.source} if report.filter else {}),
                   **params(ctx, report, period, owner)}
        out.append(Tile(report, label, now, before, filters))
    return out


def home_dashboard(ctx: Context) -> str | None:
    """The dashboard the user's role opens on the home page, if the app has it and the user
    may read at least one of its reports."""
    name = ROLE_DASHBOARDS.get(ctx.user.role)
    dashboard = ctx.model.dashboards.get(name or "")
    if dashboard is None:
        return None
    for widget in dashboard.widgets:
        report = ctx.model.reports.get(widget)
        if report is not None and ctx.scope(report.object, "read") != "none":
            return dashboard.name
    return None


__all__ = ["KPIS", "PRESETS", "Period", "Tile", "condition", "date_field", "home_dashboard",
           "narrow", "params", "parse_period", "preset", "tiles", "total"]
