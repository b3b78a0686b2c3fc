"""Who may do what: roles.yaml turned into casbin policies, asked by the engine on every
read and write.

Policies (subject = role name):

    p, sales_rep, contact, create            may create contacts
    p, sales_rep, contact, read:all          may read every contact
    p, sales_rep, opportunity, edit:own      may edit the opportunities they own
    p, sales_rep, field:contact.income, hidden
    p, sales_rep, field:opportunity.commission, read

`inherits` is resolved by the loader (a child role's entries replace its parent's), so each
role's policies are complete. Record scopes rank none < own < team < all; beside them,
`field:driver` (one's own records and those naming one in a user field) and `via:account`
(one's own and those whose account one may read, or edit...: sharing by parent). The engine
turns a scope into a WHERE clause for lists and into a check for single records.

Each role gets an enforcer of its own (a matcher runs over one role's policies, not every
role's), and answers are cached per (role, object, action): a model is immutable, and one
`Access` serves every runtime of the same model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import casbin
from sqlalchemy import false, or_, select

from ..metadata.model import FIELD_SCOPE, VIA_SCOPE, AppModel, FieldDef, Role
from .errors import NotFound, PermissionDenied
from .users import SYSTEM_ROLE

if TYPE_CHECKING:
    from .runtime import Context

CASBIN_MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act
"""
ACTIONS = ("create", "read", "edit", "delete")
SCOPES = ("none", "own", "team", "all")


def role_policies(model: AppModel, role: Role) -> list[list[str]]:
    policies: list[list[str]] = []
    for obj_name in model.objects:
        if role.all:
            policies.append([role.name, obj_name, "create"])
            policies += [[role.name, obj_name, f"{action}:all"] for action in ACTIONS[1:]]
            continue
        perm = role.objects.get(obj_name)
        if perm is None:
            continue
        if perm.create:
            policies.append([role.name, obj_name, "create"])
        for action in ACTIONS[1:]:
            scope = getattr(perm, action)
            if scope != "none":
                policies.append([role.name, obj_name, f"{action}:{scope}"])
    if not role.all:
        for ref, level in role.fields.items():
            if level != "edit":
                policies.append([role.name, f"field:{ref}", level])
    return policies


def build_enforcer(policies: list[list[str]]) -> casbin.Enforcer:
    casbin_model = casbin.Model()
    casbin_model.load_model_from_text(CASBIN_MODEL)
    enforcer = casbin.Enforcer(casbin_model)
    # casbin logs every request at INFO; a web server's logging set-up would switch it on
    logging.getLogger("casbin").setLevel(logging.WARNING)
    if policies:
        enforcer.add_policies(policies)
    return enforcer


