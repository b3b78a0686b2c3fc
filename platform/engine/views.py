"""Saved list views: a list page's filters and sort kept under a name, by object, private to
their author or shared with everyone who may read the object."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from .errors import BadRequest
from .runtime import Context

MAX_NAME = 100


def saved_views(ctx: Context, object_name: str) -> list[dict[str, Any]]:
    """The user's own views of the object and the shared ones, by name (remembered a few
    seconds: every list page shows them)."""
    views = ctx.schema.system["mc_view"]

    def load() -> list[dict[str, Any]]:
        with ctx.db.read() as conn:
            rows = conn.execute(select(views).where(
                views.c.object == object_name,
                or_(views.c.user_id == ctx.user.id, views.c.shared.is_(True))
            ).order_by(views.c.name)).mappings().all()
        return [dict(r) for r in rows]

    return ctx.runtime.recent.get(("views", object_name, ctx.user.id), load)


def save_view(ctx: Context, object_name: str, name: str, params: str, *,
              shared: bool) -> None:
    """Keep a list's query string (`params`) as a view named `name`."""
    name = name.strip()[:MAX_NAME]
    if not name:
        raise BadRequest("A saved view needs a name.", parameter="name")
    views = ctx.schema.system["mc_view"]
    with ctx.db.write() as conn:
        conn.execute(views.insert().values(object=object_name, name=name, user_id=ctx.user.id,
                                           shared=shared, params=params, at=ctx.now()))
    ctx.runtime.recent.clear()


__all__ = ["MAX_NAME", "save_view", "saved_views"]
