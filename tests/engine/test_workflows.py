"""Workflow rules: record-triggered actions in the saving transaction, loops stopped, round
robin, notifications, scheduled rules once per occurrence, simulation and switches."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from metacrm.engine import records, workflows
from metacrm.engine.boot import new_runtime
from metacrm.engine.errors import WorkflowLoop
from metacrm.engine.runtime import Runtime
from metacrm.engine.scheduler import is_holiday, month_days, run_schedules, simulate
from metacrm.engine.users import add_to_team, create_team, create_user

APP = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "automation"


class Clock:
    """A clock the test moves: the runtime asks it for `now`."""

    def __init__(self, when: datetime):
        self.when = when

    def __call__(self) -> datetime:
        return self.when


@pytest.fixture
def clock():
    return Clock(datetime(2027, 2, 27, 2, 0, tzinfo=UTC))  # 09:00 in Hà Nội


@pytest.fixture
def auto(make_runtime, clock):
    rt = make_runtime(APP, clock=clock)
    with rt.db.write() as conn:
        people = {name: create_user(conn, rt.schema, name, role="admin",
                                    email=f"{name}@example.vn")
                  for name in ("admin", "an", "binh", "chi", "boss")}
        team = create_team(conn, rt.schema, "Hỗ trợ", manager_id=people["boss"].id)
        for name in ("an", "binh", "chi"):
            add_to_team(conn, rt.schema, team, people[name].id)
    return rt, {name: rt.context(user) for name, user in people.items()}


def table_rows(rt: Runtime, name: str) -> list[dict]:
    table = rt.schema.system[name] if name in rt.schema.system else rt.schema.table(name)
    with rt.db.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(sa.text("1")))
                .mappings()]


def test_a_rule_sets_creates_and_queues_in_the_same_save(auto, clock):
    rt, people = auto
    ctx = people["admin"]
    customer = records.create(ctx, "customer", {"name": "Lan", "email": "lan@x.vn"})
    assert table_rows(rt, "task") == [] and table_rows(rt, "mc_outbox") == []
    saved = records.update(ctx, "customer", customer["id"], {"tier": "vip"})
    assert saved["score"] == 100  # `set` applied before the write: the answer has it
    assert records.get(ctx, "customer", customer["id"])["score"] == 100
    [task] = table_rows(rt, "task")
    assert task["subject"] == "Welcome Lan" and task["customer"] == customer["id"]
    assert task["due_date"] == date(2027, 3, 1)  # today (27/2 in Hà Nội) + 2
    outbox = {row["kind"]: json.loads(row["payload"]) for row in table_rows(rt, "mc_outbox")}
    assert outbox["email"] == {"to": ["lan@x.vn"], "cc": [], "subject": "Chào mừng Lan",
                               "body": "Xin chào Lan, bạn là khách VIP."}
    assert outbox["webhook"]["body"]["record"] == {"name": "Lan", "tier": "vip", "score": 100}
    [run] = workflows.runs(ctx, workflow="vip_welcome")
    assert run["status"] == "done" and [a["action"] for a in run["actions"]] == [
        "set", "create", "email", "webhook"]
    records.update(ctx, "customer", customer["id"], {"name": "Lan Anh"})
    assert len(table_rows(rt, "task")) == 1  # tier did not change: no second firing


def test_a_failing_action_refuses_the_whole_save(auto):
    rt, people = auto
    ctx = people["admin"]
    customer = records.create(ctx, "customer", {"name": "Bình", "email": "b@x.vn"})
    with rt.db.write() as conn:  # make the rule's task insert impossible: a unique clash
        conn.execute(sa.text("CREATE UNIQUE INDEX only_one_task ON task (subject)"))
        conn.execute(sa.text("INSERT INTO task (subject, version) VALUES ('Welcome Bình', 1)"))
    with pytest.raises(workflows.WorkflowFailed, match="workflow 'vip_welcome' failed"):
        records.update(ctx, "customer", customer["id"], {"tier": "vip"})
    assert records.get(ctx, "customer", customer["id"])["tier"] == "regular"
    assert table_rows(rt, "mc_outbox") == []
    [run] = workflows.runs(ctx, workflow="vip_welcome", status="failed")
    assert run["record_id"] == customer["id"] and "same value" in run["error"]


def test_a_self_triggering_rule_stops_with_a_clear_error(auto):
    rt, people = auto
    ctx = people["admin"]
    with pytest.raises(WorkflowLoop, match="endless.*levels deep"):
        records.create(ctx, "chain", {"name": "start"})
    assert table_rows(rt, "chain") == []  # refused, as documented: nothing half-done
    [failed] = workflows.runs(ctx, workflow="endless", status="failed")
    assert "levels deep" in failed["error"]


def test_round_robin_assignment_is_fair(auto):
    rt, people = auto
    owners = [records.create(people["admin"], "ticket", {"subject": f"T{i}"})["owner"]
              for i in range(6)]
    names = {people[n].user.id: n for n in ("an", "binh", "chi")}
    assert [names[o] for o in owners] == ["an", "binh", "chi", "an", "binh", "chi"]


def test_notify_and_update_a_related_record(auto):
    rt, people = auto
    ctx = people["admin"]
    customer = records.create(ctx, "customer", {"name": "Chi"})
    ticket = records.create(ctx, "ticket", {"subject": "Máy kêu to", "customer": customer["id"]})
    notes = table_rows(rt, "mc_notification")
    assert [(n["user_id"], n["message"]) for n in notes] == [(ticket["owner"],
                                                             "New ticket Máy kêu to")]
    assert records.get(ctx, "customer", customer["id"])["status"] == "active"


def test_a_delete_rule_sees_the_deleted_values(auto):
    rt, people = auto
    ctx = people["admin"]
    customer = records.create(ctx, "customer", {"name": "Dũng", "email": "d@x.vn"})
    records.delete(ctx, "customer", customer["id"])
    [message] = [json.loads(r["payload"]) for r in table_rows(rt, "mc_outbox")]
    assert message["subject"] == "Tạm biệt" and message["body"] == "Hẹn gặp lại Dũng"


def test_switching_a_rule_off_and_on(auto):
    rt, people = auto
    ctx = people["admin"]
    workflows.switch(rt, "spread_tickets", False)
    assert records.create(ctx, "ticket", {"subject": "x"})["owner"] == ctx.user.id
    workflows.switch(rt, "spread_tickets", True)
    assert records.create(ctx, "ticket", {"subject": "y"})["owner"] == people["an"].user.id


def test_month_days_put_29_february_on_28_february_in_common_years():
    assert month_days(date(2027, 2, 28)) == [228, 229]
    assert month_days(date(2028, 2, 28)) == [228]
    assert month_days(date(2028, 2, 29)) == [229]


def test_holidays_include_tet_from_the_vietnamese_calendar():
    assert is_holiday("tet", date(2027, 2, 6)) and not is_holiday("tet", date(2027, 2, 9))
    assert is_holiday("women", date(2027, 3, 8)) and is_holiday("20/11", date(2027, 11, 20))


def test_birthdays_three_days_with_restarts_once_each(make_runtime, auto, clock, prepared_url):
    rt, people = auto
    ctx = people["admin"]
    for name, born in [("Feb 28", "1990-02-28"), ("Feb 29", "1992-02-29"),
                       ("Mar 1", "1985-03-01"), ("Not VIP", "1980-02-28")]:
        records.create(ctx, "customer", {"name": name, "birthdate": born,
                                         "tier": "regular" if name == "Not VIP" else "vip"})
    tasks_before = len(table_rows(rt, "task"))  # the VIP welcome tasks
    by_day = {}
    for day in (27, 28, 29):  # 27/2, 28/2, 1/3 of 2027, a common year
        when = datetime(2027, 2, 27, 2, 0, tzinfo=UTC) + timedelta(days=day - 27)
        for _ in range(2):  # a restart: a new runtime on the same database, run twice
            restarted = new_runtime(model=rt.model, db=rt.db, schema=rt.schema,
                                    clock=Clock(when))
            run_schedules(restarted)
        by_day[when.date()] = sorted(t["subject"] for t in table_rows(rt, "task")
                                     if t["subject"].startswith("Sinh nhật"))
    assert by_day[date(2027, 2, 27)] == []
    assert by_day[date(2027, 2, 28)] == ["Sinh nhật Feb 28", "Sinh nhật Feb 29"]
    assert by_day[date(2027, 3, 1)] == ["Sinh nhật Feb 28", "Sinh nhật Feb 29",
                                        "Sinh nhật Mar 1"]
    assert len(table_rows(rt, "task")) == tasks_before + 3


def test_schedules_wait_for_their_hour_and_catch_up_after_downtime(auto):
    rt, people = auto
    ctx = people["admin"]
    records.create(ctx, "customer", {"name": "Sớm", "birthdate": "1990-03-02", "tier": "vip"})
    records.create(ctx, "customer", {"name": "Muộn", "birthdate": "1990-03-04", "tier": "vip"})
    early = new_runtime(model=rt.model, db=rt.db, schema=rt.schema,
                        clock=Clock(datetime(2027, 3, 1, 23, 30, tzinfo=UTC)))  # 06:30, 2/3
    run_schedules(early)  # 2/3 before 08:00: not yet
    assert not [t for t in table_rows(rt, "task") if t["subject"].startswith("Sinh nhật")]
    later = new_runtime(model=rt.model, db=rt.db, schema=rt.schema,
                        clock=Clock(datetime(2027, 3, 5, 3, 0, tzinfo=UTC)))  # 10:00, 5/3
    assert run_schedules(later)["birthday"] == 2  # 2/3 and 4/3 caught up


def test_escalation_a_day_after_the_due_date_to_the_team_manager(auto):
    rt, people = auto
    ticket = records.create(people["admin"], "ticket", {"subject": "Rò nước",
                                                        "due": "2027-03-01"})
    assert ticket["owner"] == people["an"].user.id
    run_schedules(new_runtime(model=rt.model, db=rt.db, schema=rt.schema,
                              clock=Clock(datetime(2027, 3, 2, 3, 0, tzinfo=UTC))))
    notes = [n for n in table_rows(rt, "mc_notification") if "quá hạn" in n["message"]]
    assert [(n["user_id"], n["message"]) for n in notes] == [
        (people["boss"].user.id, "Phiếu Rò nước quá hạn")]


def test_holiday_greeting_on_women_day(auto):
    rt, people = auto
    records.create(people["admin"], "customer", {"name": "Hoa", "email": "hoa@x.vn"})
    records.create(people["admin"], "customer", {"name": "Không email"})
    run_schedules(new_runtime(model=rt.model, db=rt.db, schema=rt.schema,
                              clock=Clock(datetime(2027, 3, 8, 3, 0, tzinfo=UTC))))
    emails = [json.loads(r["payload"]) for r in table_rows(rt, "mc_outbox")]
    assert [e["body"] for e in emails if e["subject"] == "Chúc mừng 8/3"] == [
        "Chúc Hoa ngày 8/3 vui vẻ"]


def test_simulation_counts_without_side_effects(auto):
    rt, people = auto
    for i in range(5):
        records.create(people["admin"], "customer", {"name": f"K{i}", "email": f"k{i}@x.vn"})
    records.create(people["admin"], "customer", {"name": "Không"})
    before = (len(table_rows(rt, "mc_outbox")), len(table_rows(rt, "task")))
    result = simulate(rt, "women_day", now=datetime(2027, 3, 8, 3, 0, tzinfo=UTC))
    assert (result["checked"], result["would_fire"]) == (6, 5)
    assert [title for _, title in result["examples"]][:2] == ["K0 (08/03/2027)",
                                                              "K1 (08/03/2027)"]
    # the next round: nothing on 1 March (8/3 is still to come)
    assert simulate(rt, "women_day", now=datetime(2027, 3, 1, 3, 0, tzinfo=UTC))[
        "would_fire"] == 0
    assert (len(table_rows(rt, "mc_outbox")), len(table_rows(rt, "task"))) == before

