"""Public pages in a real browser, no login (issue 13 item 1): the notice list searched,
filtered and paged; a notice; the auction calendar, where a lot without a sale shows 流拍
and never a price or a buyer; each page readable at 390 px."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bidding.public import NoticeKind
from bidding.service.public import publish_notice
from tests.e2e.browser import assert_no_horizontal_overflow, base_url, browser, new_page, screenshot
from tests.e2e.test_auction_ws import INC, START, admitted_land_lot, post
from trading.context import Actor
from web import keys
from web.auction_ws import ENGINE


async def publish(app: Any, kind: NoticeKind, title_zh: str, title_en: str, *, days_ago: int = 0) -> int:
    clock = app[keys.CLOCK]
    async with app[keys.POOL].acquire() as conn, conn.transaction():
        return await publish_notice(
            conn, app[keys.AUDIT], Actor.system("test"), clock.now() - timedelta(days=days_ago), kind=kind,
            tender_id=None, title_zh=title_zh, title_en=title_en, data={"code": title_en[:20]},
        )


async def test_the_public_notice_list_searches_filters_and_pages(client) -> None:
    app = client.server.app
    for i in range(23):
        await publish(app, NoticeKind.TENDER, f"环城北路改造工程 第{i}标段 招标公告", f"Ring road lot {i}: tender notice")
    await publish(app, NoticeKind.FAILED, "图书馆设备采购 流标公告", "Library equipment: tender failed")
    await publish(app, NoticeKind.CLARIFICATION, "旧闻 澄清公告", "Old news: clarification", days_ago=40)
    base = base_url(client)
    today = app[keys.CLOCK].now().date()
    async with browser() as b:
        page = await new_page(b, "zh-CN")
        await page.goto(base + "/notices")
        assert await page.locator("#notice-list li").count() == 20  # a page of 20, newest first
        async with page.expect_navigation():
            await page.click("#next-page")
        assert await page.locator("#notice-list li").count() == 5
        assert await page.locator("#next-page").count() == 0

        await page.goto(base + "/notices")  # search by title, in Chinese
        await page.fill("#f-q", "图书馆")
        async with page.expect_navigation():
            await page.click("#notice-filters button[type=submit]")
        titles = await page.locator("#notice-list li a").all_text_contents()
        assert titles[0] == "图书馆设备采购 流标公告" and len(titles) == 1

        await page.goto(base + "/notices")  # filter by kind
        await page.select_option("#f-kind", "clarification")
        async with page.expect_navigation():
            await page.click("#notice-filters button[type=submit]")
        assert await page.locator("#notice-list li").count() == 1
        assert await page.get_attribute("#notice-list li", "data-kind") == "clarification"

        await page.goto(f"{base}/notices?published_from={today}&published_to={today}")  # by date
        assert await page.locator("#notice-list li").count() == 20
        assert "Old news" not in (await page.content())
        await page.goto(f"{base}/notices?published_to={today - timedelta(days=30)}&lang=en")
        assert await page.locator("#notice-list li a").all_text_contents() == ["Old news: clarification"]

        await page.goto(base + "/notices?kind=gossip")  # a wrong filter is said, not a crash
        assert await page.locator("#filter-error").count() == 1
        assert await page.locator("#no-notices").count() == 1

        await page.goto(base + "/notices?q=图书馆")
        async with page.expect_navigation():
            await page.click("#notice-list li a")
        assert "图书馆设备采购 流标公告" in (await page.text_content("h1") or "")
        await assert_no_horizontal_overflow(page)
        await page.goto(base + "/notices")
        await assert_no_horizontal_overflow(page)
        await page.set_viewport_size({"width": 1200, "height": 900})
        await screenshot(page, "public-notices", full_page=False)


async def test_a_lot_without_a_sale_shows_no_sale_never_a_sale(client, clock) -> None:
    """RULES A4: a lot whose highest bid is below the reserve is not sold (流拍): the pages
    show 流拍 / "No sale", never a price or a buyer for it."""
    app = client.server.app
    staff, people, lot, _ = await admitted_land_lot(client, clock, 1, countdown_s=60, title="流拍测试地块 Unsold plot")
    await post(client, f"/auctions/lots/{lot['id']}/reserve", staff, {"reserve_fen": START + 10 * INC}, 201)
    clock.advance(minutes=1)
    await post(client, f"/auctions/lots/{lot['id']}/start", staff)
    await post(client, f"/auctions/lots/{lot['id']}/bids", people[0].headers, {"bid_id": "x", "amount_fen": START}, 201)
    clock.advance(days=10, seconds=60)
    await app[ENGINE].tick()
    await app[ENGINE].wait_idle()
    base = base_url(client)
    async with browser() as b:
        page = await new_page(b, "zh-CN")
        await page.goto(base + "/auctions/calendar")
        row = page.locator(f"#auction-results tr[data-lot='{lot['id']}']")
        outcome = await row.locator("td.outcome").text_content() or ""
        assert "流拍" in outcome and "¥" not in outcome and "已成交" not in outcome
        assert await row.locator("[data-outcome=no_sale]").count() == 1
        await assert_no_horizontal_overflow(page)
        async with page.expect_navigation():
            await row.locator("a").click()
        assert "流拍" in (await page.text_content("#lot-outcome") or "")
        assert await page.locator("text=成交价").count() == 0
        await assert_no_horizontal_overflow(page)
        en = await new_page(b, "en-US")
        await en.goto(base + "/auctions/calendar?lang=en")
        assert "No sale (流拍)" in (await en.locator(f"#auction-results tr[data-lot='{lot['id']}'] td.outcome").text_content() or "")
        await en.set_viewport_size({"width": 1200, "height": 900})
        await screenshot(en, "public-auction-calendar", full_page=False)
