"""Setup: roles (metadata), users and teams (data).

A role is edited as two matrices: objects x create/read/edit/delete and, per object, fields x
edit/read/hidden. The form shows what the role may do in effect (with what it inherits);
only what differs from the parent role (or from "none"/"edit" without one) is stored, and
the change goes through setup.apply_change (review, then save as a metadata version).

Users and teams are rows of mc_user, mc_team and mc_team_member: changed at once, from
CSRF-checked forms; bad input is a 422 with the form shown again and nothing changed.
Deactivating a user first moves every record they own to another active user through the
record service, so the audit trail says who moved what.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..engine import records, users
from ..engine.errors import CrmError, NotFound, PermissionDenied
from ..engine.runtime import Context, Runtime
from ..metadata.edits import Draft, EditError
from ..metadata.model import (
    FIELD_SCOPE,
    RIGHTS,
    VIA_SCOPE,
    FieldDef,
    ObjectDef,
    ObjectPermission,
    Role,
    humanize,
    scope_data,
)
from . import auth
from .pages import PageContext, flash
from .setup import NAME, admin_context, apply_change, form_values, runtime
from .templating import render

SCOPES = ("none", "own", "team", "all")
ACCESS = ("edit", "read", "hidden")
ACTIONS = ("read", "edit", "delete")
BUILT_IN = ("admin", users.SYSTEM_ROLE)


# --- roles ----------------------------------------------------------------------------------


def roles_page(request: Request) -> Response:
    frame, _ = admin_context(request)
    rt = runtime(request)
    with rt.db.read() as conn:
        people = users.all_users(conn, rt.schema)
    counts = {name: sum(1 for u in people if u.role == name and u.is_active)
              for name in rt.model.roles}
    return render(frame, "setup_roles.html", {
        "roles": sorted(rt.model.roles.values(), key=lambda r: (r.name != "admin", r.name)),
        "counts": counts})


RIGHT_LABELS = {"assign": "Give records to other users (change the owner)",
                "share_reports": "Save reports everyone sees",
                "edit_dashboards": "Change the shared dashboards"}
assert set(RIGHT_LABELS) == set(RIGHTS)


def shown_fields(obj: ObjectDef) -> list[FieldDef]:
    """The fields whose access a role can set: the object's own fields and its owner."""
    return [f for f in obj.fields.values() if not f.system or f.name == "owner"]


def shared_scopes(obj: ObjectDef, t: Any = None, lang: str = "en") -> list[tuple[str, str]]:
    """The scopes beyond none..all an object offers: its records naming the user in a user
    field, and those whose parent (a lookup) the user may see."""
    users = [f for f in obj.fields.values() if f.kind.refers == "user" and not f.system]
    lookups = [f for f in obj.fields.values() if f.type == "lookup"]
    t = t or (lambda text, **params: text.format(**params))
    return [(FIELD_SCOPE + f.name, t("own, and those naming them in {field}",
                                     field=f.label.get(lang))) for f in users] + [
        (VIA_SCOPE + f.name, t("own, and those whose {field} they may see",
                               field=f.label.get(lang))) for f in lookups]


def shares(obj: ObjectDef, scope: str) -> bool:
    """Is `scope` a `field:` scope of the object's user fields (one or several, its system
    ones too) or a `via:` scope of one of its lookups?"""
    if scope.startswith(FIELD_SCOPE):
        names = scope[len(FIELD_SCOPE):].split(",")
        return all(n in obj.fields and obj.fields[n].kind.refers == "user" for n in names)
    if scope.startswith(VIA_SCOPE):
        lookup = obj.fields.get(scope[len(VIA_SCOPE):])
        return lookup is not None and lookup.type == "lookup"
    return False


def role_values(role: Role | None) -> dict[str, str]:
    """The role form's inputs for what `role` may do in effect (nothing when None)."""
    values: dict[str, str] = {}
    if role is None:
        return values
    values.update(name=role.name, label_en=role.label.get("en"), label_vi=role.label.get("vi"),
                  inherits=role.inherits or "")
    for obj_name, perm in role.objects.items():
        if perm.create:
            values[f"o.{obj_name}.create"] = "1"
        for action in ACTIONS:
            values[f"o.{obj_name}.{action}"] = getattr(perm, action)
    for ref, access in role.fields.items():
        values[f"f.{ref}"] = access
    for right in role.can:
        values[f"can.{right}"] = "1"
    return values


