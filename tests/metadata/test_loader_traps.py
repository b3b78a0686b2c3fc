"""Issue 15, item 10: the two traps a consultant fell into. A comma inside an unquoted
Vietnamese text in a {...} map splits it: the loader says to quote the text, once, and the
object is still there for the documents that use it (no cascade, no traceback). An unknown
key inside a trigger is named, with "did you mean"."""

from __future__ import annotations

import pytest

from metacrm.metadata import MetadataError, load
from tests.conftest import ESTATES


def problems_of(make_app_dir, changes: dict[str, tuple[str, str]]) -> list[str]:
    files = {}
    for path, (old, new) in changes.items():
        text = (ESTATES / path).read_text(encoding="utf-8")
        assert old in text
        files[path] = text.replace(old, new)
    with pytest.raises(MetadataError) as refused:
        load(make_app_dir(files, base=ESTATES))
    return [str(p) for p in refused.value.problems]


@pytest.mark.parametrize("path, old, new", [
    ("objects/unit.yaml", "label: {en: Unit, vi: Căn hộ}", "label: {en: Unit, vi: Căn hộ, nhà ở}"),
    ("objects/deposit.yaml", "label: {en: Project, vi: Dự án}",
     "label: {en: Project, vi: Dự án, không nhận ghi danh}"),
    ("objects/unit.yaml", "{value: sold, label: {en: Sold, vi: Đã bán}}",
     "{value: sold, label: {en: Sold, vi: Đã bán, đã bàn giao}}"),
])
def test_a_comma_in_an_unquoted_text_says_to_quote_it_once(make_app_dir, path, old, new):
    found = problems_of(make_app_dir, {path: (old, new)})
    assert len(found) == 1, found  # the object and its field stay for everything else
    assert "is not a locale code" in found[0] and "put the text in quotes" in found[0]
    assert path in found[0]


def test_an_unknown_key_in_a_trigger_is_named(make_app_dir):
    found = problems_of(make_app_dir, {"workflows/reserve_unit.yaml": (
        "when: created", "when: {schedule: {date_field: x, evry: year}}")})
    assert len(found) == 1 and "unknown key 'evry' (did you mean 'every'?)" in found[0]
    assert "{'schedule'" not in found[0]
