"""Finding 8: five guesses locked `admin` out for everyone, one guess per user name from one
address was never stopped, and a locked account answered differently from an unknown one.
Sign-ins are now throttled by user name and address together, by address, and by user name
across addresses (engine/throttle.py), against the runtime's clock: time moves by hand here,
nothing sleeps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from metacrm.engine import throttle

from ..conftest import PASSWORD, Site


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def crm(make_site, clock):
    site = make_site(clock=clock)
    site.user("admin")
    site.user("lan", role="sales_rep")
    return site


def from_address(site: Site, address: str) -> Site:
    return Site(TestClient(site.client.app, client=(address, 40000)))


def answer_text(response) -> str:
    found = re.search(r'role="alert"[^>]*>(.*?)<', response.text, re.S)
    assert found, response.text[:500]
    return found.group(1).strip()


def test_five_guesses_stop_the_guesser_not_the_admin(crm, clock):
    attacker = from_address(crm, "203.0.113.66")
    for _ in range(5):
        assert attacker.login("admin", "doan-bua").status_code == 401
    stopped = attacker.login("admin", PASSWORD)  # even the right password: not checked
    assert stopped.status_code == 401 and "15" in answer_text(stopped)
    office = from_address(crm, "198.51.100.10")
    assert office.login("admin", PASSWORD).status_code == 303
    clock.now += timedelta(minutes=15, seconds=1)
    assert attacker.login("admin", PASSWORD).status_code == 303


def test_one_guess_per_user_name_from_one_address_is_stopped(crm, clock):
    sprayer = from_address(crm, "203.0.113.77")
    for i in range(30):
        assert sprayer.login(f"nguoi_dung_{i}", "123456").status_code == 401
    stopped = sprayer.login("lan", PASSWORD)
    assert stopped.status_code == 401
    assert from_address(crm, "198.51.100.20").login("lan", PASSWORD).status_code == 303
    clock.now += timedelta(hours=1, seconds=1)
    assert sprayer.login("lan", PASSWORD).status_code == 303


def test_unknown_and_known_user_names_get_the_same_answers(crm):
    answers = {}
    for name in ("lan", "khong_ton_tai"):
        guesser = from_address(crm, f"203.0.113.{len(answers) + 1}")
        seen = [answer_text(guesser.login(name, "sai")) for _ in range(6)]
        answers[name] = seen
    assert answers["lan"] == answers["khong_ton_tai"]
    assert answers["lan"][0] != answers["lan"][-1]  # wrong, then throttled


def test_many_addresses_on_one_name_stop_that_name(crm, clock):
    rt = crm.rt
    with rt.db.write() as conn:
        for i in range(100):
            throttle.failed(conn, rt.schema, clock.now, "admin", f"10.0.{i // 250}.{i % 250}")
        left = throttle.wait(conn, rt.schema, clock.now, "Admin", "192.0.2.1")
    assert left is not None and left <= timedelta(hours=1)
    assert from_address(crm, "192.0.2.1").login("admin", PASSWORD).status_code == 401
    clock.now += timedelta(hours=1, seconds=1)
    assert from_address(crm, "192.0.2.1").login("admin", PASSWORD).status_code == 303


def test_parallel_guesses_cannot_slip_past_the_count(crm, clock):
    import threading

    rt = crm.rt
    began: list[int] = []

    def guess() -> None:
        with rt.db.write() as conn:
            _, attempt = throttle.begin(conn, rt.schema, clock.now, "admin", "203.0.113.99")
        if attempt is not None:
            began.append(attempt)

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(began) == 5  # five passwords checked, not one more


def test_a_known_address_keeps_its_user_in_and_ipv6_counts_by_network(crm, clock):
    office = "198.51.100.40"
    assert from_address(crm, office).login("lan", PASSWORD).status_code == 303
    colleague = from_address(crm, office)
    for i in range(30):  # someone behind the same NAT sprays names
        colleague.login(f"ai_do_{i}", "sai")
    assert colleague.login("khach_la", PASSWORD).status_code == 401  # the address is held
    assert from_address(crm, office).login("lan", PASSWORD).status_code == 303  # lan is not
    for i in range(5):  # one client, many addresses of its /64
        from_address(crm, f"2001:db8:1:2::{i + 1}").login("admin", "sai")
    assert from_address(crm, "2001:db8:1:2::ff").login("admin", PASSWORD).status_code == 401
    assert from_address(crm, "2001:db8:9:9::1").login("admin", PASSWORD).status_code == 303
