"""Reading an app folder and the apps it extends into classified documents.

`load(app_dir)` is the one entry point: it reads every YAML document of the app and of its
parents, validates each against its JSON Schema, hands them to the builder that merges them
and resolves cross-references, and returns the frozen :class:`AppModel`. Every problem of
the whole load is collected and raised together in one :class:`MetadataError`.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import shipped
from .build import build
from .model import AppModel
from .problems import MetadataError, Problem, did_you_mean
from .schema import validate
from .source import Document, parse_documents, read_documents

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

_FOLDERS = {
    "objects": ("object", "extend"),
    "layouts": ("layout",),
    "workflows": ("workflow", "recipe"),
    "reports": ("report", "dashboard"),
    "forms": ("form",),
}
_TOP_KEYS = {
    "object": "object", "extend": "extend", "layout": "layout", "roles": "roles",
    "workflow": "workflow", "recipe": "recipe", "report": "report", "dashboard": "dashboard",
    "form": "form", "app": "app",
}


@dataclass
class Layer:
    """The documents of one app (or of the admin's overlays), by kind."""

    name: str
    root: Path | None
    app: Document | None = None
    docs: dict[str, list[Document]] = field(default_factory=dict)

    def of(self, kind: str) -> list[Document]:
        return self.docs.get(kind, [])


def display_path(path: Path) -> str:
    """A path as errors show it: relative to the working folder when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _kind_of(doc: Document, allowed: Sequence[str]) -> tuple[str | None, Problem | None]:
    if not isinstance(doc.data, dict):
        return None, doc.problem((), f"a document here must be a map starting with "
                                     f"{' or '.join(k + ':' for k in allowed)}")
    for kind in allowed:
        if _TOP_KEYS[kind] in doc.data:
            return kind, None
    first = next(iter(doc.data), "")
    return None, doc.problem((), f"a document here starts with "
                                 f"{' or '.join(k + ':' for k in allowed)}; found '{first}:'"
                                 + did_you_mean(str(first), allowed))


_LAYERS: dict[Path, tuple[tuple, Layer, list[Problem]]] = {}


def _fingerprint(root: Path) -> tuple:
    files = [root / "app.yaml", root / "roles.yaml"]
    for folder in _FOLDERS:
        files.extend(_yaml_files(root / folder))
    out = []
    for path in files:
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)


def read_layer(root: Path, problems: list[Problem]) -> Layer:
    """Every document of the app folder `root`, schema-validated and classified.

    Remembered while no file of the folder changes: a Setup change reloads the model with
    the app's files as they were, and only the overlays are read again."""
    key = _fingerprint(root)
    cached = _LAYERS.get(root)
    if cached is None or cached[0] != key:
        found: list[Problem] = []
        cached = (key, _read_layer(root, found), found)
        _LAYERS[root] = cached
    problems.extend(cached[2])
    return copy.deepcopy(cached[1])


def _read_layer(root: Path, problems: list[Problem]) -> Layer:
    layer = Layer(name=root.name, root=root)
    app_file = root / "app.yaml"
    if not app_file.is_file():
        problems.append(Problem(display_path(root), None, "",
                                "not an app folder: app.yaml is missing"))
        return layer
    docs, found = read_documents(app_file, display_path(app_file))
    problems.extend(found)
    if docs:
        layer.app = docs[0]
        problems.extend(validate(docs[0], "app"))
        if isinstance(docs[0].data, dict) and isinstance(docs[0].data.get("app"), str):
            layer.name = docs[0].data["app"]
        if len(docs) > 1:
            problems.append(docs[1].problem((), "app.yaml holds one document only"))
    roles_file = root / "roles.yaml"
    targets: list[tuple[Path, Sequence[str]]] = []
    if roles_file.is_file():
        targets.append((roles_file, ("roles",)))
    for folder, kinds in _FOLDERS.items():
        targets.extend((p, kinds) for p in _yaml_files(root / folder))
    for path, kinds in targets:
        docs, found = read_documents(path, display_path(path))
        problems.extend(found)
        _classify(layer, docs, kinds, problems)
    return layer


def _classify(layer: Layer, docs: Iterable[Document], kinds: Sequence[str],
              problems: list[Problem]) -> None:
    for doc in docs:
        kind, problem = _kind_of(doc, kinds)
        if problem:
            problems.append(problem)
            continue
        assert kind is not None
        if kind in ("object", "extend"):
            found = _validate_object(doc, kind)
        else:
            found = validate(doc, kind)
        problems.extend(found)
        if not found or kind in ("object", "extend") and doc.data is not None:
            layer.docs.setdefault(kind, []).append(doc)


def _validate_object(doc: Document, kind: str) -> list[Problem]:
    """Validate an object document field by field.

    A broken field is reported and replaced by a plain text field, and a broken key of the
    object itself (a label split by a comma) is reported and left out, so that the rest of the
    object is still checked and other documents do not report it as missing. Only an object
    without a valid name is dropped.
    """
    data = doc.data
    fields = data.get("fields")
    shell = {k: v for k, v in data.items() if k != "fields"}
    if isinstance(fields, dict):
        shell["fields"] = {}
    elif "fields" in data:
        shell["fields"] = fields
    found = validate(doc, kind, data=shell)
    broken = {re.split(r"[.\[]", p.path)[0] for p in found}
    if found and not isinstance(fields, dict) or broken & {kind, ""}:
        doc.data = None
        return found
    data = {k: v for k, v in data.items() if k not in broken}
    clean = {}
    for name, value in (fields or {}).items():
        field_problems = validate(doc, "field" if kind == "object" else "extend_field",
                                  path=("fields", name), data=value)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            field_problems.append(doc.problem(("fields", name), (
                f"'{name}' is not a valid name (use lowercase letters, digits and _, "
                "starting with a letter, at most 63 characters)")))
        found.extend(field_problems)
        prefix = f"fields.{name}."
        wording = {p.path[len(prefix):].split(".")[0] for p in field_problems} if all(
            p.path.startswith(prefix) for p in field_problems) else {""}
        if not field_problems:
            clean[name] = value
        elif wording <= {"label", "help"} and isinstance(value, dict):  # only its words
            clean[name] = {k: v for k, v in value.items() if k not in wording}
        else:
            clean[name] = {"type": "text"}
    doc.data = {**data, "fields": clean}
    return found


def overlay_layer(documents: Sequence[tuple[str, str]], problems: list[Problem]) -> Layer:
    """The admin's overlay documents (name, YAML text) as a last layer."""
    layer = Layer(name="overlay", root=None)
    kinds = ("layout", "roles", "workflow", "report", "dashboard", "form", "object", "extend")
    for name, text in documents:
        docs, found = parse_documents(text, name)
        problems.extend(found)
        apps = [d for d in docs if isinstance(d.data, dict) and "app" in d.data]
        for doc in apps:
            problems.extend(validate(doc, "app"))
            layer.app = doc
        _classify(layer, [d for d in docs if d not in apps], kinds, problems)
    return layer


def app_search_path(root: Path) -> list[Path]:
    """Where `extends: NAME` looks: beside the app, then the apps shipped with MetaCRM
    (`default_crm`), then the current folder's apps/."""
    places = [root.parent, shipped.apps(), Path.cwd() / "apps"]
    return list(dict.fromkeys(p.resolve() for p in places))


def read_chain(app_dir: Path, problems: list[Problem]) -> list[Layer]:
    """The app and every app it extends, the farthest ancestor first."""
    chain: list[Layer] = []
    seen: list[str] = []
    root = app_dir
    while True:
        layer = read_layer(root, problems)
        if layer.name in seen:
            cycle = " -> ".join([*seen, layer.name])
            app_doc = chain[-1].app if chain else layer.app
            if app_doc is not None:
                problems.append(app_doc.problem(("extends",), f"extends makes a cycle: {cycle}"))
            break
        seen.append(layer.name)
        chain.append(layer)
        parent = layer.app.data.get("extends") if layer.app and isinstance(
            layer.app.data, dict) else None
        if not isinstance(parent, str):
            break
        candidates = [p / parent for p in app_search_path(root)]
        found = next((c for c in candidates if (c / "app.yaml").is_file()), None)
        if found is None:
            assert layer.app is not None
            places = ", ".join(display_path(c.parent) for c in candidates)
            problems.append(layer.app.problem(
                ("extends",), f"cannot find the app '{parent}' to extend (looked in {places})"))
            break
        root = found
    chain.reverse()
    return chain


def recipe_documents(problems: list[Problem]) -> list[Document]:
    """The reusable workflow recipes shipped with MetaCRM (the top-level workflows/)."""
    out: list[Document] = []
    for path in _yaml_files(shipped.recipes()):
        docs, found = read_documents(path, display_path(path))
        problems.extend(found)
        layer = Layer(name="recipes", root=None)
        _classify(layer, docs, ("recipe",), problems)
        out.extend(layer.of("recipe"))
    return out


def load(app_dir: str | os.PathLike[str], *,
         overlays: Sequence[tuple[str, str]] = ()) -> AppModel:
    """Load, validate and merge the app at `app_dir` (and the apps it extends).

    `overlays` are the admin's changes, (name, YAML text) pairs applied last. Raises
    :class:`MetadataError` listing every problem when anything is wrong.
    """
    problems: list[Problem] = []
    root = Path(app_dir).resolve()
    chain = read_chain(root, problems)
    if overlays:
        chain.append(overlay_layer(overlays, problems))
    recipes = recipe_documents(problems)
    model = build(chain, recipes, problems, root=root)
    if problems:
        raise MetadataError(problems)
    assert model is not None
    return model
