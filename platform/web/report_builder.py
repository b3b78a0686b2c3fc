"""The report builder: a manager makes a report in the browser and sees its figures before
saving it.

The form is turned into a `report:` document - the YAML a consultant would write - and
checked by the one loader: the builder loads the app with the document added as an overlay
(:func:`metacrm.engine.overlays.build`), runs the report it gets (a live preview, htmx) and
saves it with :func:`metacrm.engine.overlays.save` as `reports/<name>.yaml`, a new metadata
version. The loader's messages are shown next to the inputs they concern and nothing is
saved. Adding a report to a dashboard rewrites the effective dashboard document as
`reports/dashboards/<name>.yaml` the same way.

Unlike Setup, the builder is for any signed-in user who may read the report's object.

    POST /reports/new  name=contacts_by_city object=contact group_1=city measure_1=count
    -> reports/contacts_by_city.yaml:
         report: contacts_by_city
         label: {en: Contacts by city, vi: Contacts by city}
         object: contact
         group_by: [city]
         measures: [count]
         chart: bar
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..engine import overlays, query, reports
from ..engine.errors import BadRequest, Conflict, CrmError, NotFound, PermissionDenied
from ..engine.runtime import Context, Runtime
from ..engine.text import is_digits
from ..metadata import MetadataError
from ..metadata.edits import Draft
from ..metadata.model import humanize
from . import auth
from .i18n import translator
from .pages import PageContext, flash, page_context
from .setup import NAME, base_version, draft, runtime
from .templating import render

NUMBERS = ("integer", "number", "currency", "percent")
DATES = ("date", "datetime")
FUNCS = ("count", "sum", "avg", "min", "max", "count_distinct")
CHARTS = ("bar", "line", "pie", "funnel", "none")
GROUPS = 2
MEASURES = 3
UNGROUPABLE = ("textarea", "file", "multipicklist")
PREVIEW_NAME = "report_builder_preview"  # the report's name while the typed one is unusable
PREVIEW_ROWS = 50


@dataclass(frozen=True)
class Choice:
    """A field a report may group by or measure: `city` or `account.industry`."""

    path: str
    label: str
    kind: str  # date | number | other


def _require_read(ctx: Context, object_name: str) -> None:
    if ctx.scope(object_name, "read") == "none":
        raise PermissionDenied(f"you may not read the records of '{object_name}'")


class Invalid(Exception):
    """Form input that cannot make a report document: messages by input name."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _kind(value_type: str) -> str:
    return "date" if value_type in DATES else "number" if value_type in NUMBERS else "other"


def readable_objects(ctx: Context) -> list[tuple[str, str]]:
    """(name, label) of the objects the user may read, in the model's order."""
    return [(name, obj.label.get(ctx.locale)) for name, obj in ctx.model.objects.items()
            if ctx.scope(name, "read") != "none"]


def field_choices(ctx: Context, obj_name: str) -> list[Choice]:
    """The object's fields the user may see, then each lookup's target fields."""
    obj = ctx.model.objects[obj_name]
    lang = ctx.locale
    out, lookups = [], []
    for fdef in obj.fields.values():
        if fdef.name == "id" or fdef.type in UNGROUPABLE or not ctx.can_see(obj_name, fdef.name):
            continue
        out.append(Choice(fdef.name, fdef.label.get(lang), _kind(fdef.value_type)))
        if fdef.type == "lookup" and fdef.to in ctx.model.objects:
            lookups.append(fdef)
    for fdef in lookups:
        target = ctx.model.objects[fdef.to or ""]
        for inner in target.fields.values():
            if inner.name == "id" or inner.type in UNGROUPABLE \
                    or not ctx.can_see(target.name, inner.name):
                continue
            out.append(Choice(f"{fdef.name}.{inner.name}",
                              f"{fdef.label.get(lang)} › {inner.label.get(lang)}",
                              _kind(inner.value_type)))
    return out