class Access:
    """The permission answers of one model."""

    def __init__(self, model: AppModel):
        self.model = model
        self.enforcers = {name: build_enforcer(role_policies(model, role))
                          for name, role in model.roles.items()}
        self.scope = cache(self._scope)
        self.hidden_fields = cache(self._hidden_fields)
        self.visible_fields = cache(self._visible_fields)
        self._fields = cache(self._field_levels)
        self._derived = cache(self._derived_hidden)
        self.personal = cache(self._personal)

    @classmethod
    @lru_cache(maxsize=8)
    def for_model(cls, model: AppModel) -> Access:
        return cls(model)

    def _scope(self, role: str, object_name: str, action: str) -> str:
        """The widest record scope `role` has for `action` on the object: none..all.
        For `create` the answer is "all" (allowed) or "none"."""
        enforcer = self.enforcers.get(role)
        if enforcer is None:
            return "none"
        if action == "create":
            return "all" if enforcer.enforce(role, object_name, "create") else "none"
        for scope in ("all", "team", "own"):
            if enforcer.enforce(role, object_name, f"{action}:{scope}"):
                return scope
        for _, _, act in enforcer.get_filtered_policy(1, object_name):
            verb, _, scope = act.partition(":")  # read:field:driver, read:via:account
            if verb != action:
                continue
            if scope.startswith(VIA_SCOPE):  # via:<lookup>:<its object>:<the action>
                lookup = scope[len(VIA_SCOPE):]
                return f"{scope}:{self.model.objects[object_name].fields[lookup].to}:{action}"
            return scope
        return "none"

    def can(self, role: str, right: str) -> bool:
        """Has `role` the right (`can:` in roles.yaml: assign, share_reports,
        edit_dashboards)? A role with `all: true` has every right."""
        found = self.model.roles.get(role)
        return found is not None and (found.all or right in found.can)

    def is_admin(self, role: str) -> bool:
        found = self.model.roles.get(role)
        return found is not None and found.all

    def _personal(self, role: str) -> bool:
        """Does some object's read scope name the user (own or team)? Then what the role's
        users see of a query, through its lookups too, differs from one user to another."""
        return any(self.scope(role, name, "read") not in ("all", "none")
                   for name in self.model.objects)

    def _field_levels(self, role: str) -> dict[str, str]:
        """The role's field policies, "object.field" -> read | hidden (edit is the rest)."""
        enforcer = self.enforcers.get(role)
        if enforcer is None:
            return {}
        return {obj[len("field:"):]: act for _, obj, act in enforcer.get_policy()
                if obj.startswith("field:")}

    def field_access(self, role: str, object_name: str, field_name: str) -> str:
        """edit, read or hidden. A formula or rollup that reads a field hidden from the
        role is hidden too (see `derived_hidden`)."""
        if field_name in self.hidden_fields(role, object_name):
            return "hidden"
        return self._fields(role).get(f"{object_name}.{field_name}", "edit")

    def _hidden_fields(self, role: str, object_name: str) -> frozenset[str]:
        return frozenset(self.derived_hidden(role).get(object_name, {}))

    def derived_hidden(self, role: str) -> dict[str, dict[str, str]]:
        """object -> hidden field -> why: "" for a field roles.yaml hides, else the field
        (`object.field`) a formula or rollup reads that the role may not see (hidden, or of
        an object the role may not read at all), so the value cannot be worked back from a
        derived one (`income_k = income / 1000`, `total_spent` over orders). Settled to a
        fixpoint: a formula that reads such a formula is hidden as well."""
        return self._derived(role)

    def _derived_hidden(self, role: str) -> dict[str, dict[str, str]]:
        levels = self._fields(role)
        hidden: dict[str, dict[str, str]] = {name: {} for name in self.model.objects}
        for ref, level in levels.items():
            obj_name, _, field_name = ref.partition(".")
            if level == "hidden" and obj_name in hidden:
                hidden[obj_name][field_name] = ""
        changed = True
        while changed:
            changed = False
            for obj_name, obj in self.model.objects.items():
                for fdef in obj.fields.values():
                    if fdef.name in hidden[obj_name]:
                        continue
                    for start, path in derived_reads(fdef, obj_name):
                        reason = self._hidden_on_path(role, hidden, start, path)
                        if reason:
                            hidden[obj_name][fdef.name] = reason
                            changed = True
                            break
        return hidden

    def _hidden_on_path(self, role: str, hidden: dict[str, dict[str, str]], obj_name: str,
                        path: tuple[str, ...]) -> str:
        """The first field `path` reads from `obj_name` that the role may not see: a hidden
        one, or any field of an object it may not read at all ("" when there is none)."""
        for part in path:
            obj = self.model.objects.get(obj_name)
            fdef = obj.fields.get(part) if obj is not None else None
            if fdef is None:
                return ""
            if part in hidden.get(obj_name, {}) or self.scope(role, obj_name, "read") == "none":
                return f"{obj_name}.{part}"
            if fdef.type != "lookup" or not fdef.to:
                return ""
            obj_name = fdef.to
        return ""

    def _visible_fields(self, role: str | None) -> dict[str, dict[str, object]]:
        """Every object the role may read, with the fields it may see (None: everything)."""
        if role is None:
            return {name: dict(obj.fields) for name, obj in self.model.objects.items()}
        return {name: {f: d for f, d in obj.fields.items()
                       if f not in self.hidden_fields(role, name)}
                for name, obj in self.model.objects.items()
                if self.scope(role, name, "read") != "none"}


