"""Finding 15: a PATCH without `version` silently overwrote a change made in between. Over
the API a PATCH or DELETE must now say which row version it changes: 428 without one, 409
with the current version when it is stale."""

from __future__ import annotations


def test_a_change_without_a_version_is_refused_and_nothing_changes(reps):
    api = reps.api("lan")
    path = f"/api/v1/opportunity/{reps.lan_opportunity['id']}"
    missing = api.request("PATCH", path, json={"amount": 1})
    assert missing.status_code == 428
    assert missing.json()["error"]["code"] == "version_required"
    assert missing.json()["error"]["parameter"] == "version"
    assert api.request("DELETE", path).status_code == 428
    assert api.get(path).json()["amount"] == 20_000_000
    changed = api.request("PATCH", path, json={"amount": 1, "version": 1})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    stale = api.request("PATCH", path, json={"amount": 2, "version": 1})
    assert stale.status_code == 409 and stale.json()["error"]["current_version"] == 2
    by_header = api.request("PATCH", path, json={"amount": 3}, headers={"If-Match": '"2"'})
    assert by_header.status_code == 200
    assert api.request("DELETE", path + "?version=2").status_code == 409
    assert api.request("DELETE", path + "?version=3").status_code == 204


def test_the_openapi_document_says_so(reps):
    doc = reps.api("lan").get("/api/v1/openapi.json").json()
    assert doc["components"]["schemas"]["OpportunityUpdate"]["required"] == ["version"]
    item = doc["paths"]["/api/v1/opportunity/{id}"]
    assert "428" in item["patch"]["responses"] and "428" in item["delete"]["responses"]
