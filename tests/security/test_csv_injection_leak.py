"""Finding 13: the report CSV wrote `@SUM(1+1)` as it was, a formula to Excel. Every CSV
the product writes (list exports, report tables, rejected import rows, the command line's
report) and the text cells of its XLSX files now go through one writer that guards them;
an import takes the guard off again, so an export imported back keeps its values."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

from openpyxl import load_workbook

from metacrm.engine import imports, records, sheets

EVIL = ["@SUM(1+1)", "=HYPERLINK(\"http://x\")", "+1+2", "-2+3"]


def cells(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_guard():
    assert [sheets.guard(v) for v in EVIL] == ["'" + v for v in EVIL]
    assert [sheets.guard(v) for v in ("-5", "+84903123456", "Hà Nội", 3, None)] == [
        "-5", "+84903123456", "Hà Nội", 3, None]
    odd = ["'quoted'", "'=already", "''=twice", "'-"]
    assert [sheets.unguard(sheets.guard(v)) for v in [*EVIL, *odd]] == [*EVIL, *odd]


def test_report_csv_and_xlsx_are_guarded(site):
    admin = site.ctx("admin")
    for name in EVIL:
        records.create(admin, "campaign", {"name": name})
    table = cells(site.get("/reports/campaign_roi.csv"))
    names = {row[0] for row in table[1:]}
    assert names == {"'" + v for v in EVIL}
    # in Excel files text is typed as text: never a formula, and nothing added to it
    book = load_workbook(io.BytesIO(site.get("/reports/campaign_roi.xlsx").content))
    first = [row[0] for row in book.worksheets[0].iter_rows(min_row=2)]
    assert {c.value for c in first} == set(EVIL)
    assert {c.data_type for c in first} == {"s"}


def test_list_exports_guard_every_text_cell(site):
    admin = site.ctx("admin")
    account = records.create(admin, "account", {"name": "=cmd|' /C calc'!A0"})
    records.create(admin, "contact", {"last_name": "@SUM(1+1)", "email": "a@vidu.vn",
                                      "account": account["id"]})
    text = site.get("/o/contact/export.csv").content.decode("utf-8-sig")
    assert "'@SUM(1+1)" in text
    assert "\n@" not in text and ",@" not in text and ",=" not in text
    book = load_workbook(io.BytesIO(site.get("/o/contact/export.xlsx").content))
    cells = [c for row in book.worksheets[0].iter_rows(min_row=2) for c in row]
    assert {c.value for c in cells if c.data_type == "f"} == set()
    assert "@SUM(1+1)" in {c.value for c in cells}


def test_rejected_rows_are_guarded_and_an_export_imports_back(site, tmp_path):
    admin = site.ctx("admin")
    data = "Họ,Email\r\n'@SUM(1+1),not-an-email\r\n'=1+1,ok@vidu.vn\r\n".encode()
    obj = admin.model.objects["contact"]
    sheet = imports.read_file(data, "kh.csv")
    assert [row[0] for row in sheet.rows] == ["@SUM(1+1)", "=1+1"]  # the guard taken off
    job = imports.start(admin, "contact", data, "kh.csv", imports.Settings(
        imports.guess_mapping(admin, obj, sheet.columns)), tmp_path)
    summary = imports.run(admin, job)
    assert (summary.inserted, summary.rejected) == (1, 1)
    rejected = list(csv.reader(io.StringIO(imports.rejected_csv(site.rt, job))))
    assert rejected[1][2] == "'@SUM(1+1)"
    assert records.get(admin, "contact", 1)["last_name"] == "=1+1"


def test_the_command_line_report_is_guarded(database_url):
    from metacrm.engine import sync
    from metacrm.engine.boot import open_runtime

    from ..conftest import DEFAULT_APP

    url = database_url
    rt = open_runtime(DEFAULT_APP, url)
    sync.migrate(rt.db, rt.model)
    records.create(rt.system_context(), "campaign", {"name": "@SUM(1+1)"})
    rt.db.dispose()
    out = subprocess.run([sys.executable, "-m", "metacrm.cli", "report", "campaign_roi",
                          "--format", "csv"], capture_output=True, text=True, check=True,
                         env={"DATABASE_URL": url, "METACRM_APP": str(DEFAULT_APP),
                              "PATH": "/usr/bin:/bin"})
    assert "'@SUM(1+1)" in out.stdout
