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


def test_a_discounted_quote_is_approved_accepted_and_becomes_an_order(live, page, shot,
                                                                       sign_in):
    from metacrm.engine.users import add_to_team, create_team, find_user

    live.user("lan", "sales_rep")
    live.user("mai", "sales_manager")
    rt = live.runtime
    with rt.db.write() as conn:
        team = create_team(conn, rt.schema, "Kinh doanh 1",
                           manager_id=find_user(conn, rt.schema, "mai").id)
        for name in ("lan", "mai"):
            add_to_team(conn, rt.schema, team, find_user(conn, rt.schema, name).id)
    rep = live.ctx("lan")
    quote = records.create(rep, "quote", {"name": "Lọc nước cho nhà máy"})
    for description, price in (("Máy lọc RO", 20000000), ("Lắp đặt", 2000000)):
        records.create(rep, "quote_line", {"quote": quote["id"], "description": description,
                                           "quantity": 1, "unit_price": price,
                                           "discount": 20})

    sign_in(page, live.url, "lan")
    page.goto(f"{live.url}/o/quote/{quote['id']}")
    panel = page.locator("#approvals [data-approval=discount]")
    expect(panel).to_contain_text("Cần duyệt: chưa gửi")
    panel.locator("button.submit-approval").click()
    expect(page.locator(".flash")).to_contain_text("Duyệt chiết khấu: đã gửi duyệt.")
    expect(panel).to_contain_text("Đang chờ duyệt")
    expect(panel).to_contain_text("Đang chờ mai")
    page.click("#sign-out")

    sign_in(page, live.url, "mai")
    page.click("#my-approvals")
    row = page.locator(f"#awaiting tr[data-record=quote-{quote['id']}]")
    expect(row).to_contain_text("Duyệt chiết khấu")
    expect(row).to_contain_text("lan")
    row.locator("input[name=comment]").fill("Đồng ý, khách hàng lớn")
    shot(page, "awaiting")
    row.locator("button.approve").click()
    expect(page.locator(".flash")).to_contain_text("Duyệt chiết khấu: đã duyệt.")
    expect(page.locator("#awaiting")).to_contain_text("Không có gì đang chờ anh/chị duyệt.")
    page.click("#sign-out")

    sign_in(page, live.url, "lan")
    page.goto(f"{live.url}/o/quote/{quote['id']}/edit")
    page.select_option("#f-status", "accepted")
    page.click("#save")
    expect(page.locator("dd[data-field=status]")).to_have_text("Khách đồng ý")
    expect(page.locator("ol.timeline")).to_contain_text("mai đã duyệt Duyệt chiết khấu")
    expect(page.locator("ol.timeline")).to_contain_text("Đồng ý, khách hàng lớn")
    page.click("a.record-action[data-action=create_order]")
    page.click("#run-action")
    expect(page).to_have_url(re.compile(r"/o/order/\d+$"))
    # 17,600,000 before VAT, 1,760,000 VAT (10 %), 19,360,000 in all; two lines as quoted
    expect(page.locator("dd[data-field=grand_total]")).to_have_text("19.360.000\xa0₫")
    expect(page.locator("dd[data-field=total]")).to_have_text("19.360.000\xa0₫")
    expect(page.locator("#related-order_line-order tbody tr")).to_have_count(2)
    shot(page, "order")
