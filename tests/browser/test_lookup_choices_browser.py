"""Issue 15, items 1 and 4 in a real browser: an agent records a deposit; after choosing the
project, the unit's type-ahead offers only that project's free units."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from metacrm.engine import records

from ..conftest import ESTATES


def test_the_units_offered_narrow_to_the_projects_free_ones(make_live, page, sign_in):
    live = make_live(ESTATES)
    live.user("boss", "admin")
    live.user("lan", "agent")
    ctx = live.ctx("boss")
    hill = records.create(ctx, "project", {"name": "Đồi Thông"})["id"]
    lake = records.create(ctx, "project", {"name": "Hồ Tây"})["id"]
    for code, project, status in (("A-101", hill, "available"), ("A-102", hill, "reserved"),
                                  ("A-103", hill, "available"), ("B-201", lake, "available")):
        records.create(ctx, "unit", {"code": code, "project": project, "status": status})
    sign_in(page, live.url, "lan")
    page.goto(live.url + "/o/deposit/new")
    page.fill("#f-customer", "Nguyễn Văn An")
    page.click("#f-project")
    page.fill("#f-project", "Đồi")
    page.click(".lookup-options li[data-title='Đồi Thông']")
    page.click("#f-unit")
    options = page.locator("#f-unit ~ .lookup-options li")
    expect(options).to_have_count(2)
    expect(options).to_have_text(["A-103", "A-101"])  # the latest first
    page.click(".lookup-options li[data-title='A-103']")
    page.click("button.primary")
    expect(page).to_have_url(re.compile(r"/o/deposit/\d+$"))
    deposit = records.get(ctx, "deposit", int(page.url.rsplit("/", 1)[1]))
    assert deposit["project"] == hill
    assert records.get(ctx, "unit", deposit["unit"])["status"] == "reserved"  # the rule


def test_the_bank_account_appears_for_a_transfer_and_goes_for_cash(make_live, page, sign_in):
    """Issue 15, item 4: conditional fields appear, are asked for and disappear as the
    payment method changes, and a transfer is refused without its account."""
    live = make_live(ESTATES)
    live.user("boss", "admin")
    ctx = live.ctx("boss")
    hill = records.create(ctx, "project", {"name": "Đồi Thông"})["id"]
    records.create(ctx, "unit", {"code": "A-101", "project": hill})
    sign_in(page, live.url, "boss")
    page.goto(live.url + "/o/deposit/new")
    account = page.locator("[data-field=bank_account]")
    expect(account).to_be_hidden()
    page.select_option("#f-payment_method", "transfer")
    expect(account).to_be_visible()
    expect(account.locator(".required")).to_be_visible()
    page.select_option("#f-payment_method", "cash")
    expect(account).to_be_hidden()
    page.select_option("#f-payment_method", "transfer")
    page.fill("#f-customer", "Trần Bình")
    page.click("#f-project")
    page.fill("#f-project", "Đồi")
    page.click(".lookup-options li[data-title='Đồi Thông']")
    page.click("#f-unit")
    page.click(".lookup-options li[data-title='A-101']")
    page.click("#save")
    expect(page.locator("[data-field=bank_account] .field-error")).to_be_visible()
    page.fill("#f-bank_account", "0071 0000 5678")
    page.click("#save")
    expect(page).to_have_url(re.compile(r"/o/deposit/\d+$"))
    deposit = records.get(ctx, "deposit", int(page.url.rsplit("/", 1)[1]))
    assert deposit["bank_account"] == "0071 0000 5678"
