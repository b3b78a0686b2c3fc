"""Finding 11: the body size was checked after the body was read, so a 300 MB POST grew the
server from 184 to 653 MB. Now the body is counted as it streams in and refused with 413
past the limit of its kind (JSON and forms 1 MB, uploads 51 MB), by its Content-Length
before a byte is read, or as soon as a chunked body passes the limit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from metacrm.web.limits import MAX_FORM, MAX_IMPORT, MAX_MULTIPART

ROOT = Path(__file__).resolve().parents[2]


def chunks(total: int, size: int = 256 * 1024):
    block = b"x" * size
    sent = 0
    while sent < total:
        yield block
        sent += size


def test_json_past_the_limit_is_413_declared_or_streamed(reps):
    api = reps.api("admin")
    big = b'{"last_name": "' + b"x" * 2_000_000 + b'"}'
    declared = api.request("POST", "/api/v1/contact", content=big,
                           headers={"Content-Type": "application/json"})
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"
    streamed = api.request("POST", "/api/v1/contact", content=chunks(3_000_000),
                           headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    small = api.request("POST", "/api/v1/contact", json={"last_name": "Lê",
                                                          "email": "le@vidu.vn"})
    assert small.status_code == 201


def test_forms_and_uploads_past_their_limits_are_413(reps):
    site = reps.site
    form = site.client.post("/o/contact/new", content=b"last_name=" + b"x" * (MAX_FORM + 1),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 413
    assert "quá lớn" in form.text  # the page, in the user's language
    upload = site.post("/o/contact/import", {}, files={
        "file": ("big.csv", b"a" * (MAX_IMPORT + 1), "text/csv")})
    assert upload.status_code == 413
    # an attached file's form is held to an attached file's size, not an import's
    attached = site.post(f"/o/opportunity/{reps.lan_opportunity['id']}/files", {}, files={
        "file": ("big.pdf", b"a" * (MAX_MULTIPART + 1), "application/pdf")})
    assert attached.status_code == 413
    # naming another type buys no bigger limit
    sneaky = reps.api("admin").request(
        "POST", "/api/v1/contact", content=b'{"last_name": "' + b"x" * 3_000_000 + b'"}',
        headers={"Content-Type": "multipart/x-json"})
    assert sneaky.status_code == 413


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_300_mb_body_leaves_the_server_s_memory_alone(database_url, tmp_path):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "METACRM_SECRET_KEY": "test",
           "METACRM_APP": str(ROOT / "apps" / "default_crm")}
    cli = [sys.executable, "-m", "metacrm.cli"]
    subprocess.run([*cli, "createuser", "admin", "--role", "admin", "--password",
                    "mat-khau-2026"], cwd=tmp_path, env=env, check=True, capture_output=True)
    token = subprocess.run([*cli, "token", "admin"], cwd=tmp_path, env=env, check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()[-1]
    server = subprocess.Popen([sys.executable, "-m", "metacrm.cli", "serve", "--port",
                               str(port)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        before = _rss_kb(server.pid)
        answers = []
        for path, kind, headers in (
                ("/api/v1/contact", "application/json",
                 {"Content-Length": str(300 * 1024 * 1024)}),
                ("/api/v1/contact", "application/json", {}),
                ("/login", "application/x-www-form-urlencoded", {})):
            try:
                answer = httpx.post(url + path, content=chunks(300 * 1024 * 1024),
                                    headers={"Content-Type": kind,
                                             "Authorization": f"Bearer {token}", **headers},
                                    timeout=60)
                answers.append(answer.status_code)
            except httpx.HTTPError:  # the server may close the connection after its 413
                answers.append("closed")
        grown_mb = (_rss_kb(server.pid) - before) / 1024
        assert grown_mb < 50, f"the server grew by {grown_mb:.0f} MB"
        assert all(a in (413, "closed") for a in answers), answers
        assert 413 in answers
        assert httpx.get(url + "/login", timeout=5).status_code == 200  # still serving
    finally:
        server.terminate()
        server.wait(timeout=20)
