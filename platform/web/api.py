"""The REST API: /api/v1/{object} and /api/v1/{object}/{id}.

Handlers are thin: find the user, parse the request, call one engine function, answer JSON.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..engine import access, actions, approvals, query, records
from ..engine.errors import BadRequest, NotFound, Unauthorized, VersionRequired
from ..engine.runtime import Context, Runtime
from ..engine.users import user_for_token
from . import auth, bodies
from .jsonio import JSON, json_body, json_value, record_json
from .openapi import openapi_document

RESERVED_PARAMS = ("search", "sort", "page", "page_size")


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def api_context(request: Request) -> Context:
    """The context of an API call: the user its bearer token names."""
    rt = runtime(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API token as 'Authorization: Bearer <token>' "
                           "(create one with: metacrm token USER)")
    with rt.db.read() as conn:
        user = user_for_token(conn, rt.schema, token.strip())
    if user is None:
        raise Unauthorized("the API token is not valid (or its user is deactivated)")
    locale = request.headers.get("accept-language", "")[:2]
    return rt.context(user, locale if locale in ("en", "vi") else None,
                      snap=auth.snapshot(request))


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not '{raw}'", parameter=name) from None


def _version(request: Request, body: dict[str, Any] | None) -> int:
    """The row version a PATCH or DELETE starts from: `version` in the body, an If-Match
    header or a `version` parameter. Required (428 without it), so no change overwrites
    another unseen; a stale one is a 409 with the current version."""
    raw: Any = None
    if body is not None and "version" in body:
        raw = body["version"]
    elif request.headers.get("if-match"):
        raw = request.headers["if-match"].strip('"W/')
    elif request.query_params.get("version"):
        raw = request.query_params["version"]
    try:
        version = records.row_version(raw)
    except BadRequest:
        raise BadRequest(f"version must be the record's row version (a whole number), not "
                         f"'{raw}'", parameter="version") from None
    if version is None:
        raise VersionRequired("send the record's version you read (\"version\" in the body, "
                              "an If-Match header or ?version=); without it a change could "
                              "overwrite someone else's", parameter="version")
    return version


def list_or_create(request: Request) -> Response:
    ctx = api_context(request)
    object_name = request.path_params["object"]
    if request.method == "POST":
        records.object_def(ctx, object_name)
        body = json_body(request)
        record = records.create(ctx, object_name, body)
        return JSON(record_json(record), status_code=201,
                    headers={"Location": f"/api/v1/{object_name}/{record['id']}"})
    obj = records.object_def(ctx, object_name)
    params = request.query_params
    filters = {k: v for k, v in params.multi_items() if k not in RESERVED_PARAMS}
    if len(filters) != len({k for k, _ in params.multi_items() if k not in RESERVED_PARAMS}):
        raise BadRequest("a filter parameter is given twice; use field__in=a,b for several "
                         "values")
    page = query.list_records(ctx, object_name, query.ListQuery(
        where=query.parse_params(ctx, obj, filters),
        search=params.get("search"),
        sort=query.parse_sort(ctx, obj, params.get("sort")),
        page=_int_param(request, "page", 1),
        page_size=_int_param(request, "page_size", 50),
    ))
    return JSON({"items": [record_json(r) for r in page.items], "total": page.total,
                 "page": page.page, "page_size": page.page_size, "pages": page.pages})


def record_detail(request: Request) -> Response:
    ctx = api_context(request)
    object_name = request.path_params["object"]
    record_id = request.path_params["id"]
    obj = records.object_def(ctx, object_name)
    if request.method == "GET":
        return JSON(record_json(records.get(ctx, object_name, record_id)))
    # a user who may not change the object hears that first, not that a version is missing
    access.require(ctx, obj, "delete" if request.method == "DELETE" else "edit")
    if request.method == "DELETE":
        records.delete(ctx, object_name, record_id, version=_version(request, None))
        return Response(status_code=204)
    body = json_body(request)
    version = _version(request, body)
    values = {k: v for k, v in body.items() if k != "version"}
    record = records.update(ctx, object_name, record_id, values, version=version)
    return JSON(record_json(record))


def optional_body(request: Request) -> dict[str, Any]:
    """The JSON object of a body that may be left out (an action's, an approval's)."""
    return json_body(request) if bodies.body(request).strip() else {}


def _input_json(fdef: Any, lang: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": fdef.name, "type": fdef.type, "label": fdef.label.get(lang),
                           "required": fdef.required, "default": json_value(value)}
    if fdef.options:
        out["options"] = [{"value": o.value, "label": o.label.get(lang)}
                          for o in fdef.options if o.active]
    if fdef.to:
        out["to"] = fdef.to
    return out


def action_json(ctx: Context, obj: Any, action: Any, record: dict[str, Any],
                conn: Any) -> dict[str, Any]:
    lang = ctx.locale
    defaults = actions.input_defaults(ctx, conn, obj, action, record)
    return {"name": action.name, "label": action.label.get(lang),
            "confirm": actions.question(ctx, conn, obj, action, record) or None,
            "inputs": [_input_json(f, lang, defaults[n]) for n, f in action.inputs.items()]}


def record_actions(request: Request) -> Response:
    """GET /api/v1/{object}/{id}/actions: what the user may run on the record now."""
    ctx = api_context(request)
    obj = records.object_def(ctx, request.path_params["object"])
    with ctx.db.read() as conn:
        record = records.load(ctx, conn, obj, request.path_params["id"], "read")
        may_edit = access.may(ctx, obj, record, "edit")
        offered = actions.offered(ctx, conn, obj, record, may_edit=may_edit)
        return JSON({"items": [action_json(ctx, obj, a, record, conn) for a in offered]})


def run_record_action(request: Request) -> Response:
    """POST /api/v1/{object}/{id}/actions/{name} with {"inputs": {...}} (optional)."""
    ctx = api_context(request)
    object_name = request.path_params["object"]
    records.object_def(ctx, object_name)
    body = optional_body(request)
    unknown = set(body) - {"inputs"}
    if unknown:
        raise BadRequest(f"an action's body holds only \"inputs\", not {sorted(unknown)}")
    outcome = actions.run(ctx, object_name, request.path_params["id"],
                          request.path_params["name"], body.get("inputs"))
    opens = outcome.opens
    return JSON({"action": outcome.action.name, "record": record_json(outcome.record),
                 "made": {k: {"object": o, "id": i} for k, (o, i) in outcome.made.items()},
                 "opens": {"object": opens[0], "id": opens[1]}, "changed": outcome.changed,
                 "done": outcome.done})


def approval_verb(request: Request) -> Response:
    """POST /api/v1/{object}/{id}/approvals/{name}/{submit|approve|reject}, with
    {"comment": ...} (optional) for a decision."""
    ctx = api_context(request)
    object_name, record_id = request.path_params["object"], request.path_params["id"]
    name, verb = request.path_params["name"], request.path_params["verb"]
    records.object_def(ctx, object_name)
    if verb not in ("submit", "approve", "reject"):
        raise NotFound(f"no such approval step '{verb}' (submit, approve or reject)")
    body = optional_body(request)
    unknown = set(body) - {"comment"}
    if unknown:
        raise BadRequest(f"the body holds only \"comment\", not {sorted(unknown)}")
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise BadRequest("comment must be a text")
    if verb == "submit":
        state = approvals.submit(ctx, object_name, record_id, name)
    else:
        state = approvals.decide(ctx, object_name, record_id, name, verb == "approve", comment)
    return JSON({"approval": name, "status": state})


def awaiting(request: Request) -> Response:
    """GET /api/v1/approvals: the approval steps waiting for the caller's decision."""
    ctx = api_context(request)
    return JSON({"items": [{"object": w.object, "id": w.record_id, "title": w.title,
                            "approval": w.approval.name,
                            "label": w.approval.label.get(ctx.locale), "step": w.step + 1,
                            "submitted_by": w.submitted_by,
                            "submitted_at": json_value(w.submitted_at)}
                           for w in approvals.awaiting(ctx)]})


