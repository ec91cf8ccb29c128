"""Pages in a real browser: logging in through the form (with the keyboard alone), the
language switch kept per session, the session cookie and CSRF, the CSP header, the audit page."""

from __future__ import annotations

from tests.e2e.browser import (
    assert_no_horizontal_overflow,
    base_url,
    browser,
    browser_page,
    login,
    new_page,
    screenshot,
)
from tests.helpers import PASSWORD, user_headers
from trading.context import Role


async def test_a_supervisor_logs_in_and_sees_the_audit_chain_intact(client) -> None:
    party, _ = await user_headers(client, Role.SUPERVISOR)
    base = base_url(client)
    async with browser_page("en-US") as page:
        await login(page, base, party.username, PASSWORD, next_path="/audit?lang=en")
        await page.wait_for_selector("#entries tbody tr")
        await page.click("#verify")
        await page.wait_for_selector("#verify-result.ok")
        text = await page.text_content("#verify-result")
        assert text is not None and "Audit chain intact" in text


async def test_a_wrong_password_shows_the_problem_in_the_page_language(client) -> None:
    party, _ = await user_headers(client, Role.SUPERVISOR)
    async with browser_page("zh-CN") as page:
        await page.goto(base_url(client) + "/login")
        await page.fill("#login-username", party.username)
        await page.fill("#login-password", "wrong-password")
        await page.click("#login-form button[type=submit]")
        await page.wait_for_function("() => document.getElementById('login-error').textContent.length > 0")
        assert "密码错误" in (await page.text_content("#login-error") or "")


async def test_the_login_form_works_with_the_keyboard_alone(client) -> None:
    """Keyboard only: skip link first, then Tab into the form, type, Enter submits."""
    party, _ = await user_headers(client, Role.SUPERVISOR)
    async with browser_page("zh-CN") as page:
        await page.goto(base_url(client) + "/")
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.classList.contains('skip')")
        for _ in range(20):  # Tab through the header to the login link, then Enter
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.id") == "login-link":
                break
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert await page.evaluate("document.activeElement.id") == "login-username"  # autofocus
        await page.keyboard.type(party.username)
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.id") == "login-password"
        await page.keyboard.type(PASSWORD)
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        await page.wait_for_selector("#logout")
        assert page.url.endswith("/")


async def test_the_language_switch_is_kept_for_the_session(client) -> None:
    base = base_url(client)
    async with browser() as b:
        page = await new_page(b, "zh-CN")
        await page.goto(base + "/")
        assert await page.get_attribute("html", "lang") == "zh-CN"
        assert "阳光公共资源交易平台" in await page.title()
        async with page.expect_navigation():
            await page.click("#lang-switch")
        assert await page.get_attribute("html", "lang") == "en"
        await page.goto(base + "/notices")  # another page, same browser session: still English
        assert await page.get_attribute("html", "lang") == "en"
        assert "Notices" in (await page.text_content("h1") or "")
        other = await new_page(b, "en-US")  # another browser: the default, Chinese
        await other.goto(base + "/notices")
        assert await other.get_attribute("html", "lang") == "zh-CN"


async def test_every_page_has_the_csp_header_without_inline_script(client) -> None:
    for path in ("/", "/login", "/notices", "/auctions"):
        r = await client.get(path)
        assert r.status == 200, path
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_cookie_write_without_the_csrf_token_is_refused(client) -> None:
    """The session cookie authenticates reads; a write needs X-CSRF-Token as well."""
    party, _ = await user_headers(client, Role.SUPERVISOR)
    base = base_url(client)
    async with browser_page("en-US") as page:
        await login(page, base, party.username, PASSWORD, next_path="/audit?lang=en")
        result = await page.evaluate(
            """async () => {
                const read = await fetch('/api/v1/me');
                const bare = await fetch('/api/v1/sessions/current', {method: 'DELETE'});
                const forged = await fetch('/api/v1/sessions/current', {method: 'DELETE', headers: {'X-CSRF-Token': 'forged'}});
                return {read: read.status, me: (await read.json()).username, bare: bare.status,
                        bareCode: (await bare.json()).code, forged: forged.status};
            }"""
        )
        assert result == {"read": 200, "me": party.username, "bare": 403, "bareCode": "csrf_failed", "forged": 403}
        cookies = {c["name"]: c for c in await page.context.cookies()}
        assert cookies["sunlit_session"]["httpOnly"] and cookies["sunlit_session"]["sameSite"] == "Lax"
        assert not cookies["sunlit_csrf"]["httpOnly"]
        assert await page.evaluate("document.cookie.includes('sunlit_session')") is False
        # the page's own module sends the token: logging out through the API works
        status = await page.evaluate(
            """async () => { const m = await import('/static/js/api.js');
                              await m.api('/api/v1/sessions/current', {method: 'DELETE'}); return 'ok'; }"""
        )
        assert status == "ok"
        assert (await page.evaluate("fetch('/api/v1/me').then(r => r.status)")) == 401


async def test_a_login_form_posted_from_elsewhere_is_refused(client) -> None:
    """The login and language forms carry the double-submit token; without it: 403."""
    party, _ = await user_headers(client, Role.SUPERVISOR)
    r = await client.post("/login", data={"username": party.username, "password": PASSWORD}, allow_redirects=False)
    assert r.status == 403
    assert "sunlit_session" not in r.cookies


async def test_logout_ends_the_session(client) -> None:
    party, _ = await user_headers(client, Role.SUPERVISOR)
    base = base_url(client)
    async with browser_page("en-US") as page:
        await login(page, base, party.username, PASSWORD)
        token = {c["name"]: c["value"] for c in await page.context.cookies()}["sunlit_session"]
        assert (await page.evaluate("fetch('/api/v1/me').then(r => r.status)")) == 200  # cached now
        async with page.expect_navigation():
            await page.click("#logout")
        await page.wait_for_selector("#login-link")
        assert (await page.evaluate("fetch('/api/v1/me').then(r => r.status)")) == 401
    # the token itself is dead, not only the browser's cookie gone
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 401


async def test_a_page_for_a_role_is_refused_to_another(client) -> None:
    party, _ = await user_headers(client, Role.BIDDER)
    base = base_url(client)
    async with browser_page("en-US") as page:
        await page.goto(base + "/audit")
        assert "/login" in page.url  # not logged in: to the login form, then back
        await login(page, base, party.username, PASSWORD, next_path="/audit?lang=en")
        assert (await page.get_attribute("#problem", "data-code")) == "role_forbidden"


async def test_the_home_page_reports_health_and_fits_a_phone(client) -> None:
    async with browser_page("en-US") as page:
        await page.goto(base_url(client) + "/?lang=en")
        await page.wait_for_selector("#health.ok")
        assert "Sunlit" in await page.title()
        await assert_no_horizontal_overflow(page)
        await page.goto(base_url(client) + "/login")
        await assert_no_horizontal_overflow(page)
        await page.set_viewport_size({"width": 1200, "height": 900})
        await page.goto(base_url(client) + "/")
        await page.wait_for_selector("#health.ok")
        await screenshot(page, "public-home")


async def test_the_public_pages_run_without_a_csp_violation_or_a_script_error(client) -> None:
    """The policy is enforced by the browser: nothing on these pages trips it (an inline
    style or script, eval), and their modules load and run without an error."""
    base = base_url(client)
    async with browser() as b:
        page = await new_page(b, "zh-CN")
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        for path in ("/", "/notices", "/auctions", "/auctions/calendar", "/login"):
            await page.goto(base + path)
            await page.wait_for_load_state("networkidle")
        assert problems == []
