"""W5 and W6 in the pages (issue 13 items 2 and 6): a seated member asks the bidder of a bid
flagged as possibly below cost for a written clarification in the expert workspace; the
bidder answers it in the bidder portal's tender page; the member reads the answer and records
the panel's finding (the explanation rejected, with the reason in writing) in the page.

Sources (RULES.md): W5 (a bid more than 15 % below the mean of the others is flagged; the
panel decides on the bidder's explanation, in writing), W6 (clarifications in writing, never
changing the price or the substance).
"""

from __future__ import annotations

import pytest

from tests.e2e import test_pages_consoles as consoles
from tests.e2e.browser import assert_no_horizontal_overflow, base_url, browser, login, new_page
from tests.e2e.test_pages_consoles import drawn_tender, ok, to_the_evaluation
from tests.e2e.test_panel_api import Panel
from tests.helpers import PASSWORD


async def test_a_member_asks_the_bidder_of_a_below_cost_bid_and_records_the_finding_in_the_pages(
    panel: Panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """W5, W6 (see the module docstring)."""
    monkeypatch.setattr(consoles, "PRICES", (700_000_000, 712_345_600, 450_000_000))  # the third: far below
    client, centre = panel.client, panel.centre
    tender = await drawn_tender(panel)
    tid = tender["id"]
    await to_the_evaluation(panel, tender)
    state = await ok(await client.get(f"/api/v1/tenders/{tid}/evaluation", headers=centre.staff_h))
    [flagged] = state["flagged_below_cost"]
    low_bidder = centre.bidders[2][0]
    assert next(b for b in state["bids"] if b["bid_id"] == flagged)["org_id"] == low_bidder.org_id
    member, _ = panel.experts[state["missing_sheets"][0]]
    base = base_url(client)

    async with browser() as b:
        page = await new_page(b, locale="en-GB")
        await login(page, base, member.username, PASSWORD, f"/expert/tenders/{tid}?lang=en")
        form = f"#below-cost form.finding-form[data-bid='{flagged}']"
        await page.wait_for_selector(form)
        # W6: a written question to the bidder of the flagged bid
        await page.select_option("#clarify-form [name=bid_id]", str(flagged))
        await page.fill("#clarify-form [name=question]", "请说明报价构成 explain how the price is made up")
        await page.click("#clarify-form button[type=submit]")
        await page.wait_for_selector("#ev-clarifications td:has-text('explain how the price is made up')")
        await assert_no_horizontal_overflow(page)

        # the bidder answers in the bidder portal
        bidder_page = await new_page(b, locale="zh-CN")
        await login(bidder_page, base, low_bidder.username, PASSWORD, f"/bidder/tenders/{tid}")
        await bidder_page.wait_for_selector("#eval-clarifications :text('explain how the price is made up')")
        await bidder_page.fill("#eval-clarifications textarea[name=answer]", "自有设备，无租赁成本 own equipment, no leasing")
        await bidder_page.click("#eval-clarifications button[type=submit]")
        await bidder_page.wait_for_selector("#eval-clarifications .clar-answered")
        await assert_no_horizontal_overflow(bidder_page)
        other_page = await new_page(b, locale="en-GB")  # another bidder sees no one else's questions
        await login(other_page, base, centre.bidders[0][0].username, PASSWORD, f"/bidder/tenders/{tid}?lang=en")
        assert await other_page.locator("#eval-clarifications").count() == 0

        # W5: the member reads the answer and records the panel's finding in writing
        await page.reload()
        await page.wait_for_selector("#ev-clarifications .clar-answer:has-text('own equipment')")
        await page.select_option(f"{form} [name=accepted]", "false")
        await page.fill(f"{form} [name=reason]", "设备折旧未计入 depreciation left out: the price is below cost")
        await page.click(f"{form} button[type=submit]")
        await page.wait_for_selector("#below-cost .finding-rejected")
    state = await ok(await client.get(f"/api/v1/tenders/{tid}/evaluation", headers=centre.staff_h))
    assert [(f["bid_id"], f["accepted"]) for f in state["findings"]] == [(flagged, False)]
    assert state["clarifications"][0]["answer"].startswith("自有设备")
