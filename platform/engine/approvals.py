"""Approvals: the `approvals:` of an object. A record needs an approval while its `when`
holds (a quote whose largest discount is above 15 %); its owner submits it, the approvers of
each step (a role's users, the owner's team manager, a named user) approve or reject it with
a comment, step after step. While it is pending the record is locked for people (`lock`), a
save into the `before` state (the quote sent or accepted) is refused until it is approved,
and a change of what `when` reads undoes a decision (the discount changed after the
manager's yes needs a new yes).

Every step is a row of mc_approval (who may decide, who did, when, the comment): the
history on the record's timeline, and the "awaiting my approval" list. An approver decides
on a record they may read (the owner's team manager reads the team's records); the list
shows only those.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from ..metadata.expressions import EvalError, evaluate, truthy
from ..metadata.model import AppModel, Approval, ObjectDef
from . import notices
from .access import readable_ids, roles_within
from .errors import Conflict, CrmError, Locked, NotFound, PermissionDenied
from .pipeline import RecordEnv, Save
from .records import load, object_def, transaction
from .rows import fetch
from .runtime import Change, Context, Hooks
from .steps import team_manager
from .users import SYSTEM_ROLE, find_user, names_of

PENDING, APPROVED, REJECTED, WITHDRAWN = "pending", "approved", "rejected", "withdrawn"


@dataclass(frozen=True)
class Step:
    """One row of an approval's history."""

    id: int
    object: str
    record_id: int
    approval: str
    step: int
    status: str
    approvers: tuple[int, ...]
    submitted_by: int
    submitted_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    comment: str | None


def _step(row: Any) -> Step:
    return Step(row.id, row.object, row.record_id, row.approval, row.step, row.status,
                tuple(json.loads(row.approvers)), row.submitted_by, row.submitted_at,
                row.decided_by, row.decided_at, row.comment)


def history(ctx: Context, conn: Connection, object_name: str, record_id: int
            ) -> list[Step]:
    table = ctx.schema.system["mc_approval"]
    rows = conn.execute(select(table).where(table.c.object == object_name,
                                            table.c.record_id == record_id)
                        .order_by(table.c.id)).all()
    return [_step(r) for r in rows]


def status(steps: list[Step], approval: Approval) -> str:
    """none, pending, approved, rejected or withdrawn: where the latest request stands."""
    mine = [s for s in steps if s.approval == approval.name]
    if not mine:
        return "none"
    last = mine[-1]
    if last.status == APPROVED and last.step < len(approval.steps) - 1:
        return PENDING  # (the next step's row is written with the decision)
    return last.status


def needed(ctx: Context, conn: Connection, obj: ObjectDef, approval: Approval,
           record: Mapping[str, Any]) -> bool:
    try:
        return truthy(evaluate(approval.when, RecordEnv(ctx, conn, obj, record, None)))
    except (EvalError, ArithmeticError, TypeError, ValueError):
        return False


def approvers(ctx: Context, conn: Connection, approval: Approval, index: int,
              record: Mapping[str, Any]) -> list[int]:
    """The users who decide step `index` for this record (none: nobody can)."""
    step = approval.steps[index]
    if step.user is not None:
        user = find_user(conn, ctx.schema, step.user)
        return [user.id] if user is not None and user.is_active else []
    if step.manager is not None:
        owner = record.get(step.manager)
        manager = team_manager(ctx, conn, owner) if owner is not None else None
        return [manager] if manager is not None else []
    table = ctx.schema.system["mc_user"]
    roles = roles_within(ctx.model, step.role or "")
    return list(conn.scalars(select(table.c.id).where(table.c.role.in_(roles),
                                                      table.c.is_active.is_(True))
                             .order_by(table.c.id)))


def _approval(ctx: Context, obj: ObjectDef, name: str) -> Approval:
    approval = ctx.model.approvals_of(obj.name).get(name)
    if approval is None:
        raise NotFound(f"{obj.name} has no approval '{name}'")
    return approval


