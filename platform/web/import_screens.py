"""The import screens: upload a CSV or XLSX file, fix the guessed mapping, run a dry run or
the import in a background thread, watch its progress bar, download the rejected rows.

    GET/POST /o/{object}/import          upload form -> a pending job
    GET/POST /imports/{job}              mapping -> run in a thread -> progress
    GET      /imports/{job}/progress     the progress page, polling ...
    GET      /imports/{job}/status       ... this fragment every 500 ms until the job ends
    GET      /imports/{job}/rejected.csv the rejected rows with their reasons
    POST     /imports/{job}/again        a new job from the same file (import for real)
    POST     /imports/{job}/resume       run an interrupted job on from where it stopped

The threads of this process and the progress of running dry runs (which commit nothing
until their end) live in an :class:`ImportRunner` on the application's state.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..engine import imports
from ..engine.access import require
from ..engine.errors import BadRequest, CrmError, NotFound
from ..engine.records import object_def
from ..engine.runtime import Context, Runtime
from ..engine.text import is_digits, match_key
from ..engine.users import get_user
from . import auth, bodies
from .pages import flash, page_context
from .templating import render

log = logging.getLogger("metacrm.imports")

SAMPLES = 3
SHOWN_REJECTS = 20


@dataclass
class ImportRunner:
    """The import threads of this process and the rows each has gone through."""

    threads: dict[int, threading.Thread] = field(default_factory=dict)
    progress: dict[int, tuple[int, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def running(self, job: int) -> bool:
        with self.lock:
            thread = self.threads.get(job)
        return thread is not None and thread.is_alive()

    def start(self, rt: Runtime, job: int, user_id: int, locale: str) -> None:
        thread = threading.Thread(target=self._work, args=(rt, job, user_id, locale),
                                  name=f"import-{job}", daemon=True)
        with self.lock:
            self.threads[job] = thread
        thread.start()

    def _work(self, rt: Runtime, job: int, user_id: int, locale: str) -> None:
        def progress(done: int, total: int) -> None:
            self.progress[job] = (done, total)

        try:
            with rt.db.read() as conn:
                user = get_user(conn, rt.schema, user_id)
            imports.run(rt.context(user, locale), job, progress=progress)
        except CrmError:
            pass  # imports.run marked the job failed, with the message
        except Exception as exc:
            log.exception("import %s failed", job)
            imports.fail(rt, job, f"unexpected error: {exc}")
        finally:
            with self.lock:
                self.threads.pop(job, None)
                self.progress.pop(job, None)


_MADE = threading.Lock()  # handlers run in a thread pool: one runner per app, made once


def runner(request: Request) -> ImportRunner:
    state = request.app.state
    with _MADE:
        if not hasattr(state, "import_runner"):
            state.import_runner = ImportRunner()
        return state.import_runner


def _folder(rt: Runtime) -> Path:
    return rt.files_dir.parent / "imports"


def _job(request: Request, ctx: Context) -> Any:
    """The job of the URL, if this user started it or is an admin (NotFound otherwise)."""
    job = request.path_params["job"]
    row = imports.job_row(ctx.runtime, job)
    if row.user_id != ctx.user.id and ctx.user.role not in ("admin", "system"):
        raise NotFound(f"there is no import {job}")
    return row


def _checked_form(request: Request) -> FormData:
    """auth.checked_form, closing the uploaded files of a form it refuses."""
    try:
        return auth.checked_form(request)
    except auth.CsrfFailed:
        bodies.close(bodies.form(request))
        raise


# --- upload -----------------------------------------------------------------------------------


def upload_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    obj = object_def(ctx, request.path_params["object"])
    require(ctx, obj, "create")
    error = None
    if request.method == "POST":
        form: FormData = _checked_form(request)
        try:
            job, error = _store_upload(ctx, obj, form, frame.t)
        finally:
            bodies.close(form)
        if job is not None:
            return RedirectResponse(f"/imports/{job}", status_code=303)
    return render(frame, "import.html", {"obj": obj, "error": error},
                  status=422 if error else 200)


def _store_upload(ctx: Context, obj: Any, form: FormData, t: Any) -> tuple[int | None, str | None]:
    """(the new pending job, None), or (None, what is wrong with the file)."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None, t("Choose a file first.")
    data = upload.file.read(imports.MAX_BYTES + 1)
    filename = Path(upload.filename).name
    try:
        sheet = imports.read_file(data, filename)
        settings = imports.Settings(imports.guess_mapping(ctx, obj, sheet.columns))
        return imports.start(ctx, obj.name, data, filename, settings,
                             _folder(ctx.runtime)), None
    except BadRequest as exc:
        return None, exc.message


# --- mapping ----------------------------------------------------------------------------------


def _columns(row: Any) -> list[dict[str, Any]]:
    """Each column of the job's file: its index, name and a few sample values."""
    try:
        data = Path(row.path).read_bytes()
    except OSError:
        raise NotFound(f"the file of import {row.id} is no longer on the server") from None
    sheet = imports.read_file(data, row.filename)
    out = []
    for index, name in enumerate(sheet.columns):
        samples = []
        for cells in sheet.rows:
            value = cells[index] if index < len(cells) else None
            if value not in (None, ""):
                samples.append(str(value))
            if len(samples) == SAMPLES:
                break
        out.append({"index": index, "name": name, "samples": samples})
    return out


