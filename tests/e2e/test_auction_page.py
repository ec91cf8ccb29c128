"""The auction room in a real browser (issue 13 item 3): two bidders in two browser contexts
outbid each other with the +1 / +N buttons and a confirmation, and both pages show the same
price; my paddle and my bids are highlighted; a dropped socket reconnects and resumes from
the last sequence number; a typed amount is checked at the edge; 报名 opens the deposit's
sub-account (A6, A2: the order of arrival is the order of the log)."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import (
    assert_no_horizontal_overflow,
    base_url,
    browser,
    demo_password,
    login,
    new_page,
    screenshot,
)

PRICE = "document.getElementById('lot-price').textContent"


async def _land_lot(client: Any) -> dict[str, Any]:
    lots = await (await client.get("/api/v1/auctions/lots")).json()
    return next(lot for lot in lots if lot["kind"] == "land")


async def _bid(page: Any, button: str) -> None:
    await page.evaluate("() => { document.getElementById('bid-status').textContent = ''; }")
    await page.click(button)
    await page.wait_for_selector("#confirm-bid[open]")
    await page.click("#confirm-yes")
    await page.wait_for_function("() => document.getElementById('bid-status').textContent.startsWith('✓')")


async def test_two_bidders_outbid_each_other_and_both_see_the_same_price(make_client) -> None:
    client = await make_client(load_demo=True)
    app = client.server.app
    land = await _land_lot(client)
    base = base_url(client)
    room = f"/auctions?lot={land['id']}"
    start, inc = land["starting_price_fen"], land["increment_fen"]

    def yuan(fen: int) -> str:
        return f"{fen // 100:,}.{fen % 100:02d}"

    async with browser() as b:
        one, two = await new_page(b, "zh-CN"), await new_page(b, "en-US")
        await login(one, base, "bidder1", demo_password(app, "bidder1"), next_path=room)
        await login(two, base, "bidder2", demo_password(app, "bidder2"), next_path=room + "&lang=en")
        for page in (one, two):
            await page.wait_for_function("() => document.getElementById('my-paddle').textContent.trim().length === 6")
            await page.wait_for_function("() => document.getElementById('conn').dataset.state === 'up'")
        paddle_one = (await one.text_content("#my-paddle") or "").strip()
        paddle_two = (await two.text_content("#my-paddle") or "").strip()
        assert paddle_one != paddle_two

        highest = (land.get("live") or {}).get("highest_fen")
        first = start if highest is None else highest + inc
        await _bid(one, "#bid-plus1")  # +1: the next minimum
        # Before any bid the price shows the starting price, which is also the first bid's
        # amount: wait for the leader, which only the accepted bid sets.
        for page in (one, two):
            await page.wait_for_function(
                f"() => document.getElementById('lot-leader').textContent.startsWith('{paddle_one}')"
            )
            await page.wait_for_function(f"() => {PRICE} === '{yuan(first)}'")
        assert await one.locator("#lot-leader.mine").count() == 1  # "you lead", highlighted

        await two.select_option("#bid-n", "3")  # +N: three increments over the highest
        await _bid(two, "#bid-plusn")
        second = first + 3 * inc
        for page in (one, two):
            await page.wait_for_function(f"() => {PRICE} === '{yuan(second)}'")
        assert await one.locator("#lot-leader.mine").count() == 0

        # a dropped connection is shown, reconnects and resumes from the last seq
        await one.evaluate("window.dispatchEvent(new Event('sunlit:drop-socket'))")
        await one.wait_for_function("() => document.getElementById('conn').dataset.state === 'down'", timeout=5000)
        third = second + inc  # meanwhile a third bidder bids over HTTP
        r = await client.post("/api/v1/sessions", json={"username": "bidder3", "password": demo_password(app, "bidder3")})
        token = (await r.json())["token"]
        r = await client.post(f"/api/v1/auctions/lots/{land['id']}/bids", headers={"Authorization": f"Bearer {token}"},
                              json={"bid_id": "http-1", "amount_fen": third})
        assert r.status == 201, await r.text()
        await one.wait_for_function("() => document.getElementById('conn').dataset.state !== 'down'", timeout=15000)
        for page in (one, two):
            await page.wait_for_function(f"() => {PRICE} === '{yuan(third)}'")

        # my bids are highlighted in my stream, by paddle only
        assert await two.locator("#stream li.mine").count() == 1
        mine_one = await one.locator("#stream li.mine").all_text_contents()
        assert any(paddle_one in text for text in mine_one) and not any(paddle_two in text for text in mine_one)
        assert "bidder1" not in (await two.text_content("#stream") or "")

        # a typed amount: yuan with at most two decimals, checked before anything is sent
        await one.fill("#bid-amount", "12.345")
        await one.click("#bid-submit")
        assert "最多两位小数" in (await one.text_content("#bid-error") or "")

        # the grid follows the lot live too
        cell_price = await two.text_content(f"#lot-{land['id']} .lot-price")
        assert cell_price == yuan(third)
        await assert_no_horizontal_overflow(one)
        await one.set_viewport_size({"width": 1200, "height": 900})
        await screenshot(one, "auction-room")


async def test_a_bidder_applies_and_sees_the_deposit_instructions(make_client) -> None:
    """报名: a bidder without a paddle opens the deposit's sub-account from the room (A6:
    admission waits for the confirmed deposit)."""
    client = await make_client(load_demo=True)
    app = client.server.app
    from tests.helpers import PASSWORD, make_user
    from trading.context import Role
    from web import keys

    async with app[keys.POOL].acquire() as conn:
        party = await make_user(conn, app[keys.AUDIT], app[keys.CLOCK], Role.BIDDER, username="pagebidder")
    land = await _land_lot(client)
    base = base_url(client)
    async with browser() as b:
        page = await new_page(b, "zh-CN")
        await login(page, base, party.username, PASSWORD, next_path=f"/auctions?lot={land['id']}")
        await page.wait_for_selector("#apply-btn:not([hidden])")
        assert await page.locator("#bid-form[hidden]").count() == 1  # no paddle, no bidding
        await page.click("#apply-btn")
        await page.wait_for_selector("#sub-account")
        assert (await page.text_content("#sub-account") or "").isdigit()
        assert await page.get_attribute("#deposit-state", "data-state") == "awaiting"
        assert (await page.text_content("#deposit-state") or "") == "待缴纳"
        await assert_no_horizontal_overflow(page)
    assert app  # the app served the whole journey


async def test_a_watcher_sees_the_plate_sessions_grid_update_live(make_client, clock) -> None:
    """No login: the plate session's lots, on the page as a grid, follow the stream — the
    session opens on its timed event and a bid on one plate shows in that plate's cell."""
    from datetime import timedelta

    from web import keys
    from web.auction_ws import ENGINE

    client = await make_client(load_demo=True)
    app = client.server.app
    lots = await (await client.get("/api/v1/auctions/lots")).json()
    plates = [lot for lot in lots if lot["kind"] == "plate"]
    assert plates
    async with browser() as b:
        watcher = await new_page(b, "zh-CN")
        await watcher.goto(base_url(client) + "/auctions")
        await watcher.wait_for_function("() => document.getElementById('conn').dataset.state === 'up'")
        cell = f"#lot-{plates[1]['id']}"
        assert (await watcher.text_content(f"{cell} .lot-phase") or "").strip() == "未开始"

        clock.advance(timedelta(minutes=3))  # the session's start (auction.start, a timed event)
        await app[keys.SCHEDULER].run_due()
        await app[ENGINE].wait_idle()
        await watcher.wait_for_function(f"() => document.querySelector('{cell} .lot-phase').textContent === '限时竞价'")

        r = await client.post("/api/v1/sessions", json={"username": "bidder4", "password": demo_password(app, "bidder4")})
        token = (await r.json())["token"]
        amount = plates[1]["starting_price_fen"]
        r = await client.post(f"/api/v1/auctions/lots/{plates[1]['id']}/bids",
                              headers={"Authorization": f"Bearer {token}"}, json={"bid_id": "p-1", "amount_fen": amount})
        assert r.status == 201, await r.text()
        paddle = (await r.json()).get("paddle")
        await watcher.wait_for_function(
            f"() => document.querySelector('{cell} .lot-price').textContent === '{amount // 100:,}.{amount % 100:02d}'")
        if paddle:
            assert (await watcher.text_content(f"{cell} .lot-leader")) == paddle
        other = f"#lot-{plates[0]['id']} .lot-leader"
        assert (await watcher.text_content(other)) == "—"  # only that plate moved
        assert "竞买号" not in (await watcher.text_content("#conn") or "")
        await assert_no_horizontal_overflow(watcher)
