"""Workflow rules: record-triggered rules run inside the saving transaction; scheduled rules
run from the worker (see scheduler.py).

A rule fires when its trigger matches and its `if` holds. Its actions (steps.py) run in
order: `set` and `assign` before the write, so that the saved record includes them; the
others after it, in the same transaction (records they save run their own rules, one level
deeper; email and webhooks are queued in the outbox, sent by the worker after commit).

Automation acts with the system's rights on behalf of the user whose save set it off. A
rule that sets itself off, directly or through others, stops at MAX_DEPTH levels: the save
is refused (nothing half-done) and the run log says which rule looped. Every firing writes a
row to the run log (mc_workflow_run): rule, record, what each action did, or the error.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from ..metadata.expressions import EvalError, evaluate, truthy
from ..metadata.model import Action, AppModel, ObjectDef, Workflow
from .errors import (
    CrmError,
    RunLog,
    ValidationFailed,
    WorkflowError,
    WorkflowFailed,
    WorkflowLoop,
)
from .pipeline import RecordEnv, Save, apply_values
from .runtime import Change, Context, Hooks, Runtime
from .steps import StepEnv, assignee, render_values, run_action
from .types import jsonable, now_utc

MAX_DEPTH = 8
BEFORE_WRITE = ("set", "assign")
def filled_on_create(model: AppModel, object_name: str) -> frozenset[str]:
    """The fields a `created` or `saved` rule of the object may set: a form need not ask
    for them (the save still checks that a required one has a value)."""
    return frozenset(name for w in model.workflows.values()
                     if w.object == object_name and w.event in ("created", "saved")
                     for a in w.actions if a.kind == "set" for name in a.params)


# --- the engine -----------------------------------------------------------------------------


class Automation:
    """The record-triggered rules of one runtime, hooked into the record lifecycle."""

    def __init__(self, model: AppModel, hooks: Hooks):
        self.rules: dict[str, list[Workflow]] = {}
        for workflow in model.workflows.values():
            if workflow.event is not None:
                self.rules.setdefault(workflow.object, []).append(workflow)
        for object_name in self.rules:
            hooks.register(object_name, "before_save", self.before_save)
            hooks.register(object_name, "after_create", self.after_save)
            hooks.register(object_name, "after_update", self.after_save)
            hooks.register(object_name, "after_delete", self.after_delete)
        hooks.register("*", "rolled_back", self.rolled_back)

    def rolled_back(self, ctx: Context, error: Exception) -> None:
        """A save a rule refused has rolled back: its run-log entry is written now."""
        if isinstance(error, WorkflowError) and error.run_log is not None:
            log = error.run_log
            log_failure(ctx, log.workflow, log.object, log.record_id, log.trigger,
                        error.message)

    def active(self, ctx: Context, workflow: Workflow) -> bool:
        return is_active(ctx, workflow)

    def before_save(self, save: Save) -> None:
        event = "created" if save.creating else "updated"
        rules = [w for w in self.rules.get(save.obj.name, ())
                 if w.event in (event, "saved") and self.active(save.ctx, w)]
        if not rules:
            return
        if save.ctx.depth >= MAX_DEPTH:
            raise _loop(save.ctx, rules[0], save.obj, save.record.get("id"))
        env = RecordEnv(save.ctx, save.conn, save.obj, save.record, save.old)
        fired = []
        for workflow in rules:
            if workflow.condition is not None and not _holds(workflow, env, save):
                continue
            done = []
            for action in workflow.actions:
                if action.kind in BEFORE_WRITE:
                    done.append(self._before_write(save, workflow, action))
                    env = RecordEnv(save.ctx, save.conn, save.obj, save.record, save.old)
            fired.append((workflow, done))
        save.notes.setdefault("workflows", []).extend(fired)

    def _before_write(self, save: Save, workflow: Workflow, action: Action) -> dict[str, Any]:
        env = RecordEnv(save.ctx, save.conn, save.obj, save.record, save.old)
        if action.kind == "set":
            values = render_values(action.params, env)
        else:
            values = {"owner": assignee(save.ctx, save.conn, workflow, action)}
        errors_before = set(save.errors)
        apply_values(save, values)
        refused = {k: save.errors[k] for k in set(save.errors) - errors_before}
        if refused:
            detail = "; ".join(f"{k}: {e.message}" for k, errs in refused.items() for e in errs)
            raise failed(workflow, save.obj, save.record.get("id"),
                         "created" if save.creating else "updated",
                         f"workflow '{workflow.name}' could not {action.kind} {detail}")
        return {"action": action.kind, "values": {k: jsonable(v) for k, v in values.items()}}

    def after_save(self, change: Change) -> None:
        fired = change.notes.pop("workflows", [])
        for workflow, done in fired:
            self._run_after(change, workflow, done)

    def after_delete(self, change: Change) -> None:
        rules = [w for w in self.rules.get(change.obj.name, ())
                 if w.event == "deleted" and self.active(change.ctx, w)]
        if not rules:
            return
        if change.ctx.depth >= MAX_DEPTH:
            raise _loop(change.ctx, rules[0], change.obj, change.record.get("id"))
        env = RecordEnv(change.ctx, change.conn, change.obj, change.record, None)
        for workflow in rules:
            if workflow.condition is None or truthy(evaluate(workflow.condition, env)):
                self._run_after(change, workflow, [])

    def _run_after(self, change: Change, workflow: Workflow, done: list[dict[str, Any]]
                   ) -> None:
        record = change.record
        env = StepEnv(change.ctx, change.conn, change.obj, record, change.old)
        trigger = change.event
        try:
            for action in workflow.actions:
                if action.kind in BEFORE_WRITE:
                    continue
                done.append(run_action(change.ctx, change.conn, change.obj, env.record, env,
                                       workflow, action))  # as the steps before left it
        except WorkflowLoop:
            raise
        except (ValidationFailed, WorkflowFailed) as exc:
            raise failed(workflow, change.obj, record.get("id"), trigger,
                         f"workflow '{workflow.name}' failed: {exc.message}") from None
        log_run(change.ctx, change.conn, workflow, change.obj.name, record.get("id"),
                trigger, done)


def _holds(workflow: Workflow, env: RecordEnv, save: Save) -> bool:
    try:
        return truthy(evaluate(workflow.condition, env))
    except (EvalError, ArithmeticError, TypeError, ValueError) as exc:
        raise failed(workflow, save.obj, save.record.get("id"), "condition",
                     f"workflow '{workflow.name}': its condition could not be checked: "
                     f"{exc}") from None


def _loop(ctx: Context, workflow: Workflow, obj: ObjectDef, record_id: Any) -> WorkflowLoop:
    return WorkflowLoop(
        f"workflow '{workflow.name}' was set off {MAX_DEPTH} levels deep (rules that trigger "
        f"each other, or a rule that triggers itself); the save was refused",
        run_log=RunLog(workflow.name, obj.name, record_id, "loop"), workflow=workflow.name)


def failed(workflow: Workflow, obj: ObjectDef, record_id: Any, trigger: str,
           message: str) -> WorkflowFailed:
    """A refused save's error, carrying the run-log entry the record service writes once
    the transaction has rolled back."""
    return WorkflowFailed(message, run_log=RunLog(workflow.name, obj.name, record_id, trigger),
                          workflow=workflow.name)


# --- switches and the run log ---------------------------------------------------------------


def is_active(ctx: Context, workflow: Workflow) -> bool:
    """A rule runs when its metadata says `active` and no admin switched it off."""
    if not workflow.active:
        return False
    switches = ctx.runtime.recent.get("workflow_switches", lambda: _switches(ctx.runtime))
    return switches.get(workflow.name, True)


def _switches(rt: Runtime) -> dict[str, bool]:
    table = rt.schema.system["mc_workflow_switch"]
    with rt.db.read() as conn:
        return {r.workflow: r.active for r in conn.execute(select(table))}


def switch(rt: Runtime, name: str, active: bool, user_id: int | None = None) -> None:
    if name not in rt.model.workflows:
        raise CrmError(f"no workflow named '{name}'")
    table = rt.schema.system["mc_workflow_switch"]
    with rt.db.write() as conn:
        conn.execute(table.delete().where(table.c.workflow == name))
        conn.execute(table.insert().values(workflow=name, active=active, user_id=user_id,
                                           at=now_utc()))
    rt.recent.clear()


def log_run(ctx: Context, conn: Connection, workflow: Workflow, object_name: str,
            record_id: Any, trigger: str, done: list[dict[str, Any]]) -> None:
    table = ctx.schema.system["mc_workflow_run"]
    conn.execute(table.insert().values(
        workflow=workflow.name, object=object_name, record_id=record_id, trigger=trigger,
        status="done", actions=json.dumps(done, ensure_ascii=False, default=str),
        user_id=ctx.user.id, at=ctx.now()))


def log_failure(ctx: Context, workflow: str, object_name: str, record_id: Any, trigger: str,
                error: str) -> None:
    """A failed run, written in its own transaction: it stays when the save rolls back."""
    table = ctx.schema.system["mc_workflow_run"]
    with ctx.db.write() as conn:
        conn.execute(table.insert().values(
            workflow=workflow, object=object_name, record_id=record_id, trigger=trigger,
            status="failed", actions="[]", error=error, user_id=ctx.user.id, at=ctx.now()))


def runs(ctx: Context, *, workflow: str | None = None, object_name: str | None = None,
         record_id: int | None = None, status: str | None = None, limit: int = 100
         ) -> list[dict[str, Any]]:
    """The run log, newest first, filtered."""
    table = ctx.schema.system["mc_workflow_run"]
    query = select(table).order_by(table.c.id.desc()).limit(limit)
    for column, value in (("workflow", workflow), ("object", object_name),
                          ("record_id", record_id), ("status", status)):
        if value is not None:
            query = query.where(table.c[column] == value)
    with ctx.db.read() as conn:
        rows = conn.execute(query).mappings().all()
    return [{**row, "actions": json.loads(row["actions"])} for row in rows]


def install(model: AppModel, hooks: Hooks) -> None:
    """The feature: hook the model's record-triggered rules into a snapshot's hooks."""
    if any(w.event for w in model.workflows.values()):
        Automation(model, hooks)


__all__ = ["Automation", "MAX_DEPTH", "WorkflowFailed", "WorkflowLoop", "install",
           "is_active", "runs", "switch"]
