"""Issue 15, item 4 on the screens: the record form draws a conditional field out of sight or
asked for as the record stands, asks the server again when a field its conditions read
changes (POST /o/{object}/conditions), and shows a confirmed deposit's amount read-only."""

from __future__ import annotations

import re

import pytest

from metacrm.engine import records


@pytest.fixture
def estate(estates_site):
    site = estates_site
    ctx = site.ctx("boss")
    hill = records.create(ctx, "project", {"name": "Đồi Thông"})["id"]
    unit = records.create(ctx, "unit", {"code": "A-1", "project": hill})["id"]
    return site, hill, unit


def box(page: str, name: str) -> str:
    found = re.search(rf'<div class="field[^"]*"[^>]*data-field="{name}"[^>]*>', page)
    assert found, name
    return found.group(0)


def test_the_form_shows_what_the_record_asks_for(estate):
    site, hill, unit = estate
    page = site.get("/o/deposit/new").text
    assert 'data-conditions="/o/deposit/conditions"' in page
    assert re.search(r'data-watch="[^"]*payment_method[^"]*"', page)
    assert " hidden" in box(page, "bank_account") and " hidden" in box(page, "cancel_reason")
    assert " hidden" not in box(page, "amount")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    states = site.client.post("/o/deposit/conditions", data={
        "csrf_token": token, "payment_method": "transfer", "status": "draft"}).json()
    assert states["bank_account"] == {"hidden": False, "required": True, "read_only": False}
    assert states["cancel_reason"]["hidden"] is True
    # a save with the transfer but no account: refused, the account shown with its error
    answer = site.post("/o/deposit/new", {"customer": "An", "project": "Đồi Thông",
                                          "project__id": str(hill), "unit": "A-1",
                                          "unit__id": str(unit), "payment_method": "transfer",
                                          "status": "draft"})
    assert answer.status_code == 422 and " hidden" not in box(answer.text, "bank_account")


def test_a_confirmed_deposits_amount_is_read_only_on_its_form(estate):
    site, hill, unit = estate
    deposit = records.create(site.ctx("boss"), "deposit", {
        "customer": "Bình", "project": hill, "unit": unit, "amount": 100,
        "status": "confirmed"})
    page = site.get(f"/o/deposit/{deposit['id']}/edit").text
    assert "kind-readonly" in box(page, "amount")
    assert f'data-conditions="/o/deposit/conditions?record={deposit["id"]}"' in page


def test_setup_edits_a_fields_conditions(estate):
    site, hill, unit = estate
    page = site.get("/setup/objects/deposit/fields/bank_account").text
    assert "payment_method == &#39;transfer&#39;" in page and 'name="visible_if"' in page
    values = {"label_en": "Bank account", "label_vi": "Số tài khoản", "type": "text",
              "visible_if": "payment_method == 'transfer'", "required_if": ""}
    _, done = site.review_then_apply("/setup/objects/deposit/fields/bank_account", values)
    assert done.status_code == 303
    field = site.rt.model.objects["deposit"].fields["bank_account"]
    assert field.required_if is None and str(field.visible_if) == "payment_method == 'transfer'"
    wrong = site.post("/setup/objects/deposit/fields/bank_account",
                      {**values, "required_if": "payment_metod == 'x'"})
    assert wrong.status_code == 422
    assert "did you mean &#39;payment_method&#39;" in wrong.text


def test_setup_puts_a_validation_message_beside_a_field(estate):
    site, hill, unit = estate
    _, done = site.review_then_apply("/setup/rules/validations/unit", {
        "mode": "raw", "expression": "price < 0", "message_en": "A price is never negative",
        "message_vi": "Giá không thể âm", "field": "price"})
    assert done.status_code == 303
    assert site.rt.overlay.data()["objects/unit.yaml"]["validations"][-1]["field"] == "price"
    answer = site.post(f"/o/unit/{unit}/edit", {"code": "A-1", "project": "Đồi Thông",
                                                "project__id": str(hill), "price": "-5"})
    assert answer.status_code == 422
    assert "A price is never negative" in box_and_errors(answer.text, "price")


def box_and_errors(page: str, name: str) -> str:
    start = page.index(f'data-field="{name}"')
    return page[start:page.index("</div>", start)]
