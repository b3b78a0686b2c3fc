"""Report and dashboard screens: `/reports` (the reports the user may read, by object),
`/reports/{name}` (a chart and a table; each bar and cell opens the list of its records),
its CSV and Excel exports, `/dashboards` and `/dashboards/{name}` (KPI tiles and a grid of
report widgets under one date range and owner filter)."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..engine import dashboards, query, reports, sheets
from ..engine.errors import BadRequest, NotFound, PermissionDenied
from ..engine.runtime import Context
from ..engine.text import is_digits
from ..engine.users import user_choices
from ..metadata.model import Report
from .i18n import Formats
from .pages import page_context
from .templating import render

WIDGET_ROWS = 8  # rows of the small table under a dashboard widget's chart


def list_link(report: Report, filters: dict[str, str]) -> str:
    return f"/o/{report.object}?{urlencode(filters)}"


def _formatter(ctx: Context, report: Report, index: int, fmt: Formats) -> Any:
    """How the values of measure `index` are written: money for sums of currency fields."""
    measure = report.measures[index]
    if measure.func in ("count", "count_distinct"):  # a number of records or values
        return fmt.number
    fdef = ctx.model.resolve_path(report.object, tuple(measure.field.split(".")))  # type: ignore[union-attr]
    if fdef is not None and fdef.kind.written == "money":
        return fmt.money
    if measure.func == "avg":
        return lambda v: fmt.number(v, 2) if v is not None else ""
    return fmt.number


def _key_text(value: Any, fmt: Formats) -> str:
    if isinstance(value, datetime):
        return fmt.datetime(value)
    if isinstance(value, date):
        return fmt.date(value)
    return str(value)


def _funnel_order(ctx: Context, result: reports.Result) -> list[int]:
    """Row positions in the picklist's order (a funnel reads top to bottom)."""
    fdef = result.group_fields[0] if result.group_fields else None
    if fdef is None or not fdef.kind.has_options or fdef.kind.many:
        return list(range(len(result.rows)))
    order = {o.value: i for i, o in enumerate(fdef.options)}
    return sorted(range(len(result.rows)),
                  key=lambda i: order.get(result.rows[i].keys[0], len(order)))


