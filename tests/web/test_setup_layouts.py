"""The Setup layout editor over HTTP: review then apply, the loader's errors next to their
inputs, the no-JavaScript section buttons, the live preview and who may use it."""

from __future__ import annotations

import html
import re

import pytest

from metacrm.engine import overlays

from ..conftest import SHOP

EDITOR = "/setup/layouts/customer"


@pytest.fixture
def site(fresh_site):
    """A signed-in admin on the shop app over a fresh database."""
    made = fresh_site(SHOP)
    made.user("boss")
    assert made.login("boss").status_code == 303
    return made


def form_values(site) -> dict[str, str]:
    """The editor's inputs as the GET page fills them in."""
    page = site.get(EDITOR).text
    values = {k: html.unescape(v) for k, v in re.findall(
        r'<input type="text" name="([^"]+)" id="[^"]+" value="([^"]*)"', page)}
    values["related"] = html.unescape(re.search(
        r'<textarea name="related"[^>]*>([^<]*)</textarea>', page).group(1))
    values["kanban_group_by"] = ""
    return values


def error_of(response, name: str) -> str:
    found = re.search(rf'id="error-{name}">([^<]*)<', response.text)
    assert found, f"no error shown for {name}: {response.text[-3000:]}"
    return html.unescape(found.group(1))


def test_the_list_links_every_object_to_its_editor(site):
    page = site.get("/setup/layouts")
    assert page.status_code == 200
    assert 'href="/setup/layouts/customer"' in page.text
    assert 'href="/setup/layouts/purchase"' in page.text
    assert 'class="active">Layouts<' in page.text  # the Setup tabs, this one current


def test_the_editor_starts_from_the_effective_layout(site):
    values = form_values(site)
    assert values["section_fields_0"] == "name, city, level"
    assert values["section_label_en_0"] == "Main" and values["section_label_vi_1"] == "Liên lạc"
    assert values["section_fields_1"] == "email"
    assert values["list_columns"] == "name, city" and values["list_filters"] == "city"
    page = site.get(EDITOR).text
    assert '<option value="2" selected>' in page  # section 0 has two columns
    assert '<option value="level">' in page  # the picklist is offered for the kanban
    assert '<option value="city"' not in page  # a text field is not
    assert "Objects that point here: purchase" in page  # a hint for related lists
    # an object without a layout file starts from its default layout
    purchase = site.get("/setup/layouts/purchase").text
    assert re.search(r'name="section_fields_0" id="[^"]+" value="code, total, buyer, owner"',
                     purchase)


def test_moving_a_field_and_adding_a_column_goes_live(site):
    values = form_values(site)
    values.update(section_fields_0="name, level", section_fields_1="city, email",
                  section_label_en_1="Reach", list_columns="name, city, level",
                  list_sort="name,-created_at", page_size="20")
    review, done = site.review_then_apply(EDITOR, values)
    assert "change layout of customer" in review.text
    assert "layouts/customer.yaml" in review.text  # the diff of the overlay document
    assert done.status_code == 303 and done.headers["location"] == EDITOR
    rt = site.rt
    assert rt.version == 1
    layout = rt.model.layouts["customer"]
    assert [s.fields for s in layout.sections] == [("name", "level"), ("city", "email")]
    assert layout.sections[1].label.get("en") == "Reach"
    assert layout.list.columns == ("name", "city", "level")
    assert layout.list.sort == ("name", "-created_at") and layout.list.page_size == 20
    assert layout.list.filters == ("city",)  # untouched inputs keep their values
    listing = site.get("/o/customer").text
    assert re.search(r"<th[^>]*>.*Level", listing, re.S)
    new = site.get("/o/customer/new").text
    reach = new.index("<legend>Reach</legend>")
    assert new.index('name="city"') > reach > new.index('name="level"')
    # the editor now shows what was saved
    assert form_values(site)["section_fields_1"] == "city, email"


def test_kanban_and_related_lists_are_saved_and_can_be_removed(site):
    values = form_values(site)
    values.update(kanban_group_by="level", kanban_card="city, email",
                  related="purchase | buyer | code, total")
    _, done = site.review_then_apply(EDITOR, values)
    assert done.status_code == 303
    layout = site.rt.model.layouts["customer"]
    assert layout.kanban is not None and layout.kanban.group_by == "level"
    assert layout.kanban.card == ("city", "email")
    assert [(r.object, r.via, r.columns) for r in layout.related] == [
        ("purchase", "buyer", ("code", "total"))]
    values = form_values(site)
    assert values["related"] == "purchase | buyer | code, total"
    assert '<option value="level" selected>' in site.get(EDITOR).text
    values.update(kanban_group_by="", kanban_card="", related="")
    _, done = site.review_then_apply(EDITOR, values)
    assert done.status_code == 303 and site.rt.version == 2
    layout = site.rt.model.layouts["customer"]
    assert layout.kanban is None and layout.related == ()


