"""The merged metadata as plain YAML documents: an app, the apps it extends and the admin's
overlays flattened into one self-contained app.

`metacrm export` writes these documents; Setup starts every change from them (the effective
layout, role or object an admin edits) and stores what it changed as overlay documents.
Merging happens on the raw documents, so expressions, recipes (`use:`) and labels are
written back exactly as they were typed.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .loader import overlay_layer, read_chain
from .objects import merge_objects
from .problems import MetadataError, Problem
from .source import parse_documents

Documents = dict[str, dict[str, Any]]
"""path inside an app folder ('objects/contact.yaml') -> the document's data"""

_NAMED = {  # kind -> (key, folder)
    "layout": ("layout", "layouts"),
    "workflow": ("workflow", "workflows"),
    "recipe": ("recipe", "workflows/recipes"),
    "report": ("report", "reports"),
    "dashboard": ("dashboard", "reports/dashboards"),
    "form": ("form", "forms"),
}


class _Dumper(yaml.SafeDumper):
    """Block-style YAML that keeps keys in the order they were written."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(data: Any) -> str:
    """YAML text for one document, in the order its keys were written."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)


def overlay_texts(overlays: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Overlay documents as the loader takes them: (name, YAML text) pairs."""
    return [(name, data if isinstance(data, str) else dump(data))
            for name, data in sorted(overlays.items())]


def merged(app_dir: str | os.PathLike[str], overlays: Mapping[str, Any] = ()) -> Documents:
    """Every document of the app at `app_dir`, its parents and `overlays`, merged.

    Raises MetadataError if the documents cannot even be read; cross-references are not
    checked here (load() does that).
    """
    problems: list[Problem] = []
    layers = read_chain(Path(app_dir).resolve(), problems)
    if overlays:
        layers.append(overlay_layer(overlay_texts(overlays), problems))
    if problems:
        raise MetadataError(problems)
    out: Documents = {}
    app: dict[str, Any] = {}
    for layer in layers:
        if layer.app is not None and isinstance(layer.app.data, dict):
            app.update({k: v for k, v in layer.app.data.items() if k != "extends"})
    out["app.yaml"] = copy.deepcopy(app)
    for name, draft in merge_objects(layers, problems).items():
        doc: dict[str, Any] = {"object": name}
        for key in ("label", "plural", "title", "search", "description"):
            if key in draft.data:
                doc[key] = copy.deepcopy(draft.data[key])
        doc["fields"] = {fname: copy.deepcopy(data) for fname, (data, _) in draft.fields.items()}
        for key in ("validations", "indexes", "duplicates", "unique_together"):
            items = [copy.deepcopy(item) for item, _ in draft.lists.get(key, [])]
            if items:
                doc[key] = items
        for key in ("actions", "approvals"):
            if getattr(draft, key):
                doc[key] = {a: copy.deepcopy(data) for a, (data, _) in getattr(draft,
                                                                                key).items()}
        out[f"objects/{name}.yaml"] = doc
    roles: dict[str, Any] = {}
    for layer in layers:
        for doc in layer.of("roles"):
            roles.update(copy.deepcopy(doc.data["roles"]))
    if roles:
        out["roles.yaml"] = {"roles": roles}
    for kind, (key, folder) in _NAMED.items():
        for layer in layers:
            for doc in layer.of(kind):
                out[f"{folder}/{doc.data[key]}.yaml"] = copy.deepcopy(doc.data)
    if problems:
        raise MetadataError(problems)
    return out


def write_app(out_dir: str | os.PathLike[str], documents: Documents) -> list[Path]:
    """Write `documents` as an app folder (one document per file). Returns the files."""
    root = Path(out_dir)
    written = []
    for name, data in sorted(documents.items()):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(data), encoding="utf-8")
        written.append(path)
    return written


def read_folder(folder: str | os.PathLike[str]) -> Documents:
    """The documents of an exported app folder, by path (for `metacrm apply`)."""
    root = Path(folder)
    out: Documents = {}
    problems: list[Problem] = []
    for path in sorted(root.rglob("*")):
        if path.suffix in (".yaml", ".yml") and path.is_file():
            name = path.relative_to(root).as_posix()
            docs, found = parse_documents(path.read_text(encoding="utf-8"), name)
            problems.extend(found)
            if docs and isinstance(docs[0].data, dict):
                out[name] = docs[0].data
    if problems:
        raise MetadataError(problems)
    return out


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(document, unified diff) for each document that differs between two sets."""
    out = []
    for name in sorted(set(old) | set(new)):
        a = dump(old[name]) if name in old else ""
        b = dump(new[name]) if name in new else ""
        if a != b:
            lines = difflib.unified_diff(a.splitlines(), b.splitlines(), f"a/{name}",
                                         f"b/{name}", lineterm="", n=2)
            out.append((name, "\n".join(lines)))
    return out




def overlays_for(base: Documents, target: Documents) -> tuple[dict[str, Any], list[str]]:
    """The overlay documents that turn the app `base` into `target` (an exported app), and
    what they cannot express (a document of the app that the target no longer has).

    A layout, the roles, a workflow, report or form that differs is replaced whole; an
    object of the app is changed field by field with `extend:` (fields added or changed,
    `remove_fields` for those the target dropped); an object the app lacks is an `object:`."""
    out: dict[str, Any] = {}
    missing: list[str] = []
    for path, doc in target.items():
        old = base.get(path)
        if old == doc:
            continue
        if path == "app.yaml":
            changed = {k: v for k, v in doc.items() if old is None or old.get(k) != v}
            if changed:
                out[path] = {"app": (old or doc)["app"], **{k: v for k, v in changed.items()
                                                             if k != "app"}}
        elif path.startswith("objects/") and old is not None:
            out[path] = _extend_between(old, doc, missing)
        else:
            out[path] = copy.deepcopy(doc)
    for path in base:
        if path not in target:
            missing.append(f"{path} is in the app but not in the folder; an installation "
                           "cannot delete its app's documents (hide or switch them off "
                           "instead)")
    return out, missing


def _extend_between(old: dict[str, Any], new: dict[str, Any], missing: list[str]
                    ) -> dict[str, Any]:
    name = new["object"]
    doc: dict[str, Any] = {"extend": name}
    for key in ("label", "plural", "title", "search"):
        if new.get(key) != old.get(key) and key in new:
            doc[key] = copy.deepcopy(new[key])
    fields = {f: copy.deepcopy(d) for f, d in new["fields"].items() if old["fields"].get(f) != d}
    for fname, data in fields.items():
        for key, value in old["fields"].get(fname, {}).items():
            if key not in data and isinstance(value, bool):
                data[key] = False
    if fields:
        doc["fields"] = fields
    removed = [f for f in old["fields"] if f not in new["fields"]]
    if removed:
        doc["remove_fields"] = removed
    for key in ("validations", "indexes", "duplicates", "unique_together"):
        before, after = old.get(key, []), new.get(key, [])
        if after[:len(before)] != before:
            missing.append(f"objects/{name}.yaml: {key} of the app cannot be removed or "
                           "changed, only added to")
        extra = after[len(before):] if after[:len(before)] == before else \
            [item for item in after if item not in before]
        if extra:
            doc[key] = copy.deepcopy(extra)
    for key in ("actions", "approvals"):
        before, after = old.get(key, {}), new.get(key, {})
        changed = {a: copy.deepcopy(d) for a, d in after.items() if before.get(a) != d}
        if changed:
            doc[key] = changed
        dropped = [a for a in before if a not in after]
        if dropped:
            doc[f"remove_{key}"] = dropped
    return doc


__all__ = ["Documents", "differences", "dump", "merged", "overlay_texts", "overlays_for",
           "read_folder", "write_app"]
