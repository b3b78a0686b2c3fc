"""The report builder in a real browser, as a sales manager would use it: choose the object,
the groupings and the measure, watch the live preview, save the report onto a dashboard."""

from __future__ import annotations

import re

import yaml
from playwright.sync_api import expect

from metacrm.engine import records


def test_a_manager_builds_a_report_and_puts_it_on_a_dashboard(fresh_live, page, shot,
                                                                sign_in):
    live = fresh_live
    live.user("mai", "sales_manager")
    ctx = live.ctx("mai")
    for i, (city, stage) in enumerate([("Hà Nội", "lead"), ("Hà Nội", "lead"),
                                       ("Hà Nội", "customer"), ("Huế", "customer")]):
        records.create(ctx, "contact", {"last_name": f"Trần {i}", "city": city,
                                        "lifecycle_stage": stage, "phone": f"090312345{i}"})
    sign_in(page, live.url, "mai")
    page.goto(live.url + "/reports/new")
    expect(page.locator("h1")).to_have_text("Báo cáo mới")

    # choosing the object reloads the field choices (htmx), keeping what was typed
    page.fill("#f-name", "contacts_by_city_stage")
    page.select_option("#f-object", "contact")
    expect(page.locator("#f-group_1 option[value='account.industry']")).to_have_count(1)
    expect(page.locator("#f-name")).to_have_value("contacts_by_city_stage")
    page.fill("#f-label_en", "Contacts by city and stage")
    page.fill("#f-label_vi", "Liên hệ theo thành phố và giai đoạn")
    page.select_option("#f-group_1", "city")
    page.select_option("#f-group_2", "lifecycle_stage")

    preview = page.locator("#preview-table")
    expect(preview.locator("th")).to_have_text(
        ["Tỉnh / thành phố", "Giai đoạn vòng đời", "Số lượng"])
    expect(preview.locator("tbody tr")).to_have_count(3)
    row = preview.locator("tbody tr", has_text="Khách hàng tiềm năng")
    expect(row.locator("td")).to_have_text(["Hà Nội", "Khách hàng tiềm năng", "2"])

    # a broken filter is shown in the preview as it is typed, then fixed
    page.fill("#f-filter", "city ==")
    expect(page.locator("#preview-errors")).to_be_visible()
    page.fill("#f-filter", "not is_blank(city)")
    expect(preview.locator("tbody tr")).to_have_count(3)
    assert live.runtime.version == 0  # nothing is saved before the manager says so

    page.select_option("#f-dashboard", "sales_home")
    shot(page, "report-builder")
    page.click("#save")
    page.wait_for_url(re.compile(r"/reports/contacts_by_city_stage$"))

    rt = live.runtime
    report = rt.model.reports["contacts_by_city_stage"]
    assert [g.field for g in report.group_by] == ["city", "lifecycle_stage"]
    assert report.filter is not None and report.filter.source == "not is_blank(city)"
    assert "contacts_by_city_stage" in rt.model.dashboards["sales_home"].widgets
    doc = yaml.safe_load(rt.overlay.documents["reports/contacts_by_city_stage.yaml"])
    assert doc["group_by"] == ["city", "lifecycle_stage"] and doc["measures"] == ["count"]
