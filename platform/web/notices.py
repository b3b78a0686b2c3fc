"""In-app notifications (from workflow `notify` actions): a page that lists them and marks
them read (the header's unread count is pages.py's)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..engine import notices
from . import auth
from .pages import page_context
from .templating import render


def notifications_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    if request.method == "POST":
        auth.checked_form(request)
        notices.mark_all_read(ctx)
        return RedirectResponse("/notifications", status_code=303)
    return render(frame, "notifications.html", {"items": notices.latest(ctx)})
