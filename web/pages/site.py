"""The site's frame: log in and out through forms, the language switch, the home page, the
audit page, the auction room."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from trading.context import Role
from trading.errors import DomainError
from trading.parties import service as parties
from web import keys
from web.api import SESSIONS, actor_for
from web.pages import session as sess
from web.pages.render import ROLE_HOME, PageCtx, audit_denied, local_path, page, redirect


async def _form(p: PageCtx) -> dict[str, str]:
    data = await p.request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}


@page("/login", "login.html")
async def login_page(p: PageCtx) -> dict[str, Any]:
    return {"next": local_path(p.request.query.get("next"), ""), "error": None, "username": ""}


@page("/login", "login.html", method="POST")
async def login_submit(p: PageCtx) -> dict[str, Any] | web.StreamResponse:
    """The login form (the same ``parties.login`` as ``POST /api/v1/sessions``, with its
    audit entries); success sets the session cookies and goes on (303)."""
    form = await _form(p)
    sess.check_anonymous_csrf(p.request, form.get(sess.CSRF_FIELD, ""))
    request = p.request
    config = request.app[keys.CONFIG]
    username = form.get("username", "").strip()[:40]
    try:
        async with request.app[keys.POOL].acquire() as conn:
            token, user, _ = await parties.login(
                conn, request.app[keys.AUDIT], actor_for(request, None), request.app[keys.CLOCK].now(),
                username=username, password=form.get("password", "")[:200], ttl_s=config.session_ttl_s,
            )
    except DomainError as err:
        if err.status_hint in (401, 403):
            await audit_denied(request, err)
        return p.render("login.html", {
            "next": local_path(form.get("next"), ""), "username": username,
            "error": err.message_zh if p.lang == "zh" else err.message_en,
        }, status=err.status_hint)
    target = local_path(form.get("next"), ROLE_HOME.get(user.role, "/"))
    response = redirect(target)
    sess.set_session_cookies(response, request, token, config.session_ttl_s)
    p.set_csrf = False
    return response


@page("/logout", method="POST")
async def logout_submit(p: PageCtx) -> web.StreamResponse:
    """End the browser's session (revoked like ``DELETE /api/v1/sessions/current``; its
    auction websockets close) and clear the cookies."""
    request = p.request
    form = await _form(p)
    token = request.cookies.get(sess.SESSION_COOKIE)
    response = redirect("/")
    if token and p.user is not None:
        sess.check_csrf(request, token, form.get(sess.CSRF_FIELD, ""))
        async with request.app[keys.POOL].acquire() as conn:
            await parties.logout(conn, request.app[keys.AUDIT], actor_for(request, p.user),
                                 request.app[keys.CLOCK].now(), token, sessions=request.app.get(SESSIONS))
        from web.auction_ws import GATEWAY

        gateway = request.app.get(GATEWAY)
        if gateway is not None:
            await gateway.end_session(token)
    sess.clear_session_cookies(response)
    p.set_csrf = False
    return response


@page("/lang", method="POST")
async def switch_language(p: PageCtx) -> web.StreamResponse:
    """The language switch: kept in a cookie for this browser; back to the same page."""
    form = await _form(p)
    sess.check_anonymous_csrf(p.request, form.get(sess.CSRF_FIELD, ""))
    lang = form.get("lang", "")
    response = redirect(local_path(form.get("next")))
    if lang in ("zh", "en"):
        sess.set_lang_cookie(response, p.request, lang)
    return response


@page("/audit", "audit.html", roles={Role.SUPERVISOR})
async def audit_page(p: PageCtx) -> dict[str, Any]:
    return {}
