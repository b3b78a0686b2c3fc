"""Issue 14, item 1: record actions. Buttons declared in an object's `actions:`, run as the
user who clicks, in one transaction, through the record service; checked at load."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from metacrm.engine import actions, attachments, records, workflows
from metacrm.engine.errors import NotFound, PermissionDenied, ValidationFailed
from metacrm.engine.users import create_user
from metacrm.metadata import MetadataError, load
from tests.conftest import SHOP

ACTIONS = """
extend: customer
fields:
  status:
    type: picklist
    options: [active, vip, closed]
    default: active
  promoted_on: {type: date}
actions:
  promote:
    label: {en: Promote to VIP, vi: Nâng lên VIP}
    if: "status == 'active'"
    roles: [clerk]
    confirm: {en: "Promote {name}?", vi: "Nâng {name} lên VIP?"}
    inputs:
      since: {type: date, label: {en: Since, vi: Từ ngày}, default: "=today()", required: true}
      gift: {type: currency, default: "=visits * 1000"}
      with_order: {type: checkbox, default: true}
      level: {field: level}
    do:
      - set: {status: vip, promoted_on: "{input.since}", level: "{input.level}"}
      - create:
          object: purchase
          as: welcome
          if: "input.with_order"
          values: {code: "VIP-{name}", total: "=input.gift", buyer: "{id}"}
      - notify: {to: "{owner}", message: {en: "{name} is VIP", vi: "{name} lên VIP"}}
    open: welcome
  close:
    label: {en: Close, vi: Đóng}
    do:
      - set: {status: closed}
---
extend: purchase
fields:
  total: {min: 0}
"""
ROLES = """
roles:
  clerk:
    label: {en: Clerk, vi: Nhân viên}
    objects:
      customer: {create: true, read: all, edit: all, delete: none}
      purchase: {create: true, read: all, edit: own, delete: none}
  viewer:
    label: {en: Viewer, vi: Người xem}
    objects:
      customer: {read: all}
      purchase: {read: all}
  admin:
    label: Admin
    all: true
