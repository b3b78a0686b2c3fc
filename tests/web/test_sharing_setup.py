"""Issue 15, item 5 in Setup: a role's scope on an object may be "own, and those naming them
in <a user field>" or "own, and those whose <lookup> they may see"; the role page offers both
for the object's own fields and writes them as a consultant would."""

from __future__ import annotations

import re

from ..conftest import ESTATES


def test_the_role_page_offers_and_saves_a_shared_scope(make_site):
    site = make_site(ESTATES)
    site.user("boss")
    assert site.login("boss").status_code == 303
    page = site.get("/setup/roles/broker").text
    chosen = re.search(r'name="o\.deposit\.read"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert '<option value="field:broker" selected>' in chosen
    assert 'value="via:project"' in chosen and 'value="via:unit"' in chosen
    form = {k: v for k, v in re.findall(
        r'<select name="(o\.[a-z_]+\.[a-z]+)"[^>]*>.*?<option value="([^"]*)" selected',
        page, re.S)}
    form.update({"label_en": "Broker", "label_vi": "Môi giới", "o.deposit.create": "1",
                 "o.payment.read": "via:deposit", "o.deposit.edit": "own"})
    _, done = site.review_then_apply("/setup/roles/broker", form)
    assert done.status_code == 303
    broker = site.rt.model.roles["broker"].objects
    assert broker["deposit"].read == "field:broker" and broker["deposit"].edit == "own"
    written = site.rt.overlay.data()["roles.yaml"]["roles"]["broker"]["objects"]
    assert written["deposit"]["read"] == {"field": "broker"}
    assert written["payment"]["read"] == {"via": "deposit"}


def test_a_role_with_a_scope_of_several_fields_saves_unchanged(make_site, make_app_dir):
    roles = (ESTATES / "roles.yaml").read_text(encoding="utf-8").replace(
        "read: {field: broker}", "read: {field: [broker, created_by]}")
    site = make_site(make_app_dir({"roles.yaml": roles}, base=ESTATES))
    site.user("boss")
    assert site.login("boss").status_code == 303
    page = site.get("/setup/roles/broker").text
    form = {k: v for k, v in re.findall(
        r'<select name="(o\.[a-z_]+\.[a-z]+)"[^>]*>.*?<option value="([^"]*)" selected',
        page, re.S)}
    assert form["o.deposit.read"] == "field:broker,created_by"
    form.update({"label_en": "Broker", "label_vi": "Môi giới", "o.deposit.create": "1"})
    _, done = site.review_then_apply("/setup/roles/broker", form)
    assert done.status_code == 303
    assert site.rt.model.roles["broker"].objects["deposit"].read == "field:broker,created_by"
