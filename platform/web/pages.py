"""The frame of every screen: who is signed in, the language, the navigation, flash
messages; and the screens that are not about one object: sign-in, home, language, errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..engine import activity, notices, query
from ..engine.errors import CrmError
from ..engine.runtime import Context, Runtime
from ..engine.users import User, active_sessions, hash_token, set_locale
from ..metadata.expressions import Binary, Literal, Name
from . import auth
from .display import References, display
from .i18n import LANGUAGES, Formats, translator
from .templating import render

SPECIAL_LABELS = {"home": "Home", "reports": "Reports", "dashboards": "Dashboards",
                  "segments": "Segments", "setup": "Setup"}


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session.setdefault("flash", []).append([kind, message])


@dataclass(frozen=True)
class PageContext:
    """The frame of one screen: the request, who is signed in (`ctx`, None on the sign-in
    and error pages), their language and formats, the navigation, the flash messages. Made
    once per request by `page_context` and handed to `render` and to whatever formats."""

    request: Request
    ctx: Context | None
    lang: str
    t: Callable[..., str]
    fmt: Formats
    nav: tuple[tuple[str, str, str], ...]  # (href, label, item)
    nav_active: str | None  # the menu entry of the page
    app_label: str
    csrf: str
    flashes: tuple[tuple[str, str], ...]
    unread: int  # the user's unread notifications

    @property
    def user(self) -> User | None:
        return self.ctx.user if self.ctx is not None else None

    def template_values(self) -> dict[str, Any]:
        """What the base template and every screen's template read."""
        return {"request": self.request, "ctx": self.ctx, "user": self.user,
                "lang": self.lang, "languages": LANGUAGES, "t": self.t, "fmt": self.fmt,
                "nav": self.nav, "nav_active": self.nav_active, "app_label": self.app_label,
                "csrf": self.csrf, "flashes": self.flashes, "unread": self.unread}


def frame_of(request: Request, ctx: Context | None) -> PageContext:
    """The frame of a screen for `ctx`'s user, or for no one (sign-in, errors)."""
    rt: Runtime = request.app.state.runtime
    user = ctx.user if ctx else None
    lang = ctx.locale if ctx else auth.language(request, None)
    t = translator(lang)
    nav = []
    for item in rt.model.navigation:
        if item in rt.model.objects:
            if ctx is not None and ctx.scope(item, "read") != "none":
                obj = rt.model.objects[item]
                # Vietnamese nouns have no plural: the menu says "Liên hệ", not "Danh sách ..."
                label = obj.plural.get(lang) if lang == "en" else obj.label.get(lang)
                nav.append((f"/o/{item}", label, item))
        elif item == "home":
            nav.append(("/", t("Home"), item))
        elif item in ("reports", "dashboards", "segments") and ctx is not None:
            nav.append((f"/{item}", t(SPECIAL_LABELS[item]), item))
    if user is not None and user.role in ("admin", "system"):
        nav.append(("/setup", t("Setup"), "setup"))
    return PageContext(
        request=request, ctx=ctx, lang=lang, t=t,
        fmt=Formats(lang, rt.model.currency, rt.tz), nav=tuple(nav),
        # the longest link the path starts with (home aside)
        nav_active=max((href for href, _, _ in nav if href != "/"
                        and request.url.path.startswith(href)), key=len, default=None),
        app_label=rt.model.label.get(lang), csrf=auth.csrf_token(request),
        flashes=tuple((kind, message) for kind, message in request.session.pop("flash", [])),
        unread=notices.unread_count(ctx) if ctx is not None else 0)


def formats_of(ctx: Context) -> Formats:
    """How the user reads numbers, money and dates: for a request that draws no page (a
    type-ahead, a form's conditions), which needs no menu and leaves the flashes for the
    next page."""
    return Formats(ctx.locale, ctx.model.currency, ctx.tz)


def page_context(request: Request) -> tuple[PageContext, Context]:
    """The frame of a screen and the signed-in user's context (LoginRequired otherwise)."""
    ctx = auth.web_context(request)
    return frame_of(request, ctx), ctx


