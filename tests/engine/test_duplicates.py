"""Duplicate rules of the default CRM's contact (email: block, phone: warn, last name fuzzy
with first name and city: warn) on save and import, the finder over 200,000 contacts, and
merging two contacts."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from metacrm.engine import attachments, duplicates, records, sync
from metacrm.engine.errors import PossibleDuplicates, ValidationFailed


def test_a_warn_rule_asks_before_saving_and_lets_the_save_through_when_not_asking(ctx):
    first = records.create(ctx, "contact", {"last_name": "Nguyễn", "first_name": "Văn An",
                                            "phone": "0903 123 456", "city": "Huế"})
    with pytest.raises(PossibleDuplicates) as found:
        records.create(ctx, "contact", {"last_name": "Trần", "first_name": "Bình",
                                        "phone": "+84 903 123 456"}, ask_duplicates=True)
    assert [m.id for m in found.value.matches] == [first["id"]]
    assert found.value.to_json()["error"]["duplicates"][0]["title"] == "Nguyễn Văn An"
    second = records.create(ctx, "contact", {"last_name": "Trần", "first_name": "Bình",
                                             "phone": "+84 903 123 456"})
    assert second["id"] != first["id"]
    with pytest.raises(PossibleDuplicates):  # the same name, spelled without accents
        records.create(ctx, "contact", {"last_name": "Nguyen", "first_name": "Văn An",
                                        "city": "Huế", "email": "an2@example.vn"},
                       ask_duplicates=True)
    other = records.create(ctx, "contact", {"last_name": "Lê", "first_name": "Văn An",
                                            "city": "Huế", "email": "an3@example.vn"},
                           ask_duplicates=True)  # a different surname is someone else
    with pytest.raises(PossibleDuplicates):
        records.update(ctx, "contact", other["id"], {"phone": "0903123456"},
                       ask_duplicates=True)


def test_a_block_rule_refuses_the_save_and_names_the_record(ctx):
    records.create(ctx, "lead", {"last_name": "Phạm", "email": "huy@example.vn"})
    rule_app = ctx.model.objects["contact"]
    assert any(r.action == "block" for r in rule_app.duplicates)
    records.create(ctx, "contact", {"last_name": "Phạm", "email": "huy@example.vn"})
    with pytest.raises(ValidationFailed) as failed:
        records.create(ctx, "contact", {"last_name": "Phạm", "email": "HUY@example.vn"})
    assert "huy@example.vn" in str(failed.value.to_json())


@pytest.mark.slow  # a scale check: 200,000 contacts loaded, indexed and searched
def test_the_finder_on_200000_contacts_finds_the_seeded_near_duplicates(ctx):
    rng = random.Random(2026)
    syllables = ["An", "Bình", "Chi", "Dung", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa",
                 "Huy", "Khánh", "Lan", "Linh", "Long", "Mai", "Minh", "My", "Nam", "Nga",
                 "Ngọc", "Nhung", "Phong", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Thu", "Trang",
                 "Trung", "Tú", "Tuấn", "Uyên", "Vân", "Việt", "Vy", "Xuân", "Yến", "Đạt"]
    surnames = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
                "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
    cities = ["Hà Nội", "TP. Hồ Chí Minh", "Đà Nẵng", "Hải Phòng", "Cần Thơ", "Huế",
              "Nha Trang", "Vũng Tàu", "Biên Hòa", "Quy Nhơn", "Vinh", "Đà Lạt"]
    total, seeded = 200_000, 4_000
    base = total - seeded
    people: set[tuple[str, str]] = set()
    rows = []
    while len(rows) < base:
        first = " ".join(rng.choice(syllables) for _ in range(3))
        city = rng.choice(cities)
        if (first, city) in people:
            continue
        people.add((first, city))
        i = len(rows)
        rows.append({"last_name": rng.choice(surnames), "first_name": first, "city": city,
                     "email": f"kh{i}@vidu.vn",
                     "phone": f"+8490{i:07d}" if i % 2 else None})
    truth = set()
    for k in range(seeded):
        j = rng.randrange(base)
        original = dict(rows[j])
        copy = {**original, "email": f"trung{k}@vidu.vn"}
        if original["phone"] and k % 2:  # the same phone, another name and email
            copy.update(first_name="Khách " + original["first_name"], last_name="Khác",
                        city=rng.choice(cities))
        else:  # the same person, written without accents or in capitals
            copy.update(phone=None, last_name=rng.choice([
                original["last_name"].upper(), _plain(original["last_name"])]))
        truth.add((j, base + k))
        rows.append(copy)
    table = ctx.schema.table("contact")
    now = ctx.now()
    with ctx.db.write() as conn:  # a bulk load: indexes are dropped, then built again
        for index in sa.inspect(conn).get_indexes("contact"):
            if not index.get("unique"):
                conn.execute(sa.text(f'DROP INDEX "{index["name"]}"'))
    with ctx.db.write() as conn:
        for start in range(0, len(rows), 20_000):
            conn.execute(table.insert(), [
                {**r, "id": start + n + 1, "owner": ctx.user.id, "created_at": now,
                 "updated_at": now, "created_by": ctx.user.id, "updated_by": ctx.user.id,
                 "version": 1} for n, r in enumerate(rows[start:start + 20_000])])
    sync.migrate(ctx.db, ctx.model)  # builds the missing indexes
    found = duplicates.pairs(duplicates.find_groups(ctx, "contact"))
    expected = {(a + 1, b + 1) for a, b in truth}
    # copies of the same original are duplicates of each other too
    by_original: dict[int, list[int]] = {}
    for a, b in truth:
        by_original.setdefault(a, [a]).append(b)
    for ids in by_original.values():
        ids = sorted(i + 1 for i in ids)
        expected |= {(x, y) for n, x in enumerate(ids) for y in ids[n + 1:]}
    hits = len(found & expected)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(expected)
    print(f"duplicate finder on {total:,} contacts: precision {precision:.3f}, "
          f"recall {recall:.3f} ({hits} of {len(expected)} seeded pairs, {len(found)} found)")
    assert precision >= 0.9 and recall >= 0.9
    assert duplicates.count_duplicates(ctx, "contact") >= len({x for p in found for x in p})


def _plain(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in text if not unicodedata.combining(c))


def test_merge_moves_related_records_keeps_history_and_fails_whole(ctx, tmp_path):
    keep = records.create(ctx, "contact", {"last_name": "Nguyễn", "first_name": "Thu",
                                           "email": "thu@example.vn", "city": "Huế"})
    gone = records.create(ctx, "contact", {"last_name": "Nguyen", "first_name": "Thu",
                                           "email": "thu.nguyen@example.vn",
                                           "phone": "0912 000 111"})
    task = records.create(ctx, "task", {"subject": "Gọi lại", "related_contact": gone["id"]})
    deal = records.create(ctx, "opportunity", {"name": "Máy lọc", "contact": gone["id"]})
    attachments.add_note(ctx, "contact", gone["id"], "Khách quen")
    # a merge that fails at its very end (a bad value chosen) changes nothing
    with pytest.raises(ValidationFailed):
        duplicates.merge(ctx, "contact", keep["id"], gone["id"], {"email": "not-an-email"})
    assert records.get(ctx, "task", task["id"])["related_contact"] == gone["id"]
    assert records.get(ctx, "contact", gone["id"])["phone"] == "+84912000111"
    result = duplicates.merge(ctx, "contact", keep["id"], gone["id"],
                              {"email": "thu.nguyen@example.vn", "phone": "0912 000 111"})
    survivor = result["survivor"]
    assert survivor["email"] == "thu.nguyen@example.vn" and survivor["city"] == "Huế"
    assert survivor["phone"] == "+84912000111"
    assert records.get(ctx, "task", task["id"])["related_contact"] == keep["id"]
    assert records.get(ctx, "opportunity", deal["id"])["contact"] == keep["id"]
    assert result["moved"]["task.related_contact"] == 1 and result["moved"]["notes"] == 1
    events = attachments.timeline(ctx, "contact", keep["id"])
    assert [e.body for e in events if e.kind == "note"] == ["Khách quen"]
    assert any(e.kind == "merge" for e in events)
    with pytest.raises(Exception):  # noqa: B017 - NotFound
        records.get(ctx, "contact", gone["id"])
    history = records.history(ctx, "contact", keep["id"])
    assert any(h["action"] == "merge" for h in history)
    audit = ctx.schema.system["mc_audit"]
    with ctx.db.read() as conn:
        actions = conn.scalars(sa.select(audit.c.action).where(
            audit.c.object == "contact", audit.c.record_id == gone["id"])).all()
    assert {"create", "merged_into", "delete"} <= set(actions)
