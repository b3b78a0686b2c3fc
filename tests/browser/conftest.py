"""A live MetaCRM server (uvicorn in a thread) over the test database, driven by Debian's
Chromium through Playwright. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from starlette.testclient import TestClient

from metacrm.engine.boot import open_runtime
from metacrm.engine.runtime import Runtime

from ..conftest import add_user

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "mat-khau-2026"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860},
            "locale": "vi-VN"}


@dataclass
class Live:
    url: str
    runtime: Runtime

    def user(self, name: str, role: str) -> None:
        add_user(self.runtime, name, role, PASSWORD)

    def ctx(self, name: str):
        from metacrm.engine.users import find_user

        with self.runtime.db.read() as conn:
            return self.runtime.context(find_user(conn, self.runtime.schema, name))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def make_live(make_client: Callable[..., TestClient]) -> Iterator[Callable[..., Live]]:
    """make_live(app_dir) -> a live server (uvicorn in a thread) over that app: the app, its
    runtime and database, as every web test has them."""
    servers = []

    def factory(app_dir=None) -> Live:
        client = make_client(app_dir) if app_dir is not None else make_client()
        server, thread, url = _serve(client.app)
        servers.append((server, thread))
        return Live(url, client.app.state.runtime)

    yield factory
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live(make_live: Callable[..., Live]) -> Live:
    """A live server of the default CRM."""
    return make_live()


def _serve(app) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the live server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def demo_live(demo_runtime) -> Iterator[str]:
    """The URL of a live server (uvicorn in a thread) over the demo company; read only:
    other tests share the database."""
    from metacrm.web.app import create_app
    from metacrm.web.settings import Settings

    rt = demo_runtime
    url = rt.db.engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(app_dir=str(rt.app_dir), database_url=url, secret_key="test"),
                     runtime=rt, migrate=False)
    server, thread, base = _serve(app)
    yield base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def fresh_live(database_url: str, tmp_path: Path) -> Iterator[Live]:
    """A live server of the default CRM over this test's own empty database, migrated at
    start: for tests that change the schema, as Setup does."""
    from metacrm.engine import sync
    from metacrm.web.app import create_app
    from metacrm.web.settings import Settings

    app_dir = Path(__file__).resolve().parents[2] / "apps" / "default_crm"
    rt = open_runtime(app_dir, database_url, files_dir=tmp_path / "files")
    sync.migrate(rt.db, rt.model)
    app = create_app(Settings(app_dir=str(app_dir), database_url=database_url,
                              secret_key="test"), runtime=rt, migrate=False)
    server, thread, url = _serve(app)
    yield Live(url, rt)
    server.should_exit = True
    thread.join(timeout=10)
    rt.db.dispose()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable:
    """shot(page, "list") saves tests/artifacts/<test>-list.png."""
    ARTIFACTS.mkdir(exist_ok=True)

    def save(page, name: str) -> Path:
        test = request.node.name.replace("[", "-").replace("]", "")
        path = ARTIFACTS / f"{test}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000
        return path

    return save


@pytest.fixture
def sign_in() -> Callable:
    """sign_in(page, base_url, user name) through the login form."""

    def go(page, base: str, name: str, password: str = PASSWORD) -> None:
        page.goto(base + "/login")
        page.fill("input[name=username]", name)
        page.fill("input[name=password]", password)
        page.click("button.primary")
        page.wait_for_url(base + "/")

    return go
