"""The layout editor in a real browser: dragging a field keeps the section inputs up to
date and refreshes the live preview; the no-JavaScript inputs stay the source of truth."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def test_dragging_a_field_updates_the_inputs_and_the_preview(live, page, shot, sign_in):
    live.user("mai", "admin")
    sign_in(page, live.url, "mai")
    page.goto(live.url + "/setup/layouts/contact")
    expect(page.locator("h1")).to_contain_text("Bố cục của")
    preview = page.locator("#layout-preview")
    expect(preview.locator("legend").first).to_have_text("Nhận dạng")

    zalo = page.locator("#section-1 li[data-field=zalo_id]")
    zalo.drag_to(page.locator("#section-0 li[data-field=first_name]"))
    expect(page.locator("#f-section_fields_0")).to_have_value(
        re.compile(r"\bzalo_id\b"))
    expect(page.locator("#f-section_fields_1")).not_to_have_value(
        re.compile(r"\bzalo_id\b"))
    expect(preview.locator("fieldset").first.locator("[data-field=zalo_id]")).to_be_visible()

    # typing in a section's input redraws its chips
    page.fill("#f-section_fields_1", "facebook_url")
    page.locator("#f-section_fields_1").dispatch_event("change")
    expect(page.locator("#section-1 li[data-field]")).to_have_count(1)
    expect(page.locator("#field-palette li[data-field=linkedin_url]")).to_be_visible()
    shot(page, "layout-editor")
    assert live.runtime.version == 0  # nothing is saved before the review
