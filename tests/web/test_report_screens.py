"""Report and dashboard screens over HTTP, on the demo company (SQLite and PostgreSQL): the
page's table, its exports and its links against the engine and against direct SQL."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from metacrm.engine import dashboards, reports
from metacrm.engine.users import find_user
from metacrm.web.app import create_app
from metacrm.web.i18n import Formats
from metacrm.web.settings import Settings

DEFAULT_APP = Path(__file__).resolve().parents[2] / "apps" / "default_crm"
DEMO_PASSWORD = "demo-2026"


class Tables(HTMLParser):
    """The rows of every `table.report-table` of a page: (report, [cell text], link)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[str], str | None]] = []
        self.report: str | None = None
        self.section: str | None = None
        self.cells: list[str] | None = None
        self.link: str | None = None
        self.text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "report-table" in (a.get("class") or ""):
            self.report = a.get("data-report")
        elif self.report and tag in ("thead", "tbody", "tfoot"):
            self.section = tag
        elif self.report and tag == "tr":
            self.cells, self.link = [], None
        elif self.report and tag in ("td", "th"):
            self.text = []
        elif self.report and tag == "a" and self.link is None:
            self.link = a.get("href")

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.text is not None and self.cells is not None:
            self.cells.append("".join(self.text).strip())
            self.text = None
        elif tag == "tr" and self.cells is not None:
            if self.section == "tbody":
                self.rows.append((self.report or "", self.cells, self.link))
            elif self.section == "tfoot":
                self.rows.append(("total:" + (self.report or ""), self.cells, None))
            self.cells = None
        elif tag == "table":
            self.report = None


def table_rows(html: str, report: str) -> list[tuple[list[str], str | None]]:
    parser = Tables()
    parser.feed(html)
    return [(cells, link) for name, cells, link in parser.rows if name == report]


def total_row(html: str, report: str) -> list[str]:
    rows = table_rows(html, "total:" + report)
    assert rows, f"no total row in {report}"
    return rows[0][0]


def make_app(rt):
    url = rt.db.engine.url.render_as_string(hide_password=False)
    return create_app(Settings(app_dir=str(DEFAULT_APP), database_url=url, secret_key="test"),
                      runtime=rt, migrate=False)


@pytest.fixture(scope="module")
def sites(demo_runtime):
    """sites(username) -> a TestClient signed in as that demo user (one per user)."""
    rt = demo_runtime
    app = make_app(rt)
    clients: dict[str, TestClient] = {}

    def signed_in(name: str) -> TestClient:
        if name not in clients:
            client = TestClient(app, raise_server_exceptions=False)
            html = client.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
            answer = client.post("/login", data={"username": name, "password": DEMO_PASSWORD,
                                                 "csrf_token": token, "next": "/"},
                                 follow_redirects=False)
            assert answer.status_code == 303, answer.text
            clients[name] = client
        return clients[name]

    yield signed_in
    for client in clients.values():
        client.close()


def context(rt, name: str):
    with rt.db.read() as conn:
        return rt.context(find_user(conn, rt.schema, name))


def number(fmt: Formats, text: str) -> Decimal:
    parsed = fmt.parse_number(text)
    assert isinstance(parsed, Decimal), text
    return parsed


def same(a: Any, b: Any) -> bool:
    return abs(Decimal(str(a)) - Decimal(str(b))) < Decimal("0.01")


@pytest.mark.parametrize("name", ["pipeline_by_stage", "won_by_month", "pipeline_by_owner",
                                  "leads_by_status", "revenue_by_region"])
def test_the_report_page_shows_the_engine_table_for_the_user(demo_runtime, sites, name):
    rt = demo_runtime
    ctx = context(rt, "hoa")
    report = rt.model.reports[name]
    headers, expected = reports.labelled(ctx, reports.run(ctx, report))
    page = sites("hoa").get(f"/reports/{name}")
    assert page.status_code == 200
    for header in headers:
        assert header in page.text
    fmt = Formats(ctx.locale, rt.model.currency, rt.tz)
    keys = len(report.group_by)
    shown = table_rows(page.text, name)
    assert len(shown) == len(expected)
    got = {tuple(cells[:keys]): [number(fmt, c) for c in cells[keys:]] for cells, _ in shown}
    for row in expected:
        values = got[tuple(str(k) for k in row[:keys])]
        assert all(same(a, b) for a, b in zip(values, row[keys:], strict=True)), row
    totals = total_row(page.text, name)
    for i, measure in enumerate(report.measures):
        if measure.func in ("count", "sum"):
            assert same(number(fmt, totals[-len(report.measures) + i]),
                        sum(r[keys + i] or 0 for r in expected))
    if report.chart:
        assert f'data-chart="chart-{name}"' in page.text
        assert "/static/chart-4.6.1.umd.min.js" in page.text


