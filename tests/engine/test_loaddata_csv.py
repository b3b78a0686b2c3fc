"""Issue 15, item 10: `load-data` reads `NN_object.csv` files in their number's order like
YAML ones, and a CSV column written `key:code` makes a second load update the records it
finds instead of failing on the unique code."""

from __future__ import annotations

import pytest

from metacrm.engine import query
from metacrm.engine.errors import CrmError
from metacrm.engine.loaddata import load_data
from tests.conftest import ESTATES


def _units(rt):
    ctx = rt.system_context()
    page = query.list_records(ctx, "unit", query.ListQuery(sort=("code",)))
    return [(u["code"], u["status"], int(u["price"] or 0)) for u in page.items]


def test_csv_files_load_in_order_and_a_key_column_updates(make_runtime, tmp_path):
    rt = make_runtime(ESTATES)
    (tmp_path / "10_project.csv").write_text("name,city\nĐồi Thông,Đà Lạt\n", encoding="utf-8")
    (tmp_path / "20_unit.csv").write_text(
        "key:code,project,price,status\nA-101,Đồi Thông,3000000000,available\n\n"
        "A-102,Đồi Thông,3100000000,reserved\n", encoding="utf-8")
    first = load_data(rt, tmp_path)
    assert _units(rt) == [("A-101", "available", 3_000_000_000),
                          ("A-102", "reserved", 3_100_000_000)]
    (tmp_path / "10_project.csv").unlink()
    (tmp_path / "20_unit.csv").write_text(
        "key:code,project,price\nA-101,Đồi Thông,3200000000\nA-103,Hồ Tây,2900000000\n",
        encoding="utf-8")  # Hồ Tây comes from 05_project.csv, loaded first
    (tmp_path / "05_project.csv").write_text("name\nHồ Tây\n", encoding="utf-8")
    second = load_data(rt, tmp_path)
    assert [("A-101", "available", 3_200_000_000)] == _units(rt)[:1]  # updated in place
    assert len(_units(rt)) == 3 and len(first) == 2 and len(second) == 2


def test_two_key_columns_are_refused(make_runtime, tmp_path):
    rt = make_runtime(ESTATES)
    (tmp_path / "unit.csv").write_text("key:code,key:price\nA,1\n", encoding="utf-8")
    with pytest.raises(CrmError, match="one column may be the key, not code, price"):
        load_data(rt, tmp_path)
