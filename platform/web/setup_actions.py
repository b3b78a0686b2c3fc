"""Setup: an object's record actions and approvals, from the object manager.

An action is edited as its label, when it shows (`if`), who may run it (`roles`), the question
it asks (`confirm`), its inputs (rows: a name and a field type, or one of the record's own
fields asked again), its steps (the rule builder's rows, setup_steps) and the record the
result opens. An approval: its label, when a record needs it (a condition built like a
rule's), the state it may not be saved in without the yes (`before`), `lock`, and up to five
steps (the users of a role, the team manager of a user field, or one user). Both are written
into the object's document (an `extend:` for the app's objects) through setup.apply_change,
so the loader checks them and the admin reviews the diff before anything is saved.

An action or approval whose shape the form cannot hold (an input with `min`, a step the rows
do not show) is edited as its YAML, in a text box the loader checks like any change; `?yaml=1`
asks for that box for any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..engine.errors import NotFound
from ..fieldtypes import SETUP_TYPES, TYPES
from ..metadata.documents import dump
from ..metadata.edits import Draft, EditError
from ..metadata.model import ObjectDef
from . import auth
from .setup import NAME, admin_context, apply_change, draft, form_values, path_object, runtime
from .setup_rules import OPERATORS, condition, shown_expression
from .setup_steps import (
    build_steps,
    editor,
    in_languages,
    languages,
    row_indexes,
    step_values,
    text,
)
from .templating import render

INPUT_TYPES = tuple(t for t in SETUP_TYPES if not TYPES[t].computed and TYPES[t].refers != "file")
_INPUT_KEYS = {"type", "field", "label", "required", "default", "options", "to"}
APPROVERS = ("role", "manager", "user")
MAX_STEPS = 5


def _label(values: Mapping[str, str], prefix: str, fallback: str = "") -> dict[str, str]:
    en, vi = values.get(f"{prefix}_en", "").strip(), values.get(f"{prefix}_vi", "").strip()
    en, vi = en or vi or fallback, vi or en or fallback
    return {"en": en, "vi": vi}


def _label_values(label: Any, prefix: str) -> dict[str, str]:
    en, vi = languages(label)
    return {f"{prefix}_en": en, f"{prefix}_vi": vi or en}


def _checked(values: Mapping[str, str], name: str) -> bool:
    return values.get(name, "") not in ("", "0")


# --- actions: form <-> document --------------------------------------------------------------


def action_document(objects: Mapping[str, ObjectDef], obj: ObjectDef, values: dict[str, str],
                    roles: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The action the form describes, and where the loader's messages go."""
    doc: dict[str, Any] = {"label": _label(values, "label")}
    if not doc["label"]["en"]:
        raise EditError("give the action a label: it is the button's text", "label_en")
    inputs = {"label": "label_en", "if": "expression", "roles": "roles", "confirm": "confirm_en",
              "open": "open", "inputs": "input_name_0", "do": "action_0"}
    expression = condition(obj, values)
    if expression:
        doc["if"] = expression
    chosen = [r for r in roles if _checked(values, f"role_{r}")]
    if chosen:
        doc["roles"] = chosen
    confirm = in_languages(values.get("confirm_en", "").strip(),
                           values.get("confirm_vi", "").strip())
    if confirm:
        doc["confirm"] = confirm
    if not _checked(values, "bulk"):
        doc["bulk"] = False
    asked: dict[str, Any] = {}
    for j in row_indexes(values, "input_name_", minimum=2):
        name = values.get(f"input_name_{j}", "").strip()
        if not name:
            continue
        if not NAME.fullmatch(name):
            raise EditError(f"'{name}' is not a valid name (lowercase letters, digits, _)",
                            f"input_name_{j}")
        asked[name] = _input(values, j)
        inputs.update({f"inputs.{name}": f"input_name_{j}",
                       f"inputs.{name}.type": f"input_type_{j}",
                       f"inputs.{name}.field": f"input_field_{j}",
                       f"inputs.{name}.default": f"input_default_{j}",
                       f"inputs.{name}.options": f"input_options_{j}",
                       f"inputs.{name}.to": f"input_to_{j}"})
    if asked:
        doc["inputs"] = asked
    doc["do"], found = build_steps(objects, obj, values)
    inputs.update(found)
    if values.get("open", "").strip():
        doc["open"] = values["open"].strip()
    return doc, inputs


