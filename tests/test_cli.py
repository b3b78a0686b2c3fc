"""The `metacrm` command, run as a real process against SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
METACRM = [sys.executable, "-m", "metacrm.cli"]


def run(args, database_url, *, app=None, input_text=None, check=False):
    env = {**os.environ, "DATABASE_URL": database_url}
    if app is not None:
        env["METACRM_APP"] = str(app)
    result = subprocess.run([*METACRM, *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, input=input_text, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"metacrm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_console_script_is_installed():
    assert shutil.which("metacrm", path=str(Path(sys.executable).parent)) is not None


def test_check_any_app_folder(tmp_path):
    ok = run(["check", str(ROOT / "tests/fixtures/metadata_examples/real_estate")],
             "sqlite:///unused.db")
    assert ok.returncode == 0 and "OK: app 'real_estate'" in ok.stdout
    broken = tmp_path / "broken"
    (broken / "objects").mkdir(parents=True)
    (broken / "app.yaml").write_text("app: broken\n")
    (broken / "objects/a.yaml").write_text("object: a\nfields:\n  x: {type: money}\n"
                                           "  y: {type: lookup, to: b}\n")
    bad = run(["check", str(broken)], "sqlite:///unused.db")
    assert bad.returncode == 1
    assert "2 metadata problems" in bad.stderr
    assert "objects/a.yaml:3 fields.x.type: unknown field type 'money'" in bad.stderr
    assert "objects/a.yaml:4 fields.y.to: lookup to unknown object 'b'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_plan_migrate_createuser_token_load_data(database_url):
    plan = run(["plan"], database_url, check=True)
    assert "create_table    contact" in plan.stdout
    migrate = run(["migrate"], database_url, check=True)
    assert "create_table    contact" in migrate.stdout
    assert "nothing to do" in run(["plan"], database_url, check=True).stdout
    created = run(["createuser", "lan", "--role", "sales_rep", "--password", "mat-khau-1"],
                  database_url, check=True)
    assert "Created user 'lan'" in created.stdout
    again = run(["createuser", "lan", "--role", "sales_rep", "--password", "mat-khau-1"],
                database_url)
    assert again.returncode == 1 and "already exists" in again.stderr
    bad_role = run(["createuser", "minh", "--role", "boss", "--password", "mat-khau-1"],
                   database_url)
    assert bad_role.returncode == 1 and "unknown role 'boss'" in bad_role.stderr
    token = run(["token", "lan"], database_url, check=True).stdout.strip().splitlines()[-1]
    assert token.startswith("mcrm_")
    assert run(["token", "nobody"], database_url).returncode == 1
    team = run(["team", "Miền Bắc", "--manager", "lan", "--member", "lan"], database_url,
               check=True)
    assert "Team 'Miền Bắc': lan; manager lan." in team.stdout
    assert run(["team", "X", "--member", "ghost"], database_url).returncode == 1
    loaded = run(["load-data"], database_url, check=True)
    assert "10_accounts.yaml: 3 added, 0 updated" in loaded.stdout
    reloaded = run(["load-data"], database_url, check=True)
    assert "10_accounts.yaml: 0 added, 3 updated" in reloaded.stdout


def test_workflow_test_switch_log_and_outbox(database_url):
    run(["migrate"], database_url, check=True)
    run(["load-data"], database_url, check=True)
    tested = run(["workflow", "test", "hot_lead_follow_up"], database_url, check=True)
    assert "Workflow 'hot_lead_follow_up' on lead: checked 0 records" in tested.stdout
    assert "Nothing was changed." in tested.stdout
    assert run(["workflow", "test", "nope"], database_url).returncode == 1
    assert "is off" in run(["workflow", "off", "birthday_greeting"], database_url,
                           check=True).stdout
    assert run(["workflow", "log", "--status", "failed"], database_url,
               check=True).stdout == ""
    assert run(["outbox", "--retry", "99"], database_url).returncode == 1
    once = run(["worker", "--once"], database_url, check=True)
    assert "worker" in once.stdout


def test_load_data_reports_the_bad_row_and_loads_nothing(database_url, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "contact.csv").write_text(
        "first_name,last_name,email\nAn,Nguyễn,an@example.vn\nBình,,binh@example.vn\n",
        encoding="utf-8-sig")
    result = run(["load-data", str(data)], database_url)
    assert result.returncode == 1
    assert "contact.csv record 3 (contact): last_name:" in result.stderr
    assert "Nothing was loaded" in result.stderr


def test_bad_database_url_is_a_clear_error():
    result = run(["plan"], "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert result.returncode == 1
    assert "cannot use the database" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_thread_count_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("METACRM_THREADS", "nhiều")
    result = run(["plan"], "sqlite:///var/unused.db")
    assert result.returncode == 1
    assert "METACRM_THREADS must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_migrates_says_so_and_answers(database_url):
    run(["createuser", "api", "--role", "admin", "--password", "mat-khau-1"], database_url,
        check=True)
    token = run(["token", "api"], database_url, check=True).stdout.strip().splitlines()[-1]
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url}
    server = subprocess.Popen([*METACRM, "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/account",
                                     headers={"Authorization": f"Bearer {token}"})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("the server did not start")
                time.sleep(0.2)
        assert response.status_code == 200 and response.json()["total"] == 0
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    assert "migrate: the database already matches the model" in output
    assert f"on http://127.0.0.1:{port}/" in output
