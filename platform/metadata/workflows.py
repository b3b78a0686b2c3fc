"""Workflow rules: instantiating recipes (`use:` + `with:`), then checking triggers,
conditions and actions against the objects they touch."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .model import (
    CATCH_UP_DAYS,
    Action,
    Approval,
    ApprovalStep,
    FieldDef,
    Label,
    ObjectDef,
    RecordAction,
    Schedule,
    Workflow,
    frozen_map,
    is_translated,
)
from .objects import (
    ObjectScope,
    Src,
    article,
    build_field,
    check_expression,
    check_placeholders,
    parse_expression,
)
from .problems import Problem, did_you_mean
from .schema import validate
from .source import Document

_PARAM = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*\}\}")


def _substitute(value: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _PARAM.fullmatch(value.strip())
        if whole and whole.group(1) in params:
            return params[whole.group(1)]
        return _PARAM.sub(lambda m: str(params.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    if isinstance(value, dict):
        return {str(_substitute(k, params)): _substitute(v, params) for k, v in value.items()}
    return value


def instantiate(doc: Document, recipes: Mapping[str, Document],
                problems: list[Problem]) -> Document | None:
    """The workflow a `use:` document makes from its recipe, as a document of its own."""
    data = doc.data
    recipe = recipes.get(data["use"])
    if recipe is None:
        problems.append(doc.problem(("use",), f"unknown recipe '{data['use']}'"
                                    + did_you_mean(data["use"], recipes)
                                    + (f" (known: {', '.join(sorted(recipes))})"
                                       if recipes else "")))
        return None
    params = recipe.data.get("params", [])
    given = data.get("with", {})
    ok = True
    for name in params:
        if name not in given:
            problems.append(doc.problem(("with",), f"recipe '{data['use']}' needs the "
                                        f"parameter '{name}'"))
            ok = False
    for name in given:
        if name not in params:
            problems.append(doc.problem(("with", name), f"recipe '{data['use']}' has no "
                                        f"parameter '{name}'" + did_you_mean(name, params)
                                        + f" (its parameters: {', '.join(params)})"))
            ok = False
    if not ok:
        return None
    body = _substitute(recipe.data["workflow"], given)
    body = {"workflow": data["workflow"], **{k: v for k, v in body.items() if k != "workflow"}}
    for key in ("label", "active"):
        if key in data:
            body[key] = data[key]
    made = Document(data=body, file=doc.file, index=doc.index,
                    lines={(): doc.line(("use",)) or doc.line(()) or 0})
    found = validate(made, "workflow")
    for problem in found:
        problems.append(Problem(problem.file, problem.line, "use",
                                f"recipe '{data['use']}' makes a bad workflow: "
                                f"{problem.path}: {problem.message}"))
    return None if found else made


def _offset_days(text: str | None) -> int:
    if not text:
        return 0
    return int(text.strip()[:-1])


def _schedule(sched: Mapping[str, Any], obj: ObjectDef, src: Src, problems: list[Problem]
              ) -> Schedule:
    """A schedule: the day of a date field (with an offset; every year or month), a holiday,
    `after:` N days in a tracked field's value, or every day, week or month for all records
    whose `if` holds."""
    key = ("when", "schedule")
    every = sched.get("every")
    date_name = sched.get("date_field")
    after = sched.get("after")
    offset = sched.get("offset")
    if offset is not None and not re.fullmatch(r"[+-]?\d+d", str(offset)):
        problems.append(src.problem(f"'{offset}' is not an offset in days (write -30d "
                                    "or 2d)", *key, "offset"))
        offset = None
    days = _offset_days(offset)
    if after is not None:
        tracked = obj.fields.get(after["field"])
        if tracked is None or not tracked.track_changes:
            problems.append(src.problem(
                f"after: '{after['field']}' must be a field of {obj.name} with "
                "track_changes: true (MetaCRM then keeps "
                f"{after['field']}_changed_at)" + did_you_mean(after["field"], obj.fields),
                *key, "after", "field"))
        date_name, days = f"{after['field']}_changed_at", int(after["days"]) + days
    chosen = [k for k in ("date_field", "holiday", "after") if k in sched]
    if len(chosen) > 1:
        problems.append(src.problem(f"a schedule says one of date_field, holiday or after, "
                                    f"not {' and '.join(chosen)}", *key))
    elif not chosen and every not in ("day", "week", "month"):
        problems.append(src.problem("a schedule needs date_field (a date of the record), "
                                    "holiday, after (days in a value), or every: day, week or "
                                    "month (for every record its `if` chooses)", *key))
    elif "date_field" in sched:
        date_field = obj.fields.get(date_name)
        if date_field is None or not date_field.kind.is_date:
            problems.append(src.problem(f"'{date_name}' must be a date field of {obj.name}"
                                        + did_you_mean(date_name, obj.fields), *key,
                                        "date_field"))
    if chosen and every in ("day", "week"):
        problems.append(src.problem(f"every: {every} repeats for every record, with no date "
                                    "of its own: leave out date_field, holiday and after "
                                    "(every: month or year repeats a date)", *key, "every"))
    if "holiday" in sched and every is not None:
        problems.append(src.problem("a holiday comes every year by itself; leave out every",
                                    *key, "every"))
    catch_up = sched.get("catch_up", True)
    catch_days = CATCH_UP_DAYS if catch_up is True else int(catch_up or 0)
    return Schedule(date_name, days, every, sched.get("at"), sched.get("holiday"), catch_days)


def build_workflow(doc: Document, objects: Mapping[str, ObjectDef],
                   fields: Mapping[str, Mapping[str, FieldDef]], problems: list[Problem],
                   recipe: str | None = None) -> Workflow | None:
    data = doc.data
    src = Src(doc, ())
    name = data["workflow"]
    obj_name = data["object"]
    if obj_name not in objects:
        problems.append(src.problem(f"unknown object '{obj_name}'"
                                    + did_you_mean(obj_name, objects), "object"))
        return None
    obj = objects[obj_name]
    scope = StepScope(fields, obj_name)
    before = len(problems)
    when = data["when"]
    event, schedule = (when, None) if isinstance(when, str) else (None, None)
    if isinstance(when, dict):
        schedule = _schedule(when["schedule"], obj, src, problems)
    condition = None
    if "if" in data:
        condition = parse_expression(data["if"], src, ("if",), problems)
        check_expression(condition, scope, src, ("if",), problems)
        if condition is not None and schedule is not None and any(
                c.func in ("changed", "previous") for c in condition.calls()):
            problems.append(src.problem("changed() and previous() only mean something in a "
                                        "rule triggered by a save", "if"))
    actions = []
    for i, item in enumerate(data["do"]):
        kind, params = next(iter(item.items()))
        _check_action(kind, params, obj, objects, fields, scope, src.at("do", i, kind),
                      doc, problems)
        actions.append(Action(kind, frozen_map(params)))
    if len(problems) > before:
        return None
    return Workflow(name=name, object=obj_name, event=event, schedule=schedule,
                    condition=condition, actions=tuple(actions),
                    active=bool(data.get("active", True)),
                    label=Label.of(data["label"]) if "label" in data else None, recipe=recipe)


# --- record actions ---------------------------------------------------------------------------

INPUT, NEW, PARENT, INDEX = "input", "new", "parent", "n"  # the names steps may read
MAX_CHILDREN = 200  # records one for_each, update of related records or count may touch


class StepScope(ObjectScope):
    """What a step's values may name: the record's fields, and
    `input.<name>`  what a record action asked,
    `new.<as>`      a record an earlier step made (and its fields),
    `parent.<path>` inside a for_each, the record whose children it walks,
    `n`             in a create with `count`, its number (1, 2, ...)."""

    def __init__(self, fields: Mapping[str, Mapping[str, FieldDef]], name: str,
                 inputs: Mapping[str, FieldDef] | None = None, *,
                 made: dict[str, str] | None = None, parent: StepScope | None = None,
                 index: bool = False):
        super().__init__(fields, name)
        self.inputs = inputs or {}
        self.made = made if made is not None else {}  # as -> object (shared with children)
        self.parent = parent
        self.index = index

    def child(self, name: str) -> StepScope:
        return StepScope(self.fields, name, self.inputs, made=self.made, parent=self)

    def counted(self) -> StepScope:
        return StepScope(self.fields, self.name, self.inputs, made=self.made,
                         parent=self.parent, index=True)

    def resolve(self, path: tuple[str, ...] | list[str], *, users: bool = False) -> str | None:
        if path[0] == INPUT:
            if len(path) == 2 and path[1] in self.inputs:
                return None
            asked = path[1] if len(path) > 1 else ""
            return (f"the action asks no input '{asked}'" + did_you_mean(asked, self.inputs)
                    + f" (its inputs: {', '.join(self.inputs) or 'none'})")
        if path[0] == NEW:
            made = path[1] if len(path) > 1 else ""
            if made not in self.made:
                return (f"no earlier step made a record named '{made}' (name one with "
                        "`as:` on a create step)" + did_you_mean(made, self.made))
            if len(path) == 2:
                return None
            return ObjectScope(self.fields, self.made[made]).resolve(path[2:], users=users)
        if path[0] == PARENT and self.parent is not None and len(path) > 1:
            return self.parent.resolve(path[1:], users=users)
        if tuple(path) == (INDEX,) and self.index:
            return None
        return super().resolve(path, users=users)


def children(obj: ObjectDef, relation: str, objects: Mapping[str, ObjectDef]
             ) -> tuple[ObjectDef, str] | str:
    """(child object, its lookup to `obj`) that `relation` names: `quote_line` (the object,
    when one of its lookups points to `obj`) or `quote_line.quote`; else why not."""
    name, _, via = relation.partition(".")
    child = objects.get(name)
    related = sorted(o.name for o in objects.values() if o.lookups_to(obj.name))
    if child is None or not child.lookups_to(obj.name):
        return (f"'{relation}' is no list of records pointing to {obj.name}"
                + did_you_mean(name, related)
                + (f" (those that point to it: {', '.join(related)})" if related else ""))
    lookups = [f.name for f in child.lookups_to(obj.name)]
    if via:
        return (child, via) if via in lookups else (
            f"{child.name} has no lookup '{via}' to {obj.name}" + did_you_mean(via, lookups))
    if len(lookups) > 1:
        return (f"{child.name} points to {obj.name} through {', '.join(lookups)}: say which, "
                f"e.g. '{child.name}.{lookups[0]}'")
    return child, lookups[0]


def build_actions(obj: ObjectDef, drafts: Mapping[str, tuple[dict[str, Any], Src]],
                  objects: Mapping[str, ObjectDef], fields: Mapping[str, Mapping[str, FieldDef]],
                  roles: Mapping[str, Any], problems: list[Problem]) -> dict[str, RecordAction]:
    """The `actions:` of one object, each checked: its inputs are fields, its steps are
    workflow actions whose values may also name `input.x` and `new.y`."""
    out = {}
    for name, (data, src) in drafts.items():
        before = len(problems)
        inputs = {}
        for iname, idata in data.get("inputs", {}).items():
            isrc = Src(src.doc, src.at("inputs", iname))
            idata = dict(idata)
            like = idata.pop("field", None)
            if like is not None:  # a field asked again: the record's (its value the default)
                owner_name, _, fname = like.rpartition(".")  # or another object's: contract.type
                owner = objects.get(owner_name or obj.name)
                base = owner.fields.get(fname) if owner is not None else None
                if base is None or base.maintained:
                    where = owner.fields if owner is not None else objects
                    problems.append(isrc.problem(
                        f"'{like}' is not a field one can set"
                        + did_you_mean(fname if owner is not None else owner_name, where)
                        + " (write a field of this object, or object.field)", "field"))
                    continue
                idata = {**{k: v for k, v in base.to_data().items()
                            if k not in ("unique", "index", "read_only", "default")},
                         **({"default": "=" + fname} if not owner_name else
                            {"default": base.default} if base.default is not None else {}),
                         **idata}
            elif "type" not in idata:
                problems.append(isrc.problem("an input needs a type, or the field of "
                                             f"{obj.name} it asks for (field: name)"))
                continue
            fdef = build_field(iname, idata, isrc, problems)
            if fdef is None:
                continue
            if fdef.computed or fdef.kind.refers == "file":
                problems.append(isrc.problem(f"an action cannot ask for {article(fdef.type)} "
                                             "field", "type"))
            elif fdef.to is not None and fdef.to not in objects:
                problems.append(isrc.problem(f"unknown object '{fdef.to}'"
                                             + did_you_mean(fdef.to, objects), "to"))
            elif fdef.default is not None:
                check_value(fdef.default, ObjectScope(fields, obj.name), isrc, ("default",),
                            problems)
            inputs[iname] = fdef
        scope = StepScope(fields, obj.name, inputs)
        condition = None
        if "if" in data:
            condition = parse_expression(data["if"], src, ("if",), problems)
            check_expression(condition, ObjectScope(fields, obj.name), src, ("if",), problems)
        for i, role in enumerate(data.get("roles", [])):
            if role not in roles:
                problems.append(src.problem(f"unknown role '{role}'" + did_you_mean(role, roles),
                                            "roles", i))
        steps = []
        for i, item in enumerate(data["do"]):
            kind, params = next(iter(item.items()))
            _check_action(kind, params, obj, objects, fields, scope, src.at("do", i, kind),
                          src.doc, problems)
            steps.append(Action(kind, frozen_map(params)))
        if "open" in data and data["open"] not in scope.made:
            problems.append(src.problem(
                f"'open' names no record a step makes: '{data['open']}'"
                + did_you_mean(data["open"], scope.made)
                + " (give a create step `as:` and name it here)", "open"))
        if "confirm" in data:
            for language, text in Label.of(data["confirm"]).texts.items():
                check_placeholders(text, ObjectScope(fields, obj.name), src, ("confirm",
                                                                               language),
                                   problems)
        if len(problems) > before:
            continue
        out[name] = RecordAction(
            name=name, object=obj.name, label=Label.of(data["label"]), steps=tuple(steps),
            condition=condition, roles=tuple(data.get("roles", ())),
            confirm=Label.of(data["confirm"]) if "confirm" in data else None,
            inputs=frozen_map(inputs), open=data.get("open"), bulk=bool(data.get("bulk", True)))
    return out


def build_approvals(obj: ObjectDef, drafts: Mapping[str, tuple[dict[str, Any], Src]],
                    fields: Mapping[str, Mapping[str, FieldDef]], roles: Mapping[str, Any],
                    problems: list[Problem]) -> dict[str, Approval]:
    """The `approvals:` of one object, checked: conditions, and who approves each step."""
    out = {}
    scope = ObjectScope(fields, obj.name)
    for name, (data, src) in drafts.items():
        before = len(problems)
        when = parse_expression(data["when"], src, ("when",), problems)
        check_expression(when, scope, src, ("when",), problems)
        guard = None
        if "before" in data:
            guard = parse_expression(data["before"], src, ("before",), problems)
            check_expression(guard, scope, src, ("before",), problems)
        steps = []
        for i, step in enumerate(data["steps"]):
            chosen = [k for k in ("role", "manager", "user") if k in step]
            if len(chosen) != 1:
                problems.append(src.problem("a step names its approvers one way: role, "
                                            "manager (a user field) or user", "steps", i))
                continue
            if "role" in step and step["role"] not in roles:
                problems.append(src.problem(f"unknown role '{step['role']}'"
                                            + did_you_mean(step["role"], roles),
                                            "steps", i, "role"))
            if "manager" in step:
                fdef = obj.fields.get(step["manager"])
                if fdef is None or fdef.kind.refers != "user":
                    users = [n for n, f in obj.fields.items() if f.kind.refers == "user"]
                    problems.append(src.problem(
                        f"manager: '{step['manager']}' must be a user field of {obj.name} "
                        "(its user's team manager approves)" + did_you_mean(step["manager"],
                                                                           users),
                        "steps", i, "manager"))
            steps.append(ApprovalStep(role=step.get("role"), manager=step.get("manager"),
                                      user=step.get("user"),
                                      label=Label.of(step["label"]) if "label" in step
                                      else None))
        if len(problems) > before or when is None:
            continue
        out[name] = Approval(name=name, object=obj.name, label=Label.of(data["label"]),
                             when=when, steps=tuple(steps), before=guard,
                             lock=bool(data.get("lock", True)),
                             reads=frozenset(n.path[0] for n in when.names()))
    return out


def _check_conversion(as_name: str, spec: Mapping[str, Any], objects: Mapping[str, ObjectDef],
                      scope: StepScope, src: Src, problems: list[Problem]) -> None:
    """One record a conversion finds or makes: its object, its map, its find_by fields."""
    target = _made_object(spec, objects, scope, src, problems)
    if target is None:
        return
    _check_values(spec["map"], target, scope, Src(src.doc, src.at("map")), problems)
    for i, alternative in enumerate(spec.get("find_by", [])):
        for fname in [alternative] if isinstance(alternative, str) else alternative:
            if fname not in spec["map"]:
                problems.append(src.problem(
                    f"find_by '{fname}': the map gives {target.name} no '{fname}' to look "
                    "for" + did_you_mean(fname, spec["map"]), "find_by", i))
    scope.made[as_name] = target.name


def _related(obj: ObjectDef, params: Mapping[str, Any], objects: Mapping[str, ObjectDef],
             scope: StepScope, src: Src, problems: list[Problem]
             ) -> tuple[ObjectDef, StepScope] | None:
    """The related records a for_each or an update walks (`records:`), and what their
    steps see; their `if` checked."""
    found = children(obj, params["records"], objects)
    if isinstance(found, str):
        problems.append(src.problem(found, "records"))
        return None
    child, _ = found
    inner = scope.child(child.name)
    if "if" in params:
        condition = parse_expression(params["if"], src, ("if",), problems)
        check_expression(condition, inner, src, ("if",), problems)
    return child, inner


def _made_object(spec: Mapping[str, Any], objects: Mapping[str, ObjectDef], scope: ObjectScope,
                 src: Src, problems: list[Problem]) -> ObjectDef | None:
    """The object a create (or a conversion's record) makes, its `if` checked."""
    target = objects.get(spec["object"])
    if target is None:
        problems.append(src.problem(f"unknown object '{spec['object']}'"
                                    + did_you_mean(spec["object"], objects), "object"))
        return None
    if "if" in spec:
        condition = parse_expression(spec["if"], src, ("if",), problems)
        check_expression(condition, scope, src, ("if",), problems)
    return target


def _check_values(values: Mapping[str, Any], target: ObjectDef, scope: ObjectScope, src: Src,
                  problems: list[Problem]) -> None:
    for fname, value in values.items():
        fdef = target.fields.get(fname)
        if fdef is None:
            problems.append(src.problem(f"unknown field '{fname}' on {target.name}"
                                        + did_you_mean(fname, target.fields), fname))
            continue
        if fdef.maintained:  # a read-only field binds people, not rules
            problems.append(src.problem(f"'{fname}' of {target.name} is kept by MetaCRM "
                                        f"({fdef.type}, computed or a system field); it "
                                        "cannot be set", fname))
        check_value(value, scope, src, (fname,), problems)


def check_value(value: Any, scope: ObjectScope, src: Src, key: tuple,
                problems: list[Problem]) -> None:
    """A literal, a `{field}` template or an `=expression`, checked against `scope`."""
    if is_translated(value):  # {en: "Call {name}", vi: "Gọi {name}"}
        for language, text in value.items():
            check_value(text, scope, src, (*key, language), problems)
    elif isinstance(value, str) and value.startswith("="):
        expr = parse_expression(value[1:], src, key, problems)
        check_expression(expr, scope, src, key, problems)
    elif isinstance(value, str):
        check_placeholders(value, scope, src, key, problems)


def _check_action(kind: str, params: Any, obj: ObjectDef, objects: Mapping[str, ObjectDef],
                  fields: Mapping[str, Mapping[str, FieldDef]], scope: ObjectScope,
                  path: tuple, doc: Document, problems: list[Problem]) -> None:
    src = Src(doc, path)
    if kind == "set":
        _check_values(params, obj, scope, src, problems)
    elif kind == "create":
        target = _made_object(params, objects, scope, src, problems)
        if target is None:
            return
        values_scope = scope
        if "count" in params:
            count = params["count"]
            if isinstance(count, str):
                check_value(count if count.startswith("=") else "=" + count, scope, src,
                            ("count",), problems)
            elif not 1 <= count <= MAX_CHILDREN:
                problems.append(src.problem(f"count must be 1 to {MAX_CHILDREN}", "count"))
            if "as" in params:
                problems.append(src.problem("a create with a count makes several records; "
                                            "`as:` names one", "as"))
            values_scope = scope.counted()
        _check_values(params.get("values", {}), target, values_scope,
                      Src(doc, (*path, "values")), problems)
        if "as" in params and "count" not in params:
            scope.made[params["as"]] = target.name
    elif kind == "for_each":
        related = _related(obj, params, objects, scope, src, problems)
        if related is None:
            return
        child, inner = related
        for i, item in enumerate(params["do"]):
            step, step_params = next(iter(item.items()))
            _check_action(step, step_params, child, objects, fields, inner,
                          (*path, "do", i, step), doc, problems)
    elif kind == "convert" and isinstance(scope, StepScope):
        for as_name, spec in params["records"].items():
            _check_conversion(as_name, spec, objects, scope, Src(doc, (*path, "records",
                                                                       as_name)), problems)
        if "mark" in params:
            _check_values(params["mark"], obj, scope, Src(doc, (*path, "mark")), problems)
    elif kind == "update" and "records" in params:
        if "set" not in params or "record" in params or "values" in params:
            problems.append(src.problem("an update of related records says records: and "
                                        "set: (an update of one lookup's record says record: "
                                        "and values:)"))
            return
        related = _related(obj, params, objects, scope, src, problems)
        if related is None:
            return
        child, inner = related
        _check_values(params["set"], child, inner, Src(doc, (*path, "set")), problems)
    elif kind == "update":
        if "record" not in params or "values" not in params or "set" in params:
            problems.append(src.problem("an update says record: (a lookup, '{account}') and "
                                        "values:, or records: (related records) and set:"))
            return
        ref = re.fullmatch(r"\{([a-z][a-z0-9_]*)\}", params["record"].strip())
        lookup = obj.fields.get(ref.group(1)) if ref else None
        if lookup is None or lookup.type != "lookup":
            problems.append(src.problem(
                f"record must name a lookup field of {obj.name} in braces, e.g. '{{account}}'; "
                f"got '{params['record']}'", "record"))
            return
        if lookup.to in objects:  # else its own document says what is wrong with it
            _check_values(params["values"], objects[lookup.to or ""], scope,
                          Src(doc, (*path, "values")), problems)
    elif kind in ("email", "notify"):
        for key in ("to", "cc", "subject", "body", "message"):
            if key in params:
                check_value(params[key], scope, src, (key,), problems)
    elif kind == "webhook":
        for i, fname in enumerate(params.get("payload", [])):
            message = scope.resolve(fname.split("."))
            if message:
                problems.append(src.problem(message, "payload", i))
