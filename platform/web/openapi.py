"""An OpenAPI 3.1 document generated from the model: one path pair and two schemas (the
record as read, the input as written) per object."""

from __future__ import annotations

from typing import Any

from ..metadata.model import AppModel, FieldDef, ObjectDef

_SCALARS: dict[str, dict[str, Any]] = {
    "text": {"type": "string"}, "textarea": {"type": "string"},
    "email": {"type": "string", "format": "email"}, "phone": {"type": "string"},
    "url": {"type": "string", "format": "uri"}, "integer": {"type": "integer"},
    "number": {"type": "number"}, "currency": {"type": "number"}, "percent": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"}, "checkbox": {"type": "boolean"},
    "lookup": {"type": "integer"}, "user": {"type": "integer"}, "file": {"type": "string"},
    "autonumber": {"type": "string"},
}


def field_schema(fdef: FieldDef) -> dict[str, Any]:
    vtype = fdef.value_type
    if vtype == "picklist":
        schema: dict[str, Any] = {"type": "string", "enum": [o.value for o in fdef.options]}
    elif vtype == "multipicklist":
        schema = {"type": "array", "items": {"type": "string",
                                             "enum": [o.value for o in fdef.options]}}
    else:
        schema = dict(_SCALARS.get(vtype, {"type": "string"}))
    if fdef.type != "multipicklist":
        schema["type"] = [schema["type"], "null"]
    schema["title"] = fdef.label.get("en")
    if "vi" in fdef.label.texts:
        schema["x-label-vi"] = fdef.label.texts["vi"]
    if fdef.help is not None:
        schema["description"] = fdef.help.get("en")
    if fdef.max_length:
        schema["maxLength"] = fdef.max_length
    if isinstance(fdef.min, (int, float)) and vtype in ("integer", "number", "currency",
                                                         "percent"):
        schema["minimum"] = fdef.min
    if isinstance(fdef.max, (int, float)) and vtype in ("integer", "number", "currency",
                                                         "percent"):
        schema["maximum"] = fdef.max
    if fdef.type == "lookup":
        schema["x-lookup"] = fdef.to
    if not fdef.writable:
        schema["readOnly"] = True
    return schema


def _schemas(obj: ObjectDef) -> dict[str, dict[str, Any]]:
    record = {
        "type": "object", "title": obj.label.get("en"),
        "properties": {name: field_schema(f) for name, f in obj.fields.items()},
        "required": ["id", "version"],
    }
    writable = {name: field_schema(f) for name, f in obj.fields.items() if f.writable}
    create = {"type": "object", "properties": writable, "additionalProperties": False,
              "required": [n for n, f in obj.fields.items() if f.required and f.writable]}
    patch = {"type": "object", "additionalProperties": False, "required": ["version"],
             "properties": {**writable, "version": {
                 "type": "integer", "description": "the row version you read (required: "
                                                   "428 without it); a stale one gets 409 "
                                                   "with error.current_version"}}}
    return {_name(obj, ""): record, _name(obj, "Create"): create, _name(obj, "Update"): patch}


def _name(obj: ObjectDef, suffix: str) -> str:
    return "".join(part.capitalize() for part in obj.name.split("_")) + suffix


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Bad request (bad parameter or body)", 401: "No valid API token",
            403: "Not allowed", 404: "Not found", 409: "Conflict: stale row version or a "
            "record still referenced", 422: "Validation failed; see error.fields",
            428: "The row version is missing: send the version you read"}
    return {str(c): {"description": text[c], "content": {"application/json": {
        "schema": _ref("Error")}}} for c in codes}


def _paths(obj: ObjectDef) -> dict[str, Any]:
    name = obj.name
    label = obj.plural.get("en")
    list_params = [
        {"name": "search", "in": "query", "schema": {"type": "string"},
         "description": "quick search, accent-insensitive"},
        {"name": "sort", "in": "query", "schema": {"type": "string"},
         "description": "fields, comma-separated; - in front for descending"},
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                         "maximum": 500}},
        {"name": "filter", "in": "query", "schema": {"type": "string"},
         "description": "an expression, e.g. city == 'Huế' or age > 30"},
        *({"name": fname, "in": "query", "required": False, "schema": {"type": "string"},
           "description": f"filter on {fname}; also {fname}__ne, __lt, __le, __gt, __ge, "
                          "__in, __contains, __starts_with, __is_blank"}
          for fname, f in obj.fields.items() if f.type not in ("multipicklist",)),
    ]
    page = {"type": "object", "properties": {
        "items": {"type": "array", "items": _ref(_name(obj, ""))},
        "total": {"type": "integer"}, "page": {"type": "integer"},
        "page_size": {"type": "integer"}, "pages": {"type": "integer"}}}
    record_response = {"content": {"application/json": {"schema": _ref(_name(obj, ""))}}}
    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {
        f"/api/v1/{name}": {
            "get": {"operationId": f"list_{name}", "summary": f"List {label}",
                    "tags": [name], "parameters": list_params,
                    "responses": {"200": {"description": "A page of records", "content": {
                        "application/json": {"schema": page}}}, **_errors(400, 401)}},
            "post": {"operationId": f"create_{name}", "summary": f"Create a {name}",
                     "tags": [name],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": _ref(_name(obj, "Create"))}}},
                     "responses": {"201": {"description": "Created", **record_response},
                                   **_errors(400, 401, 422)}},
        },
        f"/api/v1/{name}/{{id}}": {
            "parameters": [id_param],
            "get": {"operationId": f"get_{name}", "summary": f"Read a {name}", "tags": [name],
                    "responses": {"200": {"description": "The record", **record_response},
                                  **_errors(401, 404)}},
            "patch": {"operationId": f"update_{name}", "summary": f"Change a {name}",
                      "tags": [name],
                      "requestBody": {"required": True, "content": {"application/json": {
                          "schema": _ref(_name(obj, "Update"))}}},
                      "responses": {"200": {"description": "The changed record",
                                            **record_response},
                                    **_errors(400, 401, 403, 404, 409, 422, 428)}},
            "delete": {"operationId": f"delete_{name}", "summary": f"Delete a {name}",
                       "tags": [name],
                       "parameters": [{"name": "version", "in": "query", "required": False,
                                       "schema": {"type": "integer"},
                                       "description": "the row version you read (or an "
                                                      "If-Match header); 428 without"}],
                       "responses": {"204": {"description": "Deleted"},
                                     **_errors(400, 401, 403, 404, 409, 428)}},
        },
    }


def openapi_document(model: AppModel) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string"}, "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {
                    "type": "array", "items": {"type": "object", "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"}}}}}}}}},
    }
    paths: dict[str, Any] = {}
    for obj in model.objects.values():
        schemas.update(_schemas(obj))
        paths.update(_paths(obj))
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{model.label.get('en')} API", "version": model.version,
                 "description": f"REST API of the MetaCRM app '{model.name}', generated from "
                                "its metadata."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }
