"""Setup: workflow and validation rules.

The rules page lists every workflow rule with its on/off switch (data, not metadata: see
engine.workflows.switch) and a test against the existing records (engine.scheduler.simulate).
The builder writes a record-triggered rule as a whole `workflows/<name>.yaml` document, and
a validation rule into the object's document, through setup.apply_change: the loader checks
it, the admin reviews the plan and the diff, then it is saved as a new metadata version.

A condition is built from rows of (field, operator, value) joined with `and` or `or`, which
become the expression text, e.g. rows (city, equals, Huế) and (level, is blank) make
``city == 'Huế' and is_blank(level)``; or the admin types the expression itself.

A rule runs when a record is saved, or on a schedule: the day of a date field (with an offset,
once, every year or every month), N days after a field last changed while it is still in
some values ("14 days in proposal": the builder switches on the field's track_changes), every
day, week or month, or a holiday. Its steps are edited as rows (setup_steps).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..engine import workflows
from ..engine.errors import CrmError, NotFound
from ..engine.scheduler import FIXED_HOLIDAYS, simulate
from ..metadata.documents import dump
from ..metadata.edits import Draft, EditError
from ..metadata.model import ObjectDef, Workflow
from . import auth
from .pages import PageContext, flash
from .setup import NAME, admin_context, apply_change, draft, form_values, path_object, runtime
from .setup_steps import build_steps, editor, row_indexes, step_values
from .templating import render

TRIGGERS = ("created", "updated", "saved", "deleted", "schedule")
SCHEDULES = ("date", "after", "every", "holiday")  # the kinds of schedule the builder writes
HOLIDAYS = ("tet", *FIXED_HOLIDAYS)
OPERATORS = {  # key -> label shown in the builder
    "eq": "equals", "ne": "not equals", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
    "contains": "contains", "starts": "starts with", "blank": "is blank",
    "not_blank": "is not blank", "changed": "changed"}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_NO_VALUE = ("blank", "not_blank", "changed")
_HOUR = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")


# --- conditions -----------------------------------------------------------------------------


def quote(text: str) -> str:
    """A text literal of the expression language: 'Huế', 'O\\'Brien'."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def literal(obj: ObjectDef, fname: str, text: str, input_name: str) -> str:
    """The value of a condition row as the expression language writes it for that field:
    numbers bare, checkboxes true/false, everything else (text, picklists, dates) quoted."""
    fdef = obj.fields[fname]
    kind = fdef.value_type
    text = text.strip()
    if fdef.kind.is_number or fdef.kind.is_reference:
        try:
            float(text)
        except ValueError:
            raise EditError(f"'{fname}' is a {kind} field: '{text}' is not a number",
                            input_name) from None
        return text
    if fdef.kind.value == "checkbox":
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise EditError(f"'{fname}' is a checkbox: write true or false", input_name)
        return "true" if text.lower() in ("true", "1", "yes") else "false"
    return quote(text)


def build_condition(obj: ObjectDef, values: dict[str, str]) -> str:
    """The expression the condition rows make ('' when no row is filled)."""
    joiner = " or " if values.get("combine") == "or" else " and "
    parts = []
    for i in row_indexes(values, "field_"):
        fname = values.get(f"field_{i}", "").strip()
        if not fname:
            continue
        if fname not in obj.fields:
            raise EditError(f"unknown field '{fname}' on {obj.name}", f"field_{i}")
        op = values.get(f"op_{i}", "eq")
        if op not in OPERATORS:
            raise EditError(f"'{op}' is not an operator", f"op_{i}")
        if op == "blank":
            parts.append(f"is_blank({fname})")
        elif op == "not_blank":
            parts.append(f"not is_blank({fname})")
        elif op == "changed":
            parts.append(f"changed({quote(fname)})")
        elif op in ("contains", "starts"):
            func = "contains" if op == "contains" else "starts_with"
            parts.append(f"{func}({fname}, {quote(values.get(f'value_{i}', '').strip())})")
        else:
            value = literal(obj, fname, values.get(f"value_{i}", ""), f"value_{i}")
            parts.append(f"{fname} {_COMPARE[op]} {value}")
    if len(parts) > 1 and joiner == " or ":
        return joiner.join(f"({p})" if " and " in p else p for p in parts)
    return joiner.join(parts)


