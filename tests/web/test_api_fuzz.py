"""Whatever a client sends, the API answers with a clear status, never a 500, and a refused
body leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ALLTYPES = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "alltypes"
FIELDS = ["name", "notes", "email", "phone", "website", "quantity", "weight", "price",
          "discount", "made_on", "checked_at", "active", "color", "tags", "parent", "buyer",
          "total", "code", "manual", "nonsense", "id", "version"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
    | st.sampled_from(["2026-02-30", "31/12/2026", "red", "Blue", "0912 345 678",
                       "a@b.vn", "x" * 300, "<script>", "'; DROP TABLE thing; --", "1e400"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=2),
    max_leaves=4)
bodies = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)


@pytest.fixture
def things(make_api):
    return make_api(ALLTYPES)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_any_json_body_gets_a_clear_answer(things, body):
    before = things.get("/api/v1/thing").json()["total"]
    response = things.post("/api/v1/thing", json=body)
    assert response.status_code in (201, 400, 422), response.text
    error = response.json().get("error")
    if response.status_code == 201:
        assert things.get("/api/v1/thing").json()["total"] == before + 1
    else:
        assert error["message"]
        assert things.get("/api/v1/thing").json()["total"] == before


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.sampled_from(FIELDS + ["search", "sort", "page", "page_size",
                                                        "filter", "quantity__gt",
                                                        "made_on__le", "color__in"]),
                              st.text(max_size=30), max_size=4))
def test_any_query_string_gets_a_clear_answer(things, params):
    response = things.get("/api/v1/thing", params=params)
    assert response.status_code in (200, 400), response.text
