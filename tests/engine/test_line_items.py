"""Issue 14, items 3 and 4: line items with VAT and totals that stay current, and the steps
that touch a record's children: the default CRM's Create order (lines copied), Create payment
schedule (create with a count), Create contract; for_each and update of related records in
an app of its own, with their bound."""

from __future__ import annotations

from datetime import date

import pytest

from metacrm.engine import actions, records, workflows
from metacrm.engine.errors import PermissionDenied
from metacrm.engine.query import ListQuery, condition, list_records
from metacrm.engine.steps import MAX_CHILDREN, TooMany
from metacrm.engine.users import create_user
from metacrm.metadata import MetadataError, load
from tests.conftest import SHOP


def _children(ctx, name, via, record_id):
    obj = ctx.model.objects[name]
    return list_records(ctx, name, ListQuery(where=condition(ctx, obj, via, "eq", record_id),
                                             sort=("id",))).items


@pytest.fixture
def quote(ctx):
    quote = records.create(ctx, "quote", {"name": "Máy lọc cho nhà xưởng"})
    records.create(ctx, "quote_line", {"quote": quote["id"], "description": "Máy lọc RO",
                                       "quantity": 2, "unit_price": 10000000, "discount": 15,
                                       "vat_rate": "10"})
    records.create(ctx, "quote_line", {"quote": quote["id"], "description": "Lắp đặt",
                                       "quantity": 1, "unit_price": 1500000,
                                       "vat_rate": "8"})
    return quote


def test_lines_carry_vat_and_the_quote_totals_stay_current(ctx, quote):
    current = records.get(ctx, "quote", quote["id"])
    # 2 x 10,000,000 - 15 % = 17,000,000 (+10 %: 1,700,000); 1,500,000 (+8 %: 120,000)
    assert current["total"] == 18500000 and current["vat_total"] == 1820000
    assert current["grand_total"] == 20320000 and current["max_discount"] == 15
    [first, second] = _children(ctx, "quote_line", "quote", quote["id"])
    records.update(ctx, "quote_line", second["id"], {"vat_rate": "0"})
    current = records.get(ctx, "quote", quote["id"])
    assert current["vat_total"] == 1700000 and current["grand_total"] == 20200000


def test_an_accepted_quote_becomes_an_order_with_the_same_lines_and_totals(ctx, quote):
    with pytest.raises(PermissionDenied, match="does not apply"):  # a draft: not yet
        actions.run(ctx, "quote", quote["id"], "create_order")
    records.update(ctx, "quote", quote["id"], {"status": "accepted"})
    outcome = actions.run(ctx, "quote", quote["id"], "create_order")
    kind, order_id = outcome.opens
    assert kind == "order" and outcome.made == {"order": ("order", order_id)}
    order = records.get(ctx, "order", order_id)
    assert (order["quote"], order["status"]) == (quote["id"], "confirmed")
    assert (order["subtotal"], order["vat_total"], order["grand_total"]) == (
        18500000, 1820000, 20320000)
    assert order["total"] == 20320000  # the rule: an order with lines totals them
    lines = _children(ctx, "order_line", "order", order_id)
    assert [(ln["description"], ln["quantity"], ln["discount"], ln["vat_rate"])
            for ln in lines] == [("Máy lọc RO", 2, 15, "10"), ("Lắp đặt", 1, 0, "8")]
    assert [o for o, _ in outcome.created] == ["order", "order_line", "order_line"]
    with pytest.raises(PermissionDenied):  # one order per quote
        actions.run(ctx, "quote", quote["id"], "create_order")


def test_a_payment_schedule_makes_numbered_instalments_that_add_up(ctx):
    order = records.create(ctx, "order", {"total": 10000000, "status": "confirmed",
                                          "reference": "DH-TEST"})
    outcome = actions.run(ctx, "order", order["id"], "payment_schedule",
                          {"instalments": 3, "first_due": "2027-01-31", "every_months": 1})
    payments = _children(ctx, "payment", "order", order["id"])
    assert [p["due_date"] for p in payments] == [date(2027, 1, 31), date(2027, 2, 28),
                                                 date(2027, 3, 31)]
    assert [p["amount"] for p in payments] == [3333333, 3333333, 3333334]
    assert {p["status"] for p in payments} == {"planned"} and \
        {p["paid_on"] for p in payments} == {None}
    assert payments[1]["notes"] == f"Đợt 2/3 của đơn hàng {order['number']}"
    assert len(outcome.created) == 3
    assert records.get(ctx, "order", order["id"])["paid_amount"] in (None, 0)  # not paid
    with pytest.raises(PermissionDenied):  # scheduled once
        actions.run(ctx, "order", order["id"], "payment_schedule")


