"""Shared fixtures: every database test runs on a real SQLite file and on a real PostgreSQL
server (a fresh schema per test), against real apps written as YAML."""

from __future__ import annotations

import os
import re
import shutil
import textwrap
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from metacrm.engine import sync
from metacrm.engine.boot import new_runtime, open_runtime
from metacrm.engine.db import Database
from metacrm.engine.runtime import Runtime
from metacrm.engine.schema import build_schema
from metacrm.engine.users import create_token, create_user, hash_password
from metacrm.metadata import load
from metacrm.web.app import create_app
from metacrm.web.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APP = ROOT / "apps" / "default_crm"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHOP = FIXTURES / "apps" / "shop"  # customers and purchases: Setup, overlays, live reload
ESTATES = FIXTURES / "apps" / "estates"  # projects, units, deposits: issue 15's data model
PG_URL = os.environ.get("METACRM_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


BROWSER_TESTS = Path(__file__).resolve().parent / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what a quick local run leaves out: `browser` on every test under tests/browser/,
    `pg` on every test that runs on PostgreSQL (a fixture such as `backend` or
    `demo_runtime` parametrized with "postgresql", or a test that asks for `pg_engine`)."""
    for item in items:
        if item.path.is_relative_to(BROWSER_TESTS):
            item.add_marker(pytest.mark.browser)
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec else ()
        if "postgresql" in params or "pg_engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.pg)


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL}: {exc}. Start it with "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
    yield engine
    engine.dispose()


def _pg_schema_url(pg_engine: sa.Engine) -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with pg_engine.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.engine.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'crm.db'}"
        return
    pg_engine = request.getfixturevalue("pg_engine")
    url, schema = _pg_schema_url(pg_engine)
    yield url
    with pg_engine.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def make_database_url(backend: str, request: pytest.FixtureRequest,
                      tmp_path: Path) -> Iterator[Callable[[], str]]:
    """make_database_url() -> another fresh, empty database of this test's backend."""
    schemas: list[str] = []
    counter = iter(range(100))

    def factory() -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'extra{next(counter)}.db'}"
        url, schema = _pg_schema_url(request.getfixturevalue("pg_engine"))
        schemas.append(schema)
        return url

    yield factory
    if schemas:
        with request.getfixturevalue("pg_engine").connect() as conn:
            for schema in schemas:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@cache
def load_model(app_dir: str):
    """Models are immutable: each app is loaded once per test session."""
    return load(app_dir)


class Templates:
    """Databases migrated once per (backend, app) and handed out empty to each test:
    a copied SQLite file, or a PostgreSQL schema whose data tables are truncated."""

    def __init__(self, root: Path, pg_engine_factory: Callable[[], sa.Engine]):
        self.root = root
        self.pg_engine_factory = pg_engine_factory
        self.sqlite: dict[str, Path] = {}
        self.pg: dict[str, tuple[str, str]] = {}
        self._engine: sa.Engine | None = None

    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = self.pg_engine_factory()
        return self._engine

    def _migrate(self, app_dir: str, url: str) -> None:
        rt = new_runtime(model=load_model(app_dir), db=Database(url),
                         schema=build_schema(load_model(app_dir)))
        sync.migrate(rt.db, rt.model)
        if rt.db.is_sqlite:
            with rt.db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        rt.db.dispose()

    def sqlite_url(self, app_dir: str, target: Path) -> str:
        if app_dir not in self.sqlite:
            path = self.root / f"template{len(self.sqlite)}.db"
            self._migrate(app_dir, f"sqlite:///{path}")
            self.sqlite[app_dir] = path
        shutil.copyfile(self.sqlite[app_dir], target)
        return f"sqlite:///{target}"

    def pg_url(self, app_dir: str) -> str:
        engine = self.engine()
        if app_dir not in self.pg:
            url, schema = _pg_schema_url(engine)
            self._migrate(app_dir, url)
            self.pg[app_dir] = (url, schema)
        url, schema = self.pg[app_dir]
        with engine.connect() as conn:
            tables = conn.scalars(sa.text(
                "select tablename from pg_tables where schemaname = :s and tablename "
                "<> 'mc_field'"), {"s": schema}).all()
            if tables:
                names = ", ".join(f'"{schema}"."{t}"' for t in tables)
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY"))
        return url

    def drop(self) -> None:
        if self.pg:
            with self.engine().connect() as conn:
                for _, schema in self.pg.values():
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            self.engine().dispose()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory,
              request: pytest.FixtureRequest) -> Iterator[Templates]:
    made = Templates(tmp_path_factory.mktemp("templates"),
                     lambda: request.getfixturevalue("pg_engine"))
    yield made
    made.drop()


