"""The quota-plate session in the auction room, in a real browser (issue 15 item 1 "the
auction room page shows the session"; issue 13 item 3): a bidder applies (报名) in the page
and sees the deposit's sub-account, pays through the bank's notification to the ledger, is
admitted with a paddle, bids in the first half and revises in the second (the window and the
revisions left shown), and sees the result after the close; a watcher who is not logged in
sees the published cutoff and bid count update, and never a bidder's price.

Sources: RULES.md A9 (quota plates: one bid at most the warning price in the first half,
revisions within the window in the second, the cutoff), A6 (admitted on a confirmed deposit).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from crypto.signing import generate_signing_key, public_key_bytes
from tests.e2e.browser import (
    assert_no_horizontal_overflow,
    base_url,
    browser,
    login,
    new_page,
    screenshot,
)
from tests.e2e.test_quota_session import DEPOSIT, WARNING, ok, pay
from tests.helpers import PASSWORD, user_headers
from trading.clock import iso_ms
from trading.context import Role
from web import keys
from web.auction_quota import QUOTA_ENGINE


def text_is(element_id: str, value: str) -> str:
    return f"() => (document.getElementById('{element_id}')?.textContent || '').trim() === '{value}'"


def half_is(value: str) -> str:
    return f"() => document.getElementById('q-half').dataset.half === '{value}'"


async def test_a_bidder_applies_pays_bids_revises_and_sees_the_result_while_a_watcher_sees_the_cutoff(
    make_client: Any, clock: Any
) -> None:
    """A9, A6: the quota session's whole journey in the page."""
    client = await make_client()
    app = client.server.app
    _, admin = await user_headers(client, Role.ADMIN)
    _, staff = await user_headers(client, Role.STAFF)
    bank_key = generate_signing_key()
    await ok(await client.post("/api/v1/ledger/bank-keys", headers=admin,
                               json={"public_key": public_key_bytes(bank_key).hex()}), 201)
    starts = clock.now() + timedelta(hours=1)
    half_at, ends_at = starts + timedelta(seconds=60), starts + timedelta(seconds=120)
    session = await ok(await client.post("/api/v1/auctions/quota", headers=staff, json={
        "title": "2026年3月 个人额度拍卖", "quota": 2, "warning_price_fen": WARNING, "starts_at": iso_ms(starts),
        "first_half_s": 60, "second_half_s": 60, "deposit_fen": DEPOSIT,
    }), 201)
    sid = session["id"]
    room = f"/auctions/quota/{sid}"
    me, _ = await user_headers(client, Role.BIDDER)
    other, other_headers = await user_headers(client, Role.BIDDER)
    base = base_url(client)

    async with browser() as b:
        page, watcher = await new_page(b, "zh-CN"), await new_page(b, "en-US")
        await login(page, base, me.username, PASSWORD, next_path=room)
        await watcher.goto(base + room + "?lang=en")
        for p in (page, watcher):
            await p.wait_for_function("() => document.getElementById('conn').dataset.state === 'up'")
            await p.wait_for_function(half_is("before"))
        assert await watcher.locator("#q-bid-form").count() == 0  # a watcher has no bid form

        # 报名: the sub-account; paid through the bank's notification; applying again admits
        await page.click("#q-apply-btn")
        await page.wait_for_function("() => document.getElementById('q-sub-account').textContent.length > 5")
        sub_account = (await page.text_content("#q-sub-account") or "").strip()
        assert await page.get_attribute("#q-deposit-state", "data-state") == "awaiting"
        await pay(client, bank_key, 1, sub_account)
        await page.click("#q-apply-btn")
        await page.wait_for_function("() => /^\\d{8}$/.test(document.getElementById('q-paddle').textContent.trim())")
        assert await page.get_attribute("#q-deposit-state", "data-state") == "confirmed"
        paddle = (await page.text_content("#q-paddle") or "").strip()
        # a second bidder, over the API
        applied = await ok(await client.post(f"/api/v1/auctions/quota/{sid}/apply", headers=other_headers), 201)
        await pay(client, bank_key, 2, applied["deposit"]["sub_account"])
        await ok(await client.post(f"/api/v1/auctions/quota/{sid}/apply", headers=other_headers), 201)

        # the first half: one bid, at most the warning price
        clock.set(starts + timedelta(seconds=5))
        await app[keys.SCHEDULER].run_due()
        await app[QUOTA_ENGINE].wait_idle()
        for p in (page, watcher):
            await p.wait_for_function(half_is("first"))
        await page.fill("#q-amount", "90,100")  # over the warning price: the engine refuses it
        await page.click("#q-bid-submit")
        await page.wait_for_selector("#q-confirm[open]")
        await page.click("#q-confirm-yes")
        await page.wait_for_function("() => document.getElementById('q-bid-error').textContent.includes('over_warning_price')")
        await page.fill("#q-amount", "89000")
        await page.click("#q-bid-submit")
        await page.wait_for_selector("#q-confirm[open]")
        assert "89,000.00" in (await page.text_content("#q-confirm-text") or "")
        await page.click("#q-confirm-yes")
        await page.wait_for_function("() => document.getElementById('q-bid-status').textContent.startsWith('✓')")
        await page.wait_for_function(text_is("q-my-bid", "89,000.00"))
        await ok(await client.post(f"/api/v1/auctions/quota/{sid}/bids", headers=other_headers,
                                   json={"bid_id": "o-1", "amount_fen": WARNING}), 201)
        # the watcher: the count and the cutoff, published once a second; no one's price
        await watcher.wait_for_function(text_is("q-count", "2"), timeout=10_000)
        await watcher.wait_for_function(text_is("q-cutoff", "89,000.00"), timeout=10_000)
        assert await watcher.locator("#q-mine").count() == 0

        # the second half: a revision within ±300 yuan of the cutoff; revisions left shown
        clock.set(half_at + timedelta(seconds=1))
        for p in (page, watcher):
            await p.wait_for_function(half_is("second"))
        await page.wait_for_function(text_is("q-window", "88,700.00 – 89,300.00"))
        await page.fill("#q-amount", "89300")
        await page.click("#q-bid-submit")
        await page.wait_for_selector("#q-confirm[open]")
        await page.click("#q-confirm-yes")
        await page.wait_for_function(text_is("q-my-bid", "89,300.00"))
        await page.wait_for_function(text_is("q-revisions", "1"))
        await assert_no_horizontal_overflow(page)
        await screenshot(page, "auction-quota")

        # the close and the result: both plates sold; my own outcome, the cutoff, the average
        clock.set(ends_at + timedelta(milliseconds=1))
        await app[keys.SCHEDULER].run_due()
        await app[QUOTA_ENGINE].wait_idle()
        for p in (page, watcher):
            await p.wait_for_function("() => !document.getElementById('q-result').hidden", timeout=10_000)
            await p.wait_for_function(text_is("q-r-cutoff", "89,300.00"), timeout=10_000)
            await p.wait_for_function(text_is("q-r-winners", "2"))
        assert await page.get_attribute("#q-r-mine", "data-outcome") == "won"
        assert "89,300.00" in (await page.text_content("#q-r-mine") or "")
        assert await page.locator("#q-bid-form").is_hidden()
        assert paddle not in (await watcher.text_content("main") or "")
