"""Setup's workflow and validation rule builder over HTTP: a rule built from condition rows
runs on save, switches off, is tested against existing records; a validation rule blocks a
save; bad input is shown next to its input and changes nothing."""

from __future__ import annotations

import html
import re

import pytest

from metacrm.engine import overlays, records
from metacrm.engine.errors import CrmError

from ..conftest import SHOP

GOLD_FOR_HUE = {"name": "gold_for_hue", "label_en": "Gold in Huế", "object": "customer",
                "when": "saved", "mode": "rows", "field_0": "city", "op_0": "eq",
                "value_0": "Huế", "action_0": "set", "set_field_0": "level",
                "set_value_0": "gold"}


@pytest.fixture
def site(fresh_site):
    """A signed-in admin on the shop app over a fresh database."""
    made = fresh_site(SHOP)
    made.user("boss")
    assert made.login("boss").status_code == 303
    return made


def error_of(response, name: str) -> str:
    found = re.search(rf'id="error-{name}">([^<]*)<', response.text)
    return html.unescape(found.group(1)) if found else ""


def test_rules_are_for_admins_only(site):
    site.user("clerk", role="read_only")
    site.post("/logout", {})
    assert site.login("clerk").status_code == 303
    assert site.get("/setup/rules").status_code == 403
    assert site.get("/setup/rules/new").status_code == 403
    assert site.post("/setup/rules/new", GOLD_FOR_HUE).status_code == 403
    assert site.get("/setup/rules/validations/customer").status_code == 403
    assert site.rt.version == 0


def test_the_builder_shows_the_expression_its_rows_make(site):
    page = site.get("/setup/rules/new?object=customer")
    assert page.status_code == 200 and 'id="rule-form"' in page.text
    shown = site.post("/setup/rules/new", {
        **GOLD_FOR_HUE, "combine": "or", "field_1": "visits", "op_1": "ge", "value_1": "3",
        "field_2": "name", "op_2": "contains", "value_2": "O'Hara", "preview": "1"})
    assert shown.status_code == 200
    produced = re.search(r'id="produced-expression">([^<]*)<', shown.text)
    assert produced and html.unescape(produced.group(1)) == (
        "city == 'Huế' or visits >= 3 or contains(name, 'O\\'Hara')")
    assert site.rt.version == 0  # a preview changes nothing


def test_a_built_rule_runs_on_save_switches_off_and_is_tested(site):
    ctx = site.ctx("boss")
    before = records.create(ctx, "customer", {"name": "Old Huế", "city": "Huế"})
    records.create(ctx, "customer", {"name": "Old Hà Nội", "city": "Hà Nội"})
    review, done = site.review_then_apply("/setup/rules/new", GOLD_FOR_HUE)
    assert "if: city == &#39;Huế&#39;" in review.text  # the produced expression, in the diff
    assert done.status_code == 303 and site.rt.version == 1
    doc = site.rt.overlay.data()["workflows/gold_for_hue.yaml"]
    assert doc == {"workflow": "gold_for_hue", "label": {"en": "Gold in Huế", "vi": "Gold in Huế"},
                   "object": "customer", "when": "saved", "if": "city == 'Huế'",
                   "do": [{"set": {"level": "gold"}}]}
    ctx = site.ctx("boss")
    assert records.create(ctx, "customer", {"name": "An", "city": "Huế"})["level"] == "gold"
    assert records.create(ctx, "customer", {"name": "Bình", "city": "Đà Nẵng"})["level"] is None

    listing = site.get("/setup/rules").text
    assert "gold_for_hue" in listing and "city == &#39;Huế&#39;" in listing
    test = site.get("/setup/rules/gold_for_hue/test")
    assert test.status_code == 200
    # existing records: Old Huế and An match, Old Hà Nội and Bình do not
    assert re.search(r"Checked 4 records of customer: the rule would fire for 2", test.text)
    assert f"#{before['id']} Old Huế" in test.text

    off = site.post("/setup/rules/gold_for_hue/switch", {"active": "0"})
    assert off.status_code == 303
    assert 'id="switch-gold_for_hue">Switch on' in site.get("/setup/rules").text
    assert records.create(site.ctx("boss"), "customer", {"name": "Cúc", "city": "Huế"}
                          )["level"] is None
    site.post("/setup/rules/gold_for_hue/switch", {"active": "1"})
    assert records.create(site.ctx("boss"), "customer", {"name": "Dung", "city": "Huế"}
                          )["level"] == "gold"


