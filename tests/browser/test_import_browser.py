"""Importing contacts in a real browser, as a new sales rep would: upload a CSV with a bad
row, fix the mapping, dry run, import, watch the bar finish, download the rejected rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from playwright.sync_api import expect

from metacrm.engine import query

HEADER = ["Họ", "Tên", "Email", "Nơi ở"]
ROWS = [
    ["Nguyễn", "Văn Đức", "duc.nguyen@hoangphat.vn", "Hà Nội"],
    ["Trần", "Thị Hoa", "hoa.tran@example.vn", "Huế"],
    ["Lê", "Minh", "minh.le@@example", "Đà Nẵng"],  # a bad email
]


def test_import_contacts_from_a_csv(live, page, shot, sign_in, tmp_path):
    live.user("mai", "sales_rep")
    sign_in(page, live.url, "mai")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(ROWS)
    path = tmp_path / "khach-hang.csv"
    path.write_text(out.getvalue(), encoding="utf-8-sig")  # as Excel saves "CSV UTF-8"

    page.goto(live.url + "/o/contact/import")
    expect(page.locator("h1")).to_contain_text("Nhập")
    page.set_input_files("#file", str(path))
    page.click("#upload")

    # the mapping: guessed from the Vietnamese headers, but "Nơi ở" is no field's label
    expect(page.locator("#map_0")).to_have_value("last_name")
    expect(page.locator("#map_2")).to_have_value("email")
    expect(page.locator("#map_3")).to_have_value("")
    expect(page.locator("#columns")).to_contain_text("Hà Nội · Huế · Đà Nẵng")
    page.select_option("#map_3", label="Tỉnh / thành phố")
    page.click("#dry-run")

    summary = page.locator("#import-summary")
    expect(summary).to_contain_text("Chạy thử: sẽ thêm 2", timeout=20000)
    expect(summary).to_contain_text("từ chối 1")
    expect(page.locator("#rejects")).to_contain_text("minh.le@@example")
    ctx = live.ctx("mai")
    assert query.list_records(ctx, "contact").items == []  # the dry run saved nothing

    page.click("#import-for-real")
    expect(summary).to_contain_text("Đã thêm 2", timeout=20000)
    bar = page.locator("#import-progress")
    expect(bar).to_have_attribute("value", "3")
    expect(bar).to_have_attribute("max", "3")
    expect(page.locator("#import-status")).not_to_have_attribute("hx-trigger", "every 500ms")
    found = {r["email"]: r for r in query.list_records(ctx, "contact").items}
    assert set(found) == {"duc.nguyen@hoangphat.vn", "hoa.tran@example.vn"}
    assert found["hoa.tran@example.vn"]["city"] == "Huế"

    with page.expect_download() as waiting:
        page.click("#rejected-csv")
    download = waiting.value
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["row", "reason", *HEADER]
    assert rows[1][0] == "4" and rows[1][4] == "minh.le@@example"
    assert "Email" in rows[1][1]
    shot(page, "import-done")

    page.click("#to-list")
    expect(page.locator("table.records tbody tr")).to_have_count(2)
