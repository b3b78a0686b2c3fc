"""Finding 7: after `POST /logout`, replaying the old cookie still worked (for 14 days).
Sessions now live on the server: signing out, "sign out everywhere" and a new password end
them, and a copied cookie is worth nothing after that. A user sees their signed-in browsers."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from metacrm.engine.users import active_sessions, find_user

from ..conftest import PASSWORD, Site


def browser(site: Site, name: str) -> Site:
    """Another browser on the same server, signed in as `name`."""
    other = Site(TestClient(site.client.app))
    assert other.login(name).status_code == 303
    return other


def signed_in(client: TestClient) -> bool:
    answer = client.get("/o/contact", follow_redirects=False)
    return answer.status_code == 200


def replay(site: Site, cookie: str) -> TestClient:
    thief = TestClient(site.client.app)
    thief.cookies.set("metacrm_session", cookie)
    return thief


def test_a_cookie_replayed_after_sign_out_is_refused(make_site):
    site = make_site()
    site.user("lan", role="sales_rep")
    assert site.login("lan").status_code == 303
    cookie = site.client.cookies.get("metacrm_session")
    assert signed_in(replay(site, cookie))  # a copy works while the session lives
    assert site.post("/logout", {}).status_code == 303
    stolen = replay(site, cookie)
    answer = stolen.get("/o/contact", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert not signed_in(site.client)


def test_sign_out_everywhere_ends_every_browser(make_site):
    site = make_site()
    site.user("lan", role="sales_rep")
    assert site.login("lan").status_code == 303
    phone = browser(site, "lan")
    page = site.get("/account/sessions")
    assert page.status_code == 200
    assert len(re.findall(r"<tr[ >]", page.text.split("<tbody>")[1])) == 2
    assert "trình duyệt này" in page.text or "this browser" in page.text
    assert site.post("/account/sessions", {}).status_code == 303
    assert not signed_in(site.client) and not signed_in(phone.client)
    with site.rt.db.read() as conn:
        lan = find_user(conn, site.rt.schema, "lan")
        assert active_sessions(conn, site.rt.schema, lan.id) == []


def test_a_new_password_or_an_admin_ends_a_user_s_sessions(make_site):
    site = make_site()
    site.user("admin")
    lan = site.user("lan", role="sales_rep")
    laptop = browser(site, "lan")
    assert signed_in(laptop.client)
    assert site.login("admin").status_code == 303
    done = site.post(f"/setup/users/{lan.id}", {"action": "sign_out"})
    assert done.status_code == 303
    assert not signed_in(laptop.client)
    laptop = browser(site, "lan")
    saved = site.post(f"/setup/users/{lan.id}", {"role": "sales_rep", "display_name": "Lan",
                                                 "password": PASSWORD + "-moi"})
    assert saved.status_code == 303
    assert not signed_in(laptop.client)
    assert signed_in(site.client)  # the admin's own session goes on


def test_deactivation_or_a_role_change_ends_sessions_for_good(make_site):
    from metacrm.engine import users

    site = make_site()
    bob = site.user("bob", role="sales_rep")
    laptop = browser(site, "bob")
    cookie = laptop.client.cookies.get("metacrm_session")
    rt = site.rt
    with rt.db.write() as conn:
        users.set_active(conn, rt.schema, bob.id, False)
    rt.recent.clear()
    with rt.db.write() as conn:
        users.set_active(conn, rt.schema, bob.id, True)
    rt.recent.clear()
    assert not signed_in(replay(site, cookie))  # coming back does not revive the cookie
    laptop = browser(site, "bob")
    cookie = laptop.client.cookies.get("metacrm_session")
    with rt.db.write() as conn:
        users.set_role(conn, rt.schema, bob.id, "marketing")
        users.set_role(conn, rt.schema, bob.id, "sales_rep")
    rt.recent.clear()
    assert not signed_in(replay(site, cookie))


def test_signing_in_again_ends_the_session_it_replaces(make_site):
    site = make_site()
    site.user("lan", role="sales_rep")
    assert site.login("lan").status_code == 303
    first = site.client.cookies.get("metacrm_session")
    assert site.login("lan").status_code == 303  # over the live session
    assert signed_in(site.client)
    assert not signed_in(replay(site, first))
