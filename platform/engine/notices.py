"""In-app notifications (workflow `notify` actions write them): a user's unread count, their
latest notifications, and marking them read. Each user sees only their own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from .runtime import Context


def notify(ctx: Context, conn: Connection, user_ids: list[int], message: str,
           link: str | None) -> None:
    """One notification for each of `user_ids`, in the caller's transaction."""
    table = ctx.schema.system["mc_notification"]
    now = ctx.now()
    for user_id in user_ids:
        conn.execute(table.insert().values(user_id=user_id, message=message, link=link,
                                           created_at=now))


def unread_count(ctx: Context) -> int:
    """The header's number: remembered a few seconds (every page shows it)."""
    table = ctx.schema.system["mc_notification"]

    def count() -> int:
        with ctx.db.read() as conn:
            return conn.execute(select(func.count()).select_from(table).where(
                table.c.user_id == ctx.user.id, table.c.read_at.is_(None))).scalar_one()

    return ctx.runtime.recent.get(("unread", ctx.user.id), count)


def latest(ctx: Context, limit: int = 100) -> list[dict[str, Any]]:
    """The user's newest notifications, read or not."""
    table = ctx.schema.system["mc_notification"]
    with ctx.db.read() as conn:
        rows = conn.execute(select(table).where(table.c.user_id == ctx.user.id)
                            .order_by(table.c.id.desc()).limit(limit)).mappings().all()
    return [dict(row) for row in rows]


def mark_all_read(ctx: Context) -> None:
    table = ctx.schema.system["mc_notification"]
    with ctx.db.write() as conn:
        conn.execute(table.update().where(table.c.user_id == ctx.user.id,
                                          table.c.read_at.is_(None)).values(read_at=ctx.now()))
    ctx.runtime.recent.forget(("unread", ctx.user.id))


__all__ = ["latest", "mark_all_read", "notify", "unread_count"]