def test_a_funnel_reads_in_the_order_of_its_picklist(demo_runtime, sites):
    rt = demo_runtime
    field = rt.model.objects["lead"].fields["status"]
    page = sites("mai").get("/reports/leads_by_status")
    order = [o.label.get("vi") for o in field.options]
    shown = [cells[0] for cells, _ in table_rows(page.text, "leads_by_status")]
    assert len(shown) > 2
    assert shown == sorted(shown, key=order.index)


def test_the_exports_hold_the_same_figures(demo_runtime, sites):
    from openpyxl import load_workbook

    rt = demo_runtime
    ctx = context(rt, "hoa")
    report = rt.model.reports["pipeline_by_owner"]
    headers, expected = reports.labelled(ctx, reports.run(ctx, report))
    client = sites("hoa")
    answer = client.get("/reports/pipeline_by_owner.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == headers
    assert rows[1:] == [[str(c) for c in row] for row in expected]

    answer = client.get("/reports/pipeline_by_owner.xlsx")
    assert answer.status_code == 200
    sheet = load_workbook(io.BytesIO(answer.content)).active
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[0] == headers
    assert len(cells) == len(expected) + 1
    for got, row in zip(cells[1:], expected, strict=True):
        assert got[:2] == row[:2]
        assert all(isinstance(v, (int, float)) for v in got[2:])
        assert all(same(a, b) for a, b in zip(got[2:], row[2:], strict=True))


def list_total(client: TestClient, link: str) -> int:
    page = client.get(link)
    assert page.status_code == 200, link
    found = re.search(r'<span class="total">([^<]*)</span>', page.text)
    assert found, link
    return int(re.sub(r"\D", "", found.group(1)))


def test_a_row_opens_the_list_of_exactly_its_records(demo_runtime, sites):
    rt = demo_runtime
    client = sites("hoa")
    today = rt.system_context().today()
    start = (today - timedelta(days=120)).replace(day=15)  # mid-month: the links narrow
    params = f"from={start.isoformat()}&to={today.isoformat()}"
    checked = 0
    for name in ("pipeline_by_stage", "leads_by_month", "pipeline_by_owner"):
        page = client.get(f"/reports/{name}?{params}")
        rows = table_rows(page.text, name)
        assert rows, name
        keys = len(rt.model.reports[name].group_by)
        for cells, link in rows:
            assert link and link.startswith(f"/o/{rt.model.reports[name].object}?")
            assert list_total(client, link.replace("&amp;", "&")) == int(
                re.sub(r"\D", "", cells[keys]))
            checked += 1
    assert checked > 5


def test_a_sales_rep_dashboard_counts_only_their_records(demo_runtime, sites):
    rt = demo_runtime
    lan = context(rt, "lan")
    page = sites("lan").get("/dashboards/sales_home")
    assert page.status_code == 200
    report = rt.model.reports["pipeline_by_stage"]
    year = dashboards.preset("this_year", lan.today())
    mine = reports.run(lan, report, where=dashboards.condition(lan, report, year))
    shown = table_rows(page.text, "pipeline_by_stage")
    assert [int(re.sub(r"\D", "", c[1])) for c, _ in shown] == [r.values[0] for r in mine.rows]
    table = rt.schema.table("opportunity")
    with rt.db.read() as conn:
        owned = conn.scalar(sa.select(sa.func.count()).select_from(table).where(
            table.c.owner == lan.user.id, table.c.is_closed.is_not(True)))
        everyone = conn.scalar(sa.select(sa.func.count()).select_from(table).where(
            table.c.is_closed.is_not(True)))
    shown_total = sum(int(re.sub(r"\D", "", c[1])) for c, _ in shown)
    assert 0 < shown_total <= owned < everyone


def won_in(rt, start, end) -> tuple[int, Decimal]:
    """Won opportunities closed in [start, end), straight from the table."""
    table = rt.schema.table("opportunity")
    with rt.db.read() as conn:
        count, amount = conn.execute(sa.select(sa.func.count(), sa.func.sum(table.c.amount))
                                     .where(table.c.stage == "won",
                                            table.c.close_date >= start,
                                            table.c.close_date < end)).one()
    return count, Decimal(str(amount or 0))


def test_the_date_range_changes_the_figures(demo_runtime, sites):
    rt = demo_runtime
    fmt = Formats("vi", rt.model.currency, rt.tz)
    client = sites("mai")  # marketing reads every opportunity
    today = rt.system_context().today()
    whole = client.get("/reports/won_by_month")
    everything = number(fmt, total_row(whole.text, "won_by_month")[-1])
    start, last = today - timedelta(days=100), today - timedelta(days=30)
    page = client.get(f"/reports/won_by_month?from={start}&to={last}")
    count, amount = won_in(rt, start, last + timedelta(days=1))
    assert count > 0
    assert same(number(fmt, total_row(page.text, "won_by_month")[-1]), amount)
    assert amount < everything
    csv_rows = list(csv.reader(io.StringIO(client.get(
        f"/reports/won_by_month.csv?from={start}&to={last}").content.decode("utf-8-sig"))))
    assert same(sum(Decimal(r[1]) for r in csv_rows[1:]), amount)


def test_the_owner_filter_keeps_one_persons_records(demo_runtime, sites):
    rt = demo_runtime
    lan = context(rt, "lan")
    page = sites("hoa").get(f"/dashboards/sales_home?owner={lan.user.id}")
    table = rt.schema.table("opportunity")
    year = dashboards.preset("this_year", lan.today())
    with rt.db.read() as conn:
        owned = conn.scalar(sa.select(sa.func.count()).select_from(table).where(
            table.c.owner == lan.user.id, table.c.is_closed.is_not(True),
            table.c.created_at >= datetime.combine(year.start, time(), tzinfo=rt.tz)))
    shown = table_rows(page.text, "pipeline_by_stage")
    assert sum(int(re.sub(r"\D", "", c[1])) for c, _ in shown) == owned


def test_a_kpi_tile_shows_the_change_against_the_previous_period(demo_runtime, sites):
    rt = demo_runtime
    today = rt.system_context().today()
    start, last = today - timedelta(days=150), today
    page = sites("mai").get(f"/dashboards/management_home?from={start}&to={last}")
    assert page.status_code == 200
    tile = re.search(r'data-kpi="won_by_month" data-value="([^"]+)" data-previous="([^"]+)" '
                     r'data-change="([^"]+)"', page.text)
    assert tile, "no won revenue tile"
    length = (last - start).days + 1
    _, now = won_in(rt, start, last + timedelta(days=1))
    _, before = won_in(rt, start - timedelta(days=length), start)
    assert now > 0 and before > 0
    value, previous, change = (Decimal(g) for g in tile.groups())
    assert same(value, now) and same(previous, before)
    assert same(change, now - before)
    assert "Kỳ trước" in page.text


def test_the_dashboard_form_and_presets(demo_runtime, sites):
    rt = demo_runtime
    today = rt.system_context().today()
    page = sites("hoa").get("/dashboards/sales_home?period=this_month")
    month = dashboards.preset("this_month", today)
    assert f'name="from" value="{month.start.isoformat()}"' in page.text
    assert f'name="to" value="{month.last_day.isoformat()}"' in page.text
    assert "Tháng này" in page.text and "Quý này" in page.text
    default = sites("hoa").get("/dashboards/sales_home")
    assert f'name="from" value="{today.year}-01-01"' in default.text
    partial = sites("hoa").get("/dashboards/sales_home", headers={"HX-Request": "true",
                                                                  "HX-Target": "grid"})
    assert partial.text.lstrip().startswith('<div id="grid"')
    assert "<html" not in partial.text


def test_the_lists_of_reports_and_dashboards_follow_the_role(demo_runtime, sites):
    rt = demo_runtime
    duc = sites("duc")
    listing = duc.get("/reports")
    assert listing.status_code == 200
    assert 'data-report="open_cases_by_priority"' in listing.text
    assert 'data-report="pipeline_by_stage"' not in listing.text
    assert duc.get("/reports/pipeline_by_stage").status_code == 403
    assert duc.get("/reports/pipeline_by_stage.csv").status_code == 403
    boards = duc.get("/dashboards")
    assert 'data-dashboard="support_home"' in boards.text
    assert dashboards.home_dashboard(context(rt, "duc")) == "support_home"
    assert dashboards.home_dashboard(context(rt, "mai")) == "marketing_home"
    assert dashboards.home_dashboard(context(rt, "lan")) == "sales_home"
    hoa = sites("hoa").get("/reports")
    assert 'data-report="pipeline_by_stage"' in hoa.text and "Báo cáo" in hoa.text


def test_unknown_reports_and_dashboards_are_not_found(sites):
    client = sites("hoa")
    assert client.get("/reports/no_such_report").status_code == 404
    assert client.get("/reports/no_such_report.xlsx").status_code == 404
    assert client.get("/dashboards/no_such_dashboard").status_code == 404
    assert client.get("/reports/won_by_month?from=yesterday").status_code == 400


def test_signed_out_visitors_are_sent_to_sign_in(demo_runtime, sites):
    sites("hoa")  # the app exists
    rt = demo_runtime
    app = make_app(rt)
    with TestClient(app) as anonymous:
        answer = anonymous.get("/reports/pipeline_by_stage", follow_redirects=False)
        assert answer.status_code in (302, 303)
        assert "/login" in answer.headers["location"]


def test_the_home_page_shows_the_tiles_of_the_users_dashboard(demo_runtime, sites):
    from metacrm.engine.dashboards import home_dashboard

    rt = demo_runtime
    for name in ("hoa", "mai"):
        page = sites(name).get("/")
        board = home_dashboard(context(rt, name))
        assert board is not None and page.status_code == 200
        assert f'href="/dashboards/{board}"' in page.text
        tiles = re.findall(r'data-kpi="([a-z_]+)" data-value="([^"]+)"', page.text)
        assert tiles, name
        assert 'class="nav"' in page.text and 'href="/reports"' in page.text
