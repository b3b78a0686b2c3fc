"""The data quality report: each figure against data planted for it, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from metacrm.engine import quality, query, records
from metacrm.engine.errors import NotFound, PermissionDenied
from metacrm.engine.users import create_user

CITIES = ["Hà Nội", "ha noi", "HÀ NỘI", "Huế", "Huế", "Đà Nẵng", "Đà Nẵng", None, None, None]


def plant(ctx, object_name: str, ids: list[int], **values) -> None:
    """Store values the record service would refuse, as a bad import or an old system left
    them."""
    table = ctx.schema.table(object_name)
    with ctx.db.write() as conn:
        conn.execute(table.update().where(table.c.id.in_(ids)).values(**values))


@pytest.fixture
def contacts(ctx) -> list[int]:
    """Ten contacts, three without a city, Hà Nội spelled three ways; and bad values."""
    ids = [records.create(ctx, "contact", {
        "last_name": f"Nguyễn {i}", "first_name": "Lan", "city": city,
        "email": f"lan{i}@example.vn", "phone": f"0912 345 6{i:02d}"})["id"]
        for i, city in enumerate(CITIES)]
    plant(ctx, "contact", [ids[0]], email="not-an-email")
    plant(ctx, "contact", [ids[1]], email="0912 345 678")  # a phone in the email field
    plant(ctx, "contact", [ids[2]], phone="0912345678")  # not stored as E.164
    plant(ctx, "contact", [ids[3]], phone="lan@example.vn")  # an email in the phone field
    plant(ctx, "contact", [ids[4]], first_name="lan@example.vn")  # an email as a name
    plant(ctx, "contact", [ids[5]], company="091-234-5678")  # a phone as a company
    now = ctx.now()
    plant(ctx, "contact", ids[6:8], updated_at=now - timedelta(days=400))
    plant(ctx, "contact", [ids[8]], updated_at=now - timedelta(days=300))
    return ids


def listed(ctx, object_name: str, filters) -> set[int]:
    obj = ctx.model.objects[object_name]
    page = query.list_records(ctx, object_name, query.ListQuery(
        where=query.parse_params(ctx, obj, filters), page_size=500))
    return {item["id"] for item in page.items}


def finding(found, field: str, kind: str):
    return next((f for f in found if f.field == field and f.kind == kind), None)


def test_blank_shares_and_their_lists(ctx, contacts):
    report = quality.report(ctx, "contact")
    assert report.total == 10
    blanks = {b.field: b for b in report.blanks}
    city = blanks["city"]
    assert (city.blank, city.total, city.share) == (3, 10, 0.3)
    assert listed(ctx, "contact", city.filters) == set(contacts[7:10])
    assert blanks["birthdate"].share == 1.0 and blanks["email"].share == 0.0
    # required, computed, system fields and checkboxes are never blank: not reported
    assert not {"last_name", "age", "owner", "created_at", "owns_home"} & set(blanks)
    shares = [b.share for b in report.blanks]
    assert shares == sorted(shares, reverse=True)


def test_invalid_formats(ctx, contacts):
    report = quality.report(ctx, "contact")
    emails = finding(report.invalid, "email", "invalid_email")
    assert emails.count == 2
    assert [(e.id, e.value) for e in emails.examples] == [
        (contacts[0], "not-an-email"), (contacts[1], "0912 345 678")]
    assert emails.examples[0].title == "Nguyễn 0 Lan"
    phones = finding(report.invalid, "phone", "invalid_phone")
    assert phones.count == 2
    assert {e.id for e in phones.examples} == {contacts[2], contacts[3]}
    assert {(f.field, f.kind) for f in report.invalid} == {("email", "invalid_email"),
                                                           ("phone", "invalid_phone")}


def test_values_in_the_wrong_field(ctx, contacts):
    report = quality.report(ctx, "contact")
    found = {(f.field, f.kind): [e.id for e in f.examples] for f in report.misplaced}
    assert found == {
        ("phone", "email_in_phone"): [contacts[3]],
        ("first_name", "email_in_name"): [contacts[4]],
        ("email", "phone_in_text"): [contacts[1]],
        ("company", "phone_in_text"): [contacts[5]],
    }
    assert all(f.count == 1 for f in report.misplaced)


def test_spellings_of_one_value(ctx, contacts):
    report = quality.report(ctx, "contact")
    cities = [s for s in report.inconsistent if s.field == "city"]
    assert len(cities) == 1
    assert sorted(cities[0].variants) == [("HÀ NỘI", 1), ("Hà Nội", 1), ("ha noi", 1)]
    assert cities[0].total == 3
    # 'Lan' is written one way only; 'Huế' twice the same way: neither is a finding
    assert all(s.field == "city" for s in report.inconsistent)


def test_records_untouched_for_a_year(ctx, contacts):
    report = quality.report(ctx, "contact")
    assert report.stale == 2
    assert report.stale_before == ctx.today() - timedelta(days=365)
    assert listed(ctx, "contact", report.stale_filters) == set(contacts[6:8])


def test_clean_data_has_no_findings(ctx):
    records.create(ctx, "contact", {"last_name": "Trần", "email": "tran@example.vn",
                                    "phone": "0912 345 678", "city": "Huế"})
    report = quality.report(ctx, "contact")
    assert report.total == 1
    assert (report.invalid, report.misplaced, report.inconsistent, report.stale) == (
        (), (), (), 0)


def test_empty_object(ctx):
    report = quality.report(ctx, "lead")
    assert report.total == 0
    assert all(b.share == 0.0 for b in report.blanks)


def test_a_sales_rep_sees_figures_over_their_own_records(ctx):
    with ctx.db.write() as conn:
        lan = ctx.runtime.context(create_user(conn, ctx.schema, "lan", role="sales_rep"))
        minh = ctx.runtime.context(create_user(conn, ctx.schema, "minh", role="sales_rep"))
    for i, city in enumerate(["Huế", "huế", None]):
        records.create(lan, "lead", {"last_name": f"Lê {i}", "email": f"le{i}@example.vn",
                                     "city": city})
    bad = [records.create(minh, "lead", {"last_name": f"Phạm {i}", "phone": "0912345678",
                                         "city": "HUẾ" if i == 0 else None})["id"]
           for i in range(4)]
    plant(ctx, "lead", bad, email="broken")

    mine = quality.report(lan, "lead")
    assert mine.total == 3
    assert next(b for b in mine.blanks if b.field == "city").blank == 1
    assert mine.invalid == ()
    assert [sorted(s.variants) for s in mine.inconsistent] == [[("Huế", 1), ("huế", 1)]]

    everyone = quality.report(ctx, "lead")
    assert everyone.total == 7
    assert next(b for b in everyone.blanks if b.field == "city").blank == 4
    assert finding(everyone.invalid, "email", "invalid_email").count == 4
    assert [s.total for s in everyone.inconsistent] == [3]


def test_hidden_fields_are_left_out(ctx, contacts):
    with ctx.db.write() as conn:
        rep = ctx.runtime.context(create_user(conn, ctx.schema, "lan", role="sales_rep"))
    assert "income" in {b.field for b in quality.report(ctx, "contact").blanks}
    report = quality.report(rep, "contact")
    assert report.total == 10
    assert "income" not in {b.field for b in report.blanks}


def test_unknown_object_and_no_access(ctx):
    with pytest.raises(NotFound):
        quality.report(ctx, "nothing")
    with ctx.db.write() as conn:
        agent = ctx.runtime.context(create_user(conn, ctx.schema, "an", role="support_agent"))
    with pytest.raises(PermissionDenied):
        quality.report(agent, "lead")


def test_duplicates_found(ctx):
    for i, phone in enumerate(["0912 345 678", "+84912345678", "0987 654 321"]):
        records.create(ctx, "contact", {"last_name": f"Võ {i}", "phone": phone})
    assert quality.report(ctx, "contact").duplicates == 2  # the same phone, written twice