def _role_form(frame: PageContext, rt: Runtime, role: Role | None, values: dict[str, str],
               errors: dict[str, str], *, base: Any, status: int = 200) -> Response:
    objects = list(rt.model.objects.values())
    return render(frame, "setup_role.html", {
        "role": role, "new": role is None, "values": values, "errors": errors, "base": base,
        "objects": objects, "fields": {o.name: shown_fields(o) for o in objects},
        "scopes": SCOPES, "shared": {o.name: shared_scopes(o, frame.t, frame.lang)
                                     for o in objects},
        "access": ACCESS, "actions": ACTIONS, "rights": RIGHT_LABELS,
        "inherited_rights": rt.model.roles[role.inherits].can
        if role is not None and role.inherits in rt.model.roles else frozenset(),
        "parents": sorted(n for n in rt.model.roles if n not in BUILT_IN
                          and (role is None or n != role.name)),
        "read_only": role is not None and role.name == "admin"}, status=status)


def role_page(request: Request) -> Response:
    """One role (`/setup/roles/{role}`) or a new one (`/setup/roles/new`)."""
    frame, ctx = admin_context(request)
    rt = runtime(request)
    name = request.path_params.get("role")
    role = None
    if name is not None:
        role = rt.model.roles.get(name)
        if role is None:
            raise NotFound(f"there is no role '{name}'")
    if request.method == "GET":
        values = role_values(role)
        start = request.query_params.get("inherits")
        if role is None and start in rt.model.roles and start not in BUILT_IN:
            values = {**role_values(rt.model.roles[start]), "name": "", "label_en": "",
                      "label_vi": "", "inherits": start}
        return _role_form(frame, rt, role, values, {}, base=rt.version)
    if role is not None and role.name == "admin":
        raise PermissionDenied("the admin role is built in: it may do everything and cannot "
                               "be changed")
    form = auth.checked_form(request)
    values = form_values(form)
    new_name = values.get("name", "").strip() if role is None else str(name)

    def again(errors: dict[str, str]) -> Response:
        return _role_form(frame, rt, role, values, errors,
                          base=form.get("base") or rt.version, status=422)

    def edit(d: Draft) -> str:
        doc = copy.deepcopy(d.effective().get("roles.yaml") or {"roles": {}})
        doc.setdefault("roles", {})
        if role is None:
            _check_new_name(new_name, doc["roles"], rt)
        data = doc["roles"].get(new_name) or {}
        doc["roles"][new_name] = role_document(rt, new_name, data, form)
        d.set_document("roles.yaml", doc)
        return f"{'add' if role is None else 'change'} role {new_name}"

    return apply_change(frame, ctx, form, edit, again=again,
                        done=f"/setup/roles/{new_name}" if NAME.fullmatch(new_name)
                        else "/setup/roles",
                        inputs={"inherits": "inherits", "label": "label_en",
                                "roles": "name"})


def _check_new_name(name: str, existing: dict[str, Any], rt: Runtime) -> None:
    if not NAME.fullmatch(name):
        raise EditError(f"'{name}' is not a valid role name: use lowercase letters, digits and "
                        "_, starting with a letter (e.g. sales_rep)", "name")
    if name in BUILT_IN:
        raise EditError(f"'{name}' is a built-in role", "name")
    if name in existing or name in rt.model.roles:
        raise EditError(f"a role named '{name}' already exists", "name")


