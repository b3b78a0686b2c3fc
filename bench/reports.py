"""A report over 1,000,000 opportunities, through the engine and as hand-written SQL.

    python bench/reports.py [--rows 1000000] [--backends sqlite,postgresql] [--repeat 7]

The report groups opportunities by the month of their expected close and by stage and
measures count and sum(amount). The engine compiles it from the report's metadata
(reports.run: the user's scope, the date bucket, readable keys for the list links); the
baseline is the same GROUP BY written by hand and run through the same connection pool, in
the same run. Target: the engine at most 1.2 times the raw query's time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, bulk_load, database, table  # noqa: E402

from metacrm.engine import reports, sync  # noqa: E402
from metacrm.engine.boot import open_runtime  # noqa: E402
from metacrm.metadata.model import Grouping, Label, Measure, Report  # noqa: E402

STAGES = ["prospecting", "qualification", "needs_analysis", "proposal", "negotiation", "won",
          "lost"]
REPORT = Report(name="by_month_and_stage", label=Label.of({"en": "By month and stage"}, ""),
                object="opportunity", filter=None,
                group_by=(Grouping("close_date", "month"), Grouping("stage")),
                measures=(Measure("count"), Measure("sum", "amount")), chart="bar")


def opportunities(rows: int) -> Iterator[dict]:
    rng = random.Random(5)
    start = date(2024, 1, 1)
    for i in range(rows):
        yield {"id": i + 1, "name": f"Cơ hội {i}", "stage": rng.choice(STAGES),
               "amount": rng.randrange(1, 500) * 1_000_000,
               "close_date": start + timedelta(days=rng.randrange(1000))}


def raw_sql(sqlite: bool) -> str:
    month = "strftime('%Y-%m', close_date)" if sqlite else "to_char(close_date, 'YYYY-MM')"
    return (f"SELECT {month} AS month, stage, count(*), sum(amount) FROM opportunity "
            f"GROUP BY {month}, stage ORDER BY {month}, stage")


def run(backend: str, rows: int, repeat: int, workdir: Path) -> list[list[object]]:
    with database(backend, workdir) as url:
        rt = open_runtime(ROOT / "apps" / "default_crm", url, files_dir=workdir / "files")
        sync.migrate(rt.db, rt.model)
        ctx = rt.system_context()
        started = time.perf_counter()
        bulk_load(rt, "opportunity", opportunities(rows))
        print(f"{backend}: loaded {rows:,} opportunities in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        statement = sa.text(raw_sql(rt.db.is_sqlite))
        engine_times, raw_times = [], []
        engine_rows = raw_rows = 0
        for _ in range(repeat):  # interleaved, so that drift on a shared machine cancels
            start = time.perf_counter()
            with rt.db.read() as conn:
                raw_rows = len(conn.execute(statement).all())
            raw_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            engine_rows = len(reports.run(ctx, REPORT, limit=100_000).rows)
            engine_times.append(time.perf_counter() - start)
        assert engine_rows == raw_rows, (engine_rows, raw_rows)
        rt.db.dispose()
    e, r = statistics.median(engine_times) * 1000, statistics.median(raw_times) * 1000
    return [[backend, f"{rows:,}", f"{engine_rows}", f"{e:.0f}", f"{r:.0f}", f"{e / r:.2f}"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    out: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            out.extend(run(backend, args.rows, args.repeat, Path(tmp)))
            print(table(["db", "opportunities", "groups", "engine ms (median)",
                         "raw SQL ms (median)", "ratio"], out), flush=True)
    print("target: ratio at most 1.2")


if __name__ == "__main__":
    main()