def _bands(t: Any, text: str, input_name: str) -> list[int | float]:
    """'18, 25, 35' -> [18, 25, 35]."""
    out: list[int | float] = []
    for part in (p for p in re.split(r"[,;\s]+", text) if p):
        try:
            number = float(part)
        except ValueError:
            raise Invalid({input_name: t("'{value}' is not a number: write the band limits as "
                                         "numbers, e.g. 18, 25, 35", value=part)}) from None
        out.append(int(number) if number.is_integer() else number)
    if any(b >= a for a, b in zip(out[1:], out, strict=False)):
        raise Invalid({input_name: t("write the band limits from the smallest to the largest")})
    return out


def report_document(ctx: Context, values: dict[str, str], name: str) -> dict[str, Any]:
    """The `report:` document the form describes. Raises Invalid; the loader checks the
    rest (field types, the filter expression)."""
    t = translator(ctx.locale)
    errors: dict[str, str] = {}
    obj_name = values.get("object", "")
    if obj_name not in ctx.model.objects:
        raise Invalid({"object": t("there is no object '{name}'", name=obj_name)})
    _require_read(ctx, obj_name)
    known = {c.path for c in field_choices(ctx, obj_name)}

    def field(input_name: str) -> str | None:
        path = values.get(input_name, "").strip()
        if path and path not in known:
            errors[input_name] = t("'{object}' has no field '{path}' you may report on",
                                   object=obj_name, path=path)
            return None
        return path or None

    en = values.get("label_en", "").strip() or humanize(name)
    doc: dict[str, Any] = {"report": name, "label": {
        "en": en, "vi": values.get("label_vi", "").strip() or en}, "object": obj_name}
    if values.get("filter", "").strip():
        doc["filter"] = values["filter"].strip()
        try:  # as the user sees the fields: a hidden one is an unknown one, with no hint
            query.parse_filter_expression(ctx, ctx.model.objects[obj_name], doc["filter"])
        except BadRequest as exc:
            errors["filter"] = exc.message
    groups: list[Any] = []
    for i in range(1, GROUPS + 1):
        path = field(f"group_{i}")
        if path is None:
            continue
        bucket = values.get(f"bucket_{i}", "")
        if bucket and bucket not in reports.BUCKETS:
            errors[f"bucket_{i}"] = t("'{value}' is not a date bucket", value=bucket)
        try:
            bands = _bands(t, values.get(f"bands_{i}", ""), f"bands_{i}")
        except Invalid as exc:
            errors.update(exc.errors)
            bands = []
        if bucket and bands:
            errors[f"bands_{i}"] = t("choose a date bucket or number bands, not both")
        groups.append({"field": path, "bucket": bucket} if bucket else
                      {"field": path, "bands": bands} if bands else path)
    if groups:
        doc["group_by"] = groups
    measures = []
    for i in range(1, MEASURES + 1):
        func = values.get(f"measure_{i}", "")
        if not func:
            continue
        if func not in FUNCS:
            errors[f"measure_{i}"] = t("'{value}' is not a measure (count, sum, avg, min, max, "
                                       "count_distinct)", value=func)
        elif func == "count":
            measures.append("count")
        elif (path := field(f"measure_field_{i}")) is not None:
            measures.append(f"{func}({path})")
        elif f"measure_field_{i}" not in errors:
            errors[f"measure_field_{i}"] = t("choose the field to {func}", func=func)
    if not measures and "measure_1" not in errors:
        errors["measure_1"] = t("choose at least one measure, e.g. count")
    doc["measures"] = measures
    chart = values.get("chart") or "none"
    if chart not in CHARTS:
        errors["chart"] = t("'{value}' is not a chart (bar, line, pie, funnel or none)",
                            value=chart)
    elif chart != "none":
        doc["chart"] = chart
    if errors:
        raise Invalid(errors)
    return doc


