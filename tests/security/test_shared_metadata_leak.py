"""Leak 5: a sales rep saved a report for everyone and added it to the shared `sales_home`
dashboard. Now saving shared reports and changing dashboards are rights of roles.yaml
(`can: [share_reports, edit_dashboards]`); without them a user keeps private reports that
only they (and administrators) see."""

from __future__ import annotations

import pytest

from metacrm.engine import records, reports
from metacrm.metadata import MetadataError, load

BUILD = {"name": "my_accounts", "label_en": "My accounts", "label_vi": "Công ty của tôi",
         "object": "account", "group_1": "industry", "measure_1": "count", "chart": "bar"}


@pytest.fixture
def crm(fresh_site):
    site = fresh_site()
    site.user("admin")
    site.user("lan", role="sales_rep")
    site.user("binh", role="sales_rep")
    site.user("hoa", role="sales_manager")
    records.create(site.ctx("admin"), "account", {"name": "Công ty Hồng Hà"})
    return site


def test_a_rep_saves_a_private_report_only_they_see(crm):
    crm.switch_to("lan")
    form = crm.get("/reports/new?object=account")
    assert 'id="private-help"' in form.text and 'id="f-dashboard"' not in form.text
    saved = crm.post("/reports/new", BUILD)
    assert saved.status_code == 303, saved.text
    report = crm.rt.model.reports["my_accounts"]
    assert report.owner == "lan"
    assert crm.get("/reports/my_accounts").status_code == 200
    assert "my_accounts" in crm.get("/reports").text
    crm.switch_to("binh")
    assert crm.get("/reports/my_accounts").status_code == 404
    assert crm.get("/reports/my_accounts.csv").status_code == 404
    assert "my_accounts" not in crm.get("/reports").text
    assert crm.get("/reports/my_accounts/edit").status_code == 404
    # administrators see every report
    assert reports.visible(crm.ctx("admin"), report)


def test_a_rep_may_not_touch_shared_dashboards_or_reports(crm):
    crm.switch_to("lan")
    version = crm.rt.version
    widgets = crm.rt.model.dashboards["sales_home"].widgets
    refused = crm.post("/reports/new", {**BUILD, "dashboard": "sales_home"})
    assert refused.status_code == 422
    assert 'id="error-dashboard"' in refused.text
    assert crm.post("/dashboards/sales_home/add", {"report": "won_by_month"}).status_code == 403
    assert crm.rt.version == version and crm.rt.model.dashboards["sales_home"].widgets == widgets
    # a shared report made in the builder is the sharers' to change
    crm.switch_to("hoa")
    assert crm.post("/reports/new", {**BUILD, "name": "team_accounts"}).status_code == 303
    assert crm.rt.model.reports["team_accounts"].owner is None
    crm.switch_to("lan")
    assert crm.get("/reports/team_accounts").status_code == 200  # readable by all
    assert crm.get("/reports/team_accounts/edit").status_code == 403
    assert crm.post("/reports/team_accounts/edit", {**BUILD, "label_en": "Mine"}
                    ).status_code == 403
    assert crm.rt.model.reports["team_accounts"].label.get("en") == "My accounts"


def test_a_manager_shares_and_edits_dashboards_but_not_with_a_private_report(crm):
    crm.switch_to("hoa")
    private = crm.post("/reports/new", {**BUILD, "private": "1", "dashboard": "sales_home"})
    assert private.status_code == 422 and 'id="error-dashboard"' in private.text
    assert crm.post("/reports/new", {**BUILD, "private": "1"}).status_code == 303
    assert crm.rt.model.reports["my_accounts"].owner == "hoa"
    assert crm.post("/dashboards/sales_home/add", {"report": "my_accounts"}).status_code == 400
    shared = crm.post("/reports/new", {**BUILD, "name": "shared_accounts",
                                       "dashboard": "sales_home"})
    assert shared.status_code == 303
    assert "shared_accounts" in crm.rt.model.dashboards["sales_home"].widgets


def test_a_dashboard_of_a_private_report_is_a_metadata_error(make_app_dir):
    app = make_app_dir({
        "app.yaml": "app: t\nlabel: {en: T, vi: T}\n",
        "objects/deal.yaml": "object: deal\nlabel: {en: Deal, vi: Thương vụ}\n"
                             "fields:\n  name: {type: text, label: {en: Name, vi: Tên}}\n",
        "reports/mine.yaml": "report: mine\nobject: deal\nowner: lan\n---\n"
                             "dashboard: home\nwidgets: [mine]\n"})
    with pytest.raises(MetadataError) as caught:
        load(str(app))
    assert "private to lan" in str(caught.value)
