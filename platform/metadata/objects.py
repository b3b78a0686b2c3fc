"""Objects and fields: merging `object:` and `extend:` documents, building FieldDefs, and
checking every reference they make (lookup targets, expressions, rollups, indexes)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..fieldtypes import TYPES, FieldType, Invalid, parse_date
from . import expressions
from .model import (
    SYSTEM_FIELDS,
    DuplicateMatch,
    DuplicateRule,
    FieldDef,
    Label,
    ObjectDef,
    Option,
    Rollup,
    ValidationRule,
    frozen_map,
    humanize,
)
from .problems import Problem, did_you_mean
from .source import Document

CONDITIONS = ("required_if", "visible_if", "read_only_if")  # expressions of the record
COMMON_KEYS = {"type", "label", "help", "required", "unique", "default", "index", "read_only",
               "track_changes", *CONDITIONS}
CHANGED_AT = "_changed_at"  # <field>_changed_at: when a tracked field last changed
TYPE_KEYS = {name: set(t.keys) for name, t in TYPES.items()}
NOT_FOR_COMPUTED = {"required", "unique", "default", "required_if", "read_only_if"}
SEARCHABLE_TYPES = {name for name, t in TYPES.items() if t.searchable}
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)\}")


@dataclass
class Src:
    """Where a piece of merged metadata came from, so that a problem can name its line."""

    doc: Document
    path: tuple

    def at(self, *more: Any) -> tuple:
        return (*self.path, *more)

    def problem(self, message: str, *more: Any) -> Problem:
        return self.doc.problem(self.at(*more), message)


@dataclass
class ObjectDraft:
    name: str
    app: str
    src: Src
    data: dict[str, Any]
    fields: dict[str, tuple[dict[str, Any], Src]] = field(default_factory=dict)
    lists: dict[str, list[tuple[Any, Src]]] = field(default_factory=dict)
    actions: dict[str, tuple[dict[str, Any], Src]] = field(default_factory=dict)
    approvals: dict[str, tuple[dict[str, Any], Src]] = field(default_factory=dict)


def merge_objects(layers: list, problems: list[Problem]) -> dict[str, ObjectDraft]:
    """Apply every layer's `object:` then `extend:` documents, ancestors first."""
    drafts: dict[str, ObjectDraft] = {}
    for layer in layers:
        for doc in layer.of("object"):
            name = doc.data["object"]
            if name in drafts:
                first = drafts[name].src.doc
                problems.append(doc.problem(("object",), (
                    f"object '{name}' is already defined in {first.file}:{first.line(())}; "
                    f"use 'extend: {name}' to add or change its fields")))
                continue
            if name.startswith("mc_"):
                problems.append(doc.problem(("object",), (
                    f"object names starting with 'mc_' are reserved for MetaCRM's own tables; "
                    f"rename '{name}'")))
                continue
            draft = ObjectDraft(name, layer.name, Src(doc, ()), dict(doc.data))
            for fname, fdata in doc.data.get("fields", {}).items():
                draft.fields[fname] = (dict(fdata), Src(doc, ("fields", fname)))
            for key in ("validations", "indexes", "duplicates", "unique_together"):
                draft.lists[key] = [(item, Src(doc, (key, i)))
                                    for i, item in enumerate(doc.data.get(key, []))]
            _add_actions(draft, doc)
            drafts[name] = draft
        for doc in layer.of("extend"):
            _extend(drafts, doc, problems)
    return drafts


