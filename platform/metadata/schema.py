"""JSON Schema validation of metadata documents, with messages a consultant can act on.

The schemas live in `schemas/metacrm.schema.yaml`, one `$defs` entry per document kind.
jsonschema's own messages are rewritten into one plain sentence each; the path inside the
document is kept so that the problem can name its line.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..fieldtypes import FIELD_TYPES, FORMULA_RETURNS
from .problems import Problem, did_you_mean, known
from .source import Document

KINDS = ("app", "object", "extend", "layout", "roles", "workflow", "recipe", "report",
         "dashboard", "form")


@cache
def _definitions() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("schemas/metacrm.schema.yaml").read_text(
        encoding="utf-8")
    defs = yaml.safe_load(text)["$defs"]
    keys = defs["field_keys"]["properties"]  # the type names are declared once, in Python
    keys["type"]["enum"] = list(FIELD_TYPES)
    keys["returns"]["enum"] = list(FORMULA_RETURNS)
    return defs


@cache
def validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/$defs/{kind}", "$defs": _definitions()})


def validate(doc: Document, kind: str, path: tuple = (), data: Any = None) -> list[Problem]:
    """Problems of `data` (default: the whole document) against the schema of `kind`."""
    instance = doc.data if data is None else data
    found: list[tuple[tuple, str]] = []
    for error in validator(kind).iter_errors(instance):
        for sub_path, message in _explain(error):
            if ((*path, *sub_path), message) not in found:
                found.append(((*path, *sub_path), message))
    # a key that is itself wrong (a text split by a comma) is the one problem at its place
    keys = {where for where, message in found if isinstance(message, _KeyMessage)}
    return [doc.problem(where, message) for where, message in found
            if isinstance(message, _KeyMessage) or where not in keys]


class _KeyMessage(str):
    """A message about a key itself (not its value): the one problem at the key's place."""


_TYPE_NAMES = {"string": "a text", "object": "a map", "array": "a list",
               "integer": "a whole number", "number": "a number", "boolean": "true or false",
               "null": "nothing"}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    return f"the text '{value}'"


def _types(types: str | list[str]) -> str:
    names = [_TYPE_NAMES.get(t, t) for t in ([types] if isinstance(types, str) else types)]
    return " or ".join(dict.fromkeys(names))


def _explain(error: ValidationError) -> list[tuple[tuple, str]]:
    """(path, message) pairs for one jsonschema error."""
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    value = error.instance
    custom = schema.get("x-message")
    if "propertyNames" in error.schema_path:
        # the offending key is the instance; point at it
        message = f"'{value}' {custom}" if custom else error.message
        if isinstance(value, str) and (" " in value or not value.isascii()):
            message += (f" — a comma inside a text written in {{...}} splits it: put the text "
                        f"in quotes, e.g. vi: \"..., {value}\"")
        return [((*path, value), _KeyMessage(message))]
    if kind in ("oneOf", "anyOf"):
        return _explain_choice(error, path)
    if kind == "required":
        missing = [k for k in error.validator_value if k not in value]
        type_name = value.get("type") if isinstance(value, dict) else None
        if "then" in error.schema_path and type_name:
            article = "an" if str(type_name)[:1] in "aeiou" else "a"
            return [(path, f"{article} {type_name} field needs '{k}'") for k in missing]
        return [(path, f"missing required key '{k}'") for k in missing]
    if kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extras = [k for k in value if k not in schema.get("properties", {})]
        if error.validator_value is False:
            return [((*path, k), f"unknown key '{k}'" + (did_you_mean(k, allowed)
                                                         or f" (known: {known(allowed)})"))
                    for k in extras]
    if kind == "enum":
        what = schema.get("x-what")
        choices = [str(c) for c in error.validator_value]
        if what:
            return [(path, f"unknown {what} '{value}'" + did_you_mean(str(value), choices)
                     + f" (known: {known(choices, 25)})")]
        return [(path, f"'{value}' is not one of {known(choices)}")]
    if kind == "type":
        return [(path, f"expected {_types(error.validator_value)}, got {_describe(value)}")]
    if kind == "pattern":
        return [(path, f"'{value}' {custom}" if custom
                 else f"'{value}' does not match {error.validator_value}")]
    if kind in ("not", "maxProperties", "minProperties") and custom:
        return [(path, custom)]
    if kind == "minItems":
        return [(path, f"needs at least {error.validator_value} item"
                 + ("s" if error.validator_value != 1 else ""))]
    if kind == "maxItems":
        return [(path, f"takes at most {error.validator_value} items")]
    if kind == "minProperties":
        return [(path, "must not be empty")]
    if kind == "minLength":
        return [(path, "must not be empty")]
    if kind == "minimum":
        return [(path, f"must be at least {error.validator_value}")]
    if kind == "maximum":
        return [(path, f"must be at most {error.validator_value}")]
    if kind == "const":
        return [(path, f"must be {error.validator_value!r}")]
    return [(path, error.message)]


def _explain_choice(error: ValidationError, path: tuple) -> list[tuple[tuple, str]]:
    """A oneOf/anyOf failure: explain the branch that fits the value's shape best."""
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    compound = isinstance(error.instance, (dict, list))  # no list of words can be a map
    shaped = {
        i: errs for i, errs in branches.items()
        if not any((e.validator == "type" or e.validator == "enum" and compound)
                   and not e.relative_path for e in errs)
    }
    if not shaped:
        custom = error.schema.get("x-message") if isinstance(error.schema, dict) else None
        if custom:
            return [(path, custom)]
        wanted = []
        for sub in error.context or ():
            if sub.validator == "type" and not sub.relative_path:
                wanted.append(_types(sub.validator_value))
            elif sub.validator == "enum" and not sub.relative_path:
                wanted.append("one of " + known(str(c) for c in sub.validator_value))
        if wanted:
            return [(path, f"expected {' or '.join(dict.fromkeys(wanted))}, "
                           f"got {_describe(error.instance)}")]
        return [(path, error.message)]
    best = min(shaped.values(), key=len)
    out: list[tuple[tuple, str]] = []
    for sub in best:
        out.extend(_explain(sub))
    return out
