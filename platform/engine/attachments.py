"""Notes and files on records, and the record's timeline (changes, notes, files in order).

Files are stored on disk under the runtime's `files_dir` (default `./var/files`), one folder
per object and record, under a random name; the database keeps the original name, the
content type found by looking at the bytes (not the one the browser claims), and the size.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from .errors import BadRequest, NotFound
from .records import load, object_def, visible
from .runtime import Context
from .users import names_of

MAX_FILE_SIZE = 10 * 1024 * 1024
MAX_NOTE_LENGTH = 20_000
ACCEPTED = {
    "application/pdf": "PDF",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WebP",
    "text/plain": "text",
    "text/csv": "CSV",
    "application/zip": "ZIP",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint",
}
_OFFICE = {".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
           ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}


def detect_type(data: bytes, name: str) -> str:
    """The content type the bytes show (magic numbers), or application/octet-stream."""
    suffix = Path(name).suffix.lower()
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"PK\x03\x04"):
        return _OFFICE.get(suffix, "application/zip")
    if b"\x00" not in data[:4096]:
        try:
            data[:65536].decode("utf-8")
        except UnicodeDecodeError:
            return "application/octet-stream"
        return "text/csv" if suffix == ".csv" else "text/plain"
    return "application/octet-stream"


def add_note(ctx: Context, object_name: str, record_id: int, body: str) -> int:
    obj = object_def(ctx, object_name)
    text = (body or "").strip()
    if not text:
        raise BadRequest("a note cannot be empty", code="empty_note")
    if len(text) > MAX_NOTE_LENGTH:
        raise BadRequest(f"a note holds at most {MAX_NOTE_LENGTH} characters")
    notes = ctx.schema.system["mc_note"]
    with ctx.db.write() as conn:
        load(ctx, conn, obj, record_id, "read")
        return conn.execute(notes.insert().values(
            object=object_name, record_id=record_id, body=text, user_id=ctx.user.id,
            at=ctx.now())).inserted_primary_key[0]


def check_file(name: str, data: bytes) -> str:
    """The content type of an acceptable file; BadRequest (with a code) otherwise."""
    if not data:
        raise BadRequest("the file is empty", code="empty_file")
    if len(data) > MAX_FILE_SIZE:
        raise BadRequest(f"the file is larger than {MAX_FILE_SIZE // (1024 * 1024)} MB",
                         code="file_too_large", limit=MAX_FILE_SIZE)
    kind = detect_type(data, name)
    if kind not in ACCEPTED:
        raise BadRequest(f"this kind of file is not accepted ({kind}); accepted: "
                         + ", ".join(sorted(set(ACCEPTED.values()))), code="file_type",
                         content_type=kind)
    return kind


def file_names(ctx: Context, ids: set[int]) -> dict[int, str]:
    """Original names of stored files, by id (one query)."""
    if not ids:
        return {}
    files = ctx.schema.system["mc_file"]
    with ctx.db.read() as conn:
        return {r.id: r.name for r in conn.execute(select(files.c.id, files.c.name).where(
            files.c.id.in_(sorted(ids))))}


def add_file(ctx: Context, object_name: str, record_id: int, name: str, data: bytes) -> int:
    obj = object_def(ctx, object_name)
    kind = check_file(name, data)
    safe_name = Path(name or "file").name[:200] or "file"
    files = ctx.schema.system["mc_file"]
    folder = ctx.runtime.files_dir / object_name / str(record_id)
    stored = folder / f"{uuid.uuid4().hex}{Path(safe_name).suffix.lower()[:10]}"
    with ctx.db.write() as conn:
        load(ctx, conn, obj, record_id, "read")
        folder.mkdir(parents=True, exist_ok=True)
        stored.write_bytes(data)
        try:
            return conn.execute(files.insert().values(
                object=object_name, record_id=record_id, name=safe_name, content_type=kind,
                size=len(data), path=str(stored.relative_to(ctx.runtime.files_dir)),
                user_id=ctx.user.id, at=ctx.now())).inserted_primary_key[0]
        except Exception:
            stored.unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class StoredFile:
    name: str
    content_type: str
    size: int
    path: Path


def get_file(ctx: Context, file_id: int) -> StoredFile:
    """A file of a record the user may read."""
    files = ctx.schema.system["mc_file"]
    with ctx.db.read() as conn:
        row = conn.execute(select(files).where(files.c.id == file_id)).first() \
            if 0 < file_id < 2**63 else None
        if row is None or row.object not in ctx.model.objects:
            raise NotFound(f"no file {file_id}")
        load(ctx, conn, ctx.model.objects[row.object], row.record_id, "read")
    path = ctx.runtime.files_dir / row.path
    if not path.is_file():
        raise NotFound(f"the file {row.name} is missing from the store")
    return StoredFile(row.name, row.content_type, row.size, path)


@dataclass(frozen=True)
class Event:
    """One entry of a record's timeline."""

    at: datetime
    kind: str  # create | update | delete | note | file | workflow | action | merge |
    #            approval (file_name: submitted, approved, rejected or withdrawn)
    user: str
    changes: dict[str, list[Any]] | None = None
    body: str | None = None
    file_id: int | None = None
    file_name: str | None = None
    size: int | None = None


