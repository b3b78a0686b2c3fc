"""From validated documents to one frozen AppModel.

Layers (the apps of the `extends` chain, ancestors first, then the admin's overlays) are
merged: a document with the same name replaces the inherited one, objects grow field by
field through `extend:`, roles may `inherits:`. Every cross-reference is then checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..fieldtypes import sortable
from .model import (
    AppModel,
    Dashboard,
    FieldDef,
    Grouping,
    Kanban,
    Label,
    Layout,
    ListLayout,
    Measure,
    ObjectDef,
    ObjectPermission,
    RelatedList,
    Report,
    Role,
    Section,
    WebForm,
    Workflow,
    frozen_map,
    humanize,
    scope_text,
)
from .objects import (
    ObjectScope,
    Src,
    build_objects,
    check_expression,
    merge_objects,
    parse_expression,
)
from .problems import Problem, did_you_mean
from .source import Document
from .workflows import (
    build_actions,
    build_approvals,
    build_workflow,
    check_value,
    instantiate,
)

SPECIAL_PAGES = ("home", "reports", "dashboards", "segments", "setup")
SCOPE_RANK = {"none": 0, "own": 1, "team": 2, "all": 3}


def _unique_docs(layers: list, kind: str, key: str, problems: list[Problem]
                 ) -> dict[str, Document]:
    """The last document of `kind` for each name: a child app's replaces its parent's."""
    out: dict[str, Document] = {}
    for layer in layers:
        seen: dict[str, Document] = {}
        for doc in layer.of(kind):
            name = doc.data[key]
            if name in seen:
                first = seen[name]
                problems.append(doc.problem((key,), f"{kind} '{name}' is defined twice in this "
                                            f"app (first in {first.file}:{first.line(())})"))
                continue
            seen[name] = doc
            out[name] = doc
    return out


def build(layers: list, recipes: list[Document], problems: list[Problem], *,
          root: Path) -> AppModel | None:
    app_data: dict[str, Any] = {}
    for layer in layers:
        if layer.app is not None and isinstance(layer.app.data, dict):
            app_data.update({k: v for k, v in layer.app.data.items() if k != "extends"})
    if not app_data.get("app"):
        return None
    drafts = merge_objects(layers, problems)
    objects = build_objects(drafts, problems)
    fields = {name: dict(obj.fields) for name, obj in objects.items()}
    layouts = _layouts(layers, objects, fields, problems)
    roles = _roles(layers, objects, problems)
    workflows = _workflows(layers, recipes, objects, fields, problems)
    actions = {name: frozen_map(build_actions(objects[name], draft.actions, objects, fields,
                                              roles, problems))
               for name, draft in drafts.items() if draft.actions and name in objects}
    approvals = {name: frozen_map(build_approvals(objects[name], draft.approvals, fields, roles,
                                                  problems))
                 for name, draft in drafts.items() if draft.approvals and name in objects}
    reports = _reports(layers, objects, fields, problems)
    dashboards = _dashboards(layers, reports, problems)
    forms = _forms(layers, objects, fields, problems)
    navigation = _navigation(layers, objects, app_data, problems)
    return AppModel(
        name=app_data["app"], label=Label.of(app_data.get("label"), humanize(app_data["app"])),
        version=str(app_data.get("version", "0")), locale=app_data.get("locale", "en"),
        currency=app_data.get("currency", "VND"),
        timezone=app_data.get("timezone", "Asia/Ho_Chi_Minh"), navigation=navigation,
        objects=frozen_map(objects), layouts=frozen_map(layouts), roles=frozen_map(roles),
        workflows=frozen_map(workflows), reports=frozen_map(reports),
        dashboards=frozen_map(dashboards), forms=frozen_map(forms), actions=frozen_map(actions),
        approvals=frozen_map(approvals),
        extends=tuple(layer.name for layer in reversed(layers[:-1]) if layer.root is not None),
        root=str(root),
        roots=tuple(str(layer.root) for layer in reversed(layers) if layer.root is not None),
    )


def _timezone_problem(app_doc: Document | None, tz: Any) -> Problem | None:
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        if app_doc is not None:
            return app_doc.problem(("timezone",), f"unknown time zone '{tz}' (e.g. "
                                                  "Asia/Ho_Chi_Minh)")
    return None


def _navigation(layers: list, objects: Mapping[str, ObjectDef], app_data: dict[str, Any],
                problems: list[Problem]) -> tuple[str, ...]:
    doc = next((ly.app for ly in reversed(layers)
                if ly.app is not None and "navigation" in ly.app.data), None)
    tz_doc = next((ly.app for ly in reversed(layers)
                   if ly.app is not None and "timezone" in ly.app.data), None)
    if tz_doc is not None:
        problem = _timezone_problem(tz_doc, tz_doc.data["timezone"])
        if problem:
            problems.append(problem)
    if doc is None:
        return (*objects, "reports")
    items = tuple(doc.data["navigation"])
    for i, item in enumerate(items):
        if item not in objects and item not in SPECIAL_PAGES:
            problems.append(doc.problem(("navigation", i), f"unknown object or page '{item}'"
                                        + did_you_mean(item, [*objects, *SPECIAL_PAGES])))
    return items


# --- layouts -------------------------------------------------------------------------------


def default_layout(obj: ObjectDef) -> Layout:
    """A usable layout for an object that has none: every field, title fields first."""
    own = [f for f in obj.fields.values() if not f.system]
    columns = list(obj.title_fields) or [f.name for f in own[:1]]
    columns += [f.name for f in own if f.name not in columns][: max(0, 5 - len(columns))]
    return Layout(
        object=obj.name,
        sections=(Section(obj.label, tuple(f.name for f in own) + ("owner",), 2),),
        list=ListLayout(columns=tuple(columns), sort=("-created_at",)),
    )


def _layouts(layers: list, objects: Mapping[str, ObjectDef],
             fields: Mapping[str, Mapping[str, FieldDef]], problems: list[Problem]
             ) -> dict[str, Layout]:
    docs = _unique_docs(layers, "layout", "layout", problems)
    out: dict[str, Layout] = {}
    for name, doc in docs.items():
        obj = objects.get(name)
        if obj is None:
            problems.append(doc.problem(("layout",), f"layout for unknown object '{name}'"
                                        + did_you_mean(name, objects)))
            continue
        layout = _layout(doc, obj, objects, fields, problems)
        if layout is not None:
            out[name] = layout
    for name, obj in objects.items():
        out.setdefault(name, default_layout(obj))
    return out


def _check_names(names: list[str], obj: ObjectDef, src: Src, key: tuple,
                 problems: list[Problem], fields: Mapping[str, Mapping[str, FieldDef]] | None = None
                 ) -> bool:
    ok = True
    scope = ObjectScope(fields, obj.name) if fields is not None else None
    for i, name in enumerate(names):
        if scope is not None:
            message = scope.resolve(name.split("."))
        else:
            message = None if name in obj.fields else (f"unknown field '{name}' on {obj.name}"
                                                       + did_you_mean(name, obj.fields))
        if message:
            problems.append(src.problem(message, *key, i))
            ok = False
    return ok


def _layout(doc: Document, obj: ObjectDef, objects: Mapping[str, ObjectDef],
            fields: Mapping[str, Mapping[str, FieldDef]], problems: list[Problem]
            ) -> Layout | None:
    src = Src(doc, ())
    before = len(problems)
    data = doc.data
    sections = []
    placed: dict[str, int] = {}
    for s, section in enumerate(data.get("form", {}).get("sections", [])):
        _check_names(section["fields"], obj, src, ("form", "sections", s, "fields"), problems)
        for i, fname in enumerate(section["fields"]):
            if fname in placed:
                problems.append(src.problem(f"'{fname}' is already in section {placed[fname] + 1}",
                                            "form", "sections", s, "fields", i))
            placed[fname] = s
        sections.append(Section(Label.of(section.get("label"), f"Section {s + 1}"),
                                tuple(section["fields"]), section.get("columns", 1)))
    fallback = default_layout(obj)
    list_data = data.get("list", {})
    columns = list_data.get("columns", list(fallback.list.columns))
    _check_names(columns, obj, src, ("list", "columns"), problems, fields)
    sort = list_data.get("sort", list(fallback.list.sort))
    for i, item in enumerate(sort):
        fname = item.lstrip("-")
        fdef = obj.fields.get(fname)
        if fdef is None:
            problems.append(src.problem(f"unknown field '{fname}' on {obj.name}"
                                        + did_you_mean(fname, obj.fields), "list", "sort", i))
        elif not sortable(fdef.type):
            problems.append(src.problem(f"'{fname}' is a {fdef.type} field and cannot be "
                                        "sorted", "list", "sort", i))
    filters = list_data.get("filters", [])
    _check_names(filters, obj, src, ("list", "filters"), problems)
    kanban = None
    if "kanban" in data:
        group = data["kanban"]["group_by"]
        gdef = obj.fields.get(group)
        if gdef is None or not gdef.kind.has_options or gdef.kind.many:
            problems.append(src.problem(
                f"kanban groups by a picklist field; '{group}' is "
                + ("not a field of " + obj.name + did_you_mean(group, obj.fields) if gdef is None
                   else f"a {gdef.type} field"), "kanban", "group_by"))
        card = data["kanban"].get("card", [])
        _check_names(card, obj, src, ("kanban", "card"), problems, fields)
        kanban = Kanban(group, tuple(card))
    related = []
    for i, item in enumerate(data.get("related", [])):
        child = objects.get(item["object"])
        if child is None:
            problems.append(src.problem(f"unknown object '{item['object']}'"
                                        + did_you_mean(item["object"], objects),
                                        "related", i, "object"))
            continue
        via = child.fields.get(item["via"])
        if via is None or via.type != "lookup" or via.to != obj.name:
            problems.append(src.problem(
                f"'{item['via']}' must be a lookup field of {child.name} pointing to {obj.name}",
                "related", i, "via"))
        cols = item.get("columns", list(child.title_fields) or ["id"])
        _check_names(cols, child, src, ("related", i, "columns"), problems, fields)
        related.append(RelatedList(child.name, item["via"], tuple(cols),
                                   Label.of(item["label"]) if "label" in item else None))
    if len(problems) > before:
        return None
    return Layout(
        object=obj.name, sections=tuple(sections) or fallback.sections,
        list=ListLayout(tuple(columns), tuple(sort), tuple(filters),
                        list_data.get("page_size", 50)),
        kanban=kanban, related=tuple(related),
    )


# --- roles ---------------------------------------------------------------------------------


def _check_scope(obj: ObjectDef, scope: Any, src: Src, problems: list[Problem]) -> None:
    """`{field: driver}` names user fields of the object, `{via: account}` a lookup."""
    if not isinstance(scope, dict):
        return
    if "field" in scope:
        names = [scope["field"]] if isinstance(scope["field"], str) else scope["field"]
        users = [f.name for f in obj.fields.values() if f.kind.refers == "user"]
        for name in names:
            if name not in users:
                problems.append(src.problem(
                    f"'{name}' is not a user field of {obj.name}" + did_you_mean(name, users)
                    + f" (its user fields: {', '.join(users)})", "field"))
    if "via" in scope:
        lookups = [f.name for f in obj.fields.values() if f.type == "lookup"]
        if scope["via"] not in lookups:
            problems.append(src.problem(
                f"'{scope['via']}' is not a lookup of {obj.name}"
                + did_you_mean(scope["via"], lookups)
                + (f" (its lookups: {', '.join(lookups)})" if lookups else ""), "via"))


def _via_cycles(roles: Mapping[str, Role], objects: Mapping[str, ObjectDef],
                src_of: Mapping[str, Src], problems: list[Problem]) -> None:
    """A `via` scope leads to the parent's scope of the same role; a chain of them that comes
    back (contact via account, account via contact) would never end."""
    for name, role in roles.items():
        for obj_name in role.objects:
            for action in ("read", "edit", "delete"):
                trail = [obj_name]
                current = obj_name
                while True:
                    perm = role.objects.get(current)
                    scope = getattr(perm, action) if perm else "none"
                    if not scope.startswith("via:"):
                        break
                    fdef = objects[current].fields.get(scope[len("via:"):])
                    current = fdef.to if fdef is not None and fdef.to else ""
                    if current in trail:
                        problems.append(src_of[name].problem(
                            f"{action} via lookups goes round in a circle: "
                            + " -> ".join([*trail, current]) + " (one of them needs a "
                            "scope of its own)", "objects", obj_name, action))
                        break
                    if current not in objects:
                        break
                    trail.append(current)


def _roles(layers: list, objects: Mapping[str, ObjectDef], problems: list[Problem]
           ) -> dict[str, Role]:
    raw: dict[str, tuple[dict[str, Any], Src]] = {}
    for layer in layers:
        for doc in layer.of("roles"):
            for name, data in doc.data["roles"].items():
                raw[name] = (data, Src(doc, ("roles", name)))
    for data, src in raw.values():
        for obj_name, perm in data.get("objects", {}).items():
            if obj_name not in objects:
                problems.append(src.problem(f"unknown object '{obj_name}'"
                                            + did_you_mean(obj_name, objects), "objects",
                                            obj_name))
                continue
            for action in ("read", "edit", "delete"):
                _check_scope(objects[obj_name], perm.get(action), Src(src.doc, src.at(
                    "objects", obj_name, action)), problems)
        for ref in data.get("fields", {}):
            obj_name, _, fname = ref.partition(".")
            obj = objects.get(obj_name)
            if obj is None:
                problems.append(src.problem(f"unknown object '{obj_name}'"
                                            + did_you_mean(obj_name, objects), "fields", ref))
            elif fname not in obj.fields:
                problems.append(src.problem(f"unknown field '{fname}' on {obj_name}"
                                            + did_you_mean(fname, obj.fields), "fields", ref))
        parent = data.get("inherits")
        if parent is not None and parent not in raw:
            problems.append(src.problem(f"inherits unknown role '{parent}'"
                                        + did_you_mean(parent, raw), "inherits"))
    out: dict[str, Role] = {}

    def resolve(name: str, trail: tuple[str, ...]) -> Role | None:
        if name in out:
            return out[name]
        data, src = raw[name]
        parent_name = data.get("inherits")
        parent = None
        if parent_name in raw:
            if parent_name in trail:
                problems.append(src.problem("roles inherit from each other in a cycle: "
                                            + " -> ".join([*trail, parent_name]), "inherits"))
                return None
            parent = resolve(parent_name, (*trail, parent_name))
        perms = dict(parent.objects) if parent else {}
        for obj_name, perm in data.get("objects", {}).items():
            base = perms.get(obj_name, ObjectPermission())
            perms[obj_name] = ObjectPermission(
                create=perm.get("create", base.create),
                **{action: scope_text(perm[action]) if action in perm else getattr(base, action)
                   for action in ("read", "edit", "delete")})
        field_access = dict(parent.fields) if parent else {}
        field_access.update(data.get("fields", {}))
        role = Role(name=name, label=Label.of(data.get("label"), humanize(name)),
                    all=bool(data.get("all", parent.all if parent else False)),
                    inherits=parent_name, objects=frozen_map(perms),
                    fields=frozen_map(field_access),
                    can=frozenset(data.get("can", ())) | (parent.can if parent else frozenset()))
        out[name] = role
        return role

    for name in raw:
        resolve(name, (name,))
    _via_cycles(out, objects, {name: src for name, (_, src) in raw.items()}, problems)
    if "admin" not in out:  # every app has an administrator
        out["admin"] = Role(name="admin", label=Label.of({"en": "Administrator",
                                                           "vi": "Quản trị"}), all=True)
    return out


# --- workflows, reports, dashboards, forms ------------------------------------------------


def _workflows(layers: list, recipes: list[Document], objects: Mapping[str, ObjectDef],
               fields: Mapping[str, Mapping[str, FieldDef]], problems: list[Problem]
               ) -> dict[str, Workflow]:
    recipe_docs = {doc.data["recipe"]: doc for doc in recipes}
    for layer in layers:
        recipe_docs.update({doc.data["recipe"]: doc for doc in layer.of("recipe")})
    out: dict[str, Workflow] = {}
    for name, doc in _unique_docs(layers, "workflow", "workflow", problems).items():
        recipe = doc.data.get("use")
        if recipe is not None:
            made = instantiate(doc, recipe_docs, problems)
            if made is None:
                continue
            doc = made
        workflow = build_workflow(doc, objects, fields, problems, recipe=recipe)
        if workflow is not None:
            out[name] = workflow
    return out


def _reports(layers: list, objects: Mapping[str, ObjectDef],
             fields: Mapping[str, Mapping[str, FieldDef]], problems: list[Problem]
             ) -> dict[str, Report]:
    out: dict[str, Report] = {}
    for name, doc in _unique_docs(layers, "report", "report", problems).items():
        data = doc.data
        src = Src(doc, ())
        obj = objects.get(data["object"])
        if obj is None:
            problems.append(src.problem(f"unknown object '{data['object']}'"
                                        + did_you_mean(data["object"], objects), "object"))
            continue
        before = len(problems)
        scope = ObjectScope(fields, obj.name)
        filt = None
        if "filter" in data:
            filt = parse_expression(data["filter"], src, ("filter",), problems)
            check_expression(filt, scope, src, ("filter",), problems)
        groups = []
        for i, item in enumerate(data.get("group_by", [])):
            spec = {"field": item} if isinstance(item, str) else item
            path = tuple(spec["field"].split("."))
            message = scope.resolve(path)
            if message:
                problems.append(src.problem(message, "group_by", i))
                continue
            fdef = _resolve(objects, obj.name, path)
            if "bucket" in spec and not fdef.kind.is_date:
                problems.append(src.problem(f"a date bucket needs a date field; "
                                            f"'{spec['field']}' is {fdef.type}", "group_by", i))
            if "bands" in spec and not fdef.kind.is_number:
                problems.append(src.problem(f"bands need a number field; '{spec['field']}' "
                                            f"is {fdef.type}", "group_by", i))
            groups.append(Grouping(spec["field"], spec.get("bucket"),
                                   tuple(spec.get("bands", ()))))
        measures = []
        for i, text in enumerate(data.get("measures", ["count"])):
            func, _, rest = text.partition("(")
            fname = rest.rstrip(")") or None
            if fname:
                message = scope.resolve(tuple(fname.split(".")))
                if message:
                    problems.append(src.problem(message, "measures", i))
                    continue
                fdef = _resolve(objects, obj.name, tuple(fname.split(".")))
                if func in ("sum", "avg") and not fdef.kind.is_number:
                    problems.append(src.problem(f"{func}() needs a number field; '{fname}' is "
                                                f"{fdef.type}", "measures", i))
            measures.append(Measure(func, fname))
        if len(problems) > before:
            continue
        chart = data.get("chart")
        out[name] = Report(name=name, label=Label.of(data.get("label"), humanize(name)),
                           object=obj.name, filter=filt, group_by=tuple(groups),
                           measures=tuple(measures), chart=None if chart == "none" else chart,
                           owner=data.get("owner"))
    return out


def _resolve(objects: Mapping[str, ObjectDef], name: str, path: tuple[str, ...]) -> FieldDef:
    obj = objects[name]
    for part in path[:-1]:
        obj = objects[obj.fields[part].to or ""]
    return obj.fields[path[-1]]


def _dashboards(layers: list, reports: Mapping[str, Report], problems: list[Problem]
                ) -> dict[str, Dashboard]:
    out: dict[str, Dashboard] = {}
    for name, doc in _unique_docs(layers, "dashboard", "dashboard", problems).items():
        widgets = doc.data["widgets"]
        for i, widget in enumerate(widgets):
            if widget not in reports:
                problems.append(doc.problem(("widgets", i), f"unknown report '{widget}'"
                                            + did_you_mean(widget, reports)))
            elif reports[widget].owner is not None:
                problems.append(doc.problem(("widgets", i), f"report '{widget}' is private to "
                                            f"{reports[widget].owner}; a dashboard shows shared "
                                            "reports only"))
        out[name] = Dashboard(name, Label.of(doc.data.get("label"), humanize(name)),
                              tuple(widgets))
    return out


def _forms(layers: list, objects: Mapping[str, ObjectDef],
           fields: Mapping[str, Mapping[str, FieldDef]], problems: list[Problem]
           ) -> dict[str, WebForm]:
    out: dict[str, WebForm] = {}
    for name, doc in _unique_docs(layers, "form", "form", problems).items():
        data = doc.data
        src = Src(doc, ())
        obj = objects.get(data["object"])
        if obj is None:
            problems.append(src.problem(f"unknown object '{data['object']}'"
                                        + did_you_mean(data["object"], objects), "object"))
            continue
        ok = _check_names(data["fields"], obj, src, ("fields",), problems)
        for i, fname in enumerate(data["fields"]):
            fdef = obj.fields.get(fname)
            if fdef is not None and not fdef.writable:
                problems.append(src.problem(f"'{fname}' is read-only and cannot be on a form",
                                            "fields", i))
                ok = False
        defaults = data.get("defaults", {})
        scope = ObjectScope(fields, obj.name)
        for fname, value in defaults.items():
            if fname not in obj.fields:
                problems.append(src.problem(f"unknown field '{fname}' on {obj.name}"
                                            + did_you_mean(fname, obj.fields), "defaults", fname))
                ok = False
            elif isinstance(value, str) and value.startswith("="):
                check_value(value, scope, src, ("defaults", fname), problems)
        if ok:
            out[name] = WebForm(name, obj.name, tuple(data["fields"]), frozen_map(defaults),
                                Label.of(data.get("success_message"), "Thank you"),
                                Label.of(data["label"]) if "label" in data else None)
    return out
