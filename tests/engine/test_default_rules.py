"""The default CRM's own rules, on its own objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from metacrm.engine import query, records
from metacrm.engine.boot import new_runtime
from metacrm.engine.scheduler import run_schedules
from metacrm.engine.users import add_to_team, create_team, create_user


def test_a_won_opportunity_makes_its_contact_a_customer(ctx):
    contact = records.create(ctx, "contact", {"last_name": "Hồ", "email": "ho@x.vn"})
    deal = records.create(ctx, "opportunity", {"name": "Máy lọc", "contact": contact["id"]})
    assert records.get(ctx, "contact", contact["id"])["lifecycle_stage"] == "subscriber"
    records.update(ctx, "opportunity", deal["id"], {"stage": "won"})
    assert records.get(ctx, "contact", contact["id"])["lifecycle_stage"] == "customer"


def test_contracts_ending_in_thirty_days_get_a_renewal_task(runtime, ctx):
    account = records.create(ctx, "account", {"name": "Công ty Hải Âu"})
    contract = records.create(ctx, "contract", {"name": "Bảo trì", "account": account["id"],
                                                "start_date": "2026-04-08",
                                                "end_date": "2027-04-07"})
    day = new_runtime(model=runtime.model, db=runtime.db, schema=runtime.schema,
                      clock=lambda: datetime(2027, 3, 8, 3, 0, tzinfo=UTC))  # 30 days before
    assert run_schedules(day)["contract_renewal"] == 1
    tasks = query.list_records(ctx, "task", query.ListQuery(search="gia han")).items
    assert [t["subject"] for t in tasks] == [f"Gia hạn hợp đồng {contract['number']}"]


def test_an_overdue_case_goes_to_the_owners_team_manager(runtime, ctx):
    with runtime.db.write() as conn:
        agent = create_user(conn, runtime.schema, "ngoc", role="support_agent")
        chief = create_user(conn, runtime.schema, "mai", role="admin")
        team = create_team(conn, runtime.schema, "CSKH", manager_id=chief.id)
        add_to_team(conn, runtime.schema, team, agent.id)
    records.create(ctx, "case", {"subject": "Máy không lên nguồn", "owner": agent.id,
                                 "due_date": "2027-03-07"})
    day = new_runtime(model=runtime.model, db=runtime.db, schema=runtime.schema,
                      clock=lambda: datetime(2027, 3, 8, 3, 0, tzinfo=UTC))
    assert run_schedules(day)["case_sla_escalation"] == 1
    table = runtime.schema.system["mc_notification"]
    with runtime.db.read() as conn:
        rows = conn.execute(sa.select(table.c.user_id, table.c.message)).all()
    assert [(r.user_id, "quá hạn" in r.message) for r in rows] == [(chief.id, True)]


def test_a_deal_stalled_in_its_stage_for_two_weeks_gets_a_task(runtime, ctx):
    start = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
    day = new_runtime(model=runtime.model, db=runtime.db, schema=runtime.schema,
                      clock=lambda: start)
    deal = records.create(day.context(ctx.user), "opportunity", {"name": "Máy lọc RO",
                                                                 "stage": "proposal"})
    assert deal["stage_changed_at"] == start
    later = new_runtime(model=runtime.model, db=runtime.db, schema=runtime.schema,
                        clock=lambda: start + timedelta(days=14, hours=1))
    assert run_schedules(later)["stalled_opportunity"] == 1
    tasks = query.list_records(ctx, "task", query.ListQuery()).items
    assert [t["related_opportunity"] for t in tasks] == [deal["id"]]
    assert "Gửi đề xuất 14 ngày" in tasks[0]["subject"]
