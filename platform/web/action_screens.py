"""The screens of record processes: the form an action asks (its confirmation and inputs), its
run from a record's page and on the records chosen in a list (the bulk menu); approvals:
submitting, approving and rejecting, and the list of what awaits the user's decision."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..engine import actions, approvals, records
from ..engine.errors import (
    BadRequest,
    Conflict,
    CrmError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from ..engine.runtime import Context
from ..engine.text import is_digits
from ..metadata.model import ObjectDef, RecordAction
from . import auth
from .display import References
from .forms import read_fields
from .i18n import error_text
from .pages import PageContext, flash, page_context
from .screens import make_widget, object_of
from .templating import render


def _action(ctx: Context, obj: ObjectDef, request: Request) -> RecordAction:
    return actions.action_def(ctx, obj.name, request.path_params["name"])


def _page(frame: PageContext, obj: ObjectDef, action: RecordAction, *, record: dict | None,
          ids: list[int], values: dict[str, Any], typed: dict[str, Any],
          errors: dict[str, list[str]], general: list[str], question: str,
          refs: References | None, status: int = 200) -> Response:
    ctx = frame.ctx
    assert ctx is not None
    widgets = [make_widget(ctx, fdef, "edit", values, typed, errors, refs, frame.fmt)
               for fdef in action.inputs.values()]
    target = (f"/o/{obj.name}/{record['id']}/actions/{action.name}" if record
              else f"/o/{obj.name}/actions")
    return render(frame, ["action.html"], {
        "obj": obj, "action": action, "record": record, "ids": ids, "widgets": widgets,
        "question": question, "general_errors": general, "target": target,
        "title": obj.title_of(record) if record else frame.t("{total} records",
                                                             total=len(ids)),
        "cancel": f"/o/{obj.name}/{record['id']}" if record else f"/o/{obj.name}"},
        status=status)


def _errors(frame: PageContext, action: RecordAction, exc: ValidationFailed
            ) -> tuple[dict[str, list[str]], list[str]]:
    """The inputs' errors by input, and the rest (a step that failed) as sentences."""
    ctx = frame.ctx
    assert ctx is not None
    fields: dict[str, list[str]] = {}
    general = []
    if isinstance(exc, actions.StepFailed):  # a step's record was refused: say which fields
        target = ctx.model.objects[exc.object_name]
        reasons = [error_text(frame.t, ctx.locale, e.code, e.message, dict(e.params or {}),
                              target.fields[n].label.get(ctx.locale) if n in target.fields
                              else "") for n, errs in exc.errors.items() for e in errs]
        general.append(frame.t("{action} could not be done: {object}: {reasons}",
                               action=action.label.get(ctx.locale),
                               object=target.label.get(ctx.locale), reasons="; ".join(reasons)))
        return fields, general
    for name, errs in exc.errors.items():
        fdef = action.inputs.get(name)
        if fdef is None:
            continue
        fields[name] = [error_text(frame.t, ctx.locale, e.code, e.message,
                                   dict(e.params or {}), fdef.label.get(ctx.locale))
                        for e in errs]
    return fields, general


def record_action_page(request: Request) -> Response:
    """GET: the action's question and inputs for one record; POST: run it, then open the
    record it made (or the record itself) and say what it did."""
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    action = _action(ctx, obj, request)
    record_id = request.path_params["id"]
    with ctx.db.read() as conn:
        record = records.get(ctx, obj.name, record_id, conn=conn)
        if not actions.role_may(ctx, action) or not actions.holds(ctx, conn, obj, action,
                                                                   record):
            raise PermissionDenied(frame.t("'{action}' does not apply to this record now.",
                                           action=action.label.get(ctx.locale)))
        question = actions.question(ctx, conn, obj, action, record)
        defaults = actions.input_defaults(ctx, conn, obj, action, record)
        refs = References(ctx).load_fields(action.inputs, [defaults], action.inputs, conn=conn)
    if request.method == "GET":
        return _page(frame, obj, action, record=record, ids=[], values=defaults, typed={},
                     errors={}, general=[], question=question, refs=refs)
    form = auth.checked_form(request)
    values, typed = read_fields(action.inputs.values(), form, frame.fmt)
    try:
        outcome = actions.run(ctx, obj.name, record_id, action.name, values)
    except ValidationFailed as exc:
        errors, general = _errors(frame, action, exc)
        return _page(frame, obj, action, record=record, ids=[], values=values, typed=typed,
                     errors=errors, general=general, question=question, refs=refs,
                     status=422)
    flash(request, _done_message(frame, outcome))
    object_name, opened = outcome.opens
    return RedirectResponse(f"/o/{object_name}/{opened}", status_code=303)


def _done_message(frame: PageContext, outcome: actions.Outcome) -> str:
    ctx = frame.ctx
    assert ctx is not None
    label = outcome.action.label.get(ctx.locale)
    made = [ctx.model.objects[o].label.get(ctx.locale) for o, _ in outcome.created]
    obj = ctx.model.objects[outcome.action.object]
    changed = [obj.fields[n].label.get(ctx.locale) for n in dict.fromkeys(outcome.changed)
               if n in obj.fields]
    parts = [frame.t("{action}: done.", action=label)]
    if made:
        parts.append(frame.t("Created: {records}.", records=", ".join(made)))
    if changed:
        parts.append(frame.t("Changed: {fields}.", fields=", ".join(changed)))
    return " ".join(parts)


