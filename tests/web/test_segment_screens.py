"""Segments on screen: save a list's filters as a segment, see its live count and members,
target it from a campaign and list the targets, delete after asking, privacy, CSRF."""

from __future__ import annotations

import re

import pytest

from metacrm.engine import records, segments


def _people(ctx) -> None:
    for i, (name, city) in enumerate([("Nguyễn", "Huế"), ("Trần", "Huế"), ("Lê", "Hà Nội")]):
        records.create(ctx, "contact", {"last_name": name, "city": city,
                                        "phone": f"090000000{i}"})


def test_save_a_segment_from_list_filters_and_see_its_count_and_members(site):
    ctx = site.ctx("admin")
    _people(ctx)
    saved = site.post("/o/contact/segments", {"name": "Khách ở Huế", "shared": "on",
                                              "params": "city=Hu%E1%BA%BF&sort=last_name"})
    assert saved.status_code == 303
    seg_id = int(saved.headers["location"].rsplit("/", 1)[1])
    page = site.get(f"/segments/{seg_id}")
    assert page.status_code == 200
    assert "Khách ở Huế" in page.text and "city=Huế" in page.text
    assert re.search(r'id="live-count">2 ', page.text)
    members = re.findall(r'href="/o/contact/(\d+)"', page.text)
    assert len(set(members)) == 2
    records.create(ctx, "contact", {"last_name": "Phạm", "city": "Huế", "email": "p@x.vn"})
    listing = site.get("/segments")
    assert listing.status_code == 200
    row = re.search(rf'<tr id="segment-{seg_id}">(.*?)</tr>', listing.text, re.S).group(1)
    assert "Khách ở Huế" in row and "Dùng chung" in row and "admin" in row
    assert re.search(r'class="count"><a [^>]*>3</a>', row)  # the count is live


def test_bad_filters_are_refused_with_the_parameter(site):
    answer = site.post("/o/contact/segments", {"name": "x", "params": "no_such_field=1"})
    assert answer.status_code == 400 and "no_such_field" in answer.text
    assert segments.list_for(site.ctx("admin")) == []


def test_rename_share_and_refilter_a_segment(site):
    ctx = site.ctx("admin")
    _people(ctx)
    seg = segments.create(ctx, "contact", "Huế", {"city": "Huế"})
    changed = site.post(f"/segments/{seg.id}", {"name": "Hà Nội", "params": "city=Hà Nội",
                                                "shared": "on"})
    assert changed.status_code == 303
    after = segments.get(ctx, seg.id)
    assert (after.name, after.params, after.shared) == ("Hà Nội", {"city": "Hà Nội"}, True)
    assert re.search(r'id="live-count">1 ', site.get(f"/segments/{seg.id}").text)


def test_target_a_segment_from_a_campaign_and_list_the_targets(site):
    ctx = site.ctx("admin")
    _people(ctx)
    campaign = records.create(ctx, "campaign", {"name": "Tết ở Huế"})
    seg = segments.create(ctx, "contact", "Huế", {"city": "Huế"}, shared=True)
    empty = site.get(f"/o/campaign/{campaign['id']}/targets")
    assert empty.status_code == 200 and 'id="no-target"' in empty.text
    form = site.get(f"/o/campaign/{campaign['id']}/segment")
    assert form.status_code == 200 and f'value="{seg.id}"' in form.text
    chosen = site.post(f"/o/campaign/{campaign['id']}/segment", {"segment": str(seg.id)})
    assert chosen.status_code == 303
    targets = site.get(f"/o/campaign/{campaign['id']}/targets")
    assert re.search(r'id="live-count">2 ', targets.text)
    assert len(set(re.findall(r'href="/o/contact/(\d+)"', targets.text))) == 2
    page = site.get(f"/segments/{seg.id}")
    assert f'href="/o/campaign/{campaign["id"]}/targets">Tết ở Huế' in page.text
    # and from the segment's screen, for another campaign
    other = records.create(ctx, "campaign", {"name": "Hè"})
    assert site.post(f"/segments/{seg.id}/campaigns",
                     {"campaign": str(other["id"])}).status_code == 303
    assert segments.campaigns_of(ctx, seg) == {campaign["id"]: "Tết ở Huế",
                                               other["id"]: "Hè"}


