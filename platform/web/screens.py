"""The generated screens of every object: list, kanban, detail, new, edit, delete.

Routes are generic (`/o/{object}`, `/o/{object}/{id}`, ...); handlers parse the request,
call the engine, and render a template from `layouts/`, most specific first
(`list-contact.html` before `list.html`). htmx requests get the fragment only."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..engine import access, actions, approvals, attachments, query, records, views, workflows
from ..engine.errors import (
    BadRequest,
    Conflict,
    FieldError,
    Locked,
    PossibleDuplicates,
    ValidationFailed,
)
from ..engine.pipeline import (
    condition_reads,
    field_states,
    filter_reads,
    formula_problems,
    initial_values,
)
from ..engine.runtime import Context
from ..engine.segments import SEGMENT_OBJECTS
from ..engine.text import is_digits
from ..engine.users import user_choices
from ..metadata.model import FieldDef, ObjectDef
from . import auth, bodies
from .display import References, display, related_values, renderer
from .forms import Widget, form_fields, input_text, parse_form, widget_kind
from .i18n import error_text, translator
from .pages import PageContext, flash, formats_of, page_context
from .templating import cell_macros, render

RESERVED = ("search", "sort", "page", "page_size", "view")


def object_of(ctx: Context, request: Request) -> ObjectDef:
    """The object named in the URL (`/o/{object}/...`); NotFound for an unknown name."""
    return records.object_def(ctx, request.path_params["object"])


def _is_fragment(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and \
        request.headers.get("hx-boosted") != "true"


@dataclass(frozen=True)
class ListState:
    """What a list page shows: its filters (field parameters as sent), sort, quick search
    and page. Exports and the kanban read the same state from the same URL."""

    filters: dict[str, str]
    sort: str
    page: int
    page_size: int
    search: str

    def query(self, ctx: Context, obj: ObjectDef, *, with_total: bool = True,
              fields: list[str] | None = None) -> query.ListQuery:
        """The engine's query of this state (filters and sort checked for the user)."""
        return query.ListQuery(
            where=query.parse_params(ctx, obj, self.filters), search=self.search or None,
            sort=query.parse_sort(ctx, obj, self.sort), page=self.page,
            page_size=self.page_size, with_total=with_total,
            fields=tuple(c.split(".")[0] for c in fields) if fields is not None else None)


def list_state(ctx: Context, obj: ObjectDef, params: Any) -> ListState:
    """Filters, sort, search and paging of a list page, from its query string."""
    layout = ctx.model.layouts[obj.name]
    filters = {k: v for k, v in params.multi_items() if k not in RESERVED and v != ""}
    sort = params.get("sort") or ",".join(layout.list.sort)
    try:
        page = max(1, int(params.get("page") or 1))
        page_size = min(200, max(1, int(params.get("page_size") or layout.list.page_size)))
    except ValueError:
        raise BadRequest("page and page_size are whole numbers") from None
    return ListState(filters, sort, page, page_size, params.get("search") or "")


def run_list(ctx: Context, obj: ObjectDef, state: ListState, *,
             with_total: bool = True, fields: list[str] | None = None,
             conn: Any = None) -> query.Page:
    return query.list_records(ctx, obj.name, state.query(ctx, obj, with_total=with_total,
                                                          fields=fields), conn=conn)


def visible_columns(ctx: Context, obj: ObjectDef, columns: tuple[str, ...]) -> list[str]:
    out = []
    for column in columns:
        head = column.split(".")[0]
        if head in obj.fields and ctx.can_see(obj.name, head):
            if "." in column:
                fdef = obj.fields[head]
                rest = column.split(".", 1)[1].split(".")[0]
                if fdef.type != "lookup" or not ctx.can_see(fdef.to or "", rest):
                    continue
            out.append(column)
    return out


def column_field(ctx: Context, obj: ObjectDef, column: str):
    return ctx.model.resolve_path(obj.name, tuple(column.split(".")))


def _drawn_by(macros: Mapping[str, Callable[..., str]], column: str, fdef: FieldDef,
              render: Callable[[Any], str], blank: Callable[[dict[str, Any]], str]
              ) -> Callable[[dict[str, Any]], str]:
    """The cell of `column` for a record: the app's macro for the column or for its type,
    called with the value, the record and the standard cell (`default`, or `blank(record)`
    when that is empty); else the standard cell."""
    macro = macros.get("field_" + column.replace(".", "__")) or \
        macros.get(f"type_{fdef.kind.name}")

    def standard(record: dict[str, Any]) -> str:
        return render(record.get(column)) or blank(record)
    if macro is None:
        return standard
    return lambda record: str(macro(record.get(column), record, Markup(standard(record))))


