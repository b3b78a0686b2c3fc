"""Setup: the layout editor, one object's `layouts/<object>.yaml` as a form.

The form holds the layout as plain text inputs, so it works without JavaScript: each form
section N has `section_label_en_N`, `section_label_vi_N`, `section_columns_N` and
`section_fields_N` (field names separated by commas); the list has `list_columns`,
`list_sort` (`last_name,-created_at`), `list_filters` and `page_size`; the kanban
`kanban_group_by` (empty: no kanban) and `kanban_card`; related lists are `related`, one per
line as `object | via | col1, col2`. The drag and drop script (static/setup_layouts.js) only
keeps the section inputs up to date. Saving goes through setup.apply_change (review, then
save); the loader's messages come back next to the inputs they concern.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..engine.runtime import Runtime
from ..metadata.edits import Draft, EditError
from ..metadata.model import Layout, ObjectDef
from . import auth
from .forms import widget_kind
from .pages import PageContext
from .setup import admin_context, apply_change, draft, form_values, path_object, runtime
from .templating import render

SECTION_INPUT = re.compile(r"^section_fields_(\d+)$")
NOT_PLACEABLE = ("id", "version")
DEFAULT_PAGE_SIZE = 50


# --- the form's values from a layout document -----------------------------------------------


def _names(text: str) -> list[str]:
    """'a, b,,c ' -> ['a', 'b', 'c']."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _label_pair(label: Any, fallback: str) -> tuple[str, str]:
    if isinstance(label, dict):
        en = str(label.get("en") or label.get("vi") or fallback)
        return en, str(label.get("vi") or en)
    return (str(label), str(label)) if label else (fallback, fallback)


def layout_document(layout: Layout) -> dict[str, Any]:
    """The YAML document of a built layout (for objects the app gave no layout file)."""
    sections = [{"label": s.label.to_data(), "columns": s.columns, "fields": list(s.fields)}
                for s in layout.sections]
    doc: dict[str, Any] = {
        "layout": layout.object, "form": {"sections": sections},
        "list": {"columns": list(layout.list.columns), "sort": list(layout.list.sort),
                 "filters": list(layout.list.filters), "page_size": layout.list.page_size}}
    if layout.kanban is not None:
        doc["kanban"] = {"group_by": layout.kanban.group_by, "card": list(layout.kanban.card)}
    if layout.related:
        doc["related"] = [{"object": r.object, "via": r.via, "columns": list(r.columns)}
                          for r in layout.related]
    return doc


def layout_values(doc: dict[str, Any]) -> dict[str, str]:
    """The form's inputs for a layout document."""
    values: dict[str, str] = {}
    for n, section in enumerate(doc.get("form", {}).get("sections", [])):
        en, vi = _label_pair(section.get("label"), f"Section {n + 1}")
        values[f"section_label_en_{n}"] = en
        values[f"section_label_vi_{n}"] = vi
        values[f"section_columns_{n}"] = str(section.get("columns", 1))
        values[f"section_fields_{n}"] = ", ".join(section.get("fields", []))
    lst = doc.get("list", {})
    values["list_columns"] = ", ".join(lst.get("columns", []))
    values["list_sort"] = ", ".join(lst.get("sort", []))
    values["list_filters"] = ", ".join(lst.get("filters", []))
    values["page_size"] = str(lst.get("page_size", DEFAULT_PAGE_SIZE))
    kanban = doc.get("kanban") or {}
    values["kanban_group_by"] = str(kanban.get("group_by", ""))
    values["kanban_card"] = ", ".join(kanban.get("card", []))
    values["related"] = "\n".join(
        f"{r.get('object', '')} | {r.get('via', '')} | {', '.join(r.get('columns', []))}"
        for r in doc.get("related", []))
    return values


def section_numbers(values: dict[str, str]) -> list[int]:
    """The N of every `section_fields_N` input, in order."""
    return sorted(int(m.group(1)) for key in values if (m := SECTION_INPUT.match(key)))


# --- the layout document from the form ------------------------------------------------------


def form_sections(values: dict[str, str]) -> list[dict[str, Any]]:
    """The form's sections as layout YAML; sections left without fields are dropped."""
    sections = []
    for n in section_numbers(values):
        fields = _names(values.get(f"section_fields_{n}", ""))
        if not fields:
            continue
        en = values.get(f"section_label_en_{n}", "").strip()
        vi = values.get(f"section_label_vi_{n}", "").strip()
        en = en or vi or f"Section {len(sections) + 1}"
        columns = values.get(f"section_columns_{n}", "1").strip() or "1"
        if columns not in ("1", "2", "3", "4"):
            raise EditError(f"a section has 1 to 4 columns, not '{columns}'",
                            f"section_columns_{n}")
        sections.append({"label": {"en": en, "vi": vi or en}, "columns": int(columns),
                         "fields": fields})
    return sections


