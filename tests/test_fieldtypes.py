"""The field types are declared once (platform/fieldtypes/): the loader, the engine, the
screens, Setup, imports and the API document all answer from that registry, so they cannot
disagree. They did: a layout could sort a list by a long text, which the loader took and
every page of that list then refused."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from starlette.datastructures import FormData

from metacrm.engine.coerce import coerce
from metacrm.engine.schema import build_schema, column_type
from metacrm.fieldtypes import FORMULA_RETURNS, SETUP_TYPES, TYPES
from metacrm.metadata import MetadataError, load
from metacrm.web.i18n import Formats
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


WIDGETS = Path(__file__).resolve().parents[1] / "layouts" / "_widgets.html"


def test_every_widget_a_type_names_has_its_macro():
    template = WIDGETS.read_text(encoding="utf-8")
    table = re.search(r"{% set inputs = {(.*?)} %}", template, re.S).group(1)
    drawn = set(re.findall(r"'([a-z]+)': input_[a-z]+", table)) | {"text", "email", "tel", "url"}
    for name in set(re.findall(r"'[a-z]+': (input_[a-z]+)", table)):
        assert f"{{% macro {name}(" in template
    assert {t.widget for t in TYPES.values() if not t.computed} <= drawn


TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TYPED = {  # what a person types into each kind of field
    "text": "Bàn gỗ Đức", "textarea": "dòng 1\ndòng 2", "email": "Ban.Go@Example.VN",
    "phone": "0912 345 678", "url": "metacrm.example.vn", "integer": "1500",
    "number": "12.5", "currency": "1500000.5", "percent": "12.5", "date": "08/03/2026",
    "datetime": "2026-03-08T09:30", "time": "8h30", "checkbox": True, "picklist": "B",
    "multipicklist": ["b", "a"], "lookup": 7, "user": 3, "file": "file:12",
}


def submitted(name: str, widget: str, text) -> FormData:
    """The form a browser sends for a widget showing `text` (the widget's own conventions:
    a hidden __present beside a checkbox or choices, the chosen id beside a lookup)."""
    items = [(f"{name}__present", "1")]
    if widget == "multiselect":
        items += [(name, v) for v in text]
    elif widget == "checkbox":
        items += [(name, "1")] if text else []
    elif widget == "lookup":
        items += [(name, "Tên"), (f"{name}__id", text)]
    else:
        items.append((name, text))
    return FormData(items)


@pytest.mark.parametrize("language", ["vi", "en"])
def test_a_value_survives_the_form_in_every_type(make_app_dir, language):
    """Stored, drawn into its input in the reader's language, sent back and read: the same
    value, for every type a form can edit."""
    model = load(make_app_dir(thing(every_type())))
    fmt = Formats(language, "VND", TZ)
    tried = set()
    for name, fdef in model.objects["thing"].fields.items():
        kind = fdef.kind
        if fdef.computed or fdef.system or kind.widget == "file" or not name.startswith("f_"):
            continue
        stored = coerce(fdef, TYPED[fdef.type], TZ)
        shown = kind.input(fdef, stored, fmt)
        read = kind.read(fdef, submitted(name, kind.widget, shown), fmt)
        assert read is not None, name
        assert coerce(fdef, read[0], TZ) == stored, (name, shown, read)
        tried.add(fdef.type)
    assert tried == {t.name for t in TYPES.values() if not t.computed and t.widget != "file"}


def test_a_list_default_of_several_options_stays_a_list(make_app_dir):
    model = load(make_app_dir(thing("  tags: {type: multipicklist, options: [a, b, c], "
                                    "default: [c, a]}\n  size: {type: picklist, "
                                    "options: ['1', '2'], default: 2}\n")))
    tags, size = model.objects["thing"].fields["tags"], model.objects["thing"].fields["size"]
    assert tags.default == ["c", "a"] and coerce(tags, tags.default, TZ) == ["a", "c"]
    assert size.default == "2"  # a picklist's default names its option as text
