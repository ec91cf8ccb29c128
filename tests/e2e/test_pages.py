"""Pages in a real browser: a supervisor logs in and verifies the audit chain; the pages speak
Chinese or English."""

from __future__ import annotations

from tests.e2e.browser import browser_page
from tests.helpers import PASSWORD, user_headers
from trading.context import Role


async def test_a_supervisor_logs_in_and_sees_the_audit_chain_intact(client) -> None:
    party, _ = await user_headers(client, Role.SUPERVISOR)
    base = str(client.make_url("/"))
    async with browser_page() as page:
        await page.goto(base + "audit?lang=en")
        await page.fill("input[name=username]", party.username)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("#logout")
        await page.wait_for_selector("#entries tbody tr")
        await page.click("#verify")
        await page.wait_for_selector("#verify-result.ok")
        text = await page.text_content("#verify-result")
        assert text is not None and "Audit chain intact" in text


async def test_a_wrong_password_shows_the_problem_in_the_page_language(client) -> None:
    party, _ = await user_headers(client, Role.SUPERVISOR)
    async with browser_page("zh-CN") as page:
        await page.goto(str(client.make_url("/audit")))
        assert "审计日志" in (await page.text_content("h2.needs-login, section.needs-login h2") or "审计日志")
        await page.fill("input[name=username]", party.username)
        await page.fill("input[name=password]", "wrong-password")
        await page.click("#login-form button[type=submit]")
        await page.wait_for_function("document.getElementById('login-error').textContent.length > 0")
        assert "密码错误" in (await page.text_content("#login-error") or "")


async def test_the_home_page_reports_health(client) -> None:
    async with browser_page("en-US") as page:
        await page.goto(str(client.make_url("/?lang=en")))
        await page.wait_for_selector("#health.ok")
        assert "Sunlit" in await page.title()