def timeline(ctx: Context, object_name: str, record_id: int, *,
             conn: Connection | None = None, checked: bool = False) -> list[Event]:
    """Changes, notes and files of a record, newest first (four queries, whatever the
    number of entries). `checked`: the caller has just read the record as this user."""
    obj = object_def(ctx, object_name)
    audit = ctx.schema.system["mc_audit"]
    notes = ctx.schema.system["mc_note"]
    files = ctx.schema.system["mc_file"]
    runs = ctx.schema.system["mc_workflow_run"]
    approvals = ctx.schema.system["mc_approval"]
    if conn is None:
        with ctx.db.read() as own:
            return timeline(ctx, object_name, record_id, conn=own, checked=checked)
    if not checked:
        load(ctx, conn, obj, record_id, "read")
    changes = conn.execute(select(audit).where(audit.c.object == object_name,
                                               audit.c.record_id == record_id)).all()
    run_rows = conn.execute(select(runs).where(runs.c.object == object_name,
                                               runs.c.record_id == record_id)).all()
    note_rows = conn.execute(select(notes).where(notes.c.object == object_name,
                                                 notes.c.record_id == record_id)).all()
    file_rows = conn.execute(select(files).where(files.c.object == object_name,
                                                 files.c.record_id == record_id)).all()
    approval_rows = conn.execute(select(approvals).where(
        approvals.c.object == object_name, approvals.c.record_id == record_id)).all()
    names = names_of(ctx.runtime, conn, {r.user_id for r in (*changes, *note_rows,
                                                             *file_rows, *run_rows)}
                     | {r.submitted_by for r in approval_rows}
                     | {r.decided_by for r in approval_rows})
    hidden = ctx.hidden(object_name)
    events = []
    for row in changes:
        data = json.loads(row.changes)
        if row.action == "merge":  # another record was merged into this one
            merged_id, title = data["merged"][0], data["merged"][1]
            events.append(Event(row.at, "merge", names.get(row.user_id, "?"),
                                body=f"#{merged_id} {title}"))
            continue
        shown = visible(ctx, obj, {k: v for k, v in data.items() if k not in hidden})
        if row.action == "update" and not shown:
            continue
        events.append(Event(row.at, row.action, names.get(row.user_id, "?"), changes=shown))
    events += [Event(r.at, "note", names.get(r.user_id, "?"), body=r.body) for r in note_rows]
    events += [Event(r.at, "file", names.get(r.user_id, "?"), file_id=r.id, file_name=r.name,
                     size=r.size) for r in file_rows]
    for r in run_rows:
        steps = json.loads(r.actions)
        if r.trigger == "action":  # a user ran one of the record's actions
            events.append(Event(r.at, "action", names.get(r.user_id, "?"),
                                body=steps[0].get("label") if steps else r.workflow))
            continue
        events.append(Event(r.at, "workflow", r.workflow, file_name=r.status,
                            body=r.error if r.status == "failed" else
                            ", ".join(a.get("action", "?") for a in steps)))
    labels = ctx.model.approvals_of(object_name)
    for r in approval_rows:  # body: the approval's label; changes: {status: comment}
        label = labels[r.approval].label.get(ctx.locale) if r.approval in labels else r.approval
        if r.step == 0:
            events.append(Event(r.submitted_at, "approval", names.get(r.submitted_by, "?"),
                                body=label, file_name="submitted"))
        if r.decided_at is not None:
            events.append(Event(r.decided_at, "approval", names.get(r.decided_by, "")
                                if r.decided_by else "", body=label, file_name=r.status,
                                changes={"comment": [r.comment]} if r.comment else None))
    events.sort(key=lambda e: e.at, reverse=True)
    return events
