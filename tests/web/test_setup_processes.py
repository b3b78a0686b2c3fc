"""Issue 14, item 9: Setup builds the processes of issue 14 without YAML. The rule builder
writes schedules (a date with an offset and a repeat, N days in a status, every day / week /
month, a holiday) and the for_each, update and convert steps; the object manager adds,
changes and removes an object's record actions and approvals. What Setup writes is what a
consultant would write, and it runs: the rule fires on the worker's round, the action runs
on a record, the approval holds a save back. Bad input is shown next to its input and changes
nothing; a definition the form cannot hold is edited as YAML."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest

from metacrm.engine import actions, overlays, records
from metacrm.engine.errors import CrmError
from metacrm.engine.query import ListQuery, list_records
from metacrm.engine.scheduler import run_schedules, simulate
from metacrm.metadata import load
from metacrm.metadata.documents import merged
from metacrm.web.i18n import catalog
from metacrm.web.setup_actions import (
    action_document,
    action_values,
    approval_document,
    approval_values,
)
from metacrm.web.setup_rules import build_schedule, rule_document, rule_values, schedule_values
from metacrm.web.setup_steps import build_steps, step_values

from ..conftest import DEFAULT_APP, SHOP
from .test_setup_rules import error_of

FIELDS = """
extend: customer
fields:
  due_on: {type: date}
  stage:
    type: picklist
    options: [open, waiting, done]
    default: open
"""
PROMOTE = """
extend: customer
actions:
  welcome:
    label: {en: Welcome, vi: Chào mừng}
    do:
      - set: {visits: 1}