def shown_expression(obj: ObjectDef | None, values: dict[str, str],
                     again: Callable[[dict[str, str]], Response],
                     show: Callable[[str], Response]) -> Response:
    """The "Show the expression" button: the expression the rows make, also put in the
    expression box (unless the admin writes it); nothing is saved."""
    try:
        produced = build_condition(obj, values) if obj else ""
    except EditError as exc:
        return again({exc.field or "_": str(exc)})
    if values.get("mode") != "raw":
        values["expression"] = produced
    return show(produced)


def condition(obj: ObjectDef, values: dict[str, str]) -> str:
    """The rule's condition: the typed expression in raw mode, else the rows'."""
    if values.get("mode") == "raw":
        return values.get("expression", "").strip()
    return build_condition(obj, values)


# --- schedules -----------------------------------------------------------------------------


def _days(text: str, name: str, *, signed: bool = True) -> int:
    try:
        days = int(text)
    except ValueError:
        raise EditError(f"'{text}' is not a number of days", name) from None
    if not signed and days < 0:
        raise EditError("a number of days from 0 on", name)
    return days


def build_schedule(obj: ObjectDef, values: dict[str, str]
                   ) -> tuple[dict[str, Any], str, dict[str, str]]:
    """The rule's `schedule:`, the condition it adds (the values an `after` field must still
    have) and where the loader's messages about it go."""
    get = lambda key: values.get(key, "").strip()  # noqa: E731
    kind = get("schedule_kind") or "date"
    sched: dict[str, Any] = {}
    extra = ""
    if kind == "date":
        if not get("date_field"):
            raise EditError("choose the date field", "date_field")
        sched["date_field"] = get("date_field")
        days = _days(get("offset") or "0", "offset")
        if days:
            sched["offset"] = f"{days:+d}d".lstrip("+")
        if get("every") in ("year", "month"):
            sched["every"] = get("every")
    elif kind == "after":
        fname = get("after_field")
        if fname not in obj.fields:
            raise EditError(f"choose a field of {obj.name}", "after_field")
        sched["after"] = {"field": fname, "days": _days(get("after_days"), "after_days",
                                                         signed=False)}
        wanted = [v.strip() for v in get("after_values").split(",") if v.strip()]
        if wanted:
            items = ", ".join(literal(obj, fname, v, "after_values") for v in wanted)
            extra = f"{fname} in [{items}]"
    elif kind == "every":
        if get("period") not in ("day", "week", "month"):
            raise EditError("choose every day, week or month", "period")
        sched["every"] = get("period")
    elif kind == "holiday":
        if not get("holiday"):
            raise EditError("choose the holiday (or write DD/MM)", "holiday")
        sched["holiday"] = get("holiday")
    else:
        raise EditError(f"'{kind}' is not a kind of schedule", "schedule_kind")
    if get("at"):
        if not _HOUR.fullmatch(get("at")):
            raise EditError(f"'{get('at')}' is not a time of day (write 08:00)", "at")
        sched["at"] = get("at")
    catch_up = get("catch_up")
    if catch_up in ("no", "false"):
        sched["catch_up"] = False
    elif catch_up:
        sched["catch_up"] = _days(catch_up, "catch_up", signed=False)
    inputs = {"schedule": "schedule_kind", "schedule.date_field": "date_field",
              "schedule.offset": "offset", "schedule.every": "every",
              "schedule.after": "after_field", "schedule.after.field": "after_field",
              "schedule.after.days": "after_days", "schedule.holiday": "holiday",
              "schedule.at": "at", "schedule.catch_up": "catch_up"}
    return sched, extra, inputs


_AFTER_VALUES = re.compile(r"^([a-z][a-z0-9_]*) in \[(.*?)\](?: and \((.*)\))?$", re.S)
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|(-?\d+(?:\.\d+)?)")


_HOLDS = {"after": {"after", "at", "catch_up"}, "holiday": {"holiday", "at", "catch_up"},
          "date_field": {"date_field", "offset", "every", "at", "catch_up"}}


