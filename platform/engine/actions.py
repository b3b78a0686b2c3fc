"""Record actions: the buttons of an object's `actions:` (Convert, Mark won, Create order).

An action runs as the user who clicks it, in one transaction: its inputs are read and
checked like fields, then its steps (the workflow actions: set, create, update, email,
notify, ...) run in order through the record service with the user's permissions, so an
action can do nothing its user could not do by hand. Nothing is half-done: a step that fails
rolls the whole action back. A run is written to the run log (`trigger` "action"), which is
also how it shows in the record's timeline.

Who may run it: the roles the action names (every role that may edit the record when it
names none), on a record they may read, while its `if` holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection

from ..metadata.expressions import EvalError, evaluate, truthy
from ..metadata.model import ObjectDef, RecordAction, Workflow
from .access import in_roles
from .coerce import Invalid, coerce
from .errors import CrmError, FieldError, NotFound, PermissionDenied, ValidationFailed
from .pipeline import RecordEnv
from .records import load, object_def, transaction, visible
from .runtime import Context
from .steps import PLACEHOLDER, StepEnv, render, run_action
from .workflows import log_run

MAX_BULK = 500  # records one bulk run may touch


class StepFailed(ValidationFailed):
    """A step's save was refused: its errors are those of a record of `object_name`."""

    def __init__(self, errors: Any, message: str, *, object_name: str):
        super().__init__(errors, message)
        self.object_name = object_name


def _step_object(obj: ObjectDef, step: Any) -> str:
    if step.kind == "create":
        return step.params["object"]
    if step.kind == "update":
        lookup = obj.fields.get(str(step.params["record"]).strip("{} "))
        return lookup.to if lookup is not None and lookup.to else obj.name
    return obj.name


@dataclass
class Outcome:
    """What a run did: the record after it, the records it made (`as` -> (object, id)),
    the one the result opens, and each step's report."""

    action: RecordAction
    record: dict[str, Any]
    made: dict[str, tuple[str, int]] = field(default_factory=dict)  # by `as:` name
    done: list[dict[str, Any]] = field(default_factory=list)
    order: list[tuple[str, int]] = field(default_factory=list)  # every record made or found

    @property
    def opens(self) -> tuple[str, int]:
        """Where the user goes next: the record named by `open:`, else the last record a
        step made or found, else the record itself."""
        if self.action.open and self.action.open in self.made:
            return self.made[self.action.open]
        return self.order[-1] if self.order else (self.action.object, self.record["id"])

    @property
    def changed(self) -> list[str]:
        """The fields of the record its steps set (a conversion's `mark` included)."""
        return [name for d in self.done if d.get("action") in ("set", "convert")
                for name in d.get("values", {})]

    @property
    def created(self) -> list[tuple[str, int]]:
        """The records its steps made (not those a conversion found), nested steps too."""
        return list(_created(self.done))


def _created(done: list[dict[str, Any]]) -> Any:
    for entry in done:
        if entry.get("action") == "create":
            yield from ((entry["object"], i) for i in entry.get("ids", [entry.get("id")])
                        if i is not None)
        elif entry.get("action") == "convert":
            yield from ((r["object"], r["id"]) for r in entry["records"].values()
                        if r.get("created"))
        elif entry.get("action") == "for_each":
            yield from _created(entry["done"])


def action_def(ctx: Context, object_name: str, name: str) -> RecordAction:
    action = ctx.model.actions_of(object_name).get(name)
    if action is None:
        obj = object_def(ctx, object_name)
        raise NotFound(f"{obj.name} has no action '{name}'")
    return action


def role_may(ctx: Context, action: RecordAction) -> bool:
    """May the user's role run the action (its `roles`; none named: every role)?"""
    return in_roles(ctx, action.roles)


def holds(ctx: Context, conn: Connection, obj: ObjectDef, action: RecordAction,
          record: Mapping[str, Any]) -> bool:
    if action.condition is None:
        return True
    try:
        return truthy(evaluate(action.condition, RecordEnv(ctx, conn, obj, record, None)))
    except (EvalError, ArithmeticError, TypeError, ValueError):
        return False


def offered(ctx: Context, conn: Connection, obj: ObjectDef, record: Mapping[str, Any],
            *, may_edit: bool) -> list[RecordAction]:
    """The actions a record's page shows this user: their role may, their `if` holds, and
    (for an action that names no roles) they may edit the record."""
    return [a for a in ctx.model.actions_of(obj.name).values()
            if role_may(ctx, a) and (a.roles or may_edit) and holds(ctx, conn, obj, a, record)]


