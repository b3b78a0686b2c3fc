"""An app's own templates (issue 13): `templates/` in the app's folder overrides MetaCRM's
screens, and `cells-{object}.html` draws chosen list cells (a column, or every column of a
type) while the others keep the standard cells."""

from __future__ import annotations

from tests.conftest import SHOP

CELLS = """
{% macro field_city(value, record, default) -%}
<span class="town" data-id="{{ record.id }}">{{ default }} ({{ t('Filter') }})</span>
{%- endmacro %}
{% macro type_integer(value, record, default) -%}
<meter value="{{ value }}">{{ default }}</meter>
{%- endmacro %}
"""
LIST = """
{% extends "list.html" %}
{% block title %}Khách quen · {{ obj.plural.get(lang) }}{% endblock %}
"""
LAYOUT = """
layout: customer
form:
  sections:
    - label: {en: Main, vi: Chính}
      fields: [name, city, visits, email]
list:
  columns: [name, city, visits, email]
  filters: [city]
"""


def shop_with_templates(make_app_dir, make_site):
    app = make_app_dir({"templates/cells-customer.html": CELLS,
                        "templates/list-customer.html": LIST,
                        "layouts/customer.yaml": LAYOUT}, base=SHOP)
    site = make_site(app)
    site.user("admin")
    assert site.login("admin").status_code == 303
    return site


def test_an_app_draws_its_own_cells_and_keeps_the_standard_ones(make_app_dir, make_site):
    site = shop_with_templates(make_app_dir, make_site)
    api = site.client
    made = site.post("/o/customer/new", {"name": "<b>Lan</b>", "city": "Huế <i>",
                                         "visits": "1500", "email": "lan@example.vn"})
    assert made.status_code == 303, made.text
    record_id = made.headers["location"].rsplit("/", 1)[1]
    page = api.get("/o/customer").text
    # the column's macro, given the standard cell (escaped) and the record
    assert f'<span class="town" data-id="{record_id}">Huế &lt;i&gt; (Filter)</span>' in page
    # a type's macro for every column of the type, with the value as stored
    assert '<meter value="1500">1,500</meter>' in page
    # the other columns as ever: the name links to the record, the email is a mailto link
    assert f'<a href="/o/customer/{record_id}">&lt;b&gt;Lan&lt;/b&gt;</a>' in page
    assert '<a href="mailto:lan@example.vn">lan@example.vn</a>' in page
    # the app's list template is the page, and the htmx fragment draws the same cells
    assert "<title>Khách quen · Customers" in page
    fragment = api.get("/o/customer?page=1", headers={"HX-Request": "true"}).text
    assert "<title>" not in fragment and '<meter value="1500">' in fragment


def test_cells_speak_the_readers_language(make_app_dir, make_site):
    site = shop_with_templates(make_app_dir, make_site)
    site.post("/o/customer/new", {"name": "Lan", "city": "Huế", "visits": "1500"})
    site.post("/language", {"lang": "vi", "next": "/o/customer"})
    page = site.get("/o/customer").text
    assert '<meter value="1500">1.500</meter>' in page
    assert "Huế (Lọc)" in page


def test_an_app_without_templates_has_the_standard_screens(make_app_dir, make_site):
    site = make_site(make_app_dir({"layouts/customer.yaml": LAYOUT}, base=SHOP))
    site.user("admin")
    site.login("admin")
    site.post("/o/customer/new", {"name": "Lan", "city": "Huế", "visits": "1500"})
    page = site.get("/o/customer").text
    assert "<meter" not in page and 'class="town"' not in page
    assert "<td data-label=\"Visits\">1,500</td>" in page
    assert "Khách quen" not in page
