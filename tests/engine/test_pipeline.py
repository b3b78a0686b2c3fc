"""Corners of the save pipeline: rollups of dates, defaults that read through lookups, and
data-file keys."""

from __future__ import annotations

from datetime import date

import pytest

from metacrm.engine import records
from metacrm.engine.errors import BadRequest
from metacrm.engine.loaddata import load_data
from metacrm.engine.users import create_user

APP = {
    "app.yaml": "app: shop\n",
    "objects/customer.yaml": """
        object: customer
        title: "{name}"
        fields:
          name: {type: text, required: true}
          first_order: {type: rollup, from: sale, via: customer, measure: "min(sold_on)"}
          last_order: {type: rollup, from: sale, via: customer, measure: "max(sold_on)"}
          biggest: {type: rollup, from: sale, via: customer, measure: "max(price)"}
          price_list: {type: currency}
    """,
    "objects/sale.yaml": """
        object: sale
        fields:
          customer: {type: lookup, to: customer}
          sold_on: {type: date}
          price: {type: currency, default: "=customer.price_list"}
    """,
}


@pytest.fixture
def shop(make_app_dir, make_runtime):
    rt = make_runtime(make_app_dir(APP))
    with rt.db.write() as conn:
        user = create_user(conn, rt.schema, "admin", role="admin")
    return rt, rt.context(user)


def test_a_rollup_of_dates_holds_dates(shop):
    _, ctx = shop
    customer = records.create(ctx, "customer", {"name": "Cửa hàng An", "price_list": 500})
    for day in ("2026-03-08", "2026-01-20", "2026-11-02"):
        records.create(ctx, "sale", {"customer": customer["id"], "sold_on": day})
    got = records.get(ctx, "customer", customer["id"])
    assert got["first_order"] == date(2026, 1, 20)
    assert got["last_order"] == date(2026, 11, 2)
    assert got["biggest"] == 500


def test_a_default_may_read_through_a_lookup_named_by_title(shop):
    _, ctx = shop
    records.create(ctx, "customer", {"name": "Cửa hàng Bình", "price_list": 1200})
    sale = records.create(ctx, "sale", {"customer": "Cửa hàng Bình", "sold_on": "2026-05-01"})
    assert sale["price"] == 1200
    explicit = records.create(ctx, "sale", {"customer": "Cửa hàng Bình", "price": 7})
    assert explicit["price"] == 7


def test_a_data_file_key_must_be_a_plain_field(shop, tmp_path):
    rt, _ = shop
    (tmp_path / "sales.yaml").write_text(
        "object: sale\nkey: customer\nrecords:\n  - {customer: Cửa hàng An}\n",
        encoding="utf-8")
    with pytest.raises(BadRequest, match="'customer' is a lookup field; a key is a plain field"):
        load_data(rt, tmp_path)
