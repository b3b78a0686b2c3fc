"""Setup's step editor: the `do:` list of a workflow rule or a record action, as rows of a form.

Each row is one step (`action_<i>` names its kind) and its inputs are named after the kind and
the row (`set_field_0`, `each_records_1`, `convert_object_2_0` for the first record a
conversion finds or makes). `build_steps` turns the rows into the YAML a consultant would write;
`step_values` turns written steps back into rows, or says None when a step has a shape the rows
cannot hold (that rule or action is then edited as YAML, never mangled). Values are written
"field: value" a line, e.g. `status: converted` and `account: {new.account}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..engine.text import is_digits
from ..metadata.edits import EditError
from ..metadata.model import ObjectDef, is_translated
from ..metadata.workflows import children

KINDS = ("set", "create", "update", "for_each", "convert", "notify", "email", "webhook")
CONVERT_SLOTS = 3  # records a conversion shows (one more when it has as many)
_DAYS = re.compile(r"^[+-]?\d+$")
_TODAY_PLUS = re.compile(r"^=\s*today\(\)\s*\+\s*(\d+)\s*$")
_CREATE_KEYS = {"object", "values", "as", "if", "count"}


def row_indexes(values: Mapping[str, str], prefix: str, minimum: int = 3) -> list[int]:
    """The rows a form has (`field_0`, `field_1`, ...) and one empty row more."""
    used = [int(k[len(prefix):]) for k in values
            if k.startswith(prefix) and is_digits(k[len(prefix):])]
    return list(range(max(max(used, default=-1) + 2, minimum)))


def convert_slots(values: Mapping[str, str], row: int) -> list[int]:
    """The records of a conversion row: those written, one empty more, at least three."""
    return row_indexes(values, f"convert_object_{row}_", minimum=CONVERT_SLOTS)


def related_choices(obj: ObjectDef | None, objects: Mapping[str, ObjectDef]) -> list[str]:
    """What `records:` may name from `obj`: each object with a lookup to it (`quote_line`),
    or `object.lookup` when it has several."""
    if obj is None:
        return []
    out = []
    for other in sorted(objects.values(), key=lambda o: o.name):
        lookups = other.lookups_to(obj.name)
        if len(lookups) == 1:
            out.append(other.name)
        out.extend(f"{other.name}.{f.name}" for f in lookups if len(lookups) > 1)
    return out


def editor(objects: Mapping[str, ObjectDef], obj: ObjectDef | None, values: Mapping[str, str]
           ) -> dict[str, Any]:
    """What the step editor's template (setup_rule_parts.steps) needs."""
    return {"kinds": KINDS, "action_rows": row_indexes(values, "action_", minimum=2),
            "slots": lambda row: convert_slots(values, row), "object_names": sorted(objects),
            "related": related_choices(obj, objects)}


# --- values: "field: value" lines ----------------------------------------------------------


def typed(obj: ObjectDef | None, fname: str, text: str) -> Any:
    """A literal for a field's value: a number or a yes/no for such fields; text,
    a {placeholder} and an =expression are kept as typed."""
    text = text.strip()
    fdef = obj.fields.get(fname) if obj else None
    if fdef is None or text.startswith("=") or "{" in text:
        return text
    if fdef.kind.is_number or fdef.kind.is_reference:  # 100 stays 100, 2.5 is 2.5
        return scalar(text) if re.fullmatch(r"-?\d+(\.\d+)?", text) else text
    if fdef.kind.value == "checkbox" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def scalar(text: str) -> Any:
    """A number or yes/no written in a form as YAML would read it; other text as it is."""
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    return text


def read_lines(text: str, obj: ObjectDef | None, input_name: str) -> dict[str, Any]:
    """`field: value` lines as a mapping (values typed for `obj`'s fields)."""
    out: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if ":" not in line:
            raise EditError(f"line {number}: write field: value", input_name)
        fname, _, value = line.partition(":")
        out[fname.strip()] = typed(obj, fname.strip(), value)
    return out