def table_rows(ctx: Context, obj: ObjectDef, columns: list[str], items: list[dict[str, Any]],
               refs: References, fmt, *, select: bool = False,
               macros: Mapping[str, Callable[..., str]] | None = None
               ) -> tuple[list[tuple[str, str]], list[Markup]]:
    """Headers (column, label) and the table's rows as HTML, built here with one renderer
    per column (fifty rows of Jinja calls cost more than the queries behind them). When an
    app draws some columns itself (`macros`, from templating.cell_macros), every cell is
    asked of its record, and those columns of their macro."""
    fields = [column_field(ctx, obj, c) for c in columns]
    labels = [f.label.get(ctx.locale) for f in fields]
    headers = list(zip(columns, labels, strict=True))
    renders = [renderer(f, fmt, refs, ctx.locale) for f in fields]
    opens = [f'<td data-label="{html.escape(label)}">' for label in labels]
    rows: list[Markup] = []

    def check(record_id: int) -> str:
        return (f'<td class="select"><input type="checkbox" name="ids" value="{record_id}" '
                'aria-label="✓"></td>') if select else ""

    def row(record: dict[str, Any], first: str, cells: str) -> Markup:
        # the first column links to the record (by its title when the cell is blank)
        record_id = int(record["id"])
        content = first or html.escape(obj.title_of(record))
        return Markup(f'<tr>{check(record_id)}{opens[0]}<a href="/o/{obj.name}/{record_id}">'
                      f"{content}</a></td>{cells}</tr>")

    if not columns:  # the role sees none of the columns: a row per record all the same
        return headers, [Markup(f"<tr>{check(int(r['id']))}</tr>") for r in items]
    if macros:
        # the first column links to the record, by its title when the cell is blank
        blanks = [lambda record: html.escape(obj.title_of(record))] + \
            [lambda record: ""] * (len(columns) - 1)
        drawn = [_drawn_by(macros, c, f, r, b)
                 for c, f, r, b in zip(columns, fields, renders, blanks, strict=True)]
        return headers, [row(record, drawn[0](record), "".join(
            [f"{o}{cell(record)}</td>" for cell, o in zip(drawn[1:], opens[1:], strict=True)]))
            for record in items]
    first, first_cell = columns[0], renders[0]
    rest = list(zip(columns[1:], renders[1:], opens[1:], strict=True))
    for record in items:
        cells = "".join([f"{open_cell}{cell(record.get(column))}</td>"
                         for column, cell, open_cell in rest])
        rows.append(row(record, first_cell(record.get(first)), cells))
    return headers, rows


class ListLinks:
    """Query strings of a list page's links (sort headers, pager, export): its filters,
    then search, sort and page, with `changes`. The filters are encoded once a page."""

    def __init__(self, state: ListState):
        self.state = state
        self.fixed = urlencode(list(state.filters.items()))

    def __call__(self, **changes: Any) -> str:
        state = self.state
        values = {"search": state.search, "sort": state.sort, "page": state.page,
                  **changes}
        tail = "&".join(f"{k}={quote_plus(str(v))}" for k, v in values.items()
                        if v not in ("", None, 1) or k == "sort")
        return "&".join(part for part in (self.fixed, tail) if part)


def header_cells(obj: ObjectDef, headers: list[tuple[str, str]], state: ListState,
                 links: ListLinks) -> list[Markup]:
    """The list's column headers: each a link that sorts by it, or reverses the sort."""
    current = state.sort.split(",")[0]
    cells = []
    for column, label in headers:
        href = html.escape(f"/o/{obj.name}?" + links(
            sort=f"-{column}" if current == column else column, page=1))
        order = "asc" if current == column else "desc" if current == f"-{column}" else ""
        cells.append(Markup(
            f'<th><a href="{href}" hx-get="{href}" hx-target="#records" hx-push-url="true" '
            f'class="sort {order}">{html.escape(label)}</a></th>'))
    return cells