def _extend(drafts: dict[str, ObjectDraft], doc: Document, problems: list[Problem]) -> None:
    name = doc.data["extend"]
    draft = drafts.get(name)
    if draft is None:
        problems.append(doc.problem(("extend",), f"cannot extend unknown object '{name}'"
                                    + did_you_mean(name, drafts)))
        return
    for key in ("label", "plural", "title", "search"):
        if key in doc.data:
            draft.data[key] = doc.data[key]
    for fname, changes in doc.data.get("fields", {}).items():
        src = Src(doc, ("fields", fname))
        if fname not in draft.fields:
            if "type" not in changes:
                problems.append(src.problem(
                    f"'{fname}' is a new field of '{name}', so it needs a type"
                    + did_you_mean(fname, draft.fields)))
                continue
            if "options_add" in changes or "unset" in changes:
                key = "options_add" if "options_add" in changes else "unset"
                problems.append(src.problem(f"'{key}' only changes an inherited field; a new "
                                            "field simply leaves the key out", key))
                continue
            draft.fields[fname] = (dict(changes), src)
            continue
        merged = dict(draft.fields[fname][0])
        for key in changes.get("unset", ()):  # keys the extension takes away
            merged.pop(key, None)
        for key, value in changes.items():
            if key == "unset":
                continue
            if key == "options_add":
                have = {_option_value(o) for o in merged.get("options", [])}
                for i, option in enumerate(value):
                    if _option_value(option) in have:
                        problems.append(src.problem(
                            f"option '{_option_value(option)}' is already in '{fname}'",
                            "options_add", i))
                merged["options"] = [*merged.get("options", []), *value]
            else:
                merged[key] = value
        draft.fields[fname] = (merged, src)
    for i, fname in enumerate(doc.data.get("remove_fields", [])):
        if draft.fields.pop(fname, None) is None:
            problems.append(doc.problem(("remove_fields", i), (
                f"cannot remove '{fname}': '{name}' has no such field"
                + did_you_mean(fname, draft.fields))))
    for key in ("validations", "indexes", "duplicates", "unique_together"):
        draft.lists.setdefault(key, []).extend(
            (item, Src(doc, (key, i))) for i, item in enumerate(doc.data.get(key, [])))
    _add_actions(draft, doc)
    for key, what in (("actions", "action"), ("approvals", "approval")):
        found = getattr(draft, key)
        for i, part in enumerate(doc.data.get(f"remove_{key}", [])):
            if found.pop(part, None) is None:
                problems.append(doc.problem((f"remove_{key}", i), (
                    f"cannot remove the {what} '{part}': '{name}' has no such {what}"
                    + did_you_mean(part, found))))


def _add_actions(draft: ObjectDraft, doc: Document) -> None:
    """An object's `actions:` and `approvals:`; an extension's of the same name replaces the
    inherited one whole."""
    for key in ("actions", "approvals"):
        for name, data in doc.data.get(key, {}).items():
            getattr(draft, key)[name] = (dict(data), Src(doc, (key, name)))


def _option_value(option: Any) -> str:
    return str(option["value"] if isinstance(option, dict) else option)


# --- fields --------------------------------------------------------------------------------


def system_fields() -> dict[str, FieldDef]:
    vi = {"id": "Mã", "owner": "Người phụ trách", "created_at": "Ngày tạo",
          "created_by": "Người tạo", "updated_at": "Ngày cập nhật",
          "updated_by": "Người cập nhật", "version": "Phiên bản"}
    en = {"id": "ID", "owner": "Owner", "created_at": "Created", "created_by": "Created by",
          "updated_at": "Updated", "updated_by": "Updated by", "version": "Version"}
    types = {"id": "integer", "owner": "user", "created_at": "datetime", "created_by": "user",
             "updated_at": "datetime", "updated_by": "user", "version": "integer"}
    return {
        name: FieldDef(name=name, type=types[name],
                       label=Label(frozen_map({"en": en[name], "vi": vi[name]})),
                       system=True, read_only=name != "owner", index=name == "owner")
        for name in SYSTEM_FIELDS
    }


