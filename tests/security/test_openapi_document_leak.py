"""Finding 16, the API document: one document for every role named the fields a sales rep
may not see (`contact.income`) and offered them in bodies, filters and sorts the server then
refused. Asked with a token, the document is now that user's."""

from __future__ import annotations


def test_each_user_reads_the_document_of_their_role(reps):
    """With a token the document is that user's: a field hidden from their role is in no
    schema, no filter and no sort; an object they may not read has no paths; and without the
    assign right, a record's owner can only be themselves."""
    whole = reps.site.client.get("/api/v1/openapi.json").json()
    mine = reps.api("lan").get("/api/v1/openapi.json").json()
    assert "income" in whole["components"]["schemas"]["Contact"]["properties"]
    contact = mine["components"]["schemas"]["Contact"]["properties"]
    assert "income" not in contact and "last_name" in contact
    listing = mine["paths"]["/api/v1/contact"]["get"]["parameters"]
    assert not [p for p in listing if p["name"] == "income"]
    sort = next(p for p in listing if p["name"] == "sort")["schema"]["x-pattern"]
    assert "income" not in sort and "account\\.name" in sort
    lan = reps.site.ctx("lan").user
    owner = mine["components"]["schemas"]["ContactCreate"]["properties"]["owner"]
    assert owner["enum"] == [lan.id, None]
    assert "enum" not in whole["components"]["schemas"]["ContactCreate"]["properties"]["owner"]
    assert reps.api("lan").get("/api/v1/openapi.json", headers={
        "Authorization": "Bearer wrong"}).status_code == 401
