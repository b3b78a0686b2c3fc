"""Issue 14, item 5: approvals. The default CRM's quote discount approval (a role approves),
and an app of its own with two steps (the owner's team manager, then a named user)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from metacrm.engine import approvals, attachments, records
from metacrm.engine.errors import Conflict, Locked, PermissionDenied, ValidationFailed
from metacrm.engine.query import ListQuery, condition, list_records
from metacrm.engine.users import add_to_team, create_team, create_user, find_user
from metacrm.metadata import MetadataError, load
from tests.conftest import SHOP


@pytest.fixture
def people(runtime):
    with runtime.db.write() as conn:
        made = {name: create_user(conn, runtime.schema, name, role=role)
                for name, role in (("lan", "sales_rep"), ("mai", "sales_manager"),
                                   ("hung", "sales_rep"))}
        team = create_team(conn, runtime.schema, "Kinh doanh 1", manager_id=made["mai"].id)
        for name in ("lan", "mai"):
            add_to_team(conn, runtime.schema, team, made[name].id)
    return {name: runtime.context(user) for name, user in
            ((n, find_user_by(runtime, n)) for n in made)}


def find_user_by(runtime, name):
    with runtime.db.read() as conn:
        return find_user(conn, runtime.schema, name)  # with the teams made after it


def _notes(runtime, user_id):
    table = runtime.schema.system["mc_notification"]
    with runtime.db.read() as conn:
        return list(conn.scalars(sa.select(table.c.message).where(table.c.user_id == user_id)))


def _quote(ctx, discount):
    quote = records.create(ctx, "quote", {"name": "Lọc nước cho văn phòng"})
    records.create(ctx, "quote_line", {"quote": quote["id"], "description": "Máy lọc",
                                       "quantity": 2, "unit_price": 5000000,
                                       "discount": discount})
    return quote


def test_a_big_discount_needs_the_managers_yes_before_the_quote_goes_out(runtime, people):
    lan, mai, hung = people["lan"], people["mai"], people["hung"]
    quote = _quote(lan, 20)
    with pytest.raises(ValidationFailed) as refused:
        records.update(lan, "quote", quote["id"], {"status": "sent"})
    assert refused.value.errors["_record"][0].code == "needs_approval"
    assert approvals.submit(lan, "quote", quote["id"], "discount") == "pending"
    assert any("lan đề nghị anh/chị duyệt" in m for m in _notes(runtime, mai.user.id))
    # pending: locked for people, and only its approvers decide
    with pytest.raises(Locked) as locked:
        records.update(lan, "quote", quote["id"], {"name": "Đổi tên"})
    assert locked.value.status == 409 and locked.value.code == "awaiting_approval"
    with pytest.raises(PermissionDenied):
        approvals.decide(lan, "quote", quote["id"], "discount", True)
    with pytest.raises(Conflict):
        approvals.submit(lan, "quote", quote["id"], "discount")
    assert [(w.object, w.record_id) for w in approvals.awaiting(mai)] == [("quote",
                                                                           quote["id"])]
    assert approvals.awaiting(hung) == []
    assert approvals.decide(mai, "quote", quote["id"], "discount", True,
                            "Khách quen, đồng ý") == "approved"
    assert any("đã duyệt" in m for m in _notes(runtime, lan.user.id))
    assert records.update(lan, "quote", quote["id"], {"status": "sent"})["status"] == "sent"
    kinds = [(e.kind, e.file_name) for e in attachments.timeline(lan, "quote", quote["id"])
             if e.kind == "approval"]
    assert sorted(kinds) == [("approval", "approved"), ("approval", "submitted")]
    # the discount moves after the yes: the approval is withdrawn, the quote needs a new one
    line = _first_line(lan, quote["id"])
    records.update(lan, "quote_line", line["id"], {"discount": 25})
    with runtime.db.read() as conn:
        steps = approvals.history(lan, conn, "quote", quote["id"])
    assert approvals.status(steps, runtime.model.approvals_of("quote")["discount"]) == \
        "withdrawn"
    with pytest.raises(ValidationFailed):  # accepted is a `before` state too
        records.update(lan, "quote", quote["id"], {"status": "accepted"})


def _first_line(ctx, quote_id):
    obj = ctx.model.objects["quote_line"]
    return list_records(ctx, "quote_line", ListQuery(
        where=condition(ctx, obj, "quote", "eq", quote_id))).items[0]


def test_a_rejected_quote_can_be_changed_and_submitted_again(runtime, people):
    lan, mai = people["lan"], people["mai"]
    quote = _quote(lan, 30)
    approvals.submit(lan, "quote", quote["id"], "discount")
    assert approvals.decide(mai, "quote", quote["id"], "discount", False,
                            "Chiết khấu quá cao") == "rejected"
    assert any("từ chối" in m and "Chiết khấu quá cao" in m
               for m in _notes(runtime, lan.user.id))
    records.update(lan, "quote", quote["id"], {"name": "Báo giá mới"})  # no longer locked
    assert approvals.submit(lan, "quote", quote["id"], "discount") == "pending"
    with pytest.raises(Conflict, match="does not need"):  # a small discount needs none
        approvals.submit(lan, "quote", _quote(lan, 10)["id"], "discount")


TWO_STEPS = """
extend: customer
approvals:
  credit:
    label: {en: Credit approval, vi: Duyệt hạn mức}
    when: "visits > 10"
    steps:
      - {manager: owner}
      - {user: boss, label: {en: Director, vi: Giám đốc}}