def list_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    access.require(ctx, obj, "read")
    layout = ctx.model.layouts[obj.name]
    state = list_state(ctx, obj, request.query_params)
    columns = visible_columns(ctx, obj, layout.list.columns)
    with ctx.db.read() as conn:  # one connection for the page, its count and its links
        page = run_list(ctx, obj, state, fields=columns, conn=conn)
        refs = References(ctx).load(obj, page.items, [c for c in columns if "." not in c],
                                    conn=conn)
    related_values(ctx, obj, page.items, columns)
    saved = views.saved_views(ctx, obj.name)
    can_edit = ctx.scope(obj.name, "edit") != "none"
    can_delete = ctx.scope(obj.name, "delete") != "none"
    bulk_actions = [(a.name, a.label.get(ctx.locale))
                    for a in ctx.model.actions_of(obj.name).values()
                    if a.bulk and actions.role_may(ctx, a) and (a.roles or can_edit)]
    headers, rows = table_rows(ctx, obj, columns, page.items, refs, frame.fmt,
                               select=can_edit or can_delete or bool(bulk_actions),
                               macros=cell_macros(frame, obj.name))
    links = ListLinks(state)
    context = {
        "obj": obj, "layout": layout, "page": page, "headers": headers, "rows": rows,
        # the table's headers and rows as one piece of HTML each, for the templates
        "header_html": Markup("".join(header_cells(obj, headers, state, links))),
        "rows_html": Markup("\n".join(rows)),
        "state": state, "qs": links, "query": links(),
        "filters": _filter_widgets(ctx, obj, state.filters),
        "can_create": ctx.scope(obj.name, "create") != "none",
        "can_edit": can_edit, "can_delete": can_delete,
        "bulk_fields": _bulk_fields(ctx, obj), "views": saved, "bulk_actions": bulk_actions,
        "can_segment": obj.name in SEGMENT_OBJECTS,
    }
    names = ["_list.html"] if _is_fragment(request) else [f"list-{obj.name}.html", "list.html"]
    return render(frame, names, context)


def _filter_widgets(ctx: Context, obj: ObjectDef, chosen: dict[str, str] | None = None
                    ) -> list[dict[str, Any]]:
    """The list's filters: label, options, and `control`, the input or select as HTML with
    the chosen value (built here: a few dozen options cost more through Jinja)."""
    chosen = chosen or {}
    any_label = html.escape(translator(ctx.locale)("Any"))
    out = []
    for name in ctx.model.layouts[obj.name].list.filters:
        if not ctx.can_see(obj.name, name):
            continue
        fdef = obj.fields[name]
        item: dict[str, Any] = {"name": name, "label": fdef.label.get(ctx.locale),
                                "type": fdef.value_type}
        if fdef.kind.has_options:
            item["options"] = [(o.value, o.label.get(ctx.locale)) for o in fdef.options]
        elif fdef.kind.refers == "user":
            item["options"] = [(str(i), n) for i, n in user_choices(ctx)]
        elif fdef.kind.value == "checkbox":
            item["options"] = [("true", "✓"), ("false", "✗")]
        value = chosen.get(name)
        if item.get("options"):
            options = "".join(
                f'<option value="{html.escape(v)}"{" selected" if v == value else ""}>'
                f"{html.escape(label)}</option>" for v, label in item["options"])
            item["control"] = Markup(f'<select name="{name}"><option value="">{any_label}'
                                     f"</option>{options}</select>")
        else:
            item["control"] = Markup(f'<input name="{name}" value="{html.escape(value or "")}">')
        out.append(item)
    return out


def _bulk_fields(ctx: Context, obj: ObjectDef) -> list[tuple[str, str]]:
    return [(n, f.label.get(ctx.locale)) for n, f in obj.fields.items()
            if f.kind.bulk and ctx.can_edit(obj, n)]


def save_view(request: Request) -> Response:
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    form = auth.checked_form(request)
    params = str(form.get("params") or "")
    views.save_view(ctx, obj.name, str(form.get("name") or ""), params,
                    shared="shared" in form)
    flash(request, "Saved.")
    return RedirectResponse(f"/o/{obj.name}?{params}", status_code=303)


# --- detail --------------------------------------------------------------------------------


