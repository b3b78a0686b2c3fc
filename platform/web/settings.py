"""Settings from the environment, read once when the app is made."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from .. import shipped
from ..engine.db import DEFAULT_URL
from ..engine.text import is_digits


@dataclass(frozen=True)
class Settings:
    app_dir: str = field(default_factory=lambda: str(shipped.default_app()))
    database_url: str = DEFAULT_URL
    secret_key: str = ""
    secure_cookies: bool = False  # set METACRM_SECURE_COOKIES=1 behind HTTPS
    # requests served at once (handlers run in a thread pool of this size); the database
    # pool holds more connections than this (db.Database.capacity), so a handler that opens
    # a second connection never waits on another handler
    threads: int = field(default_factory=lambda: default_threads())

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            app_dir=os.environ.get("METACRM_APP") or str(shipped.default_app()),
            database_url=os.environ.get("DATABASE_URL", DEFAULT_URL),
            secret_key=os.environ.get("METACRM_SECRET_KEY") or secrets.token_urlsafe(32),
            secure_cookies=os.environ.get("METACRM_SECURE_COOKIES", "") in ("1", "true"),
            threads=_threads(os.environ.get("METACRM_THREADS") or str(default_threads())),
        )


def default_threads() -> int:
    """One thread per core (2 to 8). Handlers are mostly Python work: more threads than
    cores fight over the interpreter lock and serve fewer pages (bench/web_list.py: 20
    threads on 2 cores served a third fewer list pages than 2), while one slow export still
    leaves the other threads to everyone else."""
    return max(2, min(8, os.cpu_count() or 2))


def _threads(raw: str) -> int:
    if not is_digits(raw.strip()) or not 1 <= int(raw) <= 1000:
        raise ValueError(f"METACRM_THREADS must be a whole number from 1 to 1000, not '{raw}'")
    return int(raw)
