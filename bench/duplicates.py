"""The duplicate finder over a whole object.

    python bench/duplicates.py [--rows 200000] [--backends sqlite,postgresql] [--repeat 3]

Loads ROWS believable contacts (bench/common.py, with three-syllable given names), 2% of
them near-duplicates of another (the same person in capitals), and times
`duplicates.find_groups` with the default CRM's rules (email, phone, last name fuzzy 90 +
first name + city). For scale, in the same run: one plain
`GROUP BY first_name, city` over the table, the least any finder must read.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SYLLABLES, contacts, database, table  # noqa: E402

from metacrm.engine import duplicates, sync  # noqa: E402
from metacrm.engine.runtime import Runtime  # noqa: E402


def load(rt: Runtime, rows: int) -> None:
    target = rt.schema.table("contact")
    now = rt.clock()
    with rt.db.write() as conn:  # bulk load: indexes dropped, rebuilt by migrate below
        for index in sa.inspect(conn).get_indexes("contact"):
            if not index.get("unique"):
                conn.execute(sa.text(f'DROP INDEX "{index["name"]}"'))
    rng = random.Random(11)
    batch: list[dict] = []
    for i, c in enumerate(contacts(rows)):
        # given names of three syllables, as many Vietnamese names are: look-alikes are
        # then the 2% copies seeded below, not half the table
        c["first_name"] = " ".join(rng.choice(SYLLABLES) for _ in range(3))
        if i % 50 == 49:  # a near-duplicate of an earlier contact: same person, no accents
            c.update(first_name=batch[-1]["first_name"], city=batch[-1]["city"],
                     last_name=batch[-1]["last_name"].upper())
        batch.append({**c, "phone": f"+84{c['phone'][1:]}" if c["phone"] else None,
                      "birthdate": date.fromisoformat(c["birthdate"]), "id": i + 1,
                      "owner": 1, "created_at": now, "updated_at": now, "created_by": 1,
                      "updated_by": 1, "version": 1})
        if len(batch) == 20_000:
            with rt.db.write() as conn:
                conn.execute(target.insert(), batch)
            batch = []
    if batch:
        with rt.db.write() as conn:
            conn.execute(target.insert(), batch)
    sync.migrate(rt.db, rt.model)


def run(backend: str, rows: int, repeat: int, workdir: Path) -> list[list[object]]:
    with database(backend, workdir) as url:
        rt = Runtime.open(ROOT / "apps" / "default_crm", url, files_dir=workdir / "files")
        sync.migrate(rt.db, rt.model)
        ctx = rt.system_context()
        load(rt, rows)
        t = rt.schema.table("contact")
        finder, scan, found = [], [], 0
        for _ in range(repeat):
            start = time.perf_counter()
            with rt.db.read() as conn:
                conn.execute(sa.select(t.c.first_name, t.c.city, sa.func.count())
                             .group_by(t.c.first_name, t.c.city)).all()
            scan.append(time.perf_counter() - start)
            start = time.perf_counter()
            groups = duplicates.find_groups(ctx, "contact")
            finder.append(time.perf_counter() - start)
            found = sum(len(g.ids) for g in groups)
        rt.db.dispose()
    f, s = statistics.median(finder), statistics.median(scan)
    return [[backend, f"{rows:,}", f"{found:,}", f"{f:.2f}", f"{s:.2f}", f"{f / s:.1f}"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            out.extend(run(backend, args.rows, args.repeat, Path(tmp)))
            print(table(["db", "contacts", "in duplicate groups", "finder s (median)",
                         "GROUP BY scan s", "ratio"], out), flush=True)


if __name__ == "__main__":
    main()
