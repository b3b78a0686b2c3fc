"""Every example of METADATA.md loads as written (tests/fixtures/metadata_examples holds them
verbatim, with the supporting objects they refer to)."""

from __future__ import annotations

from pathlib import Path

import pytest

from metacrm.metadata import load

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "metadata_examples"
ROOT = Path(__file__).resolve().parents[2]


def test_contact_object_example():
    model = load(EXAMPLES / "examples")
    contact = model.objects["contact"]
    assert contact.label.get("vi") == "Liên hệ"
    assert contact.plural.get("en") == "Contacts"
    assert contact.title_fields == ("first_name", "last_name")
    assert contact.search == ("first_name", "last_name", "email", "phone")
    assert contact.fields["first_name"].max_length == 80
    assert contact.fields["last_name"].required
    assert contact.fields["email"].unique
    assert contact.fields["city"].index
    assert contact.fields["account"].to == "account"
    assert contact.fields["account"].on_delete == "set_null"
    stage = contact.fields["lifecycle_stage"]
    assert stage.default == "subscriber"
    assert [o.value for o in stage.options][:3] == ["subscriber", "lead",
                                                    "marketing_qualified_lead"]
    assert stage.option("marketing_qualified_lead").label.get("en") == "MQL"
    assert stage.option("lead").label.get("en") == "Lead"
    assert contact.fields["age"].returns == "integer"
    assert contact.fields["age"].expression.source == "years_between(birthdate, today())"
    assert contact.validations[0].message.get("vi") == "Cần email hoặc số điện thoại"
    assert contact.indexes == (("last_name", "first_name"),)
    assert [r.action for r in contact.duplicates] == ["block", "warn", "warn"]
    assert contact.duplicates[2].match[0].fuzzy == 90
    for name in ("id", "owner", "created_at", "created_by", "updated_at", "updated_by",
                 "version"):
        assert contact.fields[name].system


def test_rollup_example():
    rollup = load(EXAMPLES / "examples").objects["contact"].fields["average_order_value"].rollup
    assert (rollup.source, rollup.via, rollup.measure, rollup.measure_field) == (
        "order", "contact", "avg", "total")
    assert rollup.filter.source == "status == 'paid'"


def test_layout_example():
    layout = load(EXAMPLES / "examples").layouts["contact"]
    assert layout.sections[0].columns == 2
    assert layout.sections[1].fields == ("account", "lifecycle_stage", "owner")
    assert layout.list.sort == ("last_name", "first_name")
    assert layout.list.filters == ("lifecycle_stage", "city", "owner")
    assert layout.kanban.group_by == "lifecycle_stage"
    assert [(r.object, r.via) for r in layout.related] == [("opportunity", "contact"),
                                                          ("task", "related_contact")]


def test_roles_example_with_inherits():
    roles = load(EXAMPLES / "examples").roles
    assert roles["admin"].all
    rep = roles["sales_rep"]
    assert rep.objects["contact"].read == "all" and rep.objects["contact"].edit == "own"
    assert rep.fields["contact.income"] == "hidden"
    manager = roles["sales_manager"]
    assert manager.objects["opportunity"].read == "team"
    assert manager.objects["opportunity"].create  # inherited from sales_rep
    assert manager.objects["contact"].edit == "own"  # inherited unchanged
    assert manager.fields["opportunity.commission"] == "read"


def test_workflow_examples():
    workflows = load(EXAMPLES / "examples").workflows
    hot = workflows["hot_lead_follow_up"]
    assert hot.event == "updated"
    assert [a.kind for a in hot.actions] == ["set", "create", "email"]
    birthday = workflows["birthday_greeting"].schedule
    assert (birthday.date_field, birthday.every, birthday.at) == ("birthdate", "year", "08:00")
    renewal = workflows["contract_renewal"].schedule
    assert (renewal.date_field, renewal.offset_days) == ("end_date", -30)


