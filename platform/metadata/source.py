"""YAML documents that remember where each value came from.

PyYAML's composer gives nodes with marks; we build plain Python data from them ourselves so
that every path inside a document maps to its line, and so that a duplicate key is a
problem rather than a silent overwrite. Booleans follow YAML 1.2 (`true`/`false` only), so
a picklist option `no` or a key `on` stays a string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .problems import Path, PathPart, Problem, format_path


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
if getattr(yaml, "__with_libyaml__", False):
    class _CLoader(yaml.CSafeLoader):
        """The same rules, parsed by libyaml (several times faster)."""

    _CLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
    _Loader = _CLoader  # type: ignore[misc]  # noqa: F811


@dataclass
class Document:
    """One YAML document of a file, as plain data, with the line of every path in it."""

    data: Any
    file: str
    index: int = 0
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def problem(self, path: Path, message: str) -> Problem:
        return Problem(self.file, self.line(path), format_path(path), message)


def _build(node: Node, path: Path, doc: Document, constructor: SafeConstructor,
           problems: list[Problem]) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, MappingNode):
        constructor.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                problems.append(Problem(doc.file, key_node.start_mark.line + 1, format_path(path),
                                        "a key must be a plain value, not a list or a map"))
                continue
            key = constructor.construct_object(key_node)
            if not isinstance(key, (str, int)):
                key = str(key)
            if key in out:
                problems.append(Problem(doc.file, key_node.start_mark.line + 1,
                                        format_path((*path, key)),
                                        f"duplicate key '{key}' (first given on line "
                                        f"{doc.lines.get((*path, key))})"))
                continue
            child: Path = (*path, key)
            doc.lines[child] = key_node.start_mark.line + 1
            out[key] = _build(value_node, child, doc, constructor, problems)
        return out
    if isinstance(node, SequenceNode):
        return [_build(item, (*path, i), doc, constructor, problems)
                for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)


def parse_documents(text: str, file: str) -> tuple[list[Document], list[Problem]]:
    """Every document of a YAML text, and the problems found reading it."""
    problems: list[Problem] = []
    documents: list[Document] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = exc.problem or exc.context or "cannot be read"
        return [], [Problem(file, line, "", f"YAML syntax error: {reason}")]
    except yaml.YAMLError as exc:
        return [], [Problem(file, None, "", f"YAML syntax error: {exc}")]
    for index, node in enumerate(nodes):
        if node is None:
            continue
        doc = Document(data=None, file=file, index=index)
        constructor = SafeConstructor()
        try:
            doc.data = _build(node, (), doc, constructor, problems)
        except yaml.YAMLError as exc:
            problems.append(Problem(file, node.start_mark.line + 1, "", f"YAML error: {exc}"))
            continue
        documents.append(doc)
    return documents, problems


def read_documents(path: FsPath, display: str) -> tuple[list[Document], list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return [], [Problem(display, None, "", "the file is not UTF-8 text")]
    except OSError as exc:
        return [], [Problem(display, None, "", f"cannot read the file: {exc.strerror}")]
    return parse_documents(text, display)


__all__ = ["Document", "PathPart", "parse_documents", "read_documents"]
