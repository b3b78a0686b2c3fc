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
scope into a WHERE clause for lists and into a check for single records. Answers are cached
per (role, object, action): casbin is asked once.
"""

from __future__ import annotations

import logging
from functools import cache

import casbin

from ..metadata.model import AppModel

CASBIN_MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
"""
ACTIONS = ("create", "read", "edit", "delete")
SCOPES = ("none", "own", "team", "all")


def build_enforcer(model: AppModel) -> casbin.Enforcer:
    casbin_model = casbin.Model()
    casbin_model.load_model_from_text(CASBIN_MODEL)
    enforcer = casbin.Enforcer(casbin_model)
    # casbin logs every request at INFO; a web server's logging set-up would switch it on
    logging.getLogger("casbin").setLevel(logging.WARNING)
    policies: list[list[str]] = []
    for name, role in model.roles.items():
        for obj_name in model.objects:
            if role.all:
                policies.append([name, obj_name, "create"])
                policies += [[name, obj_name, f"{action}:all"] for action in ACTIONS[1:]]
                continue
            perm = role.objects.get(obj_name)
            if perm is None:
                continue
            if perm.create:
                policies.append([name, obj_name, "create"])
            for action in ACTIONS[1:]:
                scope = getattr(perm, action)
                if scope != "none":
                    policies.append([name, obj_name, f"{action}:{scope}"])
        if not role.all:
            for ref, level in role.fields.items():
                if level != "edit":
                    policies.append([name, f"field:{ref}", level])
    if policies:
        enforcer.add_policies(policies)
    return enforcer


class Access:
    """The permission answers of one model."""

    def __init__(self, model: AppModel):
        self.model = model
        self.enforcer = build_enforcer(model)
        self.scope = cache(self._scope)
        self.field_access = cache(self._field_access)
        self.hidden_fields = cache(self._hidden_fields)

    def _scope(self, role: str, object_name: str, action: str) -> str:
        """The widest record scope `role` has for `action` on the object: none..all.
        For `create` the answer is "all" (allowed) or "none"."""
        if action == "create":
            return "all" if self.enforcer.enforce(role, object_name, "create") else "none"
        for scope in ("all", "team", "own"):
            if self.enforcer.enforce(role, object_name, f"{action}:{scope}"):
                return scope
        return "none"

    def _field_access(self, role: str, object_name: str, field_name: str) -> str:
        """edit, read or hidden."""
        ref = f"field:{object_name}.{field_name}"
        if self.enforcer.enforce(role, ref, "hidden"):
            return "hidden"
        if self.enforcer.enforce(role, ref, "read"):
            return "read"
        return "edit"

    def _hidden_fields(self, role: str, object_name: str) -> frozenset[str]:
        obj = self.model.objects[object_name]
        return frozenset(name for name in obj.fields
                         if self.field_access(role, object_name, name) == "hidden")
