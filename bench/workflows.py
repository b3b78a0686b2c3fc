"""The cost of automation.

    python bench/workflows.py [--rows 1000000] [--backends sqlite,postgresql]

1. A save (an update through the record service) with 0, 10 and 50 active rules on the
   object, each rule's condition checked on every save; medians and the ratio to 0 rules.
2. The scheduled birthday scan: finding the contacts whose birthday is today among ROWS
   contacts, through the indexed month-day column, against the same question asked by
   scanning the table (strftime / extract on every row). Target: under one second.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import textwrap
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, database, table  # noqa: E402

from metacrm.engine import records, sync  # noqa: E402
from metacrm.engine.boot import open_runtime  # noqa: E402
from metacrm.engine.scheduler import due_ids  # noqa: E402
from metacrm.engine.users import create_user  # noqa: E402
from metacrm.metadata import load  # noqa: E402


def rules_app(folder: Path, count: int) -> Path:
    app = folder / f"rules{count}"
    (app / "objects").mkdir(parents=True)
    (app / "workflows").mkdir()
    (app / "app.yaml").write_text("app: bench\n")
    (app / "objects" / "item.yaml").write_text(textwrap.dedent("""
        object: item
        fields:
          name: {type: text}
          score: {type: integer}
          status: {type: picklist, options: [open, won, lost]}
    """))
    rules = [f"workflow: rule{i}\nobject: item\nwhen: saved\n"
             f"if: \"status == 'won' and score > {i} and changed('status')\"\n"
             "do:\n  - set: {name: 'won'}\n" for i in range(count)]
    (app / "workflows" / "rules.yaml").write_text("---\n".join(rules) or "")
    return app


def save_costs(backend: str, workdir: Path, saves: int = 400) -> list[list[object]]:
    medians = {}
    for count in (0, 10, 50):
        with database(backend, workdir) as url:
            rt = open_runtime(rules_app(workdir / backend, count), url)
            sync.migrate(rt.db, rt.model)
            with rt.db.write() as conn:
                ctx = rt.context(create_user(conn, rt.schema, "u", role="admin"))
            item = records.create(ctx, "item", {"name": "x", "score": 1, "status": "open"})
            samples = []
            for i in range(saves):
                started = time.perf_counter()
                records.update(ctx, "item", item["id"], {"score": i + 2})
                samples.append(time.perf_counter() - started)
            medians[count] = statistics.median(samples) * 1000
            rt.db.dispose()
    return [[backend, f"a save with {n} active rules (ms)", f"{medians[n]:.2f}",
             f"{medians[n] / medians[0]:.2f}"] for n in (0, 10, 50)]


def birthday_scan(backend: str, rows: int, workdir: Path) -> list[list[object]]:
    with database(backend, workdir) as url:
        rt = open_runtime(ROOT / "apps" / "default_crm", url)
        sync.migrate(rt.db, rt.model)
        contact = rt.schema.table("contact")
        rng = random.Random(3)
        start = date(1950, 1, 1)
        with rt.db.write() as conn:
            for offset in range(0, rows, 10_000):
                batch = []
                for i in range(offset, min(rows, offset + 10_000)):
                    born = start + timedelta(days=rng.randrange(20_000))
                    batch.append({"last_name": f"KH {i}", "birthdate": born, "version": 1,
                                  "lifecycle_stage": "customer",
                                  "_md_birthdate": born.month * 100 + born.day})
                conn.execute(contact.insert(), batch)
        with rt.db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        ctx = rt.system_context()
        workflow = rt.model.workflows["birthday_greeting"]
        day = date(2027, 3, 8)

        def indexed() -> int:
            with rt.db.read() as conn:
                return len(due_ids(ctx, conn, workflow, day))

        if rt.db.is_sqlite:
            scan_sql = sa.text("SELECT id FROM contact WHERE strftime('%m-%d', birthdate) = "
                               "'03-08'")
        else:
            scan_sql = sa.text("SELECT id FROM contact WHERE extract(month FROM birthdate) = 3 "
                               "AND extract(day FROM birthdate) = 8")

        def scanned() -> int:
            with rt.db.read() as conn:
                return len(conn.execute(scan_sql).all())

        assert indexed() == scanned() > 0
        fast = statistics.median(_times(indexed, 7)) * 1000
        slow = statistics.median(_times(scanned, 5)) * 1000
        rt.db.dispose()
        return [[backend, f"birthday scan of {rows:,} contacts, index (ms)", f"{fast:.1f}",
                 f"{fast / slow:.3f} of a table scan ({slow:.0f} ms)"]]


def _times(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    load(ROOT / "apps" / "default_crm")  # a broken app fails here, before any work
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            results += save_costs(backend, Path(tmp))
            results += birthday_scan(backend, args.rows, Path(tmp))
            print(table(["db", "measure", "median", "ratio"], results[-4:]), flush=True)
    print()
    print(table(["db", "measure", "median", "ratio"], results))


if __name__ == "__main__":
    main()
