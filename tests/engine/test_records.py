"""The record service (engine/records.py): coercion, defaults, checks, formulas, lookups,
on_delete rules, rollups, row versions and the audit trail, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from metacrm.engine import records
from metacrm.engine.errors import Conflict, NotFound, ValidationFailed
from metacrm.engine.users import create_user

NOW = datetime(2026, 3, 8, 20, 0, tzinfo=UTC)  # already 9 March 2026 in Hà Nội (UTC+7)

PROBE_APP = {
    "app.yaml": """
        app: probe
        label: Probe
        locale: en
        timezone: Asia/Ho_Chi_Minh
        navigation: [visit]
    """,
    "objects/visit.yaml": """
        object: visit
        label: Visit
        title: "{name}"
        fields:
          name: {type: text, required: true}
          starts_at: {type: datetime}
          done: {type: checkbox}
          urgent: {type: checkbox, default: true}
          score: {type: integer, min: 1, max: 5}
          day: {type: date, min: "2000-01-01"}
          kind: {type: picklist, options: [call, {value: fax, active: false}, meeting]}
    """,
}


def admin_context(rt):
    with rt.db.write() as conn:
        user = create_user(conn, rt.schema, "admin", role="admin", password="secret-pass")
    return rt.context(user)


def new_contact(ctx, **values) -> dict:
    """A valid contact: the validation rule wants an email or a phone."""
    values.setdefault("last_name", "Nguyễn")
    if "email" not in values and "phone" not in values:
        values["phone"] = "0912 345 678"
    return records.create(ctx, "contact", values)


def codes(excinfo: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, list[str]]:
    return {name: [e.code for e in errs] for name, errs in excinfo.value.errors.items()}


def case_id(values: dict) -> str:
    return ",".join(f"{name}={str(raw)[:24]}" for name, raw in values.items())


def row_count(ctx, object_name: str) -> int:
    with ctx.db.read() as conn:
        return conn.scalar(select(func.count()).select_from(ctx.schema.table(object_name)))


def audit_count(ctx) -> int:
    with ctx.db.read() as conn:
        return conn.scalar(select(func.count()).select_from(ctx.schema.system["mc_audit"]))


def audit_actions(ctx, object_name: str, record_id: int) -> list[str]:
    """The audit rows written for one record, read straight from the table."""
    audit = ctx.schema.system["mc_audit"]
    with ctx.db.read() as conn:
        return list(conn.scalars(select(audit.c.action).where(
            audit.c.object == object_name, audit.c.record_id == record_id).order_by(audit.c.id)))


@pytest.fixture
def clocked(make_runtime):
    """An admin's context on the default CRM whose clock stands still at NOW."""
    return admin_context(make_runtime(clock=lambda: NOW))


@pytest.fixture
def probe(make_app_dir, make_runtime):
    """An admin's context on a small app with datetimes, checkboxes, ranges, inactive options."""
    return admin_context(make_runtime(make_app_dir(PROBE_APP)))


# --- create, get, defaults -----------------------------------------------------------------


def test_create_stores_the_record_with_its_system_fields(ctx):
    created = new_contact(ctx, first_name="Văn Đức", city="Huế")
    stored = records.get(ctx, "contact", created["id"])
    assert stored["first_name"] == "Văn Đức"
    assert stored["city"] == "Huế"
    assert stored["owner"] == stored["created_by"] == stored["updated_by"] == ctx.user.id
    assert stored["version"] == 1
    assert stored["created_at"].tzinfo is not None
    assert {k: stored[k] for k in created} == created


def test_defaults_fill_untouched_fields_and_given_values_win(clocked):
    assert new_contact(clocked)["lifecycle_stage"] == "subscriber"
    assert new_contact(clocked, lifecycle_stage="customer")["lifecycle_stage"] == "customer"
    opportunity = records.create(clocked, "opportunity", {"name": "CRM"})
    assert (opportunity["probability"], opportunity["stage"]) == (Decimal("10.00"),
                                                                  "prospecting")
    order = records.get(clocked, "order", records.create(clocked, "order", {})["id"])
    assert order["order_date"] == date(2026, 3, 9)  # "=today()" in the app's time zone
    assert order["status"] == "draft"


def test_checkbox_defaults(probe):
    visit = records.get(probe, "visit", records.create(probe, "visit", {"name": "A"})["id"])
    assert (visit["done"], visit["urgent"]) == (False, True)


