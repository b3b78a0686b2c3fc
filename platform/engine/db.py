"""The database: one SQLAlchemy engine, SQLite (WAL, the zero-setup default) or PostgreSQL.

Writes on SQLite start with `BEGIN IMMEDIATE`, so that a transaction that reads and then
writes never fails half-way on a lock taken by another writer in between; the busy timeout
makes concurrent writers wait their turn instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, OperationalError

from .errors import BadRequest

DEFAULT_URL = "sqlite:///var/metacrm.db"


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


@contextmanager
def _calculations() -> Iterator[None]:
    """A read whose arithmetic the database refuses (a filter's `amount * 10^18`, a sum past
    64 bits) is a bad request, not a server error: values are checked when written, but a
    user's filter or report formula can still compute past what a column type holds."""
    try:
        yield
    except (DataError, OperationalError) as exc:
        if isinstance(exc, OperationalError) and "overflow" not in str(exc.orig):
            raise
        raise BadRequest(CALCULATION_TOO_LARGE, reason=str(exc.orig).strip().splitlines()[0]
                         ) from None


CALCULATION_TOO_LARGE = ("A calculation in this request goes beyond what the database holds: "
                         "check the filter's numbers.")


class Database:
    def __init__(self, url: str = DEFAULT_URL, *, pool_size: int = 10):
        # pool_size connections kept, twice as many more opened under load: `capacity`
        self.capacity = pool_size * 3
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(pool_size)
        elif self.dialect == "postgresql":
            if self.url.drivername == "postgresql":
                self.url = self.url.set(drivername="postgresql+psycopg")
            # no pre-ping (a round trip on every checkout); connections are recycled hourly
            self.engine = create_engine(self.url, pool_size=pool_size,
                                        max_overflow=2 * pool_size, pool_recycle=3600)
        else:
            raise ValueError(f"unsupported database '{self.dialect}' in DATABASE_URL "
                             "(use sqlite:///path or postgresql+psycopg://...)")

    def _sqlite_engine(self, pool_size: int) -> Engine:
        database = self.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        pooled = {"pool_size": pool_size, "max_overflow": 2 * pool_size} if database and \
            database != ":memory:" else {}  # a memory database lives in one connection
        engine = create_engine(self.url, connect_args={"timeout": 30}, **pooled)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA cache_size=-65536")  # 64 MB: indexes of big tables fit
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.close()
            # SQLite's own lower()/upper() fold ASCII only; ours fold every letter (Đ, Ô, ...)
            dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
            dbapi_connection.create_function("upper", 1, _upper, deterministic=True)

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            options = conn.get_execution_options()
            if options.get("isolation_level") == "AUTOCOMMIT":
                return  # reads: each statement on its own
            conn.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', 'DEFERRED')}")

        return engine

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection inside a write transaction, committed at the end unless it raises."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads. Statements run on their own (no BEGIN/COMMIT round trips);
        a list's page and its count may therefore see different moments, never half a
        write."""
        with self.engine.connect() as conn, _calculations():
            conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A connection for reads that must agree with each other (one transaction)."""
        with self.engine.connect() as conn, conn.begin(), _calculations():
            yield conn

    def refresh_statistics(self, table: str, conn: Connection | None = None) -> None:
        """Let PostgreSQL's planner see a table's new size and values (ANALYZE) after a bulk
        load. Until autovacuum gets there (a minute or more), a table that was small looks
        small, and a lookup of a few hundred values by an index turns into scans of the
        whole table. SQLite plans from its indexes without statistics. On `conn`, inside
        its transaction, which the count then includes (a dry run's rows: PostgreSQL keeps
        the table size it counted after the rollback, until autovacuum counts again)."""
        if self.is_sqlite:
            return
        if conn is not None:
            conn.exec_driver_sql(f'ANALYZE "{table}"')  # a name from the model
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as own:
            own.exec_driver_sql(f'ANALYZE "{table}"')

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
