"""Importing CSV and XLSX files into any object, through the record service.

A file is read whole into a :class:`Sheet` (any common encoding and delimiter, UTF-8 with or
without BOM, Windows "Excel" CSV, or the first worksheet of an XLSX). Its columns are mapped
to fields (guessed from the fields' names and labels in both languages, then edited by the
admin). An import is a job (table mc_import): rows go through the record service in
committed batches - every row validated, computed, audited and run through the workflow
rules - and the job remembers how many rows are done, so that a crashed import resumes
where it stopped and imports every row exactly once. A rejected row is kept with its
reason (mc_import_row) and can be downloaded as CSV. A dry run does the same work in one
transaction that is rolled back: it reports the same rejected rows as the real run would.

Values are matched the way people write them: picklists by value or label (either
language, any case or accents), lookups by the related record's title or a unique field
("Công ty ABC"), users by user name or display name.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes
from openpyxl import load_workbook
from sqlalchemy import Connection, func, select

from ..metadata.model import FieldDef, ObjectDef
from .access import readable
from .coerce import filter_value
from .duplicates import check_batch, check_many
from .errors import BadRequest, CrmError, NotFound
from .pipeline import check_unique, prepare
from .records import insert_prepared, object_def, require, update
from .rows import title_sql
from .runtime import Context, Runtime
from .sheets import csv_text, unguard
from .sqlexpr import keyed_select
from .text import is_digits, match_key

BATCH = 500
STATISTICS_EVERY = 5000  # rows imported before the table's statistics are first refreshed
MAX_BYTES = 50 * 1024 * 1024


# --- reading files ----------------------------------------------------------------------------


@dataclass
class Sheet:
    columns: list[str]
    rows: list[list[Any]]  # the data rows, header excluded; row i is file row i + 2
    encoding: str | None = None
    delimiter: str | None = None


def read_file(data: bytes, filename: str) -> Sheet:
    """The columns and rows of a CSV or XLSX file. Raises BadRequest with what is wrong."""
    if len(data) > MAX_BYTES:
        raise BadRequest(f"{filename} is larger than {MAX_BYTES // (1024 * 1024)} MB")
    if filename.lower().endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04":
        return _read_xlsx(data, filename)
    return _read_csv(data, filename)


def decode(data: bytes) -> tuple[str, str]:
    """Text of a CSV file and the encoding it was in."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # what Excel on Windows writes here: Vietnamese (1258) or Western (1252)
    best = from_bytes(data, cp_isolation=["cp1258", "cp1252"]).best()
    encoding = best.encoding if best is not None else "cp1252"
    text = data.decode(encoding, errors="replace")
    return unicodedata.normalize("NFC", text), encoding


def _read_csv(data: bytes, filename: str) -> Sheet:
    text, encoding = decode(data)
    sample = text[:65536]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        delimiter = max(",;\t|", key=first.count)
    rows = [[unguard(cell) for cell in r]
            for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            if any(cell.strip() for cell in r)]
    if not rows:
        raise BadRequest(f"{filename} is empty")
    return Sheet([c.strip() for c in rows[0]], rows[1:], encoding, delimiter)


def _read_xlsx(data: bytes, filename: str) -> Sheet:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise BadRequest(f"{filename} is not a readable XLSX file ({exc})") from None
    try:
        sheet = book.worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    rows = [r for r in rows if any(v not in (None, "") for v in r)]
    if not rows:
        raise BadRequest(f"{filename} has no rows")
    header = ["" if v is None else str(v).strip() for v in rows[0]]
    return Sheet(header, rows[1:])


# --- mapping ----------------------------------------------------------------------------------


def importable(ctx: Context, obj: ObjectDef) -> list[FieldDef]:
    """The fields the user's import may fill: those their role lets them edit (a field
    hidden from them is not offered, so the mapping says nothing of it)."""
    return [f for f in obj.fields.values()
            if (not f.system or f.name == "owner") and not f.computed and f.kind.importable
            and ctx.can_edit(obj, f.name)]


def guess_mapping(ctx: Context, obj: ObjectDef, columns: Sequence[str]
                  ) -> dict[str, str | None]:
    """column -> field, guessed from field names and labels in English and Vietnamese."""
    names: dict[str, str] = {}
    for fdef in importable(ctx, obj):
        for alias in (fdef.name, fdef.name.replace("_", " "), *fdef.label.texts.values()):
            names.setdefault(match_key(alias), fdef.name)
    out: dict[str, str | None] = {}
    taken: set[str] = set()
    for column in columns:
        target = names.get(match_key(column))
        out[column] = target if target and target not in taken else None
        if target:
            taken.add(target)
    return out


