"""Issue 14, item 7: date and text functions in formulas, filters and rules, and text
templates that read through lookups and write values as people read them."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from metacrm.engine import records
from metacrm.engine.query import ListQuery, list_records, parse_filter_expression
from metacrm.engine.users import create_user
from metacrm.metadata import MetadataError, load
from metacrm.metadata.expressions import Clock, EvalError, evaluate, parse
from tests.conftest import SHOP

CONTRACT = """
object: contract
label: {en: Contract, vi: Hợp đồng}
title: "{name}"
fields:
  name: {type: text, required: true}
  phone: {type: phone}
  signed: {type: date}
  price: {type: currency}
  kind:
    type: picklist
    options:
      - {value: rent, label: {en: Rent, vi: Thuê}}
      - {value: sale, label: {en: Sale, vi: Mua bán}}
  customer: {type: lookup, to: customer}
  first_due: {type: formula, returns: date, expression: "add_months(signed, 1)"}
  month_end: {type: formula, returns: date, expression: "end_of_month(signed)"}
  month_start: {type: formula, returns: date, expression: "start_of_month(signed)"}
  renewal: {type: formula, returns: date, expression: "add_years(signed, 1)"}
  reminder: {type: formula, returns: date, expression: "add_days(signed, -3)"}
  signed_on: {type: formula, returns: integer, expression: "weekday(signed)"}
  period: {type: formula, returns: integer, expression: "year(signed) * 100 + month(signed)"}
  day_of: {type: formula, returns: integer, expression: "day(signed)"}
  age: {type: formula, returns: integer, expression: "days_between(created_at, today())"}
  code:
    type: formula
    returns: text
    expression: "concat(upper(left(name, 3)), '-', right(phone, 4))"
  price_text: {type: formula, returns: text, expression: "format_number(price)"}
"""
RULES = """
workflow: signed_note
object: contract
when: created
do:
  - notify:
      to: "{customer.owner}"
      message:
        vi: "{name} ({kind}) của {customer} ký {signed}, giá {price}; phụ trách
          {customer.owner.name}"
        en: "{name} ({kind}) of {customer} signed {signed}, price {price}; owner
          {customer.owner.name}"
"""


def _app(make_app_dir, locale: str = "vi"):
    return make_app_dir({"objects/contract.yaml": CONTRACT, "workflows/rules.yaml": RULES,
                         "app.yaml": "app: shop\nlabel: Shop\nlocale: " + locale
                         + "\nnavigation: [customer, purchase, contract]\n"}, base=SHOP)


@pytest.fixture
def shop(make_app_dir, make_runtime):
    rt = make_runtime(_app(make_app_dir))
    with rt.db.write() as conn:
        admin = create_user(conn, rt.schema, "admin", role="admin", display_name="Trần Minh")
    return rt, rt.context(admin)


def test_date_and_text_functions_in_formulas(shop):
    rt, ctx = shop
    made = records.create(ctx, "contract", {"name": "nhà phố", "phone": "0901234567",
                                            "signed": "2024-01-31", "price": 1234567})
    assert made["first_due"] == date(2024, 2, 29)  # the 31st: the month's last day
    assert made["month_end"] == date(2024, 1, 31)
    assert made["month_start"] == date(2024, 1, 1)
    assert made["renewal"] == date(2025, 1, 31)
    assert made["reminder"] == date(2024, 1, 28)
    assert made["signed_on"] == 3  # a Wednesday: 1 is Monday
    assert made["period"] == 202401 and made["day_of"] == 31
    assert made["age"] == 0  # created_at is known on create, not blank
    assert made["code"] == "NHÀ-4567"
    assert made["price_text"] == "1.234.567"  # the app's language (vi) groups with dots
    leap = records.update(ctx, "contract", made["id"], {"signed": "2024-02-29"})
    assert leap["renewal"] == date(2025, 2, 28) and leap["first_due"] == date(2024, 3, 29)


def test_functions_in_filters(shop):
    rt, ctx = shop
    today = ctx.today()
    for name, signed in (("old", date(2020, 5, 1)), ("recent", today),
                         ("may", date(2021, 5, 20))):
        records.create(ctx, "contract", {"name": name, "signed": signed})

    def names(text: str) -> set[str]:
        where = parse_filter_expression(ctx, ctx.model.objects["contract"], text)
        return {r["name"] for r in list_records(ctx, "contract", ListQuery(where=where)).items}

    assert names("signed >= add_days(today(), -7)") == {"recent"}
    assert names("year(signed) == 2020") == {"old"}
    assert names("year(signed) < 2022 and month(signed) == 5 and day(signed) == 20") == {"may"}
    assert names("signed < start_of_month(add_months(today(), -12))") == {"old", "may"}


def test_a_rule_text_reads_through_lookups_and_writes_values_as_people_read_them(shop):
    rt, ctx = shop
    lan = records.create(ctx, "customer", {"name": "Lan", "city": "Huế"})
    records.create(ctx, "contract", {"name": "HĐ-01", "kind": "rent", "customer": lan["id"],
                                     "signed": "2026-11-30", "price": 25000000})
    table = rt.schema.system["mc_notification"]
    with rt.db.read() as conn:
        [message] = conn.scalars(sa.select(table.c.message)).all()
    assert message == ("HĐ-01 (Thuê) của Lan ký 30/11/2026, giá 25.000.000\xa0₫; "
                       "phụ trách Trần Minh")


def test_a_template_that_names_what_a_user_has_not_is_refused_at_load(make_app_dir):
    app = make_app_dir({"objects/contract.yaml": CONTRACT, "workflows/rules.yaml": RULES
                        .replace('owner.name}"', 'owner.nam}"', 1),
                        "app.yaml": "app: shop\nlabel: Shop\nlocale: vi\nnavigation: "
                        "[customer, purchase, contract]\n"}, base=SHOP)
    with pytest.raises(MetadataError) as refused:
        load(app)
    text = str(refused.value)
    assert "rules.yaml:" in text and "a user has no 'nam'" in text and "did you mean 'name'" \
        in text


@pytest.mark.parametrize("text, message", [
    ("add_months(signed, 1.5)", "a number of months must be a whole number"),
    ("add_days('next week', 1)", "'next week' is not a date"),
    ("add_years('9999-06-01', 1)", "past the calendar"),
])
def test_a_function_given_a_wrong_value_says_what(text, message):
    env = Clock(date(2026, 11, 30), datetime(2026, 11, 30), "en")
    with pytest.raises(EvalError) as failed:
        evaluate(parse(text.replace("signed", "'2026-01-31'")), env)
    assert message in str(failed.value)


def test_format_number_follows_the_language():
    value = parse("format_number(1234567.891, 2)")
    assert evaluate(value, Clock(date.today(), datetime.now(), "en")) == "1,234,567.89"
    assert evaluate(value, Clock(date.today(), datetime.now(), "vi")) == "1.234.567,89"
    assert json.dumps(evaluate(parse("weekday('2026-11-29')"),
                               Clock(date.today(), datetime.now()))) == "7"  # a Sunday