def _input(values: Mapping[str, str], j: int) -> dict[str, Any]:
    kind = values.get(f"input_type_{j}", "").strip() or "text"
    spec: dict[str, Any] = {}
    if kind == "field":
        field = values.get(f"input_field_{j}", "").strip()
        if not field:
            raise EditError("name the record's field the input asks", f"input_field_{j}")
        spec["field"] = field
    elif kind in INPUT_TYPES:
        spec["type"] = kind
    else:
        raise EditError(f"'{kind}' is not a type an input may have", f"input_type_{j}")
    label = _label(values, f"input_label_{j}")
    if label["en"]:
        spec["label"] = label
    if _checked(values, f"input_required_{j}"):
        spec["required"] = True
    default = values.get(f"input_default_{j}", "").strip()
    if default:
        spec["default"] = default
    takes = TYPES[kind].keys if kind in TYPES else frozenset()
    if "options" in takes:  # a picklist's values, comma separated
        spec["options"] = [o.strip() for o in values.get(f"input_options_{j}", "").split(",")
                           if o.strip()]
    if "to" in takes:  # a lookup's object
        spec["to"] = values.get(f"input_to_{j}", "").strip()
    return spec


def action_values(name: str, doc: Mapping[str, Any]) -> dict[str, str] | None:
    """The form's inputs for a written action; None when the form cannot hold it."""
    steps = step_values(list(doc.get("do", [])))
    if steps is None:
        return None
    out = {"name": name, **_label_values(doc.get("label", ""), "label"),
           **_label_values(doc.get("confirm", ""), "confirm"),
           "mode": "raw" if doc.get("if") else "rows", "expression": str(doc.get("if", "")),
           "open": str(doc.get("open", "")), "bulk": "" if doc.get("bulk") is False else "1",
           **{f"role_{r}": "1" for r in doc.get("roles", [])}, **steps}
    for j, (iname, spec) in enumerate(doc.get("inputs", {}).items()):
        if set(spec) - _INPUT_KEYS or any(isinstance(spec.get(k), (dict, list))
                                          for k in ("default", "to")):
            return None
        options = spec.get("options", [])
        if any(isinstance(o, dict) for o in options):
            return None
        out.update({f"input_name_{j}": iname,
                    f"input_type_{j}": "field" if "field" in spec else spec.get("type", ""),
                    f"input_field_{j}": spec.get("field", ""),
                    **_label_values(spec.get("label", ""), f"input_label_{j}"),
                    f"input_required_{j}": "1" if spec.get("required") else "",
                    f"input_default_{j}": text(spec.get("default")),
                    f"input_options_{j}": ", ".join(str(o) for o in options),
                    f"input_to_{j}": spec.get("to", "")})
    return out


# --- approvals: form <-> document ------------------------------------------------------------


def approval_document(obj: ObjectDef, values: dict[str, str]
                      ) -> tuple[dict[str, Any], dict[str, str]]:
    doc: dict[str, Any] = {"label": _label(values, "label")}
    if not doc["label"]["en"]:
        raise EditError("give the approval a label", "label_en")
    when = condition(obj, values)
    if not when:
        raise EditError("say when a record needs the approval: add a condition", "field_0")
    doc["when"] = when
    before = values.get("before", "").strip()
    if before:
        doc["before"] = before
    if not _checked(values, "lock"):
        doc["lock"] = False
    steps = []
    inputs = {"label": "label_en", "when": "expression", "before": "before",
              "steps": "step_kind_0"}
    for k in range(MAX_STEPS):
        kind = values.get(f"step_kind_{k}", "").strip()
        who = values.get(f"step_who_{k}", "").strip()
        if not kind:
            continue
        if kind not in APPROVERS:
            raise EditError(f"'{kind}' is not a kind of approver", f"step_kind_{k}")
        if not who:
            raise EditError({"role": "name the role", "manager": "name the user field whose "
                             "team manager approves (e.g. owner)", "user": "name the user"}[
                                 kind], f"step_who_{k}")
        step: dict[str, Any] = {kind: who}
        label = _label(values, f"step_label_{k}")
        if label["en"]:
            step["label"] = label
        inputs.update({f"steps[{len(steps)}]": f"step_who_{k}",
                       f"steps[{len(steps)}].{kind}": f"step_who_{k}"})
        steps.append(step)
    if not steps:
        raise EditError("say who approves: at least one step", "step_kind_0")
    doc["steps"] = steps
    return doc, inputs


def approval_values(name: str, doc: Mapping[str, Any]) -> dict[str, str] | None:
    steps = doc.get("steps", [])
    if len(steps) > MAX_STEPS or any(
            len(set(s) & set(APPROVERS)) != 1 or set(s) - {*APPROVERS, "label"} for s in steps):
        return None
    out = {"name": name, **_label_values(doc.get("label", ""), "label"), "mode": "raw",
           "expression": str(doc.get("when", "")), "before": str(doc.get("before", "")),
           "lock": "" if doc.get("lock") is False else "1"}
    for k, step in enumerate(steps):
        kind = next(a for a in APPROVERS if a in step)
        out.update({f"step_kind_{k}": kind, f"step_who_{k}": str(step[kind]),
                    **_label_values(step.get("label", ""), f"step_label_{k}")})
    return out


# --- the pages --------------------------------------------------------------------------------


def _read_yaml(values: Mapping[str, str]) -> dict[str, Any]:
    try:
        data = yaml.safe_load(values.get("yaml", ""))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise EditError(f"this is not YAML{where}: {getattr(exc, 'problem', exc)}",
                        "yaml") from None
    if not isinstance(data, dict):
        raise EditError("write the keys of the definition (label:, do:, ...)", "yaml")
    return data


