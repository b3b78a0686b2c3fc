"""Roles in the engine: record scopes and field access on every read and write path."""

from __future__ import annotations

import pytest

from metacrm.engine import query, records
from metacrm.engine.errors import BadRequest, NotFound, PermissionDenied, ValidationFailed
from metacrm.engine.users import add_to_team, create_team, create_user


@pytest.fixture
def people(runtime):
    """Two sales reps in one team with their manager, a rep of another team, a viewer."""
    with runtime.db.write() as conn:
        schema = runtime.schema
        users = {name: create_user(conn, schema, name, role=role)
                 for name, role in [("admin", "admin"), ("lan", "sales_rep"),
                                    ("minh", "sales_rep"), ("hoa", "sales_manager"),
                                    ("tuan", "sales_rep"), ("viewer", "read_only")]}
        north = create_team(conn, schema, "Miền Bắc", manager_id=users["hoa"].id)
        south = create_team(conn, schema, "Miền Nam")
        for name in ("lan", "minh", "hoa"):
            add_to_team(conn, schema, north, users[name].id)
        add_to_team(conn, schema, south, users["tuan"].id)
        from metacrm.engine.users import get_user

        users = {name: get_user(conn, schema, u.id) for name, u in users.items()}
    return {name: runtime.context(user) for name, user in users.items()}


def _opportunity(ctx, name):
    return records.create(ctx, "opportunity", {"name": name, "amount": 1000})


def _names(ctx, obj="opportunity", **kwargs):
    page = query.list_records(ctx, obj, query.ListQuery(sort=("name",), **kwargs))
    return [r["name"] for r in page.items]


def test_own_scope_hides_other_reps_records_on_every_read_path(people):
    mine = _opportunity(people["lan"], "Lan's deal")
    theirs = _opportunity(people["minh"], "Minh's deal")
    lan = people["lan"]
    assert _names(lan) == ["Lan's deal"]
    assert _names(lan, search="deal") == ["Lan's deal"]
    assert records.get(lan, "opportunity", mine["id"])["name"] == "Lan's deal"
    with pytest.raises(NotFound):
        records.get(lan, "opportunity", theirs["id"])
    with pytest.raises(NotFound):
        records.update(lan, "opportunity", theirs["id"], {"amount": 1})
    with pytest.raises(NotFound):
        records.delete(lan, "opportunity", theirs["id"])
    with pytest.raises(NotFound):
        records.history(lan, "opportunity", theirs["id"])
    assert records.get(people["minh"], "opportunity", theirs["id"])["amount"] == 1000


def test_team_scope_covers_the_team_and_no_one_else(people):
    _opportunity(people["lan"], "Lan")
    _opportunity(people["minh"], "Minh")
    _opportunity(people["tuan"], "Tuấn")
    assert _names(people["hoa"]) == ["Lan", "Minh"]
    assert _names(people["admin"]) == ["Lan", "Minh", "Tuấn"]


def test_a_team_manager_sees_the_team_without_being_a_member(runtime, people):
    """`metacrm team X --manager M` (issue 15, item 5): M's team scope covers X's members,
    on lists and single records, though M is in no team."""
    from metacrm.engine.users import get_user

    with runtime.db.write() as conn:
        boss = create_user(conn, runtime.schema, "boss", role="sales_manager")
        centre = create_team(conn, runtime.schema, "Miền Trung", manager_id=boss.id)
        add_to_team(conn, runtime.schema, centre, people["tuan"].user.id)
        boss = get_user(conn, runtime.schema, boss.id)
    assert boss.team_ids == () and len(boss.managed_ids) == 1
    manager = runtime.context(boss)
    deal = _opportunity(people["tuan"], "Tuấn")
    _opportunity(people["lan"], "Lan")
    assert _names(manager) == ["Tuấn"]
    assert records.get(manager, "opportunity", deal["id"])["name"] == "Tuấn"


def test_read_all_edit_own_contacts(people):
    other = records.create(people["minh"], "contact", {"last_name": "Trần",
                                                        "email": "tran@example.vn"})
    lan = people["lan"]
    assert records.get(lan, "contact", other["id"])["last_name"] == "Trần"
    with pytest.raises(PermissionDenied, match="belongs to someone else"):
        records.update(lan, "contact", other["id"], {"city": "Huế"})
    with pytest.raises(PermissionDenied):
        records.delete(lan, "contact", other["id"])


def test_hidden_field_never_leaves_the_engine(people):
    admin, lan = people["admin"], people["lan"]
    contact = records.create(admin, "contact", {"last_name": "Lê", "email": "le@example.vn",
                                                "income": 50_000_000})
    assert "income" not in records.get(lan, "contact", contact["id"])
    assert all("income" not in r for r in query.list_records(lan, "contact").items)
    assert all("income" not in h["changes"] for h in records.history(lan, "contact",
                                                                      contact["id"]))
    with pytest.raises(BadRequest, match="unknown field 'income'"):
        query.parse_params(lan, lan.model.objects["contact"], {"income__gt": "1"})
    with pytest.raises(BadRequest, match="unknown field 'income'"):
        query.parse_sort(lan, lan.model.objects["contact"], "-income")
    with pytest.raises(BadRequest, match="unknown field 'income'"):
        query.parse_filter_expression(lan, lan.model.objects["contact"], "income > 1")
    with pytest.raises(ValidationFailed) as caught:
        records.create(lan, "contact", {"last_name": "X", "email": "x@example.vn",
                                        "income": 1})
    assert caught.value.errors["income"][0].code == "unknown_field"
    assert records.get(people["hoa"], "contact", contact["id"])["income"] == 50_000_000


def test_read_only_field_for_a_role(people):
    deal = _opportunity(people["lan"], "Deal")
    with pytest.raises(ValidationFailed, match="read-only for your role"):
        records.update(people["lan"], "opportunity", deal["id"], {"commission": 5})
    updated = records.update(people["lan"], "opportunity", deal["id"],
                             {"commission": None, "amount": 7})
    assert updated["amount"] == 7


def test_roles_without_a_permission_are_refused(people):
    with pytest.raises(PermissionDenied, match="may not create contracts"):
        records.create(people["lan"], "contract", {"name": "HĐ"})
    with pytest.raises(PermissionDenied, match="may not create"):
        records.create(people["viewer"], "contact", {"last_name": "A", "email": "a@b.vn"})
    assert _names(people["viewer"]) == []


def test_owner_can_be_reassigned_by_someone_who_may_edit(people):
    deal = _opportunity(people["lan"], "Handover")
    moved = records.update(people["admin"], "opportunity", deal["id"],
                           {"owner": "minh"})
    assert moved["owner"] == people["minh"].user.id
    assert _names(people["minh"]) == ["Handover"]
    assert _names(people["lan"]) == []