def detail_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    record_id = request.path_params["id"]
    layout = ctx.model.layouts[obj.name]
    sections = form_fields(ctx, obj, layout)
    shown = [n for _, names in sections for n in names]
    related = []
    with ctx.db.read() as conn:  # one connection for the record, its lists, its timeline
        record = records.get(ctx, obj.name, record_id, conn=conn)
        can_edit = access.may(ctx, obj, record, "edit")
        buttons = actions.offered(ctx, conn, obj, record, may_edit=can_edit)
        approval_panel = approvals.panel(ctx, conn, obj, record, can_edit)
        refs = References(ctx).load(obj, [record], [*shown, "owner", "created_by",
                                                    "updated_by"], conn=conn)
        lists = [(item, ctx.model.objects[item.object]) for item in layout.related
                 if ctx.scope(item.object, "read") != "none"
                 and ctx.can_see(item.object, item.via)]
        pages = [query.list_records(ctx, child.name, query.ListQuery(
            where=query.condition(ctx, child, item.via, "eq", record_id),
            sort=("-created_at",), page_size=10), conn=conn) for item, child in lists]
        child_refs = [References(ctx).load(
            child, page.items, [c for c in visible_columns(ctx, child, item.columns)
                                if "." not in c], conn=conn)
            for (item, child), page in zip(lists, pages, strict=True)]
        events = attachments.timeline(ctx, obj.name, record_id, conn=conn, checked=True)
        failed = formula_problems(ctx, conn, obj, record)
    for (item, child), page, refs_ in zip(lists, pages, child_refs, strict=True):
        cols = visible_columns(ctx, child, item.columns)
        related_values(ctx, child, page.items, cols)
        headers, rows = table_rows(ctx, child, cols, page.items, refs_, frame.fmt,
                                   macros=cell_macros(frame, child.name))
        related.append({"item": item, "obj": child, "page": page, "headers": headers,
                        "rows": rows, "label": (item.label or child.plural).get(ctx.locale),
                        "can_create": ctx.scope(child.name, "create") != "none"})
    names = [f"detail-{obj.name}.html", "detail.html"]
    return render(frame, names, {
        "obj": obj, "record": record, "sections": sections, "refs": refs, "display": display,
        "related": related, "events": events, "title": obj.title_of(record),
        "can_edit": can_edit, "can_delete": access.may(ctx, obj, record, "delete"),
        "record_actions": buttons, "approval_panel": approval_panel,
        "timeline_field": lambda name: obj.fields.get(name),
        "failed": failed,
    })


# --- forms ---------------------------------------------------------------------------------


def build_widgets(ctx: Context, obj: ObjectDef, values: dict[str, Any], typed: dict[str, Any],
                  errors: dict[str, list[str]], refs: References | None, fmt, *,
                  states: dict[str, dict[str, bool]] | None = None) -> list[
                      tuple[str, list[Widget]]]:
    """The form's sections and their widgets; `states` (pipeline.field_states) says which
    conditional fields are out of sight, asked for or read-only."""
    layout = ctx.model.layouts[obj.name]
    states = states or {}
    out = []
    # a new record's field that a rule fills on save is not asked for (the save checks it)
    filled = workflows.filled_on_create(ctx.model, obj.name) if "id" not in values \
        else frozenset()
    for label, names in form_fields(ctx, obj, layout):
        widgets = []
        for name in names:
            level = ctx.field_access(obj.name, name)
            if name == "owner" and access.owner_choices(ctx, values.get("owner")) is not None:
                level = "read"  # giving records to others needs the assign right
            state = states.get(name)
            if state and state["read_only"]:
                level = "read"  # its read_only_if holds for the saved record
            widget = make_widget(ctx, obj.fields[name], level, values, typed, errors, refs,
                                 fmt, required=name not in filled, source=obj)
            if state:
                widget.conditional = True
                widget.hidden = state["hidden"] and name not in errors
                widget.required = state["required"] and name not in filled
            widgets.append(widget)
        out.append((label, widgets))
    return out


def make_widget(ctx: Context, fdef: FieldDef, level: str, values: dict[str, Any],
                typed: dict[str, Any], errors: dict[str, list[str]], refs: References | None,
                fmt, *, required: bool = True, source: ObjectDef | None = None) -> Widget:
    """One field's widget (a record's field, or an input an action asks for) with what it
    holds: `values` stored, `typed` as the user typed it."""
    name = fdef.name
    kind = widget_kind(fdef, level)
    value = typed[name] if name in typed else input_text(fdef, values.get(name), fmt)
    widget = Widget(field=fdef, label=fdef.label.get(ctx.locale), kind=kind,
                    value=value, required=fdef.required and required,
                    help=fdef.help.get(ctx.locale) if fdef.help else None,
                    errors=errors.get(name))
    if kind in ("select", "multiselect"):
        widget.options = [(o.value, o.label.get(ctx.locale)) for o in fdef.options
                          if o.active or o.value == values.get(name)
                          or o.value in (values.get(name) or [])]
    elif kind == "user":
        widget.options = [(str(i), n) for i, n in user_choices(ctx)]
        widget.value = str(value) if value not in (None, "") else ""
    elif kind == "lookup":
        chosen = typed.get(f"{name}__id") or values.get(name)
        widget.shown = (refs.titles.get(fdef.to or "", {}).get(values.get(name))
                        if refs and name not in typed else None) or (
            typed.get(name, "") if name in typed else "")
        widget.value = str(chosen) if chosen not in (None, "") else ""
        if fdef.filter is not None and source is not None:  # the choices the filter allows
            widget.choose = {"from": f"{source.name}.{name}", "record": values.get("id") or ""}
            widget.include = ",".join(f"[name='{f}'],[name='{f}__id']"
                                      for f in sorted(filter_reads(fdef)))
    elif kind in ("readonly", "file"):
        widget.shown = display(fdef, values.get(name), fmt, refs, ctx.locale)
    return widget


