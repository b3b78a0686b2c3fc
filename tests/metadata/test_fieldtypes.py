"""The field types are declared once (metadata/fieldtypes.py): the loader, the engine, Setup
and the API document all answer from that table, so they cannot disagree. They did: a
layout could sort a list by a long text, which the loader took and every page of that list
then refused."""

from __future__ import annotations

import pytest

from metacrm.engine.schema import build_schema, column_type
from metacrm.metadata import MetadataError, load
from metacrm.metadata.fieldtypes import FORMULA_RETURNS, SETUP_TYPES, TYPES
from metacrm.web.openapi import openapi_document

APP = """
app: registry
label: {en: Registry, vi: Danh mục}
navigation: [thing]
"""


def thing(fields: str, sort: str = "[name]") -> dict[str, str]:
    return {
        "app.yaml": APP,
        "objects/thing.yaml": "object: thing\nfields:\n  name: {type: text}\n" + fields,
        "layouts/thing.yaml": f"layout: thing\nlist:\n  columns: [name]\n  sort: {sort}\n",
    }


DEFINITIONS = {
    "lookup": "{type: lookup, to: thing}",
    "formula": "{type: formula, returns: integer, expression: '1 + 1'}",
    "autonumber": "{type: autonumber, format: 'T-{000}'}",
    "rollup": "{type: rollup, from: thing, via: parent, measure: count}",
    "picklist": "{type: picklist, options: [a, b]}",
    "multipicklist": "{type: multipicklist, options: [a, b]}",
}


def every_type() -> str:
    lines = ["  parent: {type: lookup, to: thing}"]
    for name in TYPES:
        lines.append(f"  f_{name}: " + DEFINITIONS.get(name, f"{{type: {name}}}"))
    return "\n".join(lines) + "\n"


def test_every_declared_type_loads_and_has_a_column(make_app_dir):
    model = load(make_app_dir(thing(every_type())))
    fields = model.objects["thing"].fields
    assert {fields[f"f_{name}"].type for name in TYPES} == set(TYPES)
    schema = build_schema(model)
    for name in TYPES:
        assert f"f_{name}" in schema.table("thing").c
        assert column_type(fields[f"f_{name}"]) is not None
    # the API document describes a field of every type
    properties = openapi_document(model)["components"]["schemas"]["Thing"]["properties"]
    assert {f"f_{name}" for name in TYPES} <= set(properties)


def test_a_type_not_in_the_table_is_refused_by_name(make_app_dir):
    with pytest.raises(MetadataError, match="unknown field type 'money'"):
        load(make_app_dir(thing("  price: {type: money}\n")))


def test_a_formula_returns_only_a_declared_result_type(make_app_dir):
    for returns in FORMULA_RETURNS:
        load(make_app_dir(thing(f"  x: {{type: formula, returns: {returns}, "
                                f"expression: 'name'}}\n")))
    with pytest.raises(MetadataError, match="formula result type"):
        load(make_app_dir(thing("  x: {type: formula, returns: lookup, expression: 'name'}\n")))


@pytest.mark.parametrize("kind", [name for name, t in TYPES.items() if not t.sortable])
def test_a_list_cannot_be_sorted_by_a_field_no_list_can_sort(make_app_dir, kind):
    definition = DEFINITIONS.get(kind, f"{{type: {kind}}}")
    with pytest.raises(MetadataError, match=f"'body' is a {kind} field and cannot be sorted"):
        load(make_app_dir(thing(f"  body: {definition}\n", sort="[body]")))


def test_setup_offers_every_type_but_the_rollup():
    assert set(SETUP_TYPES) == set(TYPES) - {"rollup"}
    assert not TYPES["rollup"].in_setup