def test_unknown_object_or_record_is_not_found(ctx):
    with pytest.raises(NotFound):
        records.get(ctx, "contact", 404)
    with pytest.raises(NotFound):
        records.update(ctx, "contact", 404, {"city": "Huế"})
    with pytest.raises(NotFound):
        records.delete(ctx, "contact", 404)
    with pytest.raises(NotFound):
        records.create(ctx, "spaceship", {"name": "x"})


# --- coercion and checks -------------------------------------------------------------------

COERCED = [
    ("contact", "email", " An.Nguyen@Example.VN ", "an.nguyen@example.vn"),
    ("contact", "email", "Đức@Example.VN", "đức@example.vn"),
    ("contact", "phone", "0912 345 678", "+84912345678"),
    ("contact", "phone", "+84 912-345-678", "+84912345678"),
    ("contact", "phone", "028 3822 1234", "+842838221234"),
    ("contact", "birthdate", "1990-03-15", date(1990, 3, 15)),
    ("contact", "birthdate", "15/03/1990", date(1990, 3, 15)),
    ("contact", "children", "2", 2),
    ("contact", "income", "1 500 000", Decimal("1500000.00")),
    ("contact", "income", 12.345, Decimal("12.35")),
    ("contact", "lifecycle_stage", "MQL", "marketing_qualified_lead"),
    ("contact", "lifecycle_stage", "Khách hàng", "customer"),
    ("contact", "lifecycle_stage", "CUSTOMER", "customer"),
    ("contact", "interests", "Sports;du lịch", ["travel", "sports"]),
    ("contact", "interests", ["reading", "Ẩm thực", "reading"], ["food", "reading"]),
    ("contact", "interests", "", []),
    ("account", "website", "example.vn/about", "https://example.vn/about"),
    ("account", "industry", "Bán lẻ", "retail"),
]


@pytest.mark.parametrize(("object_name", "name", "raw", "stored"), COERCED)
def test_values_are_coerced_and_stored(ctx, object_name, name, raw, stored):
    valid = {"contact": {"last_name": "Lê", "phone": "0912345678"},
             "account": {"name": "Công ty ABC"}}
    created = records.create(ctx, object_name, {**valid[object_name], name: raw})
    assert created[name] == stored
    assert records.get(ctx, object_name, created["id"])[name] == stored


REFUSED = [
    ({"email": "not-an-email"}, "email", "invalid_email"),
    ({"email": "an..binh@example.vn"}, "email", "invalid_email"),
    ({"phone": "12345"}, "phone", "invalid_phone"),
    ({"birthdate": "31/02/2024"}, "birthdate", "invalid_date"),
    ({"children": "two"}, "children", "invalid_number"),
    ({"children": -1}, "children", "too_small"),
    ({"income": "-0.01"}, "income", "too_small"),
    ({"income": "1e19"}, "income", "out_of_range"),
    ({"income": "1e30"}, "income", "out_of_range"),  # BUG: decimal.InvalidOperation escapes
    ({"lifecycle_stage": "vip"}, "lifecycle_stage", "invalid_option"),
    ({"interests": "travel;golf"}, "interests", "invalid_option"),
    ({"first_name": "x" * 81}, "first_name", "too_long"),
    ({"last_name": "   "}, "last_name", "required"),
    ({"first_name": ["An"]}, "first_name", "invalid"),
    ({"age": 5}, "age", "read_only"),
    ({"created_at": "2020-01-01T00:00:00"}, "created_at", "read_only"),
    ({"nickname": "Bé"}, "nickname", "unknown_field"),
    ({"account": 999}, "account", "invalid_reference"),
    ({"owner": "nobody"}, "owner", "invalid_reference"),
]


@pytest.mark.parametrize(("values", "name", "code"), REFUSED,
                         ids=[case_id(values) for values, _, _ in REFUSED])
def test_bad_values_are_refused_and_nothing_is_written(ctx, values, name, code):
    with pytest.raises(ValidationFailed) as excinfo:
        records.create(ctx, "contact", {"last_name": "Lê", "phone": "0912345678", **values})
    assert code in codes(excinfo).get(name, []), codes(excinfo)
    assert row_count(ctx, "contact") == 0
    assert audit_count(ctx) == 0


def test_every_problem_is_reported_at_once(ctx):
    with pytest.raises(ValidationFailed) as excinfo:
        records.create(ctx, "contact", {"first_name": "x" * 90, "email": "@", "children": "x"})
    assert codes(excinfo) == {"first_name": ["too_long"], "email": ["invalid_email"],
                              "children": ["invalid_number"], "last_name": ["required"]}