def build_field(name: str, data: Mapping[str, Any], src: Src,
                problems: list[Problem]) -> FieldDef | None:
    ftype = data["type"]
    ok = True
    for key in data:
        if key not in COMMON_KEYS and key not in TYPE_KEYS[ftype]:
            problems.append(src.problem(f"'{key}' does not apply to {article(ftype)} field",
                                        key))
            ok = False
        if key in NOT_FOR_COMPUTED and TYPES[ftype].computed:
            if not (key == "unique" and ftype == "autonumber"):
                problems.append(src.problem(
                    f"{article(ftype)} field is computed, so '{key}' does not apply to it", key))
                ok = False
    if data.get("unique") and not TYPES[ftype].may_be_unique:
        problems.append(src.problem(f"{article(ftype)} field cannot be unique", "unique"))
        ok = False
    options = _options(data.get("options", []), src, problems)
    expression = None
    if ftype == "formula":
        expression = parse_expression(data["expression"], src, ("expression",), problems)
        ok = ok and expression is not None
    conditions = {}
    for key in CONDITIONS:
        if key in data:
            conditions[key] = parse_expression(data[key], src, (key,), problems)
            ok = ok and conditions[key] is not None
    rollup = lookup_filter = None
    if ftype != "rollup" and "filter" in data:  # a lookup's: checked with the model
        lookup_filter = parse_expression(data["filter"], src, ("filter",), problems)
        ok = ok and lookup_filter is not None
    if ftype == "rollup":
        match = re.fullmatch(r"(count)|(sum|avg|min|max)\(([a-z][a-z0-9_]*)\)", data["measure"])
        assert match  # the schema's pattern guarantees it
        filt = None
        if "filter" in data:
            filt = parse_expression(data["filter"], src, ("filter",), problems)
        rollup = Rollup(source=data["from"], via=data["via"],
                        measure=match.group(1) or match.group(2), measure_field=match.group(3),
                        filter=filt)
    default = data.get("default")
    if isinstance(default, str) and default.startswith("="):
        if parse_expression(default[1:], src, ("default",), problems) is None:
            ok = False
    elif default is not None and options and not TYPES[ftype].many:
        if str(default) not in {o.value for o in options}:
            problems.append(src.problem(
                f"default '{default}' is not one of the options"
                + did_you_mean(str(default), [o.value for o in options]), "default"))
            ok = False
    for key in ("min", "max"):
        ok = _bound(data.get(key), key, TYPES[ftype], src, problems) and ok
    if not ok:
        return None
    scale = data.get("scale")
    result = TYPES.get(data.get("returns") or ftype)  # a formula's, or the type's own
    if scale is None and result is not None and result.value == "decimal":
        scale = 2
    return FieldDef(
        name=name, type=ftype, label=Label.of(data.get("label"), humanize(name)),
        help=Label.of(data["help"]) if "help" in data else None,
        required=bool(data.get("required")), unique=bool(data.get("unique")),
        default=str(default) if options and not TYPES[ftype].many and default is not None
        else default,
        index=bool(data.get("index")), read_only=bool(data.get("read_only")),
        track_changes=bool(data.get("track_changes")),
        max_length=data.get("max_length"), min=data.get("min"), max=data.get("max"),
        scale=scale, options=options, to=data.get("to"),
        on_delete=data.get("on_delete", "set_null"), returns=data.get("returns"),
        expression=expression, format=data.get("format", "{0}") if ftype == "autonumber"
        else None, rollup=rollup, filter=lookup_filter, **conditions,
    )


def _bound(value: Any, key: str, kind: FieldType, src: Src, problems: list[Problem]) -> bool:
    """A `min` or `max`: a number for a number, a date (YYYY-MM-DD) for a date, or an
    `=expression` of the record (`=today()`, `=weight * 2`) for either."""
    if value is None:
        return True
    if isinstance(value, str) and value.startswith("="):
        return parse_expression(value[1:], src, (key,), problems) is not None
    if kind.is_date:
        try:
            parse_date(value)
            return True
        except Invalid:
            problems.append(src.problem(f"{key} of a date is a date (YYYY-MM-DD) or an "
                                        f"=expression such as =today(), not '{value}'", key))
            return False
    if kind.is_number and isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    problems.append(src.problem(f"{key} of a number is a number or an =expression such as "
                                f"=weight * 2, not '{value}'", key))
    return False


