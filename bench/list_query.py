"""List query and bulk load: MetaCRM's engine against the same work done raw.

    python bench/list_query.py [--rows 1000000] [--backends sqlite,postgresql] [--repeat 31]

1. Loads ROWS contacts twice into the default CRM's contact table: raw (SQLAlchemy Core
   executemany of final column values) and through the engine's bulk path
   (`records.bulk_create`: coercion, defaults, formulas, checks, audit rows). Rows per second.
2. Times the list query "city = X, sorted by last name, page of 50, with the total count"
   through the engine (`query.list_records`) and as hand-written SQL run through the driver,
   interleaved, and prints the medians and their ratio (target: engine/raw <= 1.3). The
   engine's count cache is emptied before each engine run, so both count every time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, contacts, database, median_ms, table, timed  # noqa: E402

from metacrm.engine import query, records, sync  # noqa: E402
from metacrm.engine.boot import open_runtime  # noqa: E402
from metacrm.engine.runtime import Runtime  # noqa: E402


def raw_rows(rt: Runtime, ctx, count: int) -> list[dict]:
    """The final column values the engine would store, prepared ahead (not timed)."""
    obj = rt.model.objects["contact"]
    out = []
    with rt.db.read() as conn:
        for values in contacts(count):
            save = records.prepare(ctx, conn, obj, values, None, unique=False)
            assert not save.errors, save.errors
            out.append(records.new_row(save)[1])
    return out


def load(rt: Runtime, ctx, count: int) -> tuple[float, float]:
    table_ = rt.schema.table("contact")
    rows = raw_rows(rt, ctx, count)

    def insert_raw() -> None:
        with rt.db.write() as conn:
            for start in range(0, len(rows), 1000):
                conn.execute(table_.insert(), rows[start:start + 1000])

    raw_seconds = timed(insert_raw)
    with rt.db.write() as conn:
        conn.execute(table_.delete())
    rows.clear()
    engine_seconds = timed(lambda: records.bulk_create(ctx, "contact", contacts(count),
                                                       batch_size=1000))
    return count / raw_seconds, count / engine_seconds


def list_queries(rt: Runtime, ctx, city: str, page: int, repeat: int) -> tuple[float, float]:
    obj = rt.model.objects["contact"]
    cols = ", ".join(f'"{name}"' for name in obj.fields)
    mark = "?" if rt.db.is_sqlite else "%s"
    nulls = "" if rt.db.is_sqlite else " NULLS FIRST"  # the engine's order (and its index's)
    page_sql = (f"SELECT {cols} FROM contact WHERE city = {mark} "
                f"ORDER BY last_name{nulls}, first_name{nulls}, id "
                f"LIMIT 50 OFFSET {(page - 1) * 50}")
    count_sql = f"SELECT count(*) FROM contact WHERE city = {mark}"
    where = query.parse_params(ctx, obj, {"city": city})
    wanted = query.ListQuery(where=where, sort=("last_name", "first_name"), page=page,
                             page_size=50)

    def engine_run() -> None:
        rt.counts.written()  # no cached count: the engine counts like the raw SQL does
        result = query.list_records(ctx, "contact", wanted)
        assert result.items and result.total

    def raw_run() -> None:
        with rt.db.engine.connect() as conn:
            rows = conn.exec_driver_sql(page_sql, (city,)).fetchall()
            total = conn.exec_driver_sql(count_sql, (city,)).scalar()
            conn.rollback()
        assert rows and total

    for _ in range(3):  # warm caches, pools and plans
        engine_run()
        raw_run()
    engine_times, raw_times = [], []
    for _ in range(repeat):
        engine_times.append(timed(engine_run))
        raw_times.append(timed(raw_run))
    return median_ms(engine_times), median_ms(raw_times)


def run(backend: str, rows: int, repeat: int, workdir: Path) -> list[list[object]]:
    with database(backend, workdir) as url:
        rt = open_runtime(ROOT / "apps" / "default_crm", url)
        sync.migrate(rt.db, rt.model)
        ctx = rt.system_context()
        raw_rate, engine_rate = load(rt, ctx, rows)
        if not rt.db.is_sqlite:
            with rt.db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE contact")
                conn.commit()
        else:
            with rt.db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
        out = [[backend, f"load {rows:,} contacts (rows/s)", f"{engine_rate:,.0f}",
                f"{raw_rate:,.0f}", f"{raw_rate / engine_rate:.2f}x slower"]]
        for page in (1, 10):
            engine_ms, raw_ms = list_queries(rt, ctx, "Huế", page, repeat)
            out.append([backend, f"list city=Huế sort last_name page {page} + count (ms)",
                        f"{engine_ms:.2f}", f"{raw_ms:.2f}", f"{engine_ms / raw_ms:.2f}"])
        rt.db.dispose()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=31)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(dir=ROOT / "var" if (ROOT / "var").is_dir() else None
                                     ) as tmp:
        for backend in args.backends.split(","):
            results += run(backend, args.rows, args.repeat, Path(tmp))
            print(table(["db", "measure", "engine", "raw", "engine/raw"], results[-3:]),
                  flush=True)
    print()
    print(table(["db", "measure", "engine (median)", "raw (median)", "engine/raw"], results))


if __name__ == "__main__":
    main()