def test_report_dashboard_and_form_examples():
    model = load(EXAMPLES / "examples")
    pipeline = model.reports["pipeline_by_stage"]
    assert pipeline.filter.source == "not is_closed"
    assert [str(m) for m in pipeline.measures] == ["count", "sum(amount)"]
    won = model.reports["won_by_month"]
    assert won.group_by[0].bucket == "month" and won.chart == "line"
    assert model.dashboards["sales_home"].widgets == ("pipeline_by_stage", "won_by_month")
    form = model.forms["website_contact"]
    assert form.defaults["source"] == "website"
    assert form.success_message.get("vi") == "Cảm ơn bạn"


def test_app_that_extends_default_crm():
    model = load(EXAMPLES / "real_estate")
    assert model.name == "real_estate" and model.extends == ("default_crm",)
    assert model.label.get("vi") == "CRM bất động sản"
    assert model.navigation == ("lead", "contact", "account", "property", "opportunity",
                                "task", "reports")
    contact = model.objects["contact"]
    assert contact.fields["budget"].type == "currency"
    assert contact.fields["lifecycle_stage"].options[-1].value == "investor"
    assert "income" in contact.fields  # the parent's fields stay
    assert "hot_lead_follow_up" in model.workflows  # inherited documents


def test_recipe_instantiated_with_use_and_with():
    workflow = load(EXAMPLES / "logistics").workflows["customs_deadline"]
    assert workflow.recipe == "date_reminder"
    assert workflow.object == "shipment"
    assert (workflow.schedule.date_field, workflow.schedule.offset_days) == ("customs_due", -2)
    values = workflow.actions[0].params["values"]
    assert values == {"subject": "Customs papers for {code}", "owner": "{owner}"}


@pytest.mark.parametrize("app", ["default_crm"])
def test_shipped_apps_load(app):
    model = load(ROOT / "apps" / app)
    assert set(model.objects) >= {"account", "contact", "lead", "opportunity", "task"}
    lead = model.objects["lead"]
    assert [o.value for o in lead.fields["status"].options] == [
        "new", "open", "in_progress", "open_deal", "unqualified", "attempted_to_contact",
        "connected", "bad_timing", "converted"]
    for obj in model.objects.values():
        assert obj.label.get("vi") != obj.label.get("en") or obj.name in ("email",)


def _doc_example(heading: str) -> str:
    """The first YAML block under `heading` in docs/metadata.md."""
    text = (ROOT / "docs" / "metadata.md").read_text(encoding="utf-8")
    section = text[text.index(heading):]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_record_action_example_of_the_reference_loads(make_app_dir):
    app = make_app_dir({
        "objects/customer.yaml": _doc_example("## Record actions"),
        "objects/order.yaml": "object: order\nfields:\n  customer: {type: lookup, to: customer}"
                              "\n  total: {type: currency}\n  note: {type: text}\n",
        "roles.yaml": "roles:\n  sales_manager:\n    label: Sales manager\n    objects:\n"
                      "      customer: {read: all, edit: all}\n",
        "app.yaml": "app: example\nlabel: Example\nnavigation: [customer, order]\n"})
    action = load(app).actions["customer"]["promote"]
    assert action.roles == ("sales_manager",) and action.open == "welcome"
    assert list(action.inputs) == ["since", "gift", "with_order", "level"]
    assert action.inputs["level"].options == load(app).objects["customer"].fields[
        "level"].options
    assert [s.kind for s in action.steps] == ["set", "create", "notify"]


def test_the_line_items_example_of_the_reference_loads(make_app_dir):
    app = make_app_dir({
        "objects/order_line.yaml": _doc_example("## Line items with totals"),
        "objects/order.yaml": "object: order\nfields:\n  number: {type: text}\n"
                              "  grand_total: {type: rollup, from: order_line, via: order, "
                              "measure: \"sum(amount_with_vat)\"}\n",
        "objects/product.yaml": "object: product\nfields:\n  name: {type: text}\n",
        "app.yaml": "app: example\nlabel: Example\nnavigation: [order, product]\n"})
    line = load(app).objects["order_line"]
    assert [o.value for o in line.fields["vat_rate"].options] == ["0", "5", "8", "10"]
    assert line.fields["amount_with_vat"].expression.source == "line_total + vat_amount"