def as_lines(values: Mapping[str, Any]) -> str | None:
    """The lines of a mapping, or None when a value is more than a line holds."""
    if any(is_translated(v) or isinstance(v, (dict, list)) or "\n" in text(v)
           for v in values.values()):
        return None
    return "\n".join(f"{k}: {text(v)}" for k, v in values.items())


def text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def in_languages(en: str, vi: str) -> str | dict[str, str]:
    """A text from the form's English and Vietnamese inputs: one text when they agree (or
    one is empty), else both (written in the app's language)."""
    if vi and en and vi != en:
        return {"en": en, "vi": vi}
    return en or vi


def languages(value: Any) -> tuple[str, str]:
    """The form's (English, Vietnamese) inputs for a text."""
    if is_translated(value):
        return value.get("en", ""), value.get("vi", "")
    return text(value), ""


def _find_by(written: str) -> list[Any]:
    """`email, last_name+phone` -> ['email', ['last_name', 'phone']]."""
    out: list[Any] = []
    for part in written.split(","):
        names = [n.strip() for n in part.split("+") if n.strip()]
        if names:
            out.append(names[0] if len(names) == 1 else names)
    return out


def _find_by_text(find_by: list[Any]) -> str:
    return ", ".join(a if isinstance(a, str) else "+".join(a) for a in find_by)


# --- rows -> steps --------------------------------------------------------------------------