def _uploads(ctx: Context, obj: ObjectDef, form: FormData, names: list[str],
             frame: PageContext) -> tuple[dict[str, tuple[str, bytes]], dict[str, str]]:
    """Files chosen for file fields, checked (size, kind) before anything is saved."""
    t = frame.t
    found: dict[str, tuple[str, bytes]] = {}
    errors: dict[str, str] = {}
    for name in names:
        fdef = obj.fields[name]
        upload = form.get(name)
        if fdef.kind.widget != "file" or upload is None or isinstance(upload, str) or \
                not upload.filename or not ctx.can_edit(obj, name):
            continue
        data = upload.file.read(attachments.MAX_FILE_SIZE + 1)
        try:
            attachments.check_file(upload.filename, data)
            found[name] = (upload.filename, data)
        except BadRequest as exc:
            errors[name] = (t("The file is larger than {size}.", size="10 MB")
                            if exc.details.get("code") == "file_too_large" else
                            t("This kind of file is not accepted: {kind}.",
                              kind=exc.details.get("content_type", "?")))
    bodies.close(form)
    return found, errors


def _errors(ctx: Context, obj: ObjectDef, t, exc: ValidationFailed
            ) -> tuple[dict[str, list[str]], list[str]]:
    fields = {}
    for name, errors in exc.errors.items():
        if name == records.RECORD:
            continue
        fdef = obj.fields.get(name)
        label = fdef.label.get(ctx.locale) if fdef else name
        fields[name] = [error_text(t, ctx.locale, e.code, e.message, dict(e.params or {}),
                                   label) for e in errors]
    general = [error_text(t, ctx.locale, e.code, e.message, dict(e.params or {}), "")
               for e in exc.errors.get(records.RECORD, [])]
    return fields, general


def conditions_page(request: Request) -> Response:
    """The conditional fields' state for the form as it stands (POSTed by app.js when a
    field a condition reads changes): {field: {hidden, required, read_only}}."""
    ctx = auth.web_context(request)
    obj = object_of(ctx, request)
    form = auth.checked_form(request)
    names = [n for _, ns in form_fields(ctx, obj, ctx.model.layouts[obj.name]) for n in ns]
    values, _ = parse_form(ctx, obj, form, formats_of(ctx), names)
    record_id = request.query_params.get("record", "")
    stored = records.get(ctx, obj.name, int(record_id)) if is_digits(record_id) else None
    return JSONResponse(field_states(ctx, obj, {**(stored or {}), **values}, stored))