# --- values -----------------------------------------------------------------------------------


class Resolver:
    """Turns the text of a cell into the value a field takes, remembering what it looked up."""

    def __init__(self, ctx: Context, conn: Connection, obj: ObjectDef):
        self.ctx, self.conn, self.obj = ctx, conn, obj
        self._refs: dict[tuple[str, str], int | None] = {}
        self._users: dict[str, int] | None = None
        self._options: dict[str, dict[str, str]] = {}

    def value(self, fdef: FieldDef, raw: Any) -> Any:
        if isinstance(raw, str):
            raw = raw.strip()
        if raw is None or raw == "":
            return None
        return fdef.kind.sheet(fdef, raw, self)

    def key(self, text: str) -> str:
        return match_key(text)

    def option(self, fdef: FieldDef, raw: Any) -> Any:
        if fdef.name not in self._options:
            names: dict[str, str] = {}
            for option in fdef.options:
                for alias in (*option.label.texts.values(), option.value):
                    names[match_key(alias)] = option.value
            self._options[fdef.name] = names
        # a value that is no option is passed on: the record service says what is wrong
        return self._options[fdef.name].get(match_key(raw), raw)

    def record(self, fdef: FieldDef, raw: Any) -> Any:
        if isinstance(raw, (int, float)) or is_digits(str(raw)):
            return int(raw)
        target = self.ctx.model.objects[fdef.to or ""]
        cache_key = (target.name, match_key(raw))
        if cache_key not in self._refs:
            self._refs[cache_key] = find_by_title(self.ctx, self.conn, target, str(raw))
        found = self._refs[cache_key]
        if found is None:
            raise _Reject(fdef.name, f"no {target.label.get(self.ctx.locale).lower()} is "
                                     f"called '{raw}'")
        return found

    def user(self, raw: Any) -> Any:
        if isinstance(raw, (int, float)) or is_digits(str(raw)):
            return int(raw)
        if self._users is None:
            users = self.ctx.schema.system["mc_user"]
            self._users = {}
            for row in self.conn.execute(select(users.c.id, users.c.username,
                                                users.c.display_name)):
                self._users[match_key(row.username)] = row.id
                if row.display_name:
                    self._users.setdefault(match_key(row.display_name), row.id)
        found = self._users.get(match_key(raw))
        if found is None:
            raise _Reject("", f"no user is called '{raw}'")
        return found


def find_by_title(ctx: Context, conn: Connection, obj: ObjectDef, text: str) -> int | None:
    """The id of the record of `obj` whose title (or a unique text field) is `text`, of
    those the user may read."""
    table = ctx.schema.table(obj.name)
    wanted = text.strip().lower()
    restrict = readable(ctx, obj.name, table)
    candidates = []
    title = title_sql(obj, table) if obj.title_fields else None
    if title is not None:
        candidates.append(func.lower(title))
    for fdef in obj.fields.values():
        if fdef.unique and fdef.kind.is_word \
                and fdef.name not in ctx.hidden(obj.name):
            candidates.append(func.lower(table.c[fdef.name]))
    for expression in candidates:
        found = select(table.c.id).where(expression == wanted)
        if restrict is not None:
            found = found.where(restrict)
        rows = conn.execute(found.limit(2)).all()
        if len(rows) == 1:
            return rows[0].id
        if len(rows) > 1:
            raise _Reject("", f"several {obj.name} records are called '{text}'; use the id")
    return None


class _RollBack(Exception):
    """Ends a dry run's transaction without keeping anything."""


class _Reject(Exception):
    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


# --- jobs -------------------------------------------------------------------------------------


@dataclass
class Settings:
    mapping: dict[str, str | None]  # column -> field (None: ignored)
    key: str | None = None  # update the record with the same value of this field, or insert
    dry_run: bool = False

    def to_json(self) -> str:
        return json.dumps({"mapping": self.mapping, "key": self.key, "dry_run": self.dry_run},
                          ensure_ascii=False)

    @classmethod
    def of(cls, text: str) -> Settings:
        data = json.loads(text)
        return cls(data["mapping"], data.get("key"), bool(data.get("dry_run")))


