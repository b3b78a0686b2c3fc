"""The generated screens over the real app: sign-in, CSRF, lists, forms, detail, delete,
notes and files, permissions on every screen, escaping, and bounded query counts."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from metacrm.engine import records
from metacrm.engine.errors import BadRequest

PASSWORD = "mat-khau-2026"  # the password conftest.Site gives its users


def test_pages_need_a_signed_in_user(make_client):
    client = make_client()
    response = client.get("/o/contact?city=Hu%E1%BA%BF", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/o/contact?city=Hu%E1%BA%BF"
    assert client.get("/login").status_code == 200


def test_sign_in_wrong_password_lock_out_and_sign_out(make_site):
    now = [datetime(2026, 11, 30, 9, 0, tzinfo=UTC)]
    site = make_site(clock=lambda: now[0])  # time moves by hand: nobody sleeps
    site.user("lan", "sales_rep")
    wrong = site.login("lan", "sai-mat-khau")
    assert wrong.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in wrong.text
    for _ in range(4):
        site.login("lan", "sai-mat-khau")
    locked = site.login("lan", PASSWORD)
    assert locked.status_code == 401 and "thử lại sau 15 phút" in locked.text
    now[0] += timedelta(minutes=15, seconds=1)
    assert site.login("lan", PASSWORD).status_code == 303
    assert site.get("/").status_code == 200
    assert site.post("/logout", {}).status_code == 303
    assert site.get("/", follow_redirects=False).status_code == 303


def test_open_redirect_after_sign_in_is_refused(make_site):
    site = make_site()
    site.user("admin")
    token = site.csrf()
    response = site.client.post("/login", data={
        "username": "admin", "password": PASSWORD, "csrf_token": token,
        "next": "//evil.example/phish"}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_a_post_without_the_csrf_token_is_refused(site):
    for path in ("/o/contact/new", "/logout", "/language"):
        response = site.client.post(path, data={"last_name": "X"}, follow_redirects=False)
        assert response.status_code == 403, path
    forged = site.client.post("/o/contact/new", data={"last_name": "X", "csrf_token": "nope"})
    assert forged.status_code == 403
    with site.rt.db.read() as conn:  # nothing was saved
        assert conn.execute(sa.text("select count(*) from contact")).scalar() == 0


def test_create_with_an_error_keeps_what_was_typed_then_saves(site):
    bad = site.post("/o/contact/new", {"first_name": "Văn Đức", "last_name": "",
                                       "email": "duc@example", "income": "15.000.000"})
    assert bad.status_code == 422
    assert "Họ là bắt buộc" in bad.text
    assert "không phải địa chỉ email hợp lệ" in bad.text
    assert 'value="Văn Đức"' in bad.text and 'value="15.000.000"' in bad.text
    good = site.post("/o/contact/new", {"first_name": "Văn Đức", "last_name": "Nguyễn",
                                        "email": "duc@example.vn", "income": "15.000.000",
                                        "birthdate": "1990-05-17",
                                        "interests__present": "1", "interests": ["travel"]})
    assert good.status_code == 303
    detail = site.get(good.headers["location"]).text
    assert "15.000.000\xa0₫" in detail and "17/05/1990" in detail and "Du lịch" in detail
    record = records.get(site.ctx("admin"), "contact", int(good.headers["location"].split("/")[-1]))
    assert record["income"] == 15_000_000 and record["interests"] == ["travel"]


def test_list_search_without_accents_sort_filter_and_htmx_fragment(site):
    ctx = site.ctx("admin")
    for first, last, city in [("Văn Đức", "Nguyễn", "Huế"), ("Thị Hoa", "Trần", "Hà Nội"),
                              ("Minh", "Lê", "Huế")]:
        records.create(ctx, "contact", {"first_name": first, "last_name": last, "city": city,
                                        "email": f"{last}@example.vn".lower()})
    page = site.get("/o/contact", params={"search": "nguyen van duc"}).text
    assert "Nguyễn" in page and "Trần" not in page
    huế = site.get("/o/contact", params={"city": "Huế", "sort": "-last_name"}).text
    assert huế.index("Nguyễn") < huế.index("Lê") and "Trần" not in huế
    fragment = site.get("/o/contact", params={"sort": "last_name"},
                        headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and "<table" in fragment
    bad = site.get("/o/contact", params={"sort": "nonsense"})
    assert bad.status_code == 400 and "<html" in bad.text


def test_edit_with_a_stale_version_shows_a_conflict_and_keeps_input(site):
    ctx = site.ctx("admin")
    contact = records.create(ctx, "contact", {"last_name": "Phạm", "email": "p@example.vn"})
    records.update(ctx, "contact", contact["id"], {"city": "Vinh"})
    response = site.post(f"/o/contact/{contact['id']}/edit",
                         {"last_name": "Phạm", "email": "p@example.vn", "city": "Huế",
                          "version": "1"})
    assert response.status_code == 409
    assert "Người khác đã thay đổi bản ghi này" in response.text
    assert 'value="Huế"' in response.text
    assert records.get(ctx, "contact", contact["id"])["city"] == "Vinh"


def test_a_tampered_row_version_is_refused_not_ignored(site):
    """A form's version that is no number once meant "no version check": a change could
    then overwrite another unseen. Now it is refused, in the user's language, and nothing
    is saved or deleted."""
    ctx = site.ctx("admin")
    contact = records.create(ctx, "contact", {"last_name": "Phạm", "email": "p@example.vn"})
    for path, form in ((f"/o/contact/{contact['id']}/edit",
                        {"last_name": "Phạm", "email": "p@example.vn", "city": "Huế",
                         "version": "1; drop"}),
                       (f"/o/contact/{contact['id']}/delete", {"version": "-1"})):
        response = site.post(path, form)
        assert response.status_code == 400, path
        assert "Phiên bản của bản ghi phải là một số nguyên." in response.text
    assert records.get(ctx, "contact", contact["id"])["city"] is None
    assert records.row_version(" 7 ") == 7 and records.row_version(3.0) == 3
    assert records.row_version(Decimal("57.0")) == 57  # a JSON body's 57.0
    assert records.row_version("") is None and records.row_version(None) is None
    for junk in ("x", "٣", True, 1.5, "-1", 2**63, Decimal("NaN"), float("inf")):
        with pytest.raises(BadRequest):
            records.row_version(junk)


def test_a_saved_view_without_a_name_is_refused_in_the_users_language(site):
    answer = site.post("/o/contact/views", {"name": "  ", "params": "city=Huế"})
    assert answer.status_code == 400
    assert "Bộ lọc đã lưu cần có tên." in answer.text


def test_delete_asks_first(site):
    ctx = site.ctx("admin")
    account = records.create(ctx, "account", {"name": "Công ty Bình Minh"})
    ask = site.get(f"/o/account/{account['id']}/delete")
    assert ask.status_code == 200 and "Xóa Công ty Bình Minh?" in ask.text
    assert records.get(ctx, "account", account["id"])
    done = site.post(f"/o/account/{account['id']}/delete", {"version": "1"})
    assert done.status_code == 303
    assert site.get(f"/o/account/{account['id']}").status_code == 404


def test_notes_and_files_on_the_timeline(site):
    ctx = site.ctx("admin")
    contact = records.create(ctx, "contact", {"last_name": "Võ", "email": "vo@example.vn"})
    path = f"/o/contact/{contact['id']}"
    assert site.post(f"{path}/notes", {"body": "Gọi lại vào thứ Hai"}).status_code == 303
    pdf = b"%PDF-1.4\n% test\n"
    uploaded = site.post(f"{path}/files", {}, files={"file": ("báo giá.pdf", pdf,
                                                              "application/pdf")})
    assert uploaded.status_code == 303
    page = site.get(path).text
    assert "Gọi lại vào thứ Hai" in page and "báo giá.pdf" in page
    file_id = re.search(r'href="/files/(\d+)"', page).group(1)
    download = site.get(f"/files/{file_id}")
    assert download.content == pdf and download.headers["content-type"] == "application/pdf"
    fake = site.post(f"{path}/files", {}, files={"file": ("virus.pdf", b"MZ\x90\x00\x03",
                                                           "application/pdf")})
    assert fake.status_code == 303
    assert "Không chấp nhận loại tệp này" in site.get(path).text


def test_script_typed_into_a_field_is_shown_escaped(site):
    ctx = site.ctx("admin")
    evil = "<script>alert('x')</script>"
    contact = records.create(ctx, "contact", {"last_name": evil, "first_name": evil,
                                              "email": "xss@example.vn", "city": evil})
    records.update(ctx, "contact", contact["id"], {"city": evil + "2"})
    site.post(f"/o/contact/{contact['id']}/notes", {"body": evil})
    for path in ("/o/contact", f"/o/contact/{contact['id']}",
                 f"/o/contact/{contact['id']}/edit", "/", f"/o/contact/{contact['id']}/delete"):
        html = site.get(path).text
        assert "<script>alert" not in html, path
        assert "&lt;script&gt;" in html, path
    csv_text = site.get("/o/contact/export.csv").content.decode("utf-8-sig")
    assert evil in csv_text  # CSV is data, not HTML


def test_formula_looking_cells_are_defused_in_csv(site):
    ctx = site.ctx("admin")
    records.create(ctx, "contact", {"last_name": "=HYPERLINK(\"http://x\")",
                                    "email": "f@example.vn"})
    rows = list(csv.reader(io.StringIO(site.get("/o/contact/export.csv").content.decode(
        "utf-8-sig"))))
    assert rows[1][0].startswith("'=")


@pytest.fixture
def reps(site):
    site.user("lan", "sales_rep")
    site.user("minh", "sales_rep")
    lan, minh = site.ctx("lan"), site.ctx("minh")
    mine = records.create(lan, "opportunity", {"name": "Cơ hội của Lan", "amount": 100})
    theirs = records.create(minh, "opportunity", {"name": "Cơ hội của Minh", "amount": 200})
    records.create(site.ctx("admin"), "contact", {"last_name": "Đinh", "email": "d@x.vn",
                                                  "income": 99_000_000})
    site.post("/logout", {})
    assert site.login("lan").status_code == 303
    return mine, theirs


def test_a_rep_never_sees_another_reps_opportunity(site, reps):
    mine, theirs = reps
    listing = site.get("/o/opportunity").text
    assert "Cơ hội của Lan" in listing and "Cơ hội của Minh" not in listing
    assert "Cơ hội của Minh" not in site.get("/o/opportunity?search=minh").text
    assert site.get(f"/o/opportunity/{theirs['id']}").status_code == 404
    assert site.get(f"/o/opportunity/{theirs['id']}/edit").status_code == 404
    assert "Cơ hội của Minh" not in site.get("/o/opportunity/export.csv").text
    assert "Cơ hội của Minh" not in site.get("/o/opportunity/kanban").text
    assert "Cơ hội của Minh" not in site.get("/o/opportunity/lookup?q=minh").text
    assert site.post(f"/o/opportunity/{theirs['id']}/delete", {}).status_code == 404


def test_a_hidden_field_never_appears_in_html_or_csv(site, reps):
    for path in ("/o/contact", "/o/contact/export.csv", "/o/contact/1", "/o/contact/1/edit",
                 "/o/contact/new"):
        body = site.get(path).text
        assert "99.000.000" not in body and "99000000" not in body, path
        assert "Mức thu nhập" not in body and "Income" not in body, path
    assert site.get("/o/contact", params={"income__gt": "1"}).status_code == 400


def test_a_filter_carrying_sql_gets_a_clean_400(site):
    for params in ({"city": "x' OR '1'='1"}, {"sort": "last_name; DROP TABLE contact"},
                   {"age__gt": "1 OR 1=1"}, {"filter": "1=1; --"}):
        response = site.get("/o/contact", params=params)
        assert response.status_code in (200, 400), params
        assert "Traceback" not in response.text
    assert site.get("/o/contact", params={"sort": "last_name; DROP TABLE contact"}
                    ).status_code == 400
    with site.rt.db.read() as conn:
        assert conn.execute(sa.text("select count(*) from contact")).scalar() == 0


def test_bulk_update_and_delete_with_confirmation(site):
    ctx = site.ctx("admin")
    ids = [records.create(ctx, "lead", {"last_name": f"Lead {i}", "email": f"l{i}@x.vn"})["id"]
           for i in range(3)]
    done = site.post("/o/lead/bulk", {"ids": [str(i) for i in ids[:2]], "action": "update",
                                      "field": "status", "value": "Đã kết nối"})
    assert done.status_code == 303
    assert [records.get(ctx, "lead", i)["status"] for i in ids] == ["connected", "connected",
                                                                    "new"]
    ask = site.post("/o/lead/bulk", {"ids": [str(ids[0])], "action": "delete"})
    assert ask.status_code == 200 and "confirm-delete" in ask.text
    assert records.get(ctx, "lead", ids[0])
    site.post("/o/lead/bulk", {"ids": [str(ids[0])], "action": "delete", "confirmed": "1"})
    with pytest.raises(Exception, match="no lead"):
        records.get(ctx, "lead", ids[0])


def test_kanban_move_saves_the_stage(site):
    ctx = site.ctx("admin")
    deal = records.create(ctx, "opportunity", {"name": "Máy in", "stage": "proposal"})
    moved = site.post(f"/o/opportunity/{deal['id']}/move", {"value": "won", "version": "1"},
                      headers={"HX-Request": "true"})
    assert moved.status_code == 200 and "Máy in" in moved.text
    assert records.get(ctx, "opportunity", deal["id"])["stage"] == "won"
    board = site.get("/o/opportunity/kanban").text
    assert board.index("Máy in") > board.index("data-value=\"won\"")


def test_language_switch(site):
    assert "Đăng xuất" in site.get("/").text
    site.post("/language", {"lang": "en", "next": "/o/contact"})
    page = site.get("/o/contact").text
    assert "Sign out" in page and "Contacts" in page
    site.post("/language", {"lang": "vi", "next": "/"})
    assert "Đăng xuất" in site.get("/").text


def _count_queries(rt, fn) -> int:
    """Statements one request runs, from cold caches (so that two runs compare)."""
    rt.recent.clear()
    rt.counts.written()
    counter = {"n": 0}

    def count(*_args) -> None:
        counter["n"] += 1

    sa.event.listen(rt.db.engine, "before_cursor_execute", count)
    try:
        response = fn()
        assert response.status_code == 200
    finally:
        sa.event.remove(rt.db.engine, "before_cursor_execute", count)
    return counter["n"]


def test_list_and_detail_pages_issue_a_bounded_number_of_queries(site):
    site.rt.check_interval = 1e9  # the metadata version check (one query per 0.5 s) aside
    ctx = site.ctx("admin")
    accounts = [records.create(ctx, "account", {"name": f"Công ty {i}"})["id"] for i in range(3)]
    contact = records.create(ctx, "contact", {"last_name": "Hub", "email": "hub@x.vn",
                                              "account": accounts[0]})

    def grow(n: int) -> None:
        for i in range(n):
            records.create(ctx, "contact", {"last_name": f"C{i}", "email": f"c{i}-{n}@x.vn",
                                            "account": accounts[i % 3]})
            records.create(ctx, "task", {"subject": f"T{i}", "related_contact": contact["id"]})
            records.create(ctx, "opportunity", {"name": f"O{i}", "contact": contact["id"]})

    # more related records than a related list shows (10), so that its total is counted
    grow(12)
    small_list = _count_queries(site.rt, lambda: site.get("/o/contact"))
    small_detail = _count_queries(site.rt, lambda: site.get(f"/o/contact/{contact['id']}"))
    grow(30)
    assert _count_queries(site.rt, lambda: site.get("/o/contact")) == small_list
    assert _count_queries(site.rt, lambda: site.get(f"/o/contact/{contact['id']}")) == \
        small_detail


def test_a_file_field_takes_an_upload_and_refuses_a_bad_one(make_site):
    from pathlib import Path

    alltypes = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "alltypes"
    site = make_site(alltypes)
    site.user("admin")
    site.login("admin")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    created = site.post("/o/thing/new", {"name": "Sổ tay"},
                        files={"manual": ("so-tay.png", png, "image/png")})
    assert created.status_code == 303, created.text
    thing_id = int(created.headers["location"].split("/")[-1])
    stored = records.get(site.ctx("admin"), "thing", thing_id)["manual"]
    assert stored.startswith("file:")
    detail = site.get(created.headers["location"]).text
    assert f'href="/files/{stored[5:]}">so-tay.png</a>' in detail
    assert site.get(f"/files/{stored[5:]}").content == png
    refused = site.post("/o/thing/new", {"name": "Virus"},
                        files={"manual": ("tool.exe", b"MZ\x90\x00" * 10, "image/png")})
    assert refused.status_code == 422 and "This kind of file is not accepted" in refused.text
    with site.rt.db.read() as conn:
        assert conn.execute(sa.text("select count(*) from thing")).scalar() == 1


def test_home_shows_my_open_tasks_and_what_changed_that_i_may_read(site, reps):
    admin = site.ctx("admin")
    lan = site.ctx("lan")
    records.create(lan, "task", {"subject": "Gọi khách hàng Đinh", "due_date": "2026-12-01"})
    records.create(admin, "task", {"subject": "Việc của admin"})
    home = site.get("/").text
    assert "Gọi khách hàng Đinh" in home and "Việc của admin" not in home
    assert "Cơ hội của Lan" in home  # changed recently, and hers
    assert "Cơ hội của Minh" not in home  # changed recently, but not hers to read


def test_notifications_count_in_the_header_and_automation_on_the_timeline(site):
    ctx = site.ctx("admin")
    lead = records.create(ctx, "lead", {"last_name": "Vũ", "email": "vu@x.vn"})
    site.post(f"/o/lead/{lead['id']}/edit", {"last_name": "Vũ", "email": "vu@x.vn",
                                             "status": "connected", "version": "1"})
    detail = site.get(f"/o/lead/{lead['id']}").text
    assert "Tự động hóa: hot_lead_follow_up" in detail
    table = site.rt.schema.system["mc_notification"]
    with site.rt.db.write() as conn:
        conn.execute(table.insert().values(user_id=ctx.user.id, message="Vụ việc VV-1 quá hạn",
                                           link="/o/lead/1", created_at=ctx.now()))
    site.rt.recent.clear()
    assert '<span class="badge">1</span>' in site.get("/").text
    assert "Vụ việc VV-1 quá hạn" in site.get("/notifications").text
    site.post("/notifications", {})
    assert '<span class="badge">' not in site.get("/").text


def _xlsx_rows(response) -> list[list]:
    from openpyxl import load_workbook

    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    return [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]


def test_excel_export_keeps_numbers_and_dates_typed_and_follows_the_view(site):
    from datetime import date as day

    ctx = site.ctx("admin")
    records.create(ctx, "opportunity", {"name": "Máy chủ", "amount": 320_000_000,
                                        "stage": "proposal", "close_date": "2026-12-15"})
    records.create(ctx, "opportunity", {"name": "Bảo trì", "amount": 15_000_000,
                                        "stage": "won"})
    rows = _xlsx_rows(site.get("/o/opportunity/export.xlsx", params={"stage": "proposal"}))
    header, *data = rows
    assert len(data) == 1
    record = dict(zip(header, data[0], strict=True))
    assert record["Tên cơ hội"] == "Máy chủ"
    assert record["Giá trị"] == 320_000_000
    assert record["Ngày dự kiến chốt"].date() == day(2026, 12, 15)


def test_excel_export_obeys_scopes_and_hidden_fields(site, reps):
    rows = _xlsx_rows(site.get("/o/opportunity/export.xlsx"))
    names = [r[0] for r in rows[1:]]
    assert "Cơ hội của Lan" in names and "Cơ hội của Minh" not in names
    contact_rows = _xlsx_rows(site.get("/o/contact/export.xlsx"))
    assert "Mức thu nhập" not in contact_rows[0]
    assert all(99_000_000 not in row for row in contact_rows)


def test_a_list_whose_columns_are_all_hidden_still_has_a_row_per_record(site):
    from metacrm.web.display import References
    from metacrm.web.i18n import Formats
    from metacrm.web.screens import table_rows

    ctx = site.ctx("admin")
    ids = [records.create(ctx, "contact", {"last_name": f"Ẩn {i}", "email": f"an{i}@x.vn"})["id"]
           for i in range(3)]
    items = [{"id": i} for i in ids]
    fmt = Formats("vi", ctx.model.currency, ctx.tz)
    headers, rows = table_rows(ctx, ctx.model.objects["contact"], [], items, References(ctx),
                               fmt, select=True)
    assert headers == [] and len(rows) == 3
    assert all(f'value="{i}"' in row for i, row in zip(ids, rows, strict=True))


def test_a_new_form_shows_the_computed_defaults_and_the_prefill(site):
    """`default: "=today()"` is on the form before anything is typed (it was only filled in
    on save), and a prefill from the URL is typed as its field (a lookup by id)."""
    account = records.create(site.ctx("admin"), "account", {"name": "Hoàng Phát"})
    rt = site.client.app.state.runtime
    page = site.get(f"/o/order/new?account={account['id']}&nonsense=1").text
    today = rt.context(site.ctx("admin").user).today().isoformat()
    assert re.search(rf'name="order_date" type="date" value="{today}"', page)
    assert f'name="account__id" value="{account["id"]}"' in page
    assert 'value="Hoàng Phát"' in page
    bad = site.get("/o/order/new?order_date=not-a-date").text  # a wrong prefill is left out
    assert re.search(rf'name="order_date" type="date" value="{today}"', bad)
