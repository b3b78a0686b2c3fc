"""Users, teams, passwords (argon2), API tokens and browser sessions."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, select

from .db import Database
from .errors import BadRequest, NotFound
from .schema import Schema
from .types import now_utc

if TYPE_CHECKING:
    from .runtime import Context

SYSTEM_USERNAME = "system"
SYSTEM_ROLE = "system"  # MetaCRM itself (CLI loads, workers): may do everything
TOKEN_PREFIX = "mcrm_"
_hasher = PasswordHasher()


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    display_name: str = ""
    email: str | None = None
    locale: str | None = None
    is_active: bool = True
    team_ids: tuple[int, ...] = ()  # the teams they are a member of
    managed_ids: tuple[int, ...] = ()  # the teams they manage (member or not)

    @property
    def seen_team_ids(self) -> tuple[int, ...]:
        """The teams whose records a `team` scope shows them: theirs and those they
        manage."""
        return tuple(sorted({*self.team_ids, *self.managed_ids}))

    @property
    def name(self) -> str:
        return self.display_name or self.username


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _user(conn: Connection, schema: Schema, row: Any) -> User:
    members = schema.system["mc_team_member"]
    teams = tuple(conn.scalars(select(members.c.team_id).where(members.c.user_id == row.id)))
    led = schema.system["mc_team"]
    managed = tuple(conn.scalars(select(led.c.id).where(led.c.manager_id == row.id)))
    return User(id=row.id, username=row.username, role=row.role,
                display_name=row.display_name or "", email=row.email, locale=row.locale,
                is_active=row.is_active, team_ids=teams, managed_ids=managed)


def create_user(conn: Connection, schema: Schema, username: str, *, role: str,
                password: str | None = None, display_name: str | None = None,
                email: str | None = None, roles: Any = None) -> User:
    username = username.strip()
    if not username or len(username) > 150 or any(c.isspace() for c in username):
        raise BadRequest(f"'{username}' is not a valid user name (no spaces, 1-150 "
                         "characters)")
    if roles is not None and role not in roles:
        raise BadRequest(f"unknown role '{role}' (roles: {', '.join(sorted(roles))})")
    table = schema.system["mc_user"]
    if conn.execute(select(table.c.id).where(table.c.username == username)).first():
        raise BadRequest(f"a user named '{username}' already exists")
    result = conn.execute(table.insert().values(
        username=username, role=role, display_name=display_name or username, email=email,
        password_hash=hash_password(password) if password else None, is_active=True,
        failed_logins=0, created_at=now_utc()))
    return get_user(conn, schema, result.inserted_primary_key[0])


def get_user(conn: Connection, schema: Schema, user_id: int) -> User:
    table = schema.system["mc_user"]
    row = conn.execute(select(table).where(table.c.id == user_id)).first()
    if row is None:
        raise NotFound(f"no user with id {user_id}")
    return _user(conn, schema, row)


def find_user(conn: Connection, schema: Schema, username: str) -> User | None:
    table = schema.system["mc_user"]
    row = conn.execute(select(table).where(table.c.username == username)).first()
    return _user(conn, schema, row) if row else None


def system_user(conn: Connection, schema: Schema) -> User:
    """The user that CLI loads and migrations act as; it cannot sign in."""
    found = find_user(conn, schema, SYSTEM_USERNAME)
    if found is not None:
        return found
    table = schema.system["mc_user"]
    result = conn.execute(table.insert().values(
        username=SYSTEM_USERNAME, role=SYSTEM_ROLE, display_name="MetaCRM", is_active=False,
        failed_logins=0, created_at=now_utc()))
    return get_user(conn, schema, result.inserted_primary_key[0])


def authenticate(conn: Connection, schema: Schema, username: str, password: str) -> User | None:
    table = schema.system["mc_user"]
    row = conn.execute(select(table).where(table.c.username == username)).first()
    if row is None or not row.is_active:
        _hasher.hash(password)  # same work either way: no user-name probing by timing
        return None
    if not verify_password(row.password_hash, password):
        return None
    return _user(conn, schema, row)


def hash_token(token: str) -> str:
    """How a token or a session secret is stored: its SHA-256, never the value."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: Connection, schema: Schema, user_id: int, label: str = "") -> str:
    """A new API token for the user; only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(schema.system["mc_token"].insert().values(
        user_id=user_id, token_hash=hash_token(token), label=label, created_at=now_utc()))
    return token


def user_for_token(conn: Connection, schema: Schema, token: str) -> User | None:
    tokens = schema.system["mc_token"]
    users = schema.system["mc_user"]
    row = conn.execute(
        select(users).join(tokens, tokens.c.user_id == users.c.id)
        .where(tokens.c.token_hash == hash_token(token))
    ).first()
    if row is None or not row.is_active:
        return None
    return _user(conn, schema, row)


def create_team(conn: Connection, schema: Schema, name: str, *,
                manager_id: int | None = None) -> int:
    teams = schema.system["mc_team"]
    name = name.strip()
    if not name:
        raise BadRequest("a team needs a name")
    if conn.execute(select(teams.c.id).where(teams.c.name == name)).first():
        raise BadRequest(f"a team named '{name}' already exists")
    return conn.execute(teams.insert().values(name=name, manager_id=manager_id)
                        ).inserted_primary_key[0]


def ensure_team(conn: Connection, schema: Schema, name: str, *,
                manager_id: int | None = None) -> int:
    """The team named `name`, created if there is none; `manager_id` becomes its manager."""
    teams = schema.system["mc_team"]
    team_id = conn.execute(select(teams.c.id).where(teams.c.name == name.strip())).scalar()
    if team_id is None:
        return create_team(conn, schema, name, manager_id=manager_id)
    if manager_id is not None:
        conn.execute(teams.update().where(teams.c.id == team_id).values(manager_id=manager_id))
    return team_id


def add_to_team(conn: Connection, schema: Schema, team_id: int, user_id: int) -> None:
    members = schema.system["mc_team_member"]
    exists = conn.execute(select(members.c.user_id).where(
        members.c.team_id == team_id, members.c.user_id == user_id)).first()
    if not exists:
        conn.execute(members.insert().values(team_id=team_id, user_id=user_id))


def user_names(conn: Connection, schema: Schema, ids: set[int | None]) -> dict[int, str]:
    """Display names of users, by id, in one query."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    users = schema.system["mc_user"]
    rows = conn.execute(select(users.c.id, users.c.display_name, users.c.username).where(
        users.c.id.in_(wanted)))
    return {r.id: r.display_name or r.username for r in rows}


