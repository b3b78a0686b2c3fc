"""Two server processes on one database: a field added in Setup through the first is on the
second's forms and API within 2 seconds, without a restart. Real `metacrm serve` processes
over SQLite and PostgreSQL, driven over HTTP."""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import SHOP

ROOT = Path(__file__).resolve().parents[1]
METACRM = [sys.executable, "-m", "metacrm.cli"]
PASSWORD = "mat-khau-2026"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(args, env):
    result = subprocess.run([*METACRM, *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def serve(env) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([*METACRM, "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with httpx.Client() as probe:
                probe.get(base + "/login")
            return proc, base
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the server did not start")
            time.sleep(0.2)


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_field_added_on_one_server_is_live_on_the_other(database_url, make_app_dir):
    # without a layout of its own the customer form shows every field, the new one too
    app = make_app_dir({"layouts/customer.yaml": None}, base=SHOP)
    env = {**os.environ, "DATABASE_URL": database_url, "METACRM_APP": str(app),
           "METACRM_SECRET_KEY": "shared-secret"}
    run(["migrate"], env)
    run(["createuser", "boss", "--role", "admin", "--password", PASSWORD], env)
    token = run(["token", "boss"], env).strip().splitlines()[-1]
    first, first_url = serve(env)
    second, second_url = serve(env)
    clients: list[httpx.Client] = []
    try:
        api = httpx.Client(base_url=second_url, headers={"Authorization": f"Bearer {token}"})
        clients.append(api)
        assert api.post("/api/v1/customer", json={"name": "An", "zalo": "0903123456"}
                        ).status_code == 422  # no such field yet
        admin = httpx.Client(base_url=first_url)
        clients.append(admin)
        token_field = csrf(admin.get("/login").text)
        assert admin.post("/login", data={"username": "boss", "password": PASSWORD,
                                          "csrf_token": token_field}).status_code in (200, 303)
        form = {"name": "zalo", "type": "phone", "label_en": "Zalo", "label_vi": "Zalo"}
        review = admin.post("/setup/objects/customer/fields/new",
                            data={**form, "csrf_token": csrf(admin.get("/setup").text)})
        assert review.status_code == 200 and 'id="apply"' in review.text
        hidden = {k: html.unescape(v) for k, v in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)"', review.text)}
        saved = admin.post("/setup/objects/customer/fields/new", data=hidden)
        assert saved.status_code == 303, saved.text
        applied = time.monotonic()
        while True:  # the second process has not been told; it must notice by itself
            created = api.post("/api/v1/customer", json={"name": "An", "zalo": "0903123456"})
            if created.status_code == 201 or time.monotonic() - applied > 5:
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - applied
        assert created.status_code == 201, created.text
        assert created.json()["zalo"] == "+84903123456"
        assert elapsed < 2.0, f"the second server took {elapsed:.2f} s"
        second_admin = httpx.Client(base_url=second_url)
        clients.append(second_admin)
        token_field = csrf(second_admin.get("/login").text)
        second_admin.post("/login", data={"username": "boss", "password": PASSWORD,
                                          "csrf_token": token_field})
        assert 'name="zalo"' in second_admin.get("/o/customer/new").text
        assert "zalo" in api.get("/api/v1/openapi.json").text
    finally:
        for client in clients:
            client.close()
        for proc in (first, second):
            proc.terminate()
            proc.wait(timeout=20)