@pytest.mark.parametrize("change, field, message", [
    ({"section_fields_0": "name, town, level"}, "section_fields_0", "unknown field 'town'"),
    ({"section_fields_1": "email, city"}, "section_fields_1", "'city' is already in section 1"),
    ({"kanban_group_by": "city"}, "kanban_group_by", "a text field"),
    ({"page_size": "ten"}, "page_size", "'ten' is not a number"),
    ({"page_size": "0"}, "page_size", "at least 1"),
    ({"list_columns": "name, cty"}, "list_columns", "cty"),
    ({"list_sort": "name, -email, colour"}, "list_sort", "colour"),
    ({"list_filters": "city, nope"}, "list_filters", "nope"),
    ({"kanban_group_by": "level", "kanban_card": "city, zzz"}, "kanban_card", "zzz"),
    ({"kanban_card": "city"}, "kanban_group_by", "choose the picklist field"),
    ({"related": "purchase | code | total"}, "related", "must be a lookup field"),
    ({"related": "purchase"}, "related", "write object | lookup field"),
    ({"section_columns_0": "5"}, "section_columns_0", "1 to 4 columns"),
])
def test_bad_input_is_shown_next_to_its_input_and_changes_nothing(site, change, field,
                                                                  message):
    values = {**form_values(site), **change}
    response = site.post(EDITOR, values)
    assert response.status_code == 422
    assert message in error_of(response, field)
    for key, value in change.items():  # what the admin typed is kept
        shown = html.escape(value)
        assert (f'name="{key}" id="f-{key}" value="{shown}"' in response.text
                or f'<option value="{shown}" selected>' in response.text
                or f'id="f-{key}" rows="4">{shown}</textarea>' in response.text), key
    assert site.rt.version == 0 and overlays.history(site.rt.db) == []
    assert site.rt.model.layouts["customer"].sections[0].fields == ("name", "city", "level")


def test_sections_can_be_added_and_removed_without_javascript(site):
    values = form_values(site)
    added = site.post(EDITOR, {**values, "action": "add_section"})
    assert added.status_code == 200 and site.rt.version == 0
    assert 'name="section_fields_2"' in added.text and 'id="remove-section-2"' in added.text
    values.update(section_fields_2="city", section_label_en_2="Where",
                  section_label_vi_2="Ở đâu", section_fields_0="name, level")
    removed = site.post(EDITOR, {**values, "action": "remove_section_1"})
    assert removed.status_code == 200
    assert 'name="section_fields_1"' not in removed.text
    assert 'value="Where"' in removed.text
    assert re.search(r'id="field-palette".*data-field="email"', removed.text, re.S)
    values = {k: v for k, v in values.items() if not k.startswith("section_") or
              not k.endswith("_1")}
    _, done = site.review_then_apply(EDITOR, values)
    assert done.status_code == 303
    sections = site.rt.model.layouts["customer"].sections
    assert [(s.label.get("vi"), s.fields) for s in sections] == [
        ("Chính", ("name", "level")), ("Ở đâu", ("city",))]


def test_the_preview_renders_the_sections(site):
    response = site.post(EDITOR + "/preview", {
        "section_label_en_0": "Who", "section_label_vi_0": "Ai", "section_columns_0": "2",
        "section_fields_0": "name, level, email", "section_label_en_1": "Odd",
        "section_fields_1": "ghost, city, city"})
    assert response.status_code == 200
    text = response.text
    assert "<legend>Who</legend>" in text and "<legend>Odd</legend>" in text
    assert re.search(r'data-field="level">.*Level.*Picklist', text, re.S)
    assert re.search(r'data-field="email">.*Email address.*Email', text, re.S)
    assert "Unknown field ghost" in text and "Placed more than once: city" in text
    assert "<html" not in text  # a fragment for htmx
    site.post("/language", {"lang": "vi", "next": EDITOR})
    text = site.post(EDITOR + "/preview", {"section_label_en_0": "Who",
                                           "section_label_vi_0": "Ai",
                                           "section_fields_0": "level"}).text
    assert "<legend>Ai</legend>" in text and "Danh sách chọn" in text


def test_the_editor_speaks_vietnamese(site):
    site.post("/language", {"lang": "vi", "next": EDITOR})
    page = site.get(EDITOR).text
    assert "Bố cục của Khách hàng" in page
    assert "Thêm phần" in page and "Cột danh sách" in page and "Danh sách liên quan" in page
    assert "Bộ lọc" in page and "Xem trước" in page
    assert "Bố cục" in site.get("/setup/layouts").text


def test_the_layout_editor_is_for_admins_only(site):
    site.user("clerk", role="read_only")
    site.post("/logout", {})
    assert site.login("clerk").status_code == 303
    assert site.get("/setup/layouts").status_code == 403
    assert site.get(EDITOR).status_code == 403
    assert site.post(EDITOR, {"section_fields_0": "name"}).status_code == 403
    assert site.post(EDITOR + "/preview", {"section_fields_0": "name"}).status_code == 403
    assert site.rt.version == 0


def test_an_unknown_object_is_not_found(site):
    assert site.get("/setup/layouts/nothing").status_code == 404
