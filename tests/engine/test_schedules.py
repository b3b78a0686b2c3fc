"""Issue 14, item 6: schedules that catch up and repeat. A record already late when a rule
is switched on fires once (not again on the next round), `catch_up: false` starts today,
`every: day | month`, `after:` N days in a tracked value, and `workflow test` (simulate)
counts exactly what the next round then does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from metacrm.engine import records, workflows
from metacrm.engine.query import ListQuery, list_records
from metacrm.engine.scheduler import run_schedules, simulate
from metacrm.engine.users import create_user
from metacrm.metadata import MetadataError, load
from tests.conftest import SHOP
from tests.engine.test_workflows import Clock

FIELDS = """
extend: customer
fields:
  due_on: {type: date}
  start_on: {type: date}
  stage:
    type: picklist
    options: [open, waiting, done]
    default: open
    track_changes: true
"""
RULES = """
workflow: late
object: customer
when: {schedule: {date_field: due_on}}
do:
  - set: {city: "late {due_on}"}
---
workflow: late_no_catch_up
object: customer
when: {schedule: {date_field: due_on, catch_up: false}}
do:
  - set: {city: "strict {due_on}"}
---
workflow: monthly
object: customer
when: {schedule: {date_field: start_on, every: month, catch_up: false}}
do:
  - create: {object: purchase, values: {code: "{name} {start_on}", buyer: "{id}"}}
---
workflow: daily_open
object: customer
when: {schedule: {every: day, catch_up: false}}
if: "stage == 'open'"
do:
  - create: {object: purchase, values: {code: "daily {name}", buyer: "{id}"}}
---
workflow: stuck
object: customer
when: {schedule: {after: {field: stage, days: 3}, catch_up: false}}
if: "stage == 'waiting'"
do:
  - set: {level: gold}
"""
NOW = datetime(2027, 3, 31, 3, 0, tzinfo=UTC)  # 10:00 in Hồ Chí Minh City


@pytest.fixture
def shop(make_app_dir, make_runtime):
    clock = Clock(NOW)
    rt = make_runtime(make_app_dir({"objects/fields.yaml": FIELDS,
                                    "workflows/rules.yaml": RULES}, base=SHOP), clock=clock)
    with rt.db.write() as conn:
        admin = create_user(conn, rt.schema, "admin", role="admin")
    return rt, rt.context(admin), clock


def _purchases(rt, ctx):
    return sorted(p["code"] for p in list_records(ctx, "purchase", ListQuery()).items)


def test_a_late_record_fires_once_and_workflow_test_agrees(shop):
    rt, ctx, clock = shop
    today = date(2027, 3, 31)
    made = {name: records.create(ctx, "customer", {"name": name, "due_on": today - timedelta(
        days=late)})["id"] for name, late in (("three", 3), ("today", 0), ("forty", 40),
                                              ("future", -2))}
    planned = simulate(rt, "late", now=NOW)
    assert planned["would_fire"] == 2
    assert sorted(title for _, title in planned["examples"]) == [
        "three (28/03/2027)", "today (31/03/2027)"]
    assert run_schedules(rt, now=NOW)["late"] == 2
    assert records.get(ctx, "customer", made["three"])["city"] == "late Mar 28, 2027"
    assert records.get(ctx, "customer", made["forty"])["city"] is None  # past the window
    assert simulate(rt, "late", now=NOW)["would_fire"] == 0
    assert run_schedules(rt, now=NOW).get("late", 0) == 0  # not again on the next round
    tomorrow = NOW + timedelta(days=1)
    assert simulate(rt, "late", now=tomorrow)["would_fire"] == 0
    assert run_schedules(rt, now=tomorrow).get("late", 0) == 0
    clock.when = NOW + timedelta(days=2)  # the future one comes due, and only it
    assert simulate(rt, "late", now=clock.when)["would_fire"] == 1
    assert run_schedules(rt, now=clock.when)["late"] == 1
    assert len(workflows.runs(ctx, workflow="late")) == 3


def test_without_catch_up_a_rule_starts_the_day_it_is_switched_on(shop):
    rt, ctx, _ = shop
    today = date(2027, 3, 31)
    late = records.create(ctx, "customer", {"name": "late", "due_on": today - timedelta(1)})
    due = records.create(ctx, "customer", {"name": "due", "due_on": today})
    assert simulate(rt, "late_no_catch_up", now=NOW)["would_fire"] == 1
    assert run_schedules(rt, now=NOW)["late_no_catch_up"] == 1
    assert [r["record_id"] for r in workflows.runs(ctx, workflow="late_no_catch_up")] == [
        due["id"]]
    assert records.get(ctx, "customer", late["id"])["city"] == "late Mar 30, 2027"


def test_every_month_and_every_day(shop):
    rt, ctx, clock = shop
    records.create(ctx, "customer", {"name": "Lan", "start_on": "2027-01-31"})
    records.create(ctx, "customer", {"name": "Hoa", "start_on": "2027-05-31",
                                     "stage": "done"})
    for day in ("2027-03-31", "2027-04-01", "2027-04-29", "2027-04-30", "2027-05-31"):
        clock.when = datetime.fromisoformat(day + "T03:00:00+00:00")
        run_schedules(rt, now=clock.when)
    assert _purchases(rt, ctx) == [
        "Hoa May 31, 2027",  # its first month: the day itself
        "Lan Jan 31, 2027", "Lan Jan 31, 2027", "Lan Jan 31, 2027",  # 31/3, 30/4, 31/5
        "daily Lan", "daily Lan", "daily Lan", "daily Lan", "daily Lan"]  # once a round


def test_after_n_days_in_a_status(shop):
    rt, ctx, clock = shop
    lan = records.create(ctx, "customer", {"name": "Lan"})
    clock.when = NOW + timedelta(days=1)
    records.update(ctx, "customer", lan["id"], {"stage": "waiting"})
    changed = records.get(ctx, "customer", lan["id"])["stage_changed_at"]
    assert changed == NOW + timedelta(days=1)
    for days in (2, 3):
        clock.when = NOW + timedelta(days=days)
        run_schedules(rt, now=clock.when)
        assert records.get(ctx, "customer", lan["id"])["level"] is None  # 1 and 2 days
    clock.when = NOW + timedelta(days=4)
    assert run_schedules(rt, now=clock.when)["stuck"] == 1  # three days waiting
    assert records.get(ctx, "customer", lan["id"])["level"] == "gold"


@pytest.mark.parametrize("rule, message", [
    ("when: {schedule: {date_field: due_on, every: week}}", "every: week repeats for every"),
    ("when: {schedule: {after: {field: name, days: 2}}}", "with track_changes: true"),
    ("when: {schedule: {date_field: due_on, holiday: tet}}", "not date_field and holiday"),
    ("when: {schedule: {offset: 2d}}", "a schedule needs date_field"),
])
def test_a_schedule_that_cannot_work_is_refused_at_load(make_app_dir, rule, message):
    app = make_app_dir({"objects/fields.yaml": FIELDS, "workflows/rules.yaml":
                        f"workflow: bad\nobject: customer\n{rule}\ndo:\n"
                        "  - set: {city: x}\n"}, base=SHOP)
    with pytest.raises(MetadataError) as refused:
        load(app)
    assert "rules.yaml:3" in str(refused.value) and message in str(refused.value)
