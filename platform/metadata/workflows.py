"""Workflow rules: instantiating recipes (`use:` + `with:`), then checking triggers,
conditions and actions against the objects they touch."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .model import Action, FieldDef, Label, ObjectDef, Schedule, Workflow, frozen_map, is_translated
from .objects import ObjectScope, Src, check_expression, check_placeholders, parse_expression
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
    scope = ObjectScope(fields, obj_name)
    before = len(problems)
    when = data["when"]
    event, schedule = (when, None) if isinstance(when, str) else (None, None)
    if isinstance(when, dict):
        sched = when["schedule"]
        if ("date_field" in sched) == ("holiday" in sched):
            problems.append(src.problem("a schedule needs either date_field (a date of the "
                                        "record) or holiday, not both", "when", "schedule"))
        elif "date_field" in sched:
            date_field = obj.fields.get(sched["date_field"])
            if date_field is None or not date_field.kind.is_date:
                problems.append(src.problem(
                    f"'{sched['date_field']}' must be a date field of {obj_name}"
                    + did_you_mean(sched["date_field"], obj.fields), "when", "schedule",
                    "date_field"))
        offset = sched.get("offset")
        if offset is not None and not re.fullmatch(r"[+-]?\d+d", str(offset)):
            problems.append(src.problem(f"'{offset}' is not an offset in days (write -30d "
                                        "or 2d)", "when", "schedule", "offset"))
            offset = None
        schedule = Schedule(sched.get("date_field"), _offset_days(offset), sched.get("every"),
                            sched.get("at"), sched.get("holiday"))
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
        target = objects.get(params["object"])
        if target is None:
            problems.append(src.problem(f"unknown object '{params['object']}'"
                                        + did_you_mean(params["object"], objects), "object"))
            return
        _check_values(params.get("values", {}), target, scope, Src(doc, (*path, "values")),
                      problems)
    elif kind == "update":
        ref = re.fullmatch(r"\{([a-z][a-z0-9_]*)\}", params["record"].strip())
        lookup = obj.fields.get(ref.group(1)) if ref else None
        if lookup is None or lookup.type != "lookup":
            problems.append(src.problem(
                f"record must name a lookup field of {obj.name} in braces, e.g. '{{account}}'; "
                f"got '{params['record']}'", "record"))
            return
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