"""


@pytest.fixture
def shop(make_app_dir, make_runtime):
    app = make_app_dir({"objects/status.yaml": ACTIONS, "roles.yaml": ROLES}, base=SHOP)
    rt = make_runtime(app)
    with rt.db.write() as conn:
        users = {name: create_user(conn, rt.schema, name, role=name)
                 for name in ("clerk", "viewer", "admin")}
    return rt, {name: rt.context(user) for name, user in users.items()}


def test_an_action_runs_its_steps_as_the_user_and_opens_what_it_made(shop):
    rt, ctx = shop
    lan = records.create(ctx["clerk"], "customer", {"name": "Lan", "visits": 7,
                                                    "level": "silver"})
    outcome = actions.run(ctx["clerk"], "customer", lan["id"], "promote",
                          {"since": "2026-11-01", "level": "gold"})
    assert outcome.record["status"] == "vip" and outcome.record["level"] == "gold"
    assert str(outcome.record["promoted_on"]) == "2026-11-01"
    welcome = records.get(ctx["clerk"], "purchase", outcome.made["welcome"][1])
    assert welcome["code"] == "VIP-Lan" and welcome["total"] == 7000  # the default: visits
    assert welcome["buyer"] == lan["id"] and welcome["created_by"] == ctx["clerk"].user.id
    assert outcome.opens == ("purchase", welcome["id"])
    assert outcome.changed == ["status", "promoted_on", "level"]
    # the run log and the timeline say who ran what
    [run] = workflows.runs(ctx["admin"], object_name="customer", record_id=lan["id"])
    assert run["trigger"] == "action" and run["user_id"] == ctx["clerk"].user.id
    assert [a["action"] for a in run["actions"]] == ["run", "set", "create", "notify"]
    [event] = [e for e in attachments.timeline(ctx["clerk"], "customer", lan["id"])
               if e.kind == "action"]
    assert event.user == "clerk" and event.body == "Promote to VIP"
    # its `if` no longer holds: the button is gone and a second run is refused
    with rt.db.read() as conn:
        record = records.get(ctx["clerk"], "customer", lan["id"], conn=conn)
        assert [a.name for a in actions.offered(ctx["clerk"], conn,
                                                rt.model.objects["customer"], record,
                                                may_edit=True)] == ["close"]
    with pytest.raises(PermissionDenied, match="does not apply"):
        actions.run(ctx["clerk"], "customer", lan["id"], "promote")


def test_inputs_are_checked_like_fields_and_nothing_is_half_done(shop):
    rt, ctx = shop
    lan = records.create(ctx["clerk"], "customer", {"name": "Lan"})
    with pytest.raises(ValidationFailed) as refused:
        actions.run(ctx["clerk"], "customer", lan["id"], "promote",
                    {"since": "not a date", "level": "platinum", "colour": "red"})
    assert set(refused.value.errors) == {"since", "level", "colour"}
    # the create step fails (a purchase's total is at least 0): the set before it is rolled
    # back with it
    hoa = records.create(ctx["clerk"], "customer", {"name": "Hoa"})
    with pytest.raises(ValidationFailed, match="could not create"):
        actions.run(ctx["clerk"], "customer", hoa["id"], "promote", {"gift": -5})
    assert records.get(ctx["clerk"], "customer", hoa["id"])["status"] == "active"
    with rt.db.read() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(
            rt.schema.table("purchase"))) == 0
    # a step the checkbox turns off is skipped, and the action opens the record itself
    outcome = actions.run(ctx["clerk"], "customer", lan["id"], "promote",
                          {"with_order": False})
    assert outcome.made == {} and outcome.opens == ("customer", lan["id"])


def test_who_may_run_an_action(shop):
    rt, ctx = shop
    lan = records.create(ctx["admin"], "customer", {"name": "Lan"})
    with pytest.raises(PermissionDenied, match="clerk may"):  # roles: [clerk]
        actions.run(ctx["viewer"], "customer", lan["id"], "promote")
    with pytest.raises(PermissionDenied):  # no roles: those who may edit the record
        actions.run(ctx["viewer"], "customer", lan["id"], "close")
    assert actions.run(ctx["admin"], "customer", lan["id"], "close").record["status"] == \
        "closed"
    with pytest.raises(NotFound, match="no action 'reopen'"):
        actions.run(ctx["admin"], "customer", lan["id"], "reopen")


def test_an_action_on_many_records_says_which_were_refused(shop):
    rt, ctx = shop
    ids = [records.create(ctx["clerk"], "customer", {"name": n})["id"] for n in "ABC"]
    actions.run(ctx["clerk"], "customer", ids[1], "close")
    done, refused = actions.run_many(ctx["clerk"], "customer", ids, "promote",
                                     {"with_order": False})
    assert [o.record["id"] for o in done] == [ids[0], ids[2]]
    assert list(refused) == [ids[1]] and "does not apply" in refused[ids[1]].message


@pytest.mark.parametrize("change, message", [
    ("roles: [clerk]", "roles: [clerks]"),
    ("open: welcome", "open: wellcome"),
    ('total: "=input.gift"', 'total: "=input.gif"'),
    ('"VIP-{name}"', '"VIP-{new.welcome.code}"'),
    ("level: {field: level}", "level: {field: levle}"),
    ("if: \"input.with_order\"", "if: \"input.with_orders\""),
])
def test_a_broken_action_is_refused_at_load_with_its_line(make_app_dir, change, message):
    app = make_app_dir({"objects/status.yaml": ACTIONS.replace(change, message),
                        "roles.yaml": ROLES}, base=SHOP)
    with pytest.raises(MetadataError) as refused:
        load(app)
    text = str(refused.value)
    assert "status.yaml:" in text and "actions.promote" in text
    hint = {"roles: [clerks]": "unknown role 'clerks'",
            "open: wellcome": "did you mean 'welcome'",
            'total: "=input.gif"': "did you mean 'gift'",
            '"VIP-{new.welcome.code}"': "no earlier step made a record named 'welcome'",
            "level: {field: levle}": "did you mean 'level'",
            "if: \"input.with_orders\"": "did you mean 'with_order'"}[message]
    assert hint in text
