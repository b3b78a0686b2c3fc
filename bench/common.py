"""Shared helpers of the benchmarks: databases, believable Vietnamese data, timing."""

from __future__ import annotations

import os
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("METACRM_BENCH_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
            "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quốc", "Gia", "Thu"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Đức", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Hương",
         "Khánh", "Lan", "Linh", "Long", "Mai", "Minh", "Nam", "Ngọc", "Phong", "Phương",
         "Quân", "Sơn", "Thảo", "Trang", "Tuấn", "Việt", "Yến"]
CITIES = ["Hà Nội", "TP. Hồ Chí Minh", "Đà Nẵng", "Hải Phòng", "Cần Thơ", "Huế", "Nha Trang",
          "Vũng Tàu", "Biên Hòa", "Buôn Ma Thuột", "Quy Nhơn", "Vinh", "Thái Nguyên",
          "Nam Định", "Hạ Long", "Đà Lạt", "Long Xuyên", "Rạch Giá", "Cà Mau", "Bắc Ninh"]
MOBILE = ["090", "091", "093", "094", "096", "097", "098", "086", "088", "032", "035",
          "037", "039", "070", "079", "077", "083", "084", "085"]
# syllables of given names: three of them make names as varied as real ones
SYLLABLES = ["An", "Bình", "Chi", "Dung", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Huy",
             "Khánh", "Lan", "Linh", "Long", "Mai", "Minh", "My", "Nam", "Nga", "Ngọc",
             "Nhung", "Phong", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Thu", "Trang", "Trung",
             "Tú", "Tuấn", "Uyên", "Vân", "Việt", "Vy", "Xuân", "Yến", "Đạt"]
STAGES = ["subscriber", "lead", "marketing_qualified_lead", "sales_qualified_lead",
          "opportunity", "customer", "evangelist", "other"]


def contacts(count: int, *, seed: int = 7) -> Iterator[dict]:
    """`count` believable contacts as API-style input values."""
    rng = random.Random(seed)
    start = date(1950, 1, 1)
    for i in range(count):
        yield {
            "first_name": f"{rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
            "last_name": rng.choice(SURNAMES),
            "email": f"kh{i}@vidu.vn",
            "phone": f"{rng.choice(MOBILE)}{rng.randrange(10**7):07d}" if i % 2 else None,
            "birthdate": (start + timedelta(days=rng.randrange(20000))).isoformat(),
            "city": rng.choice(CITIES),
            "lifecycle_stage": rng.choice(STAGES),
        }


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a new PostgreSQL schema (dropped after)."""
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.engine.make_url(PG_URL).update_query_dict(
            {"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def bulk_load(rt, object_name: str, rows: Iterable[dict]) -> None:
    """Load rows (field values, ids included) into an object's table the fast way: its
    plain indexes dropped first and built again by migrate, system columns filled, 20,000
    rows a transaction; PostgreSQL then gets fresh statistics."""
    from metacrm.engine import sync

    target = rt.schema.table(object_name)
    now = rt.clock()
    system = {"owner": 1, "created_at": now, "updated_at": now, "created_by": 1,
              "updated_by": 1, "version": 1}
    with rt.db.write() as conn:
        for index in sa.inspect(conn).get_indexes(object_name):
            if not index.get("unique"):
                conn.execute(sa.text(f'DROP INDEX "{index["name"]}"'))
    batch: list[dict] = []
    for row in rows:
        batch.append({**row, **system})
        if len(batch) == 20_000:
            with rt.db.write() as conn:
                conn.execute(target.insert(), batch)
            batch = []
    if batch:
        with rt.db.write() as conn:
            conn.execute(target.insert(), batch)
    sync.migrate(rt.db, rt.model)
    if not rt.db.is_sqlite:
        with rt.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'VACUUM ANALYZE "{object_name}"'))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
