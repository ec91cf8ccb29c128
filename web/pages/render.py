"""How a page is served: the language, the user behind the session cookie, the role check,
the data through the API's own route table, and the template in the page's language.

A page is declared with ``@page(path, template, roles=...)``; ``roles=None`` is public. The
role check is the API's (``web.api.check_role``: the listed roles, and a supervisor reads
everything read-only) — a page never shows what its API would refuse, because its data comes
from the API: ``PageCtx.api(path, **query)`` runs the same endpoint (validation, role, scope)
in-process with the browser's own session, and its refusal is the page's refusal.

Each language has its own Jinja2 environment (aiohttp-jinja2, one ``app_key`` each) with the
i18n extension and that language's gettext catalog installed (``newstyle``: ``_("…%(n)s", n=…)``
escapes and formats). Templates write ``{{ _("English source text") }}`` or ``{% trans %}``;
the catalogs under ``web/locale/`` give the Chinese (see docs/pages.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web
from yarl import URL

from trading.context import Role
from trading.errors import DomainError, Forbidden, Unauthenticated
from trading.parties import service as parties
from trading.parties.model import User
from web import keys
from web.api import SESSIONS, actor_for
from web.i18n import LANGS, load_translations
from web.pages import session as sess

log = logging.getLogger("sunlit.pages")

HERE = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
ENV_KEYS: dict[str, web.AppKey[jinja2.Environment]] = {
    lang: web.AppKey(f"pages_env_{lang}", jinja2.Environment) for lang in LANGS
}
DEFAULT_LANG = "zh"
TRANSLATIONS = web.AppKey("pages_translations", dict)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
"""Every HTML page's Content-Security-Policy: scripts only from this site's files (no inline
script, no ``on*=`` attribute, no eval), nothing framed, forms post only here."""
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

def N_(text: str) -> str:
    """Marks a string for extraction where it is translated later (menus, labels)."""
    return text


# The menus, per role: (path, label). Labels are msgids (translated in the template).
PUBLIC_MENU: tuple[tuple[str, str], ...] = (
    ("/", N_("Home")),
    ("/notices", N_("Notices")),
    ("/auctions/calendar", N_("Auction calendar")),
    ("/auctions", N_("Auction room")),
    # the supervision issue's pages take these two slots when they land
    ("/public/bad-behaviour", N_("Bad-behaviour list")),
    ("/public/statistics", N_("Statistics")),
)
ROLE_MENUS: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.BIDDER: (("/bidder", N_("My tenders")), ("/auctions", N_("Auction room"))),
    Role.STAFF: (("/staff", N_("Staff console")),),
    Role.ADMIN: (("/staff", N_("Staff console")),),
    Role.EXPERT: (("/expert", N_("Expert workspace")),),
    Role.CUSTODIAN: (("/custodian", N_("Key shares")),),
    Role.SUPERVISOR: (("/supervisor", N_("Supervisor console")), ("/audit", N_("Audit log"))),
}
ROLE_LABELS: dict[str, str] = {
    "bidder": N_("Bidder"), "staff": N_("Centre staff"), "admin": N_("Administrator"), "expert": N_("Expert"),
    "custodian": N_("Key custodian"), "supervisor": N_("Supervisor"),
}
NOTICE_KIND_LABELS: dict[str, str] = {
    "tender": N_("Tender notice"), "amendment": N_("Amendment notice"), "clarification": N_("Clarification notice"),
    "opening_record": N_("Opening record"), "candidates": N_("Candidate publicity"),
    "award_result": N_("Award result"), "failed": N_("Failed tender notice"), "re_tender": N_("Re-tender notice"),
}
CATEGORY_LABELS: dict[str, str] = {"works": N_("Works"), "goods": N_("Goods"), "services": N_("Services")}
ROLE_HOME: dict[Role, str] = {
    Role.BIDDER: "/bidder", Role.STAFF: "/staff", Role.ADMIN: "/staff", Role.EXPERT: "/expert",
    Role.CUSTODIAN: "/custodian", Role.SUPERVISOR: "/supervisor",
}


def page_lang(request: web.Request) -> str:
    """``?lang=`` for one page (links, tests), else the switch's cookie, else Chinese."""
    q = request.query.get("lang")
    if q in LANGS:
        return q
    c = request.cookies.get(sess.LANG_COOKIE)
    return c if c in LANGS else DEFAULT_LANG


