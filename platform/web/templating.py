"""Jinja2 templates: an app's own (`templates/` in its folder, then in the folders of the
apps it extends) before MetaCRM's (`layouts/`), the most specific first (`list-contact.html`
before `list.html`), autoescaped.

An app's templates are part of the app, trusted as its YAML is: the operator who installs
an app installs its templates. They override whole screens (`list-{object}.html`,
`detail-{object}.html`, `form-{object}.html`, ...) or only the cells of a list
(`cells-{object}.html`, `cells.html`: see `cell_macros`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    Template,
    TemplateNotFound,
    select_autoescape,
)
from starlette.responses import HTMLResponse

from .. import shipped

if TYPE_CHECKING:
    from .pages import PageContext


def make_environment(app_roots: Sequence[str] = ()) -> Environment:
    """The templates of the app (the folders `app_roots`, nearest first), then those shipped
    with MetaCRM (metacrm.layouts)."""
    folders = [Path(root) / "templates" for root in app_roots]
    loader = ChoiceLoader([*(FileSystemLoader(str(f)) for f in folders if f.is_dir()),
                           FileSystemLoader(str(shipped.layouts()))])
    env = Environment(loader=loader, auto_reload=False,
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.extend(template_choices={})  # names -> the template `chosen` picked
    env.extend(optional_templates={})  # name -> the template, or None where there is none
    return env


def chosen(env: Environment, names: tuple[str, ...]) -> Template:
    """The first of `names` that exists, remembered: templates do not change while the
    server runs (auto_reload is off), and looking for a missing one touches the disk."""
    cache = env.template_choices  # type: ignore[attr-defined]
    template = cache.get(names)
    if template is None:
        template = cache[names] = env.select_template(list(names))
    return template


def render(frame: PageContext, names: str | list[str], context: dict[str, Any], *,
           status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render the first template of `names` that exists, with the values of the page's
    frame (pages.PageContext) and then `context`."""
    env: Environment = frame.request.app.state.templates
    template = chosen(env, (names,) if isinstance(names, str) else tuple(names))
    html = template.render({**frame.template_values(), **context})
    return HTMLResponse(html, status_code=status, headers=headers)


def optional(env: Environment, name: str) -> Template | None:
    """The template `name`, or None if there is none (remembered either way)."""
    cache = env.optional_templates  # type: ignore[attr-defined]
    if name not in cache:
        try:
            cache[name] = env.get_template(name)
        except TemplateNotFound:
            cache[name] = None
    return cache[name]


CELL_TEMPLATES = ("cells-{object}.html", "cells.html")


def cell_macros(frame: PageContext, object_name: str) -> dict[str, Callable[..., str]]:
    """The macros an app ships to draw some of an object's list cells: `field_{name}` for
    one column (`field_account__city` for `account.city`), `type_{kind}` for every column
    of a type (`type_currency`), from `cells-{object}.html`, then `cells.html`. Each is
    called with the value, the record and the standard cell's HTML (`default`). Columns
    without one keep the standard cells, drawn in Python: a list is as fast as before."""
    env: Environment = frame.request.app.state.templates
    found: dict[str, Callable[..., str]] = {}
    for name in CELL_TEMPLATES:
        template = optional(env, name.format(object=object_name))
        if template is None:
            continue
        module = template.make_module(frame.template_values())
        for key, value in vars(module).items():
            if key.startswith(("field_", "type_")) and callable(value):
                found.setdefault(key, value)
    return found