def schedule_values(sched: dict[str, Any], condition: str
                    ) -> tuple[dict[str, str], str] | None:
    """The builder's inputs for a written schedule, and what is left of the rule's `if`
    (an `after` rule's "still in these values" has its own input); None for a schedule the
    builder cannot show (an `after` with an offset: edited as YAML)."""
    kind = next((k for k in _HOLDS if k in sched), None)
    if set(sched) - _HOLDS.get(kind or "", {"every", "at", "catch_up"}):
        return None
    out: dict[str, str] = {"when": "schedule"}
    if "after" in sched:
        field = sched["after"]["field"]
        out.update({"schedule_kind": "after", "after_field": field,
                    "after_days": str(sched["after"]["days"])})
        split = _still_in(field, condition)
        if split is not None:
            out["after_values"], condition = split
    elif "holiday" in sched:
        out.update({"schedule_kind": "holiday", "holiday": str(sched["holiday"])})
    elif "date_field" in sched:
        out.update({"schedule_kind": "date", "date_field": sched["date_field"]})
        if "offset" in sched:
            out["offset"] = str(sched["offset"]).removesuffix("d")
        if "every" in sched:
            out["every"] = sched["every"]
    else:
        out.update({"schedule_kind": "every", "period": sched.get("every", "")})
    if "at" in sched:
        out["at"] = str(sched["at"])
    if "catch_up" in sched and sched["catch_up"] is not True:
        out["catch_up"] = "no" if sched["catch_up"] is False else str(sched["catch_up"])
    return out, condition


def _still_in(field: str, condition: str) -> tuple[str, str] | None:
    """("waiting, open", rest) from "stage in ['waiting', 'open'] and (rest)", as the builder
    writes it; None when the condition is written otherwise (it is then shown whole)."""
    found = _AFTER_VALUES.fullmatch(condition.strip())
    if not found or found.group(1) != field:
        return None
    items = [(m.group(1).replace("\\'", "'").replace("\\\\", "\\"), True)
             if m.group(1) is not None else (m.group(2), False)
             for m in _QUOTED.finditer(found.group(2))]
    written = ", ".join(quote(i) if quoted else i for i, quoted in items)
    rest = found.group(3) or ""
    if any("," in i or not i for i, _ in items) or condition.strip() != (
            f"{field} in [{written}]" + (f" and ({rest})" if rest else "")):
        return None
    return ", ".join(i for i, _ in items), rest


# --- the rules page, switch and test ---------------------------------------------------------


def trigger_text(workflow: Workflow) -> str:
    if workflow.event:
        return workflow.event
    s = workflow.schedule
    if s is None:
        return ""
    if s.holiday:
        return f"schedule: holiday {s.holiday}"
    every = f" every {s.every}" if s.every else ""
    if s.date_field is None:
        return f"schedule:{every}"
    offset = f" {s.offset_days:+d}d" if s.offset_days else ""
    return f"schedule: {s.date_field}{offset}{every}"


def rules_page(request: Request) -> Response:
    frame, ctx = admin_context(request)
    rt = runtime(request)
    d = draft(rt)
    rules = []
    for name, wf in sorted(rt.model.workflows.items()):
        rules.append({"name": name, "label": wf.label.get(ctx.locale) if wf.label else "",
                      "object": wf.object, "trigger": trigger_text(wf),
                      "condition": str(wf.condition) if wf.condition else "",
                      "active": workflows.is_active(ctx, wf), "metadata_active": wf.active,
                      "setup": f"workflows/{name}.yaml" in d.overlays})
    objects = [{"name": name, "label": obj.label.get(ctx.locale),
                "validations": len(obj.validations)}
               for name, obj in sorted(rt.model.objects.items())]
    return render(frame, "setup_rules.html", {"rules": rules, "objects": objects})


def switch_rule(request: Request) -> Response:
    frame, ctx = admin_context(request)
    rt = runtime(request)
    name = request.path_params["name"]
    if name not in rt.model.workflows:
        raise NotFound(f"there is no workflow rule '{name}'")
    form = auth.checked_form(request)
    active = form.get("active") == "1"
    workflows.switch(rt, name, active, ctx.user.id)
    flash(request, f"{name}: {'on' if active else 'off'}")
    return RedirectResponse("/setup/rules", status_code=303)


def test_rule(request: Request) -> Response:
    frame, _ = admin_context(request)
    rt = runtime(request)
    name = request.path_params["name"]
    try:
        result = simulate(rt, name)
    except CrmError as exc:
        raise NotFound(str(exc)) from None
    return render(frame, "setup_rule_test.html", {"result": result, "name": name})


# --- the rule builder -----------------------------------------------------------------------


