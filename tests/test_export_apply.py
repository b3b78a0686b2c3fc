"""Round trip of Setup changes: `metacrm export` writes a clean app that `metacrm check`
accepts and that rebuilds the same model; `metacrm apply` deploys it into another
installation (staging to production), refusing removals unless asked. Real processes,
SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from metacrm.engine import overlays, sync
from metacrm.engine.boot import open_runtime
from metacrm.engine.runtime import Runtime
from metacrm.metadata import load
from metacrm.metadata.edits import Draft
from metacrm.web.openapi import openapi_document

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APP = ROOT / "apps" / "default_crm"


def metacrm(args, database_url, app=DEFAULT_APP):
    env = {**os.environ, "DATABASE_URL": database_url, "METACRM_APP": str(app)}
    return subprocess.run([sys.executable, "-m", "metacrm.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def model_facts(model):
    """Everything a model says, in comparable form (objects are compared field by field)."""
    objects = {name: (obj.label, obj.plural, obj.title, obj.search, dict(obj.fields),
                      obj.validations, obj.indexes, obj.duplicates)
               for name, obj in model.objects.items()}
    return (objects, dict(model.layouts), dict(model.roles), dict(model.workflows),
            dict(model.reports), dict(model.dashboards), dict(model.forms),
            {name: dict(actions) for name, actions in model.actions.items()}, model.navigation,
            model.label, model.locale, model.currency, model.timezone)


def setup_changes(rt: Runtime) -> None:
    """A series of changes an admin makes in Setup."""
    d = Draft(rt.app_dir, {})
    d.set_field("contact", "zalo", {"type": "phone", "label": {"en": "Zalo", "vi": "Zalo"}},
                new=True)
    layout = d.effective()["layouts/contact.yaml"]
    layout["form"]["sections"][0]["fields"].insert(0, "zalo")
    layout["list"]["columns"].append("zalo")
    d.set_document("layouts/contact.yaml", layout)
    overlays.save(rt, d.overlays, base=0, user_id=None, summary="zalo")
    d = Draft(rt.app_dir, rt.overlay.data())
    d.add_object("vehicle", {"en": "Vehicle", "vi": "Xe"}, {"en": "Vehicles", "vi": "Xe"},
                 {"plate": {"type": "text", "required": True},
                  "account": {"type": "lookup", "to": "account", "on_delete": "set_null"}},
                 title="{plate}", search=["plate"])
    d.set_document("layouts/vehicle.yaml", {"layout": "vehicle", "form": {"sections": [
        {"label": {"en": "Vehicle", "vi": "Xe"}, "fields": ["plate", "account"]}]},
        "list": {"columns": ["plate", "account"], "sort": ["plate"]}})
    account = d.effective()["layouts/account.yaml"]
    account.setdefault("related", []).append({"object": "vehicle", "via": "account",
                                              "columns": ["plate"]})
    d.set_document("layouts/account.yaml", account)
    roles = d.effective()["roles.yaml"]
    roles["roles"]["sales_rep"]["objects"]["vehicle"] = {
        "create": False, "read": "all", "edit": "none", "delete": "none"}
    d.set_document("roles.yaml", roles)
    overlays.save(rt, d.overlays, base=1, user_id=None, summary="vehicle")
    d = Draft(rt.app_dir, rt.overlay.data())
    source = d.effective()["objects/lead.yaml"]["fields"]["source"]
    source["options"].append({"value": "tiktok_shop",
                              "label": {"en": "TikTok Shop", "vi": "TikTok Shop"}})
    d.set_field("lead", "source", source, new=False)
    overlays.save(rt, d.overlays, base=2, user_id=None, summary="lead source tiktok_shop")


def test_export_then_load_and_apply_elsewhere_give_the_same_model(database_url,
                                                                  make_database_url, tmp_path):
    rt = open_runtime(DEFAULT_APP, database_url)
    sync.migrate(rt.db, rt.model)
    setup_changes(rt)
    assert rt.version == 3
    out = tmp_path / "export"
    result = metacrm(["export", str(out)], database_url)
    assert result.returncode == 0, result.stderr
    assert "metadata version 3" in result.stdout
    assert (out / "objects" / "vehicle.yaml").is_file()
    assert metacrm(["export", str(out)], database_url).returncode == 1  # never overwrites
    check = metacrm(["check", str(out)], database_url)
    assert check.returncode == 0 and f"{len(rt.model.objects)} objects" in check.stdout, \
        check.stdout + check.stderr
    exported = load(out)
    assert model_facts(exported) == model_facts(rt.model)
    assert openapi_document(exported) == openapi_document(rt.model)

    # an empty installation of the default CRM, brought to the same model by `apply`
    production = make_database_url()
    assert metacrm(["migrate"], production).returncode == 0
    plan = metacrm(["apply", str(out), "--plan"], production)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "document objects/vehicle.yaml changes" in plan.stdout
    assert "create_table" in plan.stdout or "vehicle (" in plan.stdout
    untouched = open_runtime(DEFAULT_APP, production)
    assert untouched.version == 0 and "vehicle" not in untouched.model.objects
    untouched.db.dispose()
    applied = metacrm(["apply", str(out), "--yes"], production)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    deployed = open_runtime(DEFAULT_APP, production)
    assert model_facts(deployed.model) == model_facts(rt.model)
    assert openapi_document(deployed.model) == openapi_document(rt.model)
    assert sync.plan(deployed.db, deployed.model).empty
    again = metacrm(["apply", str(out), "--yes"], production)
    assert again.returncode == 0 and "already up to date" in again.stdout
    deployed.db.dispose()
    rt.db.dispose()


def test_apply_refuses_removals_unless_asked(database_url, tmp_path):
    rt = open_runtime(DEFAULT_APP, database_url)
    sync.migrate(rt.db, rt.model)
    d = Draft(rt.app_dir, {})
    d.set_field("contact", "zalo", {"type": "phone"}, new=True)
    overlays.save(rt, d.overlays, base=0, user_id=None, summary="zalo")
    staging = tmp_path / "staging"
    assert metacrm(["export", str(staging)], database_url).returncode == 0
    d = Draft(rt.app_dir, rt.overlay.data())
    d.set_field("contact", "vip", {"type": "checkbox"}, new=True)
    overlays.save(rt, d.overlays, base=1, user_id=None, summary="vip")
    # the staging folder has no `vip`: applying it would remove the field
    refused = metacrm(["apply", str(staging), "--yes"], database_url)
    assert refused.returncode == 1 and "--allow-removals" in refused.stderr
    rt.refresh(force=True)
    assert "vip" in rt.model.objects["contact"].fields and rt.version == 2
    done = metacrm(["apply", str(staging), "--yes", "--allow-removals"], database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    rt.refresh(force=True)
    assert "vip" not in rt.model.objects["contact"].fields
    assert ("contact", "vip") in [(a.object, a.field) for a in sync.archived(rt.db, rt.model)]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "app.yaml").write_text("app: default_crm\n", encoding="utf-8")
    (broken / "objects").mkdir()
    (broken / "objects" / "thing.yaml").write_text(
        "object: thing\nfields:\n  owner_account: {type: lookup, to: acount}\n",
        encoding="utf-8")
    bad = metacrm(["apply", str(broken), "--plan"], database_url)
    assert bad.returncode == 1 and "acount" in bad.stderr
    rt.db.dispose()