def parse_related(text: str, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`object | via | col1, col2` per line; a related list keeps the label it had."""
    labels = {(r.get("object"), r.get("via")): r["label"] for r in before if "label" in r}
    out: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 2 or not parts[0] or not parts[1] or len(parts) > 3:
            raise EditError(f"related list on line {number}: write object | lookup field | "
                            "columns (e.g. order | customer | number, total)", "related")
        item: dict[str, Any] = {"object": parts[0], "via": parts[1]}
        if (parts[0], parts[1]) in labels:
            item["label"] = labels[(parts[0], parts[1])]
        columns = _names(parts[2]) if len(parts) > 2 else []
        if columns:
            item["columns"] = columns
        out.append(item)
    return out


def build_document(obj: str, values: dict[str, str], before: dict[str, Any]) -> dict[str, Any]:
    """The layout document the form describes (`before`: the one it started from)."""
    doc: dict[str, Any] = {"layout": obj}
    sections = form_sections(values)
    if sections:
        doc["form"] = {"sections": sections}
    lst: dict[str, Any] = {}
    for key, name in (("columns", "list_columns"), ("sort", "list_sort"),
                      ("filters", "list_filters")):
        items = _names(values.get(name, ""))
        if items:
            lst[key] = items
    size = values.get("page_size", "").strip()
    if size:
        try:
            number = int(size)
        except ValueError:
            raise EditError(f"'{size}' is not a number: the page size is a whole number of "
                            "rows, e.g. 50", "page_size") from None
        if number != DEFAULT_PAGE_SIZE or "page_size" in before.get("list", {}):
            lst["page_size"] = number
    if lst:
        doc["list"] = lst
    group_by = values.get("kanban_group_by", "").strip()
    if group_by:
        kanban: dict[str, Any] = {"group_by": group_by}
        card = _names(values.get("kanban_card", ""))
        if card:
            kanban["card"] = card
        doc["kanban"] = kanban
    elif _names(values.get("kanban_card", "")):
        raise EditError("choose the picklist field the kanban groups by, or leave the card "
                        "fields empty", "kanban_group_by")
    related = parse_related(values.get("related", ""), before.get("related", []))
    if related:
        doc["related"] = related
    return doc


def error_inputs(values: dict[str, str]) -> dict[str, str]:
    """Metadata paths of the layout document -> the form inputs they come from.

    Problem paths look like `form.sections[1].fields[2]` or `list.sort[0]`; see
    setup.problem_errors for how they are matched."""
    inputs: dict[str, str] = {"group_by": "kanban_group_by", "kanban": "kanban_card",
                              "related": "related", "page_size": "page_size",
                              "list": "list_columns", "sections": "_", "form": "_"}
    for i in range(len(_names(values.get("list_columns", ""))) + 1):
        inputs[f"list.columns[{i}]"] = "list_columns"
    for i in range(len(_names(values.get("list_sort", ""))) + 1):
        inputs[f"list.sort[{i}]"] = "list_sort"
    for i in range(len(_names(values.get("list_filters", ""))) + 1):
        inputs[f"list.filters[{i}]"] = "list_filters"
    for i in range(len(values.get("related", "").splitlines()) + 1):
        inputs[f"related[{i}]"] = "related"
    # sections without fields are dropped: the document's section i is the i-th non-empty one
    kept = [n for n in section_numbers(values)
            if _names(values.get(f"section_fields_{n}", ""))]
    for i, n in enumerate(kept):
        inputs[f"sections[{i}]"] = f"section_fields_{n}"
        inputs[f"sections[{i}].columns"] = f"section_columns_{n}"
        inputs[f"sections[{i}].label.en"] = f"section_label_en_{n}"
        inputs[f"sections[{i}].label.vi"] = f"section_label_vi_{n}"
    return inputs


# --- screens --------------------------------------------------------------------------------



def _effective(rt: Runtime, d: Draft, obj: str) -> dict[str, Any]:
    doc = d.effective().get(f"layouts/{obj}.yaml")
    return doc if doc is not None else layout_document(rt.model.layouts[obj])


def _editor(frame: PageContext, rt: Runtime, obj: ObjectDef, values: dict[str, str],
            errors: dict[str, str], *, base: Any, status: int = 200) -> Response:
    lang = frame.lang
    placeable = [f for f in obj.fields.values() if f.name not in NOT_PLACEABLE]
    placed = {name for n in section_numbers(values)
              for name in _names(values.get(f"section_fields_{n}", ""))}
    labels = {f.name: f.label.get(lang) for f in placeable}
    sections = [{"n": n, "fields": _names(values.get(f"section_fields_{n}", ""))}
                for n in section_numbers(values)]
    children = sorted({o.name for o in rt.model.objects.values() for f in o.fields.values()
                       if f.type == "lookup" and f.to == obj.name})
    return render(frame, "setup_layout.html", {
        "obj": obj, "values": values, "errors": errors, "base": base, "sections": sections,
        "labels": labels, "palette": [f for f in placeable if f.name not in placed],
        "picklists": [f for f in obj.fields.values()
                      if f.kind.has_options and not f.kind.many],
        "children": children}, status=status)


def layouts_page(request: Request) -> Response:
    """Every object, with a link to its layout editor."""
    frame, ctx = admin_context(request)
    lang = ctx.locale
    rt = runtime(request)
    d = draft(rt)
    objects = [{"name": name, "label": obj.label.get(lang),
                "changed": f"layouts/{name}.yaml" in d.overlays,
                "sections": len(rt.model.layouts[name].sections)}
               for name, obj in rt.model.objects.items()]
    return render(frame, "setup_layouts.html", {"objects": objects, "version": rt.version})


def layout_page(request: Request) -> Response:
    """Edit one object's layout (GET), or review then save it (POST)."""
    frame, ctx = admin_context(request)
    rt = runtime(request)
    obj = path_object(request)
    if request.method == "GET":
        values = layout_values(_effective(rt, draft(rt), obj.name))
        return _editor(frame, rt, obj, values, {}, base=rt.version)
    form = auth.checked_form(request)
    values = form_values(form)
    base = form.get("base") or rt.version
    action = str(form.get("action") or "")
    if action == "add_section":
        n = max(section_numbers(values), default=-1) + 1
        values.update({f"section_fields_{n}": "", f"section_columns_{n}": "1",
                       f"section_label_en_{n}": "", f"section_label_vi_{n}": ""})
        return _editor(frame, rt, obj, values, {}, base=base)
    if action.startswith("remove_section_"):
        n = action.removeprefix("remove_section_")
        for key in ("fields", "columns", "label_en", "label_vi"):
            values.pop(f"section_{key}_{n}", None)
        return _editor(frame, rt, obj, values, {}, base=base)

    def again(errors: dict[str, str]) -> Response:
        return _editor(frame, rt, obj, values, errors, base=base, status=422)

    def edit(d: Draft) -> str:
        doc = build_document(obj.name, values, _effective(rt, d, obj.name))
        d.set_document(f"layouts/{obj.name}.yaml", doc)
        return f"change layout of {obj.name}"

    return apply_change(frame, ctx, form, edit, again=again,
                        done=f"/setup/layouts/{obj.name}", inputs=error_inputs(values))


def preview(request: Request) -> Response:
    """The form's sections as they would look (htmx fragment): labels and widget kinds."""
    frame, _ = admin_context(request)
    obj = path_object(request)
    values = form_values(auth.checked_form(request))
    sections = []
    for n in section_numbers(values):
        names = _names(values.get(f"section_fields_{n}", ""))
        en = values.get(f"section_label_en_{n}", "").strip()
        vi = values.get(f"section_label_vi_{n}", "").strip() or en
        fields = []
        for name in names:
            fdef = obj.fields.get(name)
            fields.append({"name": name, "label": fdef.label if fdef else None,
                           "kind": widget_kind(fdef, "edit") if fdef else None,
                           "required": bool(fdef and fdef.required)})
        sections.append({"en": en, "vi": vi, "columns": values.get(f"section_columns_{n}", "1"),
                         "fields": fields, "twice": sorted({x for x in names
                                                           if names.count(x) > 1})})
    return render(frame, "setup_layout_preview.html", {"obj": obj, "sections": sections})


routes = [
    Route("/setup/layouts", layouts_page, methods=["GET"]),
    Route("/setup/layouts/{object}", layout_page, methods=["GET", "POST"]),
    Route("/setup/layouts/{object}/preview", preview, methods=["POST"]),
]
