"""A sales manager on the sales dashboard of the demo company, in Chromium: charts drawn,
the date range changed (htmx refreshes the grid), a bar of the pipeline clicked."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from metacrm.engine import dashboards

DEMO_PASSWORD = "demo-2026"
PIPELINE = "canvas-pipeline_by_stage"


def chart_drawn(page, canvas_id: str) -> None:
    page.wait_for_function(
        "id => window.Chart && Chart.getChart(document.getElementById(id)) !== undefined",
        arg=canvas_id)


@pytest.mark.parametrize("demo_runtime", ["sqlite"], indirect=True)
def test_a_manager_filters_the_dashboard_and_opens_a_bar(demo_runtime, demo_live, page,
                                                         sign_in, shot):
    base = demo_live
    today = demo_runtime.system_context().today()
    sign_in(page, base, "hoa", DEMO_PASSWORD)
    page.goto(base + "/dashboards/sales_home")
    chart_drawn(page, PIPELINE)
    chart_drawn(page, "canvas-won_by_month")
    year = dashboards.preset("this_year", today)
    assert page.get_attribute("#grid", "data-from") == year.start.isoformat()
    shot(page, "dashboard")

    # the date range: a new start reloads the grid in place and the URL can be shared
    month = dashboards.preset("this_month", today)
    won_before = page.get_attribute('[data-kpi="won_by_month"]', "data-value")
    page.fill("input[name=from]", month.start.isoformat())
    page.locator("input[name=from]").dispatch_event("change")
    page.wait_for_selector(f'#grid[data-from="{month.start.isoformat()}"]')
    assert f"from={month.start.isoformat()}" in page.url
    won_after = page.get_attribute('[data-kpi="won_by_month"]', "data-value")
    assert float(won_after) <= float(won_before)
    chart_drawn(page, PIPELINE)
    shot(page, "dashboard-this-month")

    # the first bar of the pipeline opens the list of exactly its opportunities
    first = page.locator('table[data-report="pipeline_by_stage"] tbody tr').first
    stage_label = first.locator("td").nth(0).inner_text().strip()
    count = int(re.sub(r"\D", "", first.locator("td").nth(1).inner_text()))
    point = page.evaluate("""id => {
        const canvas = document.getElementById(id);
        const bar = Chart.getChart(canvas).getDatasetMeta(0).data[0];
        const box = canvas.getBoundingClientRect();
        return {x: box.left + bar.x, y: box.top + (bar.y + bar.base) / 2,
                label: Chart.getChart(canvas).data.labels[0]};
    }""", PIPELINE)
    assert point["label"] == stage_label
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url(re.compile(r"/o/opportunity\?"))
    params = parse_qs(urlsplit(page.url).query)
    assert params["filter"] == ["not is_closed"]
    assert params["created_at__ge"] == [month.start.isoformat()]
    total = page.locator("span.total").inner_text()
    assert int(re.sub(r"\D", "", total)) == count
    assert page.locator("table tbody tr").count() == min(count, 50)
