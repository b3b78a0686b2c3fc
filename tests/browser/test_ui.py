"""A new user's day in MetaCRM, in a real browser (Debian's Chromium through Playwright)."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from metacrm.engine import records
from metacrm.engine.users import create_token, find_user


def test_a_new_users_day(live, page, shot, sign_in, tmp_path):
    live.user("mai", "admin")
    sign_in(page, live.url, "mai")
    expect(page.locator("h1")).to_contain_text("Xin chào")

    # create a contact, meet a validation error, fix it without retyping
    page.goto(live.url + "/o/contact/new")
    page.fill("#f-first_name", "Văn Đức")
    page.fill("#f-email", "duc.nguyen@example.vn")
    page.fill("#f-income", "25000000")
    page.locator("#f-income").blur()
    expect(page.locator("#f-income")).to_have_value("25.000.000")
    page.click("#save")
    expect(page.locator(".field[data-field=last_name] .field-error")).to_have_text(
        "Họ là bắt buộc")
    expect(page.locator("#f-first_name")).to_have_value("Văn Đức")
    expect(page.locator("#f-email")).to_have_value("duc.nguyen@example.vn")
    shot(page, "form")
    page.fill("#f-last_name", "Nguyễn")
    page.click("#save")
    expect(page.locator(".flash")).to_have_text("Đã tạo.")
    expect(page.locator("dd[data-field=income]")).to_have_text("25.000.000\xa0₫")

    # find it by typing its name without accents
    records.create(live.ctx("mai"), "contact", {"first_name": "Thị Hoa", "last_name": "Trần",
                                                "email": "hoa.tran@example.vn"})
    page.goto(live.url + "/o/contact")
    expect(page.locator("table.records tbody tr")).to_have_count(2)
    page.locator("input[name=search]").press_sequentially("nguyen van duc", delay=20)
    expect(page.locator("table.records tbody tr")).to_have_count(1)
    expect(page.locator("table.records tbody")).to_contain_text("Nguyễn")
    # htmx pushed the whole term; wait for the last keystroke's request to settle, or its
    # pushState could cancel the click's navigation below
    expect(page).to_have_url(re.compile(r"search=nguyen(%20|\+)van(%20|\+)duc"))
    page.wait_for_load_state("networkidle")
    shot(page, "list")

    # open it, add a note and a file, see both on the timeline
    page.click("table.records tbody a")
    expect(page).to_have_url(re.compile(r"/o/contact/\d+$"))
    page.fill("textarea[name=body]", "Khách hẹn gọi lại thứ Hai")
    page.click("text=Thêm ghi chú >> nth=1")
    expect(page.locator("ol.timeline")).to_contain_text("Khách hẹn gọi lại thứ Hai")
    pdf = tmp_path / "bao-gia.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% MetaCRM test\n")
    page.set_input_files("input[name=file]", str(pdf))
    page.click(".file-form button")
    expect(page.locator("ol.timeline")).to_contain_text("bao-gia.pdf")
    expect(page.locator("ol.timeline li.note")).to_have_count(1)
    shot(page, "detail")

    # drag an opportunity to another stage on the kanban, and see the stage saved
    ctx = live.ctx("mai")
    deal = records.create(ctx, "opportunity", {"name": "Máy chủ Dell", "stage": "proposal",
                                               "amount": 320_000_000})
    page.goto(live.url + "/o/opportunity/kanban")
    card = page.locator(".kcard", has_text="Máy chủ Dell")
    card.drag_to(page.locator(".cards[data-value=negotiation]"))
    expect(page.locator(".cards[data-value=negotiation] .kcard")).to_contain_text(
        "Máy chủ Dell")
    page.wait_for_load_state("networkidle")
    assert records.get(ctx, "opportunity", deal["id"])["stage"] == "negotiation"
    page.reload()
    expect(page.locator(".cards[data-value=negotiation] .kcard")).to_contain_text(
        "Máy chủ Dell")
    shot(page, "kanban")

    # switch to English and back
    page.click("button[data-lang=en]")
    expect(page.locator("#sign-out")).to_have_text("Sign out")
    expect(page.locator("h1")).to_have_text("Opportunities")
    page.click("button[data-lang=vi]")
    expect(page.locator("#sign-out")).to_have_text("Đăng xuất")

    # sign out
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(live.url + "/o/contact")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_on_a_phone_the_menu_folds_and_lists_stack(live, page, shot, sign_in):
    live.user("mai", "admin")
    records.create(live.ctx("mai"), "account", {"name": "Công ty Sao Mai", "city": "Đà Nẵng"})
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live.url, "mai")
    expect(page.locator("nav.nav")).to_be_hidden()
    page.click("label.menu-button")
    expect(page.locator("nav.nav")).to_be_visible()
    page.goto(live.url + "/o/account")
    row = page.locator("table.records tbody tr").first
    width = row.bounding_box()["width"]
    assert width <= 390
    expect(row).to_contain_text("Công ty Sao Mai")
    shot(page, "phone-list")


def test_a_rep_cannot_reach_another_reps_opportunity(live, page, sign_in):
    live.user("lan", "sales_rep")
    live.user("minh", "sales_rep")
    records.create(live.ctx("lan"), "opportunity", {"name": "Của Lan", "amount": 1})
    theirs = records.create(live.ctx("minh"), "opportunity", {"name": "Của Minh",
                                                              "amount": 2})
    sign_in(page, live.url, "lan")
    page.goto(live.url + "/o/opportunity")
    expect(page.locator("table.records")).to_contain_text("Của Lan")
    expect(page.locator("table.records")).not_to_contain_text("Của Minh")
    page.fill("input[name=search]", "minh")
    expect(page.locator("table.records")).not_to_contain_text("Của Minh")
    response = page.goto(live.url + f"/o/opportunity/{theirs['id']}")
    assert response.status == 404
    export = page.request.get(live.url + "/o/opportunity/export.csv")
    assert export.ok and "Của Lan" in export.text() and "Của Minh" not in export.text()
    with live.runtime.db.write() as conn:
        user = find_user(conn, live.runtime.schema, "lan")
        token = create_token(conn, live.runtime.schema, user.id)
    api = httpx.get(f"{live.url}/api/v1/opportunity/{theirs['id']}",
                    headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 404
    listing = httpx.get(f"{live.url}/api/v1/opportunity", params={"search": "minh"},
                        headers={"Authorization": f"Bearer {token}"}).json()
    assert listing["total"] == 0