def form_values(doc: dict[str, Any]) -> dict[str, str]:
    """The builder's inputs for a saved report document (the edit page)."""
    label = doc.get("label") or {}
    label = label if isinstance(label, dict) else {"en": label, "vi": label}
    values = {"name": doc["report"], "label_en": label.get("en", ""),
              "label_vi": label.get("vi", ""), "object": doc["object"],
              "filter": doc.get("filter", ""), "chart": doc.get("chart", "none")}
    for i, item in enumerate(doc.get("group_by", []), start=1):
        spec = {"field": item} if isinstance(item, str) else item
        values[f"group_{i}"] = spec["field"]
        values[f"bucket_{i}"] = spec.get("bucket", "")
        values[f"bands_{i}"] = ", ".join(str(b) for b in spec.get("bands", []))
    for i, text in enumerate(doc.get("measures", ["count"]), start=1):
        func, _, rest = text.partition("(")
        values[f"measure_{i}"] = func
        values[f"measure_field_{i}"] = rest.rstrip(")")
    return values


def problem_errors(error: MetadataError) -> dict[str, str]:
    """The loader's messages, each next to its input: `group_by[1]` is the second grouping
    (its bucket or bands when the message is about them), `measures[0]` the first measure."""
    out: dict[str, list[str]] = {}
    for problem in error.problems:
        parts = [p for p in re.split(r"[.\[\]]+", problem.path or "") if p]
        target = "_"
        if parts and parts[0] in ("group_by", "measures") and len(parts) > 1 \
                and is_digits(parts[1]):
            n = int(parts[1]) + 1
            if parts[0] == "measures":
                target = f"measure_{n}"
            elif "bucket" in parts or "bucket" in problem.message:
                target = f"bucket_{n}"
            elif "bands" in parts or "bands" in problem.message:
                target = f"bands_{n}"
            else:
                target = f"group_{n}"
        elif parts:
            target = {"report": "name", "label": "label_en", "object": "object",
                      "filter": "filter", "chart": "chart", "group_by": "group_1",
                      "measures": "measure_1"}.get(parts[0], "_")
        out.setdefault(target, []).append(problem.message if target != "_" else str(problem))
    return {k: "; ".join(v) for k, v in out.items()}


def add_widget(d: Draft, dashboard: str, report: str) -> bool:
    """Append `report` to the dashboard's widgets in the draft (False: already there)."""
    path = f"reports/dashboards/{dashboard}.yaml"
    doc = d.effective().get(path)
    if doc is None:
        raise NotFound(f"there is no dashboard '{dashboard}'")
    if report in doc.get("widgets", []):
        return False
    d.set_document(path, {**doc, "widgets": [*doc.get("widgets", []), report]})
    return True


@dataclass
class Preview:
    headers: list[str]
    rows: list[list[Any]]
    errors: dict[str, str]
    more: bool = False


def preview(ctx: Context, rt: Runtime, values: dict[str, str], name: str | None) -> Preview:
    """Run the report the form describes without saving it."""
    name = name or PREVIEW_NAME
    try:
        doc = report_document(ctx, values, name)
        d = draft(rt)
        d.set_document(f"reports/{name}.yaml", doc)
        report = overlays.build(rt.app_dir, d.overlays).reports[name]
        result = reports.run(ctx, report, limit=PREVIEW_ROWS + 1)
    except Invalid as exc:
        return Preview([], [], exc.errors)
    except MetadataError as exc:
        return Preview([], [], problem_errors(exc))
    except CrmError as exc:
        return Preview([], [], {"_": exc.message})
    more = len(result.rows) > PREVIEW_ROWS
    result.rows = result.rows[:PREVIEW_ROWS]
    headers, rows = reports.labelled(ctx, result)
    return Preview(headers, rows, {}, more)


# --- screens --------------------------------------------------------------------------------


def _values(items: Any) -> dict[str, str]:
    return {k: v.strip() if k != "filter" else v for k, v in items
            if isinstance(v, str) and k != auth.CSRF_FIELD}


