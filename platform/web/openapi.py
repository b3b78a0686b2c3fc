"""An OpenAPI 3.1 document generated from the model: one path pair and three schemas (the
record as read, the input of a create, the input of a change) per object.

The document promises only what the server accepts: a value its schema allows is a value the
record service takes (text without NUL, numbers within range, phone numbers in the national
plan, option values, dates the calendar has). Asked with an API token, it is the document of
that user: the objects they may read, the fields they may see, the fields they may change.
What JSON Schema cannot say is named in extensions a client can read: `x-lookup` (the id of a
record of that object), `x-user` (the id of an active user), `x-unique` (no two records share
the value), `x-default` (a default computed when the record is made), `x-validations` (the
object's rules, each refused when its condition holds) and `x-pattern` (a regular subset of
the filter and sort grammars, to draw examples from)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..engine.access import owner_choices
from ..engine.coerce import ID_FIELDS
from ..engine.query import OPERATORS
from ..engine.runtime import Context
from ..fieldtypes import FieldType, sortable
from ..fieldtypes.base import NO_NUL
from ..fieldtypes.references import id_filter_schema
from ..metadata.model import AppModel, FieldDef, ObjectDef

INT64 = 2**63 - 1
INT32 = 2**31 - 1


@dataclass(frozen=True)
class View:
    """What a document shows: the whole model, or what one user may read and change."""

    model: AppModel
    ctx: Context | None = None

    def objects(self) -> list[ObjectDef]:
        return [obj for obj in self.model.objects.values()
                if self.ctx is None or self.ctx.scope(obj.name, "read") != "none"]

    def fields(self, obj: ObjectDef) -> dict[str, FieldDef]:
        return {name: f for name, f in obj.fields.items()
                if self.ctx is None or self.ctx.can_see(obj.name, name)}

    def writable(self, obj: ObjectDef) -> dict[str, FieldDef]:
        return {name: f for name, f in self.fields(obj).items()
                if f.writable and (self.ctx is None or self.ctx.can_edit(obj, name))}

    def readable(self, object_name: str | None) -> bool:
        return object_name in self.model.objects and (
            self.ctx is None or self.ctx.scope(object_name, "read") != "none")


def field_schema(fdef: FieldDef, *, write: bool = False) -> dict[str, Any]:
    """The JSON Schema of a field's value: as read (`write=False`: whatever a record may
    hold) or as written (what the record service accepts)."""
    kind = fdef.kind
    schema = kind.schema(fdef, write)
    if not kind.many and not (write and fdef.required):
        schema["type"] = [schema["type"], "null"]
    schema["title"] = fdef.label.get("en")
    if "vi" in fdef.label.texts:
        schema["x-label-vi"] = fdef.label.texts["vi"]
    if fdef.help is not None:
        schema["description"] = fdef.help.get("en")
    if fdef.max_length:
        schema["maxLength"] = fdef.max_length
    if kind.is_number:
        if isinstance(fdef.min, (int, float)):
            schema["minimum"] = fdef.min
        if isinstance(fdef.max, (int, float)):
            schema["maximum"] = fdef.max
    if fdef.unique:
        schema["x-unique"] = True
    if isinstance(fdef.default, str) and fdef.default.startswith("="):
        schema["x-default"] = fdef.default  # computed when the record is made: =today()
    elif fdef.default is not None and fdef.writable:
        schema["default"] = fdef.default
    if not fdef.writable:
        schema["readOnly"] = True
    return schema


def _validations(obj: ObjectDef) -> list[dict[str, str]]:
    return [{"when": str(rule.when), "message": rule.message.get("en"),
             "message_vi": rule.message.get("vi")} for rule in obj.validations]


def _schemas(view: View, obj: ObjectDef) -> dict[str, dict[str, Any]]:
    record = {
        "type": "object", "title": obj.label.get("en"),
        "properties": {name: field_schema(f) for name, f in view.fields(obj).items()},
        "required": ["id", "version"],
    }
    writable = {name: field_schema(f, write=True) for name, f in view.writable(obj).items()}
    allowed = owner_choices(view.ctx, None) if view.ctx is not None else None
    if allowed is not None and "owner" in writable:
        writable["owner"] = {**writable["owner"], "enum": [*sorted(allowed), None],
                             "description": "you: giving a record to another user needs the "
                                            "assign right"}
    rules = _validations(obj) + [
        {"when": f"({a.before.source}) and ({a.when.source})",
         "message": f"{a.label.get('en')} is needed first (refused unless it is approved)",
         "message_vi": f"Cần {a.label.get('vi')} trước (bị từ chối nếu chưa được duyệt)"}
        for a in view.model.approvals_of(obj.name).values() if a.before is not None]
    create: dict[str, Any] = {
        "type": "object", "properties": writable, "additionalProperties": False,
        "required": [n for n, f in view.writable(obj).items()
                     if f.required and f.default is None]}
    patch: dict[str, Any] = {
        "type": "object", "additionalProperties": False, "required": ["version"],
        "properties": {**writable, "version": {
            "type": "integer", "minimum": 1, "maximum": INT64,
            "description": "the row version you read (required: 428 without it); a stale "
                           "one gets 409 with error.current_version"}}}
    if rules:
        described = "; ".join(f"{r['message']} (refused when {r['when']})" for r in rules)
        for schema in (create, patch):
            schema["x-validations"] = rules
            schema["description"] = f"Validation rules, answered with 422: {described}"
    return {_name(obj, ""): record, _name(obj, "Create"): create, _name(obj, "Update"): patch}


def _name(obj: ObjectDef, suffix: str) -> str:
    return "".join(part.capitalize() for part in obj.name.split("_")) + suffix


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Bad request (bad parameter or body)", 401: "No valid API token",
            403: "Not allowed", 404: "Not found", 409: "Conflict: stale row version or a "
            "record still referenced", 413: "The body is too large",
            422: "Validation failed; see error.fields",
            428: "The row version is missing: send the version you read"}
    return {str(c): {"description": text[c], "content": {"application/json": {
        "schema": _ref("Error")}}} for c in codes}


def _param_schema(fdef: FieldDef) -> dict[str, Any]:
    """What a `field=value` filter takes: text as the field's values are written."""
    if fdef.name in ID_FIELDS:
        return id_filter_schema(fdef)
    if fdef.name == "version":
        return {"type": "string", "pattern": "^[0-9]{1,9}$"}
    return fdef.kind.filter_schema(fdef)