def role_document(rt: Runtime, name: str, data: dict[str, Any], form: FormData
                  ) -> dict[str, Any]:
    """The role's roles.yaml entry from its form: the labels, `inherits`, and what differs
    from the parent role (or from nothing); entries the role stored already are kept."""
    get = lambda key: str(form.get(key) or "").strip()  # noqa: E731
    out: dict[str, Any] = {k: v for k, v in data.items()
                           if k not in ("label", "inherits", "objects", "fields", "can")}
    en, vi = get("label_en"), get("label_vi")
    out["label"] = {"en": en or vi or humanize(name), "vi": vi or en or humanize(name)}
    parent_name = get("inherits") or None
    parent: Role | None = None
    if parent_name is not None:
        parent = rt.model.roles.get(parent_name)
        if parent is None or parent_name == users.SYSTEM_ROLE:
            known = ", ".join(sorted(n for n in rt.model.roles if n not in BUILT_IN))
            raise EditError(f"inherits unknown role '{parent_name}' (roles: {known})",
                            "inherits")
        if parent_name == "admin":
            raise EditError("a role cannot inherit admin (admin may do everything)",
                            "inherits")
        if parent_name == name:
            raise EditError(f"a role cannot inherit itself (cycle: {name} -> {name})",
                            "inherits")
        trail = [name, parent_name]
        while parent is not None and parent.inherits:
            if parent.inherits in trail:
                raise EditError("roles would inherit from each other in a cycle: "
                                + " -> ".join([*trail, parent.inherits]), "inherits")
            trail.append(parent.inherits)
            parent = rt.model.roles.get(parent.inherits)
        parent = rt.model.roles[parent_name]
        out["inherits"] = parent_name
    old_objects = data.get("objects") or {}
    objects: dict[str, Any] = {k: v for k, v in old_objects.items()
                               if k not in rt.model.objects}
    for obj_name in rt.model.objects:
        base = parent.objects.get(obj_name, ObjectPermission()) if parent else ObjectPermission()
        old = old_objects.get(obj_name) or {}
        entry: dict[str, Any] = {}
        create = bool(form.get(f"o.{obj_name}.create"))
        if create != base.create or "create" in old:
            entry["create"] = create
        for action in ACTIONS:
            key = f"o.{obj_name}.{action}"
            scope = get(key) or "none"
            if scope not in SCOPES and not shares(rt.model.objects[obj_name], scope):
                raise EditError(f"'{scope}' is not a scope: use none, own, team or all", key)
            if scope != getattr(base, action) or action in old:
                entry[action] = scope_data(scope)
        if entry:
            objects[obj_name] = entry
    if objects:
        out["objects"] = objects
    old_fields = data.get("fields") or {}
    fields: dict[str, str] = dict(old_fields)
    for obj in rt.model.objects.values():
        for fdef in shown_fields(obj):
            ref = f"{obj.name}.{fdef.name}"
            key = f"f.{ref}"
            if key not in form:
                continue
            access = get(key)
            if access not in ACCESS:
                raise EditError(f"'{access}' is not a field access: use edit, read or hidden",
                                key)
            inherited = parent.fields.get(ref, "edit") if parent else "edit"
            if access != inherited or ref in old_fields:
                fields[ref] = access
    if fields:
        out["fields"] = fields
    inherited = parent.can if parent else frozenset()
    rights = [r for r in RIGHTS if form.get(f"can.{r}") and r not in inherited]
    if rights:
        out["can"] = rights
    return out


# --- users ----------------------------------------------------------------------------------


def _role_choices(rt: Runtime, lang: str) -> list[tuple[str, str]]:
    return [(r.name, r.label.get(lang)) for r in sorted(
        rt.model.roles.values(), key=lambda r: (r.name != "admin", r.name))]


def _users_page(frame: PageContext, rt: Runtime, lang: str, values: dict[str, str],
                errors: dict[str, str], status: int = 200) -> Response:
    with rt.db.read() as conn:
        people = users.all_users(conn, rt.schema)
        teams = {t.id: t.name for t in users.all_teams(conn, rt.schema)}
    return render(frame, "setup_users.html", {
        "people": people, "teams": teams, "roles": _role_choices(rt, lang),
        "role_labels": dict(_role_choices(rt, lang)), "values": values, "errors": errors,
        "min_password": users.MIN_PASSWORD}, status=status)


def users_page(request: Request) -> Response:
    frame, ctx = admin_context(request)
    rt = runtime(request)
    first = next((n for n in sorted(rt.model.roles) if n not in BUILT_IN), "admin")
    return _users_page(frame, rt, ctx.locale, {"role": first}, {})


def new_user(request: Request) -> Response:
    frame, ctx = admin_context(request)
    rt = runtime(request)
    form = auth.checked_form(request)
    values = form_values(form, without=("password",))
    username = values.get("username", "").strip()
    password = str(form.get("password") or "")
    errors: dict[str, str] = {}
    if not username or len(username) > 150 or any(c.isspace() for c in username):
        errors["username"] = f"'{username}' is not a valid user name (no spaces, 1-150 " \
                             "characters)"
    errors.update(_role_error(rt, values.get("role", "")))
    if len(password) < users.MIN_PASSWORD:
        errors["password"] = f"a password needs at least {users.MIN_PASSWORD} characters"
    if not errors:
        try:
            with rt.db.write() as conn:
                if users.find_user(conn, rt.schema, username) is not None:
                    raise EditError(f"a user named '{username}' already exists", "username")
                users.create_user(conn, rt.schema, username, role=values["role"],
                                  password=password,
                                  display_name=values.get("display_name", "").strip() or None,
                                  email=values.get("email", "").strip() or None)
        except EditError as exc:
            errors[exc.field] = str(exc)
        except CrmError as exc:
            errors["_"] = exc.message
    if errors:
        return _users_page(frame, rt, ctx.locale, values, errors, status=422)
    flash(request, f"Saved: user {username}")
    return RedirectResponse("/setup/users", status_code=303)


