"""Finding 14: a sales rep set `owner` to the `system` user, or pushed a record onto
another rep. Giving a record to someone else now needs the `assign` right (roles.yaml
`can:`), and MetaCRM's system user is never a person's to choose."""

from __future__ import annotations

import pytest

from metacrm.engine import records
from metacrm.engine.errors import ValidationFailed
from metacrm.engine.users import SYSTEM_USERNAME, add_to_team, create_team, find_user


def owner_error(ctx, values, record_id=None) -> str:
    with pytest.raises(ValidationFailed) as caught:
        if record_id is None:
            records.create(ctx, "opportunity", {"name": "Cơ hội", **values})
        else:
            records.update(ctx, "opportunity", record_id, values)
    return caught.value.errors["owner"][0].code


def test_a_rep_may_not_give_records_away(reps):
    site = reps.site
    lan, binh = site.ctx("lan"), site.ctx("binh")
    assert owner_error(lan, {"owner": binh.user.id}) == "assign"
    assert owner_error(lan, {"owner": "binh"}) == "assign"
    assert owner_error(lan, {"owner": binh.user.id}, reps.lan_opportunity["id"]) == "assign"
    assert records.get(lan, "opportunity", reps.lan_opportunity["id"])["owner"] == lan.user.id
    # naming oneself is no assignment
    mine = records.create(lan, "opportunity", {"name": "Của tôi", "owner": lan.user.id})
    assert mine["owner"] == lan.user.id
    # over the API too
    answer = reps.api("lan").request("POST", "/api/v1/opportunity", json={
        "name": "Cơ hội", "owner": binh.user.id})
    assert answer.status_code == 422 and "owner" in answer.json()["error"]["fields"]


def test_the_system_user_is_never_assignable(reps):
    site = reps.site
    system = site.rt.system_context()  # MetaCRM's own user
    for name in ("lan", "admin"):
        assert owner_error(site.ctx(name), {"owner": SYSTEM_USERNAME}) == "system_user"
    assert owner_error(site.ctx("admin"), {"owner": system.user.id}) == "system_user"
    # MetaCRM itself (loads, automation) still owns what it makes
    made = records.create(system, "opportunity", {"name": "Nhập từ hệ thống"})
    assert made["owner"] == system.user.id


def test_a_manager_assigns(reps):
    site = reps.site
    manager = site.user("hoa", role="sales_manager")
    with site.rt.db.write() as conn:
        team = create_team(conn, site.rt.schema, "Kinh doanh miền Bắc", manager_id=manager.id)
        for name in ("hoa", "binh"):
            add_to_team(conn, site.rt.schema, team, find_user(conn, site.rt.schema, name).id)
    hoa, binh = site.ctx("hoa"), site.ctx("binh")
    given = records.create(hoa, "opportunity", {"name": "Giao cho Bình", "owner": "binh"})
    assert given["owner"] == binh.user.id
    moved = records.update(hoa, "opportunity", given["id"], {"owner": hoa.user.id})
    assert moved["owner"] == hoa.user.id


def test_the_form_shows_the_owner_read_only_without_the_right(reps):
    page = reps.site.get(f"/o/opportunity/{reps.lan_opportunity['id']}/edit")
    assert page.status_code == 200
    assert 'name="owner"' not in page.text
    site = reps.site
    site.user("hoa", role="sales_manager")
    site.switch_to("hoa")
    assert 'name="owner"' in site.get("/o/opportunity/new").text
