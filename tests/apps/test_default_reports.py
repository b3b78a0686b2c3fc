"""Every report of the default CRM, run over the demo company, against the same figures
computed independently here: the records read one by one, the report's filter evaluated by
the Python expression evaluator, groups and measures computed in Python."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from metacrm.engine import reports
from metacrm.engine.pipeline import RecordEnv
from metacrm.engine.rows import fetch
from metacrm.metadata import load
from metacrm.metadata.expressions import evaluate

ROOT = Path(__file__).resolve().parents[2]
REPORTS = sorted(load(ROOT / "apps" / "default_crm").reports)


def python_bucket(value: Any, bucket: str, tz) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(tz).date()
    if bucket == "day":
        return value.isoformat()
    if bucket == "week":
        year, week, _ = value.isocalendar()
        return f"{year}-W{week:02d}"
    if bucket == "month":
        return f"{value.year}-{value.month:02d}"
    if bucket == "quarter":
        return f"{value.year}-Q{(value.month - 1) // 3 + 1}"
    return str(value.year)


def python_band(value: Any, bands: tuple) -> str:
    index = sum(1 for b in bands if value >= b)
    return reports.band_label(bands, index)


def independent(rt, report) -> dict[tuple, list[Any]]:
    ctx = rt.system_context()
    obj = rt.model.objects[report.object]
    table = rt.schema.table(obj.name)
    groups: dict[tuple, list[list[Any]]] = defaultdict(list)
    with rt.db.read() as conn:
        ids = conn.scalars(select(table.c.id)).all()
        for record_id in ids:
            record = fetch(conn, table, obj, record_id)
            env = RecordEnv(ctx, conn, obj, record, None)
            if report.filter is not None and not evaluate(report.filter, env):
                continue
            key = []
            for grouping in report.group_by:
                value = env.value(tuple(grouping.field.split(".")))
                if value is None or value == "":
                    key.append(None if value is None else "")
                elif grouping.bucket:
                    key.append(python_bucket(value, grouping.bucket, rt.tz))
                elif grouping.bands:
                    key.append(python_band(value, grouping.bands))
                else:
                    key.append(value)
            groups[tuple(key)].append([env.value(tuple(m.field.split("."))) if m.field
                                       else None for m in report.measures])
    out = {}
    for key, rows in groups.items():
        values = []
        for i, measure in enumerate(report.measures):
            present = [r[i] for r in rows if r[i] is not None]
            if measure.func == "count":
                values.append(len(rows))
            elif not present:
                values.append(None)
            elif measure.func == "sum":
                values.append(sum(present))
            elif measure.func == "avg":
                values.append(sum(present) / len(present))
            else:
                values.append(min(present) if measure.func == "min" else max(present))
        out[key] = values
    return out


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)):
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))
    return a == b


@pytest.mark.parametrize("name", REPORTS)
def test_default_report_matches_the_demo_data(demo_runtime, name):
    rt = demo_runtime
    report = rt.model.reports[name]
    result = reports.run(rt.system_context(), report)
    expected = independent(rt, report)
    got = {tuple(k if not isinstance(k, date) else k.isoformat() for k in row.keys):
           list(row.values) for row in result.rows}
    # blanks: SQL groups '' and NULL separately only for text; both mean "no value"
    assert sorted(map(str, got)) == sorted(map(str, expected)), name
    for key, values in expected.items():
        assert all(same(a, b) for a, b in zip(got[key], values, strict=True)), (name, key)
    assert result.rows, f"{name} has no rows on the demo data"


def test_a_bar_opens_the_list_of_exactly_its_records(demo_runtime):
    from metacrm.engine import query

    rt = demo_runtime
    ctx = rt.system_context()
    for name in ("pipeline_by_stage", "won_by_month", "contacts_by_age", "revenue_by_region"):
        report = rt.model.reports[name]
        obj = rt.model.objects[report.object]
        for row in reports.run(ctx, report).rows[:3]:
            page = query.list_records(ctx, report.object, query=query.ListQuery(
                where=query.parse_params(ctx, obj, row.filters), page_size=1))
            assert page.total == row.values[0] if report.measures[0].func == "count" \
                else page.total > 0, (name, row)


def test_a_sales_rep_counts_only_the_records_they_may_read(demo_runtime):
    from metacrm.engine.users import find_user

    rt = demo_runtime
    with rt.db.read() as conn:
        lan = find_user(conn, rt.schema, "lan")
    everyone = reports.run(rt.system_context(), rt.model.reports["pipeline_by_stage"])
    mine = reports.run(rt.context(lan), rt.model.reports["pipeline_by_stage"])
    table = rt.schema.table("opportunity")
    with rt.db.read() as conn:
        owned = conn.execute(select(table.c.id).where(
            table.c.owner == lan.id, table.c.is_closed.is_not(True))).all()
    assert sum(r.values[0] for r in mine.rows) == len(owned)
    assert sum(r.values[0] for r in mine.rows) < sum(r.values[0] for r in everyone.rows)


def test_the_report_command_prints_the_same_table_as_csv(demo_runtime, tmp_path):
    import csv
    import io
    import os

    rt = demo_runtime
    env = {**os.environ, "DATABASE_URL": rt.db.url.render_as_string(hide_password=False),
           "METACRM_APP": str(ROOT / "apps" / "default_crm")}
    done = subprocess.run([sys.executable, "-m", "metacrm.cli", "report", "leads_by_source",
                           "--format", "csv", "--lang", "en"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["Source", "Count"]
    ctx = rt.context(rt.system_context().user, "en")
    headers, expected = reports.labelled(ctx, reports.run(ctx, rt.model.reports[
        "leads_by_source"]))
    assert rows[1:] == [[str(c) for c in row] for row in expected]
    missing = subprocess.run([sys.executable, "-m", "metacrm.cli", "report", "nope"],
                             cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 1 and "no report 'nope'" in missing.stderr