PROBE_REFUSED = [
    ({"score": 6}, "too_large"),
    ({"score": "0"}, "too_small"),
    ({"day": "31/12/1999"}, "too_small"),
    ({"kind": "fax"}, "inactive_option"),
    ({"done": "maybe"}, "invalid_boolean"),
    ({"starts_at": "08/03/2026 9h30"}, "invalid_datetime"),
    ({"starts_at": "2026-02-30T10:00:00"}, "invalid_datetime"),
    ({"starts_at": "0001-01-01T00:00:00"}, "invalid_datetime"),  # BUG: OverflowError escapes
]


@pytest.mark.parametrize(("values", "code"), PROBE_REFUSED,
                         ids=[case_id(values) for values, _ in PROBE_REFUSED])
def test_range_option_and_datetime_checks(probe, values, code):
    with pytest.raises(ValidationFailed) as excinfo:
        records.create(probe, "visit", {"name": "A", **values})
    assert [code] in codes(excinfo).values(), codes(excinfo)
    assert row_count(probe, "visit") == 0


@pytest.mark.parametrize(("raw", "utc"), [
    ("2026-03-08T09:30:00", datetime(2026, 3, 8, 2, 30, tzinfo=UTC)),
    ("2026-03-08 09:30", datetime(2026, 3, 8, 2, 30, tzinfo=UTC)),
    ("2026-03-08T09:30:00Z", datetime(2026, 3, 8, 9, 30, tzinfo=UTC)),
    ("2026-03-08T09:30:00+09:00", datetime(2026, 3, 8, 0, 30, tzinfo=UTC)),
    ("2026-03-08", datetime(2026, 3, 7, 17, 0, tzinfo=UTC)),
])
def test_datetimes_are_read_in_the_app_timezone_and_stored_in_utc(probe, raw, utc):
    created = records.create(probe, "visit", {"name": "A", "starts_at": raw})
    assert records.get(probe, "visit", created["id"])["starts_at"] == utc
    with probe.db.read() as conn:
        stored = conn.exec_driver_sql("SELECT starts_at FROM visit").scalar()
    assert str(stored).startswith(utc.strftime("%Y-%m-%d %H:%M"))  # naive UTC in the column


def test_required_and_unique_on_update(ctx):
    first = new_contact(ctx, email="an@example.vn")
    second = new_contact(ctx, email="binh@example.vn")
    with pytest.raises(ValidationFailed) as excinfo:
        new_contact(ctx, email="AN@Example.vn")
    assert codes(excinfo) == {"email": ["unique"]}
    records.update(ctx, "contact", first["id"], {"email": "an@example.vn", "city": "Huế"})
    with pytest.raises(ValidationFailed) as excinfo:
        records.update(ctx, "contact", second["id"], {"email": "an@example.vn"})
    assert codes(excinfo) == {"email": ["unique"]}
    with pytest.raises(ValidationFailed) as excinfo:
        records.update(ctx, "contact", second["id"], {"last_name": None})
    assert codes(excinfo) == {"last_name": ["required"]}
    assert records.get(ctx, "contact", second["id"])["last_name"] == "Nguyễn"


# --- formulas and validation rules ---------------------------------------------------------


def test_age_is_computed_with_today_in_the_app_timezone_and_kept_current(clocked):
    contact = new_contact(clocked, birthdate="09/03/1990")
    assert records.get(clocked, "contact", contact["id"])["age"] == 36  # birthday today
    updated = records.update(clocked, "contact", contact["id"], {"birthdate": "1990-03-10"})
    assert updated["age"] == 35
    assert records.history(clocked, "contact", contact["id"])[-1]["changes"]["age"] == [36, 35]
    assert records.update(clocked, "contact", contact["id"], {"birthdate": None})["age"] is None