def openapi(request: Request) -> Response:
    """The whole app's document; with an API token, the document of that user (the objects
    and fields their role lets them read and change)."""
    snap = auth.snapshot(request)
    if not request.headers.get("authorization"):
        return JSON(snap.statements.get(("openapi",), lambda: openapi_document(snap.model)))
    ctx = api_context(request)
    # built once per model and role (and user, where the owner a body may name is them)
    who = None if ctx.can("assign") else ctx.user.id
    return JSON(snap.statements.get(("openapi", ctx.user.role, who),
                                    lambda: openapi_document(ctx.model, ctx)))


routes = [
    Route("/api/v1/openapi.json", openapi, methods=["GET"]),
    Route("/api/v1/approvals", awaiting, methods=["GET"]),
    Route("/api/v1/{object}", list_or_create, methods=["GET", "POST"]),
    Route("/api/v1/{object}/{id:int}", record_detail, methods=["GET", "PATCH", "DELETE"]),
    Route("/api/v1/{object}/{id:int}/actions", record_actions, methods=["GET"]),
    Route("/api/v1/{object}/{id:int}/actions/{name}", run_record_action, methods=["POST"]),
    Route("/api/v1/{object}/{id:int}/approvals/{name}/{verb:str}", approval_verb,
          methods=["POST"]),
]