@dataclass
class Summary:
    job: int
    total: int
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    status: str = "done"
    dry_run: bool = False
    rejects: list[tuple[int, str]] = field(default_factory=list)  # (file row, reason)

    def line(self) -> str:
        what = "dry run: would insert" if self.dry_run else "inserted"
        return (f"{what} {self.inserted}, {'would update' if self.dry_run else 'updated'} "
                f"{self.updated}, rejected {self.rejected} of {self.total} rows")


def check_settings(ctx: Context, obj: ObjectDef, columns: Sequence[str],
                   settings: Settings) -> None:
    """Raise BadRequest when the mapping names an unknown column or a field the user's
    import may not fill (unknown and hidden fields get the same answer)."""
    fields = {f.name for f in importable(ctx, obj)}
    for column, target in settings.mapping.items():
        if column not in columns:
            raise BadRequest(f"the file has no column '{column}' (columns: "
                             f"{', '.join(columns)})", parameter="map")
        if target and target not in fields:
            raise BadRequest(f"'{target}' is not a field an import can fill on {obj.name}",
                             parameter="map")
    targets = [t for t in settings.mapping.values() if t]
    double = sorted({t for t in targets if targets.count(t) > 1})
    if double:
        raise BadRequest(f"several columns go to {', '.join(double)}", parameter="map")
    if settings.key and settings.key not in targets:
        raise BadRequest(f"the key '{settings.key}' must be one of the mapped fields",
                         parameter="key")


def start(ctx: Context, object_name: str, data: bytes, filename: str,
          settings: Settings, folder: Path) -> int:
    """Store the file and create the job; returns its id. Checks file and mapping first."""
    obj = object_def(ctx, object_name)
    require(ctx, obj, "create")
    sheet = read_file(data, filename)
    check_settings(ctx, obj, sheet.columns, settings)
    folder.mkdir(parents=True, exist_ok=True)
    table = ctx.schema.system["mc_import"]
    now = ctx.now()
    with ctx.db.write() as conn:
        job = conn.execute(table.insert().values(
            object=object_name, filename=filename, path="", settings=settings.to_json(),
            status="pending", total=len(sheet.rows), done=0, inserted=0, updated=0, rejected=0,
            user_id=ctx.user.id, created_at=now, updated_at=now).returning(table.c.id)).scalar()
        path = folder / f"import-{job}{Path(filename).suffix.lower() or '.csv'}"
        path.write_bytes(data)
        conn.execute(table.update().where(table.c.id == job).values(path=str(path)))
    return int(job)


def job_row(rt: Runtime, job: int) -> Any:
    table = rt.schema.system["mc_import"]
    with rt.db.read() as conn:
        row = conn.execute(select(table).where(table.c.id == job)).first()
    if row is None:
        raise NotFound(f"there is no import {job}")
    return row


Progress = Callable[[int, int], None]


def run(ctx: Context, job: int, *, batch: int = BATCH, progress: Progress | None = None,
        stop_after: int | None = None, statistics_every: int = STATISTICS_EVERY) -> Summary:
    """Run (or resume) an import job to its end. `stop_after` batches: for tests of a crash.
    The table's planner statistics are refreshed after `statistics_every` rows, and again
    each time it has doubled since."""
    rt = ctx.runtime
    row = job_row(rt, job)
    if row.status == "done":
        raise BadRequest(f"import {job} is already done")
    settings = Settings.of(row.settings)
    obj = object_def(ctx, row.object)
    sheet = read_file(Path(row.path).read_bytes(), row.filename)
    summary = Summary(job, len(sheet.rows), row.inserted, row.updated, row.rejected,
                      dry_run=settings.dry_run)
    _set(rt, job, status="running", total=len(sheet.rows))
    try:
        if settings.dry_run:
            _dry_run(ctx, obj, sheet, settings, summary, batch, progress,
                     _Statistics(ctx, obj, statistics_every))
        else:
            _real_run(ctx, obj, sheet, settings, summary, row.done, batch, progress, stop_after,
                      _Statistics(ctx, obj, statistics_every))
    except CrmError as exc:
        _set(rt, job, status="failed", message=exc.message)
        raise
    return summary