def _alternatives(names: list[str]) -> str:
    return "(" + "|".join(sorted(names)) + ")"


def filter_pattern(view: View, obj: ObjectDef) -> str:
    """A regular subset of the filter grammar (up to three conditions joined by and/or): a
    filter matching it is one the server takes; the grammar itself is larger."""
    fields = view.fields(obj)

    def names(kind: Callable[[FieldType], bool] | None = None) -> list[str]:
        return [n for n, f in fields.items() if kind is None or (kind(f.kind) and n != "id")]

    kinds = {"(not )?is_blank\\({}\\)": names(),
             "{} (==|!=|<|<=|>|>=) [0-9]{{1,9}}": names(lambda k: k.is_number),
             "{} (==|!=) '[A-Za-z0-9 ]{{0,20}}'": names(lambda k: k.is_word),
             "{} == (true|false)": names(lambda k: k.value == "checkbox")}
    atom = "(" + "|".join(shape.format(_alternatives(group))
                          for shape, group in kinds.items() if group) + ")"
    return f"^{atom}( (and|or) {atom}){{0,2}}$"


def sort_pattern(view: View, obj: ObjectDef) -> str:
    """Fields of the object and of the records its lookups name, up to three."""
    names = [n for n, f in view.fields(obj).items() if sortable(f.type)]
    for name, fdef in view.fields(obj).items():
        if fdef.type == "lookup" and view.readable(fdef.to):
            target = view.model.objects[fdef.to]
            names += [f"{name}\\.{n}" for n, f in view.fields(target).items()
                      if sortable(f.type)]
    one = "-?" + _alternatives(names)
    return f"^{one}(,{one}){{0,2}}$"


