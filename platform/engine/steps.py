"""The steps of rules and record actions (the workflow action table), and the values they
write.

    set, assign      the record itself
    create           a record (`as:` names it for later steps, `if:` guards it, `count:`
                     makes several, numbered `n`)
    update           a lookup's record (`record: "{account}"`), or related records
                     (`records: quote_line`, `if:`, `set:`)
    for_each         steps over a record's related records (`parent.x` is the record)
    convert          records found (`find_by`) or made from a `map`, then `mark` on the record
    email, webhook   queued in the outbox, in the same transaction; the worker sends them
    notify           an in-app notification for users

Records are saved through the record service, as the caller says: a rule with the system's
rights (automation), a record action as the user who runs it. What touches related records
is bounded: MAX_CHILDREN records per step, named in the error when a record has more.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, or_, select

from ..metadata.expressions import evaluate, parse_once, truthy
from ..metadata.model import Action, FieldDef, ObjectDef, Workflow, is_translated
from ..metadata.workflows import INDEX, INPUT, MAX_CHILDREN, NEW, PARENT, children
from . import notices, query, records
from .access import readable
from .coerce import Invalid, coerce
from .errors import CrmError, WorkflowFailed
from .pipeline import RecordEnv
from .rows import fetch, next_sequence
from .runtime import Context
from .text import is_digits
from .types import jsonable
from .users import find_user, user_emails

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


def render_values(values: Mapping[str, Any], env: RecordEnv) -> dict[str, Any]:
    return {name: render(value, env) for name, value in values.items()}


# --- what a step sees -----------------------------------------------------------------------


class StepEnv(RecordEnv):
    """A record as its steps see it: its fields, and `input.<name>` (a record action's
    inputs), `new.<as>` (records earlier steps made, shared by all the steps of one run),
    `parent.<path>` (in a for_each, the record whose children are walked) and `n` (in a
    create with a count, the number of the record being made)."""

    def __init__(self, ctx: Context, conn: Connection, obj: ObjectDef,
                 record: Mapping[str, Any], old: Mapping[str, Any] | None = None, *,
                 inputs: Mapping[str, Any] | None = None,
                 input_defs: Mapping[str, FieldDef] | None = None,
                 made: dict[str, tuple[str, int]] | None = None,
                 parent: StepEnv | None = None, index: int | None = None):
        super().__init__(ctx, conn, obj, record, old)
        self.inputs = inputs or {}
        self.input_defs = input_defs or {}
        self.made: dict[str, tuple[str, int]] = made if made is not None else {}
        self.parent = parent
        self.index = index

    def child(self, obj: ObjectDef, record: Mapping[str, Any]) -> StepEnv:
        return StepEnv(self.ctx, self.conn, obj, record, inputs=self.inputs,
                       input_defs=self.input_defs, made=self.made, parent=self)

    def numbered(self, n: int) -> StepEnv:
        return StepEnv(self.ctx, self.conn, self.obj, self.record, self.old,
                       inputs=self.inputs, input_defs=self.input_defs, made=self.made,
                       parent=self.parent, index=n)

    def value(self, path: tuple[str, ...]) -> Any:
        if path[0] == INPUT:
            return self.inputs.get(path[1])
        if path[0] == NEW:
            if path[1] not in self.made:  # a step that did not run (its `if`): blank
                return None
            object_name, record_id = self.made[path[1]]
            if len(path) == 2:
                return record_id
            target = self.ctx.model.objects[object_name]
            key = (object_name, record_id)
            if key not in self._related:  # read once, like a lookup's record (forget() clears)
                self._related[key] = fetch(self.conn, self.ctx.schema.table(object_name),
                                           target, record_id)
            return RecordEnv(self.ctx, self.conn, target, self._related[key] or {},
                             None).value(path[2:])
        if path[0] == PARENT and self.parent is not None and len(path) > 1:
            return self.parent.value(path[1:])
        if path == (INDEX,) and self.index is not None:
            return self.index
        return super().value(path)

    def field_at(self, path: tuple[str, ...]) -> FieldDef | None:
        if path[0] == INPUT:
            return self.input_defs.get(path[1])
        if path[0] == NEW:
            if path[1] not in self.made or len(path) == 2:
                return None
            return self.ctx.model.resolve_path(self.made[path[1]][0], path[2:])
        if path[0] == PARENT and self.parent is not None and len(path) > 1:
            return self.parent.field_at(path[1:])
        if path == (INDEX,) and self.index is not None:
            return None
        return super().field_at(path)


def step_env(env: RecordEnv) -> StepEnv:
    return env if isinstance(env, StepEnv) else StepEnv(env.ctx, env.conn, env.obj,
                                                        env.record, env.old)


# --- running a step ------------------------------------------------------------------------


def run_action(ctx: Context, conn: Connection, obj: ObjectDef, record: dict[str, Any],
               env: RecordEnv, workflow: Workflow, action: Action, *,
               acting: Context | None = None) -> dict[str, Any]:
    """One after-write action (or any action of a scheduled rule, or a step of a record
    action); what it did, as JSON. Records are saved as `acting` (a record action: the
    user who runs it), by default with the system's rights (automation)."""
    params = action.params
    deeper = acting or ctx.automation()
    env = step_env(env)
    if action.kind == "create":
        if "if" in params and not truthy(evaluate(parse_once(params["if"]), env)):
            return {"action": "create", "object": params["object"],
                    "skipped": f"its condition does not hold: {params['if']}"}
        if "count" in params:
            return create_many(deeper, conn, env, params)
        values = render_values(params.get("values", {}), env)
        created = records.create(deeper, params["object"], values, conn=conn)
        if "as" in params:
            env.made[params["as"]] = (params["object"], created["id"])
        return {"action": "create", "object": params["object"], "id": created["id"],
                **({"as": params["as"]} if "as" in params else {})}
    if action.kind == "update" and "records" in params:
        return update_related(deeper, conn, obj, env, params)
    if action.kind == "for_each":
        return for_each(ctx, conn, obj, env, workflow, params, deeper)
    if action.kind == "convert":
        report = convert(deeper, conn, obj, env, params)
        _reread(ctx, conn, obj, env)  # its mark, and rollups of what it made
        return report
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
        _reread(ctx, conn, obj, env)
        return {"action": action.kind, "values": {k: jsonable(v) for k, v in values.items()}}
    if action.kind == "email":
        return queue_email(ctx, conn, obj, record, env, workflow, params)
    if action.kind == "webhook":
        return queue_webhook(ctx, conn, obj, record, env, workflow, params)
    if action.kind == "notify":
        return notify(ctx, conn, obj, record, env, params)
    raise WorkflowFailed(f"workflow '{workflow.name}': unknown action '{action.kind}'")


