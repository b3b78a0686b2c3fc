"""Setup: workflow and validation rules.

The rules page lists every workflow rule with its on/off switch (data, not metadata: see
engine.workflows.switch) and a test against the existing records (engine.scheduler.simulate).
The builder writes a record-triggered rule as a whole `workflows/<name>.yaml` document, and
a validation rule into the object's document, through setup.apply_change: the loader checks
it, the admin reviews the plan and the diff, then it is saved as a new metadata version.

A condition is built from rows of (field, operator, value) joined with `and` or `or`, which
become the expression text, e.g. rows (city, equals, Huế) and (level, is blank) make
``city == 'Huế' and is_blank(level)``; or the admin types the expression itself.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..engine import workflows
from ..engine.errors import CrmError, NotFound
from ..engine.scheduler import simulate
from ..engine.text import is_digits
from ..metadata.documents import dump
from ..metadata.edits import Draft, EditError
from ..metadata.model import ObjectDef, Workflow, is_translated
from . import auth
from .pages import PageContext, flash
from .setup import NAME, admin_context, apply_change, draft, form_values, runtime
from .templating import render

TRIGGERS = ("created", "updated", "saved", "deleted")
OPERATORS = {  # key -> label shown in the builder
    "eq": "equals", "ne": "not equals", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
    "contains": "contains", "starts": "starts with", "blank": "is blank",
    "not_blank": "is not blank", "changed": "changed"}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_NO_VALUE = ("blank", "not_blank", "changed")
ACTIONS = ("set", "create", "notify", "email", "webhook")
_DAYS = re.compile(r"^[+-]?\d+$")
_TODAY_PLUS = re.compile(r"^=\s*today\(\)\s*\+\s*(\d+)\s*$")


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


def row_indexes(values: dict[str, str], prefix: str, minimum: int = 3) -> list[int]:
    """The rows a form has (`field_0`, `field_1`, ...) and one empty row more."""
    used = [int(k[len(prefix):]) for k in values
            if k.startswith(prefix) and is_digits(k[len(prefix):])]
    return list(range(max(max(used, default=-1) + 2, minimum)))


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


def condition(obj: ObjectDef, values: dict[str, str]) -> str:
    """The rule's condition: the typed expression in raw mode, else the rows'."""
    if values.get("mode") == "raw":
        return values.get("expression", "").strip()
    return build_condition(obj, values)


# --- actions --------------------------------------------------------------------------------


def _value(obj: ObjectDef, fname: str, text: str) -> Any:
    """A literal for `set`/`create` values: a number or a yes/no for such fields; text,
    a {placeholder} and an =expression are kept as typed."""
    text = text.strip()
    fdef = obj.fields.get(fname)
    if fdef is None or text.startswith("=") or "{" in text:
        return text
    if fdef.kind.is_number:
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and fdef.kind.value == "integer" else number
    if fdef.kind.value == "checkbox" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def build_actions(rt_objects: dict[str, ObjectDef], obj: ObjectDef, values: dict[str, str]
                  ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The rule's `do:` list from the action rows, and where the loader's messages about
    each action go (metadata path -> input name)."""
    get = lambda key: values.get(key, "").strip()  # noqa: E731
    actions: list[dict[str, Any]] = []
    inputs: dict[str, str] = {}
    for row in row_indexes(values, "action_", minimum=2):
        kind = get(f"action_{row}")
        if not kind:
            continue
        at = f"do[{len(actions)}]"  # the loader writes metadata paths as do[0].set.level
        if kind == "set":
            fname = get(f"set_field_{row}")
            if not fname:
                raise EditError("choose the field to set", f"set_field_{row}")
            actions.append({"set": {fname: _value(obj, fname, get(f"set_value_{row}"))}})
            inputs.update({f"{at}.set": f"set_field_{row}",
                           f"{at}.set.{fname}": f"set_field_{row}"})
        elif kind == "create":
            target_name = get(f"create_object_{row}") or "task"
            target = rt_objects.get(target_name)
            new: dict[str, Any] = {}
            subject = _in_languages(get(f"create_subject_{row}"),
                                    get(f"create_subject_vi_{row}"))
            if subject:
                new["subject"] = subject
                inputs[f"{at}.create.values.subject"] = f"create_subject_{row}"
            due = get(f"create_due_{row}")
            if due:
                new["due_date"] = f"=today() + {int(due)}" if _DAYS.fullmatch(due) else due
                inputs[f"{at}.create.values.due_date"] = f"create_due_{row}"
            for number, line in enumerate(get(f"create_more_{row}").splitlines(), 1):
                if not line.strip():
                    continue
                if ":" not in line:
                    raise EditError(f"line {number}: write field: value", f"create_more_{row}")
                fname, _, text = line.partition(":")
                fname = fname.strip()
                new[fname] = _value(target, fname, text) if target else text.strip()
                inputs[f"{at}.create.values.{fname}"] = f"create_more_{row}"
            new.setdefault("owner", "{owner}")
            actions.append({"create": {"object": target_name, "values": new}})
            inputs.update({f"{at}.create": f"create_object_{row}",
                           f"{at}.create.object": f"create_object_{row}"})
        elif kind == "notify":
            en, vi = get(f"notify_message_{row}"), get(f"notify_message_vi_{row}")
            if not en and not vi:
                raise EditError("write the notification's message", f"notify_message_{row}")
            actions.append({"notify": {"to": get(f"notify_to_{row}") or "{owner}",
                                       "message": {"en": en or vi, "vi": vi or en}}})
            inputs.update({f"{at}.notify": f"notify_to_{row}",
                           f"{at}.notify.to": f"notify_to_{row}",
                           f"{at}.notify.message": f"notify_message_{row}"})
        elif kind == "email":
            email = {"to": get(f"email_to_{row}"), "subject": _in_languages(
                get(f"email_subject_{row}"), get(f"email_subject_vi_{row}"))}
            if not email["to"]:
                raise EditError("who receives the email? e.g. {email}", f"email_to_{row}")
            body = _in_languages(get(f"email_body_{row}"), get(f"email_body_vi_{row}"))
            if body:
                email["body"] = body
            actions.append({"email": email})
            for key in ("to", "subject", "body"):
                inputs[f"{at}.email.{key}"] = f"email_{key}_{row}"
            inputs[f"{at}.email"] = f"email_to_{row}"
        elif kind == "webhook":
            hook: dict[str, Any] = {"url": get(f"webhook_url_{row}")}
            if not hook["url"].startswith(("https://", "http://")):
                raise EditError("a webhook needs an http(s) address", f"webhook_url_{row}")
            payload = [p.strip() for p in get(f"webhook_payload_{row}").split(",") if p.strip()]
            if payload:
                hook["payload"] = payload
            actions.append({"webhook": hook})
            inputs.update({f"{at}.webhook": f"webhook_url_{row}",
                           f"{at}.webhook.payload": f"webhook_payload_{row}"})
        else:
            raise EditError(f"'{kind}' is not an action the builder knows", f"action_{row}")
    return actions, inputs


