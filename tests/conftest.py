"""Shared fixtures: every database test runs on a real SQLite file and on a real PostgreSQL
server (a fresh schema per test), against real apps written as YAML."""

from __future__ import annotations

import os
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from metacrm.engine import sync
from metacrm.engine.runtime import Runtime
from metacrm.engine.users import create_token, create_user
from metacrm.web.app import create_app
from metacrm.web.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APP = ROOT / "apps" / "default_crm"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PG_URL = os.environ.get("METACRM_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


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
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crm.db'}"
        return
    pg_engine = request.getfixturevalue("pg_engine")
    url, schema = _pg_schema_url(pg_engine)
    yield url
    with pg_engine.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


def write_app(root: Path, files: dict[str, str], name: str = "testapp") -> Path:
    """An app folder under `root` from {relative path: YAML text}."""
    app = root / name
    for rel, text in files.items():
        path = app / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return app


@pytest.fixture
def make_app_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write an app folder: make_app_dir({"app.yaml": "...", "objects/x.yaml": "..."})."""
    counter = iter(range(1000))

    def factory(files: dict[str, str], name: str | None = None) -> Path:
        return write_app(tmp_path / f"apps{next(counter)}", files, name or "testapp")

    return factory


@pytest.fixture
def make_runtime(database_url: str) -> Iterator[Callable[..., Runtime]]:
    """Runtime factory over the test's database, migrated."""
    made: list[Runtime] = []

    def factory(app_dir: Path | str = DEFAULT_APP, **options) -> Runtime:
        rt = Runtime.open(app_dir, database_url, **options)
        sync.migrate(rt.db, rt.model)
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
def make_api(database_url: str) -> Iterator[Callable[..., ApiClient]]:
    """Factory of API clients: a real app over the test database, a user with a token."""
    opened: list[TestClient] = []

    def factory(app_dir: Path | str = DEFAULT_APP, *, username: str = "admin",
                role: str = "admin") -> ApiClient:
        app = create_app(Settings(app_dir=str(app_dir), database_url=database_url,
                                  secret_key="test"))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        rt: Runtime = app.state.runtime
        with rt.db.write() as conn:
            user = create_user(conn, rt.schema, username, role=role)
            token = create_token(conn, rt.schema, user.id)
        return ApiClient(client, rt, token)

    yield factory
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: Callable[..., ApiClient]) -> ApiClient:
    return make_api()