def _render(frame: PageContext, ctx: Context, values: dict[str, str], errors: dict[str, str], *,
            editing: str | None, base: Any, status: int = 200) -> Response:
    rt = runtime(frame.request)
    objects = readable_objects(ctx)
    obj_name = values.get("object") or (objects[0][0] if objects else "")
    values = {**values, "object": obj_name}
    choices = field_choices(ctx, obj_name) if obj_name in ctx.model.objects \
        and ctx.scope(obj_name, "read") != "none" else []
    lang = ctx.locale
    shown = preview(ctx, rt, values, _usable_name(rt, values.get("name", ""), editing)) \
        if choices else Preview([], [], {})
    dashboards = [(n, dash.label.get(lang)) for n, dash in ctx.model.dashboards.items()
                  if editing is None or editing not in dash.widgets] \
        if ctx.can("edit_dashboards") else []
    return render(frame, "report_builder.html", {
        "values": values, "errors": errors, "objects": objects,
        "field_options": [(c.path, c.label) for c in choices],
        "number_options": [(c.path, c.label) for c in choices if c.kind == "number"],
        "funcs": FUNCS,
        "buckets": reports.BUCKETS, "charts": CHARTS, "groups": range(1, GROUPS + 1),
        "measures": range(1, MEASURES + 1), "preview": shown, "editing": editing,
        "dashboards": dashboards, "base": base, "can_share": ctx.can("share_reports"),
        "action": f"/reports/{editing}/edit" if editing else "/reports/new"}, status=status)


def _usable_name(rt: Runtime, name: str, editing: str | None) -> str | None:
    if editing:
        return editing
    return name if NAME.fullmatch(name) and name not in rt.model.reports else None


def _check_name(t: Any, rt: Runtime, name: str) -> None:
    if not NAME.fullmatch(name):
        raise Invalid({"name": t("'{name}' is not a valid name: use lowercase letters, digits "
                                 "and _, starting with a letter", name=name)})
    if name in rt.model.reports:  # perhaps another user's private report: say no more
        raise Invalid({"name": t("the name '{name}' is taken: choose another name",
                                 name=name)})


def _builder_document(rt: Runtime, name: str) -> dict[str, Any]:
    """The overlay document of a report made in the builder (the app's reports are not
    edited here: they belong to its YAML)."""
    d = draft(rt)
    path = f"reports/{name}.yaml"
    doc = d.overlays.get(path)
    if doc is None or path in d.base:
        raise NotFound(f"there is no report '{name}' made in the report builder")
    return doc


def new_report(request: Request) -> Response:
    return _builder(request, None)


def edit_report(request: Request) -> Response:
    return _builder(request, request.path_params["name"])


def _builder(request: Request, editing: str | None) -> Response:
    frame, ctx = page_context(request)
    rt = runtime(request)
    owner: str | None = None
    if editing is not None:
        saved = _builder_document(rt, editing)
        owner = saved.get("owner")
        if not reports.visible(ctx, rt.model.reports[editing]):
            raise NotFound(f"there is no report '{editing}' made in the report builder")
        _require_read(ctx, saved["object"])
        if not reports.may_save(ctx, owner):
            raise PermissionDenied("changing a shared report needs the share_reports right")
    if request.method == "GET":
        values = _values(request.query_params.multi_items())
        if not values:
            values = form_values(saved) if editing else {"measure_1": "count", "chart": "bar"}
        if values.get("object") and values["object"] in ctx.model.objects:
            _require_read(ctx, values["object"])
        return _render(frame, ctx, values, {}, editing=editing, base=rt.version)
    form = auth.checked_form(request)
    values = _values(form.multi_items())
    base = base_version(form, rt)

    def again(errors: dict[str, str]) -> Response:
        return _render(frame, ctx, values, errors, editing=editing, base=base, status=422)

    t = translator(ctx.locale)
    name = editing or values.get("name", "")
    dashboard = values.get("dashboard", "")
    if editing is None:  # a new report: shared when asked and allowed, else the user's own
        shared = values.get("private") != "1" and ctx.can("share_reports")
        owner = None if shared else ctx.user.username
    errors: dict[str, str] = {}
    if dashboard and dashboard not in rt.model.dashboards:
        errors["dashboard"] = t("there is no dashboard '{name}'", name=dashboard)
    elif dashboard and not ctx.can("edit_dashboards"):
        errors["dashboard"] = t("your role may not change shared dashboards")
    elif dashboard and owner is not None:
        errors["dashboard"] = t("a private report cannot go on a shared dashboard")
    try:
        if editing is None:
            _check_name(t, rt, name)
    except Invalid as exc:
        errors.update(exc.errors)
    try:
        doc = report_document(ctx, values, name if NAME.fullmatch(name) else PREVIEW_NAME)
    except Invalid as exc:
        errors.update(exc.errors)
    if errors:
        return again(errors)
    if owner is not None:
        doc["owner"] = owner
    d = draft(rt)
    d.set_document(f"reports/{name}.yaml", doc)
    summary = f"{'change' if editing else 'add'} report {name}"
    if dashboard and add_widget(d, dashboard, name):
        summary += f", add it to dashboard {dashboard}"
    try:
        overlays.save(rt, d.overlays, base=base, user_id=ctx.user.id,
                      summary=summary)
    except MetadataError as exc:
        return again(problem_errors(exc))
    except Conflict as exc:
        return _conflict(frame, exc, f"/reports/{name}/edit" if editing else "/reports/new")
    flash(request, "Saved: {summary}".replace("{summary}", summary))
    return RedirectResponse(f"/reports/{name}", status_code=303)