def _in_languages(en: str, vi: str) -> str | dict[str, str]:
    """A text of a rule from the builder's English and Vietnamese inputs: one text when
    they agree (or one is empty), else both (written in the app's language)."""
    if vi and en and vi != en:
        return {"en": en, "vi": vi}
    return en or vi


def _languages(value: Any) -> tuple[str, str]:
    """The builder's (English, Vietnamese) inputs for a rule's text."""
    if is_translated(value):
        return value.get("en", ""), value.get("vi", "")
    return _text(value), ""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def action_values(actions: list[dict[str, Any]]) -> dict[str, str] | None:
    """The builder's inputs for an existing rule's actions; None when one of them is of a
    kind the builder does not show (update, assign): such a rule is edited in YAML."""
    out: dict[str, str] = {}
    row = 0
    for item in actions:
        kind, params = next(iter(item.items()))
        if kind == "set":
            for fname, value in params.items():
                out.update({f"action_{row}": "set", f"set_field_{row}": fname,
                            f"set_value_{row}": _text(value)})
                row += 1
            continue
        if kind == "create":
            new = dict(params.get("values", {}))
            out[f"create_object_{row}"] = params["object"]
            out[f"create_subject_{row}"], out[f"create_subject_vi_{row}"] = _languages(
                new.pop("subject", ""))
            due = _text(new.pop("due_date", ""))
            days = _TODAY_PLUS.fullmatch(due)
            out[f"create_due_{row}"] = days.group(1) if days else due
            if new.get("owner") == "{owner}":
                new.pop("owner")
            if any(is_translated(v) or isinstance(v, (dict, list)) for v in new.values()):
                return None  # a value the lines "field: value" cannot hold: edited in YAML
            out[f"create_more_{row}"] = "\n".join(f"{k}: {_text(v)}" for k, v in new.items())
        elif kind == "notify":
            if not isinstance(params, dict) or set(params) - {"to", "message"}:
                return None  # e.g. notify: {manager: true}: edited in YAML
            message = params.get("message", "")
            message = message if isinstance(message, dict) else {"en": message, "vi": message}
            out.update({f"notify_to_{row}": params.get("to", ""),
                        f"notify_message_{row}": message.get("en", ""),
                        f"notify_message_vi_{row}": message.get("vi", "")})
        elif kind == "email":
            if set(params) - {"to", "subject", "body"}:
                return None
            out[f"email_to_{row}"] = params.get("to", "")
            for key in ("subject", "body"):
                out[f"email_{key}_{row}"], out[f"email_{key}_vi_{row}"] = _languages(
                    params.get(key, ""))
        elif kind == "webhook":
            if set(params) - {"url", "payload"}:
                return None
            out[f"webhook_url_{row}"] = params["url"]
            out[f"webhook_payload_{row}"] = ", ".join(params.get("payload", []))
        else:
            return None
        out[f"action_{row}"] = kind
        row += 1
    return out


