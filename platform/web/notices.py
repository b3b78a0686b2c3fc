"""In-app notifications (from workflow `notify` actions): the unread count in the header,
and a page that lists them and marks them read."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..engine.runtime import Context
from . import auth
from .pages import page_context
from .templating import render


def unread_count(ctx: Context) -> int:
    table = ctx.schema.system["mc_notification"]

    def count() -> int:
        with ctx.db.read() as conn:
            return conn.execute(select(func.count()).select_from(table).where(
                table.c.user_id == ctx.user.id, table.c.read_at.is_(None))).scalar_one()

    return ctx.runtime.recent.get(("unread", ctx.user.id), count)


def notifications_page(request: Request) -> Response:
    ctx = page_context(request)
    table = ctx.schema.system["mc_notification"]
    if request.method == "POST":
        auth.checked_form(request)
        with ctx.db.write() as conn:
            conn.execute(table.update().where(table.c.user_id == ctx.user.id,
                                              table.c.read_at.is_(None)).values(
                read_at=ctx.now()))
        ctx.runtime.recent.clear()
        return RedirectResponse("/notifications", status_code=303)
    with ctx.db.read() as conn:
        rows = conn.execute(select(table).where(table.c.user_id == ctx.user.id)
                            .order_by(table.c.id.desc()).limit(100)).mappings().all()
    return render(request, "notifications.html", {"items": rows})
