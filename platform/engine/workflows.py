"""Workflow rules: record-triggered rules run inside the saving transaction; scheduled rules
run from the worker (see scheduler.py).

A rule fires when its trigger matches and its `if` holds. Its actions run in order:

    set, assign      before the write, so that the saved record includes them
    create, update   through the record service (their own rules run, one level deeper)
    email, webhook   queued in the outbox, in the same transaction; the worker sends them
    notify           an in-app notification for users

Automation acts with the system's rights on behalf of the user whose save set it off. A
rule that sets itself off, directly or through others, stops at MAX_DEPTH levels: the save
is refused (nothing half-done) and the run log says which rule looped. Every firing writes a
row to the run log (mc_workflow_run): rule, record, what each action did, or the error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from ..metadata.expressions import EvalError, evaluate, parse_once, truthy
from ..metadata.model import Action, AppModel, ObjectDef, Workflow, is_translated
from . import notices, records
from .errors import (
    CrmError,
    RunLog,
    ValidationFailed,
    WorkflowError,
    WorkflowFailed,
    WorkflowLoop,
)
from .pipeline import RecordEnv, Save, apply_values
from .rows import fetch, next_sequence
from .runtime import Change, Context, Hooks, Runtime
from .text import is_digits
from .types import jsonable, now_utc
from .users import find_user, user_emails

MAX_DEPTH = 8
BEFORE_WRITE = ("set", "assign")
_WHOLE = re.compile(r"^\{([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)\}$")
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)\}")


# --- values ---------------------------------------------------------------------------------


def render(value: Any, env: RecordEnv) -> Any:
    """A value of an action: a literal, a `{field}` template (a lone placeholder keeps its
    type: `"{holder}"` is the holder's id; in a text, values are written as people read
    them: `{stage}` its label, `{account}` its title, `{owner}` or `{account.owner.name}` a
    name, amounts and dates the app language's way), an `=expression`, or a text in
    several languages (`{en: "Call {name}", vi: "Gọi {name}"}`), in the app's language."""
    if is_translated(value):
        value = value.get(env.ctx.model.locale) or value.get("en") or next(iter(value.values()))
    if not isinstance(value, str):
        return value
    if value.startswith("="):
        return evaluate(parse_once(value[1:]), env)
    whole = _WHOLE.match(value)
    if whole:
        return env.value(tuple(whole.group(1).split(".")))
    return PLACEHOLDER.sub(lambda m: env.words(tuple(m.group(1).split("."))), value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.strftime("%d/%m/%Y") if not isinstance(value, datetime) else \
            value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def filled_on_create(model: AppModel, object_name: str) -> frozenset[str]:
    """The fields a `created` or `saved` rule of the object may set: a form need not ask
    for them (the save still checks that a required one has a value)."""
    return frozenset(name for w in model.workflows.values()
                     if w.object == object_name and w.event in ("created", "saved")
                     for a in w.actions if a.kind == "set" for name in a.params)


def render_values(values: Mapping[str, Any], env: RecordEnv) -> dict[str, Any]:
    return {name: render(value, env) for name, value in values.items()}


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
        env = RecordEnv(change.ctx, change.conn, change.obj, record, change.old)
        trigger = change.event
        try:
            for action in workflow.actions:
                if action.kind in BEFORE_WRITE:
                    continue
                done.append(run_action(change.ctx, change.conn, change.obj, record, env,
                                       workflow, action))
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


def run_action(ctx: Context, conn: Connection, obj: ObjectDef, record: dict[str, Any],
               env: RecordEnv, workflow: Workflow, action: Action, *,
               acting: Context | None = None) -> dict[str, Any]:
    """One after-write action (or any action of a scheduled rule, or a step of a record
    action); what it did, as JSON. Records are saved as `acting` (a record action: the
    user who runs it), by default with the system's rights (automation)."""
    params = action.params
    deeper = acting or ctx.automation()
    if action.kind == "create":
        if "if" in params and not truthy(evaluate(parse_once(params["if"]), env)):
            return {"action": "create", "object": params["object"],
                    "skipped": f"its condition does not hold: {params['if']}"}
        values = render_values(params.get("values", {}), env)
        created = records.create(deeper, params["object"], values, conn=conn)
        return {"action": "create", "object": params["object"], "id": created["id"],
                **({"as": params["as"]} if "as" in params else {})}
    if action.kind == "update":
        lookup = params["record"].strip("{} ")
        target_id = record.get(lookup)
        target = obj.fields[lookup].to or ""
        if target_id is None:
            return {"action": "update", "object": target, "skipped": f"{lookup} is blank"}
        values = render_values(params["values"], env)
        records.update(deeper, target, target_id, values, conn=conn)
        return {"action": "update", "object": target, "id": target_id}
    if action.kind in ("set", "assign"):  # a scheduled rule changes its record
        values = (render_values(params, env) if action.kind == "set"
                  else {"owner": assignee(ctx, conn, workflow, action)})
        records.update(deeper, obj.name, record["id"], values, conn=conn)
        return {"action": action.kind, "values": {k: jsonable(v) for k, v in values.items()}}
    if action.kind == "email":
        return queue_email(ctx, conn, obj, record, env, workflow, params)
    if action.kind == "webhook":
        return queue_webhook(ctx, conn, obj, record, env, workflow, params)
    if action.kind == "notify":
        return notify(ctx, conn, obj, record, env, params)
    raise WorkflowFailed(f"workflow '{workflow.name}': unknown action '{action.kind}'")


# --- outbox, notifications, assignment -----------------------------------------------------


def _recipients(ctx: Context, conn: Connection, obj: ObjectDef, env: RecordEnv,
                spec: Any) -> tuple[list[str], list[str]]:
    """(addresses, why the others gave none) of an email's `to` or `cc`: comma-separated
    addresses, user names and team names (their members), and placeholders of the record:
    `{email}` (its text), `{owner}` (a user field: the user's email), `{account}` (a lookup:
    that record's email), `{account.owner}` (through lookups). Users' emails are read in
    one query."""
    found: list[tuple[str, list[str], list[int]]] = []  # (what, addresses, user ids)
    missing: list[str] = []
    for part in re.split(r"[,;]", str(spec or "")):
        part = part.strip()
        whole = _WHOLE.match(part)
        if not part:
            continue
        if whole is None:
            found.append((f"'{part}' is no address, user or team with an email",
                          *_addresses(ctx, conn, _text(render(part, env)))))
            continue
        path = tuple(whole.group(1).split("."))
        fdef = ctx.model.resolve_path(obj.name, path)
        value = env.value(path)
        if fdef is None or value is None or value == "":
            missing.append(f"{whole.group(1)} is blank")
        elif fdef.kind.refers == "user":
            found.append((f"{whole.group(1)} has no email", [], [value]))
        elif fdef.kind.refers == "record":
            found.append((f"{whole.group(1)} has no email",
                          _record_email(ctx, conn, fdef.to or "", value), []))
        else:
            found.append((f"{whole.group(1)} has no email", *_addresses(ctx, conn, _text(value))))
    emails = user_emails(conn, ctx.schema, (i for _, _, ids in found for i in ids))
    out: list[str] = []
    for why, addresses, ids in found:
        reached = addresses + [emails[i] for i in ids if i in emails]
        out += reached
        if not reached:
            missing.append(why)
    return list(dict.fromkeys(out)), missing


def _addresses(ctx: Context, conn: Connection, text: str) -> tuple[list[str], list[int]]:
    """(emails as written, the ids of the users and team members named) in `text`."""
    addresses, ids = [], []
    for part in re.split(r"[,;]", text):
        part = part.strip()
        if "@" in part:
            addresses.append(part)
        elif part:
            ids += _user_ids(ctx, conn, part)
    return addresses, ids


def _record_email(ctx: Context, conn: Connection, object_name: str, record_id: Any
                  ) -> list[str]:
    """The first email of a record (its first email field with a value)."""
    obj = ctx.model.objects.get(object_name)
    row = fetch(conn, ctx.schema.table(object_name), obj, int(record_id)) if obj else None
    emails = [row.get(f.name) for f in obj.fields.values() if f.kind.looks == "email"] \
        if obj and row else []
    return [e for e in emails if e][:1]


def queue_email(ctx: Context, conn: Connection, obj: ObjectDef, record: dict[str, Any],
                env: RecordEnv, workflow: Workflow, params: Mapping[str, Any]
                ) -> dict[str, Any]:
    to, missing = _recipients(ctx, conn, obj, env, params["to"])
    if not to:
        return {"action": "email", "skipped": "no address to send to: " + "; ".join(
            missing or ["'to' is empty"])}
    cc, _ = _recipients(ctx, conn, obj, env, params.get("cc", ""))
    body = params.get("body", "")
    if params.get("template"):
        path = Path(ctx.model.root) / "emails" / f"{params['template']}.txt"
        body = path.read_text(encoding="utf-8") if path.is_file() else body
    payload = {"to": to, "cc": cc, "subject": _text(render(params["subject"], env)),
               "body": _text(render(body, env))}
    outbox_id = enqueue(ctx, conn, "email", payload, workflow.name, obj.name, record.get("id"))
    return {"action": "email", "to": to, "outbox": outbox_id}


def queue_webhook(ctx: Context, conn: Connection, obj: ObjectDef, record: dict[str, Any],
                  env: RecordEnv, workflow: Workflow, params: Mapping[str, Any]
                  ) -> dict[str, Any]:
    fields = params.get("payload") or [f for f in obj.fields]
    data = {f: jsonable(env.value(tuple(f.split(".")))) for f in fields}
    payload = {"url": _text(render(params["url"], env)), "method": params.get("method", "POST"),
               "body": {"workflow": workflow.name, "object": obj.name, "id": record.get("id"),
                        "record": data}}
    outbox_id = enqueue(ctx, conn, "webhook", payload, workflow.name, obj.name,
                        record.get("id"))
    return {"action": "webhook", "url": payload["url"], "outbox": outbox_id}


def enqueue(ctx: Context, conn: Connection, kind: str, payload: dict[str, Any],
            workflow: str | None, object_name: str | None, record_id: Any) -> int:
    outbox = ctx.schema.system["mc_outbox"]
    now = ctx.now()
    return conn.execute(outbox.insert().values(
        kind=kind, payload=json.dumps(payload, ensure_ascii=False, default=str),
        status="pending", attempts=0, next_attempt_at=now, workflow=workflow,
        object=object_name, record_id=record_id, created_at=now)).inserted_primary_key[0]


def _user_ids(ctx: Context, conn: Connection, target: Any) -> list[int]:
    """Users named by a notify `to`: a user id, a user name, or a team (its members)."""
    if isinstance(target, int):
        return [target]
    users = []
    for part in re.split(r"[,;]", str(target or "")):
        part = part.strip()
        if not part:
            continue
        if is_digits(part):
            users.append(int(part))
            continue
        user = find_user(conn, ctx.schema, part)
        if user is not None:
            users.append(user.id)
            continue
        teams = ctx.schema.system["mc_team"]
        members = ctx.schema.system["mc_team_member"]
        team = conn.execute(select(teams).where(teams.c.name == part)).first()
        if team is not None:
            users += list(conn.scalars(select(members.c.user_id).where(
                members.c.team_id == team.id)))
    return sorted(set(users))


def notify(ctx: Context, conn: Connection, obj: ObjectDef, record: dict[str, Any],
           env: RecordEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    users = _user_ids(ctx, conn, render(params["to"], env))
    if params.get("manager"):  # escalate: to the managers of those users' teams
        users = sorted({m for u in users if (m := team_manager(ctx, conn, u)) is not None})
    text = _text(render(params["message"], env))
    link = f"/o/{obj.name}/{record.get('id')}" if record.get("id") else None
    notices.notify(ctx, conn, users, text, link)
    return {"action": "notify", "users": users}


def team_manager(ctx: Context, conn: Connection, user_id: Any) -> int | None:
    """The manager of the first team the user belongs to."""
    teams = ctx.schema.system["mc_team"]
    members = ctx.schema.system["mc_team_member"]
    row = conn.execute(select(teams.c.manager_id).join(members, members.c.team_id == teams.c.id)
                       .where(members.c.user_id == user_id, teams.c.manager_id.is_not(None))
                       .order_by(teams.c.id).limit(1)).first()
    return row.manager_id if row else None


def assignee(ctx: Context, conn: Connection, workflow: Workflow, action: Action) -> int:
    """The next owner in a round robin, fair across processes (a counter in the database)."""
    params = action.params
    if "round_robin" in params:
        people = [find_user(conn, ctx.schema, name) for name in params["round_robin"]]
        ids = [p.id for p in people if p is not None and p.is_active]
    else:
        ids = _user_ids(ctx, conn, params["team"])
    if not ids:
        raise WorkflowFailed(f"workflow '{workflow.name}': nobody to assign to",
                             workflow=workflow.name)
    turn = next_sequence(ctx, conn, f"workflow:{workflow.name}", "round_robin")
    return ids[(turn - 1) % len(ids)]


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


__all__ = ["Automation", "MAX_DEPTH", "WorkflowFailed", "WorkflowLoop", "fetch", "install",
           "is_active", "render", "run_action", "runs", "switch"]