def form_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    record_id = request.path_params.get("id")
    fmt = frame.fmt
    names = [n for _, ns in form_fields(ctx, obj, ctx.model.layouts[obj.name]) for n in ns]
    if record_id is None:
        access.require(ctx, obj, "create")
        # the defaults, and a prefill: /o/task/new?related_lead=3
        current = initial_values(ctx, obj, request.query_params)
    else:
        current = records.get(ctx, obj.name, record_id)
        if not access.may(ctx, obj, current, "edit"):
            records.update(ctx, obj.name, record_id, {})  # raises the right 403
    typed: dict[str, Any] = {}
    field_errors: dict[str, list[str]] = {}
    general: list[str] = []
    status = 200
    conflict = False
    possible: list[Any] = []
    if request.method == "POST":
        form = auth.checked_form(request)
        values, typed = parse_form(ctx, obj, form, fmt, names)
        uploads, upload_errors = _uploads(ctx, obj, form, names, frame)
        try:
            if upload_errors:
                raise ValidationFailed({k: [FieldError("file", v)] for k, v in
                                        upload_errors.items()})
            ask = form.get("allow_duplicates") != "1"  # asked once; saved when confirmed
            if record_id is None:
                saved = records.create(ctx, obj.name, values, ask_duplicates=ask)
                flash(request, "Created.")
            else:
                version = form.get("version")
                saved = records.update(ctx, obj.name, record_id, values,
                                       version=records.row_version(version), ask_duplicates=ask)
                flash(request, "Saved.")
            if uploads:
                attached = {name: f"file:{attachments.add_file(ctx, obj.name, saved['id'], *up)}"
                            for name, up in uploads.items()}
                records.update(ctx, obj.name, saved["id"], attached)
            return RedirectResponse(f"/o/{obj.name}/{saved['id']}", status_code=303)
        except ValidationFailed as exc:
            field_errors, general = _errors(ctx, obj, frame.t, exc)
            status = 422
        except PossibleDuplicates as exc:
            possible = exc.matches  # those the user may not read come without id or title
            status = 409
        except Locked as exc:
            approval = ctx.model.approvals_of(obj.name).get(exc.details.get("approval", ""))
            general = [frame.t("This record is awaiting {approval}; it can be changed once "
                               "it is approved or rejected.", approval=approval.label.get(
                                   ctx.locale) if approval else "")]
            status = 409
        except Conflict:
            conflict = True
            status = 409
    refs = References(ctx).load(obj, [current], names)
    posted = values if request.method == "POST" else {}
    states = field_states(ctx, obj, {**current, **posted},
                          current if record_id is not None else None)
    sections = build_widgets(ctx, obj, current, typed, field_errors, refs, fmt, states=states)
    return render(frame, [f"form-{obj.name}.html", "form.html"], {
        "watch": sorted(condition_reads(obj)) if states else [],
        "obj": obj, "record": current if record_id is not None else None,
        "sections": sections, "general_errors": general, "has_errors": bool(
            field_errors or general), "conflict": conflict,
        "title": obj.title_of(current) if record_id is not None else None,
        "possible_duplicates": possible,
    }, status=status)


# --- delete, notes, files -----------------------------------------------------------------


def delete_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    record_id = request.path_params["id"]
    record = records.get(ctx, obj.name, record_id)
    if request.method == "POST":
        form = auth.checked_form(request)
        version = form.get("version")
        records.delete(ctx, obj.name, record_id, version=records.row_version(version))
        flash(request, "Deleted.")
        return RedirectResponse(f"/o/{obj.name}", status_code=303)
    return render(frame, "confirm.html", {
        "obj": obj, "record": record, "title": obj.title_of(record),
        "action": f"/o/{obj.name}/{record_id}/delete", "cancel": f"/o/{obj.name}/{record_id}"})


def add_note(request: Request) -> Response:
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    form = auth.checked_form(request)
    try:
        attachments.add_note(ctx, obj.name, request.path_params["id"],
                             str(form.get("body") or ""))
        flash(request, "Saved.")
    except BadRequest as exc:
        if exc.details.get("code") != "empty_note":
            raise
        flash(request, "A note cannot be empty.", "error")
    return RedirectResponse(f"/o/{obj.name}/{request.path_params['id']}#timeline",
                            status_code=303)


def add_file(request: Request) -> Response:
    frame, ctx = page_context(request)
    obj = object_of(ctx, request)
    form: FormData = auth.checked_form(request)
    upload = form.get("file")
    t = frame.t
    if upload is None or isinstance(upload, str) or not upload.filename:
        bodies.close(form)
        flash(request, t("Choose a file first."), "error")
    else:
        data = upload.file.read(attachments.MAX_FILE_SIZE + 1)
        bodies.close(form)
        try:
            attachments.add_file(ctx, obj.name, request.path_params["id"], upload.filename,
                                 data)
            flash(request, "Saved.")
        except BadRequest as exc:
            code = exc.details.get("code")
            if code == "file_too_large":
                flash(request, t("The file is larger than {size}.", size="10 MB"), "error")
            elif code == "file_type":
                flash(request, t("This kind of file is not accepted: {kind}.",
                                 kind=exc.details.get("content_type")), "error")
            else:
                raise
    return RedirectResponse(f"/o/{obj.name}/{request.path_params['id']}#timeline",
                            status_code=303)


def download_file(request: Request) -> Response:
    from starlette.responses import FileResponse

    ctx = auth.web_context(request)
    stored = attachments.get_file(ctx, request.path_params["file_id"])
    inline = stored.content_type.startswith("image/") or stored.content_type == \
        "application/pdf"
    return FileResponse(stored.path, media_type=stored.content_type, filename=stored.name,
                        content_disposition_type="inline" if inline else "attachment",
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": "sandbox"})