Describe = Callable[[ObjectDef, dict[str, str]], tuple[dict[str, Any], dict[str, str]]]


def _part_page(request: Request, key: str, *, read: Callable[[str, Mapping[str, Any]],
               dict[str, str] | None], describe: Describe, template: str,
               context: Callable[[ObjectDef, dict[str, str]], dict[str, Any]]) -> Response:
    """A new action or approval of an object, or one changed or removed (`key`: actions or
    approvals)."""
    frame, ctx = admin_context(request)
    rt = runtime(request)
    obj = path_object(request)
    obj_name = obj.name
    what = key.removesuffix("s")
    current = request.path_params.get("name")
    new = current is None
    existing = None if new else draft(rt).parts(obj_name, key).get(current)
    if not new and existing is None:
        raise NotFound(f"'{obj_name}' has no {what} '{current}'")
    done = f"/setup/objects/{obj_name}"

    def show(values: dict[str, str], errors: dict[str, str], *, base: Any,
             produced: str | None = None, status: int = 200) -> Response:
        return render(frame, template, {
            "obj": obj, "values": values, "errors": errors, "new": new, "base": base,
            "produced": produced, "kind": key, "fields": sorted(obj.fields),
            "operators": OPERATORS, "cond_rows": row_indexes(values, "field_"),
            "as_yaml": "yaml" in values, **context(obj, values)}, status=status)

    if request.method == "GET":
        if new:
            start = {"yaml": ""} if request.query_params.get("yaml") else {"lock": "1",
                                                                          "bulk": "1"}
            return show(start, {}, base=rt.version)
        values = None if request.query_params.get("yaml") else read(str(current), existing)
        return show(values or {"name": str(current), "yaml": dump(existing)}, {},
                    base=rt.version)
    form = auth.checked_form(request)
    values = form_values(form)
    name = values.get("name", "").strip() if new else str(current)
    values["name"] = name
    base = form.get("base") or rt.version

    def again(errors: dict[str, str]) -> Response:
        return show(values, errors, base=base, status=422)

    if form.get("preview") == "1":
        return shown_expression(obj, values, again, lambda produced: show(
            values, {}, base=base, produced=produced))

    if not new and form.get("remove") == "1":
        def remove(d: Draft) -> str:
            d.set_part(obj_name, key, name, None)
            return f"remove {what} {name} of {obj_name}"

        return apply_change(frame, ctx, form, remove, again=again, done=done)

    inputs: dict[str, str] = {"yaml": "yaml"}

    def edit(d: Draft) -> str:
        if not NAME.fullmatch(name):
            raise EditError(f"'{name}' is not a valid name: use lowercase letters, digits and "
                            "_, starting with a letter (e.g. mark_won)", "name")
        if new and name in d.parts(obj_name, key):
            raise EditError(f"'{obj_name}' already has a {what} named '{name}'", "name")
        if "yaml" in values:
            doc, found = _read_yaml(values), {name: "yaml"}
        else:
            doc, found = describe(obj, values)
        inputs.update(found)
        d.set_part(obj_name, key, name, doc)
        return f"{'add' if new else 'change'} {what} {name} of {obj_name}"

    return apply_change(frame, ctx, form, edit, again=again, done=done, inputs=inputs)


def action_page(request: Request) -> Response:
    rt = runtime(request)
    roles = sorted(rt.model.roles)

    def context(obj: ObjectDef, values: dict[str, str]) -> dict[str, Any]:
        return {"roles": [(r, rt.model.roles[r].label) for r in roles],
                "input_types": INPUT_TYPES, "input_rows": row_indexes(values, "input_name_",
                                                                      minimum=2),
                **editor(rt.model.objects, obj, values)}

    return _part_page(request, "actions", read=action_values, template="setup_action.html",
                      describe=lambda obj, values: action_document(
                          rt.model.objects, obj, values, roles), context=context)


def approval_page(request: Request) -> Response:
    rt = runtime(request)

    def context(obj: ObjectDef, values: dict[str, str]) -> dict[str, Any]:
        return {"roles": sorted(rt.model.roles), "approvers": APPROVERS,
                "step_rows": range(MAX_STEPS),
                "user_fields": sorted(f.name for f in obj.fields.values()
                                      if f.kind.refers == "user")}

    return _part_page(request, "approvals", read=approval_values, describe=approval_document,
                      template="setup_approval.html", context=context)


routes = [
    Route("/setup/objects/{object}/actions/new", action_page, methods=["GET", "POST"]),
    Route("/setup/objects/{object}/actions/{name}", action_page, methods=["GET", "POST"]),
    Route("/setup/objects/{object}/approvals/new", approval_page, methods=["GET", "POST"]),
    Route("/setup/objects/{object}/approvals/{name}", approval_page, methods=["GET", "POST"]),
]