def test_opportunity_formulas_are_stored_and_recomputed(ctx):
    opp = records.create(ctx, "opportunity", {"name": "ERP", "amount": "1000", "probability": 25})
    assert (opp["weighted_amount"], opp["is_closed"]) == (Decimal("250.00"), False)
    opp = records.update(ctx, "opportunity", opp["id"], {"stage": "Thành công"})
    assert (opp["stage"], opp["is_closed"]) == ("won", True)
    opp = records.update(ctx, "opportunity", opp["id"], {"probability": "50"})
    assert opp["weighted_amount"] == Decimal("500.00")
    opp = records.update(ctx, "opportunity", opp["id"], {"amount": None})
    stored = records.get(ctx, "opportunity", opp["id"])
    assert (stored["weighted_amount"], stored["is_closed"]) == (None, True)
    records.update(ctx, "opportunity", opp["id"], {"is_closed": True})  # echoing is allowed
    with pytest.raises(ValidationFailed) as excinfo:
        records.update(ctx, "opportunity", opp["id"], {"weighted_amount": 1})
    assert codes(excinfo) == {"weighted_amount": ["read_only"]}


def test_validation_rule_blocks_the_save_with_its_message(ctx, runtime):
    with pytest.raises(ValidationFailed) as excinfo:
        records.create(ctx, "contact", {"last_name": "Lê"})
    assert [(e.code, e.message) for e in excinfo.value.errors["_record"]] == [
        ("validation_rule", "Cần email hoặc số điện thoại")]
    english = runtime.context(ctx.user, locale="en")
    with pytest.raises(ValidationFailed) as excinfo:
        records.create(english, "contact", {"last_name": "Lê", "email": ""})
    assert excinfo.value.errors["_record"][0].message == "Give an email or a phone number"
    assert (row_count(ctx, "contact"), audit_count(ctx)) == (0, 0)


def test_validation_rule_on_update_reads_the_unchanged_fields_too(ctx):
    contract = records.create(ctx, "contract", {"name": "Bảo trì", "start_date": "01/06/2026"})
    with pytest.raises(ValidationFailed) as excinfo:
        records.update(ctx, "contract", contract["id"], {"end_date": "31/05/2026"})
    assert codes(excinfo) == {"_record": ["validation_rule"]}
    stored = records.get(ctx, "contract", contract["id"])
    assert (stored["end_date"], stored["version"]) == (None, 1)
    assert len(records.history(ctx, "contract", contract["id"])) == 1


# --- autonumbers ---------------------------------------------------------------------------


def test_autonumbers_count_per_field_and_cannot_be_set(ctx):
    with pytest.raises(ValidationFailed):
        records.create(ctx, "contract", {"value": 5})  # no name: refused before numbering
    first = records.create(ctx, "contract", {"name": "A"})
    second = records.create(ctx, "contract", {"name": "B"})
    assert (first["number"], second["number"]) == ("HD-0001", "HD-0002")
    assert records.create(ctx, "order", {})["number"] == "DH-00001"
    assert records.get(ctx, "contract", second["id"])["number"] == "HD-0002"
    with pytest.raises(ValidationFailed) as excinfo:
        records.create(ctx, "contract", {"name": "C", "number": "HD-9999"})
    assert codes(excinfo) == {"number": ["read_only"]}


# --- lookups -------------------------------------------------------------------------------


def test_lookup_given_by_id_title_or_key(ctx):
    abc = records.create(ctx, "account", {"name": "Công ty ABC", "tax_code": "0101234567"})
    records.create(ctx, "account", {"name": "Công ty XYZ"})
    for given in (abc["id"], str(abc["id"]), {"id": abc["id"]}, "Công ty ABC",
                  " công ty abc ", {"tax_code": "0101234567"}, {"name": "Công ty ABC"}):
        assert new_contact(ctx, account=given)["account"] == abc["id"], given


def test_lookup_by_contact_title_joins_last_and_first_name(ctx):
    minh = new_contact(ctx, first_name="Minh Anh", last_name="Lê")
    alone = new_contact(ctx, last_name="Trần")
    assert records.create(ctx, "order", {"contact": "Lê Minh Anh"})["contact"] == minh["id"]
    assert records.create(ctx, "order", {"contact": "Trần"})["contact"] == alone["id"]


@pytest.mark.parametrize(("given", "code"), [
    (999, "invalid_reference"),
    ("Công ty Không Có", "invalid_reference"),
    ({"tax_code": "000"}, "invalid_reference"),
    ({"colour": "red"}, "invalid_reference"),
    ("Trùng tên", "ambiguous_reference"),
    (True, "invalid_reference"),
])
def test_bad_lookups_are_refused(ctx, given, code):
    records.create(ctx, "account", {"name": "Trùng tên"})
    records.create(ctx, "account", {"name": "Trùng tên"})
    with pytest.raises(ValidationFailed) as excinfo:
        new_contact(ctx, account=given)
    assert codes(excinfo) == {"account": [code]}
    assert row_count(ctx, "contact") == 0


