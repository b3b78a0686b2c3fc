"""The data quality report of an object (`/o/{object}/quality`): blank fields as a chart and
a table, malformed values, values in the wrong field, several spellings of one value and
records untouched for a year, each linked to the list of the records concerned."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..engine import quality
from ..engine.runtime import Context
from ..metadata.model import ObjectDef
from .pages import page_context
from .templating import render

# what each kind of finding is called on the page (English; vi-quality.yaml translates)
KIND_TEXT = {
    "invalid_email": "Not a valid email address",
    "invalid_phone": "Not a valid phone number",
    "email_in_phone": "An email address in a phone field",
    "email_in_name": "An email address in a name field",
    "phone_in_text": "A phone number in a text field",
}


def list_link(obj: ObjectDef, filters: dict[str, str] | Any) -> str:
    """The list page of the records that `filters` select."""
    return f"/o/{obj.name}?{urlencode(dict(filters))}"


def _label(ctx: Context, obj: ObjectDef, name: str) -> str:
    return obj.fields[name].label.get(ctx.locale)


def _findings(ctx: Context, obj: ObjectDef, t: Any,
              findings: tuple[quality.Finding, ...]) -> list[dict[str, Any]]:
    return [{"field": f.field, "label": _label(ctx, obj, f.field), "kind": f.kind,
             "what": t(KIND_TEXT[f.kind]), "count": f.count, "examples": f.examples,
             "shown": list_link(obj, {"id__in": ",".join(str(e.id) for e in f.examples)})}
            for f in findings]


def quality_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    obj_name = request.path_params["object"]
    report = quality.report(ctx, obj_name)
    obj = ctx.model.objects[obj_name]
    t, fmt = frame.t, frame.fmt
    blanks = [{"field": b.field, "label": _label(ctx, obj, b.field), "blank": b.blank,
               "share": b.share, "percent": fmt.percent(Decimal(f"{b.share * 100:.1f}")),
               "link": list_link(obj, b.filters)} for b in report.blanks]
    chart = {"labels": [b["label"] for b in blanks],
             "values": [round(b["share"] * 100, 1) for b in blanks],
             "links": [b["link"] for b in blanks], "title": t("Blank (%)")}
    spellings = [{"field": s.field, "label": _label(ctx, obj, s.field), "total": s.total,
                  "variants": [(v, n, list_link(obj, {s.field: v})) for v, n in s.variants]}
                 for s in report.inconsistent]
    context = {
        "obj": obj, "report": report, "blanks": blanks, "chart": chart,
        "invalid": _findings(ctx, obj, t, report.invalid),
        "misplaced": _findings(ctx, obj, t, report.misplaced),
        "spellings": spellings, "stale_days": quality.STALE_DAYS,
        "stale_link": list_link(obj, report.stale_filters) if report.stale_filters else None,
        "stale_before": fmt.date(report.stale_before) if report.stale_before else "",
    }
    return render(frame, [f"quality-{obj.name}.html", "quality.html"], context)


routes: list[Any] = [
    Route("/o/{object}/quality", quality_page, methods=["GET"]),
]