def newly_hidden(old: AppModel, new: AppModel) -> list[tuple[str, str, str, str]]:
    """What a metadata change hides as derived fields: (role, object, field, the hidden
    field it reads) for each computed field `new` hides from a role that `old` did not."""
    before, after = Access.for_model(old), Access.for_model(new)
    out = []
    for role in new.roles:
        was = before.derived_hidden(role) if role in old.roles else {}
        for obj_name, fields in after.derived_hidden(role).items():
            for field_name, reason in fields.items():
                if reason and field_name not in was.get(obj_name, {}):
                    out.append((role, obj_name, field_name, reason))
    return out


def derived_reads(fdef: FieldDef, object_name: str) -> list[tuple[str, tuple[str, ...]]]:
    """What a computed field reads, as (object, field path) pairs: a formula its names,
    a rollup its measure, its filter and its lookup on the child object."""
    if fdef.type == "formula" and fdef.expression is not None:
        return [(object_name, n.path) for n in fdef.expression.names()]
    rollup = fdef.rollup
    if fdef.type != "rollup" or rollup is None:
        return []
    reads = [(rollup.source, (rollup.via,))]
    if rollup.measure_field:
        reads.append((rollup.source, tuple(rollup.measure_field.split("."))))
    if rollup.filter is not None:
        reads += [(rollup.source, n.path) for n in rollup.filter.names()]
    return reads


_VERBS = {"create": "create", "read": "see", "edit": "change", "delete": "delete"}


def require(ctx: Context, obj: Any, action: str) -> str:
    """The user's scope for `action` on the object; PermissionDenied when it is none."""
    scope = ctx.scope(obj.name, action)
    if scope == "none":
        raise PermissionDenied(f"your role ({ctx.user.role}) may not {_VERBS[action]} "
                               f"{obj.plural.get('en').lower()}", object=obj.name,
                               action=action)
    return scope


def team_member_ids(ctx: Context, conn: Any) -> set[int]:
    """The users whose records a `team` scope shows the current user: the user, those who
    share a team with them, and the members of the teams they manage."""
    members = ctx.schema.system["mc_team_member"]
    ids = {ctx.user.id}
    if ctx.user.seen_team_ids:
        ids |= set(conn.scalars(select(members.c.user_id).where(
            members.c.team_id.in_(ctx.user.seen_team_ids))))
    return ids


def in_scope(ctx: Context, conn: Any, record: Mapping[str, Any], scope: str) -> bool:
    """Does the user's `scope` (from `require` or `Context.scope`) cover this record?"""
    if scope == "all":
        return True
    if scope == "none":
        return False
    if record.get("owner") == ctx.user.id:
        return True
    if scope == "team":
        return record.get("owner") in team_member_ids(ctx, conn)
    if scope.startswith(FIELD_SCOPE):  # named in one of these user fields
        return any(record.get(f) == ctx.user.id for f in scope[len(FIELD_SCOPE):].split(","))
    if scope.startswith(VIA_SCOPE):  # the parent record is theirs to read (or edit...)
        lookup, target, action = _via(scope)
        if record.get(lookup) is None:
            return False
        table = ctx.schema.table(target)
        parent = conn.execute(select(table).where(table.c.id == record[lookup])).mappings(
            ).first()
        return parent is not None and in_scope(ctx, conn, parent, ctx.scope(target, action))
    return False


def check_record(ctx: Context, conn: Any, obj: Any, record_id: int,
                 record: Mapping[str, Any] | None, action: str) -> None:
    """May the user `action` this record (None: there is none)? NotFound when they may not
    even see it, so that a record's existence is not given away; PermissionDenied when they
    may see it but not do this."""
    read_scope = require(ctx, obj, "read")
    if record is None or not in_scope(ctx, conn, record, read_scope):
        raise NotFound(f"no {obj.name} with id {record_id}")
    if action != "read":
        scope = require(ctx, obj, action)
        if not in_scope(ctx, conn, record, scope):
            raise PermissionDenied(f"your role ({ctx.user.role}) may not {_VERBS[action]} "
                                   f"this {obj.label.get('en').lower()}: it belongs to "
                                   "someone else", object=obj.name, action=action)


