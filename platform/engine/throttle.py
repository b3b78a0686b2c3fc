"""Throttling sign-ins: failed attempts are counted in the database (so every server
process sees them) by user name and client address, against the runtime's clock (so a
test moves time instead of sleeping).

    limit            attempts  window   stops
    name + address   5         15 min   one address guessing one user's password
    address          30        1 hour   one address spraying a guess per user name
    name             100       1 hour   many addresses guessing one user

Nobody can lock `admin` out with five guesses: those stop only the guesser's address. An
unknown user name is counted like a known one and gets the same answer, so throttling
never says whether a user exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, delete, func, select

from .schema import Schema

KEEP = timedelta(days=1)  # failures older than this are deleted


@dataclass(frozen=True)
class Limit:
    by: tuple[str, ...]  # the columns that make the key: username, address
    attempts: int
    window: timedelta


LIMITS = (Limit(("username", "address"), 5, timedelta(minutes=15)),
          Limit(("address",), 30, timedelta(hours=1)),
          Limit(("username",), 100, timedelta(hours=1)))


def wait(conn: Connection, schema: Schema, now: datetime, username: str,
         address: str) -> timedelta | None:
    """How long before this user name may be tried again from this address (None: now).
    The password is not even checked while a limit holds."""
    table = schema.system["mc_sign_in_failure"]
    key = {"username": username.strip().lower(), "address": address}
    longest = None
    for limit in LIMITS:
        since = now - limit.window
        match = and_(*(table.c[c] == key[c] for c in limit.by), table.c.at > since)
        count, oldest = conn.execute(select(func.count(), func.min(table.c.at))
                                     .where(match)).one()
        if count >= limit.attempts:
            # the window frees a place when its oldest failure leaves it
            left = oldest + limit.window - now
            longest = left if longest is None or left > longest else longest
    return longest


def failed(conn: Connection, schema: Schema, now: datetime, username: str,
           address: str) -> None:
    table = schema.system["mc_sign_in_failure"]
    conn.execute(table.insert().values(username=username.strip().lower()[:150],
                                       address=address[:64], at=now))
    conn.execute(delete(table).where(table.c.at < now - KEEP))


def succeeded(conn: Connection, schema: Schema, username: str, address: str) -> None:
    """A right password from this address: its failures for this user name are forgiven."""
    table = schema.system["mc_sign_in_failure"]
    conn.execute(delete(table).where(table.c.username == username.strip().lower(),
                                     table.c.address == address))


__all__ = ["LIMITS", "Limit", "failed", "succeeded", "wait"]
