"""Issue 14, item 1, on the screens and the API: a record's action buttons, the form an
action asks, its run from a list's bulk menu, and POST /api/v1/{object}/{id}/actions/{name}
(the default CRM's opportunity actions: Mark won, Mark lost)."""

from __future__ import annotations

import html
import re

from metacrm.engine import records


def _opportunity(rt, ctx, name: str = "Bán 10 máy lọc nước") -> dict:
    return records.create(ctx, "opportunity", {"name": name, "amount": 25000000})


def test_the_api_lists_runs_and_refuses_actions(api):
    rt = api.runtime
    with rt.db.read() as conn:
        from metacrm.engine.users import find_user
        ctx = rt.context(find_user(conn, rt.schema, "admin"))
    deal = _opportunity(rt, ctx)
    listed = api.get(f"/api/v1/opportunity/{deal['id']}/actions",
                     headers={"Accept-Language": "vi"}).json()["items"]
    assert [a["name"] for a in listed] == ["mark_won", "mark_lost"]
    won, lost = listed
    assert won["label"] == "Đánh dấu thành công" and won["inputs"] == []
    assert won["confirm"] == "Đánh dấu cơ hội Bán 10 máy lọc nước là thành công?"
    [reason] = lost["inputs"]
    assert reason["name"] == "loss_reason" and reason["required"] is True
    assert {"value": "price", "label": "Giá cao"} in reason["options"]

    missing = api.post(f"/api/v1/opportunity/{deal['id']}/actions/mark_lost", json={})
    assert missing.status_code == 422
    assert missing.json()["error"]["fields"]["loss_reason"][0]["code"] == "required"
    stray = api.post(f"/api/v1/opportunity/{deal['id']}/actions/mark_lost",
                     json={"reason": "price"})
    assert stray.status_code == 400 and "inputs" in stray.json()["error"]["message"]
    unknown = api.post(f"/api/v1/opportunity/{deal['id']}/actions/reopen")
    assert unknown.status_code == 404

    done = api.post(f"/api/v1/opportunity/{deal['id']}/actions/mark_lost",
                    json={"inputs": {"loss_reason": "competitor"}})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["record"]["stage"] == "lost" and body["record"]["loss_reason"] == "competitor"
    assert body["opens"] == {"object": "opportunity", "id": deal["id"]}
    assert body["changed"] == ["stage", "probability", "forecast_category", "loss_reason"]
    assert api.get(f"/api/v1/opportunity/{deal['id']}/actions").json()["items"] == []
    again = api.post(f"/api/v1/opportunity/{deal['id']}/actions/mark_won")
    assert again.status_code == 403


def test_a_record_page_offers_its_actions_and_runs_them(site):
    ctx = site.ctx("admin")
    deal = _opportunity(site.rt, ctx)
    page = site.get(f"/o/opportunity/{deal['id']}").text
    assert 'data-action="mark_won"' in page and 'data-action="mark_lost"' in page
    form = site.get(f"/o/opportunity/{deal['id']}/actions/mark_lost")
    assert form.status_code == 200 and "Lý do thất bại" in form.text
    assert "Giá cao" in form.text
    refused = site.post(f"/o/opportunity/{deal['id']}/actions/mark_lost", {"loss_reason": ""})
    assert refused.status_code == 422 and "Lý do thất bại là bắt buộc" in refused.text
    done = site.post(f"/o/opportunity/{deal['id']}/actions/mark_lost",
                     {"loss_reason": "price"})
    assert done.status_code == 303 and done.headers["location"] == \
        f"/o/opportunity/{deal['id']}"
    shown = site.get(done.headers["location"]).text
    assert "Đánh dấu thất bại: đã xong." in html.unescape(shown)
    assert "admin đã thực hiện Đánh dấu thất bại" in html.unescape(shown)
    assert 'data-action="mark_won"' not in shown  # its `if` holds no more
    assert records.get(ctx, "opportunity", deal["id"])["stage"] == "lost"
    # the form of an action that no longer applies is refused, in the reader's language
    gone = site.get(f"/o/opportunity/{deal['id']}/actions/mark_won")
    assert gone.status_code == 403 and "không áp dụng" in html.unescape(gone.text)


