"""Who may do what: roles.yaml turned into casbin policies, asked by the engine on every
read and write.

Policies (subject = role name):

    p, sales_rep, contact, create            may create contacts
    p, sales_rep, contact, read:all          may read every contact
    p, sales_rep, opportunity, edit:own      may edit the opportunities they own
    p, sales_rep, field:contact.income, hidden
    p, sales_rep, field:opportunity.commission, read

`inherits` is resolved by the loader (a child role's entries replace its parent's), so each
role's policies are complete. Record scopes rank none < own < team < all; the engine turns a
scope into a WHERE clause for lists and into a check for single records.

Each role gets an enforcer of its own (a matcher runs over one role's policies, not every
role's), and answers are cached per (role, object, action): a model is immutable, and one
`Access` serves every runtime of the same model.
"""

from __future__ import annotations

import logging
from functools import cache, lru_cache

import casbin

from ..metadata.model import AppModel, Role

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
        return "none"

    def _field_levels(self, role: str) -> dict[str, str]:
        """The role's field policies, "object.field" -> read | hidden (edit is the rest)."""
        enforcer = self.enforcers.get(role)
        if enforcer is None:
            return {}
        return {obj[len("field:"):]: act for _, obj, act in enforcer.get_policy()
                if obj.startswith("field:")}

    def field_access(self, role: str, object_name: str, field_name: str) -> str:
        """edit, read or hidden."""
        return self._fields(role).get(f"{object_name}.{field_name}", "edit")

    def _hidden_fields(self, role: str, object_name: str) -> frozenset[str]:
        obj = self.model.objects[object_name]
        return frozenset(name for name in obj.fields
                         if self.field_access(role, object_name, name) == "hidden")

    def _visible_fields(self, role: str | None) -> dict[str, dict[str, object]]:
        """Every object the role may read, with the fields it may see (None: everything)."""
        if role is None:
            return {name: dict(obj.fields) for name, obj in self.model.objects.items()}
        return {name: {f: d for f, d in obj.fields.items()
                       if f not in self.hidden_fields(role, name)}
                for name, obj in self.model.objects.items()
                if self.scope(role, name, "read") != "none"}
