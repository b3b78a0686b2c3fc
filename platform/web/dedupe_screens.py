"""Duplicates on screen: the finder over a whole object, and the merge of two records
(pick the surviving value of each field; related records, notes and files move over)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..engine import duplicates, query, records
from ..engine.errors import BadRequest, CrmError, ValidationFailed
from . import auth
from .display import References, display
from .pages import flash, page_context
from .screens import object_of
from .templating import render

SHOWN_GROUPS = 200


def duplicates_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    groups = duplicates.find_groups(ctx, obj.name)
    shown = groups[:SHOWN_GROUPS]
    ids = {i for g in shown for i in g.ids}
    titles = query.titles(ctx, obj.name, ids) if ids else {}
    return render(frame, "duplicates.html", {
        "obj": obj, "groups": shown, "total": len(groups), "titles": titles,
        "records": sum(len(g.ids) for g in groups),
        "labels": {f: obj.fields[f].label.get(ctx.locale) for g in shown for f in g.fields
                   if f in obj.fields}})


def _ids(request: Request) -> tuple[int, int]:
    try:
        keep = int(request.query_params.get("keep", ""))
        other = int(request.query_params.get("merge", ""))
    except ValueError:
        raise BadRequest("keep and merge are record ids") from None
    return keep, other


def merge_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    keep_id, merge_id = _ids(request)
    keep = records.get(ctx, obj.name, keep_id)
    other = records.get(ctx, obj.name, merge_id)
    fields = [f for f in obj.fields.values() if f.writable and not f.system
              and f.kind.importable and f.name in keep]
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        form = auth.checked_form(request)
        values: dict[str, Any] = {}
        for fdef in fields:
            if form.get(f"pick_{fdef.name}") == "other" and other.get(fdef.name) != keep.get(
                    fdef.name):
                values[fdef.name] = other.get(fdef.name)
        try:
            result = duplicates.merge(ctx, obj.name, keep_id, merge_id, values)
        except ValidationFailed as exc:
            errors = [f"{obj.fields[k].label.get(ctx.locale) if k in obj.fields else ''}: "
                      f"{e.message}" for k, errs in exc.errors.items() for e in errs]
            status = 422
        except CrmError as exc:
            errors = [exc.message]
            status = exc.status
        else:
            moved = sum(result["moved"].values())
            flash(request, f"Merged: {moved} related items moved")
            return RedirectResponse(f"/o/{obj.name}/{keep_id}", status_code=303)
    fmt = frame.fmt
    refs = References(ctx).load(obj, [keep, other], [f.name for f in fields])
    rows = [{"field": f, "keep": display(f, keep.get(f.name), fmt, refs),
             "other": display(f, other.get(f.name), fmt, refs),
             "same": keep.get(f.name) == other.get(f.name),
             "default": "other" if keep.get(f.name) in (None, "", []) and other.get(
                 f.name) not in (None, "", []) else "keep"} for f in fields]
    return render(frame, "merge.html", {
        "obj": obj, "keep": keep, "other": other, "rows": rows, "errors": errors,
        "keep_title": obj.title_of(keep), "other_title": obj.title_of(other),
        "related": [(ctx.model.objects[child].plural.get(ctx.locale), count) for child, count
                    in duplicates.related_counts(ctx, obj.name, merge_id)]}, status=status)


routes = [
    Route("/o/{object}/duplicates", duplicates_page, methods=["GET"]),
    Route("/o/{object}/merge", merge_page, methods=["GET", "POST"]),
]