def _paths(view: View, obj: ObjectDef) -> dict[str, Any]:
    name = obj.name
    label = obj.plural.get("en")
    operators = ", ".join(f"__{op}" for op in OPERATORS if op != "eq")
    search = [{"name": "search", "in": "query", "schema": {"type": "string", "pattern": NO_NUL},
               "description": "quick search, accent-insensitive, in "
                              + ", ".join(obj.search)}] if obj.search else []
    list_params = [
        *search,
        {"name": "sort", "in": "query", "schema": {
            "type": "string", "minLength": 1, "pattern": NO_NUL,
            "x-pattern": sort_pattern(view, obj)},
         "description": "fields, comma-separated, - in front for descending; a field of a "
                        "linked record as lookup.field (not textarea, file or multi-picklist "
                        "fields)"},
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                    "maximum": 10_000_000}},
        {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                         "maximum": 500}},
        {"name": "filter", "in": "query", "schema": {
            "type": "string", "minLength": 1, "pattern": NO_NUL,
            "x-pattern": filter_pattern(view, obj)},
         "description": "an expression, e.g. city == 'Huế' or age > 30: comparisons "
                        "(== != < <= > >=), in [..], and/or/not, parentheses, functions such "
                        "as is_blank(), contains(), today(); a field of a linked record as "
                        "lookup.field. x-pattern is a part of the grammar to draw examples "
                        "from"},
        *({"name": fname, "in": "query", "required": False, "schema": _param_schema(f),
           "description": f"filter on {fname}; also {fname}{operators} (in: values "
                          "comma-separated; is_blank: true or false)"}
          for fname, f in view.fields(obj).items() if not f.kind.many),
    ]
    page = {"type": "object", "properties": {
        "items": {"type": "array", "items": _ref(_name(obj, ""))},
        "total": {"type": "integer"}, "page": {"type": "integer"},
        "page_size": {"type": "integer"}, "pages": {"type": "integer"}}}
    record_response = {"content": {"application/json": {"schema": _ref(_name(obj, ""))}}}
    id_param = {"name": "id", "in": "path", "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": INT64}}
    return {
        f"/api/v1/{name}": {
            "get": {"operationId": f"list_{name}", "summary": f"List {label}",
                    "tags": [name], "parameters": list_params,
                    "responses": {"200": {"description": "A page of records", "content": {
                        "application/json": {"schema": page}}}, **_errors(400, 401, 403)}},
            "post": {"operationId": f"create_{name}", "summary": f"Create a {name}",
                     "tags": [name],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": _ref(_name(obj, "Create"))}}},
                     "responses": {"201": {"description": "Created", **record_response},
                                   **_errors(400, 401, 403, 413, 422)}},
        },
        f"/api/v1/{name}/{{id}}": {
            "parameters": [id_param],
            "get": {"operationId": f"get_{name}", "summary": f"Read a {name}", "tags": [name],
                    "responses": {"200": {"description": "The record", **record_response},
                                  **_errors(401, 403, 404)}},
            "patch": {"operationId": f"update_{name}", "summary": f"Change a {name}",
                      "tags": [name],
                      "requestBody": {"required": True, "content": {"application/json": {
                          "schema": _ref(_name(obj, "Update"))}}},
                      "responses": {"200": {"description": "The changed record",
                                            **record_response},
                                    **_errors(400, 401, 403, 404, 409, 413, 422, 428)}},
            "delete": {"operationId": f"delete_{name}", "summary": f"Delete a {name}",
                       "tags": [name],
                       "parameters": [{"name": "version", "in": "query", "required": True,
                                       "schema": {"type": "integer", "minimum": 1,
                                                  "maximum": INT64},
                                       "description": "the row version you read (or an "
                                                      "If-Match header); 428 without"}],
                       "responses": {"204": {"description": "Deleted"},
                                     **_errors(400, 401, 403, 404, 409, 428)}},
        },
    }


def _approval_paths(view: View, obj: ObjectDef) -> dict[str, Any]:
    """The object's approvals: submitting a record, approving or rejecting its step."""
    id_param = {"name": "id", "in": "path", "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": INT64}}
    paths: dict[str, Any] = {}
    result = {"type": "object", "required": ["approval", "status"], "properties": {
        "approval": {"type": "string"},
        "status": {"enum": ["pending", "approved", "rejected"]}}}
    for approval in view.model.approvals_of(obj.name).values():
        for verb, summary in (("submit", "Submit for approval"), ("approve", "Approve"),
                              ("reject", "Reject")):
            paths[f"/api/v1/{obj.name}/{{id}}/approvals/{approval.name}/{verb}"] = {
                "parameters": [id_param],
                "post": {"operationId": f"{obj.name}_{approval.name}_{verb}", "tags": [obj.name],
                         "summary": f"{summary}: {approval.label.get('en')} (needed while "
                                    f"{approval.when.source})",
                         "requestBody": {"required": False, "content": {
                             "application/json": {"schema": _ref("ApprovalComment")}}},
                         "responses": {"200": {"description": "Where the approval stands",
                                               "content": {"application/json": {
                                                   "schema": result}}},
                                       **_errors(400, 401, 403, 404, 409, 413)}}}
    return paths