class _Statistics:
    """Refreshes the planner's statistics of the table an import fills each time the rows
    it inserted have doubled the table since the planner last looked (after `every` rows
    first): the batches' lookups (keys, duplicate rules) keep using their indexes."""

    def __init__(self, ctx: Context, obj: ObjectDef, every: int):
        self.ctx, self.obj, self.every = ctx, obj, every
        self.analyzed = 0  # rows inserted when the statistics were last refreshed

    def after(self, inserted: int, conn: Connection | None = None) -> None:
        if inserted - self.analyzed >= max(self.every, self.analyzed):
            self.ctx.db.refresh_statistics(self.obj.name, conn=conn)
            self.analyzed = inserted


def _dry_run(ctx: Context, obj: ObjectDef, sheet: Sheet, settings: Settings,
             summary: Summary, batch: int, progress: Progress | None,
             statistics: _Statistics) -> None:
    """Everything the real run does, in one transaction that is then rolled back."""
    rejects: list[tuple[int, str, list[Any]]] = []
    try:
        with ctx.db.write() as conn:
            for first in range(0, len(sheet.rows), batch):
                chunk = sheet.rows[first:first + batch]
                rejects.extend(_batch(ctx, conn, obj, sheet.columns, chunk, first, settings,
                                      summary))
                # inside the transaction, whose rows the planner then counts
                statistics.after(summary.inserted, conn)
                if progress:
                    progress(first + len(chunk), len(sheet.rows))
            raise _RollBack
    except _RollBack:
        pass
    ctx.runtime.counts.written()
    with ctx.db.write() as c:
        _store_rejects(ctx, c, summary.job, rejects, sheet.columns)
        _counters(ctx, c, summary, len(sheet.rows), "done")


def _real_run(ctx: Context, obj: ObjectDef, sheet: Sheet, settings: Settings,
              summary: Summary, done: int, batch: int, progress: Progress | None,
              stop_after: int | None, statistics: _Statistics) -> None:
    batches = 0
    for first in range(done, len(sheet.rows), batch):
        chunk = sheet.rows[first:first + batch]
        with ctx.db.write() as conn:
            rejects = _batch(ctx, conn, obj, sheet.columns, chunk, first, settings, summary)
            _store_rejects(ctx, conn, summary.job, rejects, sheet.columns)
            end = first + len(chunk)
            _counters(ctx, conn, summary, end, "done" if end >= len(sheet.rows) else "running")
        statistics.after(summary.inserted)
        if progress:
            progress(end, len(sheet.rows))
        batches += 1
        if stop_after is not None and batches >= stop_after and end < len(sheet.rows):
            return
    if not sheet.rows:
        with ctx.db.write() as conn:
            _counters(ctx, conn, summary, 0, "done")
    summary.status = "done"


def _batch(ctx: Context, conn: Connection, obj: ObjectDef, columns: list[str],
           chunk: list[list[Any]], first: int, settings: Settings,
           summary: Summary) -> list[tuple[int, str, list[Any]]]:
    """One batch of rows: updates by key one by one, creates in one insert. Returns the
    rejected rows as (file row, reason, cells)."""
    resolver = Resolver(ctx, conn, obj)
    rejects: list[tuple[int, str, list[Any]]] = []
    creates: list[tuple[int, list[Any], Any]] = []
    key_field = obj.fields.get(settings.key) if settings.key else None
    existing = _existing(ctx, conn, obj, key_field, columns, chunk, settings, resolver)
    for offset, cells in enumerate(chunk):
        number = first + offset + 2  # the header is row 1
        try:
            values = _values(obj, columns, cells, settings, resolver)
        except _Reject as exc:
            rejects.append((number, _reason(obj, exc.field, exc.message, ctx), cells))
            continue
        record_id = existing.get(values.get(settings.key)) if key_field else None
        if record_id is not None:
            try:
                with conn.begin_nested():
                    update(ctx, obj.name, record_id, values, conn=conn)
                summary.updated += 1
            except CrmError as exc:
                rejects.append((number, _error_text(obj, exc, ctx), cells))
            continue
        save = prepare(ctx, conn, obj, values, None, unique=False, validate=False)
        creates.append((number, cells, save))
    saves = [s for _, _, s in creates]
    numbers = [n for n, _, _ in creates]  # the file's row numbers, for the messages
    check_unique(saves, numbers)
    check_many(ctx, conn, obj, saves)
    check_batch(obj, saves, numbers)
    good = []
    for number, cells, save in creates:
        if save.errors:
            rejects.append((number, "; ".join(
                f"{_label(obj, k, ctx)}: {e.message}" for k, errs in save.errors.items()
                for e in errs), cells))
        else:
            good.append(save)
    insert_prepared(ctx, conn, obj, good)
    summary.inserted += len(good)
    summary.rejected += len(rejects)
    rejects.sort()
    summary.rejects.extend((n, reason) for n, reason, _ in rejects)
    return rejects


