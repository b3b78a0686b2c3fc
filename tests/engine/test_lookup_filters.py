"""Issue 15, item 1: filtered lookups. A lookup's `filter` names the records it may point
to, reading the record being edited as `record.x`; every path that saves (the record service,
rules, the API, imports) refuses a record it does not allow, with the record and the
condition named, and the type-ahead offers only the records it allows. On the estates app: a
deposit takes a free unit of its own project, and the unit it reserved stays its unit."""

from __future__ import annotations

import re

import pytest

from metacrm.engine import imports, records
from metacrm.engine.errors import ValidationFailed
from metacrm.metadata import MetadataError, load
from tests.conftest import ESTATES


@pytest.fixture
def estate(estates):
    rt, ctx = estates
    hill = records.create(ctx, "project", {"name": "Đồi Thông"})
    lake = records.create(ctx, "project", {"name": "Hồ Tây"})
    units = {code: records.create(ctx, "unit", {"code": code, "project": project["id"],
                                                "price": 3_000_000_000})["id"]
             for code, project in (("A-101", hill), ("A-102", hill), ("B-201", lake))}
    return rt, ctx, hill["id"], lake["id"], units


def refusal(exc: ValidationFailed, field: str) -> str:
    return " ".join(e.message for e in exc.errors.get(field, []))


def test_a_deposit_takes_a_free_unit_of_its_project_and_keeps_it(estate):
    rt, ctx, hill, lake, units = estate
    first = records.create(ctx, "deposit", {"customer": "Nguyễn Văn An", "project": hill,
                                            "unit": units["A-101"], "amount": 100_000_000})
    assert records.get(ctx, "unit", units["A-101"])["status"] == "reserved"  # the rule
    with pytest.raises(ValidationFailed) as second:  # a reserved unit: no second deposit
        records.create(ctx, "deposit", {"customer": "Trần Thị Bình", "project": hill,
                                        "unit": units["A-101"]})
    message = refusal(second.value, "unit")
    assert "'A-101' cannot be chosen here" in message and "status == 'available'" in message
    assert second.value.errors["unit"][0].code == "not_a_choice"
    # the first deposit keeps its (now reserved) unit when something else changes
    records.update(ctx, "deposit", first["id"], {"amount": 150_000_000})
    with pytest.raises(ValidationFailed) as other_project:  # a unit of another project
        records.create(ctx, "deposit", {"customer": "Lê Văn Cường", "project": hill,
                                        "unit": units["B-201"]})
    assert "'B-201' cannot be chosen here" in refusal(other_project.value, "unit")
    # moving the deposit to another project checks its unit again (record.project changed)
    with pytest.raises(ValidationFailed) as moved:
        records.update(ctx, "deposit", first["id"], {"project": lake})
    assert "'A-101'" in refusal(moved.value, "unit")
    assert records.get(ctx, "deposit", first["id"])["project"] == hill  # nothing half-saved


def test_the_api_and_an_import_are_refused_the_same(estate, make_api, tmp_path):
    rt, ctx, hill, lake, units = estate
    records.update(ctx, "unit", units["A-102"], {"status": "sold"})
    api = make_api(ESTATES, username="robot")  # the same database, over the real app
    answer = api.post("/api/v1/deposit", json={"customer": "Phạm Dũng", "project": hill,
                                               "unit": units["A-102"]})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert "'A-102' cannot be chosen here" in str(error["fields"]["unit"])
    sheet = ("customer,project,unit\nHoàng Em,Đồi Thông,A-101\nVõ Phúc,Đồi Thông,B-201\n"
             "Đỗ Giang,Đồi Thông,A-102\n").encode()
    obj = ctx.model.objects["deposit"]
    columns = imports.read_file(sheet, "deposits.csv").columns
    settings = imports.Settings(imports.guess_mapping(ctx, obj, columns))
    job = imports.start(ctx, "deposit", sheet, "deposits.csv", settings, tmp_path / "imports")
    summary = imports.run(ctx, job)
    assert (summary.inserted, summary.rejected) == (1, 2)
    reasons = imports.rejected_csv(rt, job)
    assert "'B-201' cannot be chosen here" in reasons and "'A-102'" in reasons


def test_a_filter_is_checked_at_load_with_file_and_line(make_app_dir):
    def loaded(filter_text: str) -> str:
        app = make_app_dir({"objects/deposit.yaml": (ESTATES / "objects" / "deposit.yaml")
                            .read_text(encoding="utf-8").replace(
                                "status == 'available' and project == record.project",
                                filter_text)}, base=ESTATES)
        with pytest.raises(MetadataError) as refused:
            load(app)
        return str(refused.value)

    assert re.search(r"deposit\.yaml:\d+ .*unknown field 'statu' on unit \(did you mean "
                     r"'status'\?\)", loaded("statu == 'available'"))
    assert "unknown field 'projet' on deposit" in loaded("project == record.projet")
    assert "record needs a field" in loaded("project == record")
    app = make_app_dir({"objects/more.yaml": "extend: deposit\nfields:\n  note: {type: text, "
                        "filter: \"x == 1\"}\n"}, base=ESTATES)
    with pytest.raises(MetadataError) as wrong_type:
        load(app)
    assert "'filter' does not apply to a text field" in str(wrong_type.value)


def test_a_merge_of_projects_moves_deposits_with_their_reserved_units(estate):
    """MetaCRM's own moves (a merge) do not re-check a filter the lookup already met; a
    person moving the deposit does (above)."""
    from metacrm.engine import duplicates

    rt, ctx, hill, lake, units = estate
    deposit = records.create(ctx, "deposit", {"customer": "An", "project": lake,
                                              "unit": units["B-201"]})
    duplicates.merge(ctx, "project", hill, lake)
    assert records.get(ctx, "deposit", deposit["id"])["project"] == hill
