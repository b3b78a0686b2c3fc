"""Date buckets of datetimes in the app's time zone, on both databases. A record saved at
20:00 UTC on 30 November was saved at 03:00 on 1 December in Hồ Chí Minh City: it belongs to
December's row. (PostgreSQL once read the stored UTC time as local time and put it in
November; the default reports' tests only showed it in the seven hours a month when UTC and
Việt Nam are in different months.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from metacrm.engine import records
from metacrm.engine.reports import bucket_sql
from metacrm.engine.users import create_user

SAVED = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)  # 1 December, 03:00 in Việt Nam


@pytest.mark.parametrize(("bucket", "expected"), [
    ("day", "2026-12-01"), ("week", "2026-W49"), ("month", "2026-12"),
    ("quarter", "2026-Q4"), ("year", "2026")])
def test_a_datetime_falls_in_the_app_time_zones_bucket(make_runtime, bucket, expected):
    rt = make_runtime(clock=lambda: SAVED)
    assert rt.model.timezone == "Asia/Ho_Chi_Minh"
    with rt.db.write() as conn:
        ctx = rt.context(create_user(conn, rt.schema, "boss", role="admin"))
    saved = records.create(ctx, "account", {"name": "Công ty Bình Minh"})
    assert saved["created_at"] == SAVED
    obj = ctx.model.objects["account"]
    table = ctx.schema.table("account")
    with ctx.db.read() as conn:
        got = conn.execute(select(bucket_sql(ctx, table.c.created_at,
                                             obj.fields["created_at"], bucket))).scalar_one()
    assert got == expected
