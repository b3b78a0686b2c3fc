"""Jinja2 templates from `layouts/`: the most specific template first (`list-contact.html`
before `list.html`), autoescaped, with the helpers every screen needs."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from .. import shipped


def make_environment() -> Environment:
    """The templates shipped with MetaCRM (metacrm.layouts)."""
    env = Environment(loader=FileSystemLoader(str(shipped.layouts())), auto_reload=False,
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.extend(template_choices={})  # names -> the template `chosen` picked
    return env


def chosen(env: Environment, names: tuple[str, ...]) -> Template:
    """The first of `names` that exists, remembered: templates do not change while the
    server runs (auto_reload is off), and looking for a missing one touches the disk."""
    cache = env.template_choices  # type: ignore[attr-defined]
    template = cache.get(names)
    if template is None:
        template = cache[names] = env.select_template(list(names))
    return template


def render(request: Request, names: str | list[str], context: dict[str, Any], *,
           status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render the first template of `names` that exists, with the page context of the
    request (`page` from views.page_context) merged in."""
    env: Environment = request.app.state.templates
    template = chosen(env, (names,) if isinstance(names, str) else tuple(names))
    base = getattr(request.state, "page", {})
    html = template.render({**base, **context, "request": request})
    return HTMLResponse(html, status_code=status, headers=headers)
