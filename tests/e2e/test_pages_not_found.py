"""An unknown page path answers an HTML 404 page in the reader's language; under /api/ an
unknown path stays problem+json (issue 13: pages for people; issue 16: the API's errors). The
OpenAPI document describes the cookie session and its CSRF header beside the bearer token."""

from __future__ import annotations

from typing import Any


async def test_an_unknown_page_path_is_an_html_404_in_both_languages(client: Any) -> None:
    """Pages: a reader who follows a dead link gets a page, not JSON."""
    zh = await client.get("/no/such/page")
    assert zh.status == 404 and zh.headers["Content-Type"].startswith("text/html")
    body = await zh.text()
    assert "此地址没有页面" in body and "page_not_found" in body and 'href="/"' in body
    assert "script-src 'self'" in zh.headers["Content-Security-Policy"]
    en = await client.get("/no/such/page?lang=en")
    assert en.status == 404 and "There is no page at this address" in await en.text()


async def test_an_unknown_api_path_stays_problem_json(client: Any) -> None:
    """The API's errors are problem+json, whatever the pages do."""
    r = await client.get("/api/v1/no/such/thing")
    assert r.status == 404 and r.headers["Content-Type"].startswith("application/problem+json")
    assert (await r.json())["code"] == "not_found"
    r = await client.post("/no/such/page")
    assert r.status == 404 and r.headers["Content-Type"].startswith("application/problem+json")


async def test_openapi_describes_the_cookie_session_and_the_csrf_header(client: Any) -> None:
    """docs/pages.md security model: the cookie authenticates like the bearer token; a write
    with the cookie carries X-CSRF-Token."""
    doc = await (await client.get("/api/v1/openapi.json")).json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["cookieAuth"] == schemes["cookieAuth"] | {"type": "apiKey", "in": "cookie", "name": "sunlit_session"}
    assert "X-CSRF-Token" in schemes["cookieAuth"]["description"]
    assert doc["components"]["parameters"]["CsrfToken"]["name"] == "X-CSRF-Token"
    apply = doc["paths"]["/api/v1/auctions/quota/{session_id}/apply"]["post"]
    assert {"cookieAuth": []} in apply["security"] and apply["x-csrf-required"] is True
    me = doc["paths"]["/api/v1/me"]["get"]
    assert {"cookieAuth": []} in me["security"] and "x-csrf-required" not in me
