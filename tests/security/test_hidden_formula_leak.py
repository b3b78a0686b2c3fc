"""Leak 4: formulas over hidden fields. Setup accepted `income_k = income / 1000` and a
sales rep, from whom `income` is hidden, then read it, filtered on it and saw it on the
timeline. Now a formula or rollup that reads a field hidden from a role is hidden from that
role too (derived when the model loads), Setup's review says so, and a new formula is
computed for the records saved before it."""

from __future__ import annotations

import pytest

from metacrm.engine import query, records
from metacrm.engine.access import Access
from metacrm.engine.errors import BadRequest
from metacrm.engine.users import create_token

INCOME_K = {"name": "income_k", "type": "formula", "returns": "number",
            "expression": "income / 1000", "label_en": "Income (k)",
            "label_vi": "Thu nhập (nghìn)"}


@pytest.fixture
def crm(fresh_site):
    site = fresh_site()
    site.user("admin")
    site.user("lan", role="sales_rep")
    site.user("hoa", role="sales_manager")
    ctx = site.ctx("admin")
    earlier = records.create(ctx, "contact", {"last_name": "Đoàn", "first_name": "Anh Hoàng",
                                              "income": 45_000_000, "email": "hoang@vanphuc.vn"})
    assert site.login("admin").status_code == 303
    return site, earlier


def test_setup_says_the_formula_will_be_hidden_and_computes_it_for_saved_records(crm):
    site, earlier = crm
    review, done = site.review_then_apply("/setup/objects/contact/fields/new", INCOME_K)
    assert 'id="derived-hidden"' in review.text
    hides = review.text.split('id="derived-hidden"')[1].split("</ul>")[0]
    assert "Sales rep" in hides or "Nhân viên kinh doanh" in hides
    assert "Trưởng phòng" not in hides and "Sales manager" not in hides  # hoa reads income
    assert done.status_code == 303
    # the record saved before the formula existed has its value at once
    stored = records.get(site.ctx("admin"), "contact", earlier["id"])
    assert stored["income_k"] == 45_000


def test_a_formula_over_a_hidden_field_is_hidden_everywhere(crm):
    site, earlier = crm
    site.review_then_apply("/setup/objects/contact/fields/new", INCOME_K)
    rt = site.rt
    lan, hoa = site.ctx("lan"), site.ctx("hoa")
    assert "income_k" in lan.hidden("contact") and "income_k" not in hoa.hidden("contact")
    assert lan.field_access("contact", "income_k") == "hidden"
    # the record, the list, a filter and a sort
    assert "income_k" not in records.get(lan, "contact", earlier["id"])
    assert "income_k" not in query.list_records(lan, "contact").items[0]
    obj = rt.model.objects["contact"]
    for params in ({"income_k__gt": "1"}, {"filter": "income_k > 1"}):
        with pytest.raises(BadRequest):
            query.parse_params(lan, obj, params)
    with pytest.raises(BadRequest):
        query.parse_sort(lan, obj, "income_k")
    # the timeline of a change
    records.update(site.ctx("admin"), "contact", earlier["id"], {"income": 60_000_000})
    trail = records.history(lan, "contact", earlier["id"])
    assert all("income_k" not in row["changes"] for row in trail)
    assert any("income_k" in row["changes"] for row in records.history(hoa, "contact",
                                                                        earlier["id"]))
    # over the API
    with rt.db.write() as conn:
        token = create_token(conn, rt.schema, lan.user.id)
    answer = site.client.get(f"/api/v1/contact/{earlier['id']}",
                             headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and "income_k" not in answer.json()
    assert site.client.get("/api/v1/contact", params={"income_k__gt": "1"}, headers={
        "Authorization": f"Bearer {token}"}).status_code == 400


def test_derived_hiding_follows_formulas_of_formulas_lookups_and_rollups(make_app_dir):
    from metacrm.metadata import load

    app = make_app_dir({
        "app.yaml": "app: t\nlabel: {en: T, vi: T}\n",
        "objects/client.yaml": """
            object: client
            label: {en: Client, vi: Khách}
            fields:
              name: {type: text, label: {en: Name, vi: Tên}}
              margin: {type: number, label: {en: Margin, vi: Biên lợi nhuận}}
              margin_pct:
                {type: formula, returns: number, expression: "margin * 100", label: {en: M, vi: M}}
              margin_band:
                type: formula
                returns: text
                expression: "if(margin_pct > 10, 'high', 'low')"
                label: {en: B, vi: B}
              name_upper:
                {type: formula, returns: text, expression: "upper(name)", label: {en: U, vi: U}}
              deals_margin:
                {type: rollup, from: deal, via: client, measure: "sum(cost)", label: {en: D, vi: D}}
        """,
        "objects/deal.yaml": """
            object: deal
            label: {en: Deal, vi: Thương vụ}
            fields:
              client: {type: lookup, to: client, label: {en: Client, vi: Khách}}
              cost: {type: number, label: {en: Cost, vi: Chi phí}}
              client_margin:
                type: formula
                returns: checkbox
                expression: "client.margin_band == 'high'"
                label: {en: C, vi: C}
        """,
        "roles.yaml": """
            roles:
              admin: {label: {en: Admin, vi: Quản trị}, all: true}
              clerk:
                label: {en: Clerk, vi: Nhân viên}
                objects:
                  client: {read: all}
                  deal: {read: all}
                fields:
                  client.margin: hidden
                  deal.cost: hidden
        """})
    model = load(str(app))
    access = Access(model)
    assert access.hidden_fields("clerk", "client") == {
        "margin", "margin_pct", "margin_band", "deals_margin"}
    assert access.hidden_fields("clerk", "deal") == {"cost", "client_margin"}
    assert access.derived_hidden("clerk")["client"]["margin_band"] == "client.margin_pct"
    assert access.hidden_fields("admin", "client") == frozenset()


def test_a_rollup_over_an_object_the_role_may_not_read_is_hidden():
    from metacrm.metadata import load

    from ..conftest import DEFAULT_APP

    access = Access(load(str(DEFAULT_APP)))
    # marketing may not read orders: what contacts' rollups add up of them is not theirs
    hidden = access.hidden_fields("marketing", "contact")
    assert {"total_spent", "average_order_value"} <= hidden
    assert access.derived_hidden("marketing")["contact"]["total_spent"].startswith("order.")
    # support agents read orders
    assert "total_spent" not in access.hidden_fields("support_agent", "contact")


def test_a_changed_formula_recomputes_saved_records_and_the_rollups_over_them(crm):
    site, _ = crm
    admin = site.ctx("admin")
    quote = records.create(admin, "quote", {"name": "Báo giá"})
    records.create(admin, "quote_line", {"quote": quote["id"], "description": "Lõi lọc",
                                         "quantity": 2, "unit_price": 100_000})
    assert records.get(admin, "quote", quote["id"])["total"] == 200_000
    review, done = site.review_then_apply("/setup/objects/quote_line/fields/line_total", {
        "type": "formula", "returns": "currency", "label_en": "Line total",
        "label_vi": "Thành tiền", "expression": "quantity * unit_price * 2"})
    assert done.status_code == 303, review.text[:300]
    admin = site.ctx("admin")
    assert records.get(admin, "quote", quote["id"])["total"] == 400_000