def test_lookup_title_with_vietnamese_capitals(ctx):
    # BUG on SQLite: its lower() folds ASCII only while Python's folds 'Đ', 'Ô', 'Á', so a
    # title holding such a capital is not found even when typed exactly as stored.
    dong_a = records.create(ctx, "account", {"name": "Công ty Đông Á"})
    assert new_contact(ctx, account="Công ty Đông Á")["account"] == dong_a["id"]
    assert new_contact(ctx, account="CÔNG TY ĐÔNG Á")["account"] == dong_a["id"]
    duc = new_contact(ctx, first_name="Văn Đức", last_name="Nguyễn")
    assert records.create(ctx, "order", {"contact": "Nguyễn Văn Đức"})["contact"] == duc["id"]


def test_owner_defaults_to_the_user_and_is_given_by_user_name(ctx, runtime):
    with runtime.db.write() as conn:
        lan = create_user(conn, runtime.schema, "lan", role="sales_rep")
    assert new_contact(ctx)["owner"] == ctx.user.id
    assert new_contact(ctx, owner="lan")["owner"] == lan.id
    assert new_contact(ctx, owner=lan.id)["owner"] == lan.id


# --- on_delete -----------------------------------------------------------------------------


def test_delete_sets_lookups_to_blank_through_the_record_service(ctx):
    abc = records.create(ctx, "account", {"name": "Công ty ABC"})
    contact = new_contact(ctx, account=abc["id"])
    records.delete(ctx, "account", abc["id"])
    stored = records.get(ctx, "contact", contact["id"])
    assert (stored["account"], stored["version"]) == (None, 2)
    last = records.history(ctx, "contact", contact["id"])[-1]
    assert (last["action"], last["changes"]) == ("update", {"account": [abc["id"], None]})


def test_restrict_blocks_the_delete_and_undoes_everything(ctx):
    abc = records.create(ctx, "account", {"name": "Công ty ABC"})
    contact = new_contact(ctx, account=abc["id"])  # set_null, released before the restrict
    records.create(ctx, "contract", {"name": "HĐ bảo trì", "account": abc["id"]})
    audits = audit_count(ctx)
    with pytest.raises(Conflict) as excinfo:
        records.delete(ctx, "account", abc["id"])
    assert excinfo.value.details["blocking"] == [
        {"object": "contract", "field": "account", "count": 1}]
    assert records.get(ctx, "account", abc["id"])["name"] == "Công ty ABC"
    stored = records.get(ctx, "contact", contact["id"])
    assert (stored["account"], stored["version"]) == (abc["id"], 1)
    assert audit_count(ctx) == audits


def test_cascade_deletes_the_contacts_tasks(ctx):
    contact = new_contact(ctx)
    other = new_contact(ctx, last_name="Trần")
    task = records.create(ctx, "task", {"subject": "Gọi lại", "related_contact": contact["id"]})
    kept = records.create(ctx, "task", {"subject": "Gửi báo giá", "related_contact": other["id"]})
    order = records.create(ctx, "order", {"contact": contact["id"]})
    records.delete(ctx, "contact", contact["id"])
    with pytest.raises(NotFound):
        records.get(ctx, "task", task["id"])
    assert audit_actions(ctx, "task", task["id"]) == ["create", "delete"]
    assert records.get(ctx, "task", kept["id"])["related_contact"] == other["id"]
    assert records.get(ctx, "order", order["id"])["contact"] is None


# --- rollups -------------------------------------------------------------------------------


def rollups(ctx, contact_id: int) -> tuple:
    stored = records.get(ctx, "contact", contact_id)
    return stored["orders_count"], stored["average_order_value"]


def test_rollups_follow_child_creates_updates_and_deletes(ctx):
    an, binh = new_contact(ctx), new_contact(ctx, last_name="Bình")
    assert rollups(ctx, an["id"]) == (0, None)
    first = records.create(ctx, "order", {"contact": an["id"], "total": 100, "status": "paid"})
    records.create(ctx, "order", {"contact": an["id"], "total": "201", "status": "Đã thanh toán"})
    draft = records.create(ctx, "order", {"contact": an["id"], "total": 1000})
    assert rollups(ctx, an["id"]) == (2, Decimal("150.50"))
    records.update(ctx, "order", draft["id"], {"status": "paid"})
    assert rollups(ctx, an["id"]) == (3, Decimal("433.67"))
    records.update(ctx, "order", draft["id"], {"contact": binh["id"]})
    assert rollups(ctx, an["id"]) == (2, Decimal("150.50"))
    assert rollups(ctx, binh["id"]) == (1, Decimal("1000.00"))
    records.delete(ctx, "order", first["id"])
    assert rollups(ctx, an["id"]) == (1, Decimal("201.00"))
    records.update(ctx, "order", draft["id"], {"status": "cancelled"})
    assert rollups(ctx, binh["id"]) == (0, None)