def test_delete_asks_first_and_keeps_the_records(site):
    ctx = site.ctx("admin")
    _people(ctx)
    campaign = records.create(ctx, "campaign", {"name": "Tết"})
    seg = segments.create(ctx, "contact", "Huế", {"city": "Huế"})
    segments.set_target(ctx, campaign["id"], seg.id)
    asked = site.post(f"/segments/{seg.id}/delete", {})
    assert asked.status_code == 200 and 'id="confirm-delete"' in asked.text
    assert re.search(r'id="campaign-uses">1 ', asked.text)
    assert segments.get(ctx, seg.id).id == seg.id  # nothing deleted yet
    done = site.post(f"/segments/{seg.id}/delete", {"confirmed": "1"})
    assert done.status_code == 303 and done.headers["location"] == "/segments"
    assert site.get(f"/segments/{seg.id}").status_code == 404
    assert segments.target_segment(ctx, campaign["id"]) is None
    assert records.get(ctx, "campaign", campaign["id"])["name"] == "Tết"
    assert segments.count(ctx, segments.create(ctx, "contact", "Tất cả", {})) == 3


def test_another_users_private_segment_is_not_found(site):
    ctx = site.ctx("admin")
    private = segments.create(ctx, "contact", "Riêng", {"city": "Huế"})
    shared = segments.create(ctx, "contact", "Chung", {"city": "Huế"}, shared=True)
    site.user("lan", role="sales_rep")
    assert site.post("/logout", {}).status_code == 303
    assert site.login("lan").status_code == 303
    assert site.get(f"/segments/{private.id}").status_code == 404
    assert site.get(f"/segments/{shared.id}").status_code == 200
    listing = site.get("/segments").text
    assert "Chung" in listing and "Riêng" not in listing
    refused = site.post(f"/segments/{shared.id}", {"name": "Của Lan", "params": "city=Huế"})
    assert refused.status_code == 403
    assert site.post(f"/segments/{shared.id}/delete", {"confirmed": "1"}).status_code == 403
    assert segments.get(ctx, shared.id).name == "Chung"


@pytest.mark.parametrize("path", ["/o/contact/segments", "/segments/{id}",
                                  "/segments/{id}/delete", "/segments/{id}/campaigns",
                                  "/o/campaign/{campaign}/segment"])
def test_every_post_needs_the_csrf_token(site, path):
    ctx = site.ctx("admin")
    seg = segments.create(ctx, "contact", "Huế", {"city": "Huế"})
    campaign = records.create(ctx, "campaign", {"name": "Tết"})
    url = path.format(id=seg.id, campaign=campaign["id"])
    answer = site.client.post(url, data={"name": "x", "params": "city=Huế", "confirmed": "1",
                                         "segment": str(seg.id),
                                         "campaign": str(campaign["id"])},
                              follow_redirects=False)
    assert answer.status_code == 403
    assert segments.get(ctx, seg.id).name == "Huế"
    assert segments.target_segment(ctx, campaign["id"]) is None
    assert len(segments.list_for(ctx)) == 1


def test_a_segment_filters_a_report_page(site):
    ctx = site.ctx("admin")
    for i, (status, city) in enumerate([("new", "Huế"), ("new", "Huế"), ("open", "Huế"),
                                        ("new", "Hà Nội")]):
        records.create(ctx, "lead", {"last_name": f"Lê {i}", "email": f"le{i}@example.vn",
                                     "status": status, "city": city})
    seg = segments.create(ctx, "lead", "Khách ở Huế", {"city": "Huế"})
    everyone = site.get("/reports/leads_by_status")
    only = site.get(f"/reports/leads_by_status?segment={seg.id}")
    assert everyone.status_code == only.status_code == 200
    assert f'<option value="{seg.id}" selected>' in only.text
    csv_rows = site.get(f"/reports/leads_by_status.csv?segment={seg.id}").content.decode(
        "utf-8-sig").strip().splitlines()
    counts = sorted(int(line.rsplit(",", 1)[1]) for line in csv_rows[1:])
    assert counts == [1, 2]  # Huế: 2 new, 1 open (Hà Nội left out)
    contacts = segments.create(ctx, "contact", "Danh bạ", {"city": "Huế"})
    assert site.get(f"/reports/leads_by_status?segment={contacts.id}").status_code == 400
    assert site.get("/reports/leads_by_status?segment=abc").status_code == 400
