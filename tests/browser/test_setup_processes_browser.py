"""Issue 14, item 9, in a real browser: an admin adds a record action to accounts from the
object manager (the step editor shows only the inputs of the step chosen), a sales rep runs
it on an account and gets the task it makes; the admin builds a rule that fires after a
deal stays 10 days in negotiation (the builder shows the schedule's inputs for the kind
chosen)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import expect

from metacrm.engine import records

from .test_setup_admin import apply_change


def test_an_admin_adds_an_action_a_rep_runs_and_a_scheduled_rule(fresh_live, page, shot,
                                                                   sign_in):
    live = fresh_live
    live.user("mai", "admin")
    live.user("lan", "sales_rep")
    account = records.create(live.ctx("lan"), "account", {"name": "Công ty Hải Âu"})
    sign_in(page, live.url, "mai")

    page.goto(live.url + "/setup/objects/account")
    page.click("#new-action")
    page.fill("#f-name", "follow_up")
    page.fill("#f-label_en", "Plan a follow-up")
    page.fill("#f-label_vi", "Lên lịch chăm sóc")
    page.fill("#f-input_name_0", "days")
    page.select_option("#f-input_type_0", "integer")
    page.fill("input[name=input_label_0_en]", "In days")
    page.fill("input[name=input_label_0_vi]", "Sau số ngày")
    page.fill("#f-input_default_0", "3")
    expect(page.locator("#f-create_subject_0")).to_be_hidden()  # no step chosen yet
    page.select_option("#f-action_0", "create")
    expect(page.locator("#f-create_subject_0")).to_be_visible()
    expect(page.locator("#f-set_field_0")).to_be_hidden()
    expect(page.locator("#f-each_records_0")).to_be_hidden()
    page.fill("#f-create_object_0", "task")
    page.fill("#f-create_subject_0", "Call {name}")
    page.fill("#f-create_subject_vi_0", "Gọi điện cho {name}")
    page.fill("#f-create_due_0", "=add_days(today(), input.days)")
    page.fill("#f-create_more_0", "related_account: {id}")
    page.fill("#f-create_as_0", "call")
    page.fill("#f-open", "call")
    shot(page, "action-form")
    apply_change(page)
    expect(page.locator("#actions-list")).to_contain_text("Lên lịch chăm sóc")

    page.context.clear_cookies()
    sign_in(page, live.url, "lan")
    page.goto(f"{live.url}/o/account/{account['id']}")
    page.click("a.record-action[data-action=follow_up]")
    expect(page.locator("#f-days")).to_have_value("3")
    page.fill("#f-days", "5")
    page.click("#run-action")
    expect(page).to_have_url(re.compile(r"/o/task/\d+$"))
    expect(page.locator("h1")).to_contain_text("Gọi điện cho Công ty Hải Âu")
    task = records.get(live.ctx("lan"), "task", int(page.url.rsplit("/", 1)[1]))
    assert task["due_date"] == date.today() + timedelta(days=5)
    assert task["related_account"] == account["id"]

    page.context.clear_cookies()
    sign_in(page, live.url, "mai")
    page.goto(live.url + "/setup/rules/new")
    expect(page.locator("#schedule")).to_be_hidden()
    page.select_option("#f-object", "opportunity")  # the form comes back with its fields
    expect(page).to_have_url(re.compile(r"object=opportunity"))
    expect(page.locator("#f-after_field option[value=stage]")).to_have_count(1)
    page.fill("#f-name", "stuck_negotiation")
    page.select_option("#f-when", "schedule")
    expect(page.locator("#schedule")).to_be_visible()
    page.select_option("#f-schedule_kind", "after")
    expect(page.locator("#f-after_days")).to_be_visible()
    expect(page.locator("#f-date_field")).to_be_hidden()
    page.select_option("#f-after_field", "stage")
    page.fill("#f-after_days", "10")
    page.fill("#f-after_values", "negotiation")
    page.select_option("#f-action_0", "notify")
    page.fill("#f-notify_message_0", "{name} has waited 10 days in negotiation")
    page.fill("#f-notify_message_vi_0", "{name} đã 10 ngày ở bước thương lượng")
    shot(page, "rule-form")
    apply_change(page)
    expect(page.locator("body")).to_contain_text("stuck_negotiation")
    rule = live.runtime.model.workflows["stuck_negotiation"]
    assert rule.schedule is not None and rule.schedule.date_field == "stage_changed_at"
    assert rule.schedule.offset_days == 10 and str(rule.condition) == (
        "stage in ['negotiation']")
