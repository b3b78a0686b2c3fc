"""Working with many records at once: kanban, bulk changes, CSV export, and the lookup
type-ahead that forms use."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from ..engine import query, records, sheets
from ..engine.access import readable_ids
from ..engine.coerce import Invalid, coerce
from ..engine.errors import BadRequest, CrmError, ValidationFailed
from ..engine.pipeline import allowed_choices, filter_reads
from ..engine.runtime import Context
from ..engine.text import is_digits
from ..metadata.model import FieldDef, ObjectDef
from . import auth
from .display import References, display, related_values
from .pages import flash, formats_of, page_context
from .screens import ListState, list_state, object_of, run_list, visible_columns
from .templating import render

KANBAN_CARDS = 100
EXPORT_LIMIT = 100_000


def kanban_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    layout = ctx.model.layouts[obj.name]
    if layout.kanban is None:
        raise BadRequest(f"{obj.name} has no kanban view")
    group = obj.fields[layout.kanban.group_by]
    state = replace(list_state(ctx, obj, request.query_params), page_size=KANBAN_CARDS)
    columns = []
    card_fields = [f for f in visible_columns(ctx, obj, layout.kanban.card) if "." not in f]
    everything = []
    for option in [o for o in group.options if o.active]:
        filters = {**state.filters, group.name: option.value}
        page = run_list(ctx, obj, replace(state, filters=filters, page=1))
        columns.append({"value": option.value, "label": option.label.get(ctx.locale),
                        "page": page})
        everything += page.items
    refs = References(ctx).load(obj, everything, card_fields)
    return render(frame, [f"kanban-{obj.name}.html", "kanban.html"], {
        "obj": obj, "group": group, "columns": columns, "card_fields": card_fields,
        "refs": refs, "display": display, "state": state,
        "can_edit": ctx.scope(obj.name, "edit") != "none"
        and ctx.can_edit(obj, group.name),
        "options": [(o.value, o.label.get(ctx.locale)) for o in group.options if o.active]})


def move_card(request: Request) -> Response:
    """A kanban card dropped in another column: one update through the record service."""
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    form = auth.checked_form(request)
    layout = ctx.model.layouts[obj.name]
    if layout.kanban is None:
        raise BadRequest(f"{obj.name} has no kanban view")
    group = layout.kanban.group_by
    version = form.get("version")
    error = None
    try:
        record = records.update(ctx, obj.name, request.path_params["id"],
                                {group: form.get("value")},
                                version=records.row_version(version))
    except ValidationFailed as exc:
        error = "; ".join(e.message for errs in exc.errors.values() for e in errs)
        record = records.get(ctx, obj.name, request.path_params["id"])
    except CrmError as exc:
        error = exc.message
        record = records.get(ctx, obj.name, request.path_params["id"])
    if request.headers.get("hx-request") != "true":
        if error:
            flash(request, error, "error")
        return RedirectResponse(f"/o/{obj.name}/kanban", status_code=303)
    card_fields = [f for f in visible_columns(ctx, obj, layout.kanban.card) if "." not in f]
    refs = References(ctx).load(obj, [record], card_fields)
    fdef = obj.fields[group]
    return render(frame, "_card.html", {
        "obj": obj, "record": record, "card_fields": card_fields, "refs": refs,
        "display": display, "group": fdef, "error": error, "can_edit": True,
        "options": [(o.value, o.label.get(ctx.locale)) for o in fdef.options if o.active]},
        status=200)


def bulk_action(request: Request) -> Response:
    """Mass update or delete of the selected records; a delete asks first."""
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    form = auth.checked_form(request)
    ids = sorted({int(i) for i in form.getlist("ids") if isinstance(i, str) and is_digits(i)})
    action = form.get("action")
    t = frame.t
    if not ids:
        flash(request, t("{count} selected", count=0), "error")
        return RedirectResponse(f"/o/{obj.name}", status_code=303)
    if action == "delete" and form.get("confirmed") != "1":
        return render(frame, "confirm.html", {
            "obj": obj, "record": None, "ids": ids,
            "title": t("{total} records", total=len(ids)), "action": f"/o/{obj.name}/bulk",
            "cancel": f"/o/{obj.name}"})
    done, failed = 0, []
    for record_id in ids:
        try:
            if action == "delete":
                records.delete(ctx, obj.name, record_id)
            elif action == "update":
                field = str(form.get("field") or "")
                if field not in obj.fields:
                    raise BadRequest(f"{obj.name} has no field '{field}'")
                value = form.get("value")
                records.update(ctx, obj.name, record_id,
                               {field: value if value not in ("", None) else None})
            else:
                raise BadRequest("choose an action")
            done += 1
        except ValidationFailed as exc:
            failed.append(f"#{record_id}: " + "; ".join(
                e.message for errs in exc.errors.values() for e in errs))
        except CrmError as exc:
            failed.append(f"#{record_id}: {exc.message}")
    flash(request, f"{done}/{len(ids)} ✓" + (" — " + " | ".join(failed[:5]) if failed else ""),
          "error" if failed else "ok")
    return RedirectResponse(f"/o/{obj.name}", status_code=303)


def export_csv(request: Request) -> Response:
    """The current list view (filters, search, sort, visible columns) as CSV, all pages."""
    ctx, obj, state, columns = _export_view(request)
    return StreamingResponse(_csv_rows(ctx, obj, state, columns), media_type="text/csv",
                             headers={"Content-Disposition":
                                      f'attachment; filename="{obj.name}.csv"'})


def export_xlsx(request: Request) -> Response:
    """The current list view as an Excel workbook: numbers, money and dates stay typed."""
    from openpyxl import Workbook

    ctx, obj, state, columns = _export_view(request)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(obj.plural.get(ctx.locale)[:31])
    for row in _export_rows(ctx, obj, state, columns, typed=True):
        sheet.append(sheets.xlsx_row(sheet, row))
    buffer = io.BytesIO()
    book.save(buffer)
    return Response(buffer.getvalue(), media_type=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), headers={
        "Content-Disposition": f'attachment; filename="{obj.name}.xlsx"'})


def _export_view(request: Request) -> tuple[Context, ObjectDef, ListState, list[str]]:
    ctx = auth.web_context(request)
    obj = object_of(ctx, request)
    state = list_state(ctx, obj, request.query_params)
    columns = visible_columns(ctx, obj, ctx.model.layouts[obj.name].list.columns)
    run_list(ctx, obj, replace(state, page=1, page_size=1), with_total=False)  # checks early
    return ctx, obj, state, columns


def _csv_rows(ctx: Context, obj: ObjectDef, state: ListState, columns: list[str]
              ) -> Iterator[bytes]:
    first = True
    for rows in _export_pages(ctx, obj, state, columns, typed=False):
        yield sheets.csv_text(rows, bom=first).encode("utf-8")
        first = False


def _export_rows(ctx: Context, obj: ObjectDef, state: ListState, columns: list[str], *,
                 typed: bool) -> Iterator[list[Any]]:
    for rows in _export_pages(ctx, obj, state, columns, typed=typed):
        yield from rows


def _export_pages(ctx: Context, obj: ObjectDef, state: ListState, columns: list[str], *,
                  typed: bool) -> Iterator[list[list[Any]]]:
    """The header, then the records page by page, as rows of cells (at most
    EXPORT_LIMIT records). Record scopes and hidden fields apply as on the list."""
    fields = [ctx.model.resolve_path(obj.name, tuple(c.split("."))) for c in columns]
    yield [[f.label.get(ctx.locale) for f in fields]]
    page_size, page, sent = 500, 1, 0
    while sent < EXPORT_LIMIT:
        result = run_list(ctx, obj, replace(state, page=page, page_size=page_size),
                          with_total=False)
        if not result.items:
            break
        related_values(ctx, obj, result.items, columns)
        refs = References(ctx).load(obj, result.items, [c for c in columns if "." not in c])
        shown = refs.shown(None, ctx.locale)
        names = [f.kind.named(f, shown) if f.kind.named else None for f in fields]
        yield [[_cell(name, record.get(c), typed=typed)
                for c, name in zip(columns, names, strict=True)] for record in result.items]
        sent += len(result.items)
        if len(result.items) < page_size:
            break
        page += 1


def _cell(name: Callable[[Any], str] | None, value: Any, *, typed: bool = False) -> Any:
    """An export's cell: the words the value stands for (`name`, its type's), else the
    value, typed for a workbook or as text."""
    if value is None or value == []:
        return None if typed else ""
    if name is not None:
        return name(value)
    if typed and isinstance(value, (int, float, Decimal, bool)):
        return value
    if typed and isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)  # Excel has no time zones: UTC
    if typed and isinstance(value, date):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)  # the CSV writer guards it; an XLSX cell is typed as text


OFFERED = 10  # options a type-ahead shows
SCANNED = 5  # pages of 50 a filtered lookup's type-ahead looks through for them


def _filtered(ctx: Context, target: ObjectDef, request: Request
              ) -> tuple[ObjectDef, FieldDef, dict[str, Any]] | None:
    """(object, lookup, values) when the type-ahead is a lookup's with a `filter`
    (`from=deposit.unit`): its `record.x` read from the form as it stands (the fields it
    sends; a record it names counts only when the user may read it), else from the record
    being edited (`record=12`); None for a lookup without a filter."""
    params = request.query_params
    source_name, _, field_name = params.get("from", "").partition(".")
    source = ctx.model.objects.get(source_name)
    fdef = source.fields.get(field_name) if source else None
    if source is None or fdef is None or fdef.to != target.name or fdef.filter is None:
        return None
    values: dict[str, Any] = {}
    record_id = params.get("record", "")
    if is_digits(record_id) and ctx.scope(source.name, "read") != "none":
        try:
            values.update(records.get(ctx, source.name, int(record_id)))
        except CrmError:
            pass  # not theirs to read: the form's values only
    fmt = formats_of(ctx)
    with ctx.db.read() as conn:
        for name in filter_reads(fdef):
            field = source.fields[name]
            read = field.kind.read(field, params, fmt)
            if read is None:
                continue
            try:
                value = coerce(field, read[0], ctx.tz)
            except Invalid:
                value = None
            if field.kind.refers == "record":  # typed but not chosen, or not theirs: none
                value = value if isinstance(value, int) and readable_ids(
                    ctx, conn, field.to or "", [value]) else None
            values[name] = value
    return source, fdef, values


def lookup_options(request: Request) -> Response:
    """Type-ahead: the records of the object whose title matches what was typed (and that
    a filtered lookup's filter allows)."""
    ctx = auth.web_context(request)
    obj = object_of(ctx, request)
    field = request.query_params.get("field", "")
    typed = request.query_params.get(field) or request.query_params.get("q") or ""
    if ctx.scope(obj.name, "read") == "none":
        return HTMLResponse("")
    filtered = _filtered(ctx, obj, request)
    size = 50 if filtered else OFFERED
    found: list[dict[str, Any]] = []
    for number in range(1, (SCANNED if filtered else 1) + 1):
        page = query.list_records(ctx, obj.name, query.ListQuery(
            search=typed if typed.strip() and obj.search else None, page=number,
            page_size=size, with_total=False, sort=("-updated_at",)))
        rows = page.items
        if filtered:
            allowed = set(allowed_choices(ctx, *filtered, [r["id"] for r in rows]))
            rows = [r for r in rows if r["id"] in allowed]
        found += rows
        if len(found) >= OFFERED or len(page.items) < size:
            break
    items = "".join(
        f'<li role="option" data-id="{r["id"]}" data-title="{escape(obj.title_of(r))}">'
        f"{escape(obj.title_of(r))}</li>" for r in found[:OFFERED])
    return HTMLResponse(items)