def _existing(ctx: Context, conn: Connection, obj: ObjectDef, key_field: FieldDef | None,
              columns: list[str], chunk: list[list[Any]], settings: Settings,
              resolver: Resolver) -> dict[Any, int]:
    """key value -> id of the records the batch will update: of those the user may read,
    so a key that matches a record out of their scope is a key that matches nothing (the
    row is inserted, as for any new key), never an answer that the record exists."""
    if key_field is None:
        return {}
    column = next(c for c, t in settings.mapping.items() if t == key_field.name)
    index = columns.index(column)
    keys = set()
    for cells in chunk:
        raw = cells[index] if index < len(cells) else None
        try:
            value = resolver.value(key_field, raw)
            if value is not None:
                keys.add(filter_value(key_field, value, ctx.tz))
        except (CrmError, _Reject, ValueError):
            continue
    if not keys:
        return {}
    table = ctx.schema.table(obj.name)
    matches = keyed_select(table, [table.c[key_field.name], table.c.id], [key_field.name],
                           [(k,) for k in keys], conn.dialect.name)
    restrict = readable(ctx, obj.name, table)
    if restrict is not None:
        matches = matches.where(restrict)
    return {row[0]: row[1] for row in conn.execute(matches)}


def _values(obj: ObjectDef, columns: list[str], cells: list[Any], settings: Settings,
            resolver: Resolver) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for index, column in enumerate(columns):
        target = settings.mapping.get(column)
        if not target:
            continue
        raw = cells[index] if index < len(cells) else None
        fdef = obj.fields[target]
        try:
            value = resolver.value(fdef, raw)
        except _Reject as exc:
            raise _Reject(target, exc.message) from None
        if value is not None:
            values[target] = value
    if settings.key and values.get(settings.key) is not None:
        fdef = obj.fields[settings.key]
        try:
            values[settings.key] = filter_value(fdef, values[settings.key],
                                                resolver.ctx.tz)
        except CrmError:
            pass
    return values


def _label(obj: ObjectDef, field_name: str, ctx: Context) -> str:
    if field_name in obj.fields:
        return obj.fields[field_name].label.get(ctx.locale)
    return "row"


def _reason(obj: ObjectDef, field_name: str, message: str, ctx: Context) -> str:
    return f"{_label(obj, field_name, ctx)}: {message}" if field_name else message


def _error_text(obj: ObjectDef, exc: CrmError, ctx: Context) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return "; ".join(f"{_label(obj, k, ctx)}: {e.message}" for k, errs in errors.items()
                         for e in errs)
    return exc.message


def _store_rejects(ctx: Context, conn: Connection, job: int,
                   rejects: Iterable[tuple[int, str, list[Any]]], columns: list[str]) -> None:
    table = ctx.schema.system["mc_import_row"]
    rows = [{"import_id": job, "row": number, "reason": reason,
             "data": json.dumps(dict(zip(columns, [_cell(c) for c in cells], strict=False)),
                                ensure_ascii=False)}
            for number, reason, cells in rejects]
    if rows:
        conn.execute(table.insert(), rows)