def _conflict(frame: PageContext, exc: Conflict, reload: str) -> Response:
    return render(frame, "setup_conflict.html", {
        "message": "Someone changed the metadata while you were editing; nothing was saved. "
                   "Reload and make your change again.", "detail": exc.message,
        "reload": reload}, status=409)


def preview_fragment(request: Request) -> Response:
    """The live preview (htmx): the table of the report being built, or what is wrong."""
    frame, ctx = page_context(request)
    rt = runtime(request)
    form = auth.checked_form(request)
    values = _values(form.multi_items())
    editing = values.get("editing") or None
    if editing is not None:
        _builder_document(rt, editing)
    obj_name = values.get("object", "")
    if obj_name in ctx.model.objects:
        _require_read(ctx, obj_name)
    shown = preview(ctx, rt, values, _usable_name(rt, values.get("name", ""), editing))
    return render(frame, "report_builder_preview.html", {"preview": shown})


def add_to_dashboard(request: Request) -> Response:
    """Append a report to a dashboard's widgets, as a new metadata version."""
    frame, ctx = page_context(request)
    rt = runtime(request)
    form = auth.checked_form(request)
    dashboard = request.path_params["name"]
    name = str(form.get("report") or "")
    report = reports.get_report(ctx, name)
    _require_read(ctx, report.object)
    if not ctx.can("edit_dashboards"):
        raise PermissionDenied("changing a shared dashboard needs the edit_dashboards right")
    if report.owner is not None:
        raise BadRequest("A private report cannot go on a shared dashboard.",
                         parameter="report")
    base = base_version(form, rt)
    d = draft(rt)
    if not add_widget(d, dashboard, name):
        flash(request, "The report is already on this dashboard.")
        return RedirectResponse(f"/dashboards/{dashboard}", status_code=303)
    summary = f"add report {name} to dashboard {dashboard}"
    try:
        overlays.save(rt, d.overlays, base=base, user_id=ctx.user.id,
                      summary=summary)
    except Conflict as exc:
        return _conflict(frame, exc, f"/reports/{name}")
    flash(request, "Saved: {summary}".replace("{summary}", summary))
    return RedirectResponse(f"/dashboards/{dashboard}", status_code=303)


# `/reports/new` and `/reports/{name}/edit` must come before a `/reports/{name}` route
routes = [
    Route("/reports/new", new_report, methods=["GET", "POST"]),
    Route("/reports/preview", preview_fragment, methods=["POST"]),
    Route("/reports/{name}/edit", edit_report, methods=["GET", "POST"]),
    Route("/dashboards/{name}/add", add_to_dashboard, methods=["POST"]),
]