@pytest.fixture
def prepared_url(backend: str, templates: Templates, tmp_path: Path) -> Callable[..., str]:
    """prepared_url(app_dir) -> the URL of an empty database already migrated to the app."""

    prepared: dict[str, str] = {}  # one database per app within a test, shared by clients

    def factory(app_dir: Path | str = DEFAULT_APP) -> str:
        key = str(Path(app_dir).resolve())
        if key not in prepared:
            prepared[key] = (templates.sqlite_url(key, tmp_path / f"crm{len(prepared)}.db")
                             if backend == "sqlite" else templates.pg_url(key))
        return prepared[key]

    return factory


def write_app(root: Path, files: dict[str, str | None], name: str = "testapp",
              base: Path | None = None) -> Path:
    """An app folder under `root` from {relative path: YAML text}; with `base`, a copy of
    that app folder with `files` written over it (None removes a file)."""
    app = root / name
    if base is not None:
        shutil.copytree(base, app)
    for rel, text in files.items():
        path = app / rel
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return app


@pytest.fixture
def make_app_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write an app folder: make_app_dir({"app.yaml": "...", "objects/x.yaml": "..."}), or a
    variant of a fixture app: make_app_dir({"objects/customer.yaml": "..."}, base=SHOP)."""
    counter = iter(range(1000))

    def factory(files: dict[str, str | None], name: str | None = None, *,
                base: Path | None = None) -> Path:
        name = name or (base.name if base is not None else "testapp")
        return write_app(tmp_path / f"apps{next(counter)}", files, name, base)

    return factory


@pytest.fixture
def make_runtime(prepared_url: Callable[..., str]) -> Iterator[Callable[..., Runtime]]:
    """Runtime factory over an empty database migrated to the app."""
    made: list[Runtime] = []

    def factory(app_dir: Path | str = DEFAULT_APP, **options) -> Runtime:
        model = load_model(str(Path(app_dir).resolve()))
        rt = new_runtime(model=model, db=Database(prepared_url(app_dir)),
                         schema=build_schema(model), **options)
        made.append(rt)
        return rt

    yield factory
    for rt in made:
        rt.db.dispose()


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime()


@pytest.fixture
def ctx(runtime: Runtime):
    """An admin's context on the default CRM."""
    with runtime.db.write() as conn:
        user = create_user(conn, runtime.schema, "admin", role="admin")
    return runtime.context(user)


class ApiClient:
    """A TestClient over the real ASGI app, signed in with a bearer token."""

    def __init__(self, client: TestClient, runtime: Runtime, token: str):
        self.client = client
        self.runtime = runtime
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method: str):
        call = getattr(self.client, method)

        def with_auth(url: str, **kwargs):
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return call(url, headers=headers, **kwargs)

        return with_auth


