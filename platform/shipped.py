"""The folders MetaCRM ships besides its code: the default app, the screens' templates and
static files, and the workflow recipes.

In the repository they are top-level folders (`apps/`, `layouts/`, `workflows/`);
pyproject.toml maps each into the package (`metacrm.apps`, `metacrm.layouts`,
`metacrm.workflows`), so a wheel installs them beside the code and one look-up through
`importlib.resources` finds them in a checkout (editable install) and in an installed wheel
alike, whatever the current folder. Each folder holds an empty `__init__.py`: `metacrm`
itself is a namespace package (`platform/` must not hold one), and Python 3.11's
`importlib.resources.files` fails on a namespace package installed in editable mode.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DEFAULT_APP = "default_crm"


def folder(package: str) -> Path:
    """The folder of the shipped package `metacrm.<package>`, as a real path: Jinja2,
    Starlette's StaticFiles and the metadata loader read folders from the file system (pip
    installs a wheel unpacked, never zipped)."""
    try:
        found = files(f"metacrm.{package}")
    except ModuleNotFoundError as exc:
        raise RuntimeError(f"metacrm.{package} is not installed: an editable install made "
                           "before it existed; run pip install -e . again") from exc
    if not isinstance(found, Path):
        raise RuntimeError(f"metacrm.{package} is not in a folder ({found}); install "
                           "MetaCRM unpacked")
    return found


def apps() -> Path:
    """The folder holding the shipped apps; `extends: default_crm` finds its parent here."""
    return folder("apps")


def default_app() -> Path:
    """The default CRM's app folder: the app served when no METACRM_APP is set."""
    return apps() / DEFAULT_APP


def layouts() -> Path:
    """The templates of every generated screen, with `static/` (htmx, css, scripts)."""
    return folder("layouts")


def recipes() -> Path:
    """The reusable workflow recipes any app can `use:`."""
    return folder("workflows")
