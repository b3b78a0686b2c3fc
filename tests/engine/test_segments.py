"""Segments: saved filters with a live count through the reader's scope, private or
shared, as a campaign's target list and as a report filter."""

from __future__ import annotations

from collections import Counter

import pytest

from metacrm.engine import records, reports, segments
from metacrm.engine.errors import BadRequest, NotFound, PermissionDenied
from metacrm.engine.users import create_user


@pytest.fixture
def rep(ctx):
    with ctx.db.write() as conn:
        user = create_user(conn, ctx.schema, "lan", role="sales_rep")
    return ctx.runtime.context(user)


_phones = iter(range(10**7, 10**8))


def contact(ctx, last_name: str, city: str, **values):
    return records.create(ctx, "contact", {"last_name": last_name, "city": city,
                                           "phone": f"09{next(_phones)}", **values})


def lead(ctx, last_name: str, city: str, **values):
    return records.create(ctx, "lead", {"last_name": last_name, "city": city,
                                        "phone": f"08{next(_phones)}", **values})


def test_the_count_is_live_and_members_are_the_matching_records(ctx):
    contact(ctx, "Nguyễn", "Huế")
    contact(ctx, "Trần", "Đà Nẵng")
    seg = segments.create(ctx, "contact", "Khách ở Huế", "city=Huế&sort=-created_at&page=2")
    assert seg.params == {"city": "Huế"}  # paging and sort are no filter
    assert segments.count(ctx, seg) == 1
    added = contact(ctx, "Lê", "Huế")
    assert segments.count(ctx, seg) == 2
    page = segments.members(ctx, seg)
    assert page.total == 2
    assert {r["last_name"] for r in page.items} == {"Nguyễn", "Lê"}
    assert added["id"] in {r["id"] for r in page.items}
    assert seg.query_string == "city=Hu%E1%BA%BF"


def test_filters_with_operators_and_expressions(ctx):
    contact(ctx, "A", "Huế", lifecycle_stage="customer")
    contact(ctx, "B", "Huế", lifecycle_stage="lead")
    contact(ctx, "C", "Hà Nội", lifecycle_stage="customer")
    stages = segments.create(ctx, "contact", "Khách hàng", {"lifecycle_stage__in": "customer"})
    either = segments.create(ctx, "contact", "Huế hoặc khách",
                             {"filter": "city == 'Huế' or lifecycle_stage == 'customer'"})
    assert segments.count(ctx, stages) == 2
    assert segments.count(ctx, either) == 3


def test_a_private_segment_is_invisible_to_others_and_a_shared_one_visible(ctx, rep):
    private = segments.create(ctx, "contact", "Riêng", {"city": "Huế"})
    shared = segments.create(ctx, "contact", "Chung", {"city": "Huế"}, shared=True)
    with pytest.raises(NotFound):
        segments.get(rep, private.id)
    assert segments.get(rep, shared.id).name == "Chung"
    assert [s.id for s in segments.list_for(rep, "contact")] == [shared.id]
    assert {s.id for s in segments.list_for(ctx)} == {private.id, shared.id}
    own = segments.create(rep, "contact", "Của Lan", {"city": "Huế"})
    with pytest.raises(NotFound):
        segments.get(ctx, own.id)  # private means private, even to an admin


def test_only_the_owner_or_an_admin_changes_a_segment(ctx, rep):
    shared = segments.create(ctx, "contact", "Chung", {"city": "Huế"}, shared=True)
    with pytest.raises(PermissionDenied):
        segments.update(rep, shared.id, name="Đổi tên")
    with pytest.raises(PermissionDenied):
        segments.delete(rep, shared.id)
    theirs = segments.create(rep, "contact", "Của Lan", {"city": "Huế"}, shared=True)
    renamed = segments.update(ctx, theirs.id, name="Lan (đã sửa)", params="city=Hà Nội",
                              shared=False)
    assert (renamed.name, renamed.params, renamed.shared) == (
        "Lan (đã sửa)", {"city": "Hà Nội"}, False)
    assert renamed.updated_at >= renamed.created_at
    with pytest.raises(NotFound):  # unshared: the admin no longer sees it
        segments.get(ctx, theirs.id)
    segments.update(rep, theirs.id, shared=True)
    segments.delete(ctx, theirs.id)
    assert [s.id for s in segments.list_for(rep)] == [shared.id]


