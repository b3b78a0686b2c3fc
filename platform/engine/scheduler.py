"""Scheduled rules: `when: {schedule: {date_field, offset, every, at, catch_up}}`, a holiday,
`after:` N days in a tracked value, or every day, week or month.

The worker calls `run_schedules` every few minutes. For each active scheduled rule it walks
the days since it last ran (catching up after downtime, at most CATCH_UP_DAYS; a new rule
its `catch_up` window, so records already late when it is switched on fire once), finds the
records whose date (plus the offset) falls on that day with an indexed query - a yearly or
monthly rule by the hidden month-day column, so a birthday scan does not read the table -
and fires once per record per occurrence. `simulate` walks the same plan without firing.
The row in mc_schedule_fired, inserted with the rule's actions in one transaction, is what
makes a restart or a second worker skip what is done.
A 29 February anniversary fires on 28 February in common years.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from typing import Any

import holidays
from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..metadata.expressions import EvalError, evaluate, truthy
from ..metadata.model import CATCH_UP_DAYS, Schedule, Workflow
from .errors import CrmError
from .records import recompute_formulas
from .rows import fetch
from .runtime import Context, Runtime
from .schema import ANNIVERSARY
from .steps import StepEnv, run_action
from .workflows import is_active, log_failure, log_run


def month_days(day: date) -> list[int]:
    """The month-day values (MMDD) whose anniversary falls on `day`."""
    values = [day.month * 100 + day.day]
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        values.append(229)
    return values


FIXED_HOLIDAYS = {"valentine": (14, 2), "women": (8, 3), "vietnamese_women": (20, 10),
                  "teachers": (20, 11)}


def is_holiday(name: str, day: date) -> bool:
    """Tết (the Lunar New Year, from the holidays package's Vietnamese calendar), the fixed
    days Vietnamese businesses greet customers on, or any "DD/MM"."""
    if name == "tet":
        names = holidays.country_holidays("VN", years=day.year).get_list(day)
        return any(n == "Lunar New Year" for n in names)
    day_month = FIXED_HOLIDAYS.get(name)
    if day_month is None:
        first, second = name.split("/")
        day_month = (int(first), int(second))
    return (day.day, day.month) == day_month


def due_day(schedule: Schedule, day: date) -> bool:
    """Is `day` an occurrence of a rule that repeats with no date of its own?"""
    return not ((schedule.every == "week" and day.weekday() != 0) or (
        schedule.every == "month" and day.day != 1))


def due_ids(ctx: Context, conn: Connection, workflow: Workflow, day: date) -> list[int]:
    """Ids of the records whose occurrence of `workflow` falls on `day`."""
    schedule: Schedule = workflow.schedule  # type: ignore[assignment]
    obj = ctx.model.objects[workflow.object]
    table = ctx.schema.table(obj.name)
    if schedule.holiday is not None:  # every record, on the holiday (the `if` chooses)
        if not is_holiday(schedule.holiday, day):
            return []
        return list(conn.scalars(select(table.c.id).order_by(table.c.id)))
    if schedule.date_field is None:  # every day, week (Mondays) or month (the 1st)
        if not due_day(schedule, day):
            return []
        return list(conn.scalars(select(table.c.id).order_by(table.c.id)))
    target = day - timedelta(days=schedule.offset_days)
    if schedule.every == "year":
        column = table.c[ANNIVERSARY + schedule.date_field]
        condition = column.in_(month_days(target))
    elif schedule.every == "month":  # the same day of every month; the 31st at a month's end
        column = table.c[ANNIVERSARY + schedule.date_field]
        last = calendar.monthrange(target.year, target.month)[1]
        condition = (column % 100 >= target.day) if target.day == last else (
            column % 100 == target.day)
        start = table.c[schedule.date_field]
        condition = condition & (start <= target)
    elif obj.fields[schedule.date_field].kind.value == "datetime":
        start = datetime.combine(target, time.min, ctx.tz)
        column = table.c[schedule.date_field]
        condition = (column >= start) & (column < start + timedelta(days=1))
    else:
        condition = table.c[schedule.date_field] == target
    return list(conn.scalars(select(table.c.id).where(condition).order_by(table.c.id)))


def _claim(conn: Connection, ctx: Context, workflow: Workflow, record_id: int,
           occurrence: date) -> bool:
    """Mark this occurrence as fired; False when someone fired it already."""
    fired = ctx.schema.system["mc_schedule_fired"]
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    result = conn.execute(insert(fired).values(
        workflow=workflow.name, record_id=record_id, occurrence=occurrence, at=ctx.now()
    ).on_conflict_do_nothing().returning(fired.c.record_id))
    return result.first() is not None  # (rowcount is not reliable here on psycopg)


def fire(ctx: Context, workflow: Workflow, record_id: int, occurrence: date) -> bool:
    """Run the rule for one record and occurrence, once. True when it ran now."""
    obj = ctx.model.objects[workflow.object]
    try:
        with ctx.db.write() as conn:
            record = fetch(conn, ctx.schema.table(obj.name), obj, record_id)
            if record is None:
                return False
            env = StepEnv(ctx, conn, obj, record, None)
            if workflow.condition is not None and not truthy(evaluate(workflow.condition,
                                                                      env)):
                return False
            if not _claim(conn, ctx, workflow, record_id, occurrence):
                return False
            done = [run_action(ctx, conn, obj, env.record, env, workflow, action)
                    for action in workflow.actions]  # env.record: as the steps before left it
            log_run(ctx, conn, workflow, obj.name, record_id, "schedule", done)
            return True
    except (CrmError, EvalError, ArithmeticError, TypeError, ValueError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        log_failure(ctx, workflow.name, obj.name, record_id, "schedule", message)
        return False


def _days(ctx: Context, conn: Connection, workflow: Workflow, now: datetime) -> list[date]:
    local = now.astimezone(ctx.tz)
    today = local.date()
    schedule: Schedule = workflow.schedule  # type: ignore[assignment]
    if schedule.at:
        hour, minute = (int(x) for x in schedule.at.split(":"))
        if local.time() < time(hour, minute):
            today -= timedelta(days=1)  # not yet time today
    state = ctx.schema.system["mc_schedule_state"]
    last = conn.execute(select(state.c.last_day).where(state.c.workflow == workflow.name)
                        ).scalar()
    # a new rule catches up the occurrences of its last `catch_up` days (catch_up: false,
    # none: it starts today); a running one the days since its last round, a month at most
    window = max(schedule.catch_up, 1) if last is None else CATCH_UP_DAYS
    start = max(today - timedelta(days=window - 1),
                last + timedelta(days=1) if last is not None else today - timedelta(days=window))
    return [start + timedelta(days=i) for i in range((today - start).days + 1)]


def _done(ctx: Context, workflow: Workflow, day: date) -> None:
    state = ctx.schema.system["mc_schedule_state"]
    with ctx.db.write() as conn:
        updated = conn.execute(state.update().where(state.c.workflow == workflow.name)
                               .values(last_day=day))
        if updated.rowcount == 0:
            conn.execute(state.insert().values(workflow=workflow.name, last_day=day))


def due(ctx: Context, workflow: Workflow, now: datetime) -> list[tuple[date, list[int]]]:
    """What the next round of a scheduled rule walks: each day since its last round (or its
    catch-up window), with the records whose occurrence falls then and has not fired."""
    fired = ctx.schema.system["mc_schedule_fired"]
    schedule: Schedule = workflow.schedule  # type: ignore[assignment]
    out = []
    with ctx.db.read() as conn:
        days = _days(ctx, conn, workflow, now)
        if schedule.date_field is None and schedule.holiday is None:
            # every day, week or month: the latest occurrence only (a daily reminder does
            # not repeat itself for the days the worker was down)
            days = [d for d in days if due_day(schedule, d)][-1:]
        for day in days:
            ids = due_ids(ctx, conn, workflow, day)
            done = set(conn.scalars(select(fired.c.record_id).where(
                fired.c.workflow == workflow.name, fired.c.occurrence == day))) if ids else set()
            out.append((day, [i for i in ids if i not in done]))
    return out


def run_schedules(rt: Runtime, *, now: datetime | None = None) -> dict[str, int]:
    """Fire every scheduled rule that is due; {rule: how many records it fired for}."""
    ctx = rt.system_context()
    now = now or rt.clock()
    fired: dict[str, int] = {}
    for workflow in rt.model.workflows.values():
        if workflow.schedule is None or not is_active(ctx, workflow):
            continue
        for day, ids in due(ctx, workflow, now):
            fired[workflow.name] = fired.get(workflow.name, 0) + sum(
                fire(ctx, workflow, record_id, day) for record_id in ids)
            _done(ctx, workflow, day)
    return fired


def simulate(rt: Runtime, name: str, *, examples: int = 5,
             now: datetime | None = None) -> dict[str, Any]:
    """What a rule would do, changing nothing. A scheduled rule: exactly what the worker's
    next round would fire, record by record and day by day (its `if` checked); a
    record-triggered rule: the records it would fire for if each were saved as it is."""
    workflow = rt.model.workflows.get(name)
    if workflow is None:
        raise CrmError(f"no workflow named '{name}' (workflows: "
                       f"{', '.join(sorted(rt.model.workflows)) or 'none'})")
    ctx = rt.system_context()
    obj = ctx.model.objects[workflow.object]
    table = ctx.schema.table(obj.name)
    with rt.db.read() as conn:
        if workflow.schedule is not None:
            active = is_active(ctx, workflow)
            planned = [(fetch(conn, table, obj, record_id), f" ({day:%d/%m/%Y})")
                       for day, ids in (due(ctx, workflow, now or rt.clock()) if active
                                        else []) for record_id in ids]
            return {**_tally(ctx, conn, workflow, planned, examples), "active": active}
        return _tally(ctx, conn, workflow, _every_record(conn, table), examples)


def _every_record(conn: Connection, table: Any) -> Any:
    last = 0
    while True:
        rows = conn.execute(select(table).where(table.c.id > last).order_by(table.c.id)
                            .limit(1000)).mappings().all()
        if not rows:
            return
        for row in rows:
            yield {k: v for k, v in row.items() if not k.startswith("_")}, ""
        last = rows[-1]["id"]


def _tally(ctx: Context, conn: Connection, workflow: Workflow, candidates: Any,
           examples: int) -> dict[str, Any]:
    """How many of the (record, note) candidates the rule's `if` takes, with examples."""
    obj = ctx.model.objects[workflow.object]
    matched, checked, errors, sample = 0, 0, 0, []
    for record, note in candidates:
        if record is None:
            continue
        checked += 1
        env = StepEnv(ctx, conn, obj, record, None)  # as if just created
        try:
            ok = workflow.condition is None or truthy(evaluate(workflow.condition, env))
        except (EvalError, ArithmeticError, TypeError, ValueError):
            errors += 1
            continue
        if ok:
            matched += 1
            if len(sample) < examples:
                sample.append((record["id"], obj.title_of(record) + note))
    return {"workflow": workflow.name, "object": obj.name, "checked": checked,
            "would_fire": matched, "errors": errors, "examples": sample}


def _reads_the_clock(expression: Any) -> bool:
    return any(call.func in ("today", "now") for call in expression.calls())


def refresh_formulas(rt: Runtime, *, now: datetime | None = None) -> dict[str, int]:
    """Once a day, recompute stored formulas that read today() or now() (an age goes up on
    a birthday). Only changed values are written; no version bump, no audit row (nobody
    changed the record). {object: records changed}."""
    ctx = rt.system_context()
    today = (now or rt.clock()).astimezone(rt.tz).date()
    state = rt.schema.system["mc_schedule_state"]
    changed: dict[str, int] = {}
    for obj in rt.model.objects.values():
        if not any(f.expression is not None and _reads_the_clock(f.expression)
                   for f in obj.fields.values() if f.type == "formula"):
            continue
        key = f"formulas:{obj.name}"[:63]
        with rt.db.read() as conn:
            last = conn.execute(select(state.c.last_day).where(state.c.workflow == key)
                                ).scalar()
        if last is not None and last >= today:
            continue
        count = recompute_formulas(ctx, obj)
        changed[obj.name] = count
        with rt.db.write() as conn:
            if conn.execute(state.update().where(state.c.workflow == key)
                            .values(last_day=today)).rowcount == 0:
                conn.execute(state.insert().values(workflow=key, last_day=today))
    return changed