def bulk_action_page(request: Request) -> Response:
    """POST from a list's bulk menu: ask the action's question once for all the chosen
    records (when it has one), then run it on each, each in its own transaction."""
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    form = auth.checked_form(request)
    name = str(form.get("record_action") or "")
    action = ctx.model.actions_of(obj.name).get(name)
    if action is None or not action.bulk:
        raise BadRequest(frame.t("Choose an action."))
    ids = sorted({int(i) for i in form.getlist("ids") if isinstance(i, str) and is_digits(i)})
    if not ids:
        flash(request, frame.t("{count} selected", count=0), "error")
        return RedirectResponse(f"/o/{obj.name}", status_code=303)
    asks = bool(action.inputs) or action.confirm is not None
    values, typed = read_fields(action.inputs.values(), form, frame.fmt)
    if asks and form.get("confirmed") != "1":
        return _page(frame, obj, action, record=None, ids=ids, values={}, typed={},
                     errors={}, general=[], question=actions.question(ctx, None, obj, action, None),
                     refs=References(ctx))
    done, refused = actions.run_many(ctx, obj.name, ids, action.name, values)
    message = frame.t("{action}: done on {done} of {total} records.",
                      action=action.label.get(ctx.locale), done=len(done), total=len(ids))
    if refused:
        message += " " + " | ".join(f"#{i}: {_refusal(frame, action, exc)}"
                                    for i, exc in list(refused.items())[:5])
    flash(request, message, "error" if refused else "ok")
    return RedirectResponse(f"/o/{obj.name}", status_code=303)


def _refusal(frame: PageContext, action: RecordAction, exc: CrmError) -> str:
    """Why the action was not run on one record, in the reader's language."""
    ctx = frame.ctx
    assert ctx is not None
    if isinstance(exc, PermissionDenied):
        return frame.t("'{action}' does not apply to this record now.",
                       action=action.label.get(ctx.locale))
    if isinstance(exc, ValidationFailed):
        fields, general = _errors(frame, action, exc)
        return "; ".join([*general, *(m for ms in fields.values() for m in ms)])
    if isinstance(exc, NotFound):
        return frame.t("Not found")
    return exc.message


routes = [
    Route("/o/{object}/actions", bulk_action_page, methods=["POST"]),
    Route("/o/{object}/{id:int}/actions/{name}", record_action_page, methods=["GET", "POST"]),
]


# --- approvals ----------------------------------------------------------------------------

def approval_verb(request: Request) -> Response:
    """POST /o/{object}/{id}/approvals/{name}/{verb}: submit, approve or reject (with a
    comment); back to the page it came from."""
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    record_id = request.path_params["id"]
    name, verb = request.path_params["name"], request.path_params["verb"]
    form = auth.checked_form(request)
    back = str(form.get("back") or "")
    back = back if back.startswith("/") and not back.startswith("//") else \
        f"/o/{obj.name}/{record_id}"
    approval = ctx.model.approvals_of(obj.name).get(name)
    if approval is None or verb not in ("submit", "approve", "reject"):
        raise NotFound(frame.t("Not found"))
    label = approval.label.get(ctx.locale)
    try:
        if verb == "submit":
            approvals.submit(ctx, obj.name, record_id, name)
            flash(request, frame.t("{approval}: submitted for approval.", approval=label))
        else:
            outcome = approvals.decide(ctx, obj.name, record_id, name, verb == "approve",
                                       str(form.get("comment") or ""))
            flash(request, frame.t("{approval}: " + {"approved": "approved.",
                                                     "rejected": "rejected.",
                                                     "pending": "approved; the next step "
                                                                "is asked."}[outcome],
                                   approval=label))
    except Conflict as exc:
        flash(request, frame.t("{approval}: {reason}", approval=label,
                               reason=_conflict_words(frame, approval, exc)), "error")
    except PermissionDenied:
        flash(request, frame.t("{approval}: {reason}", approval=label,
                               reason=frame.t("you may not do this.")), "error")
    return RedirectResponse(back, status_code=303)


def _conflict_words(frame: PageContext, approval: Any, exc: Conflict) -> str:
    if exc.details.get("code_detail") == "no_approver":
        return frame.t("nobody can approve it (no approver is set up).")
    if "already" in exc.message:
        return frame.t("it is already submitted or approved.")
    if "not waiting" in exc.message:
        return frame.t("nothing is waiting for a decision.")
    return frame.t("this record does not need it now.")


def awaiting_page(request: Request) -> Response:
    """GET /approvals: the steps waiting for the user's decision, with approve / reject."""
    frame, ctx = page_context(request)
    return render(frame, ["approvals.html"], {"waiting": approvals.awaiting(ctx),
                                              "title": frame.t("Awaiting my approval")})


routes += [
    Route("/approvals", awaiting_page, methods=["GET"]),
    Route("/o/{object}/{id:int}/approvals/{name}/{verb}", approval_verb, methods=["POST"]),
]