# --- row versions --------------------------------------------------------------------------


def test_stale_version_is_a_conflict_and_overwrites_nothing(ctx):
    contact = new_contact(ctx, city="Huế")
    records.update(ctx, "contact", contact["id"], {"city": "Hà Nội"}, version=1)
    with pytest.raises(Conflict) as excinfo:
        records.update(ctx, "contact", contact["id"], {"city": "Đà Nẵng"}, version=1)
    assert excinfo.value.details["current_version"] == 2
    stored = records.get(ctx, "contact", contact["id"])
    assert (stored["city"], stored["version"]) == ("Hà Nội", 2)
    assert len(records.history(ctx, "contact", contact["id"])) == 2
    with pytest.raises(Conflict):
        records.delete(ctx, "contact", contact["id"], version=1)
    assert records.delete(ctx, "contact", contact["id"], version=2)["city"] == "Hà Nội"


def test_an_update_that_changes_nothing_writes_nothing(ctx):
    contact = new_contact(ctx, city="Huế", interests=["travel", "food"])
    same = records.update(ctx, "contact", contact["id"],
                          {"city": " Huế ", "interests": "food;travel", "phone": "0912345678"})
    assert same["version"] == 1
    assert len(records.history(ctx, "contact", contact["id"])) == 1


# --- audit trail ---------------------------------------------------------------------------


@pytest.fixture
def lan(runtime):
    """A second admin, so that the audit trail shows who did what."""
    with runtime.db.write() as conn:
        return runtime.context(create_user(conn, runtime.schema, "lan", role="admin"))


def test_history_records_field_old_new_and_user(ctx, lan):
    contact = new_contact(ctx, city="Huế", birthdate="15/03/1990")
    records.update(lan, "contact", contact["id"], {"city": "Hà Nội", "children": 2})
    created, updated = records.history(ctx, "contact", contact["id"])
    assert (created["action"], created["user_id"]) == ("create", ctx.user.id)
    assert created["changes"]["city"] == [None, "Huế"]
    assert created["changes"]["birthdate"] == [None, "1990-03-15"]
    assert (updated["action"], updated["user_id"]) == ("update", lan.user.id)
    assert updated["changes"] == {"city": ["Huế", "Hà Nội"], "children": [None, 2]}
    assert records.get(ctx, "contact", contact["id"])["updated_by"] == lan.user.id


def test_history_of_a_deleted_record_ends_with_its_delete(ctx, lan):
    contact = new_contact(ctx, city="Huế")
    records.delete(lan, "contact", contact["id"])
    assert audit_actions(ctx, "contact", contact["id"]) == ["create", "delete"]
    deleted = records.history(ctx, "contact", contact["id"])[-1]  # "the audit trail keeps it"
    assert (deleted["action"], deleted["user_id"]) == ("delete", lan.user.id)
    assert deleted["changes"]["city"] == ["Huế", None]


def test_a_save_that_fails_after_the_insert_leaves_no_trace(ctx):
    def refuse(change):
        if change.record["name"] == "boom":
            raise RuntimeError("refused by a hook")

    ctx.runtime.hooks.register("contract", "after_create", refuse)
    with pytest.raises(RuntimeError):
        records.create(ctx, "contract", {"name": "boom"})
    assert (row_count(ctx, "contract"), audit_count(ctx)) == (0, 0)
    assert records.create(ctx, "contract", {"name": "ok"})["number"] == "HD-0001"


def test_a_deleted_records_id_is_never_given_to_a_new_record(ctx):
    # BUG on SQLite: the table has no AUTOINCREMENT, so the highest id is reused and the new
    # record inherits the deleted one's audit trail (and its links, bookmarks, ...).
    gone = new_contact(ctx, last_name="Cũ")
    records.delete(ctx, "contact", gone["id"])
    fresh = new_contact(ctx, last_name="Mới")
    assert fresh["id"] != gone["id"]
    assert [h["action"] for h in records.history(ctx, "contact", fresh["id"])] == ["create"]