def known_names(rt: Any, conn: Connection | None = None) -> dict[int, str]:
    """Display names of every user (active or not, the system user too), by id, from the
    runtime's short-lived cache: a page names owners and authors without a query. Filled
    on `conn` when given (no second connection while the caller holds one)."""
    def load(c: Connection) -> dict[int, str]:
        users = rt.schema.system["mc_user"]
        return {r.id: r.display_name or r.username for r in c.execute(
            select(users.c.id, users.c.display_name, users.c.username))}

    def fill() -> dict[int, str]:
        if conn is not None:
            return load(conn)
        with rt.db.read() as own:
            return load(own)

    return rt.recent.get("user_names", fill)


def names_of(rt: Any, conn: Connection, ids: set[int | None]) -> dict[int, str]:
    """Display names of these users: from the cache, asking the database only for users
    added since it was filled."""
    known = known_names(rt, conn)
    out = {i: known[i] for i in ids if i in known}
    missing = {i for i in ids if i is not None and i not in known}
    if missing:
        out.update(user_names(conn, rt.schema, missing))
    return out


def active_users(conn: Connection, schema: Schema) -> list[tuple[int, str]]:
    """(id, name) of every user who can sign in, by name."""
    users = schema.system["mc_user"]
    rows = conn.execute(select(users.c.id, users.c.display_name, users.c.username).where(
        users.c.is_active.is_(True), users.c.role != SYSTEM_ROLE))
    return sorted(((r.id, r.display_name or r.username) for r in rows), key=lambda x: x[1])