"""


@pytest.fixture
def site(fresh_site, make_app_dir):
    """A signed-in admin on the shop app (customers with a due date and a stage) over a
    fresh database."""
    made = fresh_site(make_app_dir({"objects/fields.yaml": FIELDS,
                                    "objects/welcome.yaml": PROMOTE}, base=SHOP))
    made.user("boss")
    assert made.login("boss").status_code == 303
    return made


def value_of(response, name: str) -> str:
    found = re.search(rf'name="{name}" id="f-{name}"[^>]*value="([^"]*)"', response.text)
    return html.unescape(found.group(1)) if found else ""


STUCK = {"name": "stuck", "label_en": "Stuck", "object": "customer", "when": "schedule",
         "schedule_kind": "after", "after_field": "stage", "after_days": "3",
         "after_values": "waiting, open", "mode": "raw", "expression": "visits > 0",
         "action_0": "set", "set_field_0": "level", "set_value_0": "gold"}


def test_a_rule_after_days_in_a_status_is_built_tracks_the_field_and_fires(site):
    assert not site.rt.model.objects["customer"].fields["stage"].track_changes
    review, done = site.review_then_apply("/setup/rules/new", STUCK)
    assert "keep the day customer.stage changes" in html.unescape(review.text)
    assert done.status_code == 303
    doc = site.rt.overlay.data()["workflows/stuck.yaml"]
    assert doc["when"] == {"schedule": {"after": {"field": "stage", "days": 3}}}
    assert doc["if"] == "stage in ['waiting', 'open'] and (visits > 0)"
    assert site.rt.model.objects["customer"].fields["stage"].track_changes  # switched on
    ctx = site.ctx("boss")
    waiting = records.create(ctx, "customer", {"name": "Chờ", "stage": "waiting", "visits": 2})
    done_one = records.create(ctx, "customer", {"name": "Xong", "stage": "done", "visits": 2})
    later = datetime.now(UTC) + timedelta(days=4)
    assert simulate(site.rt, "stuck", now=later)["would_fire"] == 1
    assert run_schedules(site.rt, now=later)["stuck"] == 1
    assert records.get(ctx, "customer", waiting["id"])["level"] == "gold"
    assert records.get(ctx, "customer", done_one["id"])["level"] is None
    # the builder reads it back: the status values in their input, the rest as the condition
    page = site.get("/setup/rules/stuck")
    assert value_of(page, "after_values") == "waiting, open"
    assert value_of(page, "after_days") == "3"
    assert "visits &gt; 0</textarea>" in page.text
    assert "stage in" not in page.text.split('id="f-expression"')[1].split("</textarea>")[0]
    assert "schedule: stage_changed_at +3d" in site.get("/setup/rules").text


@pytest.mark.parametrize("values, schedule", [
    ({"schedule_kind": "date", "date_field": "due_on", "offset": "-30"},
     {"date_field": "due_on", "offset": "-30d"}),
    ({"schedule_kind": "date", "date_field": "due_on", "offset": "2", "every": "year",
      "at": "08:00", "catch_up": "no"},
     {"date_field": "due_on", "offset": "2d", "every": "year", "at": "08:00",
      "catch_up": False}),
    ({"schedule_kind": "every", "period": "week", "catch_up": "7"},
     {"every": "week", "catch_up": 7}),
    ({"schedule_kind": "holiday", "holiday": "tet"}, {"holiday": "tet"}),
    ({"schedule_kind": "holiday", "holiday": "02/09"}, {"holiday": "02/09"}),
])
def test_each_kind_of_schedule_is_written_and_read_back(site, values, schedule):
    customer = site.rt.model.objects["customer"]
    written, extra, _ = build_schedule(customer, values)
    assert written == schedule and extra == ""
    again, rest = schedule_values(written, "")
    assert {k: v for k, v in again.items() if k != "when"} == values and rest == ""
    _, done = site.review_then_apply("/setup/rules/new", {
        **STUCK, **values, "name": "timed", "after_field": "", "mode": "rows",
        "expression": ""})
    assert done.status_code == 303
    assert site.rt.overlay.data()["workflows/timed.yaml"]["when"] == {"schedule": schedule}
    assert site.rt.model.workflows["timed"].schedule is not None


@pytest.mark.parametrize("data, field, message", [
    ({"after_days": "three"}, "after_days", "not a number of days"),
    ({"after_days": "-2"}, "after_days", "a number of days from 0 on"),
    ({"after_field": "name", "after_values": "x", "schedule_kind": "date"}, "date_field",
     "choose the date field"),
    ({"schedule_kind": "date", "date_field": "name"}, "date_field", "must be a date field"),
    ({"schedule_kind": "every", "period": "hour"}, "period", "every day, week or month"),
    ({"at": "25:00"}, "at", "not a time of day"),
    ({"mode": "raw", "expression": "changed('stage')"}, "expression",
     "only mean something in a rule triggered by a save"),
    ({"after_field": ""}, "after_field", "choose a field of customer"),
])
def test_bad_schedules_are_shown_next_to_their_input(site, data, field, message):
    response = site.post("/setup/rules/new", {**STUCK, **data})
    assert response.status_code == 422
    assert message in error_of(response, field), response.text[-3000:]
    assert site.rt.version == 0 and overlays.history(site.rt.db) == []


ADOPT = {"name": "adopt", "object": "customer", "when": "created",
         "action_0": "convert", "convert_name_0_0": "first", "convert_object_0_0": "purchase",
         "convert_find_0_0": "code", "convert_map_0_0": "code: W-{name}\nbuyer: {id}\ntotal: 5",
         "convert_mark_0": "visits: 1",
         "action_1": "for_each", "each_records_1": "purchase", "each_if_1": "total < 100",
         "each_set_1": "total: =parent.visits * 100", "each_create_1": "",
         "action_2": "update", "update_records_2": "purchase.buyer",
         "update_if_2": "total == 100", "update_set_2": "code: {code}!"}


def test_a_rule_with_convert_for_each_and_update_steps_runs(site):
    _, done = site.review_then_apply("/setup/rules/new", ADOPT)
    assert done.status_code == 303
    do = site.rt.overlay.data()["workflows/adopt.yaml"]["do"]
    assert do == [
        {"convert": {"records": {"first": {"object": "purchase", "find_by": ["code"],
                                           "map": {"code": "W-{name}", "buyer": "{id}",
                                                   "total": 5}}},
                     "mark": {"visits": 1}}},
        {"for_each": {"records": "purchase", "if": "total < 100",
                      "do": [{"set": {"total": "=parent.visits * 100"}}]}},
        {"update": {"records": "purchase.buyer", "if": "total == 100",
                    "set": {"code": "{code}!"}}}]
    ctx = site.ctx("boss")
    lan = records.create(ctx, "customer", {"name": "Lan"})
    assert records.get(ctx, "customer", lan["id"])["visits"] == 1
    bought = [records.get(ctx, "purchase", p["id"])
              for p in list_records(ctx, "purchase", ListQuery()).items]
    assert [(p["code"], p["total"], p["buyer"]) for p in bought] == [("W-Lan!", 100, lan["id"])]
    # read back into the rows, and written again the same
    page = site.get("/setup/rules/adopt")
    assert value_of(page, "convert_object_0_0") == "purchase"
    assert value_of(page, "each_records_1") == "purchase"
    assert step_values(do) is not None
    rebuilt, _ = build_steps(site.rt.model.objects, site.rt.model.objects["customer"],
                             step_values(do))
    assert rebuilt == do


def test_bad_steps_are_shown_next_to_their_input(site):
    for data, field, message in [
        ({"each_records_1": "order_line"}, "each_records_1", "no list of records"),
        ({"each_set_1": "", "each_create_1": ""}, "each_set_1", "say what to do"),
        ({"convert_map_0_0": "code W"}, "convert_map_0_0", "line 1: write field: value"),
        ({"convert_find_0_0": "email"}, "convert_find_0_0", "gives purchase no 'email'"),
        ({"convert_object_0_0": "invoice"}, "convert_object_0_0", "unknown object"),
        ({"update_set_2": "cod: x"}, "update_set_2", "cod"),
    ]:
        response = site.post("/setup/rules/new", {**ADOPT, **data})
        assert response.status_code == 422, data
        assert message in error_of(response, field), (data, response.text[-3000:])
    assert site.rt.version == 0


PROMOTE_FORM = {
    "name": "promote", "label_en": "Promote", "label_vi": "Nâng hạng",
    "confirm_en": "Promote {name}?", "confirm_vi": "Nâng hạng {name}?", "role_admin": "1",
    "bulk": "1", "mode": "rows", "field_0": "level", "op_0": "blank",
    "input_name_0": "since", "input_type_0": "date", "input_label_0_en": "Since",
    "input_label_0_vi": "Từ ngày", "input_required_0": "1", "input_default_0": "=today()",
    "input_name_1": "level", "input_type_1": "field", "input_field_1": "level",
    "action_0": "set", "set_field_0": "level", "set_value_0": "{input.level}",
    "action_1": "create", "create_object_1": "purchase", "create_as_1": "gift",
    "create_more_1": "code: GIFT-{name}\nbuyer: {id}", "open": "gift"}


def test_the_object_manager_adds_an_action_that_runs_then_changes_and_removes_it(site):
    page = site.get("/setup/objects/customer")
    assert 'id="new-action"' in page.text and "Welcome" in page.text
    assert site.get("/setup/objects/customer/actions/new").status_code == 200
    review, done = site.review_then_apply("/setup/objects/customer/actions/new", PROMOTE_FORM)
    assert done.status_code == 303, done.text[-2000:]
    written = site.rt.overlay.data()["objects/customer.yaml"]["actions"]["promote"]
    assert written == {
        "label": {"en": "Promote", "vi": "Nâng hạng"}, "if": "is_blank(level)",
        "roles": ["admin"], "confirm": {"en": "Promote {name}?", "vi": "Nâng hạng {name}?"},
        "inputs": {"since": {"type": "date", "label": {"en": "Since", "vi": "Từ ngày"},
                             "required": True, "default": "=today()"},
                   "level": {"field": "level"}},
        "do": [{"set": {"level": "{input.level}"}},
               {"create": {"object": "purchase", "as": "gift",
                           "values": {"code": "GIFT-{name}", "buyer": "{id}"}}}],
        "open": "gift"}
    ctx = site.ctx("boss")
    mai = records.create(ctx, "customer", {"name": "Mai"})
    outcome = actions.run(site.ctx("boss"), "customer", mai["id"], "promote",
                          {"since": "2027-01-02", "level": "gold"})
    assert records.get(ctx, "customer", mai["id"])["level"] == "gold"
    assert outcome.opens and outcome.opens[0] == "purchase"
    # the form reads it back, and a change is written over it
    form = site.get("/setup/objects/customer/actions/promote")
    assert value_of(form, "input_default_0") == "=today()"
    assert value_of(form, "create_more_1") == "" and "GIFT-{name}" in form.text
    _, done = site.review_then_apply("/setup/objects/customer/actions/promote", {
        **PROMOTE_FORM, "label_en": "Promote now", "role_admin": ""})
    changed = site.rt.model.actions_of("customer")["promote"]
    assert changed.label.get("en") == "Promote now" and changed.roles == ()
    # removing Setup's own action and the app's one
    site.review_then_apply("/setup/objects/customer/actions/promote", {"remove": "1"})
    site.review_then_apply("/setup/objects/customer/actions/welcome", {"remove": "1"})
    assert dict(site.rt.model.actions_of("customer")) == {}
    assert site.rt.overlay.data()["objects/customer.yaml"]["remove_actions"] == ["welcome"]


def test_bad_action_input_is_shown_next_to_its_input(site):
    for data, field, message in [
        ({"label_en": "", "label_vi": ""}, "label_en", "give the action a label"),
        ({"name": "Promote!"}, "name", "not a valid name"),
        ({"name": "welcome"}, "name", "already has a action named 'welcome'"),
        ({"input_type_1": "field", "input_field_1": "levle"}, "input_field_1", "levle"),
        ({"input_name_0": "Since"}, "input_name_0", "not a valid name"),
        ({"open": "gfit"}, "open", "names no record a step makes"),
        ({"set_value_0": "{input.lvl}"}, "set_field_0", "lvl"),
        ({"action_0": "", "action_1": ""}, "action_0", "at least one action"),
    ]:
        response = site.post("/setup/objects/customer/actions/new", {**PROMOTE_FORM, **data})
        assert response.status_code == 422, data
        assert message in error_of(response, field), (data, response.text[-3000:])
    assert site.rt.version == 0


def test_an_action_the_form_cannot_hold_is_edited_as_yaml(site):
    yaml_text = ("label: {en: Count visits, vi: Đếm lượt}\n"
                 "inputs:\n  n: {type: integer, min: 1, default: 1}\n"
                 "do:\n  - set: {visits: '=input.n'}\n")
    broken = site.post("/setup/objects/customer/actions/new", {"name": "count",
                                                                "yaml": "label: [unclosed"})
    assert broken.status_code == 422 and "not YAML" in error_of(broken, "yaml")
    wrong = site.post("/setup/objects/customer/actions/new", {
        "name": "count", "yaml": yaml_text.replace("visits", "visit")})
    assert wrong.status_code == 422 and "visit" in error_of(wrong, "yaml")
    assert site.rt.version == 0
    _, done = site.review_then_apply("/setup/objects/customer/actions/new",
                                     {"name": "count", "yaml": yaml_text})
    assert done.status_code == 303
    page = site.get("/setup/objects/customer/actions/count")  # min: the form cannot hold it
    assert 'id="f-yaml"' in page.text and "min: 1" in page.text


DISCOUNT = {"name": "big_spender", "label_en": "Big spender", "label_vi": "Khách lớn",
            "mode": "rows", "field_0": "visits", "op_0": "gt", "value_0": "5",
            "before": "level == 'gold'", "lock": "1", "step_kind_0": "role",
            "step_who_0": "admin", "step_label_0_en": "Director",
            "step_label_0_vi": "Giám đốc"}


def test_the_object_manager_adds_an_approval_that_holds_a_save_back(site):
    review, done = site.review_then_apply("/setup/objects/customer/approvals/new", DISCOUNT)
    assert done.status_code == 303
    written = site.rt.overlay.data()["objects/customer.yaml"]["approvals"]["big_spender"]
    assert written == {"label": {"en": "Big spender", "vi": "Khách lớn"}, "when": "visits > 5",
                       "before": "level == 'gold'",
                       "steps": [{"role": "admin",
                                  "label": {"en": "Director", "vi": "Giám đốc"}}]}
    ctx = site.ctx("boss")
    with pytest.raises(CrmError) as refused:
        records.create(ctx, "customer", {"name": "Lớn", "visits": 9, "level": "gold"})
    assert "Big spender" in str(refused.value)
    assert records.create(ctx, "customer", {"name": "Nhỏ", "visits": 2, "level": "gold"})
    form = site.get("/setup/objects/customer/approvals/big_spender")
    assert value_of(form, "step_who_0") == "admin" and value_of(form, "before") == (
        "level == 'gold'")
    site.review_then_apply("/setup/objects/customer/approvals/big_spender", {
        **DISCOUNT, "lock": "", "mode": "raw", "expression": "visits > 50"})
    approval = site.rt.model.approvals_of("customer")["big_spender"]
    assert approval.lock is False and str(approval.when) == "visits > 50"
    site.review_then_apply("/setup/objects/customer/approvals/big_spender", {"remove": "1"})
    assert dict(site.rt.model.approvals_of("customer")) == {}
    assert records.create(site.ctx("boss"), "customer", {"name": "Lớn", "visits": 9,
                                                         "level": "gold"})


def test_bad_approval_input_is_shown_next_to_its_input(site):
    for data, field, message in [
        ({"step_kind_0": ""}, "step_kind_0", "at least one step"),
        ({"step_who_0": ""}, "step_who_0", "name the role"),
        ({"step_who_0": "boss_role"}, "step_who_0", "boss_role"),
        ({"step_kind_0": "manager", "step_who_0": "city"}, "step_who_0", "user field"),
        ({"field_0": ""}, "field_0", "add a condition"),
        ({"before": "levle == 'gold'"}, "before", "levle"),
    ]:
        response = site.post("/setup/objects/customer/approvals/new", {**DISCOUNT, **data})
        assert response.status_code == 422, data
        assert message in error_of(response, field), (data, response.text[-3000:])
    assert site.rt.version == 0


def test_setup_is_for_admins_only(site):
    site.user("clerk", role="clerk")
    site.post("/logout", {})
    site.login("clerk")
    for path in ("/setup/objects/customer/actions/new", "/setup/objects/customer/actions/welcome",
                 "/setup/objects/customer/approvals/new"):
        assert site.get(path).status_code == 403
        assert site.post(path, {**PROMOTE_FORM, "remove": "1"}).status_code == 403
    assert site.rt.version == 0


TEMPLATES = ("setup_rule.html", "setup_rule_parts.html", "setup_action.html",
             "setup_approval.html", "setup_object.html")


def test_every_text_of_these_screens_is_in_vietnamese(site):
    from pathlib import Path

    import metacrm.web

    layouts = Path(metacrm.web.__file__).parent.parent.parent / "layouts"
    vi = catalog("vi")
    missing = []
    for name in TEMPLATES:
        source = (layouts / name).read_text(encoding="utf-8")
        for found in re.finditer(r"""\bt\((?:'([^']*)'|"([^"]*)")\s*[,)]""", source):
            text = found.group(1) or found.group(2)
            if text not in vi:
                missing.append(f"{name}: {text}")
    for prefix, names in (("action: ", ("set", "create", "update", "for_each", "convert",
                                        "notify", "email", "webhook")),
                          ("schedule: ", ("date", "after", "every", "holiday")),
                          ("approver: ", ("role", "manager", "user")),
                          ("", ("once", "every year", "every month", "every day",
                                "every week (Mondays)", "every month (the 1st)"))):
        missing += [prefix + n for n in names if prefix + n not in vi]
    assert missing == [], '\n'.join(missing)
    site.post("/language", {"lang": "vi", "next": "/"})
    page = site.get("/setup/objects/customer/actions/new").text
    assert "Ai được thực hiện" in page and "Với mỗi bản ghi liên quan" in page