def test_a_rep_counts_only_the_leads_the_rep_may_read(ctx, rep):
    for name in ("Mai", "Hoa"):
        lead(ctx, name, "Huế")
    lead(rep, "Lan's", "Huế")
    seg = segments.create(ctx, "lead", "Huế", {"city": "Huế"}, shared=True)
    assert segments.count(ctx, seg) == 3
    assert segments.count(rep, seg) == 1  # leads: read own for sales_rep
    assert [r["last_name"] for r in segments.members(rep, seg).items] == ["Lan's"]


def test_bad_params_are_a_bad_request_naming_the_parameter(ctx, rep):
    with pytest.raises(BadRequest) as unknown:
        segments.create(ctx, "contact", "x", {"no_such_field": "1"})
    assert unknown.value.details["parameter"] == "no_such_field"
    with pytest.raises(BadRequest) as value:
        segments.create(ctx, "contact", "x", {"age__gt": "thirty"})
    assert value.value.details["parameter"] == "age__gt"
    with pytest.raises(BadRequest) as expression:
        segments.create(ctx, "contact", "x", {"filter": "city =="})
    assert expression.value.details["parameter"] == "filter"
    with pytest.raises(BadRequest) as search:
        segments.create(ctx, "contact", "x", "search=nguyen")
    assert search.value.details["parameter"] == "search"
    with pytest.raises(BadRequest) as name:
        segments.create(ctx, "contact", "  ", {"city": "Huế"})
    assert name.value.details["parameter"] == "name"
    # a hidden field is no filter for a role that cannot read it
    seg = segments.create(ctx, "contact", "Giàu", {"income__gt": "1000"}, shared=True)
    with pytest.raises(BadRequest) as hidden:
        segments.condition(rep, seg)
    assert hidden.value.details["parameter"] == "income"


def test_a_segment_filters_a_report_to_its_records(ctx):
    rows = [("Huế", "new"), ("Huế", "new"), ("Huế", "open"), ("Hà Nội", "new"),
            ("Hà Nội", "connected")]
    for i, (city, status) in enumerate(rows):
        lead(ctx, f"L{i}", city, status=status)
    seg = segments.create(ctx, "lead", "Huế", {"city": "Huế"})
    report = reports.get_report(ctx, "leads_by_status")
    result = reports.run(ctx, report, where=segments.condition(ctx, seg))
    got = {row.keys[0]: row.values[0] for row in result.rows}
    expected = Counter(status for city, status in rows if city == "Huế")
    assert got == dict(expected)
    assert result.total(0) == segments.count(ctx, seg) == 3
    everything = reports.run(ctx, report)
    assert everything.total(0) == len(rows)


def test_a_campaign_targets_a_segment_of_contacts_or_leads(ctx, rep):
    campaign = records.create(ctx, "campaign", {"name": "Tết 2026"})
    huế = segments.create(ctx, "contact", "Huế", {"city": "Huế"}, shared=True)
    accounts = segments.create(ctx, "account", "Công ty", {})
    assert segments.target_segment(ctx, campaign["id"]) is None
    with pytest.raises(BadRequest):
        segments.set_target(ctx, campaign["id"], accounts.id)
    with pytest.raises(PermissionDenied):  # campaign: edit none for sales_rep
        segments.set_target(rep, campaign["id"], huế.id)
    segments.set_target(ctx, campaign["id"], huế.id)
    assert segments.target_segment(rep, campaign["id"]).id == huế.id
    assert segments.campaigns_of(ctx, huế) == {campaign["id"]: "Tết 2026"}
    assert segments.campaign_uses(ctx, huế) == 1
    segments.delete(ctx, huế.id)
    assert segments.target_segment(ctx, campaign["id"]) is None
    assert records.get(ctx, "campaign", campaign["id"])["name"] == "Tết 2026"
