"""Setup: the screens where a business admin changes the CRM live.

Every change goes the same way (:func:`apply_change`): the form is turned into an edit of
the admin's overlay documents (metadata.edits.Draft), the loader checks the result (its
messages are shown next to the inputs they concern), a review page shows what the database
will do (the plan) and the documents' diff, and on confirmation the change is saved as a
new metadata version, migrated and adopted at once. Two admins editing at the same time:
the second save is a conflict with a reload link, nothing is overwritten.

This module holds that machinery, the Setup home, the object manager (objects, fields,
archived data) and the history of versions. Layouts, roles and rules have their own
modules (setup_layouts, setup_roles, setup_rules).
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Callable
from html import escape
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ..engine import overlays, sync
from ..engine.access import newly_hidden
from ..engine.errors import BadRequest, Conflict, NotFound, PermissionDenied, SchemaChangeRefused
from ..engine.runtime import Context, Runtime
from ..engine.users import SYSTEM_ROLE, user_names
from ..fieldtypes import FORMULA_RETURNS, SETUP_TYPES, TYPES
from ..metadata import MetadataError
from ..metadata.documents import differences, dump, merged
from ..metadata.edits import Draft, EditError
from ..metadata.model import AppModel, FieldDef, ObjectDef, humanize
from ..metadata.objects import CONDITIONS, RESERVED_NAMES
from . import auth
from .pages import PageContext, flash, page_context
from .templating import render

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
ON_DELETE = ("set_null", "restrict", "cascade")


def admin_context(request: Request) -> tuple[PageContext, Context]:
    """The frame of a Setup screen and the signed-in admin's context; anyone else is
    refused."""
    frame, ctx = page_context(request)
    if ctx.user.role not in ("admin", SYSTEM_ROLE):
        raise PermissionDenied("Setup is for administrators")
    return frame, ctx


def form_values(form: FormData, *, without: tuple[str, ...] = ()) -> dict[str, str]:
    """The text inputs of a submitted form (uploads and `without` left out), to show again."""
    return {k: str(v) for k, v in form.items() if isinstance(v, str) and k not in without}


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def path_object(request: Request) -> ObjectDef:
    """The object the URL names (`/setup/objects/{object}/...`), or 404."""
    name = request.path_params["object"]
    obj = runtime(request).model.objects.get(name)
    if obj is None:
        raise NotFound(f"there is no object '{name}'")
    return obj


def draft(rt: Runtime) -> Draft:
    """A draft starting from the metadata the process serves now."""
    return Draft(rt.app_dir, rt.overlay.data())


def base_version(form: Any, rt: Runtime) -> int:
    """The metadata version the admin's form started from (a save after another is a
    conflict)."""
    try:
        return int(form.get("base") or rt.version)
    except ValueError:
        raise BadRequest("base must be a metadata version number") from None


def problem_errors(error: MetadataError, inputs: dict[str, str]) -> dict[str, str]:
    """The loader's messages, each next to the form input it concerns when there is one.

    `inputs` maps a key of the metadata path ('expression', 'to', 'fields.zalo', ...) to
    the name of the form input; other messages go under '_' (shown above the form)."""
    out: dict[str, list[str]] = {}
    for problem in error.problems:
        parts = problem.path.split(".") if problem.path else []
        # the longest end of the path an input is named by (`find_by[0]` by `find_by`), else
        # the longest stretch of it (`do[2].update.set` for do[2].update.set.cod), else the
        # last part of it that is
        n = len(parts)
        ends = [".".join(parts[i:]) for i in range(n)]
        ends = [e for end in ends for e in (end, re.sub(r"\[\d+\]$", "", end))]
        stretches = [".".join(parts[i:i + size]) for size in range(n - 1, 1, -1)
                     for i in range(n - size)]
        target = next((inputs[key] for key in [*ends, *stretches, *reversed(parts)]
                       if key in inputs), "_")
        text = problem.message if target != "_" else str(problem)
        out.setdefault(target, []).append(text)
    return {k: "; ".join(v) for k, v in out.items()}


STEP_LABELS = {
    "create_system_tables": "MetaCRM's own tables", "create_table": "New table",
    "add_column": "New column", "restore_column": "Restored column",
    "archive_column": "Archived column", "alter_column": "Column type widened",
    "create_index": "New index", "update_field": "Field definition",
    "create_search_index": "Quick-search index", "refresh_search": "Quick-search text rebuilt",
    "add_anniversary": "Yearly date column",
}

Edit = Callable[[Draft], str]
"""Makes one change in a draft and returns its summary ('add field zalo to contact')."""


def apply_change(frame: PageContext, ctx: Context, form: FormData, edit: Edit, *,
                 again: Callable[[dict[str, str]], Response], done: str,
                 inputs: dict[str, str] | None = None) -> Response:
    """Review, then save, one Setup change.

    `again(errors)` renders the form once more with its errors (the admin's input is kept);
    `done` is where to go after saving. The first submission shows the review page (plan and
    diff) unless the form says `confirm=1`; the review page posts the same inputs back with
    `confirm=1` and the version the admin started from (`base`).
    """
    rt = runtime(frame.request)
    d = draft(rt)
    try:
        summary = edit(d)
    except EditError as exc:
        return again({exc.field or "_": str(exc)})
    base = base_version(form, rt)
    try:
        preview = overlays.preview(rt, d.overlays)
    except MetadataError as exc:
        return again(problem_errors(exc, inputs or {}))
    if preview.plan.refused:
        return again({"_": "; ".join(r.reason for r in preview.plan.refused)})
    if form.get("confirm") != "1":
        hidden = [(k, v) for k, v in form.multi_items()
                  if k not in (auth.CSRF_FIELD, "confirm", "base") and isinstance(v, str)]
        return render(frame, "setup_review.html", {
            "summary": summary, "plan": preview.plan, "diff": preview.diff, "hidden": hidden,
            "hides": _hides(rt, preview.model, ctx.locale),
            "steps": [(STEP_LABELS.get(step.action, step.action), step.description)
                      for step in preview.plan.steps],
            "base": base, "action": frame.request.url.path, "cancel": done})
    try:  # a migration of a big table must not stop this process's other requests
        overlays.save(rt, d.overlays, base=base, user_id=ctx.user.id,
                      summary=summary, model=preview.model)
    except Conflict as exc:
        return render(frame, "setup_conflict.html", {"message": exc.message,
                                                     "reload": done}, status=409)
    except SchemaChangeRefused as exc:
        return again({"_": exc.message})
    except MetadataError as exc:
        return again(problem_errors(exc, inputs or {}))
    flash(frame.request, "Saved: {summary}".replace("{summary}", summary))
    return RedirectResponse(done, status_code=303)


def _hides(rt: Runtime, model: AppModel, locale: str) -> list[dict[str, str]]:
    """The computed fields the change hides from a role, because they read a field hidden
    from it: the review says so before anything is saved."""
    def label(m: AppModel, ref: str) -> str:
        obj_name, _, field_name = ref.partition(".")
        obj = m.objects[obj_name]
        return f"{obj.label.get(locale)} · {obj.fields[field_name].label.get(locale)}"

    return [{"role": model.roles[role].label.get(locale),
             "field": label(model, f"{obj_name}.{field_name}"), "reads": label(model, reason)}
            for role, obj_name, field_name, reason in newly_hidden(rt.model, model)]


# --- Setup home -----------------------------------------------------------------------------


def home(request: Request) -> Response:
    frame, ctx = admin_context(request)
    rt = runtime(request)
    lang = ctx.locale
    d = draft(rt)
    objects = []
    for name, obj in rt.model.objects.items():
        objects.append({"name": name, "label": obj.label.get(lang), "fields": len(
            [f for f in obj.fields.values() if not f.system]), "custom": d.custom(name)})
    return render(frame, "setup.html", {
        "objects": objects, "archived": sync.archived(rt.db, rt.model),
        "version": rt.version, "layouts": sorted(rt.model.layouts)})


# --- objects --------------------------------------------------------------------------------


def _label(form: FormData, prefix: str, fallback: str) -> dict[str, str]:
    en = str(form.get(f"{prefix}_en") or "").strip() or fallback
    vi = str(form.get(f"{prefix}_vi") or "").strip() or en
    return {"en": en, "vi": vi}


def new_object(request: Request) -> Response:
    frame, ctx = admin_context(request)
    rt = runtime(request)
    if request.method == "GET":
        return render(frame, "setup_object_new.html", {"values": {}, "errors": {},
                                                        "base": rt.version})
    form = auth.checked_form(request)
    values = form_values(form)
    name = values.get("name", "").strip()

    def again(errors: dict[str, str]) -> Response:
        return render(frame, "setup_object_new.html", {
            "values": values, "errors": errors, "base": form.get("base") or rt.version},
            status=422)

    def edit(d: Draft) -> str:
        if not NAME.fullmatch(name):
            raise EditError(f"'{name}' is not a valid name: use lowercase letters, digits and "
                            "_, starting with a letter", "name")
        if name.startswith("mc_"):
            raise EditError("names starting with mc_ are reserved for MetaCRM", "name")
        if any(a.object == name and a.field is None for a in sync.archived(rt.db, rt.model)):
            raise EditError(f"an archived object '{name}' still holds its records: restore it "
                            "or purge it in Setup first", "name")
        label = _label(form, "label", humanize(name))
        plural = _label(form, "plural", label["en"] + "s")
        title_field = values.get("title_field", "").strip() or "name"
        if not NAME.fullmatch(title_field):
            raise EditError(f"'{title_field}' is not a valid field name", "title_field")
        d.add_object(name, label, plural,
                     {title_field: {"type": "text", "required": True, "label": {
                         "en": humanize(title_field), "vi": humanize(title_field)}}},
                     title="{" + title_field + "}", search=[title_field])
        d.set_document(f"layouts/{name}.yaml", {
            "layout": name,
            "form": {"sections": [{"label": {"en": "Details", "vi": "Thông tin"},
                                   "fields": [title_field]}]},
            "list": {"columns": [title_field], "sort": [title_field]}})
        return f"add object {name}"

    return apply_change(frame, ctx, form, edit, again=again,
                        done=f"/setup/objects/{name}", inputs={"object": "name"})


def object_page(request: Request) -> Response:
    frame, _ = admin_context(request)
    rt = runtime(request)
    obj = path_object(request)
    name = obj.name
    referenced = {o.name for o in rt.model.objects.values() for f in o.fields.values()
                  if f.type == "lookup" and f.to == name and o.name != name}
    return render(frame, "setup_object.html", {
        **_object_parts(rt, obj), "base": rt.version, "referenced": sorted(referenced),
        "archived": [a for a in sync.archived(rt.db, rt.model) if a.object == name]})


def _object_parts(rt: Runtime, obj: ObjectDef) -> dict[str, Any]:
    """What the object manager lists: fields, record actions, approvals."""
    return {"obj": obj, "fields": [f for f in obj.fields.values() if not f.system],
            "custom": draft(rt).custom(obj.name),
            "actions": list(rt.model.actions_of(obj.name).values()),
            "approvals": list(rt.model.approvals_of(obj.name).values())}


def edit_object(request: Request) -> Response:
    """Labels, title and quick-search fields of an object; or its removal."""
    frame, ctx = admin_context(request)
    rt = runtime(request)
    name = path_object(request).name
    form = auth.checked_form(request)

    def again(errors: dict[str, str]) -> Response:
        return render(frame, "setup_object.html", {
            **_object_parts(rt, rt.model.objects[name]), "base": form.get("base") or rt.version,
            "errors": errors, "referenced": [], "archived": [],
            "typed": form_values(form)}, status=422)

    if form.get("remove") == "1":
        def remove(d: Draft) -> str:
            d.remove_object(name)
            return f"remove object {name} (its records are kept, archived)"

        return apply_change(frame, ctx, form, remove, again=again, done="/setup")

    def edit(d: Draft) -> str:
        search = [s.strip() for s in str(form.get("search") or "").split(",") if s.strip()]
        d.set_object(name, label=_label(form, "label", humanize(name)),
                     plural=_label(form, "plural", humanize(name)),
                     title=str(form.get("title") or "").strip() or None, search=search)
        return f"change object {name}"

    return apply_change(frame, ctx, form, edit, again=again,
                        done=f"/setup/objects/{name}",
                        inputs={"title": "title", "search": "search"})


# --- fields ---------------------------------------------------------------------------------


def field_values(fdef: FieldDef | None, data: dict[str, Any] | None) -> dict[str, str]:
    """The field form's inputs for an existing field (from its effective document)."""
    if data is None:
        return {"type": "text"}
    values: dict[str, str] = {"name": fdef.name if fdef else "", "type": data.get("type", "")}
    for key in ("label", "help"):
        label = data.get(key) or {}
        if isinstance(label, str):
            label = {"en": label}
        values[f"{key}_en"] = label.get("en", "")
        values[f"{key}_vi"] = label.get("vi", "")
    for key in ("required", "unique", "index", "read_only"):
        if data.get(key):
            values[key] = "1"
    for key in ("default", "max_length", "min", "max", "to", "on_delete", "filter", "returns",
                "expression", "format", "scale", *CONDITIONS):
        if data.get(key) is not None:
            values[key] = str(data[key])
    values["options"] = "\n".join(_option_line(o) for o in data.get("options", []))
    return values


def _option_line(option: Any) -> str:
    if not isinstance(option, dict):
        return str(option)
    label = option.get("label") or {}
    if isinstance(label, str):
        label = {"en": label}
    parts = [str(option["value"]), label.get("en", ""), label.get("vi", "")]
    if option.get("active") is False:
        parts.append("off")
    return " | ".join(parts).rstrip(" |")


def parse_options(text: str) -> list[dict[str, Any]]:
    """'value | English | Tiếng Việt [| off]' per line, in the order shown."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        value = parts[0]
        if not NAME.fullmatch(value) and not re.fullmatch(r"[A-Za-z0-9_\-]+", value):
            raise EditError(f"option on line {number}: '{value}' is not a valid value (letters, "
                            "digits, _ and -)", "options")
        if value in seen:
            raise EditError(f"option on line {number}: '{value}' is listed twice", "options")
        seen.add(value)
        option: dict[str, Any] = {"value": value}
        en = parts[1] if len(parts) > 1 and parts[1] else humanize(value)
        vi = parts[2] if len(parts) > 2 and parts[2] else en
        option["label"] = {"en": en, "vi": vi}
        if len(parts) > 3 and parts[3].lower() in ("off", "inactive", "tắt"):
            option["active"] = False
        out.append(option)
    return out


def _number(text: str, what: str, whole: bool = False) -> int | float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise EditError(f"'{text}' is not a number", what) from None
    if not math.isfinite(value):
        raise EditError(f"'{text}' is not a number", what)
    if whole or value.is_integer():
        if not value.is_integer():
            raise EditError(f"'{text}' is not a whole number", what)
        return int(value)
    return value


def field_definition(form: FormData, ftype: str) -> dict[str, Any]:
    """The field's metadata from the field form, keys in the order YAML shows them."""
    get = lambda key: str(form.get(key) or "").strip()  # noqa: E731
    if ftype not in SETUP_TYPES:
        raise EditError(f"'{ftype}' is not a field type", "type")
    data: dict[str, Any] = {"type": ftype}
    label_en = get("label_en")
    if label_en or get("label_vi"):
        data["label"] = {"en": label_en or get("label_vi"), "vi": get("label_vi") or label_en}
    if get("help_en") or get("help_vi"):
        data["help"] = {"en": get("help_en") or get("help_vi"),
                        "vi": get("help_vi") or get("help_en")}
    kind = TYPES[ftype]
    computed = kind.computed
    for key in ("required", "unique"):
        if form.get(key) and not computed:
            data[key] = True
    for key in ("index", "read_only"):
        if form.get(key):
            data[key] = True
    for key in CONDITIONS:  # expressions of the record; the loader checks them
        if get(key) and (key == "visible_if" or not computed):
            data[key] = get(key)
    if get("default") and not computed:
        data["default"] = get("default")
    if "max_length" in kind.keys and get("max_length"):
        data["max_length"] = _number(get("max_length"), "max_length", whole=True)
    if kind.is_number:
        for key in ("min", "max"):
            if get(key):
                data[key] = _number(get(key), key, whole=kind.value == "integer")
    if kind.has_options:
        options = parse_options(str(form.get("options") or ""))
        if not options:
            raise EditError("a picklist needs at least one option", "options")
        data["options"] = options
    if ftype == "lookup":
        if not get("to"):
            raise EditError("choose the object this lookup points to", "to")
        data["to"] = get("to")
        if get("on_delete"):
            if get("on_delete") not in ON_DELETE:
                raise EditError(f"'{get('on_delete')}' is not an on_delete rule", "on_delete")
            data["on_delete"] = get("on_delete")
        if get("filter"):  # which records it may name; record.x reads the record edited
            data["filter"] = get("filter")
    if ftype == "formula":
        if get("returns") not in FORMULA_RETURNS:
            raise EditError("choose what the formula returns", "returns")
        if not get("expression"):
            raise EditError("write the formula's expression", "expression")
        data["returns"] = get("returns")
        data["expression"] = get("expression")
    if ftype == "autonumber":
        data["format"] = get("format") or "{0000}"
    return data


FIELD_INPUTS = {"to": "to", "expression": "expression", "options": "options",
                "returns": "returns", "max_length": "max_length", "min": "min", "max": "max",
                "default": "default", "type": "type", "format": "format", "label": "label_en",
                "unique": "unique", "on_delete": "on_delete", "filter": "filter",
                **{key: key for key in CONDITIONS}}


def _field_form(frame: PageContext, rt: Runtime, obj_name: str, values: dict[str, str],
                errors: dict[str, str], *, new: bool, base: Any, status: int = 200) -> Response:
    return render(frame, "setup_field.html", {
        "obj": rt.model.objects[obj_name], "values": values, "errors": errors, "new": new,
        "types": SETUP_TYPES, "returns": FORMULA_RETURNS, "on_delete": ON_DELETE,
        "objects": sorted(rt.model.objects), "base": base}, status=status)


def field_page(request: Request) -> Response:
    """Add a field (`/setup/objects/{object}/fields/new`) or edit one."""
    frame, ctx = admin_context(request)
    rt = runtime(request)
    obj = path_object(request)
    obj_name = obj.name
    fname = request.path_params.get("field")
    new = fname is None
    if not new and (fname not in obj.fields or obj.fields[fname].system):
        raise NotFound(f"'{obj_name}' has no field '{fname}'")
    if request.method == "GET":
        data = None if new else merged(rt.app_dir, rt.overlay.data())[
            f"objects/{obj_name}.yaml"]["fields"].get(fname)
        return _field_form(frame, rt, obj_name, field_values(
            obj.fields.get(fname or ""), data), {}, new=new, base=rt.version)
    form = auth.checked_form(request)
    values = form_values(form)
    name = values.get("name", "").strip() if new else str(fname)

    def again(errors: dict[str, str]) -> Response:
        return _field_form(frame, rt, obj_name, values, errors, new=new,
                           base=form.get("base") or rt.version, status=422)

    if not new and form.get("remove") == "1":
        def remove(d: Draft) -> str:
            d.remove_field(obj_name, name)
            return f"remove field {obj_name}.{name} (values kept, archived)"

        return apply_change(frame, ctx, form, remove, again=again,
                            done=f"/setup/objects/{obj_name}", inputs=FIELD_INPUTS)

    def edit(d: Draft) -> str:
        if not NAME.fullmatch(name):
            raise EditError(f"'{name}' is not a valid name: use lowercase letters, digits and "
                            "_, starting with a letter (e.g. zalo or tax_code)", "name")
        if name in RESERVED_NAMES:
            t = frame.t
            raise EditError(t("'{name}' cannot name a field: it is a word of the formula "
                              "language or a list parameter of the API. Choose another name.",
                              name=name), "name")
        definition = field_definition(form, values.get("type", ""))
        d.set_field(obj_name, name, definition, new=new)
        return f"{'add' if new else 'change'} field {obj_name}.{name}"

    return apply_change(frame, ctx, form, edit, again=again,
                        done=f"/setup/objects/{obj_name}", inputs=FIELD_INPUTS)


def check_expression(request: Request) -> Response:
    """The live check of a formula as it is typed (htmx): 'OK' or the loader's message."""
    frame, _ = admin_context(request)
    rt = runtime(request)
    form = auth.checked_form(request)
    obj_name = str(form.get("object") or "")
    if obj_name not in rt.model.objects:
        raise BadRequest(f"there is no object '{obj_name}'")
    d = draft(rt)
    name = str(form.get("name") or "").strip()
    name = name if NAME.fullmatch(name) and name not in rt.model.objects[obj_name].fields \
        else "formula_check"
    t = frame.t
    try:
        d.set_field(obj_name, name, {"type": "formula", "expression": str(
            form.get("expression") or "").strip() or "''", "returns": str(
            form.get("returns") or "number") if form.get("returns") in FORMULA_RETURNS
            else "number"}, new=True)
        overlays.build(rt.app_dir, d.overlays)
    except MetadataError as exc:
        message = "; ".join(p.message for p in exc.problems)
        return HTMLResponse(f'<span class="error" id="expression-check">{escape(message)}'
                            "</span>")
    return HTMLResponse(f'<span class="ok" id="expression-check">✓ '
                        f'{escape(t("The expression is valid"))}</span>')


# --- archived data --------------------------------------------------------------------------


def restore_field(request: Request) -> Response:
    """Bring an archived field back with the definition it had (and its values)."""
    frame, ctx = admin_context(request)
    rt = runtime(request)
    obj_name = request.path_params["object"]
    fname = request.path_params.get("field", "")
    form = auth.checked_form(request)
    definition = _last_definition(rt, obj_name, fname)

    def again(errors: dict[str, str]) -> Response:
        return render(frame, "error.html", {"title": "Cannot restore",
                                            "message": "; ".join(errors.values())}, status=422)

    def edit(d: Draft) -> str:
        if obj_name in rt.model.objects:
            if definition is None:
                raise EditError(f"no earlier version knows {obj_name}.{fname}")
            d.set_field(obj_name, fname, definition, new=True)
            return f"restore field {obj_name}.{fname}"
        doc = _last_object(rt, obj_name)
        if doc is None:
            raise EditError(f"no earlier version knows the object {obj_name}")
        d.restore_object(doc)
        layout = _last_document(rt, f"layouts/{obj_name}.yaml")
        if layout is not None:
            d.set_document(f"layouts/{obj_name}.yaml", layout)
        return f"restore object {obj_name}"

    return apply_change(frame, ctx, form, edit, again=again,
                        done=f"/setup/objects/{obj_name}")


def _last_document(rt: Runtime, path: str) -> dict[str, Any] | None:
    for version in overlays.history(rt.db):
        data = version.data().get(path)
        if data is not None:
            return data
    return None


def _last_object(rt: Runtime, obj_name: str) -> dict[str, Any] | None:
    doc = _last_document(rt, f"objects/{obj_name}.yaml")
    return doc if doc is not None and "object" in doc else None


def _last_definition(rt: Runtime, obj_name: str, fname: str) -> dict[str, Any] | None:
    """The newest definition of a field in the versions' merged documents, or in the app."""
    for version in [*overlays.history(rt.db), overlays.NO_OVERLAYS]:
        try:
            doc = merged(rt.app_dir, version.data()).get(f"objects/{obj_name}.yaml")
        except MetadataError:
            continue
        if doc and fname in doc.get("fields", {}):
            return doc["fields"][fname]
    return None


def purge_page(request: Request) -> Response:
    """Destroy archived data: says how many values go, and asks for that number back."""
    frame, ctx = admin_context(request)
    rt = runtime(request)
    obj_name = request.path_params["object"]
    fname = request.query_params.get("field") or None
    entry = next((a for a in sync.archived(rt.db, rt.model)
                  if a.object == obj_name and a.field == fname), None)
    if entry is None:
        raise NotFound(f"{obj_name}{'.' + fname if fname else ''} is not archived data")
    count = sync.count_values(rt.db, obj_name, fname)
    what = f"{obj_name}.{fname}" if fname else obj_name
    context = {"what": what, "count": count, "field": fname or "", "obj": obj_name,
               "errors": {}}
    if request.method == "GET":
        return render(frame, "setup_purge.html", context)
    form = auth.checked_form(request)
    if str(form.get("count") or "").strip() != str(count):
        context["errors"] = {"count": f"type {count} to confirm"}
        return render(frame, "setup_purge.html", context, status=422)
    destroyed = sync.purge(rt.db, rt.model, obj_name, fname, version=rt.version)
    flash(request, f"Purged {what}: {destroyed} values destroyed")
    ctx.runtime.counts.written()
    return RedirectResponse("/setup", status_code=303)


# --- history, export ------------------------------------------------------------------------


def history_page(request: Request) -> Response:
    frame, _ = admin_context(request)
    rt = runtime(request)
    versions = overlays.history(rt.db)
    with rt.db.read() as conn:
        names = user_names(conn, rt.schema, {v.user_id for v in versions})
    rows = []
    for i, version in enumerate(versions):
        before = versions[i + 1] if i + 1 < len(versions) else overlays.NO_OVERLAYS
        rows.append({"version": version, "who": names.get(version.user_id, "—"),
                     "diff": differences(before.data(), version.data())})
    return render(frame, "setup_history.html", {"rows": rows, "current": rt.version})


def revert(request: Request) -> Response:
    frame, ctx = admin_context(request)
    rt = runtime(request)
    form = auth.checked_form(request)
    try:
        number = int(request.path_params["version"])
    except ValueError:
        raise BadRequest("a version is a number") from None
    old = overlays.get(rt.db, number)

    def again(errors: dict[str, str]) -> Response:
        return render(frame, "error.html", {"title": "Cannot revert",
                                            "message": "; ".join(errors.values())}, status=422)

    def edit(d: Draft) -> str:
        d.overlays = old.data()
        return f"revert to version {number}"

    return apply_change(frame, ctx, form, edit, again=again, done="/setup/history")


def export_zip(request: Request) -> Response:
    """The merged metadata (app plus Setup changes) as a zipped YAML app."""
    frame, _ = admin_context(request)
    rt = runtime(request)
    documents = merged(rt.app_dir, rt.overlay.data())
    buffer = io.BytesIO()
    root = documents["app.yaml"]["app"]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in sorted(documents.items()):
            archive.writestr(f"{root}/{path}", dump(data))
    return Response(buffer.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{root}-v{rt.version}.zip"'})


routes = [
    Route("/setup", home, methods=["GET"]),
    Route("/setup/objects/new", new_object, methods=["GET", "POST"]),
    Route("/setup/objects/{object}", object_page, methods=["GET"]),
    Route("/setup/objects/{object}", edit_object, methods=["POST"]),
    Route("/setup/objects/{object}/fields/new", field_page, methods=["GET", "POST"]),
    Route("/setup/objects/{object}/fields/{field}", field_page, methods=["GET", "POST"]),
    Route("/setup/objects/{object}/fields/{field}/restore", restore_field, methods=["POST"]),
    Route("/setup/objects/{object}/restore", restore_field, methods=["POST"]),
    Route("/setup/objects/{object}/purge", purge_page, methods=["GET", "POST"]),
    Route("/setup/check-expression", check_expression, methods=["POST"]),
    Route("/setup/history", history_page, methods=["GET"]),
    Route("/setup/history/{version}/revert", revert, methods=["POST"]),
    Route("/setup/export.zip", export_zip, methods=["GET"]),
]