def test_the_bulk_menu_asks_once_then_runs_on_each_record(site):
    ctx = site.ctx("admin")
    ids = [_opportunity(site.rt, ctx, f"Cơ hội {i}")["id"] for i in range(3)]
    records.update(ctx, "opportunity", ids[2], {"stage": "lost"})
    listing = site.get("/o/opportunity").text
    assert 'name="record_action"' in listing and "Đánh dấu thành công" in listing
    asked = site.post("/o/opportunity/actions", {"record_action": "mark_won",
                                                 "ids": [str(i) for i in ids]})
    assert asked.status_code == 200 and "Thực hiện Đánh dấu thành công trên 3 bản ghi?" in \
        html.unescape(asked.text)
    hidden = re.findall(r'name="ids" value="(\d+)"', asked.text)
    assert hidden == [str(i) for i in ids]
    ran = site.post("/o/opportunity/actions", {"record_action": "mark_won", "ids": hidden,
                                               "confirmed": "1"})
    assert ran.status_code == 303
    flashed = html.unescape(site.get("/o/opportunity").text)
    assert "Đánh dấu thành công: đã xong 2 trên 3 bản ghi." in flashed
    assert f"#{ids[2]}: 'Đánh dấu thành công' không áp dụng" in flashed
    assert [records.get(ctx, "opportunity", i)["stage"] for i in ids] == ["won", "won", "lost"]


def test_the_api_submits_and_decides_approvals(make_api):
    from metacrm.engine.users import add_to_team, create_team, create_token, find_user

    rep = make_api(username="lan", role="sales_rep")
    rt = rep.runtime
    with rt.db.write() as conn:
        from metacrm.engine.users import create_user
        boss = create_user(conn, rt.schema, "mai", role="sales_manager")
        team = create_team(conn, rt.schema, "KD", manager_id=boss.id)
        add_to_team(conn, rt.schema, team, find_user(conn, rt.schema, "lan").id)
        add_to_team(conn, rt.schema, team, boss.id)  # a manager reads the team's as a member
        boss_token = create_token(conn, rt.schema, boss.id)
    quote = rep.post("/api/v1/quote", json={"name": "Báo giá lớn"}).json()
    rep.post("/api/v1/quote_line", json={"quote": quote["id"], "description": "Máy",
                                          "quantity": 1, "unit_price": 1000000,
                                          "discount": 30})
    base = f"/api/v1/quote/{quote['id']}/approvals/discount"
    assert rep.post(base + "/approve").status_code == 409  # nothing pending yet
    assert rep.post(base + "/sideways").status_code == 404
    assert rep.post(base + "/submit").json() == {"approval": "discount", "status": "pending"}
    assert rep.post(base + "/submit").status_code == 409  # already pending
    assert rep.post(base + "/approve").status_code == 403  # not the approver
    headers = {"Authorization": f"Bearer {boss_token}"}
    waiting = rep.client.get("/api/v1/approvals", headers=headers).json()["items"]
    assert [(w["object"], w["id"], w["approval"]) for w in waiting] == [
        ("quote", quote["id"], "discount")]
    bad = rep.client.post(base + "/approve", json={"comment": 5}, headers=headers)
    assert bad.status_code == 400
    done = rep.client.post(base + "/approve", json={"comment": "OK"}, headers=headers)
    assert done.json() == {"approval": "discount", "status": "approved"}
    assert rep.patch(f"/api/v1/quote/{quote['id']}", json={
        "status": "sent", "version": rep.get(f"/api/v1/quote/{quote['id']}").json()[
            "version"]}).status_code == 200
    paths = rep.get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/quote/{id}/approvals/discount/submit" in paths
