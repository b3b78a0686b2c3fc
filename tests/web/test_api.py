"""The REST API over the real ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

ALLTYPES = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "alltypes"


@pytest.fixture
def things(make_api):
    return make_api(ALLTYPES)


def _schema(client, name: str) -> dict:
    doc = client.get("/api/v1/openapi.json").json()
    return {"$defs": doc["components"]["schemas"], **doc["components"]["schemas"][name]}


def test_round_trip_of_every_field_type(things):
    admin_id = things.get("/api/v1/thing").status_code and None
    parent = things.post("/api/v1/thing", json={"name": "Parent"}).json()
    sent = {
        "name": "Bàn gỗ Đức", "notes": "dòng 1\ndòng 2", "email": "Ban.Go@Example.VN",
        "phone": "0912 345 678", "website": "metacrm.example.vn", "quantity": 3,
        "weight": 12.345, "price": 1500000.5, "discount": 12.5, "made_on": "2026-03-08",
        "checked_at": "2026-03-08T09:30:00+07:00", "active": True, "color": "Blue",
        "tags": ["sale", "new"], "parent": parent["id"], "buyer": "admin",
        "manual": "files/manual.pdf",
    }
    response = things.post("/api/v1/thing", json=sent)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/api/v1/thing/{created['id']}"
    got = things.get(f"/api/v1/thing/{created['id']}").json()
    assert got == created
    assert got["name"] == "Bàn gỗ Đức" and got["notes"] == "dòng 1\ndòng 2"
    assert got["email"] == "ban.go@example.vn"
    assert got["phone"] == "+84912345678"
    assert got["website"] == "https://metacrm.example.vn"
    assert got["quantity"] == 3 and got["weight"] == 12.345
    assert got["price"] == 1500000.5 and got["discount"] == 12.5
    assert got["made_on"] == "2026-03-08"
    assert got["checked_at"] == "2026-03-08T02:30:00+00:00"
    assert got["active"] is True
    assert got["color"] == "blue"
    assert got["tags"] == ["new", "sale"]
    assert got["parent"] == parent["id"]
    assert isinstance(got["buyer"], int) and got["buyer"] == got["owner"]
    assert got["total"] == 4500001.5
    assert got["code"] == "T-002"
    assert got["manual"] == "files/manual.pdf"
    assert got["part_count"] == 0 and got["part_weight"] is None
    assert got["version"] == 1 and admin_id is None
    part = things.post("/api/v1/part", json={"name": "chân", "thing": got["id"],
                                             "weight": 2.5}).json()
    assert things.get(f"/api/v1/thing/{got['id']}").json()["part_weight"] == 2.5
    assert part["thing"] == got["id"]
    validator = Draft202012Validator(_schema(things, "Thing"))
    assert not list(validator.iter_errors(got))


def test_list_filters_search_sort_and_paging(things):
    for i, (name, color) in enumerate([("Nguyễn Văn Đức", "red"), ("Trần Thị Hoa", "blue"),
                                       ("Lê Văn Nam", "red"), ("Phạm Đức Anh", "green")]):
        assert things.post("/api/v1/thing", json={"name": name, "color": color,
                                                  "quantity": i * 10}).status_code == 201
    page = things.get("/api/v1/thing", params={"search": "nguyen van duc"}).json()
    assert [r["name"] for r in page["items"]] == ["Nguyễn Văn Đức"] and page["total"] == 1
    duc = things.get("/api/v1/thing", params={"search": "DUC", "sort": "name"}).json()
    assert [r["name"] for r in duc["items"]] == ["Nguyễn Văn Đức", "Phạm Đức Anh"]
    reds = things.get("/api/v1/thing", params={"color": "red", "sort": "-quantity"}).json()
    assert [r["name"] for r in reds["items"]] == ["Lê Văn Nam", "Nguyễn Văn Đức"]
    some = things.get("/api/v1/thing", params={"quantity__ge": "10", "color__in": "red,green",
                                                "sort": "quantity"}).json()
    assert [r["quantity"] for r in some["items"]] == [20, 30]
    either = things.get("/api/v1/thing", params={
        "filter": "color == 'blue' or quantity > 25", "sort": "name"}).json()
    assert [r["name"] for r in either["items"]] == ["Phạm Đức Anh", "Trần Thị Hoa"]
    paged = things.get("/api/v1/thing", params={"sort": "quantity", "page": 2,
                                                 "page_size": 3}).json()
    assert paged["total"] == 4 and paged["pages"] == 2
    assert [r["quantity"] for r in paged["items"]] == [30]


@pytest.mark.parametrize("params, fragment", [
    ({"colour": "red"}, "cannot filter on 'colour'"),
    ({"quantity__between": "1"}, "unknown filter operator 'between'"),
    ({"quantity__gt": "many"}, "'many' is not a whole number"),
    ({"sort": "name; drop table thing"}, "cannot sort by"),
    ({"sort": "tags"}, "cannot sort by 'tags'"),
    ({"page": "0"}, "page number must be between 1 and"),
    ({"page": "two"}, "page must be a whole number"),
    ({"page_size": "100000"}, "page_size must be between"),
    ({"filter": "name = 'x'"}, "use '==' to compare"),
    ({"filter": "nmae == 'x'"}, "unknown field 'nmae'"),
    ({"made_on__gt": "' OR 1=1 --"}, "is not a date"),
    ({"parent": "1 or 1=1"}, "is not a record id"),
])
def test_bad_list_parameters_get_a_clean_400(things, params, fragment):
    response = things.get("/api/v1/thing", params=params)
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


def test_validation_errors_are_422_with_per_field_messages(things):
    response = things.post("/api/v1/thing", json={
        "email": "not-an-email", "quantity": -1, "color": "purple", "made_on": "31/02/2026",
        "nonsense": 1, "total": 5})
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"name", "email", "quantity", "color", "made_on", "nonsense", "total"}
    assert fields["name"][0]["code"] == "required"
    assert fields["quantity"][0]["params"] == {"min": 0}  # what the message names, as data
    assert fields["color"][0]["message"].startswith("'purple' is not one of the options")
    assert fields["total"][0]["code"] == "read_only"
    assert things.get("/api/v1/thing").json()["total"] == 0


@pytest.mark.parametrize("body, fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ("", "the body is empty"),
])
def test_bad_bodies_get_a_clean_400(things, body, fragment):
    response = things.post("/api/v1/thing", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


def test_not_found_and_unauthorized(things):
    assert things.get("/api/v1/nothing").status_code == 404
    assert things.get("/api/v1/thing/999").status_code == 404
    assert things.get("/api/v1/thing/99999999999999999999999").status_code == 404
    assert things.get("/api/v1/thing/abc").status_code == 404
    anonymous = things.client.get("/api/v1/thing")
    assert anonymous.status_code == 401 and "Bearer" in anonymous.json()["error"]["message"]
    forged = things.client.get("/api/v1/thing", headers={"Authorization": "Bearer mcrm_nope"})
    assert forged.status_code == 401


def test_stale_version_is_409_and_nothing_is_lost(things):
    record = things.post("/api/v1/thing", json={"name": "Ghế"}).json()
    first = things.patch(f"/api/v1/thing/{record['id']}", json={"quantity": 1, "version": 1})
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = things.patch(f"/api/v1/thing/{record['id']}", json={"quantity": 2, "version": 1})
    assert stale.status_code == 409
    assert stale.json()["error"]["current_version"] == 2
    assert things.get(f"/api/v1/thing/{record['id']}").json()["quantity"] == 1


def test_two_connections_update_the_same_version_concurrently(things):
    record = things.post("/api/v1/thing", json={"name": "Tủ"}).json()
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def patch(quantity: int) -> None:
        barrier.wait()
        response = things.patch(f"/api/v1/thing/{record['id']}",
                                json={"quantity": quantity, "version": 1})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=patch, args=(q,)) for q in (5, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 409]
    final = things.get(f"/api/v1/thing/{record['id']}").json()
    assert final["version"] == 2 and final["quantity"] in (5, 7)


def test_delete_and_restrict(api):
    account = api.post("/api/v1/account", json={"name": "Công ty ABC"}).json()
    contract = api.post("/api/v1/contract", json={"name": "HĐ 1", "account": "Công ty ABC"})
    assert contract.status_code == 201 and contract.json()["account"] == account["id"]
    blocked = api.delete(f"/api/v1/account/{account['id']}?version=1")
    assert blocked.status_code == 409 and "restrict" not in blocked.json()["error"]["message"]
    assert "contract.account" in blocked.json()["error"]["message"]
    assert api.delete(f"/api/v1/contract/{contract.json()['id']}",
                      headers={"If-Match": '"1"'}).status_code == 204
    assert api.delete(f"/api/v1/account/{account['id']}?version=1").status_code == 204
    assert api.get(f"/api/v1/account/{account['id']}").status_code == 404


def test_openapi_document(things):
    doc = things.get("/api/v1/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    assert {"/api/v1/thing", "/api/v1/thing/{id}", "/api/v1/part"} <= set(doc["paths"])
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    thing = doc["components"]["schemas"]["Thing"]["properties"]
    assert thing["color"]["type"] == ["string", "null"]
    assert thing["color"]["enum"] == ["red", "green", "blue", None]  # blank is a value
    assert thing["total"]["readOnly"] is True
    create = doc["components"]["schemas"]["ThingCreate"]
    assert "name" in create["required"] and "total" not in create["properties"]


def test_unknown_route_and_method_are_json(things):
    response = things.get("/api/v2/thing")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = things.put("/api/v1/thing/1", json={})
    assert response.status_code == 405


def test_a_hidden_field_never_appears_in_json(make_api):
    admin = make_api()
    rep = make_api(username="lan", role="sales_rep")
    created = admin.post("/api/v1/contact", json={"last_name": "Lý", "email": "ly@x.vn",
                                                   "income": 42_000_000}).json()
    assert created["income"] == 42_000_000
    assert "income" not in rep.get(f"/api/v1/contact/{created['id']}").json()
    assert all("income" not in r for r in rep.get("/api/v1/contact").json()["items"])
    assert rep.get("/api/v1/contact", params={"income__gt": "1"}).status_code == 400
    refused = rep.post("/api/v1/contact", json={"last_name": "X", "email": "x@x.vn",
                                                 "income": 1})
    assert refused.status_code == 422 and "income" in refused.json()["error"]["fields"]
