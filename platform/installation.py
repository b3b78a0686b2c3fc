"""An installation folder of one's own, for MetaCRM installed from a wheel.

`metacrm init DIR` makes one; the `metacrm` command run inside DIR reads its settings::

    DIR/
      metacrm.env    settings: METACRM_APP, DATABASE_URL, METACRM_SECRET_KEY, ...
      apps/          the installation's own apps (`metacrm init DIR --app NAME` adds one)
      var/           the SQLite database, uploaded files, imports

The settings file holds `NAME=value` lines and `#` comments. Its values are defaults for
the environment - a variable set in the environment wins - so every setting the README
lists (SMTP_HOST, METACRM_THREADS, ...) can live there. Paths in it are relative to DIR,
where the command runs. Nothing here ever overwrites a file: init refuses a folder that
already holds anything.
"""

from __future__ import annotations

import os
import re
import secrets
import textwrap
from pathlib import Path

from . import shipped
from .metadata import load

SETTINGS_FILE = "metacrm.env"
EXAMPLE_OBJECT = "project"
_APP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")  # the metadata's name rule
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class InstallationError(Exception):
    """A folder that cannot become an installation, or a settings file that cannot be read;
    the message says what and where, and that nothing was changed."""


def read_settings(folder: Path) -> dict[str, str]:
    """The `NAME=value` pairs of the settings file in `folder`; none when it has no file."""
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not _VARIABLE.fullmatch(name.strip()):
            raise InstallationError(f"{path}:{number}: expected NAME=value, found {line!r}")
        values[name.strip()] = value.strip()
    return values


def use_settings(folder: Path) -> None:
    """Put the settings of the installation in `folder` (if any) into this process's
    environment, under the variables already set there: the web app, the worker's SMTP
    and uvicorn all read the environment."""
    for name, value in read_settings(folder).items():
        os.environ.setdefault(name, value)


def check_app_name(name: str) -> None:
    """Refuse a name the metadata would refuse, or the default CRM's own."""
    if not _APP_NAME.fullmatch(name):
        raise InstallationError(f"'{name}' is not a valid app name: use lowercase letters, "
                                "digits and _, starting with a letter, at most 63 characters "
                                "(e.g. real_estate); nothing was created")
    if name == shipped.DEFAULT_APP:
        raise InstallationError(f"'{name}' is the default CRM that a new app extends; choose "
                                "another name; nothing was created")


def create(folder: Path, *, app: str | None = None) -> None:
    """Make `folder` an installation serving the default CRM, or a new app `app` that
    extends it. The folder must be new or empty."""
    if app is not None:
        check_app_name(app)
    _check_free(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "apps").mkdir()
    (folder / "var").mkdir()
    if app is not None:
        scaffold_app(folder / "apps" / app)
    # the settings file last: a folder holding one is a finished installation
    _write_new(folder / SETTINGS_FILE, _settings_text(app), private=True)


def _check_free(folder: Path) -> None:
    if (folder / SETTINGS_FILE).exists():
        raise InstallationError(f"{folder} already holds a MetaCRM installation "
                                f"({folder / SETTINGS_FILE}); nothing was changed")
    if folder.exists() and not folder.is_dir():
        raise InstallationError(f"{folder} is a file, not a folder; nothing was changed")
    if folder.is_dir() and any(folder.iterdir()):
        raise InstallationError(f"{folder} is not empty and is not a MetaCRM installation; "
                                "choose a new or empty folder; nothing was changed")


def _settings_text(app: str | None) -> str:
    app_line = f"METACRM_APP=apps/{app}" if app else "# METACRM_APP=apps/my_crm"
    return f"""\
# Settings of this MetaCRM installation, read by the `metacrm` command run in this folder.
# A variable set in the environment wins over the same one here. Other settings
# (METACRM_THREADS, SMTP_HOST, ...): see MetaCRM's README.

# the app to serve, a folder relative to this one (unset: the default CRM shipped with MetaCRM)
{app_line}
# the database: this SQLite file, or postgresql+psycopg://user@host/db
DATABASE_URL=sqlite:///var/metacrm.db
# signs session cookies: keep it secret, and keep it, or every sign-in ends when it changes
METACRM_SECRET_KEY={secrets.token_urlsafe(32)}
"""


def scaffold_app(app_dir: Path) -> None:
    """A new app that extends the default CRM, with one example object to change or delete.

    Its navigation is the default CRM's menu of today plus the example: a child app's
    `navigation` replaces its parent's."""
    name = app_dir.name
    menu = list(load(shipped.default_app()).navigation)
    menu.insert(menu.index("home") + 1 if "home" in menu else 0, EXAMPLE_OBJECT)
    title = name.replace("_", " ").capitalize()
    navigation = textwrap.fill(f"navigation: [{', '.join(menu)}]", width=92,
                               subsequent_indent="  ", break_on_hyphens=False)
    (app_dir / "objects").mkdir(parents=True)
    _write_new(app_dir / "app.yaml", f"""\
# The app '{name}': the default CRM shipped with MetaCRM, plus the documents of this folder
# (objects/, layouts/, workflows/, reports/, forms/, roles.yaml), which add to or replace
# the default CRM's. Check it with: metacrm check apps/{name}
app: {name}
label: {{en: {title}, vi: {title}}}
version: 0.1.0
extends: default_crm
# the menu; it replaces the default CRM's
{navigation}
""")
    _write_new(app_dir / "objects" / f"{EXAMPLE_OBJECT}.yaml", f"""\
# An example object: a table with these fields, its list, form and record pages
# (/o/{EXAMPLE_OBJECT}) and its API (/api/v1/{EXAMPLE_OBJECT}). Change it or delete it (and
# its place in app.yaml's navigation). Administrators see it; other roles once a role
# grants it (Setup > Roles, or a roles.yaml here).
object: {EXAMPLE_OBJECT}
label: {{en: Project, vi: Dự án}}
plural: {{en: Projects, vi: Danh sách dự án}}
title: "{{name}}"
search: [name]
fields:
  name: {{type: text, label: {{en: Name, vi: Tên dự án}}, required: true, max_length: 200}}
  account: {{type: lookup, to: account, label: {{en: Account, vi: Khách hàng}}}}
  start_date: {{type: date, label: {{en: Start date, vi: Ngày bắt đầu}}}}
  budget: {{type: currency, label: {{en: Budget, vi: Ngân sách}}, min: 0}}
""")


def _write_new(path: Path, text: str, *, private: bool = False) -> None:
    """Write a file that must not exist yet (never overwrite a user's file); a private
    one (it holds the secret key) is readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
