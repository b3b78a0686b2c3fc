"""Leak 3: duplicate warnings named records the user could not read ("trùng với: Đoàn Anh
Hoàng", with a link). Now a look-alike the user may not read is said to exist, without its
title, id or link: on the web form's warning, in a block rule's error, in an import."""

from __future__ import annotations

import re

import pytest

from metacrm.engine import records
from metacrm.engine.errors import ValidationFailed

from .test_import_oracle_leak import csv_bytes, run_import

CUSTOMERS = {
    "app.yaml": """
        app: shop
        label: {en: Shop, vi: Cửa hàng}
    """,
    "objects/customer.yaml": """
        object: customer
        label: {en: Customer, vi: Khách hàng}
        title: "{full_name}"
        fields:
          full_name: {type: text, label: {en: Full name, vi: Họ tên}, required: true}
          tax_code: {type: text, label: {en: Tax code, vi: Mã số thuế}}
          mobile: {type: phone, label: {en: Mobile, vi: Di động}}
        duplicates:
          - {match: [tax_code], action: block}
          - {match: [mobile], action: warn}
    """,
    "roles.yaml": """
        roles:
          admin: {label: {en: Admin, vi: Quản trị}, all: true}
          seller:
            label: {en: Seller, vi: Người bán}
            objects:
              customer: {create: true, read: own, edit: own, delete: none}
    """,
}


def test_the_form_warns_without_naming_a_lead_the_rep_may_not_read(reps):
    site = reps.site
    hidden = records.create(site.ctx("binh"), "lead", {
        "last_name": "Đoàn", "first_name": "Anh Hoàng", "email": "hoang.doan@vanphuc.vn"})
    warned = site.post("/o/lead/new", {"last_name": "Trần", "first_name": "Minh",
                                       "email": "hoang.doan@vanphuc.vn"})
    assert warned.status_code == 409, warned.text
    assert 'id="possible-duplicates"' in warned.text
    assert "Đoàn" not in warned.text and "Anh Hoàng" not in warned.text
    assert f'/o/lead/{hidden["id"]}"' not in warned.text
    assert "một bản ghi bạn không có quyền xem" in warned.text  # the user's language
    # binh, who owns it, gets its name and link
    site.switch_to("binh")
    named = site.post("/o/lead/new", {"last_name": "Trần", "first_name": "Minh",
                                      "email": "hoang.doan@vanphuc.vn"})
    assert named.status_code == 409
    assert f'href="/o/lead/{hidden["id"]}"' in named.text and "Đoàn Anh Hoàng" in named.text


@pytest.fixture
def shop(make_site, make_app_dir):
    site = make_site(make_app_dir(CUSTOMERS))
    site.user("admin")
    site.user("an", role="seller")
    site.user("binh", role="seller")
    hidden = records.create(site.ctx("binh"), "customer", {
        "full_name": "Công ty Vạn Phúc", "tax_code": "0101234567", "mobile": "0903 123 456"})
    return site, hidden


def test_a_block_rule_refuses_without_naming_the_record(shop):
    site, hidden = shop
    with pytest.raises(ValidationFailed) as caught:
        records.create(site.ctx("an"), "customer", {"full_name": "Khách mới",
                                                    "tax_code": "0101234567"})
    error = caught.value.errors["_record"][0]
    assert error.code == "duplicate_unreadable"
    assert "Vạn Phúc" not in error.message and str(hidden["id"]) not in error.message
    assert error.params.get("id") is None
    # the owner is told which record it is
    with pytest.raises(ValidationFailed) as named:
        records.create(site.ctx("binh"), "customer", {"full_name": "Khách mới",
                                                      "tax_code": "0101234567"})
    assert "Vạn Phúc" in named.value.errors["_record"][0].message


def test_the_form_page_says_so_in_vietnamese(shop):
    site, _ = shop
    assert site.login("an").status_code == 303
    english = site.post("/o/customer/new", {"full_name": "Khách mới", "tax_code": "0101234567"})
    assert english.status_code == 422 and "one you may not read" in english.text
    site.post("/language", {"lang": "vi", "next": "/"})
    refused = site.post("/o/customer/new", {"full_name": "Khách mới", "tax_code": "0101234567"})
    assert refused.status_code == 422
    assert "Vạn Phúc" not in refused.text
    assert "bạn không có quyền xem bản ghi đó" in refused.text
    warned = site.post("/o/customer/new", {"full_name": "Khách mới", "mobile": "0903123456"})
    assert warned.status_code == 409
    assert "Vạn Phúc" not in warned.text and "một bản ghi bạn không có quyền xem" in warned.text


def test_an_import_batch_refuses_without_naming_the_record(shop, tmp_path):
    site, hidden = shop
    summary = run_import(site.ctx("an"), tmp_path, "customer",
                         csv_bytes(["Họ tên", "Mã số thuế"], [["Khách A", "0101234567"],
                                                              ["Khách B", "0109999999"]]))
    assert (summary.inserted, summary.rejected) == (1, 1)
    reason = summary.rejects[0][1]
    assert "Vạn Phúc" not in reason and not re.search(rf"#{hidden['id']}\b", reason)
