"""Leak 6: "did you mean 'income'?" told a sales rep, from whom `income` is hidden, that the
field exists. An unknown field and a hidden one get one message, and no hint names a hidden
field: on a save, in a filter, in a sort."""

from __future__ import annotations

import pytest

from metacrm.engine import query, records
from metacrm.engine.errors import BadRequest, ValidationFailed


def message_for(ctx, values) -> str:
    with pytest.raises(ValidationFailed) as caught:
        records.create(ctx, "contact", {"last_name": "Lê", "email": "le@vidu.vn", **values})
    (name, errors), = caught.value.errors.items()
    return errors[0].message


def test_a_save_never_hints_at_a_hidden_field(reps):
    lan = reps.site.ctx("lan")
    near = message_for(lan, {"incom": 1})
    assert "income" not in near
    hidden = message_for(lan, {"income": 1})
    unknown = message_for(lan, {"zzzzzz": 1})
    assert hidden.replace("income", "X") == unknown.replace("zzzzzz", "X")
    # a role that may see the field is helped
    assert "did you mean 'income'" in message_for(reps.site.ctx("admin"), {"incom": 1})


def test_filters_and_sorts_never_hint_at_a_hidden_field(reps):
    lan = reps.site.ctx("lan")
    obj = lan.model.objects["contact"]
    for params in ({"incom__gt": "1"}, {"filter": "incom > 1"}):
        with pytest.raises(BadRequest) as caught:
            query.parse_params(lan, obj, params)
        assert "income" not in caught.value.message
    with pytest.raises(BadRequest) as caught:
        query.parse_sort(lan, obj, "incom")
    assert "income" not in caught.value.message
    answer = reps.api("lan").request("POST", "/api/v1/contact", json={
        "last_name": "Lê", "email": "le@vidu.vn", "incom": 5})
    assert answer.status_code == 422 and "income" not in answer.text


def test_the_report_builder_filter_treats_a_hidden_field_as_unknown(reps):
    answers = []
    for field in ("incom", "income", "zzzzz"):
        preview = reps.site.post("/reports/preview", {
            "name": "mine", "object": "contact", "group_1": "city", "measure_1": "count",
            "chart": "bar", "filter": f"{field} > 0"})
        assert preview.status_code in (200, 422)
        assert "did you mean" not in preview.text and "may not see" not in preview.text
        answers.append(preview.text.replace(field, "X"))
    assert answers[1] == answers[2]
