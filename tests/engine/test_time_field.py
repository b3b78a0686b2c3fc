"""Issue 15, item 7: the `time` field type (a time of day): read as people write it, stored
as HH:MM, sorted and filtered in time order, refused with a clear message otherwise; the
API, the form's time input and the all-types app's contract test carry it."""

from __future__ import annotations

from pathlib import Path

import pytest

from metacrm.engine import query, records
from metacrm.engine.errors import ValidationFailed
from metacrm.metadata.expressions import parse

ALLTYPES = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "alltypes"


@pytest.fixture
def ctx(make_runtime):
    from metacrm.engine.users import create_user

    rt = make_runtime(ALLTYPES)
    with rt.db.write() as conn:
        admin = create_user(conn, rt.schema, "admin", role="admin")
    return rt.context(admin)


def test_times_are_read_as_written_and_kept_in_order(ctx):
    for name, written in (("sớm", "7h"), ("trưa", "12:30:00"), ("tối", "19g45"),
                          ("sáng", "8:05")):
        records.create(ctx, "thing", {"name": name, "opens_at": written})
    page = query.list_records(ctx, "thing", query.ListQuery(sort=("opens_at",)))
    assert [(t["name"], t["opens_at"]) for t in page.items] == [
        ("sớm", "07:00"), ("sáng", "08:05"), ("trưa", "12:30"), ("tối", "19:45")]
    after_noon = query.list_records(ctx, "thing", query.ListQuery(
        where=parse("opens_at >= '12:00'")))
    assert sorted(t["name"] for t in after_noon.items) == ["trưa", "tối"]
    with pytest.raises(ValidationFailed) as refused:
        records.create(ctx, "thing", {"name": "sai", "opens_at": "25:00"})
    error = refused.value.errors["opens_at"][0]
    assert error.code == "invalid_time" and "not a time of day" in error.message


def test_the_api_and_the_form_carry_a_time(make_api, make_site):
    api = make_api(ALLTYPES)
    made = api.post("/api/v1/thing", json={"name": "mở cửa", "opens_at": "08:30"})
    assert made.status_code == 201 and made.json()["opens_at"] == "08:30"
    wrong = api.post("/api/v1/thing", json={"name": "x", "opens_at": "8 giờ kém"})
    assert wrong.status_code == 422
    document = api.get("/api/v1/openapi.json").json()
    schema = document["components"]["schemas"]["ThingCreate"]["properties"]["opens_at"]
    assert schema["pattern"] == "^([01][0-9]|2[0-3]):[0-5][0-9]$"
    site = make_site(ALLTYPES)
    site.user("boss")
    site.login("boss")
    assert 'name="opens_at" type="time"' in site.get("/o/thing/new").text