def _write_step(ctx: Context, conn: Connection, obj: ObjectDef, approval: Approval,
                record: Mapping[str, Any], index: int, submitted_by: int,
                submitted_at: datetime) -> list[int]:
    people = approvers(ctx, conn, approval, index, record)
    if not people:
        step = approval.steps[index]
        who = (f"the user '{step.user}'" if step.user else
               f"the team manager of {step.manager}" if step.manager else
               f"a user with the role {step.role}")
        raise Conflict(f"nobody can approve step {index + 1} of '{approval.label}': "
                       f"there is no {who}", code_detail="no_approver")
    table = ctx.schema.system["mc_approval"]
    conn.execute(table.insert().values(
        object=obj.name, record_id=record["id"], approval=approval.name, step=index,
        status=PENDING, approvers=json.dumps(people), submitted_by=submitted_by,
        submitted_at=submitted_at))
    notices.notify(ctx, conn, people, _text(ctx, "{user} asks you to approve {record}: "
                                            "{approval}", obj, record, approval),
                   f"/o/{obj.name}/{record['id']}")
    return people


def _text(ctx: Context, template: str, obj: ObjectDef, record: Mapping[str, Any],
          approval: Approval, **more: str) -> str:
    vi = {"{user} asks you to approve {record}: {approval}":
          "{user} đề nghị anh/chị duyệt {record}: {approval}",
          "{approval} of {record}: approved by {user}":
          "{approval} của {record}: {user} đã duyệt",
          "{approval} of {record}: rejected by {user}":
          "{approval} của {record}: {user} đã từ chối"}
    language = ctx.model.locale
    text = vi.get(template, template) if language == "vi" else template
    return text.format(record=obj.title_of(record), approval=approval.label.get(language),
                       user=ctx.user.name, **more)


def submit(ctx: Context, object_name: str, record_id: int, name: str, *,
           conn: Connection | None = None) -> str:
    """Ask for the approval: the first step's approvers are notified. The user must be
    able to edit the record, the record must need it, and no request may be open."""
    obj = object_def(ctx, object_name)
    approval = _approval(ctx, obj, name)
    with transaction(ctx, conn) as tx:
        record = load(ctx, tx, obj, record_id, "edit")
        state = status(history(ctx, tx, obj.name, record_id), approval)
        if state in (PENDING, APPROVED):
            raise Conflict(f"'{approval.label}' is already {state} for this record")
        if not needed(ctx, tx, obj, approval, record):
            raise Conflict(f"this record does not need '{approval.label}' "
                           f"({approval.when.source} does not hold)")
        _write_step(ctx, tx, obj, approval, record, 0, ctx.user.id, ctx.now())
    return PENDING


def decide(ctx: Context, object_name: str, record_id: int, name: str, approve: bool,
           comment: str | None = None, *, conn: Connection | None = None) -> str:
    """Approve or reject the pending step (its approvers only); an approval moves to the
    next step or is granted; the submitter is told."""
    obj = object_def(ctx, object_name)
    approval = _approval(ctx, obj, name)
    comment = (comment or "").strip()[:2000] or None
    with transaction(ctx, conn) as tx:
        record = load(ctx, tx, obj, record_id, "read")
        pending = [s for s in history(ctx, tx, obj.name, record_id)
                   if s.approval == name and s.status == PENDING]
        if not pending:
            raise Conflict(f"'{approval.label}' is not waiting for a decision on this record")
        step = pending[-1]
        if ctx.user.id not in step.approvers and ctx.user.role != SYSTEM_ROLE:
            raise PermissionDenied(f"you are not an approver of '{approval.label}' "
                                   f"(step {step.step + 1})")
        table = ctx.schema.system["mc_approval"]
        outcome = APPROVED if approve else REJECTED
        tx.execute(table.update().where(table.c.id == step.id).values(
            status=outcome, decided_by=ctx.user.id, decided_at=ctx.now(), comment=comment))
        if approve and step.step + 1 < len(approval.steps):
            _write_step(ctx, tx, obj, approval, record, step.step + 1, step.submitted_by,
                        step.submitted_at)
            return PENDING
        template = ("{approval} of {record}: approved by {user}" if approve else
                    "{approval} of {record}: rejected by {user}")
        message = _text(ctx, template, obj, record, approval)
        notices.notify(ctx, tx, [step.submitted_by],
                       message + (f" — {comment}" if comment else ""),
                       f"/o/{obj.name}/{record_id}")
    return outcome


@dataclass(frozen=True)
class Waiting:
    """A step waiting for the user's decision."""

    object: str
    record_id: int
    title: str
    approval: Approval
    step: int
    submitted_by: str
    submitted_at: datetime


