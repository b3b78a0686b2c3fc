"""Reading a request's body from a handler.

Handlers are plain functions: Starlette runs them in its thread pool, so the database work,
templates and workbooks they do never hold up the event loop (and the other users of the
process). The body is the one thing that waits on the client; these functions read it on the
event loop and hand it back to the handler's thread."""

from __future__ import annotations

from anyio import from_thread
from starlette.datastructures import FormData
from starlette.requests import Request


def form(request: Request) -> FormData:
    """The parsed form (urlencoded or multipart; uploads spooled to disk past 1 MB)."""
    async def read() -> FormData:
        return await request.form()

    return from_thread.run(read)


def body(request: Request) -> bytes:
    return from_thread.run(request.body)


def close(data: FormData) -> None:
    """Close a multipart form's spooled uploads."""
    from_thread.run(data.close)
