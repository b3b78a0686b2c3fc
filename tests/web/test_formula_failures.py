"""A formula that cannot be computed for a record (here a product past the whole numbers a
record stores) does not stop the save: the record is saved with the formula blank, the
failure is logged with the object, the field and the reason, and the record's page says why
beside the field, in the user's language. A formula blank because what it reads is blank
(or a division by zero, blank as in a spreadsheet) is no failure."""

from __future__ import annotations

import logging

from metacrm.engine import records

APP = {
    "app.yaml": """
        app: ratios
        label: {en: Ratios, vi: Tỉ lệ}
        navigation: [batch]
    """,
    "objects/batch.yaml": """
        object: batch
        label: {en: Batch, vi: Lô hàng}
        title: "{name}"
        fields:
          name: {type: text, required: true}
          good: {type: integer}
          total: {type: integer}
          score:
            type: formula
            label: {en: Score, vi: Điểm}
            returns: integer
            expression: "good * total"
    """,
    "layouts/batch.yaml": """
        layout: batch
        form:
          sections:
            - label: {en: Main, vi: Chính}
              fields: [name, good, total, score]
        list:
          columns: [name, score]
    """,
}


def test_a_failing_formula_is_logged_and_shown(make_app_dir, make_site, caplog):
    site = make_site(make_app_dir(APP))
    site.user("mai")
    site.login("mai")
    ctx = site.ctx("mai")
    with caplog.at_level(logging.WARNING, logger="metacrm"):
        broken = records.create(ctx, "batch", {"name": "Lô 7", "good": 10**9, "total": 10**9})
    assert broken["score"] is None  # saved, blank
    logged = [r.getMessage() for r in caplog.records if r.name == "metacrm"]
    assert any("batch.score could not be computed for a new record" in m
               and "beyond the largest number" in m for m in logged), logged
    page = site.get(f"/o/batch/{broken['id']}")
    assert page.status_code == 200
    assert 'class="formula-failed"' in page.text
    assert "Could not be computed: the result is past the largest number" in page.text
    site.post("/language", {"lang": "vi", "next": "/"})
    assert ("Không tính được: kết quả vượt quá số lớn nhất mà bản ghi lưu được."
            in site.get(f"/o/batch/{broken['id']}").text)
    # blank inputs make a blank value, not a failure; a good record shows its value
    empty = records.create(ctx, "batch", {"name": "Lô 8"})
    good = records.create(ctx, "batch", {"name": "Lô 9", "good": 9, "total": 10})
    assert good["score"] == 90
    for record in (empty, good):
        shown = site.get(f"/o/batch/{record['id']}")
        assert shown.status_code == 200 and "formula-failed" not in shown.text
    # another save that fails names the record; one that fixes it clears the page
    with caplog.at_level(logging.WARNING, logger="metacrm"):
        records.update(ctx, "batch", broken["id"], {"name": "Lô 7b"})
    assert any(f"for #{broken['id']}" in r.getMessage() for r in caplog.records)
    records.update(ctx, "batch", broken["id"], {"total": 10})
    assert "formula-failed" not in site.get(f"/o/batch/{broken['id']}").text
