"""Setup's changes, as edits of the admin's overlay documents.

A :class:`Draft` starts from the stored overlays and the app as written; each method makes
one change an admin asks for and writes it the way a consultant would in YAML: a new object
is an `object:` document, a field of an app object goes in an `extend:` document, a layout,
the roles or a workflow is a whole document that replaces the app's. Nothing here checks
the result: the loader does, when the draft is previewed or saved.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from .documents import Documents, merged

UNSETTABLE = ("label", "help", "default", "max_length", "min", "max", "scale", "on_delete",
              "filter", "format", "accept", "max_size", "required_if", "visible_if",
              "read_only_if")
"""Keys of an inherited field that an `extend:` can take away (`unset: [help]`)."""


class EditError(ValueError):
    """A change that cannot even be written (an unknown object, a field that is not there)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


class Draft:
    def __init__(self, app_dir: str, overlays: Mapping[str, Any]):
        self.app_dir = app_dir
        self.overlays: dict[str, Any] = copy.deepcopy(dict(overlays))
        self._base: Documents | None = None

    # --- what is there ---

    @property
    def base(self) -> Documents:
        """The app as written, without the admin's overlays."""
        if self._base is None:
            self._base = merged(self.app_dir)
        return self._base

    def effective(self) -> Documents:
        """The app with this draft's overlays: what the admin sees and edits."""
        return merged(self.app_dir, self.overlays)

    def object_names(self) -> list[str]:
        return [name.removeprefix("objects/").removesuffix(".yaml")
                for name in self.effective() if name.startswith("objects/")]

    def custom(self, obj: str) -> bool:
        """Was `obj` made in Setup (not by the app)?"""
        return f"objects/{obj}.yaml" not in self.base

    def _object(self, obj: str) -> dict[str, Any]:
        """The overlay document that holds this object's changes (made when missing)."""
        path = f"objects/{obj}.yaml"
        if path not in self.effective():
            raise EditError(f"there is no object '{obj}'", "object")
        if path not in self.overlays:
            self.overlays[path] = {"extend": obj}
        return self.overlays[path]

    def field(self, obj: str, name: str) -> dict[str, Any] | None:
        doc = self.effective().get(f"objects/{obj}.yaml")
        return None if doc is None else doc["fields"].get(name)

    # --- objects ---

    def add_object(self, name: str, label: Mapping[str, str], plural: Mapping[str, str],
                   fields: Mapping[str, Any], title: str | None = None,
                   search: Iterable[str] = ()) -> None:
        path = f"objects/{name}.yaml"
        if path in self.effective():
            raise EditError(f"an object named '{name}' already exists", "name")
        doc: dict[str, Any] = {"object": name, "label": dict(label), "plural": dict(plural)}
        if title:
            doc["title"] = title
        if search:
            doc["search"] = list(search)
        doc["fields"] = copy.deepcopy(dict(fields))
        self.overlays[path] = doc
        app = self._app()
        nav = app.setdefault("navigation", list(self.effective()["app.yaml"].get(
            "navigation", [])))
        if name not in nav:
            nav.append(name)

    def set_object(self, name: str, **values: Any) -> None:
        """Labels, title and search fields of an object."""
        doc = self._object(name)
        for key, value in values.items():
            if value in (None, "", [], {}):
                doc.pop(key, None)
            else:
                doc[key] = copy.deepcopy(value)

    def remove_object(self, name: str) -> None:
        """Take an object made in Setup out of the model (its table and rows are kept,
        archived). The app's own objects cannot be removed, only hidden from navigation."""
        if not self.custom(name):
            raise EditError(f"'{name}' belongs to the app; remove it from the navigation "
                            "instead", "object")
        if self.overlays.pop(f"objects/{name}.yaml", None) is None:
            raise EditError(f"there is no object '{name}'", "object")
        self.overlays.pop(f"layouts/{name}.yaml", None)
        app = self._app()
        if "navigation" in app:
            app["navigation"] = [n for n in app["navigation"] if n != name]
        if "roles.yaml" in self.overlays:
            for role in self.overlays["roles.yaml"]["roles"].values():
                role.get("objects", {}).pop(name, None)
                for ref in [r for r in role.get("fields", {}) if r.startswith(name + ".")]:
                    del role["fields"][ref]

    def restore_object(self, doc: Mapping[str, Any]) -> None:
        """Bring back an archived object from the document it had."""
        name = doc["object"]
        self.add_object(name, doc.get("label", {}), doc.get("plural", {}), doc["fields"],
                        doc.get("title"), doc.get("search", ()))
        path = f"objects/{name}.yaml"
        for key in ("validations", "indexes", "duplicates", "unique_together"):
            if key in doc:
                self.overlays[path][key] = copy.deepcopy(doc[key])

    def _app(self) -> dict[str, Any]:
        if "app.yaml" not in self.overlays:
            self.overlays["app.yaml"] = {"app": self.base["app.yaml"]["app"]}
        return self.overlays["app.yaml"]

    def set_navigation(self, names: Iterable[str]) -> None:
        self._app()["navigation"] = list(names)

    # --- fields ---

    def set_field(self, obj: str, name: str, definition: Mapping[str, Any], *,
                  new: bool) -> None:
        """Add a field, or replace the definition of one (every key the form shows)."""
        existing = self.field(obj, name)
        if new and existing is not None:
            raise EditError(f"'{obj}' already has a field named '{name}'", "name")
        if not new and existing is None:
            raise EditError(f"'{obj}' has no field '{name}'", "name")
        doc = self._object(obj)
        fields = doc.setdefault("fields", {})
        removed = doc.get("remove_fields", [])
        if name in removed:
            removed.remove(name)
            if not removed:
                doc.pop("remove_fields")
        definition = {k: copy.deepcopy(v) for k, v in definition.items() if v is not None}
        base_field = None if self.custom(obj) else self.base[f"objects/{obj}.yaml"][
            "fields"].get(name)
        if base_field is not None:  # an extend: say what happens to every key the app has
            unset = []
            for key, value in base_field.items():
                if key in definition or key in ("type", "options", "unset"):
                    continue
                if isinstance(value, bool):
                    definition[key] = False
                elif key in UNSETTABLE:
                    unset.append(key)
            if unset:
                definition["unset"] = unset
        fields[name] = definition

    def remove_field(self, obj: str, name: str) -> None:
        """Take a field out of the model (its column and values are kept, archived), and
        out of the layouts and roles that name it."""
        if self.field(obj, name) is None:
            raise EditError(f"'{obj}' has no field '{name}'", "name")
        doc = self._object(obj)
        doc.get("fields", {}).pop(name, None)
        if "fields" in doc and not doc["fields"] and "extend" in doc:
            del doc["fields"]
        in_base = not self.custom(obj) and name in self.base[f"objects/{obj}.yaml"]["fields"]
        if in_base:
            doc.setdefault("remove_fields", []).append(name)
        effective = self.effective()
        for path, data in effective.items():
            if path.startswith("layouts/") and data.get("layout") == obj:
                cleaned = _without_field(data, name)
                if cleaned != data:
                    self.overlays[path] = cleaned
        roles = effective.get("roles.yaml")
        if roles and any(f"{obj}.{name}" in r.get("fields", {}) for r in roles["roles"].values()):
            roles = copy.deepcopy(roles)
            for role in roles["roles"].values():
                role.get("fields", {}).pop(f"{obj}.{name}", None)
            self.overlays["roles.yaml"] = roles
        if "search" in doc or name in effective[f"objects/{obj}.yaml"].get("search", []):
            search = [s for s in effective[f"objects/{obj}.yaml"].get("search", []) if s != name]
            doc["search"] = search

    # --- whole documents: layouts, roles, workflows ---

    def set_document(self, path: str, data: Mapping[str, Any] | None) -> None:
        """Replace a whole document (a layout, roles.yaml, a workflow) or, with None, drop the
        admin's version of it (the app's own comes back)."""
        if data is None:
            self.overlays.pop(path, None)
        else:
            self.overlays[path] = copy.deepcopy(dict(data))

    # --- record actions and approvals ---

    def parts(self, obj: str, key: str) -> dict[str, Any]:
        """An object's `actions` or `approvals` as the admin sees them, by name."""
        doc = self.effective().get(f"objects/{obj}.yaml")
        if doc is None:
            raise EditError(f"there is no object '{obj}'", "object")
        return copy.deepcopy(doc.get(key, {}))

    def set_part(self, obj: str, key: str, name: str, data: Mapping[str, Any] | None) -> None:
        """Add or replace one of an object's actions or approvals (`key`), or with None take
        it away: Setup's own is dropped, the app's is removed by `remove_<key>`."""
        doc = self._object(obj)
        removed = doc.get(f"remove_{key}", [])
        if data is not None:
            doc.setdefault(key, {})[name] = copy.deepcopy(dict(data))
            if name in removed:
                removed.remove(name)
                if not removed:
                    doc.pop(f"remove_{key}")
            return
        if name not in self.parts(obj, key):
            raise EditError(f"'{obj}' has no {key.removesuffix('s')} '{name}'", "name")
        mine = doc.get(key, {})
        mine.pop(name, None)
        if not mine:
            doc.pop(key, None)
        if not self.custom(obj) and name in self.base[f"objects/{obj}.yaml"].get(key, {}):
            doc.setdefault(f"remove_{key}", []).append(name)

    # --- validation rules ---

    def validations(self, obj: str) -> list[dict[str, Any]]:
        """The object's validation rules in the order they are checked, each with `setup`
        (made in Setup, so it can be removed) and `index` (its place in the overlay)."""
        effective = self.effective().get(f"objects/{obj}.yaml")
        if effective is None:
            raise EditError(f"there is no object '{obj}'", "object")
        mine = self.overlays.get(f"objects/{obj}.yaml", {}).get("validations", [])
        rules = effective.get("validations", [])
        first_mine = len(rules) - len(mine)
        return [{**copy.deepcopy(rule), "setup": i >= first_mine,
                 "index": i - first_mine if i >= first_mine else None}
                for i, rule in enumerate(rules)]

    def add_validation(self, obj: str, when: str, message: Mapping[str, str],
                       field: str | None = None) -> None:
        """A rule that refuses a save when `when` holds (its message beside `field`, or the
        record's): in the object's own document for an object made in Setup, else in its
        `extend:` overlay (whose list is appended)."""
        doc = self._object(obj)
        rule: dict[str, Any] = {"when": when, "message": dict(message)}
        if field:
            rule["field"] = field
        doc.setdefault("validations", []).append(rule)

    def remove_validation(self, obj: str, index: int) -> None:
        """Remove the `index`-th validation rule Setup added (the app's own stay)."""
        doc = self._object(obj)
        rules = doc.get("validations", [])
        if not 0 <= index < len(rules):
            raise EditError(f"'{obj}' has no validation rule {index + 1} made in Setup")
        del rules[index]
        if not rules:
            doc.pop("validations")


def _without_field(layout: Mapping[str, Any], name: str) -> dict[str, Any]:
    out = copy.deepcopy(dict(layout))
    for section in out.get("form", {}).get("sections", []):
        section["fields"] = [f for f in section.get("fields", []) if f != name]
    lst = out.get("list", {})
    for key in ("columns", "filters"):
        if key in lst:
            lst[key] = [f for f in lst[key] if f != name]
    if "sort" in lst:
        lst["sort"] = [s for s in lst["sort"] if s.lstrip("-") != name]
    kanban = out.get("kanban")
    if kanban and "card" in kanban:
        kanban["card"] = [f for f in kanban["card"] if f != name]
    return out


__all__ = ["Draft", "EditError"]