"""


def test_steps_go_to_the_owners_team_manager_then_a_named_user(make_app_dir, make_runtime):
    rt = make_runtime(make_app_dir({"objects/credit.yaml": TWO_STEPS}, base=SHOP))
    with rt.db.write() as conn:
        clerk = create_user(conn, rt.schema, "clerk", role="clerk")
        chief = create_user(conn, rt.schema, "chief", role="clerk")
        boss = create_user(conn, rt.schema, "boss", role="clerk")
    ctx = {u.username: rt.context(u) for u in (clerk, chief, boss)}
    lan = records.create(ctx["clerk"], "customer", {"name": "Lan", "visits": 12})
    with pytest.raises(Conflict, match="nobody can approve step 1"):  # clerk has no team
        approvals.submit(ctx["clerk"], "customer", lan["id"], "credit")
    with rt.db.write() as conn:
        team = create_team(conn, rt.schema, "Bán lẻ", manager_id=chief.id)
        add_to_team(conn, rt.schema, team, clerk.id)
    clerk_ctx = rt.context(clerk)
    approvals.submit(clerk_ctx, "customer", lan["id"], "credit")
    assert [w.step for w in approvals.awaiting(ctx["chief"])] == [0]
    assert approvals.awaiting(ctx["boss"]) == []
    assert approvals.decide(ctx["chief"], "customer", lan["id"], "credit", True) == "pending"
    assert [w.step for w in approvals.awaiting(ctx["boss"])] == [1]
    assert approvals.decide(ctx["boss"], "customer", lan["id"], "credit", True) == "approved"


@pytest.mark.parametrize("change, message", [
    ("{manager: owner}", "{manager: city}"),
    ("{manager: owner}", "{role: bosses}"),
    ('when: "visits > 10"', 'when: "visit > 10"'),
])
def test_a_broken_approval_is_refused_at_load(make_app_dir, change, message):
    app = make_app_dir({"objects/credit.yaml": TWO_STEPS.replace(change, message)},
                       base=SHOP)
    with pytest.raises(MetadataError) as refused:
        load(app)
    text = str(refused.value)
    assert "credit.yaml:" in text and "approvals.credit" in text
    assert {"{manager: city}": "must be a user field of customer",
            "{role: bosses}": "unknown role 'bosses'",
            'when: "visit > 10"': "did you mean 'visits'"}[message] in text


def test_an_extension_removes_an_approval(make_app_dir):
    app = make_app_dir({"objects/credit.yaml": TWO_STEPS, "objects/less.yaml":
                        "extend: customer\nremove_approvals: [credit]\n"}, base=SHOP)
    assert dict(load(app).approvals_of("customer")) == {}
    wrong = make_app_dir({"objects/credit.yaml": TWO_STEPS, "objects/less.yaml":
                          "extend: customer\nremove_approvals: [credt]\n"}, base=SHOP)
    with pytest.raises(MetadataError) as refused:
        load(wrong)
    assert "less.yaml" in str(refused.value)
    assert "cannot remove the approval 'credt'" in str(refused.value)
    assert "did you mean 'credit'" in str(refused.value)
