"""The report builder over HTTP: the live preview shows the figures before saving, a save
adds `reports/<name>.yaml` as a metadata version, a report goes onto a dashboard, and bad
input of every kind is refused next to its input with nothing saved. Each test gets its
own fresh database (saves change the metadata)."""

from __future__ import annotations

import html
import re

import pytest
import yaml

from metacrm.engine import records

CONTACTS = [  # (city, lifecycle stage)
    ("Hà Nội", "lead"), ("Hà Nội", "lead"), ("Hà Nội", "customer"),
    ("Đà Nẵng", "customer"), ("Đà Nẵng", "customer"), ("Huế", "lead"),
]
BUILD = {"name": "contacts_by_city_stage", "label_en": "Contacts by city and stage",
         "label_vi": "Liên hệ theo thành phố và giai đoạn", "object": "contact",
         "group_1": "city", "group_2": "lifecycle_stage", "measure_1": "count",
         "chart": "bar"}


@pytest.fixture
def site(fresh_site):
    """A signed-in sales manager on the default CRM over a fresh database, with contacts."""
    made = fresh_site()
    made.user("boss", role="sales_manager")
    assert made.login("boss").status_code == 303
    ctx = made.ctx("boss")
    for i, (city, stage) in enumerate(CONTACTS):
        records.create(ctx, "contact", {"last_name": f"Nguyễn {i}", "city": city,
                                        "lifecycle_stage": stage,
                                        "email": f"kh{i}@example.vn"})
    return made


def table(text: str) -> list[list[str]]:
    """The preview table's body rows as text cells."""
    body = re.search(r'<table class="records" id="preview-table">.*?<tbody>(.*?)</tbody>',
                     text, re.S)
    assert body, text
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
             for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


def error(text: str, name: str) -> str:
    found = re.search(rf'<small class="field-error" id="error-{name}">(.*?)</small>', text,
                      re.S)
    assert found, f"no error next to {name}"
    return html.unescape(found.group(1))


def test_the_builder_offers_readable_objects_and_lookup_paths(site):
    page = site.get("/reports/new?object=contact")
    assert page.status_code == 200
    assert '<option value="contact" selected>' in page.text
    assert '<option value="account.industry">' in page.text  # a lookup's target field
    assert '<option value="income">' in page.text  # a sales manager may read income
    site.user("rep", role="sales_rep")
    site.post("/logout", {})
    site.login("rep")
    rep_page = site.get("/reports/new?object=contact")
    assert '<option value="city">' in rep_page.text
    assert '<option value="income">' not in rep_page.text  # hidden from sales reps


def test_preview_shows_the_counts_before_saving(site):
    answer = site.post("/reports/preview", BUILD)
    assert answer.status_code == 200
    rows = table(answer.text)
    assert sorted(rows) == sorted([
        ["Hà Nội", "Khách hàng tiềm năng", "2"], ["Hà Nội", "Khách hàng", "1"],
        ["Đà Nẵng", "Khách hàng", "2"], ["Huế", "Khách hàng tiềm năng", "1"]])
    assert site.rt.version == 0 and "contacts_by_city_stage" not in site.rt.model.reports
    filtered = site.post("/reports/preview", {**BUILD, "group_2": "",
                                              "filter": "lifecycle_stage == 'customer'"})
    assert sorted(table(filtered.text)) == [["Hà Nội", "1"], ["Đà Nẵng", "2"]]


def test_save_adds_a_report_a_consultant_would_write(site):
    answer = site.post("/reports/new", BUILD)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/reports/contacts_by_city_stage"
    rt = site.rt
    assert rt.version == 1
    report = rt.model.reports["contacts_by_city_stage"]
    assert [g.field for g in report.group_by] == ["city", "lifecycle_stage"]
    assert [str(m) for m in report.measures] == ["count"] and report.chart == "bar"
    assert rt.overlay.summary == "add report contacts_by_city_stage"
    assert yaml.safe_load(rt.overlay.documents["reports/contacts_by_city_stage.yaml"]) == {
        "report": "contacts_by_city_stage",
        "label": {"en": "Contacts by city and stage",
                  "vi": "Liên hệ theo thành phố và giai đoạn"},
        "object": "contact", "group_by": ["city", "lifecycle_stage"],
        "measures": ["count"], "chart": "bar"}
    # the saved report is edited in the builder: a month bucket, bands and a measure
    edit = site.get("/reports/contacts_by_city_stage/edit")
    assert edit.status_code == 200 and 'value="Contacts by city and stage"' in edit.text
    changed = site.post("/reports/contacts_by_city_stage/edit", {
        **BUILD, "group_1": "created_at", "bucket_1": "month", "group_2": "age",
        "bands_2": "18, 25, 35", "measure_2": "sum", "measure_field_2": "income",
        "chart": "none"})
    assert changed.status_code == 303, changed.text
    doc = yaml.safe_load(rt.overlay.documents["reports/contacts_by_city_stage.yaml"])
    assert doc["group_by"] == [{"field": "created_at", "bucket": "month"},
                               {"field": "age", "bands": [18, 25, 35]}]
    assert doc["measures"] == ["count", "sum(income)"] and "chart" not in doc
    assert rt.version == 2 and rt.model.reports["contacts_by_city_stage"].chart is None
    # the app's own reports are not edited here
    assert site.get("/reports/pipeline_by_stage/edit").status_code == 404