def build_steps(objects: Mapping[str, ObjectDef], obj: ObjectDef, values: Mapping[str, str]
                ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The `do:` list the rows make, and where the loader's messages about each step go
    (metadata path -> input name)."""
    get = Get(values)
    steps: list[dict[str, Any]] = []
    inputs: dict[str, str] = {}
    for row in row_indexes(values, "action_", minimum=2):
        kind = get(f"action_{row}")
        if not kind:
            continue
        if kind not in KINDS:
            raise EditError(f"'{kind}' is not an action the builder knows", f"action_{row}")
        step, found = _BUILDERS[kind](objects, obj, get, row)
        if kind == "set" and steps and "set" in steps[-1]:  # set rows in a row: one step
            steps[-1]["set"].update(step)
        else:
            steps.append({kind: step})
        at = f"do[{len(steps) - 1}]"  # the loader writes metadata paths as do[0].set.level
        inputs.update({f"{at}.{key}" if key else at: name for key, name in found.items()})
    if not steps:
        raise EditError("add at least one action (a step to take)", "action_0")
    return steps, inputs


class Get:
    """The form's inputs, read stripped: get("set_field_0")."""

    def __init__(self, values: Mapping[str, str]):
        self.values = values

    def __call__(self, key: str) -> str:
        return self.values.get(key, "").strip()


Built = tuple[Any, dict[str, str]]


def _set(objects: Mapping[str, ObjectDef], obj: ObjectDef, get: Get, row: int) -> Built:
    fname = get(f"set_field_{row}")
    if not fname:
        raise EditError("choose the field to set", f"set_field_{row}")
    return {fname: typed(obj, fname, get(f"set_value_{row}"))}, {
        "set": f"set_field_{row}", f"set.{fname}": f"set_field_{row}"}


def _create(objects: Mapping[str, ObjectDef], obj: ObjectDef, get: Get, row: int) -> Built:
    target_name = get(f"create_object_{row}") or "task"
    target = objects.get(target_name)
    new: dict[str, Any] = {}
    inputs = {"create": f"create_object_{row}", "create.object": f"create_object_{row}"}
    subject = in_languages(get(f"create_subject_{row}"), get(f"create_subject_vi_{row}"))
    if subject:
        new["subject"] = subject
        inputs["create.values.subject"] = f"create_subject_{row}"
    due = get(f"create_due_{row}")
    if due:
        new["due_date"] = f"=today() + {int(due)}" if _DAYS.fullmatch(due) else due
        inputs["create.values.due_date"] = f"create_due_{row}"
    more = read_lines(get(f"create_more_{row}"), target, f"create_more_{row}")
    new.update(more)
    inputs.update({f"create.values.{f}": f"create_more_{row}" for f in more})
    step: dict[str, Any] = {"object": target_name, "values": new}
    for key in ("as", "if", "count"):
        if get(f"create_{key}_{row}"):
            step[key] = get(f"create_{key}_{row}")
            inputs[f"create.{key}"] = f"create_{key}_{row}"
    if "count" in step and is_digits(step["count"]):
        step["count"] = int(step["count"])
    return step, inputs


def _child(objects: Mapping[str, ObjectDef], obj: ObjectDef, relation: str, name: str
           ) -> ObjectDef:
    if not relation:
        raise EditError("choose the related records", name)
    found = children(obj, relation, objects)
    if isinstance(found, str):
        raise EditError(found, name)
    return found[0]


def _update(objects: Mapping[str, ObjectDef], obj: ObjectDef, get: Get, row: int) -> Built:
    child = _child(objects, obj, get(f"update_records_{row}"), f"update_records_{row}")
    step: dict[str, Any] = {"records": get(f"update_records_{row}")}
    if get(f"update_if_{row}"):
        step["if"] = get(f"update_if_{row}")
    step["set"] = read_lines(get(f"update_set_{row}"), child, f"update_set_{row}")
    if not step["set"]:
        raise EditError("say what to set on each record: field: value", f"update_set_{row}")
    return step, {"update": f"update_records_{row}", "update.records": f"update_records_{row}",
                  "update.if": f"update_if_{row}", "update.set": f"update_set_{row}"}


def _for_each(objects: Mapping[str, ObjectDef], obj: ObjectDef, get: Get, row: int) -> Built:
    child = _child(objects, obj, get(f"each_records_{row}"), f"each_records_{row}")
    step: dict[str, Any] = {"records": get(f"each_records_{row}")}
    if get(f"each_if_{row}"):
        step["if"] = get(f"each_if_{row}")
    inner: list[dict[str, Any]] = []
    inputs = {"for_each": f"each_records_{row}", "for_each.records": f"each_records_{row}",
              "for_each.if": f"each_if_{row}"}
    changes = read_lines(get(f"each_set_{row}"), child, f"each_set_{row}")
    if changes:
        inputs[f"for_each.do[{len(inner)}].set"] = f"each_set_{row}"
        inner.append({"set": changes})
    made = get(f"each_create_{row}")
    if made:
        target = objects.get(made)
        values = read_lines(get(f"each_values_{row}"), target, f"each_values_{row}")
        inputs.update({f"for_each.do[{len(inner)}].create": f"each_create_{row}",
                       f"for_each.do[{len(inner)}].create.object": f"each_create_{row}",
                       f"for_each.do[{len(inner)}].create.values": f"each_values_{row}"})
        inner.append({"create": {"object": made, "values": values}})
    if not inner:
        raise EditError("say what to do for each record: values to set, or a record to "
                        "create", f"each_set_{row}")
    step["do"] = inner
    return step, inputs


def _convert(objects: Mapping[str, ObjectDef], obj: ObjectDef, get: Get, row: int) -> Built:
    made: dict[str, Any] = {}
    inputs = {"convert": f"convert_object_{row}_0"}
    for slot in convert_slots(get.values, row):
        object_name = get(f"convert_object_{row}_{slot}")
        if not object_name:
            continue
        def key(part: str, slot: int = slot) -> str:
            return f"convert_{part}_{row}_{slot}"

        name = get(key("name")) or object_name
        if name in made:
            raise EditError(f"two records are named '{name}': give each its own name",
                            key("name"))
        spec: dict[str, Any] = {"object": object_name}
        if get(key("if")):
            spec["if"] = get(key("if"))
        if get(key("find")):
            spec["find_by"] = _find_by(get(key("find")))
        spec["map"] = read_lines(get(key("map")), objects.get(object_name), key("map"))
        if not spec["map"]:
            raise EditError("say how the record is filled: field: value", key("map"))
        made[name] = spec
        at = f"convert.records.{name}"
        inputs.update({at: key("object"), f"{at}.object": key("object"), f"{at}.if": key("if"),
                       f"{at}.find_by": key("find"), f"{at}.map": key("map")})
    if not made:
        raise EditError("say which record the conversion finds or makes",
                        f"convert_object_{row}_0")
    step: dict[str, Any] = {"records": made}
    mark = read_lines(get(f"convert_mark_{row}"), obj, f"convert_mark_{row}")
    if mark:
        step["mark"] = mark
        inputs["convert.mark"] = f"convert_mark_{row}"
    return step, inputs


def _notify(objects: Mapping[str, ObjectDef], obj: ObjectDef, get: Get, row: int) -> Built:
    en, vi = get(f"notify_message_{row}"), get(f"notify_message_vi_{row}")
    if not en and not vi:
        raise EditError("write the notification's message", f"notify_message_{row}")
    return {"to": get(f"notify_to_{row}") or "{owner}", "message": {"en": en or vi,
                                                                   "vi": vi or en}}, {
        "notify": f"notify_to_{row}", "notify.to": f"notify_to_{row}",
        "notify.message": f"notify_message_{row}"}


def _email(objects: Mapping[str, ObjectDef], obj: ObjectDef, get: Get, row: int) -> Built:
    email: dict[str, Any] = {"to": get(f"email_to_{row}"), "subject": in_languages(
        get(f"email_subject_{row}"), get(f"email_subject_vi_{row}"))}
    if not email["to"]:
        raise EditError("who receives the email? e.g. {email}", f"email_to_{row}")
    body = in_languages(get(f"email_body_{row}"), get(f"email_body_vi_{row}"))
    if body:
        email["body"] = body
    inputs = {f"email.{key}": f"email_{key}_{row}" for key in ("to", "subject", "body")}
    return email, {**inputs, "email": f"email_to_{row}"}


def _webhook(objects: Mapping[str, ObjectDef], obj: ObjectDef, get: Get, row: int) -> Built:
    hook: dict[str, Any] = {"url": get(f"webhook_url_{row}")}
    if not hook["url"].startswith(("https://", "http://", "{")):
        raise EditError("a webhook needs an http(s) address", f"webhook_url_{row}")
    payload = [p.strip() for p in get(f"webhook_payload_{row}").split(",") if p.strip()]
    if payload:
        hook["payload"] = payload
    return hook, {"webhook": f"webhook_url_{row}", "webhook.payload": f"webhook_payload_{row}"}


_BUILDERS: dict[str, Callable[[Mapping[str, ObjectDef], ObjectDef, Get, int], Built]] = {
    "set": _set, "create": _create, "update": _update, "for_each": _for_each,
    "convert": _convert, "notify": _notify, "email": _email, "webhook": _webhook}


# --- steps -> rows --------------------------------------------------------------------------


def step_values(steps: list[dict[str, Any]]) -> dict[str, str] | None:
    """The rows of written steps; None when one of them has a shape the rows do not hold
    (assign, a notify to managers, a for_each of other steps): it is edited as YAML."""
    out: dict[str, str] = {}
    row = 0
    for i, item in enumerate(steps):
        kind, params = next(iter(item.items()))
        if not isinstance(params, dict) or (kind != "email" and _multiline(params)):
            return None  # a value of one line in the form would lose its line breaks
        if kind == "set":
            if i and "set" in steps[i - 1]:
                return None  # two sets in a row are one step in the form
            for fname, value in params.items():
                if isinstance(value, (dict, list)):
                    return None
                out.update({f"action_{row}": "set", f"set_field_{row}": fname,
                            f"set_value_{row}": text(value)})
                row += 1
            continue
        filled = _ROWS.get(kind, lambda p, r: None)(params, row)
        if filled is None:
            return None
        out.update(filled)
        out[f"action_{row}"] = kind
        row += 1
    return out


def _multiline(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_multiline(v) for v in value.values())
    if isinstance(value, list):
        return any(_multiline(v) for v in value)
    return isinstance(value, str) and "\n" in value


def _create_row(params: Mapping[str, Any], row: int) -> dict[str, str] | None:
    if set(params) - _CREATE_KEYS:
        return None
    new = dict(params.get("values", {}))
    out = {f"create_object_{row}": params["object"]}
    out[f"create_subject_{row}"], out[f"create_subject_vi_{row}"] = languages(
        new.pop("subject", ""))
    due = text(new.pop("due_date", ""))
    days = _TODAY_PLUS.fullmatch(due)
    out[f"create_due_{row}"] = days.group(1) if days else due
    lines = as_lines(new)
    if lines is None:
        return None
    out[f"create_more_{row}"] = lines
    out.update({f"create_{key}_{row}": text(params[key]) for key in ("as", "if", "count")
                if key in params})
    return out


def _update_row(params: Mapping[str, Any], row: int) -> dict[str, str] | None:
    if "records" not in params or set(params) - {"records", "if", "set"}:
        return None  # update: {record: "{account}", values: ...}: edited as YAML
    lines = as_lines(params["set"])
    if lines is None:
        return None
    return {f"update_records_{row}": params["records"],
            f"update_if_{row}": params.get("if", ""), f"update_set_{row}": lines}


def _for_each_row(params: Mapping[str, Any], row: int) -> dict[str, str] | None:
    kinds = [next(iter(step)) for step in params["do"]]
    if set(params) - {"records", "if", "do"} or kinds not in (["set"], ["create"],
                                                                ["set", "create"]):
        return None
    out = {f"each_records_{row}": params["records"], f"each_if_{row}": params.get("if", "")}
    for step in params["do"]:
        kind, inner = next(iter(step.items()))
        if kind == "create" and set(inner) - {"object", "values"}:
            return None
        lines = as_lines(inner if kind == "set" else inner.get("values", {}))
        if lines is None:
            return None
        if kind == "set":
            out[f"each_set_{row}"] = lines
        else:
            out.update({f"each_create_{row}": inner["object"], f"each_values_{row}": lines})
    return out


def _convert_row(params: Mapping[str, Any], row: int) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for slot, (name, spec) in enumerate(params["records"].items()):
        lines = as_lines(spec.get("map", {}))
        if lines is None or set(spec) - {"object", "if", "find_by", "map"}:
            return None
        out.update({f"convert_name_{row}_{slot}": name,
                    f"convert_object_{row}_{slot}": spec["object"],
                    f"convert_if_{row}_{slot}": spec.get("if", ""),
                    f"convert_find_{row}_{slot}": _find_by_text(spec.get("find_by", [])),
                    f"convert_map_{row}_{slot}": lines})
    mark = as_lines(params.get("mark", {}))
    if mark is None:
        return None
    out[f"convert_mark_{row}"] = mark
    return out


def _notify_row(params: Any, row: int) -> dict[str, str] | None:
    if not isinstance(params, dict) or set(params) - {"to", "message"}:
        return None  # e.g. notify: {manager: true}
    message = params.get("message", "")
    message = message if isinstance(message, dict) else {"en": message, "vi": message}
    return {f"notify_to_{row}": params.get("to", ""),
            f"notify_message_{row}": message.get("en", ""),
            f"notify_message_vi_{row}": message.get("vi", "")}


def _email_row(params: Mapping[str, Any], row: int) -> dict[str, str] | None:
    if set(params) - {"to", "subject", "body"}:
        return None
    out = {f"email_to_{row}": params.get("to", "")}
    for key in ("subject", "body"):
        out[f"email_{key}_{row}"], out[f"email_{key}_vi_{row}"] = languages(params.get(key, ""))
    return out


def _webhook_row(params: Mapping[str, Any], row: int) -> dict[str, str] | None:
    if set(params) - {"url", "payload"}:
        return None
    return {f"webhook_url_{row}": params["url"],
            f"webhook_payload_{row}": ", ".join(params.get("payload", []))}


_ROWS: dict[str, Callable[[Any, int], dict[str, str] | None]] = {
    "create": _create_row, "update": _update_row, "for_each": _for_each_row,
    "convert": _convert_row, "notify": _notify_row, "email": _email_row,
    "webhook": _webhook_row}
