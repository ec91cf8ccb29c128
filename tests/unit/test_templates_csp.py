"""Templates and static HTML keep the Content-Security-Policy's promise (issue 13, Security):
no inline script (a <script> with a body is allowed only as a JSON data block), no on*=
event-handler attributes, no javascript: URLs, no style= attributes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "web" / "templates").rglob("*.html"))

SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)
EVENT_ATTR = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I | re.S)
STYLE_ATTR = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I | re.S)
JS_URL = re.compile(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", re.I)


def test_there_are_templates() -> None:
    assert len(TEMPLATES) >= 4


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_template_has_no_inline_script(path: Path) -> None:
    text = path.read_text()
    for attrs, body in SCRIPT.findall(text):
        if body.strip():
            assert re.search(r"type\s*=\s*[\"']application/json[\"']", attrs), (
                f"inline <script> body in {path.name}: move it to web/static/js/ (CSP script-src 'self')"
            )
        else:
            assert "src=" in attrs, f"<script> without src in {path.name}"
    assert not EVENT_ATTR.search(text), f"on*= attribute in {path.name}: use addEventListener in a module"
    assert not JS_URL.search(text), f"javascript: URL in {path.name}"
    assert not STYLE_ATTR.search(text), f"style= attribute in {path.name}: use a class in style.css"


def test_the_json_data_block_cannot_end_early() -> None:
    """Every data block is written with |tojson, which escapes <, > and & (no </script> in it)."""
    for path in TEMPLATES:
        for _attrs, body in SCRIPT.findall(path.read_text()):
            if body.strip():
                assert body.strip().startswith("{{") and "tojson" in body, f"data block in {path.name}"


def test_session_cookies_are_httponly_samesite_and_secure_over_https() -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure when served over https (issue 13,
    Security); the CSRF value is bound to the session token."""
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from web.pages import session as sess

    for headers, secure in (({}, False), ({"X-Forwarded-Proto": "https"}, True)):
        request = make_mocked_request("POST", "/login", headers=headers)
        response = web.Response()
        csrf = sess.set_session_cookies(response, request, "token-1", 3600)
        cookie = response.cookies[sess.SESSION_COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and bool(cookie["secure"]) is secure
        assert response.cookies[sess.CSRF_COOKIE]["samesite"] == "Strict"
        assert not response.cookies[sess.CSRF_COOKIE]["httponly"]
        assert csrf == sess.csrf_for("token-1") != sess.csrf_for("token-2")