def question(ctx: Context, conn: Connection | None, obj: ObjectDef, action: RecordAction,
             record: Mapping[str, Any] | None) -> str:
    """The action's confirmation in the user's language, its placeholders filled from the
    record; for several records (`record` None) a question that names fields is left out."""
    if action.confirm is None:
        return ""
    text = action.confirm.get(ctx.locale)
    if record is None or conn is None:
        return "" if PLACEHOLDER.search(text) else text
    return str(render(text, RecordEnv(ctx, conn, obj, record, None)))


def input_defaults(ctx: Context, conn: Connection, obj: ObjectDef, action: RecordAction,
                   record: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs' values before anything is typed: their defaults, from the record."""
    env = RecordEnv(ctx, conn, obj, record, None)
    out = {}
    for name, fdef in action.inputs.items():
        try:
            out[name] = None if fdef.default is None else render(fdef.default, env)
        except (EvalError, ArithmeticError, TypeError, ValueError):
            out[name] = None
    return out


def read_inputs(ctx: Context, conn: Connection, obj: ObjectDef, action: RecordAction,
                record: Mapping[str, Any], given: Any) -> dict[str, Any]:
    """The inputs as stored values; every problem at once, by input name."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise ValidationFailed({"_record": [FieldError(
            "invalid", "the inputs must be a map of input names to values")]})
    errors: dict[str, list[FieldError]] = {}
    for name in given:
        if name not in action.inputs:
            errors.setdefault(name, []).append(FieldError(
                "unknown_field", f"the action '{action.name}' asks no input '{name}'"))
    defaults = input_defaults(ctx, conn, obj, action, record)
    values = {}
    for name, fdef in action.inputs.items():
        raw = given.get(name, defaults[name])
        try:
            value = coerce(fdef, raw, ctx.tz)
        except Invalid as exc:
            errors.setdefault(name, []).append(FieldError(exc.code, exc.message, exc.params))
            continue
        if fdef.required and value in (None, "", []):
            errors.setdefault(name, []).append(FieldError("required",
                                                          f"{fdef.label} is required"))
        values[name] = value
    if errors:
        raise ValidationFailed(errors)
    return values


def run(ctx: Context, object_name: str, record_id: int, name: str,
        inputs: Any = None, *, conn: Connection | None = None) -> Outcome:
    """Run the action `name` on one record, as the user of `ctx`, in one transaction."""
    obj = object_def(ctx, object_name)
    action = action_def(ctx, object_name, name)
    with transaction(ctx, conn) as tx:
        record = load(ctx, tx, obj, record_id, "read" if action.roles else "edit")
        if not role_may(ctx, action):
            raise PermissionDenied(f"your role may not run '{action.label}' "
                                   f"({', '.join(action.roles)} may)", action=name)
        if not holds(ctx, tx, obj, action, record):
            raise PermissionDenied(f"'{action.label}' does not apply to this record now "
                                   f"({action.condition.source if action.condition else ''})",
                                   action=name)
        values = read_inputs(ctx, tx, obj, action, record, inputs)
        outcome = Outcome(action, record)
        acting = replace(ctx, by_action=True)  # the user's rights; read-only fields are the
        env = StepEnv(acting, tx, obj, record, inputs=values,  # steps' to set
                      input_defs=action.inputs)
        rule = Workflow(name=f"{obj.name}.{name}", object=obj.name, event=None, schedule=None,
                        condition=None, actions=action.steps, label=action.label)
        for step in action.steps:
            try:
                done = run_action(acting, tx, obj, env.record, env, rule, step, acting=acting)
            except ValidationFailed as exc:
                raise StepFailed(exc.errors, f"'{action.label}' could not {step.kind}: "
                                 f"{exc.message}", object_name=_step_object(obj, step)
                                 ) from None
            outcome.done.append(done)
            if "id" in done and step.kind == "create":
                outcome.order.append((done["object"], done["id"]))
            if step.kind == "convert":
                outcome.order += [(r["object"], r["id"]) for r in done["records"].values()
                                  if "id" in r]
        outcome.made = dict(env.made)
        outcome.record = visible(ctx, obj, dict(env.record))
        log_run(ctx, tx, rule, obj.name, record_id, "action",
                [{"action": "run", "label": action.label.get(ctx.model.locale),
                  "inputs": {k: str(v) for k, v in values.items() if v is not None}},
                 *outcome.done])
    return outcome


def run_many(ctx: Context, object_name: str, ids: list[int], name: str,
             inputs: Any = None) -> tuple[list[Outcome], dict[int, CrmError]]:
    """Run an action on each record (a list's bulk menu), each in its own transaction: the
    ones done, and why each other one was not."""
    if len(ids) > MAX_BULK:
        raise ValidationFailed({"_record": [FieldError(
            "too_many", f"an action runs on at most {MAX_BULK} records at once",
            {"limit": MAX_BULK})]})
    done, refused = [], {}
    for record_id in ids:
        try:
            done.append(run(ctx, object_name, record_id, name, inputs))
        except CrmError as exc:
            refused[record_id] = exc
    return done, refused