def owner_choices(ctx: Context, current: int | None) -> frozenset[int] | None:
    """Whom the user may make the owner of a record owned by `current` (None: a new one):
    anyone (None) with the `assign` right; else only themselves or the current owner, since
    giving a record to another user is assigning it."""
    if ctx.can("assign"):
        return None
    return frozenset({ctx.user.id} | ({current} if current is not None else set()))


def lineage(model: Any, role: str) -> list[str]:
    """The role and the roles it inherits, nearest first."""
    out: list[str] = []
    while role and role not in out and role in model.roles:
        out.append(role)
        role = model.roles[role].inherits or ""
    return out


def in_roles(ctx: Context, roles: Iterable[str]) -> bool:
    """Is the user's role among `roles` (itself, one it inherits, or a role with every
    right)? No roles named: everybody is. (A record action's `roles`.)"""
    roles = set(roles)
    if not roles or ctx.user.role == SYSTEM_ROLE:
        return True
    return any(name in roles or ctx.model.roles[name].all
               for name in lineage(ctx.model, ctx.user.role))


def roles_within(model: Any, wanted: str) -> list[str]:
    """The roles that are `wanted` or inherit it (whose users an approval step asks)."""
    return [name for name in model.roles if wanted in lineage(model, name)]


def may(ctx: Context, obj: Any, record: Mapping[str, Any], action: str) -> bool:
    """May the user `action` (read, edit, delete) this record? A screen's question: for
    showing a button, not for guarding a write (the record service asks `in_scope`)."""
    scope = ctx.scope(obj.name, action)
    if scope in ("all", "own", "none"):  # no database
        return in_scope(ctx, None, record, scope)
    with ctx.db.read() as conn:
        if scope.startswith((FIELD_SCOPE, VIA_SCOPE)) and record.get("id") is not None:
            table = ctx.schema.table(obj.name)  # the stored row: a field hidden from the
            record = conn.execute(select(table).where(  # user still names them
                table.c.id == record["id"])).mappings().first() or record
        return in_scope(ctx, conn, record, scope)


def readable(ctx: Context, object_name: str, table: Any) -> Any:
    """The WHERE clause that keeps `table` (the object's table or an alias of it) to the
    records the user may read; None when they may read them all."""
    return scope_condition(ctx, table, ctx.scope(object_name, "read"))


def readable_ids(ctx: Context, conn: Any, object_name: str, ids: Iterable[int]) -> set[int]:
    """Those of `ids` the user may read (one query, none when they may read every record)."""
    wanted = {i for i in ids if i is not None}
    table = ctx.schema.table(object_name)
    restrict = readable(ctx, object_name, table)
    if restrict is None or not wanted:
        return wanted
    return set(conn.scalars(select(table.c.id).where(table.c.id.in_(wanted), restrict)))


def _via(scope: str) -> tuple[str, str, str]:
    """(lookup, its object, the action) of a `via:` scope as Access.scope gives it."""
    _, lookup, target, action = scope.split(":")
    return lookup, target, action


def scope_condition(ctx: Context, table: Any, scope: str) -> Any:
    """The WHERE clause that keeps a list to the records the user's scope covers."""
    if scope == "all":
        return None
    if scope == "none":
        return false()
    if scope == "own":
        return table.c.owner == ctx.user.id
    if scope.startswith(FIELD_SCOPE):
        return or_(table.c.owner == ctx.user.id, *(
            table.c[f] == ctx.user.id for f in scope[len(FIELD_SCOPE):].split(",")))
    if scope.startswith(VIA_SCOPE):  # a subquery per level of parents (no cycle: the loader)
        lookup, target, action = _via(scope)
        parent = ctx.schema.table(target).alias()
        inner = scope_condition(ctx, parent, ctx.scope(target, action))
        chosen = select(parent.c.id) if inner is None else select(parent.c.id).where(inner)
        return or_(table.c.owner == ctx.user.id, table.c[lookup].in_(chosen))
    members = ctx.schema.system["mc_team_member"]
    team = select(members.c.user_id).where(members.c.team_id.in_(ctx.user.seen_team_ids
                                                                  or [-1]))
    return or_(table.c.owner == ctx.user.id, table.c.owner.in_(team))
