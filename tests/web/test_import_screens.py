"""The import screens over HTTP: upload, the guessed mapping and changing it, a dry run that
writes nothing, the real import in a background thread, the rejected rows as CSV, bad
files, permissions, other users' jobs, and the polling fragment that stops when done."""

from __future__ import annotations

import csv
import html
import io
import re
import threading
import time

import pytest

from metacrm.engine import imports, query
from metacrm.web.import_screens import ImportRunner

HEADER = ["Họ", "Tên", "Email", "Nơi ở", "Giai đoạn vòng đời"]
ROWS = [
    ["Nguyễn", "Văn Đức", "duc.nguyen@hoangphat.vn", "Hà Nội", "Khách hàng"],
    ["Trần", "Thị Hoa", "hoa.tran@example.vn", "Huế", "lead"],
    ["Lê", "Minh", "minh.le@@example", "Đà Nẵng", "lead"],  # a bad email
]


def csv_bytes(rows=ROWS, header=HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def upload(site, data: bytes, filename: str = "khach-hang.csv", obj: str = "contact"):
    return site.post(f"/o/{obj}/import", {}, files={"file": (filename, data, "text/csv")})


def uploaded_job(site, data: bytes = b"") -> int:
    response = upload(site, data or csv_bytes())
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/imports/(\d+)", response.headers["location"])
    assert match
    return int(match.group(1))


def selected(page: str, name: str) -> str:
    """The value of the selected option of the select `name` ('' when none is)."""
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, name
    chosen = re.search(r'<option value="([^"]*)" selected', select.group(1))
    return chosen.group(1) if chosen else ""


def wait_for(site, job: int, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        row = imports.job_row(site.rt, job)
        if row.status in ("done", "failed"):
            return row
        assert time.monotonic() < deadline, f"import {job} is still {row.status}"
        time.sleep(0.05)


def mapping_form(page: str, **changes: str) -> dict[str, str]:
    count = len(re.findall(r'<select name="map_\d+"', page))
    form = {f"map_{i}": selected(page, f"map_{i}") for i in range(count)}
    form["key"] = selected(page, "key")
    return {**form, **changes}


def contacts(site) -> dict[str, dict]:
    page = query.list_records(site.ctx("admin"), "contact",
                              query=query.ListQuery(page_size=200))
    return {r["email"]: r for r in page.items}


def test_upload_map_dry_run_then_import_for_real(site):
    form = site.get("/o/contact/import")
    assert form.status_code == 200
    assert 'type="file" name="file"' in form.text and 'accept=".csv,.xlsx"' in form.text
    job = uploaded_job(site)
    assert imports.job_row(site.rt, job).status == "pending"  # nothing runs before the mapping

    page = site.get(f"/imports/{job}")
    assert page.status_code == 200
    assert "Nguyễn · Trần · Lê" in page.text  # three sample values of the first column
    assert selected(page.text, "map_0") == "last_name"
    assert selected(page.text, "map_2") == "email"
    assert selected(page.text, "map_3") == ""  # "Nơi ở" is no field's label
    assert "Tỉnh / thành phố" in page.text  # the field labels, in the user's language

    answer = site.post(f"/imports/{job}", mapping_form(page.text, map_3="city",
                                                       action="dry_run"))
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/imports/{job}/progress"
    dry = wait_for(site, job)
    assert (dry.status, dry.inserted, dry.rejected) == ("done", 2, 1)
    assert imports.Settings.of(dry.settings).mapping["Nơi ở"] == "city"
    assert contacts(site) == {}  # a dry run writes nothing
    progress = site.get(f"/imports/{job}/progress")
    assert "sẽ thêm 2" in progress.text and 'id="import-for-real"' in progress.text
    assert "Email: &#39;minh.le@@example&#39; is not a valid email" in progress.text

    real = site.post(f"/imports/{job}/again", {"action": "import"})
    assert real.status_code == 303
    new_job = int(re.fullmatch(r"/imports/(\d+)/progress", real.headers["location"]).group(1))
    assert new_job != job
    done = wait_for(site, new_job)
    assert (done.status, done.inserted, done.updated, done.rejected) == ("done", 2, 0, 1)
    found = contacts(site)
    assert set(found) == {"duc.nguyen@hoangphat.vn", "hoa.tran@example.vn"}
    assert found["hoa.tran@example.vn"]["city"] == "Huế"  # through the changed mapping
    assert found["duc.nguyen@hoangphat.vn"]["lifecycle_stage"] == "customer"

    status = site.get(f"/imports/{new_job}/status")
    assert "Đã thêm 2" in status.text and 'id="rejected-csv"' in status.text
    assert "hx-trigger" not in status.text  # a finished job stops the polling
    assert re.search(r"<td[^>]*>4</td>", status.text)  # the rejected row, with its reason

    download = site.get(f"/imports/{new_job}/rejected.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == ["row", "reason", *HEADER]
    assert len(rows) == 2 and rows[1][0] == "4" and rows[1][4] == "minh.le@@example"


def test_a_running_job_polls_and_the_page_shows_progress(site):
    job = uploaded_job(site)
    with site.rt.db.write() as conn:  # as a thread of this process would have it
        table = site.rt.schema.system["mc_import"]
        conn.execute(table.update().values(status="running", done=0, total=3))
    page = site.get(f"/imports/{job}/progress")
    assert "<progress" in page.text
    # no thread of this process runs it: the server stopped, so it can be resumed
    assert 'data-state="interrupted"' in page.text and "Bị gián đoạn" in page.text
    assert "hx-trigger" not in page.text
    resumed = site.post(f"/imports/{job}/resume", {})
    assert resumed.status_code == 303
    row = wait_for(site, job)
    assert (row.status, row.inserted, row.rejected) == ("done", 2, 1)
    assert len(contacts(site)) == 2
    assert site.post(f"/imports/{job}/resume", {}).status_code == 400  # done already


def test_a_pending_job_on_its_way_polls(site):
    job = uploaded_job(site)
    runner = ImportRunner()  # a thread of this process that is busy with the job
    site.client.app.state.import_runner = runner
    gate = threading.Event()
    thread = threading.Thread(target=gate.wait, daemon=True)
    runner.threads[job] = thread
    thread.start()
    try:
        fragment = site.get(f"/imports/{job}/status").text
        assert f'hx-get="/imports/{job}/status"' in fragment
        assert 'data-state="pending"' in fragment
        assert 'hx-trigger="every 500ms"' in fragment and 'hx-swap="outerHTML"' in fragment
    finally:
        gate.set()
        thread.join()


def test_a_bad_mapping_shows_the_page_again_with_the_input(site):
    job = uploaded_job(site)
    page = site.get(f"/imports/{job}").text
    answer = site.post(f"/imports/{job}", mapping_form(page, map_3="email", action="import"))
    assert answer.status_code == 422
    assert "several columns go to email" in html.unescape(answer.text)
    assert selected(answer.text, "map_3") == "email"  # what was chosen is kept
    key = site.post(f"/imports/{job}", mapping_form(page, key="phone", action="import"))
    assert key.status_code == 422 and "phone" in key.text
    assert imports.job_row(site.rt, job).status == "pending"


@pytest.mark.parametrize(("data", "filename", "message"), [
    (b"", "rong.csv", "rong.csv is empty"),
    (b"PK\x03\x04 not really a workbook", "hong.xlsx", "hong.xlsx is not a readable XLSX"),
])
def test_a_bad_file_shows_the_form_again(site, data, filename, message):
    answer = upload(site, data, filename)
    assert answer.status_code == 422
    assert message in answer.text and 'id="import-error"' in answer.text
    assert upload(site, b"", "").status_code == 422  # no file chosen


def test_permissions_and_bad_addresses(site):
    job = uploaded_job(site)
    site.user("xem", "read_only")
    site.user("lan", "sales_rep")
    assert site.login("xem").status_code == 303
    site.token = None
    assert site.get("/o/contact/import").status_code == 403
    assert upload(site, csv_bytes()).status_code == 403
    assert site.login("lan").status_code == 303
    site.token = None
    for path in (f"/imports/{job}", f"/imports/{job}/progress", f"/imports/{job}/status",
                 f"/imports/{job}/rejected.csv"):
        assert site.get(path).status_code == 404, path
    assert site.post(f"/imports/{job}", {"action": "import"}).status_code == 404
    assert site.post(f"/imports/{job}/resume", {}).status_code == 404
    assert site.get("/imports/999999").status_code == 404
    assert site.get("/imports/abc").status_code == 404
    missing = site.get("/o/no_such_object/import")
    assert missing.status_code == 404 and "Traceback" not in missing.text
    # a user who may create contacts imports their own file
    own = uploaded_job(site)
    assert site.get(f"/imports/{own}").status_code == 200


def test_every_post_checks_csrf(site):
    job = uploaded_job(site)
    files = {"file": ("a.csv", csv_bytes(), "text/csv")}
    assert site.client.post("/o/contact/import", files=files).status_code == 403
    assert site.client.post(f"/imports/{job}", data={"action": "import"}).status_code == 403
    assert site.client.post(f"/imports/{job}/resume").status_code == 403
    assert imports.job_row(site.rt, job).status == "pending"


def test_a_mapping_saved_as_a_template_maps_the_next_file(site):
    job = uploaded_job(site)
    page = site.get(f"/imports/{job}").text
    assert selected(page, "map_3") == ""  # "Nơi ở" is not guessed
    form = mapping_form(page, map_3="city", key="email")
    saved = site.post(f"/imports/{job}", {**form, "action": "save_template",
                                          "template_name": "Danh sách hội chợ"})
    assert saved.status_code == 303
    assert imports.templates(site.ctx("admin"), "contact")[0][1] == "Danh sách hội chợ"
    refused = site.post(f"/imports/{job}", {**form, "action": "save_template",
                                            "template_name": ""})
    assert refused.status_code == 422 and "needs a name" in refused.text
    reordered = csv_bytes([["Hà Nội", "an@example.vn", "Lê", "An"]],
                          header=["Nơi ở", "Email", "Họ", "Tên"])
    second = uploaded_job(site, reordered)
    template_id = imports.templates(site.ctx("admin"), "contact")[0][0]
    page = site.get(f"/imports/{second}?template={template_id}").text
    assert selected(page, "map_0") == "city" and selected(page, "map_1") == "email"
    assert selected(page, "key") == "email"
    assert site.get(f"/imports/{second}?template=999999").status_code == 404
