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
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SYLLABLES, bulk_load, contacts, database, table  # noqa: E402

from metacrm.engine import duplicates, sync  # noqa: E402
from metacrm.engine.boot import open_runtime  # noqa: E402


def people(rows: int) -> Iterator[dict]:
    """Contacts with three-syllable given names; every 50th is a near-duplicate of the one
    before it (the same person, in capitals)."""
    rng = random.Random(11)
    previous: dict = {}
    for i, c in enumerate(contacts(rows)):
        c["first_name"] = " ".join(rng.choice(SYLLABLES) for _ in range(3))
        if i % 50 == 49:
            c.update(first_name=previous["first_name"], city=previous["city"],
                     last_name=previous["last_name"].upper())
        previous = {**c, "phone": f"+84{c['phone'][1:]}" if c["phone"] else None,
                    "birthdate": date.fromisoformat(c["birthdate"]), "id": i + 1}
        yield previous


def run(backend: str, rows: int, repeat: int, workdir: Path) -> list[list[object]]:
    with database(backend, workdir) as url:
        rt = open_runtime(ROOT / "apps" / "default_crm", url, files_dir=workdir / "files")
        sync.migrate(rt.db, rt.model)
        ctx = rt.system_context()
        bulk_load(rt, "contact", people(rows))
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
