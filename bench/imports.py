"""Importing contacts from a CSV file, against raw inserts of the same rows.

    python bench/imports.py [--rows 100000] [--backends sqlite,postgresql]

The import reads the file, maps its columns, and sends every row through the record
service (coercion, phone and email normalisation, validation rules, formulas, unique
checks, audit trail, workflow rules) in committed batches. The baseline inserts the same
rows, already typed, with one executemany per batch into a copy of the table, in the same
run. Target: the import at least a third of the raw rate.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SYLLABLES, contacts, database, table  # noqa: E402

from metacrm.engine import imports, sync  # noqa: E402
from metacrm.engine.boot import open_runtime  # noqa: E402
from metacrm.engine.runtime import Runtime  # noqa: E402

HEADER = ["Họ", "Tên", "Email", "Điện thoại", "Ngày sinh", "Tỉnh / thành phố",
          "Giai đoạn vòng đời"]


def csv_file(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    rng = random.Random(3)
    for c in contacts(rows):
        # three-syllable given names, as varied as real ones: the duplicate rule on first
        # name and city then finds a handful of look-alikes, not a thousand
        c["first_name"] = " ".join(rng.choice(SYLLABLES) for _ in range(3))
        birth = date.fromisoformat(c["birthdate"])
        writer.writerow([c["last_name"], c["first_name"], c["email"], c["phone"] or "",
                         birth.strftime("%d/%m/%Y"), c["city"], c["lifecycle_stage"]])
    return out.getvalue().encode("utf-8-sig")


def raw_rate(rt: Runtime, rows: int) -> float:
    """Rows per second of plain executemany inserts of the same rows, already typed, into
    the same table (its indexes and search triggers included), as a hand-written loader
    would do it."""
    target = rt.schema.table("contact")
    now = rt.clock()
    typed = [{"last_name": c["last_name"], "first_name": c["first_name"],
              "email": "raw." + c["email"], "phone": c["phone"],
              "birthdate": date.fromisoformat(c["birthdate"]), "city": c["city"],
              "lifecycle_stage": c["lifecycle_stage"], "owner": 1, "created_at": now,
              "updated_at": now, "created_by": 1, "updated_by": 1, "version": 1}
             for c in contacts(rows)]
    start = time.perf_counter()
    for first in range(0, rows, imports.BATCH):
        with rt.db.write() as conn:
            conn.execute(target.insert(), typed[first:first + imports.BATCH])
    return rows / (time.perf_counter() - start)


def run(backend: str, rows: int, workdir: Path) -> list[list[object]]:
    data = csv_file(rows)
    with database(backend, workdir) as url:
        rt = open_runtime(ROOT / "apps" / "default_crm", url, files_dir=workdir / "files")
        sync.migrate(rt.db, rt.model)
        ctx = rt.system_context()
        obj = rt.model.objects["contact"]
        start = time.perf_counter()
        sheet = imports.read_file(data, "contacts.csv")
        job = imports.start(ctx, "contact", data, "contacts.csv",
                            imports.Settings(imports.guess_mapping(ctx, obj, sheet.columns)),
                            workdir / "imports")
        summary = imports.run(ctx, job)
        seconds = time.perf_counter() - start
        assert summary.inserted == rows, summary.line()
        engine_rate = rows / seconds
        raw = raw_rate(rt, rows)
        rt.db.dispose()
    return [[backend, f"{rows:,}", f"{engine_rate:,.0f}", f"{raw:,.0f}",
             f"{engine_rate / raw:.2f}"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            out.extend(run(backend, args.rows, Path(tmp)))
            print(table(["db", "rows", "import rows/s", "raw insert rows/s", "ratio"], out),
                  flush=True)
    print("target: ratio at least 0.33 (a third of the raw rate)")


if __name__ == "__main__":
    main()