def _role_error(rt: Runtime, role: str) -> dict[str, str]:
    if role in rt.model.roles:
        return {}
    known = ", ".join(sorted(rt.model.roles))
    return {"role": f"unknown role '{role}' (roles: {known})"}


def _user_page(frame: PageContext, rt: Runtime, lang: str, user: users.User,
               values: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    with rt.db.read() as conn:
        teams = users.all_teams(conn, rt.schema)
        others = [u for u in users.all_users(conn, rt.schema) if u.is_active
                  and u.id != user.id]
    return render(frame, "setup_user.html", {
        "person": user, "teams": teams, "roles": _role_choices(rt, lang), "others": others,
        "values": values, "errors": errors, "min_password": users.MIN_PASSWORD},
        status=status)


def _user_values(user: users.User) -> dict[str, Any]:
    return {"role": user.role, "display_name": user.display_name,
            "teams": [str(t) for t in user.team_ids], "reassign_to": ""}


def user_page(request: Request) -> Response:
    """A user's role, teams, name and password; their deactivation (POST `action`)."""
    frame, ctx = admin_context(request)
    rt = runtime(request)
    uid = request.path_params["id"]
    with rt.db.read() as conn:
        user = users.get_user(conn, rt.schema, uid)
    if user.role == users.SYSTEM_ROLE:
        raise NotFound(f"no user with id {uid}")
    if request.method == "GET":
        return _user_page(frame, rt, ctx.locale, user, _user_values(user), {})
    form = auth.checked_form(request)
    action = str(form.get("action") or "save")
    if action == "deactivate":
        return _deactivate(frame, rt, ctx, user, form)
    if action == "sign_out":
        auth.sign_out_everywhere(rt, user.id)
        flash(request, "Signed out everywhere: every session of this user has ended.")
        return RedirectResponse(f"/setup/users/{user.id}", status_code=303)
    if action == "activate":
        with rt.db.write() as conn:
            users.set_active(conn, rt.schema, user.id, True)
        rt.recent.clear()
        flash(request, f"Saved: user {user.username} is active again")
        return RedirectResponse(f"/setup/users/{user.id}", status_code=303)
    values: dict[str, Any] = {"role": str(form.get("role") or ""),
                              "display_name": str(form.get("display_name") or "").strip(),
                              "teams": [str(t) for t in form.getlist("teams")]}
    errors = _role_error(rt, values["role"])
    if user.id == ctx.user.id and values["role"] != user.role:
        errors["role"] = "you cannot change your own role (ask another administrator)"
    password = str(form.get("password") or "")
    if password and len(password) < users.MIN_PASSWORD:
        errors["password"] = f"a password needs at least {users.MIN_PASSWORD} characters"
    with rt.db.read() as conn:
        known = {t.id for t in users.all_teams(conn, rt.schema)}
    try:
        team_ids = {int(t) for t in values["teams"]}
    except ValueError:
        team_ids = {-1}
    if team_ids - known:
        errors["teams"] = "unknown team"
    if errors:
        return _user_page(frame, rt, ctx.locale, user, values, errors, status=422)
    with rt.db.write() as conn:
        users.set_role(conn, rt.schema, user.id, values["role"])
        users.set_display_name(conn, rt.schema, user.id, values["display_name"] or user.username)
        users.set_teams(conn, rt.schema, user.id, team_ids)
        if password:
            users.set_password(conn, rt.schema, user.id, password)
    rt.recent.clear()
    flash(request, f"Saved: user {user.username}")
    return RedirectResponse("/setup/users", status_code=303)


def _deactivate(frame: PageContext, rt: Runtime, ctx: Context, user: users.User,
                form: FormData) -> Response:
    """Move the user's records to another active user, then deactivate them: a confirmation
    page first (how many records of each object move), then, with confirm=1, the move."""
    errors: dict[str, str] = {}
    target = None
    if user.id == ctx.user.id:
        errors["_"] = "you cannot deactivate yourself"
    with rt.db.read() as conn:
        owned = users.owned_ids(conn, rt.schema, list(rt.model.objects), user.id)
        try:
            target = users.get_user(conn, rt.schema, int(str(form.get("reassign_to") or "")))
        except (ValueError, NotFound):
            errors.setdefault("reassign_to", "choose the user who takes over the records")
    if target is not None and (not target.is_active or target.role == users.SYSTEM_ROLE):
        errors["reassign_to"] = f"{target.name} is not an active user"
    elif target is not None and target.id == user.id:
        errors["reassign_to"] = "choose another user than the one deactivated"
    if not user.is_active:
        errors["_"] = f"{user.name} is already inactive"
    values = {**_user_values(user), "reassign_to": str(form.get("reassign_to") or "")}
    if errors:
        return _user_page(frame, rt, ctx.locale, user, values, errors, status=422)
    assert target is not None
    if form.get("confirm") != "1":
        moves = [(rt.model.objects[name], len(ids)) for name, ids in owned.items()]
        return render(frame, "setup_user_deactivate.html", {
            "person": user, "target": target, "moves": moves})
    try:
        with rt.db.write() as conn:
            for name, ids in owned.items():
                for record_id in ids:
                    records.update(ctx, name, record_id, {"owner": target.id}, conn=conn)
            users.set_active(conn, rt.schema, user.id, False)
    except CrmError as exc:
        return _user_page(frame, rt, ctx.locale, user, values,
                          {"_": f"nothing was changed: {exc.message}"}, status=422)
    rt.recent.clear()
    moved = sum(len(ids) for ids in owned.values())
    flash(frame.request, f"Saved: {user.username} deactivated, {moved} records moved to "
                   f"{target.username}")
    return RedirectResponse("/setup/users", status_code=303)


# --- teams ----------------------------------------------------------------------------------


def _teams_page(frame: PageContext, rt: Runtime, values: dict[str, str],
                errors: dict[str, str], status: int = 200) -> Response:
    with rt.db.read() as conn:
        teams = users.all_teams(conn, rt.schema)
        people = users.all_users(conn, rt.schema)
    return render(frame, "setup_user_teams.html", {
        "teams": teams, "people": people, "names": {u.id: u.name for u in people},
        "active": [u for u in people if u.is_active], "values": values, "errors": errors},
        status=status)


def teams_page(request: Request) -> Response:
    """Teams: create one with a manager (`action=create`), add or remove a member."""
    frame, _ = admin_context(request)
    rt = runtime(request)
    if request.method == "GET":
        return _teams_page(frame, rt, {}, {})
    form = auth.checked_form(request)
    values = form_values(form)
    action = values.get("action", "")
    errors: dict[str, str] = {}
    with rt.db.read() as conn:
        teams = {t.id: t for t in users.all_teams(conn, rt.schema)}
        people = {u.id: u for u in users.all_users(conn, rt.schema)}

    def number(key: str) -> int | None:
        try:
            return int(values.get(key, ""))
        except ValueError:
            return None

    name = values.get("name", "").strip()
    team_id = number("team")
    person = number("manager" if action == "create" else "user")
    if action == "create":
        if not name:
            errors["name"] = "a team needs a name"
        elif any(t.name == name for t in teams.values()):
            errors["name"] = f"a team named '{name}' already exists"
        if values.get("manager") and (person not in people or not people[person].is_active):
            errors["manager"] = "choose an active user as the manager"
    elif action in ("add", "remove"):
        if team_id not in teams:
            errors["_"] = "there is no such team"
        elif person not in people or (action == "add" and not people[person].is_active):
            errors[f"user-{team_id}"] = "choose an active user"
    else:
        errors["_"] = f"unknown action '{action}'"
    if errors:
        return _teams_page(frame, rt, values, errors, status=422)
    with rt.db.write() as conn:
        if action == "create":
            created = users.create_team(conn, rt.schema, name, manager_id=person)
            if person is not None:  # the manager sees the team's records too
                users.add_to_team(conn, rt.schema, created, person)
        elif action == "add":
            users.add_to_team(conn, rt.schema, team_id, person)  # type: ignore[arg-type]
        else:
            users.remove_from_team(conn, rt.schema, team_id, person)  # type: ignore[arg-type]
    rt.recent.clear()
    flash(request, "Saved: teams")
    return RedirectResponse("/setup/teams", status_code=303)


routes = [
    Route("/setup/roles", roles_page, methods=["GET"]),
    Route("/setup/roles/new", role_page, methods=["GET", "POST"]),
    Route("/setup/roles/{role}", role_page, methods=["GET", "POST"]),
    Route("/setup/users", users_page, methods=["GET"]),
    Route("/setup/users/new", new_user, methods=["POST"]),
    Route("/setup/users/{id:int}", user_page, methods=["GET", "POST"]),
    Route("/setup/teams", teams_page, methods=["GET", "POST"]),
]