def local_path(target: str | None, default: str = "/") -> str:
    """A redirect target that stays on this site (a path, never ``//host`` or a scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def redirect(target: str) -> web.Response:
    """303 See Other to a local path (after a form's POST)."""
    return web.Response(status=303, headers={"Location": target})


def allowed(role: Role, roles: frozenset[Role], *, write: bool = False) -> bool:
    """The API's rule (``web.api.check_role``): listed roles; a supervisor reads anything."""
    return role in roles or (role == Role.SUPERVISOR and not write)


@dataclass
class PageCtx:
    request: web.Request
    lang: str
    user: User | None
    csrf: str
    set_csrf: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def app(self) -> web.Application:
        return self.request.app

    def _(self, text: str, **kw: Any) -> str:
        """The page language's translation of a msgid (``%(name)s`` filled from ``kw``)."""
        out = self.app[TRANSLATIONS][self.lang].gettext(text)
        return out % kw if kw else out

    async def api(self, path: str, **query: Any) -> Any:
        """GET an API endpoint (``/api/v1`` + path) in-process, as this browser: the same
        route, validation, role and scope checks as over HTTP; a refusal raises its
        DomainError. ``None`` values are left out of the query."""
        url = URL("/api/v1" + path)
        q = {k: str(v) for k, v in query.items() if v is not None and v != ""}
        if q:
            url = url.with_query(q)
        sub = self.request.clone(method="GET", rel_url=url)
        match = await self.app.router.resolve(sub)
        if match.http_exception is not None:
            raise match.http_exception
        match.add_app(self.app)
        match.freeze()
        sub._match_info = match  # the sub-request runs through the API's own handler
        response = await match.handler(sub)
        assert isinstance(response, web.Response) and response.body is not None
        return json.loads(response.body)  # type: ignore[arg-type]

    def render(self, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
        ctx = base_context(self) | context
        response = aiohttp_jinja2.render_template(template, self.request, ctx, app_key=ENV_KEYS[self.lang],
                                                  status=status)
        self.finish(response)
        return response

    def finish(self, response: web.StreamResponse) -> None:
        response.headers["Content-Language"] = "zh-CN" if self.lang == "zh" else "en"
        response.headers["Cache-Control"] = "no-store"
        if self.set_csrf:
            sess.set_csrf_cookie(response, self.request, self.csrf)


def base_context(p: PageCtx) -> dict[str, Any]:
    user = p.user
    menu = list(PUBLIC_MENU)
    role_menu = list(ROLE_MENUS.get(user.role, ())) if user else []
    return {
        "lang": p.lang,
        "html_lang": "zh-CN" if p.lang == "zh" else "en",
        "other_lang": "en" if p.lang == "zh" else "zh",
        "user": user,
        "csrf": p.csrf,
        "path": p.request.path,
        "path_qs": p.request.path_qs,
        "public_menu": menu,
        "role_menu": role_menu,
        "asset": lambda name: asset_url(p.app, name),
    }


def asset_url(app: web.Application, name: str) -> str:
    return _asset_url(id(app), name, app)


@lru_cache(maxsize=512)
def _asset_url(_app_id: int, name: str, app: web.Application) -> str:
    """``/static/<name>?v=<hash>``: cache-busting by content (aiohttp's append_version)."""
    return str(app.router["static"].url_for(filename=name))


async def page_user(request: web.Request) -> User | None:
    """The user behind the session cookie, or None (no cookie, or an ended session)."""
    token = request.cookies.get(sess.SESSION_COOKIE)
    if not token:
        return None
    try:  # the API's own path: the process's session cache, then PostgreSQL
        user = await parties.resolve_cached(request.app.get(SESSIONS), request.app[keys.POOL], token,
                                            request.app[keys.CLOCK].now())
    except Unauthenticated:
        return None
    request[keys.ACTOR] = actor_for(request, user)
    return user


async def open_ctx(request: web.Request) -> PageCtx:
    user = await page_user(request)
    csrf, set_csrf = sess.page_csrf(request)
    return PageCtx(request=request, lang=page_lang(request), user=user, csrf=csrf, set_csrf=set_csrf)


PageHandler = Callable[[PageCtx], Awaitable[dict[str, Any] | web.StreamResponse]]


@dataclass(frozen=True)
class Page:
    method: str
    path: str
    template: str | None
    roles: frozenset[Role] | None
    handler: PageHandler


PAGES: list[Page] = []


def page(path: str, template: str | None = None, *, roles: set[Role] | None = None,
         method: str = "GET") -> Callable[[PageHandler], PageHandler]:
    """Declare a page: its path, its template, and the roles that may see it (None: public)."""

    def register(handler: PageHandler) -> PageHandler:
        PAGES.append(Page(method, path, template, frozenset(roles) if roles is not None else None, handler))
        return handler

    return register


async def audit_denied(request: web.Request, err: DomainError) -> None:
    from web.app import _audit_denied  # the API edge's own record of a denied attempt (T12)

    await _audit_denied(request, err)


def wrap(pg: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        p = await open_ctx(request)
        if pg.roles is not None:
            if p.user is None:
                return redirect("/login?next=" + quote(request.path_qs, safe="/?=&"))
            if not allowed(p.user.role, pg.roles, write=pg.method != "GET"):
                err = Forbidden(f"role {p.user.role} may not open {pg.path}", f"角色 {p.user.role} 无权访问 {pg.path}",
                                code="role_forbidden")
                await audit_denied(request, err)
                return error_page(p, err)
        try:
            result = await pg.handler(p)
        except DomainError as err:
            if err.status_hint in (401, 403):
                await audit_denied(request, err)
            return error_page(p, err)
        if isinstance(result, web.StreamResponse):
            p.finish(result)
            return result
        assert pg.template is not None
        return p.render(pg.template, result)

    handle.__name__ = pg.handler.__name__
    return handle


def error_page(p: PageCtx, err: DomainError) -> web.Response:
    return p.render("error.html", {
        "status": err.status_hint, "code": err.code,
        "message": err.message_zh if p.lang == "zh" else err.message_en,
    }, status=err.status_hint)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every HTML answer gets the CSP and its companions."""
    ctype = response.headers.get("Content-Type", "")
    if ctype.startswith("text/html"):
        response.headers.setdefault("Content-Security-Policy", CSP)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    elif request.path.startswith("/static/"):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")


def fen_to_yuan(fen: int | None) -> str:
    """Integer fen as yuan with two decimals and thousands separators (the one renderer)."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def _localised(lang: str) -> Callable[[Any, str], str]:
    """``{{ notice|loc("title") }}``: the ``title_zh`` or ``title_en`` member, whichever the
    page's language is, else the other."""
    other = "en" if lang == "zh" else "zh"

    def loc(obj: Any, name: str) -> str:
        if not isinstance(obj, dict):
            return ""
        return str(obj.get(f"{name}_{lang}") or obj.get(f"{name}_{other}") or obj.get(name) or "")

    return loc


def setup_envs(app: web.Application) -> None:
    app[TRANSLATIONS] = {}
    for lang in LANGS:
        translations = app[TRANSLATIONS][lang] = load_translations(lang)
        env = aiohttp_jinja2.setup(
            app, app_key=ENV_KEYS[lang], loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
            autoescape=jinja2.select_autoescape(["html"]), extensions=["jinja2.ext.i18n"],
            default_helpers=False, auto_reload=False,
        )
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        env.filters["yuan"] = fen_to_yuan
        env.filters["combine"] = lambda a, b: {**a, **b}
        env.filters["loc"] = _localised(lang)
        env.globals.update(role_labels=ROLE_LABELS, kind_labels=NOTICE_KIND_LABELS, category_labels=CATEGORY_LABELS)
        env.filters["utc"] = lambda s: (s or "")[:16].replace("T", " ") + " UTC" if s else "—"