def login_page(request: Request) -> Response:
    if request.method == "GET":
        if auth.session_user(request) is not None:
            return RedirectResponse(auth.safe_next(request.query_params.get("next")), 303)
        return render(frame_of(request, None), "login.html", {
            "next": request.query_params.get("next", "/"), "error": None, "username": ""})
    form = auth.checked_form(request)
    frame = frame_of(request, None)
    t = frame.t
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    result = auth.attempt_login(request, username, password)
    user = result.user
    if user is None:
        error = (t("Too many failed sign-ins. Try again in {minutes} minutes.",
                   minutes=result.locked_minutes) if result.locked_minutes
                 else t("Wrong user name or password."))
        return render(frame, "login.html", {"next": form.get("next", "/"), "error": error,
                                            "username": username}, status=401)
    auth.sign_in(request, user)
    return RedirectResponse(auth.safe_next(form.get("next")), status_code=303)


def logout(request: Request) -> Response:
    auth.checked_form(request)
    auth.sign_out(request)
    return RedirectResponse("/login", status_code=303)


def sessions_page(request: Request) -> Response:
    """The user's signed-in browsers (when, from where, with what), and "sign out
    everywhere", which ends them all, this one included."""
    frame, ctx = page_context(request)
    rt: Runtime = request.app.state.runtime
    if request.method == "POST":
        auth.checked_form(request)
        auth.sign_out_everywhere(rt, ctx.user.id)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    with rt.db.read() as conn:
        sessions = active_sessions(conn, rt.schema, ctx.user.id)
    current = request.session.get("sid")
    mine = hash_token(current) if isinstance(current, str) else ""
    fmt = frame.fmt
    return render(frame, "account_sessions.html", {"sessions": [
        {"current": s.id == mine, "created": fmt.datetime(s.created_at),
         "seen": fmt.datetime(s.last_seen_at), "address": s.address or "",
         "agent": s.agent or ""} for s in sessions]})


def set_language(request: Request) -> Response:
    form = auth.checked_form(request)
    lang = form.get("lang")
    if lang in LANGUAGES:
        request.session["lang"] = lang
        user: User | None = auth.session_user(request)
        if user is not None:
            rt: Runtime = request.app.state.runtime
            set_locale(rt.db, rt.schema, user.id, lang)
    return RedirectResponse(auth.safe_next(form.get("next")), status_code=303)


def home(request: Request) -> Response:
    frame, ctx = page_context(request)
    model = ctx.model
    tasks: list[dict[str, Any]] = []
    task_obj = model.objects.get("task")
    refs = References(ctx)
    if task_obj is not None and ctx.scope("task", "read") != "none" \
            and {"status", "due_date"} <= set(task_obj.fields):
        mine = Binary("and", Binary("==", Name(("owner",)), Literal(ctx.user.id)),
                      Binary("!=", Name(("status",)), Literal("completed")))
        tasks = query.list_records(ctx, "task", query.ListQuery(
            where=mine, sort=("due_date",), page_size=10, with_total=False)).items
    recent = activity.recently_changed(ctx)
    if task_obj is not None:
        refs.load(task_obj, tasks, ["related_contact", "related_lead"])
    return render(frame, "home.html", {"tasks": tasks, "task_obj": task_obj,
                                       "recent": recent[:10], "refs": refs,
                                       "display": display, "board": _home_board(frame, ctx)})


def _home_board(frame: PageContext, ctx: Context) -> dict[str, Any] | None:
    """The KPI tiles of the dashboard of the user's role, this month (its widgets are on
    the dashboard's own page)."""
    from ..engine.dashboards import home_dashboard, preset
    from .report_screens import kpi_tiles

    name = home_dashboard(ctx)
    if name is None:
        return None
    return {"dashboard": ctx.model.dashboards[name],
            "tiles": kpi_tiles(ctx, name, frame.fmt, frame.t,
                               period=preset("this_month", ctx.today()), owner=None)}


def error_page(request: Request, exc: CrmError) -> Response:
    titles = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Conflict",
              413: "Too large"}
    try:
        ctx = auth.web_context(request)
    except CrmError:
        ctx = None
    frame = frame_of(request, ctx)
    t = frame.t
    return render(frame, "error.html", {
        "title": t(titles.get(exc.status, "Something went wrong")),
        "message": t(exc.message)}, status=exc.status)


