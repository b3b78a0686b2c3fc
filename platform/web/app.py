"""The Starlette application: made once by `create_app`, with the runtime (model, tables,
database) on `app.state.runtime`, created before the first request."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..engine import sync
from ..engine.errors import CrmError
from ..engine.runtime import Runtime
from . import api
from .jsonio import JSON
from .settings import Settings

log = logging.getLogger("metacrm")


async def crm_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CrmError)
    return JSON(exc.to_json(), status_code=exc.status)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = {404: f"nothing at {request.url.path}",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(
        exc.status_code, str(exc.detail))
    return JSON({"error": {"code": code, "message": message}}, status_code=exc.status_code,
                headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSON({"error": {"code": "server_error", "message": "something went wrong on our "
                           "side; the error is logged"}}, status_code=500)


async def home(request: Request) -> Response:
    model = request.app.state.runtime.model
    return HTMLResponse(
        f"<!doctype html><title>MetaCRM</title><h1>{model.label.get('en')}</h1>"
        "<p>MetaCRM is running. The API is described at "
        "<a href='/api/v1/openapi.json'>/api/v1/openapi.json</a>.</p>")


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None,
               migrate: bool = True, **runtime_options: Any) -> Starlette:
    """The ASGI app. Loads the metadata now (a broken app fails here, with every problem);
    migrates the database at start-up when `migrate` is true."""
    settings = settings or Settings.from_env()
    rt = runtime or Runtime.open(settings.app_dir, settings.database_url, **runtime_options)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if migrate:
            plan = sync.migrate(rt.db, rt.model)
            for line in plan.lines():
                log.info("migrate: %s", line)
        yield
        rt.db.dispose()

    app = Starlette(
        routes=[Route("/", home, methods=["GET"]), *api.routes],
        exception_handlers={CrmError: crm_error, HTTPException: http_error,
                            Exception: server_error},
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.state.settings = settings
    return app
