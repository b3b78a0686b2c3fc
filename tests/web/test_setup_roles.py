"""Setup of roles (metadata, reviewed then saved), users and teams (data) over HTTP: what a
role may do is enforced on screens, the API and the record service; bad input changes
nothing; deactivating a user moves their records through the record service."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from metacrm.engine import records
from metacrm.engine.errors import PermissionDenied
from metacrm.engine.users import create_token, find_user

from ..conftest import SHOP

CLERK = {"label_en": "Clerk", "label_vi": "Nhân viên", "o.customer.create": "1",
         "o.customer.read": "all", "o.customer.edit": "all", "o.customer.delete": "none"}


@pytest.fixture
def site(fresh_site):
    """A signed-in admin on the shop app over a fresh database, and a clerk, ann."""
    made = fresh_site(SHOP)
    made.user("boss")
    made.user("ann", role="clerk")
    assert made.login("boss").status_code == 303
    return made


def sign_in_as(site, name: str) -> None:
    site.post("/logout", {})
    assert site.login(name).status_code == 303


def error_of(response, name: str) -> str:
    found = re.search(rf'id="error-{re.escape(name)}">([^<]*)<', response.text)
    assert found, response.text[-3000:]
    return html.unescape(found.group(1))


def test_the_role_pages_show_the_matrix_and_admin_is_read_only(site):
    page = site.get("/setup/roles")
    assert page.status_code == 200
    assert 'href="/setup/roles/clerk"' in page.text and 'href="/setup/roles/admin"' in page.text
    clerk = site.get("/setup/roles/clerk").text
    assert re.search(r'name="o.customer.create" value="1" [^>]*checked', clerk)
    assert re.search(r'name="o.customer.edit".*?<option value="all" selected>', clerk, re.S)
    assert 'name="f.customer.city"' in clerk
    admin = site.get("/setup/roles/admin")
    assert 'id="admin-role"' in admin.text and 'id="role-form"' not in admin.text
    assert site.post("/setup/roles/admin", {"label_en": "Boss"}).status_code == 403
    assert site.rt.version == 0


def test_a_read_only_role_lists_but_cannot_edit(site):
    review, done = site.review_then_apply("/setup/roles/clerk", {
        **CLERK, "o.customer.create": "", "o.customer.edit": "none"})
    assert "change role clerk" in review.text and done.status_code == 303
    assert site.rt.version == 1
    perm = site.rt.model.roles["clerk"].objects["customer"]
    assert (perm.create, perm.read, perm.edit, perm.delete) == (False, "all", "none", "none")
    rec = records.create(site.ctx("boss"), "customer", {"name": "Tiệm Hoa Lan", "city": "Huế"})

    sign_in_as(site, "ann")
    listing = site.get("/o/customer")
    assert listing.status_code == 200 and "Tiệm Hoa Lan" in listing.text
    assert site.get(f"/o/customer/{rec['id']}/edit").status_code == 403
    assert site.post(f"/o/customer/{rec['id']}/edit", {"name": "X"}).status_code == 403
    with pytest.raises(PermissionDenied):
        records.update(site.ctx("ann"), "customer", rec["id"], {"name": "X"})
    with site.rt.db.write() as conn:
        token = create_token(conn, site.rt.schema, find_user(conn, site.rt.schema, "ann").id)
    api = site.client.patch(f"/api/v1/customer/{rec['id']}", json={"name": "X"},
                            headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 403
    assert records.get(site.ctx("boss"), "customer", rec["id"])["name"] == "Tiệm Hoa Lan"


def test_hiding_a_field_removes_it_from_the_role_s_screens(site):
    rec = records.create(site.ctx("boss"), "customer", {"name": "An", "city": "Quy Nhơn"})
    _, done = site.review_then_apply("/setup/roles/clerk", {**CLERK,
                                                            "f.customer.city": "hidden"})
    assert done.status_code == 303
    stored = site.rt.overlay.data()["roles.yaml"]["roles"]["clerk"]
    assert stored["fields"] == {"customer.city": "hidden"}  # only what differs from edit
    assert "Quy Nhơn" in site.get("/o/customer").text  # the admin still sees it
    sign_in_as(site, "ann")
    listing, detail = site.get("/o/customer"), site.get(f"/o/customer/{rec['id']}")
    assert listing.status_code == detail.status_code == 200
    assert "An" in listing.text and "Quy Nhơn" not in listing.text
    assert "Quy Nhơn" not in detail.text
    assert "city" not in records.get(site.ctx("ann"), "customer", rec["id"])


def test_a_new_role_with_inherits_stores_only_its_differences(site):
    review, done = site.review_then_apply("/setup/roles/new", {
        **CLERK, "name": "senior_clerk", "label_en": "Senior clerk", "inherits": "clerk",
        "o.customer.delete": "own"})
    assert "add role senior_clerk" in review.text and done.status_code == 303
    stored = site.rt.overlay.data()["roles.yaml"]["roles"]["senior_clerk"]
    assert stored["inherits"] == "clerk"
    assert stored["objects"] == {"customer": {"delete": "own"}}
    role = site.rt.model.roles["senior_clerk"]
    assert role.objects["customer"].edit == "all" and role.objects["customer"].delete == "own"
    assert "Senior clerk" in site.get("/setup/roles").text


@pytest.mark.parametrize("path, data, field, message", [
    ("/setup/roles/clerk", {**CLERK, "o.customer.read": "everyone"}, "o.customer.read",
     "'everyone' is not a scope: use none, own, team or all"),
    ("/setup/roles/clerk", {**CLERK, "f.customer.city": "secret"}, "f.customer.city",
     "not a field access"),
    ("/setup/roles/new", {**CLERK, "name": "sales team"}, "name", "not a valid role name"),
    ("/setup/roles/new", {**CLERK, "name": "helper", "inherits": "ghost"}, "inherits",
     "inherits unknown role 'ghost'"),
    ("/setup/roles/new", {**CLERK, "name": "clerk"}, "name", "already exists"),
    ("/setup/roles/new", {**CLERK, "name": "admin"}, "name", "built-in role"),
    ("/setup/roles/clerk", {**CLERK, "inherits": "clerk"}, "inherits", "cycle"),
])
def test_bad_role_input_is_a_422_next_to_its_input_and_changes_nothing(site, path, data,
                                                                      field, message):
    response = site.post(path, data)
    assert response.status_code == 422
    assert message in error_of(response, field)
    assert site.rt.version == 0
    assert site.rt.model.roles["clerk"].objects["customer"].edit == "all"


def test_users_are_created_changed_and_bad_input_changes_nothing(site):
    done = site.post("/setup/users/new", {"username": "binh", "display_name": "Trần Bình",
                                          "role": "clerk", "password": "mat-khau-dai"})
    assert done.status_code == 303
    assert "Trần Bình" in site.get("/setup/users").text
    for data, field, message in [
        ({"username": "binh", "role": "clerk", "password": "mat-khau-dai"}, "username",
         "already exists"),
        ({"username": "chi", "role": "captain", "password": "mat-khau-dai"}, "role",
         "unknown role 'captain'"),
        ({"username": "chi", "role": "clerk", "password": "short"}, "password",
         "at least 8 characters"),
        ({"username": "chi lan", "role": "clerk", "password": "mat-khau-dai"}, "username",
         "not a valid user name"),
    ]:
        response = site.post("/setup/users/new", data)
        assert response.status_code == 422
        assert message in error_of(response, field)
    with site.rt.db.read() as conn:
        assert find_user(conn, site.rt.schema, "chi") is None
        binh = find_user(conn, site.rt.schema, "binh")
    assert binh.role == "clerk" and binh.display_name == "Trần Bình"
    assert site.login("binh", "mat-khau-dai").status_code == 303

    sign_in_as(site, "boss")
    site.post("/setup/teams", {"action": "create", "name": "Hà Nội", "manager": ""})
    with site.rt.db.read() as conn:
        team_id = site.rt.schema.system["mc_team"]
        team = conn.execute(select(team_id.c.id)).scalar()
    bad = site.post(f"/setup/users/{binh.id}", {"role": "pilot", "teams": str(team)})
    assert bad.status_code == 422 and "unknown role 'pilot'" in error_of(bad, "role")
    ok = site.post(f"/setup/users/{binh.id}", {"role": "admin", "display_name": "Bình",
                                                "teams": str(team)})
    assert ok.status_code == 303
    with site.rt.db.read() as conn:
        binh = find_user(conn, site.rt.schema, "binh")
    assert (binh.role, binh.display_name, binh.team_ids) == ("admin", "Bình", (team,))


def test_teams_are_made_with_a_manager_and_members(site):
    with site.rt.db.read() as conn:
        ann = find_user(conn, site.rt.schema, "ann")
        boss = find_user(conn, site.rt.schema, "boss")
    made = site.post("/setup/teams", {"action": "create", "name": "Miền Trung",
                                      "manager": str(boss.id)})
    assert made.status_code == 303
    duplicate = site.post("/setup/teams", {"action": "create", "name": "Miền Trung"})
    assert duplicate.status_code == 422 and "already exists" in error_of(duplicate, "name")
    page = site.get("/setup/teams").text
    team = int(re.search(r'id="team-(\d+)"', page).group(1))
    assert site.post("/setup/teams", {"action": "add", "team": str(team),
                                      "user": str(ann.id)}).status_code == 303
    with site.rt.db.read() as conn:
        assert find_user(conn, site.rt.schema, "ann").team_ids == (team,)
        assert find_user(conn, site.rt.schema, "boss").team_ids == (team,)  # the manager
    assert site.post("/setup/teams", {"action": "remove", "team": str(team),
                                      "user": str(ann.id)}).status_code == 303
    with site.rt.db.read() as conn:
        assert find_user(conn, site.rt.schema, "ann").team_ids == ()


def test_deactivating_a_user_moves_their_records_with_an_audit_trail(site):
    bob = site.user("bob", role="clerk")
    gone = site.user("gone", role="clerk")
    with site.rt.db.read() as conn:
        ann = find_user(conn, site.rt.schema, "ann")
    boss = site.ctx("boss")
    owned = [records.create(boss, "customer", {"name": f"Khách {i}", "owner": ann.id})
             for i in range(3)]
    kept = records.create(boss, "customer", {"name": "Của sếp"})
    with site.rt.db.write() as conn:
        from metacrm.engine.users import set_active

        set_active(conn, site.rt.schema, gone.id, False)

    refused = site.post(f"/setup/users/{ann.id}", {"action": "deactivate",
                                                    "reassign_to": str(gone.id)})
    assert refused.status_code == 422
    assert "not an active user" in error_of(refused, "reassign_to")
    confirm = site.post(f"/setup/users/{ann.id}", {"action": "deactivate",
                                                    "reassign_to": str(bob.id)})
    assert confirm.status_code == 200 and 'id="confirm-deactivate"' in confirm.text
    assert re.search(r"<strong>3</strong> Customers", confirm.text)
    assert records.get(boss, "customer", owned[0]["id"])["owner"] == ann.id  # not yet
    done = site.post(f"/setup/users/{ann.id}", {"action": "deactivate", "confirm": "1",
                                                 "reassign_to": str(bob.id)})
    assert done.status_code == 303
    for rec in owned:
        assert records.get(boss, "customer", rec["id"])["owner"] == bob.id
        trail = records.history(boss, "customer", rec["id"])
        assert trail[-1]["changes"]["owner"] == [ann.id, bob.id]
        assert trail[-1]["user_id"] == boss.user.id
    assert records.get(boss, "customer", kept["id"])["owner"] == boss.user.id
    with site.rt.db.read() as conn:
        assert not find_user(conn, site.rt.schema, "ann").is_active
    site.post("/logout", {})
    assert site.login("ann").status_code != 303


def test_deactivated_sessions_stop_at_once(site):
    with site.rt.db.read() as conn:
        ann = find_user(conn, site.rt.schema, "ann")
    from starlette.testclient import TestClient

    other = TestClient(site.client.app, raise_server_exceptions=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', other.get("/login").text).group(1)
    other.post("/login", data={"username": "ann", "password": "mat-khau-2026",
                               "csrf_token": token, "next": "/"})
    assert other.get("/o/customer").status_code == 200
    done = site.post(f"/setup/users/{ann.id}", {"action": "deactivate", "confirm": "1",
                                                 "reassign_to": str(site.ctx("boss").user.id)})
    assert done.status_code == 303
    assert other.get("/o/customer", follow_redirects=False).status_code in (302, 303)


def test_setup_of_people_is_for_admins_only(site):
    with site.rt.db.read() as conn:
        ann = find_user(conn, site.rt.schema, "ann")
    sign_in_as(site, "ann")
    for path in ("/setup/roles", "/setup/roles/new", "/setup/roles/clerk", "/setup/roles/admin",
                 "/setup/users", f"/setup/users/{ann.id}", "/setup/teams"):
        assert site.get(path).status_code == 403, path
    for path, data in [("/setup/roles/new", {**CLERK, "name": "x"}),
                       ("/setup/roles/clerk", CLERK),
                       ("/setup/users/new", {"username": "x", "role": "admin",
                                             "password": "mat-khau-dai"}),
                       (f"/setup/users/{ann.id}", {"role": "admin"}),
                       ("/setup/teams", {"action": "create", "name": "x"})]:
        assert site.post(path, data).status_code == 403, path
    with site.rt.db.read() as conn:
        assert find_user(conn, site.rt.schema, "ann").role == "clerk"
        assert find_user(conn, site.rt.schema, "x") is None
    assert site.rt.version == 0


def test_the_screens_speak_vietnamese(site):
    site.post("/language", {"lang": "vi", "next": "/"})
    roles = site.get("/setup/roles").text
    assert "Vai trò" in roles and "Người dùng" in roles and "Nhóm" in roles
    role = site.get("/setup/roles/clerk").text
    assert ">Tạo<" in role and ">Xem<" in role and ">của mình<" in role
    with site.rt.db.read() as conn:
        ann = find_user(conn, site.rt.schema, "ann")
    user = site.get(f"/setup/users/{ann.id}").text
    assert "Ngừng kích hoạt" in user and "Chuyển bản ghi cho" in user
