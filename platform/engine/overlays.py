"""The admin's metadata changes, stored in the database as versioned overlay documents.

Every Setup change writes a whole new set of overlay documents (path -> YAML text, the same
documents a consultant would write) as the next version, with who, when and a summary. A
save loads the app with the new overlays through the one loader (a broken change raises
MetadataError and stores nothing), migrates the database and records the version in one
transaction, and the process adopts the new model at once. Other processes notice the new
version number on their next request (:meth:`Runtime.refresh`) and reload.

A version is never edited: reverting to version N saves N's documents as a new version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from ..metadata import AppModel
from ..metadata.documents import differences
from . import sync
from .errors import Conflict
from .records import recompute_formulas
from .types import now_utc
from .versions import (
    NO_OVERLAYS,
    Version,
    build,
    get,
    has_versions,
    history,
    latest,
    latest_number,
    lock,
    texts,
    versions_table,
)

log = logging.getLogger("metacrm")

if TYPE_CHECKING:
    from .runtime import Runtime


@dataclass(frozen=True)
class Preview:
    """What saving a change would do: the new model, the database plan, the text diff."""

    model: AppModel
    plan: sync.Plan
    diff: list[tuple[str, str]]


def preview(rt: Runtime, documents: Mapping[str, Any]) -> Preview:
    new = texts(documents)  # dumped once, for the model and for the diff
    model = build(rt.app_dir, new)
    return Preview(model, sync.plan(rt.db, model), differences(
        rt.overlay.data(), Version(0, new).data()))


def save(rt: Runtime, documents: Mapping[str, Any], *, base: int, user_id: int | None,
         summary: str, model: AppModel | None = None) -> Version:
    """Store `documents` as the next version and apply it, or change nothing.

    `base` is the version the admin started from: if another save came in between, this
    one is a Conflict. `model`, when the caller already built it from these documents
    (a preview), is not built again. Raises MetadataError (a broken change),
    SchemaChangeRefused (a change that could lose data) or Conflict.
    """
    new_texts = texts(documents)
    model = model or build(rt.app_dir, new_texts)
    before = rt.model
    t = versions_table()
    with rt.db.write() as conn:
        if not has_versions(conn):
            t.create(conn)
        lock(conn)
        current = latest_number(conn)
        if current != base or rt.version != current:
            raise _conflict(conn, base if current != base else rt.version, current)
        sync.migrate(rt.db, model, conn=conn)
        version = Version(current + 1, new_texts, summary, user_id, now_utc())
        try:
            with conn.begin_nested():
                conn.execute(t.insert().values(
                    version=version.number, documents=json.dumps(new_texts, ensure_ascii=False),
                    summary=summary, user_id=user_id, created_at=version.created_at))
        except IntegrityError:  # another process saved the same number in between
            raise _conflict(conn, base, current + 1) from None
    rt.adopt(model, version)
    changed = changed_formulas(before, model)
    if changed:
        ctx = rt.system_context()
        for obj_name in changed:
            try:
                recompute_formulas(ctx, model.objects[obj_name])
            except Exception:  # the change is saved; the values follow at the next save
                log.exception("version %s is saved, but computing the formulas of %s for "
                              "the records saved before it failed", version.number, obj_name)
    return version


def changed_formulas(old: AppModel, new: AppModel) -> list[str]:
    """The objects of `new` with a formula that `old` did not compute the same way (new,
    or its expression or result type changed): their stored values are computed again,
    so records saved before the change do not read as blank or stale."""
    out = []
    for name, obj in new.objects.items():
        before = old.objects.get(name)
        for fdef in obj.fields.values():
            was = before.fields.get(fdef.name) if before is not None else None
            if fdef.type == "formula" and (
                    was is None or was.type != "formula" or was.returns != fdef.returns
                    or str(was.expression) != str(fdef.expression)):
                out.append(name)
                break
    return out


def _conflict(conn: Connection, base: int, current: int) -> Conflict:
    t = versions_table()
    row = conn.execute(select(t.c.summary).where(t.c.version == current)).first()
    what = f" ('{row.summary}')" if row else ""
    return Conflict(f"the metadata changed while you were editing: version {current}{what} was "
                    f"saved after the version {base} you started from. Reload to see it, then "
                    "make your change again; nothing was saved")


def revert(rt: Runtime, number: int, *, base: int, user_id: int | None) -> Version:
    """Save the documents of version `number` as a new version."""
    old = get(rt.db, number)
    return save(rt, dict(old.documents), base=base, user_id=user_id,
                summary=f"revert to version {number}")


__all__ = ["NO_OVERLAYS", "Preview", "Version", "build", "get", "history", "latest",
           "latest_number", "preview", "revert", "save", "texts", "versions_table"]