def set_locale(db: Database, schema: Schema, user_id: int, locale: str) -> None:
    """The language a user chose, kept for their next session."""
    users = schema.system["mc_user"]
    with db.write() as conn:
        conn.execute(users.update().where(users.c.id == user_id).values(locale=locale))


def user_choices(ctx: Context) -> list[tuple[int, str]]:
    """(id, name) of the active users, for a select or a filter; remembered a few seconds
    (every form with an owner field asks)."""
    def read() -> list[tuple[int, str]]:
        with ctx.db.read() as conn:
            return active_users(conn, ctx.schema)

    return ctx.runtime.recent.get("users", read)


# --- managing users and teams (Setup) --------------------------------------------------------

MIN_PASSWORD = 8


def user_emails(conn: Connection, schema: Schema, ids: Iterable[int]) -> dict[int, str]:
    """The emails of the active users among `ids` who have one (one query)."""
    table = schema.system["mc_user"]
    wanted = {i for i in ids if isinstance(i, int)}
    if not wanted:
        return {}
    rows = conn.execute(select(table.c.id, table.c.email).where(
        table.c.id.in_(wanted), table.c.is_active.is_(True), table.c.email.is_not(None),
        table.c.email != ""))
    return {r.id: r.email for r in rows}


def all_users(conn: Connection, schema: Schema) -> list[User]:
    """Every user but MetaCRM's own system user, by user name, with their teams (two
    queries)."""
    table = schema.system["mc_user"]
    members = schema.system["mc_team_member"]
    teams: dict[int, list[int]] = {}
    for row in conn.execute(select(members.c.user_id, members.c.team_id)):
        teams.setdefault(row.user_id, []).append(row.team_id)
    rows = conn.execute(select(table).where(table.c.role != SYSTEM_ROLE)
                        .order_by(table.c.username))
    return [User(id=r.id, username=r.username, role=r.role, display_name=r.display_name or "",
                 email=r.email, locale=r.locale, is_active=r.is_active,
                 team_ids=tuple(sorted(teams.get(r.id, ())))) for r in rows]


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    manager_id: int | None
    member_ids: tuple[int, ...]


def all_teams(conn: Connection, schema: Schema) -> list[Team]:
    teams = schema.system["mc_team"]
    members = schema.system["mc_team_member"]
    by_team: dict[int, list[int]] = {}
    for row in conn.execute(select(members.c.team_id, members.c.user_id)):
        by_team.setdefault(row.team_id, []).append(row.user_id)
    return [Team(id=r.id, name=r.name, manager_id=r.manager_id,
                 member_ids=tuple(sorted(by_team.get(r.id, ()))))
            for r in conn.execute(select(teams).order_by(teams.c.name))]


def set_role(conn: Connection, schema: Schema, user_id: int, role: str) -> None:
    """A new role; the user's sessions end, so no browser keeps what the old role allowed
    (nor gets it back if the role is changed back)."""
    table = schema.system["mc_user"]
    changed = conn.execute(table.update().where(table.c.id == user_id, table.c.role != role)
                           .values(role=role)).rowcount
    if changed:
        end_sessions(conn, schema, user_id)


def set_display_name(conn: Connection, schema: Schema, user_id: int, name: str) -> None:
    table = schema.system["mc_user"]
    conn.execute(table.update().where(table.c.id == user_id).values(display_name=name))


def set_active(conn: Connection, schema: Schema, user_id: int, active: bool) -> None:
    """Activate or deactivate; a deactivated user's sessions end for good (activating them
    again does not bring an old cookie back)."""
    table = schema.system["mc_user"]
    conn.execute(table.update().where(table.c.id == user_id).values(is_active=active))
    if not active:
        end_sessions(conn, schema, user_id)


def set_teams(conn: Connection, schema: Schema, user_id: int, team_ids: set[int]) -> None:
    """Make the user a member of exactly `team_ids`."""
    members = schema.system["mc_team_member"]
    current = set(conn.scalars(select(members.c.team_id).where(members.c.user_id == user_id)))
    for team_id in current - team_ids:
        remove_from_team(conn, schema, team_id, user_id)
    for team_id in team_ids - current:
        conn.execute(members.insert().values(team_id=team_id, user_id=user_id))