def test_a_won_deal_gets_its_contract_from_a_manager(runtime, ctx):
    with runtime.db.write() as conn:
        rep = runtime.context(create_user(conn, runtime.schema, "lan", role="sales_rep"))
        boss = runtime.context(create_user(conn, runtime.schema, "mai",
                                           role="sales_manager"))
    deal = records.create(rep, "opportunity", {"name": "Bảo trì 2027", "amount": 50000000,
                                               "stage": "won"})
    with pytest.raises(PermissionDenied, match="sales_manager may"):
        actions.run(rep, "opportunity", deal["id"], "create_contract")
    records.update(ctx, "opportunity", deal["id"], {"owner": boss.user.id})
    outcome = actions.run(boss, "opportunity", deal["id"], "create_contract",
                          {"start_date": "2027-01-01", "months": 12, "type": "maintenance"})
    contract = records.get(boss, "contract", outcome.made["contract"][1])
    assert (contract["start_date"], contract["end_date"]) == (date(2027, 1, 1),
                                                              date(2027, 12, 31))
    assert (contract["value"], contract["type"], contract["opportunity"]) == (
        50000000, "maintenance", deal["id"])


BULK = """
extend: customer
fields:
  vip: {type: checkbox}
actions:
  discount:
    label: {en: Discount big purchases, vi: Giảm giá đơn lớn}
    inputs:
      rate: {type: percent, default: 10}
    do:
      - update:
          records: purchase
          if: "total >= 100"
          set: {total: "=round(total * (100 - input.rate) / 100, 0)", code: "{code}-{parent.name}"}
"""
RULE = """
workflow: vip_thanks
object: customer
when: updated
if: "vip and changed('vip')"
do:
  - for_each:
      records: purchase.buyer
      if: "not is_blank(total)"
      do:
        - set: {code: "VIP-{code}"}
        - create: {object: purchase, values: {code: "QUÀ-{code}", buyer: "{parent.id}", total: 0}}
"""


@pytest.fixture
def shop(make_app_dir, make_runtime):
    rt = make_runtime(make_app_dir({"objects/bulk.yaml": BULK, "workflows/vip.yaml": RULE},
                                   base=SHOP))
    with rt.db.write() as conn:
        admin = create_user(conn, rt.schema, "admin", role="admin")
    return rt, rt.context(admin)


def test_update_of_related_records_and_for_each_in_a_rule(shop):
    rt, ctx = shop
    lan = records.create(ctx, "customer", {"name": "Lan"})
    for code, total in (("A", 50), ("B", 200), ("C", None)):
        records.create(ctx, "purchase", {"code": code, "total": total, "buyer": lan["id"]})
    actions.run(ctx, "customer", lan["id"], "discount", {"rate": 25})
    rows = _children(ctx, "purchase", "buyer", lan["id"])
    assert [(p["code"], p["total"]) for p in rows] == [("A", 50), ("B-Lan", 150), ("C", None)]
    records.update(ctx, "customer", lan["id"], {"vip": True})
    rows = _children(ctx, "purchase", "buyer", lan["id"])
    assert [(p["code"], p["total"]) for p in rows] == [
        ("VIP-A", 50), ("VIP-B-Lan", 150), ("C", None), ("QUÀ-VIP-A", 0),
        ("QUÀ-VIP-B-Lan", 0)]
    [run] = workflows.runs(ctx, workflow="vip_thanks")
    assert run["actions"][0]["action"] == "for_each" and run["actions"][0]["records"] == 3


def test_a_step_over_too_many_related_records_says_the_limit(shop):
    rt, ctx = shop
    lan = records.create(ctx, "customer", {"name": "Lan"})
    records.bulk_create(ctx, "purchase", [{"code": f"P{i}", "total": 500, "buyer": lan["id"]}
                                          for i in range(MAX_CHILDREN + 1)])
    with pytest.raises(TooMany, match=f"more than {MAX_CHILDREN}") as refused:
        actions.run(ctx, "customer", lan["id"], "discount")
    assert refused.value.status == 422 and refused.value.details["limit"] == MAX_CHILDREN
    assert {p["total"] for p in _children(ctx, "purchase", "buyer", lan["id"])[:5]} == {500}


@pytest.mark.parametrize("change, message", [
    ("records: purchase\n", "records: purchases\n"),
    ("records: purchase.buyer", "records: purchase.buyr"),
    ('buyer: "{parent.id}"', 'buyer: "{parent.idd}"'),
    ('"{code}-{parent.name}"', '"{code}-{parent.nam}"'),
])
def test_a_wrong_relation_or_parent_path_is_refused_at_load(make_app_dir, change, message):
    app = make_app_dir({"objects/bulk.yaml": BULK.replace(change, message, 1),
                        "workflows/vip.yaml": RULE.replace(change, message, 1)}, base=SHOP)
    with pytest.raises(MetadataError) as refused:
        load(app)
    text = str(refused.value)
    assert "bulk.yaml:" in text or "vip.yaml:" in text
    assert {"records: purchases\n": "did you mean 'purchase'",
            "records: purchase.buyr": "purchase has no lookup 'buyr' to customer",
            'buyer: "{parent.idd}"': "did you mean 'id'",
            '"{code}-{parent.nam}"': "did you mean 'name'"}[message] in text
