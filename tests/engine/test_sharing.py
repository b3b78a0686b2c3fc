"""Issue 15, item 5: sharing by field and by parent. On the estates app a broker sees (and
may edit) the deposits naming them in `broker` and their own, and the payments of the
deposits they see (`via: deposit`), on lists, searches, single records and reports alike;
the scopes are checked at load."""

from __future__ import annotations

import pytest

from metacrm.engine import query, records
from metacrm.engine.errors import NotFound, PermissionDenied
from metacrm.engine.users import create_user
from metacrm.metadata import MetadataError, load
from tests.conftest import ESTATES


@pytest.fixture
def estate(make_runtime):
    rt = make_runtime(ESTATES)
    with rt.db.write() as conn:
        users = {name: create_user(conn, rt.schema, name, role=role)
                 for name, role in (("boss", "admin"), ("vy", "broker"), ("khoa", "broker"))}
    ctx = {name: rt.context(user) for name, user in users.items()}
    boss = ctx["boss"]
    hill = records.create(boss, "project", {"name": "Đồi Thông"})["id"]
    units = [records.create(boss, "unit", {"code": f"A-{n}", "project": hill})["id"]
             for n in range(1, 5)]
    deposits = {}
    for n, (customer, broker) in enumerate((("An", users["vy"].id), ("Bình", users["khoa"].id),
                                            ("Cường", None))):
        deposits[customer] = records.create(boss, "deposit", {
            "customer": customer, "project": hill, "unit": units[n], "broker": broker})["id"]
        records.create(boss, "payment", {"deposit": deposits[customer], "amount": 1000 * (n + 1)})
    return rt, ctx, deposits, hill, units


def customers(ctx, **kwargs):
    page = query.list_records(ctx, "deposit", query.ListQuery(sort=("customer",), **kwargs))
    return [r["customer"] for r in page.items]


def test_a_broker_sees_and_edits_the_deposits_naming_them(estate):
    rt, ctx, deposits, hill, units = estate
    vy = ctx["vy"]
    assert customers(vy) == ["An"]
    own = records.create(vy, "deposit", {"customer": "Dung", "project": hill,
                                         "unit": units[3]})  # their own, unnamed
    assert customers(vy) == ["An", "Dung"] and customers(ctx["khoa"]) == ["Bình"]
    assert records.get(vy, "deposit", deposits["An"])["customer"] == "An"
    records.update(vy, "deposit", deposits["An"], {"amount": 5000})
    records.update(vy, "deposit", own["id"], {"amount": 10})
    for other in ("Bình", "Cường"):
        with pytest.raises(NotFound):
            records.get(vy, "deposit", deposits[other])
        with pytest.raises(NotFound):
            records.update(vy, "deposit", deposits[other], {"amount": 1})
    assert customers(ctx["boss"]) == ["An", "Bình", "Cường", "Dung"]


def test_payments_follow_the_deposits_a_broker_sees(estate):
    rt, ctx, deposits, hill, units = estate
    vy = ctx["vy"]
    page = query.list_records(vy, "payment", query.ListQuery())
    assert [r["deposit"] for r in page.items] == [deposits["An"]]
    assert query.list_records(vy, "payment", query.ListQuery()).total == 1  # counted alike
    theirs = query.list_records(ctx["boss"], "payment", query.ListQuery(sort=("amount",)))
    with pytest.raises(NotFound):
        records.get(vy, "payment", theirs.items[1]["id"])
    assert records.get(vy, "payment", theirs.items[0]["id"])["amount"] == 1000
    with pytest.raises(PermissionDenied):  # read via the deposit, no more
        records.update(vy, "payment", theirs.items[0]["id"], {"amount": 1})
    # a deposit newly naming khoa brings its payment along
    records.update(ctx["boss"], "deposit", deposits["Cường"], {"broker": ctx["khoa"].user.id})
    assert query.list_records(ctx["khoa"], "payment", query.ListQuery()).total == 2


@pytest.mark.parametrize("scope, message", [
    ("{field: customer}", "'customer' is not a user field of deposit (its user fields: "),
    ("{field: brokr}", "did you mean 'broker'"),
    ("{via: amount}", "'amount' is not a lookup of deposit"),
    ("{team: x}", "unknown key 'team' (known: field, via)"),
])
def test_a_wrong_scope_is_refused_at_load(make_app_dir, scope, message):
    roles = (ESTATES / "roles.yaml").read_text(encoding="utf-8").replace(
        "read: {field: broker}, edit", f"read: {scope}, edit")
    with pytest.raises(MetadataError) as refused:
        load(make_app_dir({"roles.yaml": roles}, base=ESTATES))
    assert "roles.yaml" in str(refused.value) and message in str(refused.value)


def test_scopes_via_lookups_that_go_round_are_refused(make_app_dir):
    roles = (ESTATES / "roles.yaml").read_text(encoding="utf-8").replace(
        "      unit: {read: all}\n      deposit",
        "      unit: {read: {via: project}}\n      deposit").replace(
        "      project: {read: all}\n      unit: {read: {via",
        "      project: {read: {via: showcase}}\n      unit: {read: {via")
    more = "extend: project\nfields:\n  showcase: {type: lookup, to: unit}\n"
    with pytest.raises(MetadataError) as refused:
        load(make_app_dir({"roles.yaml": roles, "objects/more.yaml": more}, base=ESTATES))
    assert "goes round in a circle" in str(refused.value)


def test_a_path_through_a_shared_lookup_is_limited_alike(estate):
    """A filter through the lookup (payment -> deposit) reads only the deposits the broker
    sees: the join carries the same scope."""
    from metacrm.metadata.expressions import parse

    rt, ctx, deposits, hill, units = estate
    vy = ctx["vy"]
    mine = query.list_records(vy, "payment", query.ListQuery(
        where=parse("deposit.customer == 'An'")))
    assert mine.total == 1
    hidden = query.list_records(vy, "payment", query.ListQuery(
        where=parse("deposit.customer == 'Bình'")))
    assert hidden.total == 0


def test_a_deleted_deposits_trail_stays_readable_to_its_broker(estate):
    rt, ctx, deposits, hill, units = estate
    records.delete(ctx["boss"], "deposit", deposits["An"])
    trail = records.history(ctx["vy"], "deposit", deposits["An"])
    assert [row["action"] for row in trail][-1] == "delete"
    with pytest.raises(NotFound):
        records.history(ctx["khoa"], "deposit", deposits["An"])


def test_an_empty_list_of_fields_is_refused_at_load(make_app_dir):
    roles = (ESTATES / "roles.yaml").read_text(encoding="utf-8").replace(
        "read: {field: broker}, edit", "read: {field: []}, edit")
    with pytest.raises(MetadataError) as refused:
        load(make_app_dir({"roles.yaml": roles}, base=ESTATES))
    assert "roles.broker.objects.deposit.read" in str(refused.value)
