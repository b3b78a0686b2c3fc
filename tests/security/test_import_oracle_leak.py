"""Leak 2: imports as an oracle. An update-by-key on a record lan may not read answered
"no opportunity with id 1" (it exists, and here is its id) where a key that matched nothing
inserted a row; a key on a hidden field (`income`) answered differently for a match and a
miss; the mapping drop-down offered hidden fields. Now an import matches only records the
user may read, by fields they may edit, and both cases get one answer."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from metacrm.engine import imports, query, records
from metacrm.engine.errors import BadRequest


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def run_import(ctx, folder, object_name: str, data: bytes, *, key: str | None = None,
               dry_run: bool = False):
    obj = ctx.model.objects[object_name]
    sheet = imports.read_file(data, "file.csv")
    settings = imports.Settings(imports.guess_mapping(ctx, obj, sheet.columns), key, dry_run)
    job = imports.start(ctx, object_name, data, "file.csv", settings, folder)
    return imports.run(ctx, job)


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_key_matching_a_record_out_of_scope_answers_as_a_miss(reps, tmp_path, dry_run):
    lan = reps.site.ctx("lan")
    data = csv_bytes(["Tên cơ hội", "Giá trị"], [["Cơ hội của binh", "1"],
                                                  ["Cơ hội chưa có", "1"]])
    summary = run_import(lan, tmp_path, "opportunity", data, key="name", dry_run=dry_run)
    # both rows: a new opportunity of lan's; nothing says that binh's exists, nor its id
    assert (summary.inserted, summary.updated, summary.rejected) == (2, 0, 0), summary.rejects
    admin = reps.site.ctx("admin")
    binh = records.get(admin, "opportunity", reps.binh_opportunity["id"])
    assert binh["amount"] == 250_000_000 and binh["version"] == 1  # untouched
    mine = query.list_records(lan, "opportunity").items
    expected = 3 if not dry_run else 1
    assert len(mine) == expected


def test_a_lookup_cell_naming_a_record_out_of_scope_answers_as_a_miss(reps, tmp_path):
    lan = reps.site.ctx("lan")
    data = csv_bytes(["Tiêu đề", "Cơ hội bán hàng"], [["Báo giá 1", "Cơ hội của binh"],
                                                       ["Báo giá 2", "Cơ hội không có"]])
    summary = run_import(lan, tmp_path, "quote", data)
    reasons = [reason for _, reason in summary.rejects]
    assert summary.rejected == 2
    assert [re.sub(r"'[^']*'", "'…'", r) for r in reasons] == [
        re.sub(r"'[^']*'", "'…'", reasons[0])] * 2  # the same answer for both


def test_a_lookup_given_by_id_or_key_to_a_record_out_of_scope_is_no_record(reps):
    api = reps.api("lan")
    hidden_id = reps.binh_opportunity["id"]
    missing_id = 999_999
    answers = []
    for ref in (hidden_id, missing_id):
        answer = api.request("POST", "/api/v1/quote",
                             json={"name": "Báo giá mới", "opportunity": ref})
        assert answer.status_code == 422, answer.text
        # the whole entry, params included: a program reading them learns no more
        answers.append(json.dumps(answer.json()["error"]["fields"]["opportunity"][0],
                                  ensure_ascii=False).replace(str(ref), "N"))
    assert answers[0] == answers[1]
    # a contact found by a field hidden from lan: the same answer as an unknown field
    by_hidden = api.request("POST", "/api/v1/opportunity", json={
        "name": "Cơ hội", "contact": {"income": 1}})
    by_unknown = api.request("POST", "/api/v1/opportunity", json={
        "name": "Cơ hội", "contact": {"incomx": 1}})
    assert by_hidden.status_code == by_unknown.status_code == 422
    assert (json.dumps(by_hidden.json()["error"]["fields"]["contact"][0], ensure_ascii=False)
            .replace("income", "X")
            == json.dumps(by_unknown.json()["error"]["fields"]["contact"][0], ensure_ascii=False)
            .replace("incomx", "X"))


def test_a_key_or_mapping_on_a_hidden_field_is_refused_like_an_unknown_one(reps, tmp_path):
    lan = reps.site.ctx("lan")
    obj = lan.model.objects["contact"]
    assert "income" not in {f.name for f in imports.importable(lan, obj)}
    assert "income" in {f.name for f in imports.importable(reps.site.ctx("admin"), obj)}
    columns = ["Họ", "Thu nhập"]
    messages = []
    for target in ("income", "incomx"):
        settings = imports.Settings({"Họ": "last_name", "Thu nhập": target}, key=target)
        with pytest.raises(BadRequest) as caught:
            imports.check_settings(lan, obj, columns, settings)
        messages.append(caught.value.message.replace(target, "X"))
    assert messages[0] == messages[1]
    # the guessed mapping leaves the hidden column unmapped
    assert imports.guess_mapping(lan, obj, ["Mức thu nhập"]) == {"Mức thu nhập": None}


def test_the_mapping_page_does_not_offer_hidden_fields(reps):
    site = reps.site
    upload = site.post("/o/contact/import", {}, files={
        "file": ("kh.csv", csv_bytes(["Họ", "Mức thu nhập"], [["Lê", "100"]]), "text/csv")})
    assert upload.status_code == 303, upload.text
    page = site.get(upload.headers["location"])
    assert page.status_code == 200
    assert 'value="last_name"' in page.text
    assert 'value="income"' not in page.text
    assert "Mức thu nhập" in page.text  # the file's column is still shown, unmapped
