"""Record actions in a real browser (issue 14): a sales rep converts a lead and lands on the
new opportunity; a list's bulk menu marks deals won."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from metacrm.engine import records


def test_a_rep_converts_a_lead_and_lands_on_the_opportunity(live, page, shot, sign_in):
    live.user("lan", "sales_rep")
    live.user("mai", "admin")
    account = records.create(live.ctx("mai"), "account", {"name": "Công ty Hải Âu"})
    lead = records.create(live.ctx("lan"), "lead", {
        "last_name": "Nguyễn", "first_name": "Văn Đức", "company": "Công ty Hải Âu",
        "email": "duc@haiau.vn", "estimated_value": 30000000})
    sign_in(page, live.url, "lan")
    page.goto(f"{live.url}/o/lead/{lead['id']}")
    page.click("a.record-action[data-action=convert]")
    expect(page.locator("h1")).to_have_text("Chuyển đổi")
    expect(page.locator("#f-amount")).to_have_value("30.000.000")  # the estimated value
    expect(page.locator("#f-with_opportunity")).to_be_checked()
    page.fill("#f-amount", "45000000")
    shot(page, "form")
    page.click("#run-action")
    expect(page).to_have_url(re.compile(r"/o/opportunity/\d+$"))
    expect(page.locator(".flash")).to_contain_text("Chuyển đổi: đã xong.")
    expect(page.locator(".flash")).to_contain_text("Đã tạo: Liên hệ, Cơ hội bán hàng.")
    expect(page.locator("dd[data-field=amount]")).to_have_text("45.000.000\xa0₫")
    expect(page.locator("dd[data-field=account]")).to_have_text("Công ty Hải Âu")
    expect(page.locator("dd[data-field=contact]")).to_have_text("Nguyễn Văn Đức")
    shot(page, "opportunity")
    deal_id = int(page.url.rsplit("/", 1)[1])
    converted = records.get(live.ctx("lan"), "lead", lead["id"])
    assert converted["status"] == "converted" and converted["converted_account"] == \
        account["id"] and converted["converted_opportunity"] == deal_id
    page.goto(f"{live.url}/o/lead/{lead['id']}")
    expect(page.locator("a.record-action[data-action=convert]")).to_have_count(0)
    expect(page.locator("ol.timeline")).to_contain_text("lan đã thực hiện Chuyển đổi")


def test_the_bulk_menu_marks_deals_won(live, page, sign_in):
    live.user("mai", "admin")
    ids = [records.create(live.ctx("mai"), "opportunity", {"name": f"Cơ hội {n}"})["id"]
           for n in range(2)]
    sign_in(page, live.url, "mai")
    page.goto(f"{live.url}/o/opportunity")
    for record_id in ids:
        page.check(f"input[name=ids][value='{record_id}']")
    page.select_option("select[name=record_action]", "mark_won")
    page.click("#bulk-run")
    expect(page.locator("#record-action")).to_contain_text(
        "Thực hiện Đánh dấu thành công trên 2 bản ghi?")
    page.click("#run-action")
    expect(page.locator(".flash")).to_contain_text(
        "Đánh dấu thành công: đã xong 2 trên 2 bản ghi.")
    assert {records.get(live.ctx("mai"), "opportunity", i)["stage"] for i in ids} == {"won"}