def rule_document(objects: Mapping[str, ObjectDef], obj: ObjectDef, name: str,
                  values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The rule the builder's inputs describe, and where the loader's messages go."""
    if values.get("when") not in TRIGGERS:
        raise EditError("choose when the rule runs", "when")
    doc: dict[str, Any] = {"workflow": name}
    en, vi = values.get("label_en", "").strip(), values.get("label_vi", "").strip()
    if en or vi:
        doc["label"] = {"en": en or vi, "vi": vi or en}
    doc.update({"object": obj.name, "when": values["when"]})
    expression = condition(obj, values)
    inputs: dict[str, str] = {}
    if values["when"] == "schedule":
        schedule, extra, inputs = build_schedule(obj, values)
        doc["when"] = {"schedule": schedule}
        if extra:
            expression = f"{extra} and ({expression})" if expression else extra
    if expression:
        doc["if"] = expression
    doc["do"], found = build_steps(objects, obj, values)
    return doc, {**inputs, **found}


def rule_values(doc: dict[str, Any]) -> dict[str, str] | None:
    """The builder's inputs for an existing rule document (None: not a builder rule)."""
    if "use" in doc:
        return None
    steps = step_values(doc.get("do", []))
    if steps is None:
        return None
    label = doc.get("label") or {}
    label = label if isinstance(label, dict) else {"en": label, "vi": label}
    when, expression = {"when": doc["when"]}, str(doc.get("if", ""))
    if isinstance(doc["when"], dict):
        shown = schedule_values(doc["when"]["schedule"], expression)
        if shown is None:
            return None
        when, expression = shown
    return {"name": doc["workflow"], "object": doc["object"], **when,
            "label_en": label.get("en", ""), "label_vi": label.get("vi", ""),
            "mode": "raw" if expression else "rows", "expression": expression, **steps}


def _rule_form(frame: PageContext, values: dict[str, str], errors: dict[str, str], *,
               new: bool, base: Any, produced: str | None = None, yaml_text: str = "",
               status: int = 200) -> Response:
    rt = runtime(frame.request)
    obj = rt.model.objects.get(values.get("object", ""))
    return render(frame, "setup_rule.html", {
        "values": values, "errors": errors, "new": new, "base": base, "produced": produced,
        "objects": sorted(rt.model.objects), "obj": obj, "triggers": TRIGGERS,
        "operators": OPERATORS, "yaml_text": yaml_text, "schedules": SCHEDULES,
        "holidays": HOLIDAYS, "fields": sorted(obj.fields) if obj else [],
        "date_fields": sorted(f.name for f in obj.fields.values() if f.kind.is_date)
        if obj else [], "cond_rows": row_indexes(values, "field_"),
        **editor(rt.model.objects, obj, values)}, status=status)


def rule_page(request: Request) -> Response:
    """Build a new rule (`/setup/rules/new`) or change one."""
    frame, ctx = admin_context(request)
    rt = runtime(request)
    current = request.path_params.get("name")
    new = current is None
    path = f"workflows/{current}.yaml"
    existing = None if new else draft(rt).effective().get(path)
    if not new and existing is None:
        raise NotFound(f"there is no workflow rule '{current}'")
    if request.method == "GET":
        if new:
            first = request.query_params.get("object") or next(iter(sorted(
                rt.model.objects)), "")
            return _rule_form(frame, {"object": first, "when": "saved"}, {}, new=True,
                              base=rt.version)
        values = rule_values(existing)
        return _rule_form(frame, values or {"name": current}, {}, new=False,
                          base=rt.version, yaml_text="" if values else dump(existing))
    form = auth.checked_form(request)
    values = form_values(form)
    name = values.get("name", "").strip() if new else str(current)
    values["name"] = name
    path = f"workflows/{name}.yaml"
    base = form.get("base") or rt.version
    inputs = {"if": "expression", "object": "object", "when": "when", "workflow": "name",
              "label": "label_en"}  # edit() adds its actions' inputs before the check

    def again(errors: dict[str, str]) -> Response:
        return _rule_form(frame, values, errors, new=new, base=base, status=422)

    obj = rt.model.objects.get(values.get("object", ""))
    if form.get("preview") == "1":
        return shown_expression(obj, values, again, lambda produced: _rule_form(
            frame, values, {}, new=new, base=base, produced=produced))

    if not new and form.get("remove") == "1":
        def remove(d: Draft) -> str:
            if path not in d.overlays:
                raise EditError(f"'{name}' belongs to the app: switch it off instead")
            d.set_document(path, None)
            return f"remove rule {name}"

        return apply_change(frame, ctx, form, remove, again=again,
                            done="/setup/rules")

    def edit(d: Draft) -> str:
        if not NAME.fullmatch(name):
            raise EditError(f"'{name}' is not a valid name: use lowercase letters, digits and "
                            "_, starting with a letter (e.g. gold_for_hue)", "name")
        if new and path in d.effective():
            raise EditError(f"a rule named '{name}' already exists", "name")
        if obj is None:
            raise EditError(f"there is no object '{values.get('object', '')}'", "object")
        doc, found = rule_document(rt.model.objects, obj, name, values)
        inputs.update(found)
        tracked = doc["when"]["schedule"].get("after", {}).get("field", "") if isinstance(
            doc["when"], dict) else ""
        if tracked and not obj.fields[tracked].track_changes:
            definition = d.field(obj.name, tracked)
            if definition is None:
                raise EditError(f"'{tracked}' is one of MetaCRM's own fields; it cannot keep "
                                "the day it changed", "after_field")
            d.set_field(obj.name, tracked, {**definition, "track_changes": True}, new=False)
        else:
            tracked = ""
        if not new and isinstance(existing, dict) and "active" in existing:
            doc["active"] = existing["active"]
        d.set_document(path, doc)
        summary = f"{'add' if new else 'change'} rule {name}"
        return f"{summary}; keep the day {obj.name}.{tracked} changes" if tracked else summary

    return apply_change(frame, ctx, form, edit, again=again, done="/setup/rules",
                        inputs=inputs)


# --- validation rules ------------------------------------------------------------------------


def validations_page(request: Request) -> Response:
    frame, ctx = admin_context(request)
    rt = runtime(request)
    obj = path_object(request)
    obj_name = obj.name
    d = draft(rt)

    def show(values: dict[str, str], errors: dict[str, str], *, base: Any,
             produced: str | None = None, status: int = 200) -> Response:
        rules = d.validations(obj_name)
        return render(frame, "setup_rule_validations.html", {
            "obj": obj, "rules": rules, "values": values, "errors": errors, "base": base,
            "produced": produced, "operators": OPERATORS, "fields": sorted(obj.fields),
            "cond_rows": row_indexes(values, "field_")}, status=status)

    if request.method == "GET":
        return show({}, {}, base=rt.version)
    form = auth.checked_form(request)
    values = form_values(form)
    base = form.get("base") or rt.version

    def again(errors: dict[str, str]) -> Response:
        return show(values, errors, base=base, status=422)

    if form.get("preview") == "1":
        return shown_expression(obj, values, again, lambda produced: show(
            values, {}, base=base, produced=produced))

    if form.get("remove"):
        def remove(d: Draft) -> str:
            try:
                index = int(str(form.get("remove")))
            except ValueError:
                raise EditError("remove names a rule by its number") from None
            d.remove_validation(obj_name, index)
            return f"remove validation rule {index + 1} of {obj_name}"

        return apply_change(frame, ctx, form, remove, again=again,
                            done=f"/setup/rules/validations/{obj_name}")

    def edit(d: Draft) -> str:
        expression = condition(obj, values)
        if not expression:
            raise EditError("say when the record is refused: add a condition", "field_0")
        en = values.get("message_en", "").strip()
        vi = values.get("message_vi", "").strip()
        if not en and not vi:
            raise EditError("write the message the user sees", "message_en")
        d.add_validation(obj_name, expression, {"en": en or vi, "vi": vi or en},
                         values.get("field", "").strip() or None)
        return f"add validation rule to {obj_name}: {expression}"

    return apply_change(frame, ctx, form, edit, again=again,
                        done=f"/setup/rules/validations/{obj_name}",
                        inputs={"when": "expression", "message": "message_en",
                                "field": "field"})


routes = [
    Route("/setup/rules", rules_page, methods=["GET"]),
    Route("/setup/rules/new", rule_page, methods=["GET", "POST"]),
    Route("/setup/rules/validations/{object}", validations_page, methods=["GET", "POST"]),
    Route("/setup/rules/{name}/switch", switch_rule, methods=["POST"]),
    Route("/setup/rules/{name}/test", test_rule, methods=["GET"]),
    Route("/setup/rules/{name}", rule_page, methods=["GET", "POST"]),
]
