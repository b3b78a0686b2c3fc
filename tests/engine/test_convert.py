"""Issue 14, item 2: conversion with field mapping. The default CRM's Convert lead finds or
makes the account and the contact, makes the opportunity with the asked amount and date,
marks the lead converted (and keeps it so), as a sales rep with a sales rep's rights."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from metacrm.engine import actions, records
from metacrm.engine.errors import ValidationFailed
from metacrm.engine.query import ListQuery, list_records
from metacrm.engine.users import create_user


@pytest.fixture
def rep(runtime):
    with runtime.db.write() as conn:
        user = create_user(conn, runtime.schema, "lan", role="sales_rep")
    return runtime.context(user)


def _lead(ctx, **values):
    return records.create(ctx, "lead", {"last_name": "Nguyễn", "first_name": "Văn Đức",
                                        "company": "Công ty Hải Âu", "email": "duc@haiau.vn",
                                        "phone": "0901234567", "city": "Đà Nẵng",
                                        "source": "zalo", "estimated_value": 30000000,
                                        **values})


def test_convert_finds_the_account_makes_the_contact_and_opportunity(ctx, rep):
    account = records.create(ctx, "account", {"name": "CÔNG TY HẢI ÂU", "city": "Đà Nẵng"})
    lead = _lead(rep)
    outcome = actions.run(rep, "lead", lead["id"], "convert",
                          {"amount": "45000000", "close_date": "2027-01-15"})
    made = {name: ident for name, (_, ident) in outcome.made.items()}
    assert made["account"] == account["id"]  # found by name (any case), not made again
    contact = records.get(rep, "contact", made["contact"])
    assert (contact["last_name"], contact["first_name"], contact["email"]) == (
        "Nguyễn", "Văn Đức", "duc@haiau.vn")
    assert contact["account"] == account["id"] and contact["source"] == "lead"
    assert contact["owner"] == rep.user.id
    deal = records.get(rep, "opportunity", made["opportunity"])
    assert deal["amount"] == 45000000 and deal["close_date"] == date(2027, 1, 15)
    assert (deal["account"], deal["contact"], deal["source"]) == (account["id"], contact["id"],
                                                                  "zalo")
    assert deal["name"] == "Công ty Hải Âu"
    converted = records.get(rep, "lead", lead["id"])
    assert converted["status"] == "converted"
    assert (converted["converted_account"], converted["converted_contact"],
            converted["converted_opportunity"]) == (account["id"], contact["id"], deal["id"])
    assert outcome.opens == ("opportunity", deal["id"])
    assert outcome.created == [("contact", contact["id"]), ("opportunity", deal["id"])]
    # a converted lead stays as it was converted, and cannot be converted again
    with pytest.raises(ValidationFailed, match="đã chuyển đổi được giữ nguyên"):
        records.update(rep, "lead", lead["id"], {"city": "Huế"})
    with rep.db.read() as conn:
        assert actions.offered(rep, conn, rep.model.objects["lead"], converted,
                               may_edit=True) == []


def test_convert_finds_the_contact_by_phone_and_may_skip_the_opportunity(ctx, rep):
    known = records.create(ctx, "contact", {"last_name": "Nguyễn", "phone": "+84901234567"})
    lead = _lead(rep, email=None, company=None)
    outcome = actions.run(rep, "lead", lead["id"], "convert", {"with_opportunity": False})
    assert outcome.made == {"contact": ("contact", known["id"])}  # no company: no account
    assert outcome.opens == ("contact", known["id"]) and outcome.created == []
    converted = records.get(rep, "lead", lead["id"])
    assert converted["converted_contact"] == known["id"]
    assert converted["converted_opportunity"] is None
    # the defaults the form shows: the estimated value, thirty days from today
    other = _lead(rep, email="hoa@x.vn", phone=None)
    with rep.db.read() as conn:
        defaults = actions.input_defaults(rep, conn, rep.model.objects["lead"],
                                          rep.model.actions_of("lead")["convert"], other)
    assert defaults["amount"] == 30000000 and defaults["opportunity_name"] == "Công ty Hải Âu"
    assert defaults["close_date"] == rep.today() + timedelta(days=30)


def test_a_conversion_that_cannot_finish_leaves_nothing_behind(ctx, rep):
    lead = _lead(rep)
    with pytest.raises(ValidationFailed, match="could not convert"):
        actions.run(rep, "lead", lead["id"], "convert", {"amount": "-1"})
    assert records.get(rep, "lead", lead["id"])["status"] == "new"
    for name in ("account", "contact", "opportunity"):
        assert list_records(ctx, name, ListQuery()).total == 0, name
