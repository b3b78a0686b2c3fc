"""Signing in and out: a signed session cookie, CSRF tokens for every state-changing form,
argon2 passwords, server-side sessions, and throttled sign-ins."""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..engine import throttle
from ..engine.errors import CrmError, PermissionDenied, Unauthorized
from ..engine.runtime import Context, Runtime, Snapshot
from ..engine.types import now_utc
from ..engine.users import (
    Session,
    User,
    end_session,
    end_sessions,
    get_user,
    live_session,
    seen_session,
    start_session,
)
from . import bodies
from .i18n import LANGUAGES

log = logging.getLogger("metacrm")
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Unauthorized):
    """A screen asked without a signed-in user: the error handler sends them to sign in."""

    code = "login_required"


class CsrfFailed(PermissionDenied):
    """A form sent without this session's token (another site's page posting here)."""

    code = "csrf"


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def checked_form(request: Request) -> FormData:
    """The submitted form, once its CSRF token matched the session's."""
    form = bodies.form(request)
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = request.session.get("csrf") or ""
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(sent, expected):
        raise CsrfFailed("Your session has expired or the form is stale. Please try again.")
    return form


SEEN_EVERY = timedelta(minutes=5)  # how often a session's "last seen" is written


def session_user(request: Request) -> User | None:
    """The user of the request's session: its cookie names a session the server still
    holds (not signed out, not ended by "sign out everywhere" or a new password), of an
    active user whose role has not changed since. A session ended in this process is
    gone at once; one ended by another process within the short cache (2 s)."""
    if "user" in request.state._state:
        return request.state.user
    rt: Runtime = request.app.state.runtime
    user = None
    uid, secret = request.session.get("uid"), request.session.get("sid")
    if isinstance(uid, int) and isinstance(secret, str):
        session = rt.recent.get(("session", secret), lambda: _load_session(rt, secret))
        found = rt.recent.get(("user", uid), lambda: _load_user(rt, uid))
        if session is not None and session.user_id == uid and found is not None \
                and found.is_active and request.session.get("stamp") == _stamp(found):
            user = found
            if now_utc() - session.last_seen_at > SEEN_EVERY:
                # written beside the request, not in it: a courtesy that never delays a page
                rt.recent.forget(("session", secret))
                threading.Thread(target=_seen, args=(rt, session.id), daemon=True).start()
    request.state.user = user
    return user


def _seen(rt: Runtime, session_id: str) -> None:
    try:
        with rt.db.write() as conn:
            seen_session(conn, rt.schema, session_id)
    except Exception:  # "last seen" is a courtesy: never worth an error
        log.warning("could not note that session %s was seen", session_id[:8], exc_info=True)


def _load_session(rt: Runtime, secret: str) -> Session | None:
    with rt.db.read() as conn:
        return live_session(conn, rt.schema, secret)


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


def snapshot(request: Request) -> Snapshot:
    """The metadata snapshot the request started with (set by the MetadataRefresh
    middleware; the runtime's current one for an app without it)."""
    found = request.scope.get("state", {}).get("snapshot")
    return found if found is not None else request.app.state.runtime.current


def web_context(request: Request) -> Context:
    user = session_user(request)
    if user is None:
        raise LoginRequired("please sign in")
    rt: Runtime = request.app.state.runtime
    return rt.context(user, language(request, user), snap=snapshot(request))


def safe_next(target: Any) -> str:
    """Only a path on this site (no scheme, no host): no open redirects."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc or "\\" in target else target


def attempt_login(request: Request, username: str, password: str) -> throttle.SignIn:
    """Check the name and password the sign-in form sent, from the client's address."""
    rt: Runtime = request.app.state.runtime
    return throttle.sign_in(rt.db, rt.schema, rt.clock(), username, password,
                            client_address(request) or "unknown")


def sign_in(request: Request, user: User) -> None:
    rt: Runtime = request.app.state.runtime
    lang = request.session.get("lang")
    old = request.session.get("sid")
    request.session.clear()  # a fresh session: no fixation
    with rt.db.write() as conn:
        if isinstance(old, str):  # a sign-in over a live session ends that one
            end_session(conn, rt.schema, old)
        secret = start_session(conn, rt.schema, user.id, address=client_address(request),
                               agent=request.headers.get("user-agent"))
    if isinstance(old, str):
        rt.recent.forget(("session", old))  # after the commit: nobody caches it alive again
    request.session.update(uid=user.id, sid=secret, stamp=_stamp(user),
                           csrf=secrets.token_urlsafe(32))
    if lang:
        request.session["lang"] = lang


def sign_out(request: Request) -> None:
    """End this browser's session on the server (a copy of its cookie is worth nothing
    after), and forget it here."""
    rt: Runtime = request.app.state.runtime
    secret = request.session.get("sid")
    if isinstance(secret, str):
        with rt.db.write() as conn:
            end_session(conn, rt.schema, secret)
        rt.recent.forget(("session", secret))
    request.session.clear()


def sign_out_everywhere(rt: Runtime, user_id: int) -> int:
    """End every session of the user, in every browser; returns how many ended."""
    with rt.db.write() as conn:
        ended = end_sessions(conn, rt.schema, user_id)
    rt.recent.clear()  # this process forgets them at once; others within their cache time
    return ended


def client_address(request: Request) -> str:
    """The client's address (behind a trusted proxy, uvicorn's proxy headers set it)."""
    return request.client.host if request.client else ""


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={target}" if target != "/" else "/login",
                            status_code=303)