def _as_written(doc):
    """A document as a consultant may equally write it: a label of one text is that text in
    both languages."""
    if isinstance(doc, dict):
        return {k: ({"en": v, "vi": v} if k == "label" and isinstance(v, str) else
                    _as_written(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_as_written(v) for v in doc]
    return doc


def test_what_the_forms_read_back_they_write_back_unchanged():
    """Every rule, action and approval of the default CRM that a form shows is written back
    as it was when the admin saves without a change (or the form leaves it to YAML)."""
    model = load(DEFAULT_APP)
    roles = sorted(model.roles)
    shown = left = 0
    for path, doc in merged(DEFAULT_APP).items():
        if path.startswith("workflows/") and "workflow" in doc:
            values = rule_values(doc)
            if values is None:
                left += 1
                continue
            rebuilt, _ = rule_document(model.objects, model.objects[doc["object"]],
                                       doc["workflow"], values)
            assert _as_written(rebuilt) == _as_written(
                {k: v for k, v in doc.items() if k != "active"}), path
            shown += 1
        if path.startswith("objects/"):
            obj = model.objects[doc["object"]]
            for name, action in doc.get("actions", {}).items():
                values = action_values(name, action)
                if values is None:
                    left += 1
                    continue
                rebuilt, _ = action_document(model.objects, obj, values, roles)
                assert _as_written(rebuilt) == _as_written(action), f"{path} {name}"
                shown += 1
            for name, approval in doc.get("approvals", {}).items():
                rebuilt, _ = approval_document(obj, approval_values(name, approval))
                assert _as_written(rebuilt) == _as_written(approval), f"{path} {name}"
                shown += 1
    assert shown >= 10 and left >= 4, (shown, left)


@pytest.mark.parametrize("condition", [
    'stage in ["waiting", "open"]', "stage in ['waiting'] and visits > 0",
    "stage in ['a,b']", "stage in [a_field]"])
def test_a_condition_the_builder_did_not_write_is_shown_whole(condition):
    values, rest = schedule_values({"after": {"field": "stage", "days": 3}}, condition)
    assert rest == condition and "after_values" not in values


def test_a_schedule_the_builder_cannot_show_is_left_to_yaml():
    assert schedule_values({"after": {"field": "stage", "days": 3}, "offset": "2d"}, "") is None
    assert schedule_values({"holiday": "tet", "offset": "-1d"}, "") is None
    values, _ = schedule_values({"date_field": "due_on", "catch_up": True}, "")
    assert "catch_up" not in values  # the default: the same rule