# --- related records, conversion ------------------------------------------------------------


class TooMany(CrmError):
    """A step would touch more related records than one run may."""

    status = 422
    code = "limit_reached"


def related_records(acting: Context, conn: Connection, obj: ObjectDef, record_id: int,
                    relation: str) -> tuple[ObjectDef, list[dict[str, Any]]]:
    """The records of `relation` pointing to the record (those `acting` may read), oldest
    first; TooMany past MAX_CHILDREN."""
    found = children(obj, relation, acting.model.objects)
    assert not isinstance(found, str), found  # checked when the app loaded
    child, via = found
    page = query.list_records(acting, child.name, query.ListQuery(
        where=query.condition(acting, child, via, "eq", record_id), sort=("id",),
        page_size=MAX_CHILDREN + 1, with_total=False), conn=conn)
    if len(page.items) > MAX_CHILDREN:
        raise TooMany(f"{obj.label} #{record_id} has more than {MAX_CHILDREN} {child.plural}; "
                      f"a step touches at most {MAX_CHILDREN} related records in one run",
                      limit=MAX_CHILDREN, object=child.name)
    return child, page.items


def _matching(acting: Context, conn: Connection, obj: ObjectDef, env: StepEnv,
              params: Mapping[str, Any]) -> tuple[ObjectDef, int, list[tuple[dict, StepEnv]]]:
    """(child object, how many related records, those whose `if` holds with their env)."""
    child, rows = related_records(acting, conn, obj, env.record["id"], params["records"])
    condition = parse_once(params["if"]) if "if" in params else None
    chosen = []
    for row in rows:
        inner = env.child(child, row)
        if condition is None or truthy(evaluate(condition, inner)):
            chosen.append((row, inner))
    return child, len(rows), chosen


def for_each(ctx: Context, conn: Connection, obj: ObjectDef, env: StepEnv, workflow: Workflow,
             params: Mapping[str, Any], acting: Context) -> dict[str, Any]:
    """Run `do` for each related record whose `if` holds, the record as `parent`."""
    child, count, chosen = _matching(acting, conn, obj, env, params)
    done = []
    for _, inner in chosen:
        for item in params["do"]:  # a set re-reads inner.record for the steps after it
            kind, step = next(iter(item.items()))
            done.append(run_action(ctx, conn, child, inner.record, inner, workflow,
                                   Action(kind, step), acting=acting))
    return {"action": "for_each", "object": child.name, "records": count, "done": done}


