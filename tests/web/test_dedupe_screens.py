"""Duplicates in the web screens: the form warns with links and saves when confirmed, a
block rule is an inline error, the finder page lists groups, the merge screen merges."""

from __future__ import annotations

import re

from metacrm.engine import records


def test_the_form_warns_about_a_possible_duplicate_then_saves_when_confirmed(site):
    ctx = site.ctx("admin")
    first = records.create(ctx, "contact", {"last_name": "Nguyễn", "first_name": "An",
                                            "phone": "0903 123 456"})
    data = {"last_name": "Trần", "first_name": "Bình", "phone": "+84903123456"}
    warned = site.post("/o/contact/new", data)
    assert warned.status_code == 409
    assert 'id="possible-duplicates"' in warned.text
    assert f'href="/o/contact/{first["id"]}"' in warned.text
    assert 'value="Trần"' in warned.text  # what was typed is kept
    saved = site.post("/o/contact/new", {**data, "allow_duplicates": "1"})
    assert saved.status_code == 303
    assert len(site.get("/o/contact").text.split("<tr")) > 2


def test_a_block_rule_is_an_error_on_the_form(site):
    ctx = site.ctx("admin")
    records.create(ctx, "contact", {"last_name": "Lê", "email": "le@example.vn"})
    refused = site.post("/o/contact/new", {"last_name": "Lê", "email": "LE@example.vn",
                                           "allow_duplicates": "1"})
    assert refused.status_code == 422 and "le@example.vn" in refused.text


def test_find_duplicates_then_merge_on_screen(site):
    ctx = site.ctx("admin")
    keep = records.create(ctx, "contact", {"last_name": "Phạm", "first_name": "Huy",
                                           "city": "Huế", "email": "huy@example.vn"})
    other = records.create(ctx, "contact", {"last_name": "Pham", "first_name": "Huy",
                                            "city": "Huế", "phone": "0912 345 678"})
    records.create(ctx, "contact", {"last_name": "Lý", "first_name": "Huy", "city": "Huế",
                                    "email": "ly@example.vn"})
    task = records.create(ctx, "task", {"subject": "Gọi lại", "related_contact": other["id"]})
    page = site.get("/o/contact/duplicates")
    assert page.status_code == 200
    groups = re.findall(r"<tr><td>(.*?)</td>", page.text)
    assert len(groups) == 1 and "Phạm Huy" in groups[0] and "Pham Huy" in groups[0]
    merge_url = f"/o/contact/merge?keep={keep['id']}&merge={other['id']}"
    form = site.get(merge_url)
    assert form.status_code == 200 and 'id="merge-related"' in form.text
    assert 'id="pick-other-phone" checked' in form.text  # the blank side takes the value
    done = site.post(merge_url, {"pick_phone": "other", "pick_last_name": "keep"})
    assert done.status_code == 303 and done.headers["location"] == f"/o/contact/{keep['id']}"
    survivor = records.get(ctx, "contact", keep["id"])
    assert survivor["phone"] == "+84912345678" and survivor["last_name"] == "Phạm"
    assert records.get(ctx, "task", task["id"])["related_contact"] == keep["id"]
    assert site.get(f"/o/contact/{other['id']}").status_code == 404
    detail = site.get(f"/o/contact/{keep['id']}").text
    assert "Pham Huy" in detail  # the timeline says what was merged in
    assert "No duplicates" in site.get("/o/contact/duplicates").text or \
        "Không tìm thấy" in site.get("/o/contact/duplicates").text


def test_merge_urls_with_bad_ids_are_clean_errors(site):
    assert site.get("/o/contact/merge?keep=x&merge=2").status_code == 400
    assert site.get("/o/contact/merge?keep=1&merge=2").status_code == 404
    assert site.get("/o/nothing/duplicates").status_code == 404
