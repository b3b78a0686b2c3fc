"""Segments on screen: the segments a user may see with their live counts, saving a list's
filters as a segment, a segment's page (definition, count, members, campaigns), renaming,
sharing and deleting it (after asking), and a campaign's target list."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..engine import query, records, segments
from ..engine.errors import BadRequest
from ..engine.runtime import Context
from ..engine.segments import Segment
from ..engine.users import user_choices
from . import auth
from .display import References, related_values
from .pages import PageContext, flash, page_context
from .screens import table_rows, visible_columns
from .templating import cell_macros, render

PAGE_SIZE = 25
CAMPAIGN_CHOICES = 200


def _page_number(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        raise BadRequest("page is a whole number", parameter="page") from None


def _segment(ctx: Context, request: Request) -> Segment:
    return segments.get(ctx, request.path_params["id"])


def _members(frame: PageContext, ctx: Context, seg: Segment, page_no: int) -> dict[str, Any]:
    """The members table of a segment: one page, with links, and its live total."""
    obj = ctx.model.objects[seg.object]
    columns = visible_columns(ctx, obj, ctx.model.layouts[obj.name].list.columns)
    page = segments.members(ctx, seg, page_no, PAGE_SIZE)
    refs = References(ctx).load(obj, page.items, [c for c in columns if "." not in c])
    related_values(ctx, obj, page.items, columns)
    headers, rows = table_rows(ctx, obj, columns, page.items, refs, frame.fmt,
                               macros=cell_macros(frame, obj.name))
    return {"obj": obj, "page": page, "headers": headers, "rows": rows}


def segments_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    owners = dict(user_choices(ctx))
    items = [{"segment": s, "obj": ctx.model.objects[s.object],
              "owner": owners.get(s.user_id, f"#{s.user_id}"),
              "count": segments.count(ctx, s)} for s in segments.list_for(ctx)]
    return render(frame, "segments.html", {"items": items})


def save_segment(request: Request) -> Response:
    frame, ctx = page_context(request)
    form = auth.checked_form(request)
    seg = segments.create(ctx, request.path_params["object"], str(form.get("name") or ""),
                          str(form.get("params") or ""), shared="shared" in form)
    flash(request, "Segment saved.")
    return RedirectResponse(f"/segments/{seg.id}", status_code=303)


def segment_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    seg = _segment(ctx, request)
    if request.method == "POST":
        form = auth.checked_form(request)
        seg = segments.update(ctx, seg.id, name=str(form.get("name") or ""),
                              params=str(form.get("params") or ""),
                              shared="shared" in form)
        flash(request, "Saved.")
        if not seg.shared and seg.user_id != ctx.user.id:  # an admin unshared it: gone
            return RedirectResponse("/segments", status_code=303)
        return RedirectResponse(f"/segments/{seg.id}", status_code=303)
    members = _members(frame, ctx, seg, _page_number(request))
    campaigns: list[tuple[int, str]] = []
    if seg.object in segments.TARGET_OBJECTS and "campaign" in ctx.model.objects \
            and ctx.scope("campaign", "edit") != "none":
        campaigns = [(r["id"], ctx.model.objects["campaign"].title_of(r)) for r in
                     query.list_records(ctx, "campaign", query.ListQuery(
                         sort=("-created_at",), page_size=CAMPAIGN_CHOICES,
                         with_total=False)).items]
    owners = dict(user_choices(ctx))
    return render(frame, "segment.html", {
        "segment": seg, **members, "owner": owners.get(seg.user_id, f"#{seg.user_id}"),
        "targeted_by": segments.campaigns_of(ctx, seg), "campaign_choices": campaigns,
        "may_change": segments.may_change(ctx, seg)})


def delete_segment(request: Request) -> Response:
    frame, ctx = page_context(request)
    seg = _segment(ctx, request)
    if request.method == "POST":
        form = auth.checked_form(request)
        if form.get("confirmed") == "1":
            segments.delete(ctx, seg.id)
            flash(request, "Segment deleted. No record was deleted.")
            return RedirectResponse("/segments", status_code=303)
    segments.require_change(ctx, seg)
    return render(frame, "segment_delete.html", {
        "segment": seg, "uses": segments.campaign_uses(ctx, seg),
        "count": segments.count(ctx, seg)})


def campaign_segment_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    campaign_id = request.path_params["id"]
    if request.method == "POST":
        form = auth.checked_form(request)
        raw = str(form.get("segment") or "")
        try:
            segment_id = int(raw) if raw else None
        except ValueError:
            raise BadRequest("segment is a segment id", parameter="segment") from None
        seg = segments.set_target(ctx, campaign_id, segment_id)
        flash(request, "Target list saved." if seg else "Target list removed.")
        return RedirectResponse(f"/o/campaign/{campaign_id}/targets", status_code=303)
    campaign = records.get(ctx, "campaign", campaign_id)
    choices = [s for name in segments.TARGET_OBJECTS if name in ctx.model.objects
               and ctx.scope(name, "read") != "none" for s in segments.list_for(ctx, name)]
    current = segments.target_segment(ctx, campaign_id)
    return render(frame, "segment_campaign.html", {
        "campaign": campaign, "title": ctx.model.objects["campaign"].title_of(campaign),
        "choices": [(s, ctx.model.objects[s.object]) for s in choices], "current": current})


def target_from_segment(request: Request) -> Response:
    """The segment screen's form: make this segment a campaign's target list."""
    frame, ctx = page_context(request)
    seg = _segment(ctx, request)
    form = auth.checked_form(request)
    try:
        campaign_id = int(str(form.get("campaign") or ""))
    except ValueError:
        raise BadRequest("campaign is a campaign id", parameter="campaign") from None
    segments.set_target(ctx, campaign_id, seg.id)
    flash(request, "Target list saved.")
    return RedirectResponse(f"/segments/{seg.id}", status_code=303)


def campaign_targets_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    campaign_id = request.path_params["id"]
    campaign = records.get(ctx, "campaign", campaign_id)
    seg = segments.target_segment(ctx, campaign_id)
    context: dict[str, Any] = {
        "campaign": campaign, "title": ctx.model.objects["campaign"].title_of(campaign),
        "segment": seg, "page": None,
        "may_target": ctx.scope("campaign", "edit") != "none"}
    if seg is not None and ctx.scope(seg.object, "read") != "none":
        context.update(_members(frame, ctx, seg, _page_number(request)))
    return render(frame, "segment_targets.html", context)


routes = [
    Route("/segments", segments_page, methods=["GET"]),
    Route("/segments/{id:int}", segment_page, methods=["GET", "POST"]),
    Route("/segments/{id:int}/delete", delete_segment, methods=["GET", "POST"]),
    Route("/segments/{id:int}/campaigns", target_from_segment, methods=["POST"]),
    Route("/o/{object}/segments", save_segment, methods=["POST"]),
    Route("/o/campaign/{id:int}/segment", campaign_segment_page, methods=["GET", "POST"]),
    Route("/o/campaign/{id:int}/targets", campaign_targets_page, methods=["GET"]),
]