def mapping_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    row = _job(request, ctx)
    obj = object_def(ctx, row.object)
    if row.status != "pending":
        return RedirectResponse(f"/imports/{row.id}/progress", status_code=303)
    columns = _columns(row)
    settings = imports.Settings.of(row.settings)
    chosen = request.query_params.get("template", "")
    if request.method == "GET" and is_digits(chosen):
        settings = imports.apply_template(ctx, obj.name, int(chosen),
                                          [c["name"] for c in columns])
    error = None
    if request.method == "POST":
        form = _checked_form(request)
        mapping = {c["name"]: str(form.get(f"map_{c['index']}") or "") or None
                   for c in columns}
        settings = imports.Settings(mapping, str(form.get("key") or "") or None,
                                    dry_run=form.get("action") == "dry_run")
        try:
            require(ctx, obj, "create")
            imports.check_settings(ctx, obj, [c["name"] for c in columns], settings)
            if form.get("action") == "save_template":
                imports.save_template(ctx, obj.name, str(form.get("template_name") or ""),
                                      settings)
                imports.update_settings(ctx.runtime, row.id, settings)
                flash(request, "Mapping saved as a template.")
                return RedirectResponse(f"/imports/{row.id}", status_code=303)
        except BadRequest as exc:
            error = exc.message
        else:
            imports.update_settings(ctx.runtime, row.id, settings)
            runner(request).start(ctx.runtime, row.id, ctx.user.id, ctx.locale)
            return RedirectResponse(f"/imports/{row.id}/progress", status_code=303)
    fields = [(f.name, f.label.get(ctx.locale)) for f in imports.importable(ctx, obj)]
    return render(frame, "import_mapping.html", {
        "obj": obj, "job": row, "columns": columns, "fields": fields,
        "mapping": settings.mapping, "key": settings.key, "error": error,
        "templates": imports.templates(ctx, obj.name), "template": chosen,
    }, status=422 if error else 200)


# --- progress ---------------------------------------------------------------------------------


def _status(request: Request, ctx: Context, row: Any) -> dict[str, Any]:
    """What the status fragment shows: state, counts, and when finished the rejects."""
    settings = imports.Settings.of(row.settings)
    work = runner(request)
    alive = work.running(row.id)
    if not alive and row.status in ("running", "pending"):
        # read again: the job may have ended since the row was read (then it says so)
        row = imports.job_row(ctx.runtime, row.id)
    done, total = row.done, row.total
    if alive and row.id in work.progress:
        done, total = max(done, work.progress[row.id][0]), work.progress[row.id][1]
    state = row.status
    if state == "running" and not alive:
        state = "interrupted"  # the server stopped while the job ran
    elif state == "pending" and not alive:
        state = "not_started"
    finished = state in ("done", "failed", "interrupted", "not_started")
    return {
        "job": row, "obj": object_def(ctx, row.object), "state": state,
        "finished": finished, "dry_run": settings.dry_run, "done": done, "total": total,
        "rejects": imports.rejected_rows(ctx.runtime, row.id, SHOWN_REJECTS)
        if state == "done" and row.rejected else [],
    }


def progress_page(request: Request) -> Response:
    frame, ctx = page_context(request)
    row = _job(request, ctx)
    return render(frame, "import_progress.html", _status(request, ctx, row))


def status_fragment(request: Request) -> Response:
    frame, ctx = page_context(request)
    row = _job(request, ctx)
    return render(frame, "_import_status.html", _status(request, ctx, row))


def rejected_csv(request: Request) -> Response:
    frame, ctx = page_context(request)
    row = _job(request, ctx)
    text = imports.rejected_csv(ctx.runtime, row.id)
    stem = Path(row.filename).stem or "import"
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{_ascii(stem)}-rejected.csv"'})


def _ascii(text: str) -> str:
    folded = match_key(text) if not text.isascii() else text
    return "".join(c for c in folded if c.isalnum() or c in "-_.") or "import"


def again(request: Request) -> Response:
    """After a dry run: import for real (action=import), or change the mapping (edit)."""
    frame, ctx = page_context(request)
    row = _job(request, ctx)
    form = _checked_form(request)
    if row.status != "done":
        raise BadRequest(f"import {row.id} has not finished")
    job = imports.restart(ctx, row.id, dry_run=False)
    if form.get("action") == "edit":
        return RedirectResponse(f"/imports/{job}", status_code=303)
    runner(request).start(ctx.runtime, job, ctx.user.id, ctx.locale)
    return RedirectResponse(f"/imports/{job}/progress", status_code=303)


def resume(request: Request) -> Response:
    frame, ctx = page_context(request)
    row = _job(request, ctx)
    _checked_form(request)
    work = runner(request)
    if row.status != "running" or work.running(row.id):
        raise BadRequest(f"import {row.id} is not interrupted")
    require(ctx, object_def(ctx, row.object), "create")
    work.start(ctx.runtime, row.id, ctx.user.id, ctx.locale)
    return RedirectResponse(f"/imports/{row.id}/progress", status_code=303)


job_path = "/imports/{job:int}"
routes: list[Any] = [
    Route("/o/{object}/import", upload_page, methods=["GET", "POST"]),
    Route(job_path, mapping_page, methods=["GET", "POST"]),
    Route(job_path + "/progress", progress_page, methods=["GET"]),
    Route(job_path + "/status", status_fragment, methods=["GET"]),
    Route(job_path + "/rejected.csv", rejected_csv, methods=["GET"]),
    Route(job_path + "/again", again, methods=["POST"]),
    Route(job_path + "/resume", resume, methods=["POST"]),
]
