"""The data quality page over HTTP: its chart, its links, and who may see what."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest

from metacrm.engine import records


@pytest.fixture
def site(make_site):
    made = make_site()
    made.user("admin")
    made.login("admin")
    return made


def plant(site, object_name: str, ids: list[int], **values) -> None:
    table = site.rt.schema.table(object_name)
    with site.rt.db.write() as conn:
        conn.execute(table.update().where(table.c.id.in_(ids)).values(**values))


@pytest.fixture
def contacts(site) -> list[int]:
    ctx = site.ctx("admin")
    cities = ["Hà Nội", "ha noi", "HÀ NỘI", "Huế", None, None]
    ids = [records.create(ctx, "contact", {"last_name": f"Nguyễn {i}", "city": city,
                                           "email": f"lan{i}@example.vn", "income": 1000})["id"]
           for i, city in enumerate(cities)]
    plant(site, "contact", [ids[0]], email="not-an-email")
    plant(site, "contact", [ids[1]], phone="lan@example.vn")
    plant(site, "contact", ids[2:4], updated_at=ctx.now() - timedelta(days=400))
    return ids


def listed(site, link: str) -> set[int]:
    """The records a list page shows."""
    response = site.get(html.unescape(link))
    assert response.status_code == 200, response.text
    body = response.text.split('id="records"', 1)[1]
    return {int(i) for i in re.findall(r'href="/o/contact/(\d+)"', body)}


def section(page: str, name: str) -> str:
    match = re.search(rf'<section class="card" id="{name}">(.*?)</section>', page, re.S)
    assert match, name
    return match.group(1)


def row(page: str, **attrs: str) -> str:
    keys = "".join(f'[^>]*{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    match = re.search(rf"<tr{keys}[^>]*>(.*?)</tr>", page, re.S)
    assert match, attrs
    return match.group(1)


def test_the_page_shows_the_chart_and_the_figures(site, contacts):
    response = site.get("/o/contact/quality")
    assert response.status_code == 200
    page = response.text
    assert '<canvas id="blank-chart"' in page
    assert '<script src="/static/chart-4.6.1.umd.min.js"></script>' in page
    data = json.loads(html.unescape(re.search(
        r'<script type="application/json" id="blank-data">(.*?)</script>', page, re.S
    ).group(1)))
    assert data["values"] == sorted(data["values"], reverse=True)
    city = data["labels"].index("Tỉnh / thành phố")  # the admin reads Vietnamese
    assert data["values"][city] == pytest.approx(33.3)
    assert data["links"][city] == "/o/contact?city__is_blank=true"
    assert "Chất lượng dữ liệu" in page and "6 bản ghi" in page
    spelled = row(section(page, "spellings"), data_field="city")
    assert "Hà Nội" in spelled and "HÀ NỘI" in spelled and "Huế" not in spelled
    assert "0 bản ghi trùng với bản ghi khác" in section(page, "duplicates")


def test_the_links_lead_to_exactly_the_offending_records(site, contacts):
    page = site.get("/o/contact/quality").text
    blank = row(section(page, "blanks"), data_field="city")
    city = re.search(r'href="([^"]*city__is_blank=true)"', blank).group(1)
    assert listed(site, city) == set(contacts[4:6])
    stale = re.search(r'href="(/o/contact\?updated_at__lt=[^"]+)"', page).group(1)
    assert listed(site, stale) == set(contacts[2:4])
    email = row(page, data_field="email", data_kind="invalid_email")
    assert f'href="/o/contact/{contacts[0]}"' in email and "not-an-email" in email
    shown = re.search(r'href="(/o/contact\?id__in=[^"]+)"', email).group(1)
    assert listed(site, shown) == {contacts[0]}
    phone = row(page, data_field="phone", data_kind="email_in_phone")
    assert f'href="/o/contact/{contacts[1]}"' in phone
    spelled = re.search(r'href="(/o/contact\?city=ha\+noi)"',
                        row(section(page, "spellings"), data_field="city"))
    assert listed(site, spelled.group(1)) == {contacts[1]}


def test_english(site, contacts):
    site.post("/language", {"lang": "en", "next": "/"})
    page = site.get("/o/contact/quality").text
    assert "Data quality" in page and "Not a valid email address" in page
    assert "Over the 6 records you may see." in page


def test_unknown_object_and_no_access(site):
    assert site.get("/o/nothing/quality").status_code == 404
    site.user("an", "support_agent")
    site.login("an")
    assert site.get("/o/lead/quality").status_code == 403
    assert site.get("/o/contact/quality").status_code == 200


def test_a_hidden_field_is_not_on_the_page(site, contacts):
    assert 'data-field="income"' in site.get("/o/contact/quality").text
    site.user("lan", "sales_rep")
    site.login("lan")
    page = site.get("/o/contact/quality").text
    assert 'data-field="city"' in page
    assert "income" not in page and "Mức thu nhập" not in page


def test_a_sales_rep_counts_only_their_own_leads(site):
    admin = site.ctx("admin")
    other = records.create(admin, "lead", {"last_name": "Phạm", "email": "pham@example.vn"})
    plant(site, "lead", [other["id"]], email="broken")
    site.user("lan", "sales_rep")
    lan = site.ctx("lan")
    records.create(lan, "lead", {"last_name": "Lê", "email": "le@example.vn", "city": "Huế"})
    site.login("lan")
    page = site.get("/o/lead/quality").text
    assert "Tính trên 1 bản ghi" in page
    assert "broken" not in page and "Không phát hiện vấn đề nào." in section(page, "invalid")
    site.login("admin")
    everyone = site.get("/o/lead/quality").text
    assert "Tính trên 2 bản ghi" in everyone and "broken" in section(everyone, "invalid")