def _action_paths(view: View, obj: ObjectDef, schemas: dict[str, Any]) -> dict[str, Any]:
    """The object's record actions: what may be run on a record, and running one (its
    body's schema goes to `schemas`)."""
    name = obj.name
    declared = view.model.actions_of(name)
    if not declared:
        return {}
    id_param = {"name": "id", "in": "path", "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": INT64}}
    listed = {"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "required": ["name", "label", "inputs"], "properties": {
            "name": {"type": "string"}, "label": {"type": "string"},
            "confirm": {"type": ["string", "null"]},
            "inputs": {"type": "array", "items": {"type": "object"}}}}}}}
    ran = {"type": "object", "required": ["action", "record", "made", "opens", "changed"],
           "properties": {
               "action": {"type": "string"}, "record": _ref(_name(obj, "")),
               "made": {"type": "object", "description": "the records its steps made, by "
                                                          "their `as:` name"},
               "opens": {"type": "object", "properties": {"object": {"type": "string"},
                                                           "id": {"type": "integer"}}},
               "changed": {"type": "array", "items": {"type": "string"}},
               "done": {"type": "array", "items": {"type": "object"}}}}
    paths: dict[str, Any] = {f"/api/v1/{name}/{{id}}/actions": {
        "parameters": [id_param],
        "get": {"operationId": f"actions_of_{name}", "tags": [name],
                "summary": f"The actions you may run on a {name} now",
                "responses": {"200": {"description": "The actions, with their inputs",
                                      "content": {"application/json": {"schema": listed}}},
                              **_errors(401, 403, 404)}}}}
    for action in declared.values():
        inputs = {n: field_schema(f, write=True) for n, f in action.inputs.items()}
        required = [n for n, f in action.inputs.items() if f.required]
        body: dict[str, Any] = {"type": "object", "additionalProperties": False,
                                "properties": {"inputs": {
                                    "type": "object", "additionalProperties": False,
                                    "properties": inputs, "required": required}},
                                "required": ["inputs"] if required else []}
        body_name = _name(obj, "") + "".join(p.capitalize() for p in action.name.split("_"))
        schemas[body_name + "Action"] = body
        who = f" (roles: {', '.join(action.roles)})" if action.roles else ""
        condition = f"; only while {action.condition.source}" if action.condition else ""
        paths[f"/api/v1/{name}/{{id}}/actions/{action.name}"] = {
            "parameters": [id_param],
            "post": {"operationId": f"{name}_{action.name}", "tags": [name],
                     "summary": f"{action.label.get('en')}{who}{condition}",
                     "requestBody": {"required": bool(required), "content": {
                         "application/json": {"schema": _ref(body_name + "Action")}}},
                     "responses": {"200": {"description": "Done: the record after it, and "
                                           "what it made", "content": {
                                               "application/json": {"schema": ran}}},
                                   **_errors(400, 401, 403, 404, 413, 422)}}}
    return paths


def openapi_document(model: AppModel, ctx: Context | None = None) -> dict[str, Any]:
    """The document of the whole model, or (with `ctx`) of what that user may see."""
    view = View(model, ctx)
    schemas: dict[str, Any] = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string"}, "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {
                    "type": "array", "items": {"type": "object", "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"},
                        "params": {"type": "object", "description": "what the message names "
                                   "(min, max, value, other record, row), for programs"}}}}}}}}},
    }
    if model.approvals:
        schemas["ApprovalComment"] = {"type": "object", "additionalProperties": False,
                                      "properties": {"comment": {"type": "string",
                                                                 "maxLength": 2000}}}
    paths: dict[str, Any] = {}
    for obj in view.objects():
        schemas.update(_schemas(view, obj))
        paths.update(_paths(view, obj))
        paths.update(_action_paths(view, obj, schemas))
        paths.update(_approval_paths(view, obj))
    if model.approvals:
        paths["/api/v1/approvals"] = {"get": {
            "operationId": "awaiting_my_approval", "tags": ["approvals"],
            "summary": "The approval steps waiting for your decision",
            "responses": {"200": {"description": "Oldest first", "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"type": "object"}}}}}}},
                **_errors(401)}}}
    who = f", as {ctx.user.username} ({ctx.user.role}) may use it" if ctx else ""
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{model.label.get('en')} API", "version": model.version,
                 "description": f"REST API of the MetaCRM app '{model.name}', generated from "
                                f"its metadata{who}."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }
