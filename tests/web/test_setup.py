"""Setup screens over HTTP: review then apply, bad input of every kind, conflicts, history,
purge and export. Each test gets its own fresh database (Setup changes its tables)."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from metacrm.engine import overlays, records, sync

from ..conftest import SHOP


@pytest.fixture
def site(fresh_site):
    """A signed-in admin on the shop app over a fresh database."""
    made = fresh_site(SHOP)
    made.user("boss")
    assert made.login("boss").status_code == 303
    return made


def review_then_apply(site, path: str, data: dict):
    return site.review_then_apply(path, data)


def test_setup_is_for_admins_only(site):
    site.user("clerk", role="read_only")
    site.post("/logout", {})
    assert site.login("clerk").status_code == 303
    assert site.get("/setup").status_code == 403
    assert site.post("/setup/objects/new", {"name": "x"}).status_code == 403


def test_add_a_field_review_shows_the_plan_then_it_is_live(site):
    review, done = review_then_apply(site, "/setup/objects/customer/fields/new", {
        "name": "zalo", "type": "phone", "label_en": "Zalo", "label_vi": "Zalo"})
    assert "customer.zalo phone" in review.text  # the plan: add a column
    assert "+  zalo:" in review.text  # the diff of the overlay document
    assert done.status_code == 303
    rt = site.rt
    assert "zalo" in rt.model.objects["customer"].fields and rt.version == 1
    ctx = site.ctx("boss")
    rec = records.create(ctx, "customer", {"name": "An", "zalo": "0903123456"})
    assert rec["zalo"] == "+84903123456"
    assert "Zalo" in site.get("/setup/objects/customer").text


@pytest.mark.parametrize("data, field, message", [
    ({"name": "Zalo Phone", "type": "phone"}, "name", "not a valid name"),
    ({"name": "city", "type": "text"}, "name", "already has a field"),
    ({"name": "account", "type": "lookup", "to": "acount"}, "to", "unknown object"),
    ({"name": "account", "type": "lookup"}, "to", "choose the object"),
    ({"name": "score", "type": "formula", "returns": "number", "expression": "lenn(name)"},
     "expression", "lenn"),
    ({"name": "score", "type": "formula", "returns": "number", "expression": "name +"},
     "expression", "expression"),
    ({"name": "tier", "type": "picklist", "options": "a\nb b"}, "options", "not a valid value"),
    ({"name": "tier", "type": "picklist", "options": ""}, "options", "at least one option"),
    ({"name": "age", "type": "integer", "min": "ten"}, "min", "not a number"),
    ({"name": "x", "type": "spreadsheet"}, "type", "not a field type"),
])
def test_bad_field_input_is_shown_next_to_its_input_and_changes_nothing(site, data, field,
                                                                        message):
    data = {k: v.replace("\\n", "\n") for k, v in data.items()}
    response = site.post("/setup/objects/customer/fields/new", data)
    assert response.status_code == 422
    error = re.search(rf'id="error-{field}">([^<]*)<', response.text)
    assert error and message in error.group(1), response.text[-3000:]
    assert data["name"] in response.text  # what the admin typed is kept
    assert site.rt.version == 0 and overlays.history(site.rt.db) == []


def test_a_reserved_field_name_is_refused_in_the_admins_language(site):
    for lang, message in (("en", "cannot name a field"), ("vi", "Không thể đặt tên trường")):
        site.post("/language", {"lang": lang, "next": "/"})
        response = site.post("/setup/objects/customer/fields/new",
                             {"name": "page", "type": "integer"})
        assert response.status_code == 422
        error = re.search(r'id="error-name">([^<]*)<', response.text)
        assert error and message in error.group(1), response.text[-3000:]
    assert site.rt.version == 0


def test_a_type_change_that_would_lose_data_is_refused(site):
    response = site.post("/setup/objects/customer/fields/city", {"type": "integer"})
    assert response.status_code == 422
    assert "could lose data" in response.text and site.rt.version == 0
    assert site.rt.model.objects["customer"].fields["city"].type == "text"


def test_bad_object_input(site):
    for data, field, message in [
        ({"name": "Vehicle"}, "name", "not a valid name"),
        ({"name": "customer"}, "name", "already exists"),
        ({"name": "mc_user"}, "name", "reserved"),
    ]:
        response = site.post("/setup/objects/new", data)
        assert response.status_code == 422
        error = re.search(rf'id="error-{field}">([^<]*)<', response.text)
        assert error and message in error.group(1)
    assert site.rt.version == 0


def test_the_second_admin_gets_a_conflict_and_nothing_is_overwritten(site):
    first = site.post("/setup/objects/customer/fields/new", {"name": "zalo", "type": "phone"})
    second = site.post("/setup/objects/customer/fields/new", {"name": "vip", "type": "checkbox"})
    assert first.status_code == second.status_code == 200  # two review pages, base 0
    hidden = lambda r: dict(re.findall(  # noqa: E731
        r'<input type="hidden" name="([^"]+)" value="([^"]*)"', r.text))
    assert site.post("/setup/objects/customer/fields/new", {
        k: v for k, v in hidden(first).items() if k != "csrf_token"}).status_code == 303
    late = site.post("/setup/objects/customer/fields/new", {
        k: v for k, v in hidden(second).items() if k != "csrf_token"})
    assert late.status_code == 409 and 'id="reload"' in late.text
    fields = site.rt.model.objects["customer"].fields
    assert "zalo" in fields and "vip" not in fields


def test_remove_a_field_purge_needs_the_count_and_history_reverts(site):
    review_then_apply(site, "/setup/objects/customer/fields/new", {"name": "zalo",
                                                                  "type": "phone"})
    ctx = site.ctx("boss")
    rec = records.create(ctx, "customer", {"name": "An", "zalo": "0903123456"})
    review_then_apply(site, "/setup/objects/customer/fields/zalo", {"remove": "1"})
    assert "zalo" not in site.rt.model.objects["customer"].fields
    page = site.get("/setup").text
    assert "customer.zalo" in page  # archived data is listed
    assert "1" in site.get("/setup/objects/customer/purge?field=zalo").text
    wrong = site.post("/setup/objects/customer/purge?field=zalo", {"count": "5"})
    assert wrong.status_code == 422 and sync.count_values(site.rt.db, "customer", "zalo") == 1
    history = site.get("/setup/history").text
    assert "remove field customer.zalo" in history and "add field customer.zalo" in history
    review_then_apply(site, "/setup/history/1/revert", {})
    assert site.rt.version == 3
    assert records.get(site.ctx("boss"), "customer", rec["id"])["zalo"] == "+84903123456"
    # removing it again, then purging for real with the right count
    review_then_apply(site, "/setup/objects/customer/fields/zalo", {"remove": "1"})
    done = site.post("/setup/objects/customer/purge?field=zalo", {"count": "1"})
    assert done.status_code == 303 and sync.archived(site.rt.db, site.rt.model) == []


def test_export_download_is_a_loadable_app(site, tmp_path):
    review_then_apply(site, "/setup/objects/customer/fields/new", {"name": "zalo",
                                                                  "type": "phone"})
    response = site.get("/setup/export.zip")
    assert response.status_code == 200
    zipfile.ZipFile(io.BytesIO(response.content)).extractall(tmp_path / "out")
    from metacrm.metadata import load

    model = load(tmp_path / "out" / "shop")
    assert "zalo" in model.objects["customer"].fields


def test_the_live_expression_check(site):
    ok = site.post("/setup/check-expression", {"object": "customer", "expression": "len(name)",
                                                "returns": "integer"})
    assert ok.status_code == 200 and 'class="ok"' in ok.text
    bad = site.post("/setup/check-expression", {"object": "customer",
                                                 "expression": "len(nme)", "returns": "integer"})
    assert 'class="error"' in bad.text and "nme" in bad.text


def test_setup_links_to_import_and_data_quality_per_object(site):
    page = site.get("/setup").text
    assert 'href="/o/customer/import"' in page and 'href="/o/customer/quality"' in page
    assert site.get("/o/customer/import").status_code == 200