def awaiting(ctx: Context) -> list[Waiting]:
    """The steps waiting for this user's decision, oldest first."""
    table = ctx.schema.system["mc_approval"]
    with ctx.db.read() as conn:
        rows = [_step(r) for r in conn.execute(
            select(table).where(table.c.status == PENDING).order_by(table.c.id))]
        rows = [r for r in rows if ctx.user.id in r.approvers]
        readable: dict[str, set[int]] = {}
        for name in {r.object for r in rows if r.object in ctx.model.objects}:
            readable[name] = readable_ids(ctx, conn, name, [r.record_id for r in rows
                                                            if r.object == name])
        rows = [r for r in rows if r.record_id in readable.get(r.object, set())]
        names = names_of(ctx.runtime, conn, {r.submitted_by for r in rows})
        out = []
        for row in rows:
            object_name, record_id = row.object, row.record_id
            obj = ctx.model.objects.get(object_name)
            approval = ctx.model.approvals_of(object_name).get(row.approval)
            if obj is None or approval is None:
                continue
            record = fetch(conn, ctx.schema.table(obj.name), obj, record_id) or {}
            out.append(Waiting(object_name, record_id, obj.title_of(record), approval,
                               row.step, names.get(row.submitted_by, "?"), row.submitted_at))
    return out


def panel(ctx: Context, conn: Any, obj: ObjectDef, record: dict[str, Any],
          may_edit: bool) -> list[dict[str, Any]]:
    """The record page's approvals: those the record needs or has a history of, where each
    stands, who it waits for, and what this user may do."""
    declared = ctx.model.approvals_of(obj.name)
    if not declared:
        return []
    steps = history(ctx, conn, obj.name, record["id"])
    out = []
    for approval in declared.values():
        state = status(steps, approval)
        wanted = needed(ctx, conn, obj, approval, record)
        if state == "none" and not wanted:
            continue
        pending = [s for s in steps if s.approval == approval.name and s.status == "pending"]
        waiting = names_of(ctx.runtime, conn, set(pending[-1].approvers)) if pending else {}
        out.append({
            "name": approval.name, "label": approval.label.get(ctx.locale), "status": state,
            "waiting_for": ", ".join(waiting.values()),
            "can_submit": may_edit and wanted and state not in ("pending", "approved"),
            "can_decide": bool(pending) and ctx.user.id in pending[-1].approvers})
    return out


# --- hooks: the lock, the guard, undoing a decision -------------------------------------------


def _guard(save: Save) -> None:
    """The validate hook: people may not change a record whose approval is pending (lock),
    nor save it in an approval's `before` state (sent, accepted) while it needs the
    approval and has not got it; back out of that state they may."""
    approvals = save.ctx.model.approvals_of(save.obj.name)
    if not approvals or save.ctx.user.role == SYSTEM_ROLE or save.errors:
        return
    record_id = save.record.get("id")
    steps = history(save.ctx, save.conn, save.obj.name, record_id) if record_id else []
    for approval in approvals.values():
        state = status(steps, approval)
        if state == PENDING and approval.lock and save.old is not None:
            raise Locked(f"this record is awaiting '{approval.label}'; it can be changed "
                         "once it is approved or rejected", approval=approval.name)
        if approval.before is None or state == APPROVED:
            continue
        if truthy(evaluate(approval.before, save.env())) and needed(
                save.ctx, save.conn, save.obj, approval, save.record):
            save.error("_record", "needs_approval",
                       f"'{approval.label}' is needed first ({approval.when.source}); "
                       "submit it for approval", approval=approval.label.get("en"))


def _undo(change: Change) -> None:
    """After an update: a decided or pending approval whose `when` reads a changed field is
    withdrawn (the record is no longer what was approved)."""
    approvals = change.ctx.model.approvals_of(change.obj.name)
    if change.old is None:
        return
    moved = {k for k, v in change.record.items() if change.old.get(k) != v}
    table = change.ctx.schema.system["mc_approval"]
    for approval in approvals.values():
        if not approval.reads & moved:
            continue
        steps = [s for s in history(change.ctx, change.conn, change.obj.name,
                                    change.record["id"]) if s.approval == approval.name]
        if steps and status(steps, approval) in (PENDING, APPROVED):
            change.conn.execute(table.update().where(table.c.id == steps[-1].id).values(
                status=WITHDRAWN, decided_at=change.ctx.now()))


def install(model: AppModel, hooks: Hooks) -> None:
    """The feature: the lock and guard of every object with approvals."""
    for object_name in model.approvals:
        hooks.register(object_name, "validate", _guard)
        hooks.register(object_name, "after_update", _undo)


__all__ = ["APPROVED", "PENDING", "REJECTED", "WITHDRAWN", "CrmError", "Waiting", "awaiting",
           "decide", "history", "install", "needed", "status", "submit"]
