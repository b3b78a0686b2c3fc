"""Throttling sign-ins: attempts are recorded in the database (so every server process
sees them) by user name and client address, against the runtime's clock (so a test moves
time instead of sleeping).

    limit            failures  window   stops
    name + address   5         15 min   one address guessing one user's password
    address          30        1 hour   one address spraying a guess per user name
    name             100       1 hour   many addresses guessing one user

Nobody can lock `admin` out with five guesses: those stop only the guesser's address. A
user who signed in from an address in the last 30 days is held only by the first limit
there, so a colleague's typos behind the same office NAT, or a spray against their name
from elsewhere, do not lock them out. IPv6 addresses count by their /64 network (one
client holds a whole /64). An unknown user name is counted like a known one and gets the
same answers, so throttling never says whether a user exists.

An attempt is recorded as a failure *before* its password is checked, in a transaction
that holds the name's and the address's lock: parallel guesses cannot all slip past the
count. A right password turns it into a success.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, delete, exists, func, select, text

from .db import Database
from .schema import Schema
from .users import User, authenticate

KEEP_FAILURES = timedelta(days=1)
KNOWN_FOR = timedelta(days=30)  # a success from an address vouches for it this long


@dataclass(frozen=True)
class Limit:
    by: tuple[str, ...]  # the columns that make the key: username, address
    attempts: int
    window: timedelta


LIMITS = (Limit(("username", "address"), 5, timedelta(minutes=15)),
          Limit(("address",), 30, timedelta(hours=1)),
          Limit(("username",), 100, timedelta(hours=1)))


def key_of(username: str, address: str) -> dict[str, str]:
    """How attempts are counted: the name without case or spaces; an IPv6 address by its
    /64 network."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if ip is not None and ip.version == 6 and ip.ipv4_mapped is None:
        address = str(ipaddress.ip_network(f"{ip}/64", strict=False))
    elif ip is not None and ip.version == 6:
        address = str(ip.ipv4_mapped)
    return {"username": username.strip().lower()[:150], "address": (address or "unknown")[:64]}


def wait(conn: Connection, schema: Schema, now: datetime, username: str,
         address: str) -> timedelta | None:
    """How long before this user name may be tried again from this address (None: now).
    The password is not even checked while a limit holds."""
    table = schema.system["mc_sign_in_attempt"]
    key = key_of(username, address)
    known = conn.execute(select(exists().where(
        table.c.username == key["username"], table.c.address == key["address"],
        table.c.ok.is_(True), table.c.at > now - KNOWN_FOR))).scalar()
    longest = None
    for limit in LIMITS[:1] if known else LIMITS:
        match = and_(*(table.c[c] == key[c] for c in limit.by), table.c.ok.is_(False),
                     table.c.at > now - limit.window)
        count, oldest = conn.execute(select(func.count(), func.min(table.c.at))
                                     .where(match)).one()
        if count >= limit.attempts:
            # the window frees a place when its oldest failure leaves it
            left = oldest + limit.window - now
            longest = left if longest is None or left > longest else longest
    return longest


def begin(conn: Connection, schema: Schema, now: datetime, username: str,
          address: str) -> tuple[timedelta | None, int | None]:
    """(how long to wait, None) while a limit holds; else (None, the attempt's id), the
    attempt recorded as a failure until `settle` says otherwise. Run it in a write
    transaction: it takes the locks that keep parallel attempts in line."""
    key = key_of(username, address)
    if conn.dialect.name == "postgresql":  # SQLite's write transactions are serial already
        for part in (f"address:{key['address']}", f"name:{key['username']}"):
            lock = int.from_bytes(hashlib.sha256(part.encode()).digest()[:8], "big",
                                  signed=True)
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})
    left = wait(conn, schema, now, username, address)
    if left is not None:
        return left, None
    table = schema.system["mc_sign_in_attempt"]
    attempt = failed(conn, schema, now, username, address)
    conn.execute(delete(table).where(table.c.at < now - KNOWN_FOR))
    conn.execute(delete(table).where(table.c.ok.is_(False),
                                     table.c.at < now - KEEP_FAILURES))
    return None, attempt


def settle(conn: Connection, schema: Schema, attempt: int, *, ok: bool) -> None:
    """The password was right: the attempt is a success, and this name's failures from
    this address are forgiven. Wrong: it stays a failure."""
    if not ok:
        return
    table = schema.system["mc_sign_in_attempt"]
    row = conn.execute(select(table.c.username, table.c.address)
                       .where(table.c.id == attempt)).first()
    if row is None:
        return
    conn.execute(table.update().where(table.c.id == attempt).values(ok=True))
    conn.execute(delete(table).where(table.c.username == row.username,
                                     table.c.address == row.address,
                                     table.c.ok.is_(False)))


def failed(conn: Connection, schema: Schema, now: datetime, username: str,
           address: str) -> int:
    """Record an attempt as a failure; its id. `begin` calls it under its locks."""
    table = schema.system["mc_sign_in_attempt"]
    return conn.execute(table.insert().values(**key_of(username, address), at=now, ok=False)
                        ).inserted_primary_key[0]


@dataclass(frozen=True)
class SignIn:
    """What a sign-in attempt came to: the user, or None with the minutes a throttle limit
    still holds (`locked_minutes`; None for a wrong name or password)."""

    user: User | None
    locked_minutes: int | None = None


def sign_in(db: Database, schema: Schema, now: datetime, username: str, password: str,
            address: str) -> SignIn:
    """Check a user name and password under the throttle limits. The answers are the same
    whether the user name exists or not."""
    with db.write() as conn:  # counted before the password is checked: no race past it
        left, attempt = begin(conn, schema, now, username, address)
    if attempt is None:
        return SignIn(None, _minutes(left or timedelta(minutes=1)))
    with db.read() as conn:
        user = authenticate(conn, schema, username, password)
    with db.write() as conn:
        settle(conn, schema, attempt, ok=user is not None)
        if user is not None:
            return SignIn(user)
        left = wait(conn, schema, now, username, address)
    return SignIn(None, _minutes(left) if left is not None else None)


def _minutes(left: timedelta) -> int:
    return max(1, -(-int(left.total_seconds()) // 60))


__all__ = ["LIMITS", "Limit", "SignIn", "begin", "failed", "key_of", "settle", "sign_in",
           "wait"]
