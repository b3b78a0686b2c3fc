"""What happened lately, read back from the audit trail: the records changed last that the
user may read (the home page's list)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..metadata.model import ObjectDef
from .query import titles
from .runtime import Context


def recently_changed(ctx: Context, limit: int = 10) -> list[tuple[ObjectDef, int, str, Any]]:
    """(object, id, title, when) of the records changed last that the user may read, from
    the newest rows of the audit trail (its primary key is in time order)."""
    audit = ctx.schema.system["mc_audit"]
    readable = [name for name in ctx.model.objects if ctx.scope(name, "read") != "none"]
    if not readable:
        return []
    with ctx.db.read() as conn:
        rows = conn.execute(select(audit.c.object, audit.c.record_id, audit.c.at).where(
            audit.c.object.in_(readable), audit.c.action != "delete"
        ).order_by(audit.c.id.desc()).limit(limit * 5)).all()
        seen: dict[tuple[str, int], Any] = {}
        for row in rows:
            seen.setdefault((row.object, row.record_id), row.at)
        by_object: dict[str, set[int]] = {}
        for name, record_id in seen:
            by_object.setdefault(name, set()).add(record_id)
        found = {name: titles(ctx, name, ids, conn=conn) for name, ids in by_object.items()}
    out = []
    for (name, record_id), at in seen.items():
        title = found[name].get(record_id)
        if title is not None:
            out.append((ctx.model.objects[name], record_id, title, at))
    return out[:limit]


__all__ = ["recently_changed"]