@pytest.fixture
def make_client(prepared_url: Callable[..., str],
                tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Factory of TestClients over the real app on an empty, migrated test database; the
    runtime is `client.app.state.runtime`."""
    opened: list[TestClient] = []

    def factory(app_dir: Path | str = DEFAULT_APP, **runtime_options) -> TestClient:
        url = prepared_url(app_dir)
        model = load_model(str(Path(app_dir).resolve()))
        runtime_options.setdefault("files_dir", tmp_path / "files")
        runtime = new_runtime(model=model, db=Database(url), schema=build_schema(model),
                              **runtime_options)
        app = create_app(Settings(app_dir=str(app_dir), database_url=url, secret_key="test"),
                         runtime=runtime, migrate=False)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield factory
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def make_api(make_client: Callable[..., TestClient]) -> Callable[..., ApiClient]:
    """Factory of API clients: a real app over the test database, a user with a token."""

    def factory(app_dir: Path | str = DEFAULT_APP, *, username: str = "admin",
                role: str = "admin") -> ApiClient:
        client = make_client(app_dir)
        rt: Runtime = client.app.state.runtime
        with rt.db.write() as conn:
            user = create_user(conn, rt.schema, username, role=role)
            token = create_token(conn, rt.schema, user.id)
        return ApiClient(client, rt, token)

    return factory


@pytest.fixture
def api(make_api: Callable[..., ApiClient]) -> ApiClient:
    return make_api()


PASSWORD = "mat-khau-2026"


@cache
def password_hash(password: str) -> str:
    """One argon2 hash of each test password per worker (argon2 takes a noticeable fraction
    of a second on purpose): the users that fixtures make share it, and every sign-in still
    verifies it with argon2."""
    return hash_password(password)


def add_user(rt: Runtime, name: str, role: str, password: str = PASSWORD):
    """A user who signs in with `password`: create_user, then the cached hash."""
    with rt.db.write() as conn:
        user = create_user(conn, rt.schema, name, role=role)
        table = rt.schema.system["mc_user"]
        conn.execute(table.update().where(table.c.id == user.id)
                     .values(password_hash=password_hash(password)))
    return user


class Site:
    """A browser-like client: signs in through the login form and sends CSRF tokens."""

    def __init__(self, client):
        self.client = client
        self.rt = client.app.state.runtime
        self.token: str | None = None

    def user(self, name: str, role: str = "admin", password: str = PASSWORD):
        return add_user(self.rt, name, role, password)

    def ctx(self, name: str):
        from metacrm.engine.users import find_user

        with self.rt.db.read() as conn:
            return self.rt.context(find_user(conn, self.rt.schema, name))

    def csrf(self, path: str = "/login") -> str:
        html = self.client.get(path).text
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    def login(self, name: str, password: str = PASSWORD):
        token = self.csrf("/login")
        self.token = None  # signing in starts a new session with a new token
        return self.client.post("/login", data={"username": name, "password": password,
                                                "csrf_token": token, "next": "/"},
                                follow_redirects=False)

    def switch_to(self, name: str, password: str = PASSWORD) -> None:
        """Sign out, then in as `name` (a new session with its own CSRF token)."""
        self.post("/logout", {})
        assert self.login(name, password).status_code == 303

    def post(self, path: str, data: dict, **kwargs):
        if self.token is None:
            self.token = self.csrf("/")
        response = self.client.post(path, data={**data, "csrf_token": self.token},
                                    follow_redirects=False, **kwargs)
        if path == "/logout":
            self.token = None
        return response

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def review_then_apply(self, path: str, data: dict):
        """Submit a Setup form, check its review page, confirm it: (review, answer)."""
        import html

        review = self.post(path, data)
        assert review.status_code == 200, review.text
        assert 'id="apply"' in review.text
        hidden: dict[str, list[str]] = {}
        for key, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                                     review.text):
            if key != "csrf_token":
                hidden.setdefault(key, []).append(html.unescape(value))
        assert hidden["confirm"] == ["1"]
        return review, self.post(path, hidden)


@pytest.fixture
def site(make_site) -> Site:
    """An admin signed in on the default CRM over a prepared test database."""
    made = make_site()
    made.user("admin")
    assert made.login("admin").status_code == 303
    return made


@pytest.fixture
def make_site(make_client) -> Callable[..., Site]:
    """make_site(app_dir) -> a Site over a real app on a prepared test database."""

    def factory(app_dir: Path | str = DEFAULT_APP, **runtime_options) -> Site:
        return Site(make_client(app_dir, **runtime_options))

    return factory


@pytest.fixture
def fresh_site(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Site]]:
    """fresh_site(app_dir) -> a Site over the app on this test's own empty database,
    migrated at start-up: for tests that change the schema, as Setup does."""
    opened: list[TestClient] = []

    def factory(app_dir: Path | str = DEFAULT_APP) -> Site:
        rt = open_runtime(app_dir, database_url, files_dir=tmp_path / "files")
        app = create_app(Settings(app_dir=str(app_dir), database_url=database_url,
                                  secret_key="test"), runtime=rt)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return Site(client)

    yield factory
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture(scope="module", params=BACKENDS)
def demo_runtime(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """The default CRM with its demo data loaded (`metacrm load-data --demo`), one database
    per backend for a whole test module (tests only read it)."""
    from metacrm.engine.loaddata import load_data

    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    else:
        url, schema = _pg_schema_url(request.getfixturevalue("pg_engine"))
    rt = open_runtime(DEFAULT_APP, url, files_dir=tmp_path_factory.mktemp("files"))
    sync.migrate(rt.db, rt.model)
    load_data(rt, Path(DEFAULT_APP) / "data", demo=True)
    yield rt
    rt.db.dispose()
    if schema is not None:
        with request.getfixturevalue("pg_engine").connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


class Mailbox:
    """What a real SMTP server (aiosmtpd) received: (recipients, message) per email. `delay`
    makes it take a moment over each message (so a killed sender is caught mid-send)."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        import asyncio
        from email import message_from_bytes

        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def make_smtp() -> Iterator[Callable[..., tuple[Mailbox, int]]]:
    """make_smtp(delay=0.0) -> (mailbox, port) of a real SMTP server on localhost."""
    import socket

    from aiosmtpd.controller import Controller

    controllers = []

    def factory(delay: float = 0.0) -> tuple[Mailbox, int]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        box = Mailbox(delay)
        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return box, port

    yield factory
    for controller in controllers:
        controller.stop()


@pytest.fixture
def estates(make_runtime) -> tuple[Runtime, Any]:
    """(runtime, an admin's context) over the estates app on an empty database."""
    rt = make_runtime(ESTATES)
    with rt.db.write() as conn:
        admin = create_user(conn, rt.schema, "admin", role="admin")
    return rt, rt.context(admin)


@pytest.fixture
def estates_site(make_site) -> Site:
    """An admin, boss, signed in on the estates app over an empty database."""
    site = make_site(ESTATES)
    site.user("boss")
    assert site.login("boss").status_code == 303
    return site
