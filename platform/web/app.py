"""The Starlette application: made once by `create_app`, with the runtime (model, tables,
database) on `app.state.runtime`, created before the first request."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import shipped
from ..engine import sync
from ..engine.boot import open_runtime
from ..engine.errors import CrmError
from ..engine.runtime import Runtime
from . import (
    action_screens,
    api,
    auth,
    dedupe_screens,
    import_screens,
    lists,
    notices,
    pages,
    quality_screens,
    report_builder,
    report_screens,
    screens,
    segment_screens,
    setup,
    setup_actions,
    setup_layouts,
    setup_roles,
    setup_rules,
)
from .jsonio import JSON
from .limits import BodyLimit
from .settings import Settings
from .templating import make_environment

log = logging.getLogger("metacrm")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def crm_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CrmError)
    if _wants_json(request):
        return JSON(exc.to_json(), status_code=exc.status)
    if isinstance(exc, auth.LoginRequired):
        return auth.login_redirect(request)
    return pages.error_page(request, exc)


def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = {404: f"nothing at {request.url.path}",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(
        exc.status_code, str(exc.detail))
    if _wants_json(request):
        return JSON({"error": {"code": code, "message": message}},
                    status_code=exc.status_code, headers=exc.headers)
    error = CrmError(message)
    error.status = exc.status_code
    return pages.error_page(request, error)


def server_error(request: Request, exc: Exception) -> Response:
    """The answer to an unexpected error. Starlette calls it outside the middleware stack,
    so it sets the security headers itself."""
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    if _wants_json(request):
        response: Response = JSON({"error": {"code": "server_error", "message": "something "
                                             "went wrong on our side; the error is logged"}},
                                  status_code=500)
    else:
        error = CrmError("Something went wrong")
        error.status = 500
        try:
            response = pages.error_page(request, error)
        except Exception:  # the error page itself failed: a plain answer still goes out
            response = Response("Something went wrong", status_code=500)
    for name, value in SECURITY_HEADERS:
        response.headers[name.decode()] = value.decode()
    return response


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


SECURITY_HEADERS = ((b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))


class SecurityHeaders:
    """Headers every answer carries: no framing, no content sniffing, same-origin referrer,
    a Content-Security-Policy that runs only the scripts of /static (no inline script, no
    other origin). A cookie set over HTTPS (directly, or behind a proxy that says so in
    X-Forwarded-Proto, which uvicorn's proxy headers turn into the request's scheme) is
    marked Secure."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                names = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS:
                    if name not in names:
                        headers.append((name, value))
                if scope.get("scheme") == "https":
                    message["headers"] = [
                        (name, value + b"; secure" if name.lower() == b"set-cookie"
                         and b"; secure" not in value.lower() else value)
                        for name, value in headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class MetadataRefresh:
    """Before a request, adopt the metadata a Setup change in another process saved (the
    runtime looks at the version number at most every `check_interval` seconds), then hand
    the request the snapshot it works on."""

    def __init__(self, app: ASGIApp, runtime: Runtime):
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = self.runtime
        if scope["type"] == "http":
            if rt.refresh_due():
                try:
                    await run_in_threadpool(rt.refresh)
                except Exception:  # keep serving the model we have; say why once per check
                    log.exception("cannot load the newest metadata version; still serving "
                                  "version %s", rt.version)
            # the request's snapshot: its contexts see this model to the end (auth.snapshot)
            scope.setdefault("state", {})["snapshot"] = rt.current
        await self.app(scope, receive, send)


def routes() -> list[Any]:
    obj = "/o/{object}"
    record = obj + "/{id:int}"
    return [
        Route("/", pages.home, methods=["GET"]),
        Route("/login", pages.login_page, methods=["GET", "POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/account/sessions", pages.sessions_page, methods=["GET", "POST"]),
        Route("/language", pages.set_language, methods=["POST"]),
        Route("/files/{file_id:int}", screens.download_file, methods=["GET"]),
        Route("/notifications", notices.notifications_page, methods=["GET", "POST"]),
        Route(obj, screens.list_page, methods=["GET"]),
        Route(obj + "/new", screens.form_page, methods=["GET", "POST"]),
        Route(obj + "/kanban", lists.kanban_page, methods=["GET"]),
        Route(obj + "/export.csv", lists.export_csv, methods=["GET"]),
        Route(obj + "/export.xlsx", lists.export_xlsx, methods=["GET"]),
        Route(obj + "/lookup", lists.lookup_options, methods=["GET"]),
        Route(obj + "/conditions", screens.conditions_page, methods=["POST"]),
        Route(obj + "/bulk", lists.bulk_action, methods=["POST"]),
        Route(obj + "/views", screens.save_view, methods=["POST"]),
        Route(record, screens.detail_page, methods=["GET"]),
        Route(record + "/edit", screens.form_page, methods=["GET", "POST"]),
        Route(record + "/delete", screens.delete_page, methods=["GET", "POST"]),
        Route(record + "/move", lists.move_card, methods=["POST"]),
        Route(record + "/notes", screens.add_note, methods=["POST"]),
        Route(record + "/files", screens.add_file, methods=["POST"]),
        *action_screens.routes,
        *setup.routes,
        *setup_layouts.routes,
        *setup_actions.routes,
        *setup_roles.routes,
        *setup_rules.routes,
        *import_screens.routes,
        *dedupe_screens.routes,
        *quality_screens.routes,
        *segment_screens.routes,
        *report_builder.routes,  # before report_screens: /reports/new vs /reports/{name}
        *report_screens.routes,
        *api.routes,
        Mount("/static", app=StaticFiles(directory=str(shipped.layouts() / "static")),
              name="static"),
    ]


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None,
               migrate: bool = True, **runtime_options: Any) -> Starlette:
    """The ASGI app. Loads the metadata now (a broken app fails here, with every problem);
    migrates the database at start-up when `migrate` is true."""
    settings = settings or Settings.from_env()
    rt = runtime or open_runtime(settings.app_dir, settings.database_url, **runtime_options)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # handlers are plain functions run in this pool: no database work on the event loop
        to_thread.current_default_thread_limiter().total_tokens = settings.threads
        if settings.threads > rt.db.capacity:
            log.warning("METACRM_THREADS=%s is more than the %s database connections: "
                        "requests will wait for a connection", settings.threads,
                        rt.db.capacity)
        if migrate:
            plan = sync.migrate(rt.db, rt.model)
            for line in plan.lines():
                log.info("migrate: %s", line)
        yield
        rt.db.dispose()

    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(BodyLimit),
            Middleware(MetadataRefresh, runtime=rt),
            Middleware(SessionMiddleware, secret_key=settings.secret_key,
                       session_cookie="metacrm_session", max_age=14 * 24 * 3600,
                       same_site="lax", https_only=settings.secure_cookies),
        ],
        exception_handlers={CrmError: crm_error, HTTPException: http_error,
                            Exception: server_error},
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.state.settings = settings
    app.state.templates = make_environment(rt.model.roots)
    return app
