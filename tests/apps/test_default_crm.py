"""The shipped default CRM: complete, bilingual, with sensible roles and demo data that loads
through the record service on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from metacrm.engine.access import Access
from metacrm.engine.loaddata import load_data
from metacrm.metadata import load

APP = Path(__file__).resolve().parents[2] / "apps" / "default_crm"

OBJECTS = {"account", "contact", "lead", "opportunity", "task", "contract", "order", "product",
           "quote", "quote_line", "order_line", "payment", "campaign", "case", "knowledge_article",
           "activity", "sales_target", "commission"}
LEAD_STATUSES = ["new", "open", "in_progress", "open_deal", "unqualified",
                 "attempted_to_contact", "connected", "bad_timing"]
STAGES = ["prospecting", "qualification", "proposal", "negotiation", "won", "lost"]
KEPT_FIELDS = {
    "contact": ["first_name", "last_name", "email", "phone", "birthdate", "city", "account",
                "lifecycle_stage", "age", "income", "orders_count", "average_order_value"],
    "lead": ["first_name", "last_name", "email", "phone", "status", "rating", "source",
             "message"],
    "task": ["subject", "due_date", "status", "related_contact", "related_lead"],
    "opportunity": ["name", "account", "contact", "stage", "amount", "probability",
                    "close_date", "forecast_category", "commission", "is_closed",
                    "weighted_amount"],
    "contract": ["number", "name", "account", "start_date", "end_date", "value", "status"],
    "order": ["number", "contact", "total", "status"],
}


@pytest.fixture(scope="module")
def model():
    return load(APP)


def options(model, obj, field):
    return [o.value for o in model.objects[obj].fields[field].options]


# --- the model -----------------------------------------------------------------------------


def test_the_app_loads_with_every_object_and_a_layout_file_for_each(model):
    assert set(model.objects) == OBJECTS
    assert {p.stem for p in (APP / "layouts").glob("*.yaml")} == OBJECTS
    assert model.locale == "vi" and model.currency == "VND"
    assert "reports" in model.navigation
    for name in ("lead", "contact", "account", "opportunity", "quote", "order", "case",
                 "campaign", "product", "task"):
        assert name in model.navigation, name
    for obj in ("lead", "opportunity", "case"):
        kanban = model.layouts[obj].kanban
        assert kanban is not None, obj
        assert model.objects[obj].fields[kanban.group_by].type == "picklist"
    assert model.layouts["lead"].kanban.group_by == "status"
    assert model.layouts["opportunity"].kanban.group_by == "stage"
    assert model.layouts["case"].kanban.group_by == "status"
    for layout in model.layouts.values():
        assert layout.sections and layout.list.columns, layout.object


def test_existing_fields_and_options_are_kept(model):
    for obj, fields in KEPT_FIELDS.items():
        for name in fields:
            assert name in model.objects[obj].fields, f"{obj}.{name}"
    assert options(model, "lead", "status") == [*LEAD_STATUSES, "converted"]  # Convert's
    assert "website" in options(model, "lead", "source")
    assert options(model, "opportunity", "stage") == STAGES
    assert "paid" in options(model, "order", "status")
    assert model.objects["contract"].fields["account"].on_delete == "restrict"
    contact = model.objects["contact"]
    assert contact.fields["orders_count"].rollup.source == "order"
    assert contact.fields["age"].type == "formula"


def test_every_label_is_in_english_and_vietnamese(model):
    missing = []
    for obj in model.objects.values():
        for what, label in (("label", obj.label), ("plural", obj.plural)):
            if not (label.texts.get("en") and label.texts.get("vi")):
                missing.append(f"{obj.name} {what}")
        assert obj.label.get("vi") != obj.label.get("en"), obj.name
        assert obj.plural.get("vi") != obj.plural.get("en"), obj.name
        for fdef in obj.fields.values():
            if not (fdef.label.texts.get("en") and fdef.label.texts.get("vi")):
                missing.append(f"{obj.name}.{fdef.name}")
            for option in fdef.options:
                if not (option.label.texts.get("en") and option.label.texts.get("vi")):
                    missing.append(f"{obj.name}.{fdef.name}={option.value}")
    assert missing == []
    # the Vietnamese wording of the source articles
    assert model.objects["lead"].fields["status"].option("attempted_to_contact").label.get(
        "vi") == "Cố gắng liên hệ"
    assert model.objects["contact"].fields["lifecycle_stage"].option("evangelist").label.get(
        "vi") == "Khách hàng trung thành"
    assert model.objects["case"].label.get("vi") == "Vụ việc"
    assert model.objects["knowledge_article"].plural.get("vi") == "Kho kiến thức"


def test_contact_holds_identity_descriptive_and_quantitative_data(model):
    fields = model.objects["contact"].fields
    for name in ("preferred_channel", "address", "facebook_url", "zalo_id", "linkedin_url",
                 "interests", "education", "occupation", "company", "income", "marital_status",
                 "children", "owns_home", "owns_car", "lifecycle_stage", "total_spent"):
        assert name in fields, name
    assert fields["owns_home"].type == fields["owns_car"].type == "checkbox"
    assert fields["facebook_url"].type == "url"


def test_sales_objects_compute_their_figures(model):
    quote = model.objects["quote"]
    assert quote.fields["number"].type == "autonumber"
    total = quote.fields["total"].rollup
    assert (total.source, total.via, total.measure, total.measure_field) == (
        "quote_line", "quote", "sum", "line_total")
    line = model.objects["quote_line"].fields
    assert line["quote"].to == "quote" and line["quote"].on_delete == "cascade"
    assert line["line_total"].type == "formula" and line["product"].to == "product"
    payment = model.objects["payment"].fields
    assert payment["order"].to == "order"
    assert {"cash", "bank_transfer", "card", "e_wallet"} <= set(
        options(model, "payment", "method"))
    assert model.objects["opportunity"].fields["campaign"].to == "campaign"
    assert {"call", "meeting", "email", "sms", "letter", "visit", "fax"} <= set(
        options(model, "activity", "type"))
    assert options(model, "activity", "direction") == ["inbound", "outbound"]
    assert options(model, "knowledge_article", "status") == ["draft", "published"]
    for obj in ("sales_target", "commission"):
        assert model.objects[obj].fields["salesperson"].type == "user"
    assert model.objects["commission"].fields["opportunity"].to == "opportunity"


# --- roles ---------------------------------------------------------------------------------


def test_the_six_roles_and_their_scopes(model):
    roles = model.roles
    assert set(roles) == {"admin", "sales_manager", "sales_rep", "marketing", "support_agent",
                          "read_only"}
    for role in roles.values():
        assert role.label.get("en") and role.label.get("vi"), role.name
    access = Access(model)

    def scopes(role, obj):
        return (access.scope(role, obj, "create"), access.scope(role, obj, "read"),
                access.scope(role, obj, "edit"), access.scope(role, obj, "delete"))

    for obj in OBJECTS:
        assert scopes("admin", obj) == ("all", "all", "all", "all")
    # sales rep: own opportunities, every contact to read and own ones to edit
    assert scopes("sales_rep", "opportunity") == ("all", "own", "own", "own")
    assert scopes("sales_rep", "contact") == ("all", "all", "own", "none")
    assert access.field_access("sales_rep", "contact", "income") == "hidden"
    assert access.field_access("sales_rep", "opportunity", "commission") == "read"
    assert scopes("sales_rep", "campaign")[1:] == ("all", "none", "none")
    # sales manager: the rep's rights widened to the team
    assert roles["sales_manager"].inherits == "sales_rep"
    assert scopes("sales_manager", "opportunity") == ("all", "team", "team", "team")
    assert scopes("sales_manager", "lead")[1:] == ("team", "team", "team")
    assert scopes("sales_manager", "contact") == ("all", "all", "own", "none")
    assert access.field_access("sales_manager", "opportunity", "commission") == "edit"
    # marketing: campaigns and leads; contacts read only
    assert scopes("marketing", "campaign")[:3] == ("all", "all", "all")
    assert scopes("marketing", "lead")[:3] == ("all", "all", "all")
    assert scopes("marketing", "contact") == ("none", "all", "none", "none")
    assert access.field_access("marketing", "contact", "income") == "hidden"
    # support: cases, activities, knowledge; contacts and accounts read only
    assert scopes("support_agent", "case")[:3] == ("all", "all", "all")
    assert scopes("support_agent", "activity")[:2] == ("all", "all")
    assert scopes("support_agent", "knowledge_article")[:3] == ("all", "all", "all")
    for obj in ("contact", "account"):
        assert scopes("support_agent", obj) == ("none", "all", "none", "none")
    assert scopes("support_agent", "opportunity") == ("none", "none", "none", "none")
    # read only: sees everything, changes nothing, income hidden
    for obj in OBJECTS:
        assert scopes("read_only", obj) == ("none", "all", "none", "none"), obj
    assert access.field_access("read_only", "contact", "income") == "hidden"


# --- demo data -----------------------------------------------------------------------------


def count(conn, rt, name, *where):
    table = rt.schema.table(name)
    return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar()


def test_demo_files_are_named_in_dependency_order():
    names = sorted(p.name for p in (APP / "data" / "demo").glob("*.yaml"))
    assert names[0] == "00_people.yaml"
    seen: list[str] = []
    for name in names:
        for doc in yaml.safe_load_all((APP / "data" / "demo" / name).read_text("utf-8")):
            if "object" in doc:
                seen.append(doc["object"])
    for before, after in [("account", "contact"), ("contact", "opportunity"),
                          ("campaign", "lead"), ("product", "quote_line"),
                          ("quote", "quote_line"), ("order", "payment"),
                          ("opportunity", "commission"), ("case", "activity")]:
        assert seen.index(before) < seen.index(after), (before, after)


@pytest.mark.slow
def test_demo_data_loads_through_the_record_service(make_runtime):
    rt = make_runtime(APP)
    summary = load_data(rt, APP / "data", demo=True)
    assert any(line.startswith("00_people.yaml") for line in summary)
    today = rt.system_context().today()
    with rt.db.read() as conn:
        counts = {name: count(conn, rt, name) for name in OBJECTS}
        assert sum(counts.values()) >= 500, counts
        for name in OBJECTS:
            assert counts[name] > 0, name
        assert counts["contact"] >= 100 and counts["lead"] >= 50
        assert counts["opportunity"] >= 30 and counts["activity"] >= 100

        users = rt.schema.system["mc_user"]
        roles = Counter(conn.scalars(sa.select(users.c.role).where(
            users.c.username != "system")))
        assert 6 <= sum(roles.values()) <= 12
        assert {"sales_rep", "sales_manager", "marketing", "support_agent"} <= set(roles)
        teams = rt.schema.system["mc_team"]
        assert 2 <= count_rows(conn, teams) <= 3

        lead = rt.schema.table("lead")
        assert set(conn.scalars(sa.select(lead.c.status).distinct())) == set(LEAD_STATUSES)
        opp = rt.schema.table("opportunity")
        assert set(conn.scalars(sa.select(opp.c.stage).distinct())) == set(STAGES)
        assert count(conn, rt, "opportunity", opp.c.amount.is_(None)) == 0

        contact = rt.schema.table("contact")
        assert count(conn, rt, "contact", contact.c.email.is_(None),
                     contact.c.phone.is_(None)) == 0
        phones = list(conn.scalars(sa.select(contact.c.phone).where(
            contact.c.phone.is_not(None))))
        assert phones and all(p.startswith("+84") for p in phones)
        months = {d.month for d in conn.scalars(sa.select(contact.c.birthdate).where(
            contact.c.birthdate.is_not(None)))}
        assert months == set(range(1, 13))
        assert count(conn, rt, "contact", contact.c.orders_count > 0) > 20

        # some contracts end within the next 30 days (for the renewal workflow)
        contract = rt.schema.table("contract")
        assert count(conn, rt, "contract", contract.c.status == "active",
                     contract.c.end_date >= today,
                     contract.c.end_date <= today + timedelta(days=30)) >= 3

        # rollups: a quote's total is the sum of its lines; an order's paid amount the sum of
        # its received payments
        quote, line = rt.schema.table("quote"), rt.schema.table("quote_line")
        sums = dict(conn.execute(sa.select(line.c.quote, sa.func.sum(line.c.line_total))
                                 .group_by(line.c.quote)).all())
        totals = dict(conn.execute(sa.select(quote.c.id, quote.c.total)).all())
        assert sums and all(Decimal(totals[q]) == Decimal(s) for q, s in sums.items())
        order, payment = rt.schema.table("order"), rt.schema.table("payment")
        paid = dict(conn.execute(sa.select(payment.c.order, sa.func.sum(payment.c.amount))
                                 .where(payment.c.status == "completed")
                                 .group_by(payment.c.order)).all())
        orders = {row.id: row for row in conn.execute(
            sa.select(order.c.id, order.c.total, order.c.paid_amount, order.c.status))}
        assert paid and all(Decimal(orders[o].paid_amount) == Decimal(s)
                            for o, s in paid.items())
        assert all(o.paid_amount == o.total for o in orders.values() if o.status == "paid")

        # every record has an owner among the demo users
        for name in ("account", "contact", "lead", "opportunity", "case", "activity"):
            table = rt.schema.table(name)
            owners = set(conn.scalars(sa.select(users.c.username).join(
                table, table.c.owner == users.c.id).distinct()))
            assert owners and "system" not in owners, name


def count_rows(conn, table):
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
