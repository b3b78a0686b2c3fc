"""Settings from the environment, read once when the app is made."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from ..engine.db import DEFAULT_URL


@dataclass(frozen=True)
class Settings:
    app_dir: str = "apps/default_crm"
    database_url: str = DEFAULT_URL
    secret_key: str = ""
    secure_cookies: bool = False  # set METACRM_SECURE_COOKIES=1 behind HTTPS
    # requests served at once (handlers run in a thread pool of this size); the database
    # pool holds more connections than this (db.Database.capacity), so a handler that opens
    # a second connection never waits on another handler
    threads: int = 20

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            app_dir=os.environ.get("METACRM_APP", "apps/default_crm"),
            database_url=os.environ.get("DATABASE_URL", DEFAULT_URL),
            secret_key=os.environ.get("METACRM_SECRET_KEY") or secrets.token_urlsafe(32),
            secure_cookies=os.environ.get("METACRM_SECURE_COOKIES", "") in ("1", "true"),
            threads=_threads(os.environ.get("METACRM_THREADS") or "20"),
        )


def _threads(raw: str) -> int:
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 1000:
        raise ValueError(f"METACRM_THREADS must be a whole number from 1 to 1000, not '{raw}'")
    return int(raw)