def report_view(ctx: Context, report: Report, fmt: Formats, t: Any, *,
                filters: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything a report's page or widget shows: headers, rows of cells with their list
    links, totals, and the chart's data. `filters` are a dashboard's (list-page parameters),
    added to the report's own filter and to each row's link."""
    obj = ctx.model.objects[report.object]
    where = query.parse_params(ctx, obj, filters) if filters else None
    result = reports.run(ctx, report, where=where)
    headers, labelled = reports.labelled(ctx, result)
    order = (_funnel_order(ctx, result) if report.chart == "funnel"
             else list(range(len(result.rows))))
    keys = len(result.groups)
    formats = [_formatter(ctx, report, i, fmt) for i in range(len(report.measures))]
    rows = []
    for i in order:
        row, cells = result.rows[i], labelled[i]
        rows.append({
            "keys": [_key_text(c, fmt) for c in cells[:keys]],
            "values": [formats[m](v) if v is not None else "" for m, v in
                       enumerate(cells[keys:])],
            "raw": list(row.values),
            "link": list_link(report, dashboards.narrow(row.filters, filters or {})),
        })
    totals = [formats[i](result.total(i)) if result.total(i) is not None else ""
              for i in range(len(report.measures))]
    charted = [i for i, m in enumerate(report.measures) if m.func != "count"] \
        or list(range(len(report.measures)))
    if report.chart in ("pie", "funnel"):
        charted = charted[:1]
    chart = None
    if report.chart:
        chart = {
            "type": report.chart, "links": [r["link"] for r in rows],
            "labels": [" · ".join(r["keys"]) for r in rows],
            "datasets": [{"label": headers[keys + i],
                          "money": formats[i] == fmt.money,
                          "data": [_plain(r["raw"][i]) for r in rows]} for i in charted],
            "locale": {"vi": "vi-VN"}.get(fmt.language, "en-US"), "currency": fmt.currency,
        }
    return {"report": report, "headers": headers, "keys": keys, "rows": rows,
            "totals": totals, "has_totals": any(totals), "chart": chart, "result": result}


def _plain(value: Any) -> Any:
    if value is None:
        return 0
    return value if isinstance(value, int) else float(value)


def _filters(ctx: Context, request: Request) -> tuple[dashboards.Period | None, int | None]:
    params = request.query_params
    period = None
    if params.get("from") or params.get("to") or params.get("period"):
        period = dashboards.parse_period(ctx, params.get("from"), params.get("to"),
                                         params.get("period"))
    owner = None
    if params.get("owner"):
        try:
            owner = int(params["owner"])
        except ValueError:
            raise BadRequest("owner is a user id", parameter="owner") from None
    return period, owner


def _filter_form(ctx: Context, period: dashboards.Period | None,
                 owner: int | None) -> dict[str, Any]:
    return {"from": period.start.isoformat() if period else "",
            "to": period.last_day.isoformat() if period else "",
            "owner": owner, "users": user_choices(ctx),
            "presets": [(p, dashboards.preset(p, ctx.today())) for p in dashboards.PRESETS]}


def reports_index(request: Request) -> Response:
    frame, ctx = page_context(request)
    by_object: dict[str, list[Report]] = {}
    for report in ctx.model.reports.values():
        if report.object in ctx.model.objects and ctx.scope(report.object, "read") != "none" \
                and reports.visible(ctx, report):
            by_object.setdefault(report.object, []).append(report)
    groups = [(ctx.model.objects[name], sorted(items, key=lambda r: r.label.get(ctx.locale)))
              for name, items in by_object.items()]
    groups.sort(key=lambda g: g[0].plural.get(ctx.locale))
    return render(frame, "reports.html", {"groups": groups})


def _report(ctx: Context, request: Request, period: dashboards.Period | None,
            owner: int | None) -> tuple[Report, dict[str, str], Any]:
    """The report, its filters (date range, owner, a chosen segment's list filters) as list
    parameters, and the chosen segment (None)."""
    report = reports.get_report(ctx, request.path_params["name"])
    if report.object not in ctx.model.objects:
        raise NotFound(f"there is no report '{report.name}'")
    filters = dashboards.params(ctx, report, period, owner)
    segment = None
    chosen = request.query_params.get("segment", "")
    if chosen:  # a segment as a report filter: its list filters join the report's
        from ..engine import segments

        if not is_digits(chosen):
            raise BadRequest("segment is a segment id", parameter="segment")
        segment = segments.get(ctx, int(chosen))
        if segment.object != report.object:
            raise BadRequest(f"segment '{segment.name}' holds {segment.object} records; this "
                             f"report counts {report.object}", parameter="segment")
        filters = {**filters, **segment.params}
    return report, filters, segment


def _segments(ctx: Context, object_name: str) -> list[Any]:
    from ..engine import segments

    return segments.list_for(ctx, object_name)


def report_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    period, owner = _filters(ctx, request)
    report, filters, segment = _report(ctx, request, period, owner)
    form = _filter_form(ctx, period, owner)
    if segment is not None:
        form["segment"] = segment
    form["segments"] = _segments(ctx, report.object)
    view = report_view(ctx, report, frame.fmt, frame.t, filters=filters)
    return render(frame, [f"report-{report.name}.html", "report.html"], {
        **view, "view": view, "obj": ctx.model.objects[report.object], "query": request.url.query,
        "date_field": ctx.model.resolve_path(report.object, (
            dashboards.date_field(report),)), "form": form})


def _table(request: Request) -> tuple[Context, Report, list[str], list[list[Any]]]:
    from .auth import web_context

    ctx = web_context(request)
    report, filters, _ = _report(ctx, request, *_filters(ctx, request))
    where = query.parse_params(ctx, ctx.model.objects[report.object], filters)
    result = reports.run(ctx, report, where=where)
    headers, rows = reports.labelled(ctx, result)
    return ctx, report, headers, rows


def report_csv(request: Request) -> Response:
    """The report's table as CSV, UTF-8 with a BOM (Excel then reads the accents)."""
    _, report, headers, rows = _table(request)
    text = sheets.csv_text([headers, *([_cell(c) for c in row] for row in rows)], bom=True)
    return Response(text.encode("utf-8"),
                    media_type="text/csv; charset=utf-8", headers={
                        "Content-Disposition": f'attachment; filename="{report.name}.csv"'})


def report_xlsx(request: Request) -> Response:
    """The report's table as an Excel workbook, the measures as numbers."""
    from openpyxl import Workbook

    ctx, report, headers, rows = _table(request)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_sheet_title(report.label.get(ctx.locale)))
    sheet.append(sheets.xlsx_row(sheet, headers))
    for row in rows:
        sheet.append(sheets.xlsx_row(sheet, [c if isinstance(c, (int, float)) or c is None
                                             else _cell(c) for c in row]))
    buffer = io.BytesIO()
    book.save(buffer)
    return Response(buffer.getvalue(), media_type=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), headers={
        "Content-Disposition": f'attachment; filename="{report.name}.xlsx"'})


