"""A business admin changes the default CRM live, in a real browser: a custom field placed in
the form and the list and used as a filter, a new picklist option used on the kanban, a new
object with a lookup in the navigation and in a related list, a read-only role checked as
that user, and a removed field whose values come back on revert."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from metacrm.engine import records


def apply_change(page) -> None:
    """Submit the Setup form on the page, check the review, apply it."""
    page.click("#save")
    expect(page.locator("#apply")).to_be_visible()
    page.click("#apply")
    expect(page.locator(".flash").first).to_contain_text("Saved")


def append(page, selector: str, text: str) -> None:
    value = page.input_value(selector)
    page.fill(selector, (value + text) if value.strip() else text.lstrip(", \n"))


def test_an_admin_changes_the_crm_live(fresh_live, page, shot, sign_in):
    live = fresh_live
    live.user("mai", "admin")
    live.user("duc", "sales_rep")
    ctx = live.ctx("mai")
    account = records.create(ctx, "account", {"name": "Công ty TNHH Minh Phát"})
    an = records.create(ctx, "contact", {"first_name": "Văn An", "last_name": "Nguyễn",
                                         "email": "an.nguyen@minhphat.vn"})
    records.create(ctx, "contact", {"first_name": "Thị Bình", "last_name": "Trần",
                                    "email": "binh.tran@minhphat.vn"})
    lead = records.create(ctx, "lead", {"last_name": "Phạm", "first_name": "Quốc Huy",
                                        "status": "new", "phone": "0912 345 678"})
    sign_in(page, live.url, "mai")

    # a custom field "Zalo" (phone) on contact
    page.goto(live.url + "/setup/objects/contact/fields/new")
    page.fill("#f-name", "zalo")
    page.select_option("#f-type", "phone")
    page.fill("#f-label_en", "Zalo")
    page.fill("#f-label_vi", "Zalo")
    page.click("#save")
    expect(page.locator("#plan")).to_contain_text("contact.zalo")
    shot(page, "review")
    page.click("#apply")
    expect(page.locator("#fields")).to_contain_text("zalo")

    # placed first in the form's first section, in the list columns and filters
    page.goto(live.url + "/setup/layouts/contact")
    page.fill("#f-section_fields_0", "zalo, " + page.input_value("#f-section_fields_0"))
    append(page, "#f-list_columns", ", zalo")
    append(page, "#f-list_filters", ", zalo")
    apply_change(page)

    # filled on a contact, then the list filtered by it
    page.goto(f"{live.url}/o/contact/{an['id']}/edit")
    expect(page.locator("fieldset").first.locator("#f-zalo")).to_be_visible()
    page.fill("#f-zalo", "0903 123 456")
    page.click("#save")
    expect(page.locator("dd[data-field=zalo]")).to_contain_text("903")
    page.goto(live.url + "/o/contact")
    expect(page.locator("table.records thead")).to_contain_text("Zalo")
    expect(page.locator("table.records tbody tr")).to_have_count(2)
    page.fill("input[name=zalo]", "0903123456")
    page.locator("input[name=zalo]").dispatch_event("change")
    expect(page.locator("table.records tbody tr")).to_have_count(1)
    expect(page.locator("table.records tbody")).to_contain_text("Nguyễn")
    shot(page, "filtered-list")

    # a new option of lead status, used on the kanban
    page.goto(live.url + "/setup/objects/lead/fields/status")
    append(page, "#f-options", "\nwaiting | Waiting | Đang chờ")
    apply_change(page)
    page.set_viewport_size({"width": 3600, "height": 900})  # every column on screen
    page.goto(live.url + "/o/lead/kanban")
    column = page.locator(".cards[data-value=waiting]")
    expect(column).to_be_attached()
    page.wait_for_load_state("networkidle")
    card = page.locator(".kcard", has_text="Phạm").bounding_box()
    target = column.bounding_box()
    page.mouse.move(card["x"] + 20, card["y"] + 10)
    page.mouse.down()
    page.mouse.move(target["x"] + 30, target["y"] + 15, steps=25)
    page.mouse.up()
    expect(column.locator(".kcard")).to_contain_text("Phạm")
    deadline = time.monotonic() + 10
    while records.get(ctx, "lead", lead["id"])["status"] != "waiting":
        assert time.monotonic() < deadline, column.inner_html()
        time.sleep(0.1)
    shot(page, "kanban-new-option")
    page.set_viewport_size({"width": 1280, "height": 860})

    # a new object "vehicle" with a lookup to account
    page.goto(live.url + "/setup/objects/new")
    page.fill("#f-name", "vehicle")
    page.fill("#f-title_field", "plate")
    page.fill("#f-label_en", "Vehicle")
    page.fill("#f-label_vi", "Xe")
    page.fill("#f-plural_en", "Vehicles")
    page.fill("#f-plural_vi", "Xe")
    apply_change(page)
    page.goto(live.url + "/setup/objects/vehicle/fields/new")
    page.fill("#f-name", "account")
    page.select_option("#f-type", "lookup")
    page.select_option("#f-to", "account")
    page.fill("#f-label_en", "Account")
    page.fill("#f-label_vi", "Công ty")
    apply_change(page)
    page.goto(live.url + "/setup/layouts/vehicle")
    page.fill("#f-section_fields_0", "plate, account")
    page.fill("#f-list_columns", "plate, account")
    apply_change(page)
    page.goto(live.url + "/setup/layouts/account")
    append(page, "#f-related", "\nvehicle | account | plate")
    apply_change(page)
    car = records.create(live.ctx("mai"), "vehicle", {"plate": "51A-123.45",
                                                      "account": account["id"]})
    page.goto(live.url + "/")
    expect(page.locator("nav.nav a[href='/o/vehicle']")).to_be_visible()
    page.goto(f"{live.url}/o/account/{account['id']}")
    expect(page.locator("main")).to_contain_text("51A-123.45")
    shot(page, "account-related-vehicles")

    # sales_rep may read vehicles, not change them
    page.goto(live.url + "/setup/roles/sales_rep")
    page.select_option("[name='o.vehicle.read']", "all")
    page.select_option("[name='o.vehicle.edit']", "none")
    page.select_option("[name='o.vehicle.delete']", "none")
    apply_change(page)
    page.click("#sign-out")
    sign_in(page, live.url, "duc")
    expect(page.locator("nav.nav a[href='/o/vehicle']")).to_be_visible()
    page.goto(live.url + "/o/vehicle")
    expect(page.locator("table.records tbody")).to_contain_text("51A-123.45")
    refused = page.goto(f"{live.url}/o/vehicle/{car['id']}/edit")
    assert refused is not None and refused.status == 403
    refused = page.goto(f"{live.url}/o/vehicle/new")
    assert refused is not None and refused.status == 403
    page.goto(live.url + "/")
    page.click("#sign-out")

    # remove "Zalo", then revert: the values typed earlier are back
    sign_in(page, live.url, "mai")
    before_removal = live.runtime.version
    page.goto(live.url + "/setup/objects/contact/fields/zalo")
    page.click("#remove-field")
    page.click("#apply")
    page.goto(f"{live.url}/o/contact/{an['id']}")
    expect(page.locator("dd[data-field=zalo]")).to_have_count(0)
    page.goto(live.url + "/setup")
    expect(page.locator("#archived")).to_contain_text("contact.zalo")
    page.goto(live.url + "/setup/history")
    page.click(f"#revert-{before_removal}")
    page.click("#apply")
    page.goto(f"{live.url}/o/contact/{an['id']}")
    expect(page.locator("dd[data-field=zalo]")).to_contain_text("903")
    # a context keeps the model it was made with (one snapshot per request): ask anew
    assert records.get(live.ctx("mai"), "contact", an["id"])["zalo"] == "+84903123456"
    page.goto(live.url + "/setup/history")
    expect(page.locator(".version").first).to_contain_text(
        re.compile(f"revert to version {before_removal}"))
    shot(page, "history")
