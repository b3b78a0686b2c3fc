"""Signing in and out: a signed session cookie, CSRF tokens for every state-changing form,
argon2 passwords, and a lock-out after repeated failures."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..engine.errors import CrmError, PermissionDenied
from ..engine.runtime import Context, Runtime
from ..engine.types import now_utc
from ..engine.users import User, authenticate, get_user
from .i18n import LANGUAGES

MAX_FAILURES = 5
LOCK_MINUTES = 15
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(CrmError):
    status = 401
    code = "login_required"


class CsrfFailed(PermissionDenied):
    code = "csrf"


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def checked_form(request: Request) -> FormData:
    """The submitted form, once its CSRF token matched the session's."""
    form = await request.form()
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = request.session.get("csrf") or ""
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(sent, expected):
        raise CsrfFailed("Your session has expired or the form is stale. Please try again.")
    return form


def session_user(request: Request) -> User | None:
    if "user" in request.state._state:
        return request.state.user
    rt: Runtime = request.app.state.runtime
    user = None
    uid = request.session.get("uid")
    if isinstance(uid, int):
        found = rt.recent.get(("user", uid), lambda: _load_user(rt, uid))
        if found is not None and found.is_active and request.session.get(
                "stamp") == _stamp(found):
            user = found
    request.state.user = user
    return user


def _load_user(rt: Runtime, uid: int) -> User | None:
    with rt.db.read() as conn:
        try:
            return get_user(conn, rt.schema, uid)
        except CrmError:
            return None


def _stamp(user: User) -> str:
    """Changes when the user's role changes, so their old sessions stop working."""
    return f"{user.id}:{user.role}"


def language(request: Request, user: User | None) -> str:
    rt: Runtime = request.app.state.runtime
    chosen = request.session.get("lang") or (user.locale if user else None)
    return chosen if chosen in LANGUAGES else rt.model.locale


def web_context(request: Request) -> Context:
    user = session_user(request)
    if user is None:
        raise LoginRequired("please sign in")
    rt: Runtime = request.app.state.runtime
    return rt.context(user, language(request, user))


def safe_next(target: Any) -> str:
    """Only a path on this site (no scheme, no host): no open redirects."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc or "\\" in target else target


async def attempt_login(request: Request, username: str, password: str) -> tuple[User | None,
                                                                                   str | None]:
    """(user, None) on success; (None, why) otherwise. Failures are counted per user name;
    after MAX_FAILURES the account is locked for LOCK_MINUTES, and each failure is slower."""
    rt: Runtime = request.app.state.runtime
    users = rt.schema.system["mc_user"]
    with rt.db.read() as conn:
        row = conn.execute(select(users.c.id, users.c.failed_logins, users.c.locked_until)
                           .where(users.c.username == username)).first()
    now = now_utc()
    if row is not None and row.locked_until is not None and row.locked_until > now:
        minutes = max(1, int((row.locked_until - now).total_seconds() // 60) + 1)
        return None, f"locked:{minutes}"
    with rt.db.read() as conn:
        user = authenticate(conn, rt.schema, username, password)
    if user is not None:
        with rt.db.write() as conn:
            conn.execute(users.update().where(users.c.id == user.id).values(
                failed_logins=0, locked_until=None))
        return user, None
    if row is not None:
        failures = (row.failed_logins or 0) + 1
        locked = now + timedelta(minutes=LOCK_MINUTES) if failures >= MAX_FAILURES else None
        with rt.db.write() as conn:
            conn.execute(users.update().where(users.c.id == row.id).values(
                failed_logins=0 if locked else failures, locked_until=locked))
        await asyncio.sleep(min(0.2 * failures, 1.0))
        if locked:
            return None, f"locked:{LOCK_MINUTES}"
    return None, "wrong"


def sign_in(request: Request, user: User) -> None:
    lang = request.session.get("lang")
    request.session.clear()  # a fresh session: no fixation
    request.session.update(uid=user.id, stamp=_stamp(user), csrf=secrets.token_urlsafe(32))
    if lang:
        request.session["lang"] = lang


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={target}" if target != "/" else "/login",
                            status_code=303)
