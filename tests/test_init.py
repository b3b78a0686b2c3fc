"""`metacrm init`: an installation folder of one's own (settings, apps/, var/), optionally
with a new app that extends the default CRM; and the `metacrm` command run inside it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from metacrm import shipped
from metacrm.cli import main
from metacrm.installation import SETTINGS_FILE, read_settings
from metacrm.metadata import load

METACRM = [sys.executable, "-m", "metacrm.cli"]
OWN_SETTINGS = ("METACRM_APP", "DATABASE_URL", "METACRM_SECRET_KEY")


def run_inside(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The command in its own process, run in `folder` as a user would: the installation's
    settings come from its file (the test's environment may set some of them)."""
    clean = {k: v for k, v in os.environ.items() if k not in OWN_SETTINGS}
    return subprocess.run([*METACRM, *args], cwd=folder, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def test_init_makes_an_installation_serving_the_default_crm(tmp_path, capsys):
    site = tmp_path / "crm"
    assert main(["init", str(site)]) == 0
    assert f"Created a MetaCRM installation in {site}" in capsys.readouterr().out
    assert (site / "apps").is_dir() and (site / "var").is_dir()
    settings = read_settings(site)
    assert settings["DATABASE_URL"] == "sqlite:///var/metacrm.db"
    assert "METACRM_APP" not in settings  # the shipped default CRM
    assert len(settings["METACRM_SECRET_KEY"]) >= 40
    assert stat.S_IMODE((site / SETTINGS_FILE).stat().st_mode) == 0o600  # it holds a secret
    assert main(["init", str(tmp_path / "other")]) == 0
    assert read_settings(tmp_path / "other")["METACRM_SECRET_KEY"] != settings[
        "METACRM_SECRET_KEY"]

    checked = run_inside(site, "check")
    assert checked.returncode == 0, checked.stderr
    assert "OK: app 'default_crm'" in checked.stdout
    migrated = run_inside(site, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert (site / "var" / "metacrm.db").is_file()


def test_the_environment_wins_over_the_settings_file(tmp_path):
    site = tmp_path / "crm"
    assert main(["init", str(site)]) == 0
    other = tmp_path / "elsewhere.db"
    migrated = run_inside(site, "migrate", DATABASE_URL=f"sqlite:///{other}")
    assert migrated.returncode == 0, migrated.stderr
    assert other.is_file() and not (site / "var" / "metacrm.db").exists()


def test_a_broken_settings_file_says_where(tmp_path):
    site = tmp_path / "crm"
    assert main(["init", str(site)]) == 0
    lines = (site / SETTINGS_FILE).read_text(encoding="utf-8").splitlines()
    with (site / SETTINGS_FILE).open("a", encoding="utf-8") as settings:
        settings.write("METACRM_THREADS 4\n")
    result = run_inside(site, "check")
    assert result.returncode == 1
    assert (f"{site / SETTINGS_FILE}:{len(lines) + 1}: expected NAME=value, found "
            "'METACRM_THREADS 4'") in result.stderr


def test_a_second_init_is_refused_and_changes_nothing(tmp_path, capsys):
    site = tmp_path / "crm"
    assert main(["init", str(site)]) == 0
    before = (site / SETTINGS_FILE).read_bytes()
    capsys.readouterr()
    assert main(["init", str(site), "--app", "shop"]) == 1
    err = capsys.readouterr().err
    assert f"{site} already holds a MetaCRM installation ({site / SETTINGS_FILE})" in err
    assert (site / SETTINGS_FILE).read_bytes() == before
    assert not (site / "apps" / "shop").exists()


def test_a_folder_that_is_not_empty_or_a_file_is_refused(tmp_path, capsys):
    foreign = tmp_path / "papers"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["init", str(foreign)]) == 1
    assert f"{foreign} is not empty and is not a MetaCRM installation" in (
        capsys.readouterr().err)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert main(["init", str(foreign / "notes.txt")]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["init", str(empty)]) == 0  # an empty folder is fine


def test_init_app_scaffolds_an_app_that_extends_the_default_crm(tmp_path):
    site = tmp_path / "crm"
    assert main(["init", str(site), "--app", "real_estate"]) == 0
    app_dir = site / "apps" / "real_estate"
    assert read_settings(site)["METACRM_APP"] == "apps/real_estate"
    assert main(["check", str(app_dir)]) == 0
    model = load(app_dir)
    default = load(shipped.default_app())
    assert model.name == "real_estate" and model.extends == ("default_crm",)
    assert set(model.objects) == {*default.objects, "project"}
    assert model.objects["project"].fields["account"].to == "account"
    assert set(model.navigation) == {*default.navigation, "project"}
    assert model.workflows.keys() == default.workflows.keys()  # inherited documents

    checked = run_inside(site, "check")  # the settings serve the new app
    assert checked.returncode == 0, checked.stderr
    assert "OK: app 'real_estate' (apps/real_estate)" in checked.stdout


@pytest.mark.parametrize("name", ["RealEstate", "real-estate", "1crm", "../x", "", "a" * 64])
def test_bad_app_names_are_refused_before_anything_is_made(tmp_path, capsys, name):
    site = tmp_path / "crm"
    assert main(["init", str(site), "--app", name]) == 1
    assert f"'{name}' is not a valid app name: use lowercase letters" in capsys.readouterr().err
    assert not site.exists()


def test_the_default_crm_name_is_taken(tmp_path, capsys):
    assert main(["init", str(tmp_path / "crm"), "--app", "default_crm"]) == 1
    assert "'default_crm' is the default CRM that a new app extends" in (
        capsys.readouterr().err)
