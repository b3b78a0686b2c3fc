"""How big a request body may be, enforced while it streams in: a body past its limit is
refused with 413 before it is read into memory (by its Content-Length when it has one,
else as soon as the bytes received pass the limit), for JSON, forms and uploads alike.

    JSON (the API), url-encoded forms     1 MB
    multipart forms (attached files)      an attached file (10 MB) and a little more
    multipart to an import's upload page  an import file (50 MB) and a little more

The limit follows the route and the first Content-Type header (as Starlette reads it): a
client cannot buy itself a bigger one by naming another type.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..engine import attachments, imports
from ..engine.errors import PayloadTooLarge
from ..engine.text import is_digits
from .jsonio import MAX_BODY

MB = 1024 * 1024
MAX_FORM = MB  # Starlette refuses a bigger form field anyway (400); ours says 413 first
MAX_MULTIPART = attachments.MAX_FILE_SIZE + MB
MAX_IMPORT = imports.MAX_BYTES + MB
IMPORT_UPLOAD = re.compile(r"/o/[a-z][a-z0-9_]*/import")


def body_limit(scope: Scope) -> int:
    """The largest body this request may send, by its route and content type."""
    content_type = next((value.lower() for name, value in scope.get("headers", ())
                         if name == b"content-type"), b"")
    if content_type.startswith(b"multipart/form-data"):
        return MAX_IMPORT if IMPORT_UPLOAD.fullmatch(scope.get("path", "")) else MAX_MULTIPART
    if content_type.startswith(b"application/x-www-form-urlencoded"):
        return MAX_FORM
    return MAX_BODY


class BodyLimit:
    """Counts the body as the handler receives it; past the limit, receiving raises
    PayloadTooLarge, which the app's error handler answers with 413 (JSON or a page)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope)
        declared = next((value for name, value in scope.get("headers", ())
                         if name == b"content-length"), None)
        too_large = declared is not None and is_digits(declared) and int(declared) > limit
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if too_large:
                raise _refusal(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _refusal(limit)
            return message

        await self.app(scope, limited_receive, send)


def _refusal(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge("The request is too large.", limit_bytes=limit)