def remove_from_team(conn: Connection, schema: Schema, team_id: int, user_id: int) -> None:
    members = schema.system["mc_team_member"]
    conn.execute(members.delete().where(members.c.team_id == team_id,
                                        members.c.user_id == user_id))


def set_password(conn: Connection, schema: Schema, user_id: int, password: str) -> None:
    """A new password; every session the user had signed in with the old one ends."""
    table = schema.system["mc_user"]
    conn.execute(table.update().where(table.c.id == user_id).values(
        password_hash=hash_password(password), failed_logins=0, locked_until=None))
    end_sessions(conn, schema, user_id)


def owned_ids(conn: Connection, schema: Schema, object_names: list[str],
              user_id: int) -> dict[str, list[int]]:
    """Object -> ids of the records `user_id` owns, for the objects that have an owner."""
    out: dict[str, list[int]] = {}
    for name in object_names:
        table = schema.tables.get(name)
        if table is None or "owner" not in table.c:
            continue
        ids = list(conn.scalars(select(table.c.id).where(table.c.owner == user_id)
                                .order_by(table.c.id)))
        if ids:
            out[name] = ids
    return out


# --- browser sessions -----------------------------------------------------------------------

SESSION_DAYS = 14


@dataclass(frozen=True)
class Session:
    """A signed-in browser. `id` is the hash of the secret its cookie carries."""

    id: str
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    address: str | None
    agent: str | None


def start_session(conn: Connection, schema: Schema, user_id: int, *, address: str | None,
                  agent: str | None) -> str:
    """A new session for the user; returns the secret its cookie carries (only its hash is
    stored, so the table alone cannot sign anyone in)."""
    secret = secrets.token_urlsafe(32)
    now = now_utc()
    conn.execute(schema.system["mc_session"].insert().values(
        id=hash_token(secret), user_id=user_id, created_at=now, last_seen_at=now,
        address=(address or "")[:64] or None, agent=(agent or "")[:300] or None))
    return secret


def live_session(conn: Connection, schema: Schema, secret: str) -> Session | None:
    """The session the secret names, while it has not ended (sign-out, "sign out
    everywhere", a new password) nor expired."""
    table = schema.system["mc_session"]
    row = conn.execute(select(table).where(table.c.id == hash_token(secret),
                                           table.c.ended_at.is_(None))).first()
    if row is None or row.created_at < now_utc() - timedelta(days=SESSION_DAYS):
        return None
    return _session(row)


def _session(row: Any) -> Session:
    return Session(row.id, row.user_id, row.created_at, row.last_seen_at, row.address,
                   row.agent)


def seen_session(conn: Connection, schema: Schema, session_id: str) -> None:
    table = schema.system["mc_session"]
    conn.execute(table.update().where(table.c.id == session_id).values(
        last_seen_at=now_utc()))


def end_session(conn: Connection, schema: Schema, secret: str) -> None:
    table = schema.system["mc_session"]
    conn.execute(table.update().where(table.c.id == hash_token(secret),
                                      table.c.ended_at.is_(None)).values(ended_at=now_utc()))


def end_sessions(conn: Connection, schema: Schema, user_id: int) -> int:
    """End every session of the user ("sign out everywhere"); returns how many."""
    table = schema.system["mc_session"]
    return conn.execute(table.update().where(table.c.user_id == user_id,
                                             table.c.ended_at.is_(None))
                        .values(ended_at=now_utc())).rowcount


def active_sessions(conn: Connection, schema: Schema, user_id: int) -> list[Session]:
    """The user's sessions that have not ended, the most recently seen first."""
    table = schema.system["mc_session"]
    since = now_utc() - timedelta(days=SESSION_DAYS)
    rows = conn.execute(select(table).where(
        table.c.user_id == user_id, table.c.ended_at.is_(None), table.c.created_at >= since)
        .order_by(table.c.last_seen_at.desc())).all()
    return [_session(r) for r in rows]