def update_related(acting: Context, conn: Connection, obj: ObjectDef, env: StepEnv,
                   params: Mapping[str, Any]) -> dict[str, Any]:
    """`update: {records: quote_line, if: ..., set: {...}}`: each related record whose `if`
    holds gets `set`, its values worked out from it (the record is `parent`)."""
    child, _, chosen = _matching(acting, conn, obj, env, params)
    for row, inner in chosen:
        records.update(acting, child.name, row["id"], render_values(params["set"], inner),
                       conn=conn)
    return {"action": "update", "object": child.name, "ids": [row["id"] for row, _ in chosen]}


def create_many(acting: Context, conn: Connection, env: StepEnv, params: Mapping[str, Any]
                ) -> dict[str, Any]:
    """`create` with `count`: that many records, `n` numbering them from 1."""
    count = params["count"]
    if isinstance(count, str):
        count = render(count if count.startswith("=") else "=" + count, env)
    try:
        count = int(count) if count is not None else 0
    except (TypeError, ValueError):
        raise WorkflowFailed(f"count '{params['count']}' is no number ({count})") from None
    if count > MAX_CHILDREN:
        raise TooMany(f"count {count}: a step makes at most {MAX_CHILDREN} records in one run",
                      limit=MAX_CHILDREN, object=params["object"])
    ids = []
    for n in range(1, count + 1):
        values = render_values(params.get("values", {}), env.numbered(n))
        ids.append(records.create(acting, params["object"], values, conn=conn)["id"])
    return {"action": "create", "object": params["object"], "ids": ids}


def _reread(ctx: Context, conn: Connection, obj: ObjectDef, env: StepEnv) -> None:
    """The record as a step left it, for the steps after it (`{visits}` after a set, or
    `parent.visits` in a for_each)."""
    env.record = fetch(conn, ctx.schema.table(obj.name), obj, env.record["id"]) or env.record
    env.forget()


def convert(acting: Context, conn: Connection, obj: ObjectDef, env: StepEnv,
            params: Mapping[str, Any]) -> dict[str, Any]:
    """A `convert:` step: each of its records is found (`find_by`: the first alternative
    whose fields all equal the mapped values, among the records `acting` may read) or made
    from the `map`; later records and `mark` read the earlier ones as `new.<name>`; then
    `mark` is set on the source record."""
    report: dict[str, Any] = {"action": "convert", "records": {}}
    for name, spec in params["records"].items():
        if "if" in spec and not truthy(evaluate(parse_once(spec["if"]), env)):
            report["records"][name] = {"object": spec["object"],
                                       "skipped": f"its condition does not hold: {spec['if']}"}
            continue
        target = acting.model.objects[spec["object"]]
        values = render_values(spec["map"], env)
        found = find(acting, conn, target, values, spec.get("find_by", ()))
        if found is None:
            made = records.create(acting, target.name, values, conn=conn)
            entry = {"object": target.name, "id": made["id"], "created": True}
        else:
            entry = {"object": target.name, "id": found, "found": True}
        report["records"][name] = entry
        env.made[name] = (target.name, entry["id"])
        env.forget()
    if "mark" in params:
        values = render_values(params["mark"], env)
        records.update(acting, obj.name, env.record["id"], values, conn=conn)
        report["values"] = {k: jsonable(v) for k, v in values.items()}
    return report


def find(ctx: Context, conn: Connection, target: ObjectDef, values: Mapping[str, Any],
         find_by: Any) -> int | None:
    """The id of the first record of `target` an alternative of `find_by` finds: a field
    name, or a list of names that must all match; blank values find nothing; texts match
    whatever their case."""
    table = ctx.schema.table(target.name)
    restrict = readable(ctx, target.name, table)
    for alternative in find_by:
        names = [alternative] if isinstance(alternative, str) else list(alternative)
        conditions = []
        for fname in names:
            fdef = target.fields[fname]
            try:
                value = coerce(fdef, values.get(fname), ctx.tz)
            except Invalid:
                value = None
            if value in (None, "", []):
                break
            column = table.c[fname]
            conditions.append(or_(column == value, func.lower(column) == value.lower())
                              if isinstance(value, str) else column == value)
        else:
            statement = select(table.c.id).where(*conditions).order_by(table.c.id).limit(1)
            if restrict is not None:
                statement = statement.where(restrict)
            found = conn.scalar(statement)
            if found is not None:
                return found
    return None


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

