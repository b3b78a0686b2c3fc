"""Issue 15, item 1 on the screens: a filtered lookup's type-ahead offers only the records its
filter allows, reading the form as it stands (the project chosen a moment ago) or the record
being edited; a refused choice is shown next to its field in Vietnamese; Setup edits the
filter."""

from __future__ import annotations

import html
import json
import re

import pytest

from metacrm.engine import records

from ..conftest import ESTATES


@pytest.fixture
def estate(estates_site):
    site = estates_site
    ctx = site.ctx("boss")
    hill = records.create(ctx, "project", {"name": "Đồi Thông"})["id"]
    lake = records.create(ctx, "project", {"name": "Hồ Tây"})["id"]
    units = {code: records.create(ctx, "unit", {"code": code, "project": project,
                                                "status": status})["id"]
             for code, project, status in (("A-101", hill, "available"),
                                           ("A-102", hill, "reserved"),
                                           ("A-103", hill, "available"),
                                           ("B-201", lake, "available"))}
    return site, hill, lake, units


def offered(site, query: str) -> list[str]:
    answer = site.get(f"/o/unit/lookup?field=unit&{query}")
    assert answer.status_code == 200
    return sorted(html.unescape(t) for t in re.findall(r'data-title="([^"]*)"', answer.text))


def test_the_type_ahead_offers_only_what_the_filter_allows(estate):
    site, hill, lake, units = estate
    form = site.get("/o/deposit/new").text
    vals = re.search(r"hx-get=\"/o/unit/lookup\"[^>]*hx-vals='([^']*)'", form)
    assert vals and json.loads(html.unescape(vals.group(1)))["from"] == "deposit.unit"
    assert "hx-include=\"[name='project'],[name='project__id']\"" in html.unescape(form)
    assert offered(site, f"from=deposit.unit&project__id={hill}&project=x") == [
        "A-101", "A-103"]
    assert offered(site, f"from=deposit.unit&project__id={lake}&project=x&unit=B") == [
        "B-201"]
    assert offered(site, "from=deposit.unit&project=") == []  # no project yet: nothing fits
    assert len(offered(site, "")) == 4  # a lookup without `from`: every unit
    deposit = records.create(site.ctx("boss"), "deposit", {
        "customer": "An", "project": lake, "unit": units["B-201"]})
    # editing: the record's own project when the form does not send one
    assert offered(site, f"from=deposit.unit&record={deposit['id']}") == []  # B-201 reserved
    records.create(site.ctx("boss"), "unit", {"code": "B-202", "project": lake})
    assert offered(site, f"from=deposit.unit&record={deposit['id']}") == ["B-202"]


def test_a_refused_choice_is_shown_next_to_its_field_in_vietnamese(estate):
    site, hill, lake, units = estate
    site.post("/language", {"lang": "vi", "next": "/"})
    answer = site.post("/o/deposit/new", {"customer": "Bình", "project": "Đồi Thông",
                                          "project__id": str(hill), "unit": "A-102",
                                          "unit__id": str(units["A-102"])})
    assert answer.status_code == 422
    assert "Không chọn được &#39;A-102&#39; ở đây" in answer.text
    assert records.create(site.ctx("boss"), "deposit", {
        "customer": "Bình", "project": hill, "unit": units["A-101"]})["id"]


def test_setup_edits_a_lookups_filter(estate):
    site, hill, lake, units = estate
    page = site.get("/setup/objects/deposit/fields/unit")
    assert 'name="filter"' in page.text and "record.project" in html.unescape(page.text)
    values = {"label_en": "Unit", "label_vi": "Căn hộ", "type": "lookup", "to": "unit",
              "required": "1", "filter": "status != 'sold'"}
    _, done = site.review_then_apply("/setup/objects/deposit/fields/unit", values)
    assert done.status_code == 303
    assert str(site.rt.model.objects["deposit"].fields["unit"].filter) == "status != 'sold'"
    assert offered(site, "from=deposit.unit") == ["A-101", "A-102", "A-103", "B-201"]
    wrong = site.post("/setup/objects/deposit/fields/unit", {**values, "filter": "stat == 1"})
    assert wrong.status_code == 422 and "did you mean" in html.unescape(wrong.text)


def test_the_openapi_document_says_which_units_a_deposit_takes(estate):
    site, *_ = estate
    document = site.get("/api/v1/openapi.json").json()
    unit = document["components"]["schemas"]["DepositCreate"]["properties"]["unit"]
    assert unit["x-filter"] == "status == 'available' and project == record.project"


def test_the_type_ahead_works_for_a_role_that_may_not_see_what_the_filter_reads(
        make_site, make_app_dir):
    """The filter is the business's rule: worked out on the stored records, so an agent who
    may not see a unit's status still gets the free units (and never the status)."""
    roles = (ESTATES / "roles.yaml").read_text(encoding="utf-8").replace(
        "      deposit: {create: true, read: all, edit: own, delete: none}\n",
        "      deposit: {create: true, read: all, edit: own, delete: none}\n"
        "    fields: {unit.status: hidden}\n", 1)
    site = make_site(make_app_dir({"roles.yaml": roles}, base=ESTATES))
    site.user("boss")
    site.user("lan", role="agent")
    boss = site.ctx("boss")
    hill = records.create(boss, "project", {"name": "Đồi Thông"})["id"]
    for code, status in (("A-1", "available"), ("A-2", "sold")):
        records.create(boss, "unit", {"code": code, "project": hill, "status": status})
    assert site.login("lan").status_code == 303
    assert offered(site, f"from=deposit.unit&project__id={hill}&project=x") == ["A-1"]