def _cell(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _counters(ctx: Context, conn: Connection, summary: Summary, done: int,
              status: str) -> None:
    table = ctx.schema.system["mc_import"]
    conn.execute(table.update().where(table.c.id == summary.job).values(
        done=done, inserted=summary.inserted, updated=summary.updated,
        rejected=summary.rejected, status=status, updated_at=ctx.now()))


def _set(rt: Runtime, job: int, **values: Any) -> None:
    table = rt.schema.system["mc_import"]
    with rt.db.write() as conn:
        conn.execute(table.update().where(table.c.id == job).values(**values,
                                                                     updated_at=rt.clock()))


def rejected_csv(rt: Runtime, job: int) -> str:
    """The rejected rows of a job as CSV: the row number, the reason, then the row's cells."""
    job_row(rt, job)  # NotFound for an unknown job
    table = rt.schema.system["mc_import_row"]
    with rt.db.read() as conn:
        rejects = conn.execute(select(table).where(table.c.import_id == job)
                               .order_by(table.c.row)).all()
    columns: list[str] = []
    data = [json.loads(r.data) for r in rejects]
    for cells in data:
        columns.extend(c for c in cells if c not in columns)
    return csv_text([["row", "reason", *columns], *(
        [reject.row, reject.reason, *(cells.get(c, "") for c in columns)]
        for reject, cells in zip(rejects, data, strict=True))])



# --- helpers for the import screens -----------------------------------------------------------


def update_settings(rt: Runtime, job: int, settings: Settings) -> None:
    """Store the mapping, key and dry-run switch an admin chose for a job that has not run."""
    _set(rt, job, settings=settings.to_json())


def fail(rt: Runtime, job: int, message: str) -> None:
    """Mark a job failed with why (for errors that are not the engine's own)."""
    _set(rt, job, status="failed", message=message)


def restart(ctx: Context, job: int, *, dry_run: bool = False) -> int:
    """A new pending job over the same stored file, mapping and key; returns its id. The
    screens use it for "import for real" after a dry run, or to change the mapping."""
    row = job_row(ctx.runtime, job)
    require(ctx, object_def(ctx, row.object), "create")
    old = Settings.of(row.settings)
    settings = Settings(old.mapping, old.key, dry_run)
    table = ctx.schema.system["mc_import"]
    now = ctx.now()
    with ctx.db.write() as conn:
        new = conn.execute(table.insert().values(
            object=row.object, filename=row.filename, path=row.path,
            settings=settings.to_json(), status="pending", total=row.total, done=0,
            inserted=0, updated=0, rejected=0, user_id=ctx.user.id, created_at=now,
            updated_at=now).returning(table.c.id)).scalar()
    return int(new)


def rejected_rows(rt: Runtime, job: int, limit: int = 20) -> list[tuple[int, str]]:
    """The first `limit` rejected rows of a job: (file row, reason)."""
    table = rt.schema.system["mc_import_row"]
    with rt.db.read() as conn:
        rows = conn.execute(select(table.c.row, table.c.reason)
                            .where(table.c.import_id == job)
                            .order_by(table.c.row).limit(limit)).all()
    return [(r.row, r.reason) for r in rows]



# --- mapping templates ------------------------------------------------------------------------


def save_template(ctx: Context, object_name: str, name: str, settings: Settings) -> int:
    """Keep a mapping (and key) under a name, for the next file of the same layout. A
    template of the same name for the same object is replaced."""
    name = name.strip()
    if not name or len(name) > 100:
        raise BadRequest("a template needs a name of at most 100 characters",
                         parameter="template_name")
    table = ctx.schema.system["mc_import_template"]
    data = json.dumps({"mapping": settings.mapping, "key": settings.key}, ensure_ascii=False)
    with ctx.db.write() as conn:
        conn.execute(table.delete().where(table.c.object == object_name, table.c.name == name))
        return int(conn.execute(table.insert().values(
            object=object_name, name=name, settings=data, user_id=ctx.user.id,
            created_at=ctx.now()).returning(table.c.id)).scalar())


def templates(ctx: Context, object_name: str) -> list[tuple[int, str]]:
    table = ctx.schema.system["mc_import_template"]
    with ctx.db.read() as conn:
        return [(r.id, r.name) for r in conn.execute(
            select(table.c.id, table.c.name).where(table.c.object == object_name)
            .order_by(table.c.name))]


def apply_template(ctx: Context, object_name: str, template_id: int,
                   columns: Sequence[str]) -> Settings:
    """The template's mapping for a file with these columns (columns it does not know are
    skipped; a key that is not mapped here is dropped)."""
    table = ctx.schema.system["mc_import_template"]
    with ctx.db.read() as conn:
        row = conn.execute(select(table).where(table.c.id == template_id,
                                               table.c.object == object_name)).first()
    if row is None:
        raise NotFound(f"there is no import template {template_id} for {object_name}")
    data = json.loads(row.settings)
    fillable = {f.name for f in importable(ctx, object_def(ctx, object_name))}
    mapping = {c: target if (target := data["mapping"].get(c)) in fillable else None
               for c in columns}
    key = data.get("key") if data.get("key") in mapping.values() else None
    return Settings(mapping, key)


__all__ = ["Settings", "Sheet", "Summary", "apply_template", "check_settings", "decode", "fail",
           "guess_mapping", "importable", "job_row", "read_file", "rejected_csv",
           "rejected_rows", "restart", "run", "save_template", "start", "templates",
           "update_settings"]
