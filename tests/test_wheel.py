"""The wheel on its own: built from the repository, installed into a fresh virtual
environment outside it, `metacrm init` / `createuser` / `serve` there, then a contact signed
in and saved over HTTP. Nothing may come from the repository: no default app, template or
static file found through the current folder."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "mat-khau-2026"
# the caller's settings and virtual environment stay out of the installed command's way
NOT_PASSED = ("METACRM_APP", "DATABASE_URL", "METACRM_SECRET_KEY", "PYTHONPATH",
              "PYTHONHOME", "VIRTUAL_ENV")


def source_tree(into: Path) -> Path:
    """What a wheel is built from: pyproject.toml, the readme and the folders it maps into
    the package (a copy, so the build leaves nothing in the checkout)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    into.mkdir()
    for name in ("pyproject.toml", config["project"]["readme"]):
        shutil.copy2(ROOT / name, into / name)
    for folder in config["tool"]["setuptools"]["package-dir"].values():
        shutil.copytree(ROOT / folder, into / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return into


def run(args: list[str], cwd: Path, timeout: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if k not in NOT_PASSED}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(base: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(base + "/login")
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("the server did not start:\n" + log.read_text())
            time.sleep(0.2)


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.mark.slow
def test_the_wheel_installs_inits_and_serves_outside_the_repository(tmp_path):
    assert ROOT not in tmp_path.parents
    src = source_tree(tmp_path / "src")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
         str(src)], tmp_path, timeout=300)
    wheel = next((tmp_path / "dist").glob("metacrm-*.whl"))
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], tmp_path,
        timeout=600)

    where = run([str(venv / "bin" / "python"), "-c",
                 "import metacrm.cli, metacrm.shipped as s; print(metacrm.cli.__file__); "
                 "print(s.default_app()); print(s.layouts()); print(s.recipes())"], tmp_path)
    for path in where.split():
        assert Path(path).is_relative_to(venv) and Path(path).exists(), where

    metacrm = str(venv / "bin" / "metacrm")
    run([metacrm, "init", "site"], tmp_path)
    site = tmp_path / "site"
    run([metacrm, "createuser", "admin", "--role", "admin", "--password", PASSWORD], site)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([metacrm, "serve", "--port", str(port)], cwd=site,
                                  env={k: v for k, v in os.environ.items()
                                       if k not in NOT_PASSED},
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(base, server, log)
        with httpx.Client(base_url=base) as browser:
            signed_in = browser.post("/login", data={
                "username": "admin", "password": PASSWORD, "next": "/",
                "csrf_token": csrf(browser.get("/login").text)})
            assert signed_in.status_code == 303, signed_in.text
            home = browser.get("/").text
            script = re.search(r'src="(/static/[^"]+)"', home).group(1)
            assert browser.get(script).status_code == 200  # static files are shipped
            saved = browser.post("/o/contact/new", data={
                "first_name": "Văn Đức", "last_name": "Nguyễn", "email": "duc@example.vn",
                "csrf_token": csrf(home)})
            assert saved.status_code == 303, saved.text
            detail = browser.get(saved.headers["location"])
            assert detail.status_code == 200 and "duc@example.vn" in detail.text
            found = browser.get("/o/contact", params={"search": "nguyen van duc"}).text
            assert "Nguyễn" in found
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert (site / "var" / "metacrm.db").is_file()
    assert f"MetaCRM 'default_crm' on {base}/" in log.read_text()