def test_an_existing_rule_is_edited_in_the_builder(site):
    site.review_then_apply("/setup/rules/new", GOLD_FOR_HUE)
    page = site.get("/setup/rules/gold_for_hue")
    assert page.status_code == 200
    assert "city == &#39;Huế&#39;" in page.text  # the condition, in the expression box
    assert 'name="set_value_0" id="f-set_value_0" value="gold"' in page.text
    _, done = site.review_then_apply("/setup/rules/gold_for_hue", {
        "object": "customer", "when": "created", "mode": "raw",
        "expression": "city == 'Huế' and visits > 2", "action_0": "set",
        "set_field_0": "visits", "set_value_0": "10", "action_1": "notify",
        "notify_message_1": "New regular {name}"})
    assert done.status_code == 303
    rule = site.rt.model.workflows["gold_for_hue"]
    assert rule.event == "created" and str(rule.condition) == "city == 'Huế' and visits > 2"
    assert [a.kind for a in rule.actions] == ["set", "notify"]
    assert dict(rule.actions[0].params) == {"visits": 10}
    created = records.create(site.ctx("boss"), "customer", {"name": "Em", "city": "Huế",
                                                             "visits": 3})
    assert created["visits"] == 10


def test_a_validation_rule_from_the_builder_blocks_a_save(site):
    review, done = site.review_then_apply("/setup/rules/validations/customer", {
        "mode": "rows", "field_0": "city", "op_0": "blank",
        "message_en": "Say the city", "message_vi": "Cần nhập thành phố"})
    assert "is_blank(city)" in review.text and done.status_code == 303
    page = site.get("/setup/rules/validations/customer").text
    assert "is_blank(city)" in page and "Say the city" in page
    with pytest.raises(CrmError) as refused:
        records.create(site.ctx("boss"), "customer", {"name": "No city"})
    assert "Say the city" in str(refused.value) or "Say the city" in repr(
        getattr(refused.value, "errors", ""))
    assert records.create(site.ctx("boss"), "customer", {"name": "Hoa", "city": "Huế"})["id"]
    # it was written in the extend: overlay of the app's object, and can be removed again
    assert site.rt.overlay.data()["objects/customer.yaml"]["validations"] == [
        {"when": "is_blank(city)", "message": {"en": "Say the city",
                                               "vi": "Cần nhập thành phố"}}]
    site.review_then_apply("/setup/rules/validations/customer", {"remove": "0"})
    assert site.rt.model.objects["customer"].validations == ()


@pytest.mark.parametrize("data, field, message", [
    ({"field_0": "town"}, "field_0", "unknown field 'town'"),
    pytest.param({"mode": "raw", "expression": "city == "}, "expression", "ends too early"),
    pytest.param({"mode": "raw", "expression": "cty == 'Huế'"}, "expression", "cty"),
    pytest.param({"set_field_0": "levle"}, "set_field_0", "levle"),
    ({"name": "gold for hue"}, "name", "not a valid name"),
    ({"field_0": "visits", "op_0": "gt", "value_0": "many"}, "value_0", "not a number"),
    ({"action_0": ""}, "action_0", "at least one action"),
])
def test_bad_rule_input_is_shown_next_to_its_input_and_changes_nothing(site, data, field,
                                                                       message):
    response = site.post("/setup/rules/new", {**GOLD_FOR_HUE, **data})
    assert response.status_code == 422, response.text[-2000:]
    shown = error_of(response, field)
    assert shown and message in shown, response.text[-3000:]
    assert site.rt.version == 0 and overlays.history(site.rt.db) == []
    assert "gold_for_hue" not in site.rt.model.workflows


def test_bad_validation_input_changes_nothing(site):
    no_message = site.post("/setup/rules/validations/customer", {
        "field_0": "city", "op_0": "blank"})
    assert no_message.status_code == 422 and "the message" in error_of(no_message,
                                                                       "message_en")
    broken = site.post("/setup/rules/validations/customer", {
        "mode": "raw", "expression": "is_blank(cty)", "message_en": "x"})
    assert broken.status_code == 422 and "cty" in error_of(broken, "expression")
    assert site.rt.version == 0


def test_an_emails_texts_in_both_languages_go_through_the_builder(site):
    """The builder writes a text in both languages when they differ, shows both again, and
    a rule it saves is written in the app's language."""
    _, done = site.review_then_apply("/setup/rules/new", {
        "name": "welcome", "label_en": "Welcome", "object": "customer", "when": "created",
        "mode": "raw", "expression": "", "action_0": "email", "email_to_0": "{email}",
        "email_subject_0": "Welcome {name}", "email_subject_vi_0": "Chào mừng {name}",
        "email_body_0": "Hello", "email_body_vi_0": "Hello"})
    assert done.status_code == 303
    [action] = site.rt.model.workflows["welcome"].actions
    assert dict(action.params) == {"to": "{email}", "body": "Hello", "subject": {
        "en": "Welcome {name}", "vi": "Chào mừng {name}"}}
    page = site.get("/setup/rules/welcome").text
    assert 'name="email_subject_vi_0" id="f-email_subject_vi_0" value="Chào mừng {name}"' \
        in page
    assert 'value="Welcome {name}"' in page