def _cell(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _sheet_title(label: str) -> str:
    for bad in "[]:*?/\\":
        label = label.replace(bad, " ")
    return label[:31] or "Report"


def dashboards_index(request: Request) -> Response:
    frame, ctx = page_context(request)
    items = [d for d in ctx.model.dashboards.values() if _widgets(ctx, d.widgets)]
    return render(frame, "dashboard_index.html", {
        "dashboards": items, "home": dashboards.home_dashboard(ctx)})


def _widgets(ctx: Context, names: tuple[str, ...]) -> list[Report]:
    out = []
    for name in names:
        report = ctx.model.reports.get(name)
        if report is not None and report.object in ctx.model.objects \
                and ctx.scope(report.object, "read") != "none":
            out.append(report)
    return out


def dashboard_view(ctx: Context, name: str, fmt: Formats, t: Any, *,
                   period: dashboards.Period, owner: int | None) -> dict[str, Any]:
    """The tiles and widgets of a dashboard under its filters."""
    dashboard = ctx.model.dashboards.get(name)
    if dashboard is None:
        raise NotFound(f"there is no dashboard '{name}'")
    widgets = []
    for report in _widgets(ctx, dashboard.widgets):
        try:
            view = report_view(ctx, report, fmt, t,
                               filters=dashboards.params(ctx, report, period, owner))
        except PermissionDenied:  # a hidden field: this widget is not for this user
            continue
        view["more"] = max(0, len(view["rows"]) - WIDGET_ROWS)
        view["rows"] = view["rows"][:WIDGET_ROWS]
        widgets.append(view)
    return {"dashboard": dashboard, "widgets": widgets,
            "tiles": kpi_tiles(ctx, name, fmt, t, period=period, owner=owner)}


def kpi_tiles(ctx: Context, name: str, fmt: Formats, t: Any, *,
              period: dashboards.Period, owner: int | None) -> list[dict[str, Any]]:
    """A dashboard's KPI tiles, formatted, each against the period before."""
    tiles = []
    for tile in dashboards.tiles(ctx, name, period=period, owner=owner):
        money = _formatter(ctx, tile.report, 0, fmt) == fmt.money
        write = fmt.money if money else fmt.number
        percent = tile.change_percent
        tiles.append({"tile": tile, "label": t(tile.label), "value": write(tile.value),
                      "previous": write(tile.previous),
                      "change": ("+" if tile.change > 0 else "") + write(tile.change),
                      "percent": None if percent is None else
                      ("+" if percent > 0 else "") + fmt.number(round(percent, 1)) + " %",
                      "direction": "up" if tile.change > 0 else
                      "down" if tile.change < 0 else "same",
                      "link": list_link(tile.report, tile.filters)})
    return tiles


def dashboard_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    period, owner = _filters(ctx, request)
    period = period or dashboards.preset("this_year", ctx.today())
    view = dashboard_view(ctx, request.path_params["name"], frame.fmt, frame.t,
                          period=period, owner=owner)
    context = {**view, "form": _filter_form(ctx, period, owner), "period": period}
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "grid":
        return render(frame, "dashboard_grid.html", context)
    return render(frame, [f"dashboard-{view['dashboard'].name}.html", "dashboard.html"],
                  context)


routes: list[Any] = [
    Route("/reports", reports_index, methods=["GET"]),
    Route("/reports/{name}.csv", report_csv, methods=["GET"]),
    Route("/reports/{name}.xlsx", report_xlsx, methods=["GET"]),
    Route("/reports/{name}", report_page, methods=["GET"]),
    Route("/dashboards", dashboards_index, methods=["GET"]),
    Route("/dashboards/{name}", dashboard_page, methods=["GET"]),
]
