"""Browser sessions: the project's own session tokens, carried in an HttpOnly cookie, and
the CSRF token that every cookie-authenticated write must echo.

Why the project's own sessions and not ``aiohttp-session``: a session already exists — the
token ``POST /api/v1/sessions`` returns, stored only as its hash (``trading.parties``), with
its expiry, its revocation at logout, the audit entries of both, and the auction gateway's
map session → websockets that a logout closes. ``aiohttp-session`` would add a second,
parallel session (an encrypted cookie or a Redis row) that would have to mirror all of that,
and a second way to be logged in. Instead the browser holds the same token, where injected
script cannot read it:

``sunlit_session``  the bearer token; HttpOnly, SameSite=Lax, Path=/, Secure over https,
                    Max-Age = the session's lifetime. The API accepts it in place of
                    ``Authorization: Bearer`` (``web.api.authenticate``), and the auction
                    websocket accepts it when the handshake's Origin is the site itself.
``sunlit_csrf``     readable by the page's script (not HttpOnly), SameSite=Strict. Before
                    login a random value (it guards the login and language forms:
                    double-submit); after login HMAC-SHA-256(key=session token, "sunlit-csrf"),
                    so it is bound to the session and cannot be planted by whoever can set
                    a cookie but does not know the token.
``sunlit_lang``     "zh" or "en": the language chosen with the switch (one year).

A write (any method but GET/HEAD/OPTIONS) authenticated by the cookie must carry the CSRF
token in the ``X-CSRF-Token`` header (fetch) or the ``csrf`` form field (forms); a request
with ``Authorization: Bearer`` is not cookie-authenticated (a cross-site page cannot set that
header) and needs none. The token is never put in localStorage or a page: the page's script
only ever sees the CSRF value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from aiohttp import web

from trading.errors import Forbidden

SESSION_COOKIE = "sunlit_session"
CSRF_COOKIE = "sunlit_csrf"
LANG_COOKIE = "sunlit_lang"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LANG_MAX_AGE_S = 365 * 24 * 3600


def csrf_for(token: str) -> str:
    """The CSRF token bound to a session token (HMAC keyed by the session token)."""
    mac = hmac.new(token.encode(), b"sunlit-csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def new_anonymous_csrf() -> str:
    return secrets.token_urlsafe(32)


def session_token(request: web.Request) -> tuple[str | None, bool]:
    """The session token and whether it came from the cookie (Authorization wins)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if cookie:
        return cookie, True
    return None, False


def csrf_refused() -> Forbidden:
    return Forbidden(
        "a write from the browser must carry the page's CSRF token (X-CSRF-Token); reload the page",
        "浏览器发起的写操作须携带页面的 CSRF 令牌（X-CSRF-Token）；请刷新页面后重试",
        code="csrf_failed",
    )


def check_csrf(request: web.Request, token: str, presented: str | None = None) -> None:
    """Refuse a cookie-authenticated write whose CSRF token is missing or wrong."""
    if request.method in SAFE_METHODS:
        return
    given = presented if presented is not None else request.headers.get(CSRF_HEADER, "")
    if not given or not hmac.compare_digest(given.encode(), csrf_for(token).encode()):
        raise csrf_refused()


def check_anonymous_csrf(request: web.Request, presented: str) -> None:
    """A form posted before login (login, language): the field equals the csrf cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not presented or not hmac.compare_digest(cookie.encode(), presented.encode()):
        raise csrf_refused()


def same_origin(request: web.Request) -> bool:
    """Whether a request's Origin (sent by browsers on websocket handshakes and writes) is
    this site. A request without Origin is not from a browser page."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return origin in (f"http://{request.host}", f"https://{request.host}")


def _secure(request: web.Request) -> bool:
    """Over https — directly, or behind a proxy that says so (the flag only ever tightens)."""
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def set_session_cookies(response: web.StreamResponse, request: web.Request, token: str, max_age_s: int) -> str:
    """Log the browser in: the token in the HttpOnly cookie, the bound CSRF value beside it."""
    csrf = csrf_for(token)
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age_s, path="/", httponly=True, samesite="Lax",
                        secure=_secure(request))
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age_s, path="/", samesite="Strict", secure=_secure(request))
    return csrf


def clear_session_cookies(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")


def page_csrf(request: web.Request) -> tuple[str, bool]:
    """The CSRF value a page embeds in its forms, and whether the cookie must be (re)set."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        return csrf_for(token), request.cookies.get(CSRF_COOKIE) != csrf_for(token)
    cookie = request.cookies.get(CSRF_COOKIE)
    if cookie:
        return cookie, False
    return new_anonymous_csrf(), True


def set_csrf_cookie(response: web.StreamResponse, request: web.Request, value: str) -> None:
    response.set_cookie(CSRF_COOKIE, value, path="/", samesite="Strict", secure=_secure(request))


def set_lang_cookie(response: web.StreamResponse, request: web.Request, lang: str) -> None:
    response.set_cookie(LANG_COOKIE, lang, max_age=LANG_MAX_AGE_S, path="/", httponly=True, samesite="Lax",
                        secure=_secure(request))