# --- the rules page, switch and test ---------------------------------------------------------


def trigger_text(workflow: Workflow) -> str:
    if workflow.event:
        return workflow.event
    s = workflow.schedule
    if s is None:
        return ""
    if s.holiday:
        return f"schedule: holiday {s.holiday}"
    offset = f" {s.offset_days:+d}d" if s.offset_days else ""
    return f"schedule: {s.date_field}{offset}" + (" every year" if s.every else "")


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


def rule_values(doc: dict[str, Any]) -> dict[str, str] | None:
    """The builder's inputs for an existing rule document (None: not a builder rule)."""
    if "use" in doc or not isinstance(doc.get("when"), str):
        return None
    actions = action_values(doc.get("do", []))
    if actions is None:
        return None
    label = doc.get("label") or {}
    label = label if isinstance(label, dict) else {"en": label, "vi": label}
    values = {"name": doc["workflow"], "object": doc["object"], "when": doc["when"],
              "label_en": label.get("en", ""), "label_vi": label.get("vi", ""),
              "mode": "raw" if doc.get("if") else "rows", "expression": doc.get("if", ""),
              **actions}
    return values


def _rule_form(frame: PageContext, values: dict[str, str], errors: dict[str, str], *,
               new: bool, base: Any, produced: str | None = None, yaml_text: str = "",
               status: int = 200) -> Response:
    rt = runtime(frame.request)
    obj = rt.model.objects.get(values.get("object", ""))
    return render(frame, "setup_rule.html", {
        "values": values, "errors": errors, "new": new, "base": base, "produced": produced,
        "objects": sorted(rt.model.objects), "obj": obj, "triggers": TRIGGERS,
        "operators": OPERATORS, "actions": ACTIONS, "yaml_text": yaml_text,
        "fields": sorted(obj.fields) if obj else [],
        "cond_rows": row_indexes(values, "field_"),
        "action_rows": row_indexes(values, "action_", minimum=2)}, status=status)


def rule_page(request: Request) -> Response:
    """Build a new record-triggered rule (`/setup/rules/new`) or change one."""
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
    if form.get("preview") == "1":  # show the expression the rows make, change nothing
        try:
            produced = build_condition(obj, values) if obj else ""
        except EditError as exc:
            return again({exc.field or "_": str(exc)})
        if values.get("mode") != "raw":
            values["expression"] = produced
        return _rule_form(frame, values, {}, new=new, base=base, produced=produced)

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
        if values.get("when") not in TRIGGERS:
            raise EditError("choose when the rule runs", "when")
        doc: dict[str, Any] = {"workflow": name}
        en, vi = values.get("label_en", "").strip(), values.get("label_vi", "").strip()
        if en or vi:
            doc["label"] = {"en": en or vi, "vi": vi or en}
        doc.update({"object": obj.name, "when": values["when"]})
        expression = condition(obj, values)
        if expression:
            doc["if"] = expression
        actions, found = build_actions(rt.model.objects, obj, values)
        if not actions:
            raise EditError("add at least one action", "action_0")
        inputs.update(found)
        doc["do"] = actions
        if not new and isinstance(existing, dict) and "active" in existing:
            doc["active"] = existing["active"]
        d.set_document(path, doc)
        return f"{'add' if new else 'change'} rule {name}"

    return apply_change(frame, ctx, form, edit, again=again, done="/setup/rules",
                        inputs=inputs)


# --- validation rules ------------------------------------------------------------------------


def validations_page(request: Request) -> Response:
    frame, ctx = admin_context(request)
    rt = runtime(request)
    obj_name = request.path_params["object"]
    obj = rt.model.objects.get(obj_name)
    if obj is None:
        raise NotFound(f"there is no object '{obj_name}'")
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
        try:
            produced = build_condition(obj, values)
        except EditError as exc:
            return again({exc.field or "_": str(exc)})
        if values.get("mode") != "raw":
            values["expression"] = produced
        return show(values, {}, base=base, produced=produced)

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
        d.add_validation(obj_name, expression, {"en": en or vi, "vi": vi or en})
        return f"add validation rule to {obj_name}: {expression}"

    return apply_change(frame, ctx, form, edit, again=again,
                        done=f"/setup/rules/validations/{obj_name}",
                        inputs={"when": "expression", "message": "message_en"})


routes = [
    Route("/setup/rules", rules_page, methods=["GET"]),
    Route("/setup/rules/new", rule_page, methods=["GET", "POST"]),
    Route("/setup/rules/validations/{object}", validations_page, methods=["GET", "POST"]),
    Route("/setup/rules/{name}/switch", switch_rule, methods=["POST"]),
    Route("/setup/rules/{name}/test", test_rule, methods=["GET"]),
    Route("/setup/rules/{name}", rule_page, methods=["GET", "POST"]),
]