def article(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _options(raw: list[Any], src: Src, problems: list[Problem]) -> tuple[Option, ...]:
    out: list[Option] = []
    seen: set[str] = set()
    key = "options"
    for i, item in enumerate(raw):
        if isinstance(item, dict):
            value, label, active = str(item["value"]), item.get("label"), item.get("active", True)
        else:
            value, label, active = str(item), None, True
        if value in seen:
            problems.append(src.problem(f"option '{value}' is listed twice", key, i))
            continue
        if ";" in value or not value.strip():
            problems.append(src.problem(f"option '{value}' must be a non-empty value "
                                        "without ';'", key, i))
            continue
        seen.add(value)
        out.append(Option(value, Label.of(label, humanize(value)), bool(active)))
    return tuple(out)


def parse_expression(text: str, src: Src, key: tuple, problems: list[Problem]):
    try:
        return expressions.parse(text)
    except expressions.ExpressionError as exc:
        problems.append(src.problem(_expression_message(exc, text), *key))
        return None


def _expression_message(exc: expressions.ExpressionError, text: str) -> str:
    return f"{exc.message} in expression '{text}' (at character {exc.pos + 1})"


USER_ATTRIBUTES = ("name", "email", "username")  # what a template reads of a user


RECORD = "record"  # in a lookup's filter, the record being edited: `record.project`


class ObjectScope:
    """The names an expression on one object may use (its fields, lookups followed)."""

    def __init__(self, fields: Mapping[str, Mapping[str, FieldDef]], name: str):
        self.fields = fields
        self.name = name

    def has_field(self, name: str) -> bool:
        return name in self.fields.get(self.name, {})

    def resolve(self, path: tuple[str, ...] | list[str], *, users: bool = False) -> str | None:
        """Why `path` names no field, or None. With `users` (a text template), a user field
        may end in one of USER_ATTRIBUTES: `{account.owner.name}`."""
        current = self.name
        for i, part in enumerate(path):
            fields = self.fields.get(current, {})
            fld = fields.get(part)
            if fld is None:
                return (f"unknown field '{part}' on {current}"
                        + did_you_mean(part, fields))
            if users and fld.kind.refers == "user" and i == len(path) - 2:
                last = path[-1]
                return None if last in USER_ATTRIBUTES else (
                    f"a user has no '{last}'" + did_you_mean(last, USER_ATTRIBUTES)
                    + f" (write {', '.join(USER_ATTRIBUTES)})")
            if i < len(path) - 1:
                if fld.type != "lookup":
                    return (f"'{part}' is a {fld.type} field, not a lookup, so "
                            f"'{'.'.join(path)}' cannot follow it")
                current = fld.to or ""
        return None


def check_expression(expr: expressions.Expression | None, scope: ObjectScope, src: Src,
                     key: tuple, problems: list[Problem]) -> bool:
    if expr is None:
        return False
    errors = expressions.check(expr, scope)
    for err in errors:
        problems.append(src.problem(_expression_message(err, expr.source), *key))
    return not errors


def check_placeholders(text: str, scope: ObjectScope, src: Src, key: tuple,
                       problems: list[Problem]) -> None:
    for match in _PLACEHOLDER.finditer(text):
        message = scope.resolve(match.group(1).split("."), users=True)
        if message:
            problems.append(src.problem(f"{message} in '{text}'", *key))


# words a field name would be confused with: in expressions (`in == 'x'`), and in the
# API's list parameters (`?page=2` is the page, not a filter on a field named page)
RESERVED_NAMES = ("and", "or", "not", "in", "true", "false", "null", "search", "sort",
                  "page", "page_size", "filter")


def build_objects(drafts: dict[str, ObjectDraft], problems: list[Problem]) -> dict[str, ObjectDef]:
    """FieldDefs for every draft, then every cross-reference checked."""
    fields_by_object: dict[str, dict[str, FieldDef]] = {}
    sources: dict[tuple[str, str], Src] = {}
    for name, draft in drafts.items():
        system = system_fields()
        built: dict[str, FieldDef] = {"id": system.pop("id")}
        for fname, (data, src) in draft.fields.items():
            sources[(name, fname)] = src
            if fname in SYSTEM_FIELDS:
                problems.append(src.problem(
                    f"'{fname}' is a system field that every object has; choose another name"))
                continue
            if fname in RESERVED_NAMES:
                problems.append(src.problem(
                    f"'{fname}' cannot name a field: it is a word of the expression language "
                    f"or a list parameter of the API ({', '.join(RESERVED_NAMES)}); choose "
                    "another name"))
                continue
            fdef = build_field(fname, data, src, problems)
            if fdef is not None:
                built[fname] = fdef
                if fdef.track_changes:
                    built.update(_changed_at(fdef, draft.fields, src, problems))
        built.update(system)
        fields_by_object[name] = built
    _type_rollups(fields_by_object)
    objects: dict[str, ObjectDef] = {}
    for name, draft in drafts.items():
        fields = fields_by_object[name]
        scope = ObjectScope(fields_by_object, name)
        for fname, fdef in fields.items():
            if not fdef.system:
                _check_field(fdef, scope, fields_by_object, sources[(name, fname)], problems)
        _check_formula_cycles(name, fields, sources, problems)
        objects[name] = _object(draft, fields, scope, problems)
    return objects


def _changed_at(fdef: FieldDef, declared: Mapping[str, Any], src: Src,
                problems: list[Problem]) -> dict[str, FieldDef]:
    """`track_changes: true`: the datetime field MetaCRM keeps, <name>_changed_at (when the
    value last changed; a schedule's `after:` counts days from it)."""
    name = fdef.name + CHANGED_AT
    if name in declared:
        problems.append(src.problem(f"track_changes makes the field '{name}'; the object "
                                    "declares one of that name already", "track_changes"))
        return {}
    if fdef.computed:
        problems.append(src.problem("a computed field's changes are not tracked",
                                    "track_changes"))
        return {}
    suffix = {"en": "changed on", "vi": "thời điểm thay đổi"}
    label = Label(frozen_map({language: f"{text}: {suffix.get(language, suffix['en'])}"
                              for language, text in fdef.label.texts.items()}))
    return {name: FieldDef(name=name, type="datetime", label=label, system=True,
                           read_only=True, index=True)}


def _type_rollups(fields_by_object: dict[str, dict[str, FieldDef]]) -> None:
    """A rollup holds what it measures: the min or max of a date a date (the last
    purchase), a sum, average, min or max of amounts an amount (a quote's total in VND), of
    percents a percent (the largest discount)."""
    for fields in fields_by_object.values():
        for fname, fdef in list(fields.items()):
            rollup = fdef.rollup
            if rollup is None or rollup.measure == "count":
                continue
            measured = fields_by_object.get(rollup.source, {}).get(rollup.measure_field or "")
            if measured is None:
                continue
            if measured.kind.is_date and rollup.measure in ("min", "max"):
                fields[fname] = replace(fdef, returns=measured.value_type, scale=None)
            elif measured.kind.written in ("money", "percent"):  # amounts, percents
                fields[fname] = replace(fdef, returns=measured.value_type)


class LookupScope(ObjectScope):
    """What a lookup's `filter` may name: the fields of the records it chooses among
    (`status`), and `record.<path>`, the record being edited (`record.project`)."""

    def __init__(self, fields: Mapping[str, Mapping[str, FieldDef]], target: str,
                 source: str):
        super().__init__(fields, target)
        self.source = ObjectScope(fields, source)

    def resolve(self, path: tuple[str, ...] | list[str], *, users: bool = False) -> str | None:
        if path[0] == RECORD:
            if len(path) == 1:
                return "record needs a field: record.project"
            return self.source.resolve(path[1:], users=users)
        return super().resolve(path, users=users)


def _check_field(fdef: FieldDef, scope: ObjectScope,
                 all_fields: Mapping[str, Mapping[str, FieldDef]], src: Src,
                 problems: list[Problem]) -> None:
    if fdef.type == "lookup" and fdef.to not in all_fields:
        problems.append(src.problem(f"lookup to unknown object '{fdef.to}'"
                                    + did_you_mean(fdef.to or "", all_fields), "to"))
    if fdef.expression is not None:
        check_expression(fdef.expression, scope, src, ("expression",), problems)
    for key, value in (("default", fdef.default), ("min", fdef.min), ("max", fdef.max)):
        if isinstance(value, str) and value.startswith("="):
            check_expression(expressions.parse(value[1:]), scope, src, (key,), problems)
    if fdef.rollup is not None:
        _check_rollup(fdef, scope, all_fields, src, problems)
    for key in CONDITIONS:
        if getattr(fdef, key) is not None:
            check_expression(getattr(fdef, key), scope, src, (key,), problems)
    if fdef.filter is not None and fdef.to in all_fields:
        check_expression(fdef.filter, LookupScope(all_fields, fdef.to or "", scope.name),
                         src, ("filter",), problems)


def _check_rollup(fdef: FieldDef, scope: ObjectScope,
                  all_fields: Mapping[str, Mapping[str, FieldDef]], src: Src,
                  problems: list[Problem]) -> None:
    rollup = fdef.rollup
    assert rollup is not None
    child = all_fields.get(rollup.source)
    if child is None:
        problems.append(src.problem(f"rollup from unknown object '{rollup.source}'"
                                    + did_you_mean(rollup.source, all_fields), "from"))
        return
    via = child.get(rollup.via)
    if via is None or via.type != "lookup" or via.to != scope.name:
        problems.append(src.problem(
            f"'{rollup.via}' must be a lookup field of {rollup.source} pointing to {scope.name}",
            "via"))
    if rollup.measure_field is not None:
        measured = child.get(rollup.measure_field)
        if measured is None:
            problems.append(src.problem(f"unknown field '{rollup.measure_field}' on "
                                        f"{rollup.source}" + did_you_mean(
                                            rollup.measure_field, child), "measure"))
        elif rollup.measure in ("sum", "avg") and not measured.kind.is_number:
            problems.append(src.problem(f"{rollup.measure}() needs a number field; "
                                        f"'{rollup.measure_field}' is {measured.type}", "measure"))
    if rollup.filter is not None:
        check_expression(rollup.filter, ObjectScope(all_fields, rollup.source), src,
                         ("filter",), problems)


def formula_dependencies(fields: Mapping[str, FieldDef]) -> dict[str, set[str]]:
    """For each formula field, the formula fields of the same object it reads."""
    deps: dict[str, set[str]] = {}
    for fname, fdef in fields.items():
        if fdef.type == "formula" and fdef.expression is not None:
            names = {n.path[0] for n in fdef.expression.names()}
            deps[fname] = {n for n in names if n in fields and fields[n].type == "formula"}
    return deps


def _check_formula_cycles(name: str, fields: Mapping[str, FieldDef],
                          sources: Mapping[tuple[str, str], Src], problems: list[Problem]) -> None:
    deps = formula_dependencies(fields)
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(deps.get(node, ())):
            if state.get(dep) == 1:
                cycle = " -> ".join([*trail[trail.index(dep):], dep]) if dep in trail else dep
                problems.append(sources[(name, node)].problem(
                    f"formulas read each other in a cycle: {cycle}", "expression"))
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[node] = 2

    for fname in deps:
        if fname not in state:
            visit(fname, [fname])


def _object(draft: ObjectDraft, fields: dict[str, FieldDef], scope: ObjectScope,
            problems: list[Problem]) -> ObjectDef:
    data = draft.data
    src = draft.src
    title = data.get("title")
    if title:
        check_placeholders(title, scope, src, ("title",), problems)
    search = tuple(data.get("search", ()))
    for i, fname in enumerate(search):
        fdef = fields.get(fname)
        if fdef is None:
            problems.append(src.problem(f"unknown field '{fname}'" + did_you_mean(fname, fields),
                                        "search", i))
        elif fdef.type not in SEARCHABLE_TYPES:
            problems.append(src.problem(f"'{fname}' is a {fdef.type} field; quick search "
                                        "covers text fields only", "search", i))
    validations = []
    for item, vsrc in draft.lists.get("validations", []):
        expr = parse_expression(item["when"], vsrc, ("when",), problems)
        beside = item.get("field")  # the message shows beside this field
        if beside is not None and beside not in fields:
            problems.append(vsrc.problem(f"unknown field '{beside}'"
                                         + did_you_mean(beside, fields), "field"))
        elif check_expression(expr, scope, vsrc, ("when",), problems):
            validations.append(ValidationRule(expr, Label.of(item["message"]), beside))
    together = []
    for item, usrc in draft.lists.get("unique_together", []):
        wrong = [(i, f) for i, f in enumerate(item) if f not in fields or fields[f].computed
                 or fields[f].kind.many]
        for i, f in wrong:
            problems.append(usrc.problem(
                f"unknown field '{f}'" + did_you_mean(f, fields) if f not in fields else
                f"'{f}' is {fields[f].type}: only stored single values can be unique together",
                i))
        if not wrong:
            together.append(tuple(item))
    indexes = []
    for item, isrc in draft.lists.get("indexes", []):
        bad = [f for f in item if f not in fields]
        for f in bad:
            problems.append(isrc.problem(f"unknown field '{f}' in index"
                                         + did_you_mean(f, fields), item.index(f)))
        if not bad:
            indexes.append(tuple(item))
    duplicates = []
    for item, dsrc in draft.lists.get("duplicates", []):
        matches = []
        for i, m in enumerate(item["match"]):
            fname, fuzzy = (m, None) if isinstance(m, str) else (m["field"], m.get("fuzzy"))
            fdef = fields.get(fname)
            if fdef is None:
                problems.append(dsrc.problem(f"unknown field '{fname}'"
                                             + did_you_mean(fname, fields), "match", i))
            elif fuzzy is not None and (fdef.computed or not fdef.kind.fuzzy):
                problems.append(dsrc.problem(f"fuzzy matching needs a text field; '{fname}' is "
                                             f"{fdef.type}", "match", i))
            else:
                matches.append(DuplicateMatch(fname, fuzzy))
        duplicates.append(DuplicateRule(tuple(matches), item.get("action", "warn")))
    label = Label.of(data.get("label"), humanize(draft.name))
    return ObjectDef(
        name=draft.name, label=label, plural=Label.of(data.get("plural")) if "plural" in data
        else label, fields=frozen_map(fields), title=title, search=search,
        validations=tuple(validations), indexes=tuple(indexes), duplicates=tuple(duplicates),
        unique_together=tuple(together),
        app=draft.app,
    )