def test_add_to_a_dashboard_on_save_and_afterwards(site):
    answer = site.post("/reports/new", {**BUILD, "dashboard": "sales_home"})
    assert answer.status_code == 303, answer.text
    rt = site.rt
    assert rt.model.dashboards["sales_home"].widgets == (
        "pipeline_by_stage", "won_by_month", "contacts_by_city_stage")
    assert rt.version == 1  # the report and the dashboard in one version
    added = site.post("/dashboards/marketing_home/add", {"report": "contacts_by_city_stage"})
    assert added.status_code == 303 and added.headers["location"] == "/dashboards/marketing_home"
    assert rt.model.dashboards["marketing_home"].widgets[-1] == "contacts_by_city_stage"
    assert rt.overlay.summary == "add report contacts_by_city_stage to dashboard marketing_home"
    assert yaml.safe_load(rt.overlay.documents["reports/dashboards/marketing_home.yaml"])[
        "widgets"][-1] == "contacts_by_city_stage"
    again = site.post("/dashboards/marketing_home/add", {"report": "contacts_by_city_stage"})
    assert again.status_code == 303 and rt.version == 2  # already there: nothing saved
    assert site.post("/dashboards/nope/add", {"report": "won_by_month"}).status_code == 404
    assert site.post("/dashboards/sales_home/add", {"report": "nope"}).status_code == 404


BAD = [  # (changes to the form, the input the message is next to, words of the message)
    ({"name": "Contacts by city"}, "name", "is not a valid name"),
    ({"name": "pipeline_by_stage"}, "name", "is taken"),
    ({"group_1": "town"}, "group_1", "has no field 'town'"),
    ({"group_2": "account.nope"}, "group_2", "has no field 'account.nope'"),
    ({"bucket_1": "month"}, "bucket_1", "a date bucket needs a date field"),
    ({"bands_1": "18, 25"}, "bands_1", "bands need a number field"),
    ({"group_2": "age", "bands_2": "18, tuổi"}, "bands_2", "'tuổi' is not a number"),
    ({"measure_2": "sum", "measure_field_2": "city"}, "measure_2",
     "sum() needs a number field"),
    ({"measure_2": "avg"}, "measure_field_2", "choose the field to avg"),
    ({"filter": "city == "}, "filter", ""),
    ({"filter": "ciity == 'Huế'"}, "filter", "ciity"),
    ({"chart": "donut"}, "chart", "is not a chart"),
    ({"dashboard": "nope"}, "dashboard", "there is no dashboard 'nope'"),
]


def test_bad_input_is_refused_next_to_its_input_and_nothing_is_saved(site):
    site.post("/language", {"lang": "en", "next": "/"})
    for changes, name, words in BAD:
        answer = site.post("/reports/new", {**BUILD, **changes})
        assert answer.status_code == 422, (changes, answer.text[:300])
        assert words in error(answer.text, name), (changes, error(answer.text, name))
        assert site.rt.version == 0
    assert "contacts_by_city_stage" not in site.rt.model.reports
    # the live preview says what is wrong too
    preview = site.post("/reports/preview", {**BUILD, "bucket_1": "month"})
    assert 'data-input="bucket_1"' in preview.text and "date bucket" in preview.text


def test_the_builder_speaks_vietnamese_and_english(site):
    page = site.get("/reports/new?object=contact")  # the app's language: Vietnamese
    assert "Báo cáo mới" in page.text and "Nhóm theo" in page.text
    answer = site.post("/reports/new", {**BUILD, "name": "Sai tên"})
    assert answer.status_code == 422
    assert "không phải tên hợp lệ" in error(answer.text, "name")
    site.post("/language", {"lang": "en", "next": "/"})
    assert "New report" in site.get("/reports/new").text
    rows = table(site.post("/reports/preview", BUILD).text)
    assert ["Hà Nội", "Lead", "2"] in rows and ["Đà Nẵng", "Customer", "2"] in rows
    answer = site.post("/reports/new", {**BUILD, "name": "Bad name"})
    assert "is not a valid name" in error(answer.text, "name")


def test_a_user_may_not_build_on_an_object_they_cannot_read(site):
    site.user("hoa", role="support_agent")  # support agents cannot read opportunities
    site.post("/logout", {})
    assert site.login("hoa").status_code == 303
    objects = site.get("/reports/new").text
    assert '<option value="case"' in objects and '<option value="opportunity"' not in objects
    assert site.get("/reports/new?object=opportunity").status_code == 403
    opportunity = {**BUILD, "name": "deals", "object": "opportunity", "group_1": "stage",
                   "group_2": ""}
    assert site.post("/reports/new", opportunity).status_code == 403
    assert site.post("/reports/preview", opportunity).status_code == 403
    assert site.rt.version == 0 and "deals" not in site.rt.model.reports
    site.post("/logout", {})
    signed_out = site.get("/reports/new", follow_redirects=False)
    assert signed_out.status_code == 303 and "/login" in signed_out.headers["location"]


def test_count_distinct_counts_the_different_values(site):
    """Issue 15, item 9: how many different cities a stage's contacts live in (not how many
    contacts), in the preview and in a saved report, with its header in Vietnamese."""
    answer = site.post("/reports/preview", {**BUILD, "group_1": "lifecycle_stage",
                                            "group_2": "", "measure_2": "count_distinct",
                                            "measure_field_2": "city"})
    assert answer.status_code == 200
    assert sorted(table(answer.text)) == [["Khách hàng", "3", "2"],
                                          ["Khách hàng tiềm năng", "3", "2"]]
    assert re.search(r"<th>Số [^<]+ khác nhau</th>", answer.text)
    saved = site.post("/reports/new", {**BUILD, "group_2": "", "measure_2": "count_distinct",
                                       "measure_field_2": "city"})
    assert saved.status_code == 303
    report = site.rt.model.reports["contacts_by_city_stage"]
    assert [str(m) for m in report.measures] == ["count", "count_distinct(city)"]
