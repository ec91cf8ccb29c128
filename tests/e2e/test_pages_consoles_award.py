"""The award's journeys in the staff console, in a real Chromium (issue 13 item 5: "award
and contract"): staff publish the candidates, answer a bidder's objection to them in the
page, award the first candidate after the publicity, record the winner's refusal with the
deposit's forfeiture asked, award the next candidate with the reason, and record the
contract — each form the API's call, each state the API's.

Sources (RULES.md): T18 (candidates published, award after the publicity), W8 (the first
candidate; the next one only with a recorded reason when the first gives up), W12
(objections to the candidates answered in writing), IR 74 / D6 (refusal to sign: the deposit
forfeited, a second staff member approves), T20 (the contract recorded).
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.browser import assert_no_horizontal_overflow, base_url, browser, login, new_page
from tests.e2e.test_pages_consoles import (
    drawn_tender,
    hand_in_sheet,
    ok,
    sign_the_report,
    to_the_evaluation,
)
from tests.e2e.test_panel_api import Panel
from tests.helpers import PASSWORD
from web import keys


async def to_the_signed_report(panel: Panel, *, fail_every_bid: bool = False) -> int:
    """A tender drawn, bid, opened, scored and reported over the API; every member signs.
    ``fail_every_bid``: every member fails every bid (not responsive), so no candidate is left."""
    client = panel.client
    tender = await drawn_tender(panel)
    tid = tender["id"]
    await to_the_evaluation(panel, tender)
    staff_h = panel.centre.staff_h
    state = await ok(await client.get(f"/api/v1/tenders/{tid}/evaluation", headers=staff_h))
    _, any_member_h = panel.experts[state["missing_sheets"][0]]
    opened = await ok(await client.get(f"/api/v1/tenders/{tid}/evaluation/bids", headers=any_member_h))
    bid_ids = [b["bid_id"] for b in opened["bids"]]
    signing = {
        eid: await hand_in_sheet(
            panel, tid, eid,
            reviews=[
                {"bid_id": b, "passed": False, "cause": "not_responsive", "reason": "未响应工期要求 the period is not met"}
                if fail_every_bid else {"bid_id": b, "passed": True, "cause": None, "reason": ""}
                for b in bid_ids
            ],
            points={} if fail_every_bid else {b: {"technical": str(50 + i)} for i, b in enumerate(bid_ids)},
        )  # fmt: skip
        for eid in state["missing_sheets"]
    }
    await ok(await client.post(f"/api/v1/tenders/{tid}/evaluation/report", headers=staff_h), 201)
    state = await ok(await client.get(f"/api/v1/tenders/{tid}/evaluation", headers=staff_h))
    await sign_the_report(panel, tid, state["report"]["sha256"], signing)
    return tid


def award_state_is(text: str) -> str:
    return f"() => document.getElementById('award-state')?.textContent === '{text}'"


async def test_staff_answer_an_objection_award_record_a_decline_with_forfeit_and_the_contract_in_the_page(
    panel: Panel, tmp_path: Path
) -> None:
    """T18, W8, W12, IR 74, D6, T20 (see the module docstring)."""
    client, centre = panel.client, panel.centre
    app = panel.app
    tid = await to_the_signed_report(panel)
    base = base_url(client)
    async with browser() as b:
        page = await new_page(b, locale="en-GB")
        await login(page, base, centre.staff.username, PASSWORD, f"/staff/tenders/{tid}?lang=en")
        await page.wait_for_selector("#sec-award button:has-text('Publish the candidates')")
        await page.click("#sec-award button:has-text('Publish the candidates')")
        await page.wait_for_function(award_state_is("Candidates in publicity"))

        # W12: a bidder objects to the candidates (the API); staff answer it in the page
        await panel.relogin()
        objection = await ok(await client.post(f"/api/v1/tenders/{tid}/award/objections", headers=centre.bidders[2][1],
                                               json={"text": "第一名业绩不实 the first's references are not real"}), 201)  # fmt: skip
        await page.reload()
        row = f"#sec-award tr:has(td:text-is('{objection['id']}'))"
        await page.wait_for_selector(f"{row} form")
        await page.wait_for_load_state("networkidle")  # the opening room's first poll renders the award again
        await page.fill(f"{row} [name=answer]", "经核查业绩属实 the references were checked and are real")
        await page.click(f"{row} button[type=submit]")
        await page.wait_for_selector(f"{row} td:has-text('the references were checked')")
        award = await ok(await client.get(f"/api/v1/tenders/{tid}/award", headers=centre.staff_h))
        assert award["objections"][0]["answer"].startswith("经核查业绩属实")

        # T18, W8: after the publicity, the first candidate is awarded
        app[keys.CLOCK].advance(days=3)
        await app[keys.SCHEDULER].run_due()
        await panel.relogin()
        await login(page, base, centre.staff.username, PASSWORD, f"/staff/tenders/{tid}?lang=en")
        await page.wait_for_selector("#award-form")
        await page.wait_for_load_state("networkidle")
        await page.click("#award-form button[type=submit]")
        await page.wait_for_function(award_state_is("Awarded"))
        first = (await ok(await client.get(f"/api/v1/tenders/{tid}/award", headers=centre.staff_h)))["awarded_rank"]
        assert first == 1

        # IR 74: the winner refuses to sign — recorded with the forfeiture asked (D6: a
        # second staff member approves it, in the deposits console)
        await page.select_option("#decline-form [name=reason]", "gave_up")
        await page.fill("#decline-form [name=note]", "中标人书面放弃 the winner gave up in writing")
        await page.check("#decline-form [name=forfeit_deposit]")
        await page.click("#decline-form button[type=submit]")
        await page.wait_for_selector("#award-form")
        award = await ok(await client.get(f"/api/v1/tenders/{tid}/award", headers=centre.staff_h))
        assert award["state"] != "awarded"
        async with app[keys.POOL].acquire() as conn:
            asked = await conn.fetchval(
                "SELECT detail FROM audit_log WHERE action = 'award.decline' AND object_id = $1", str(tid))
        assert asked is not None and "forfeit_requested" in str(asked)

        # W8: the next candidate, with the reason the first was passed over
        await page.fill("#award-form [name=rank]", "2")
        await page.select_option("#award-form [name=reason]", "gave_up")
        await page.fill("#award-form [name=note]", "第一名放弃 the first gave up")
        await page.click("#award-form button[type=submit]")
        await page.wait_for_function(award_state_is("Awarded"))
        assert (await ok(await client.get(f"/api/v1/tenders/{tid}/award", headers=centre.staff_h)))["awarded_rank"] == 2

        # T20, W10: the contract, its amount typed in yuan; a price other than the bid's is refused
        await page.fill("#contract-form [name=amount_fen]", "7,123,456.00")
        await page.fill("#contract-form [name=performance_bond_fen]", "100000")
        await page.click("#contract-form button[type=submit]")
        await page.wait_for_selector("#contract-form :text('contract_amount_differs')")
        await page.fill("#contract-form [name=amount_fen]", "7,000,000.00")
        await page.click("#contract-form button[type=submit]")
        await page.wait_for_function(award_state_is("Contract signed"))
        await assert_no_horizontal_overflow(page)
    award = await ok(await client.get(f"/api/v1/tenders/{tid}/award", headers=centre.staff_h))
    assert award["state"] == "contracted" and award["contract"]["amount_fen"] == 700_000_000
    assert 10_000_000 in award["contract"].values(), award["contract"]  # the bond, typed in yuan


async def test_staff_declare_a_tender_failed_with_its_re_tender_in_the_page(panel: Panel) -> None:
    """W7 (BL 42): no valid candidate — the tender fails and a linked re-tender draft is made
    with the code staff typed (the FAILED and RE_TENDER notices published)."""
    client, centre = panel.client, panel.centre
    tid = await to_the_signed_report(panel, fail_every_bid=True)
    app = panel.app
    app[keys.CLOCK].advance(hours=1)  # the award watch starts the procedure (award.sweep)
    await app[keys.SCHEDULER].run_due()
    await panel.relogin()
    base = base_url(client)
    async with browser() as b:
        page = await new_page(b, locale="en-GB")
        await login(page, base, centre.staff.username, PASSWORD, f"/staff/tenders/{tid}?lang=en")
        await page.wait_for_selector("#failure-form")
        await page.wait_for_load_state("networkidle")
        await page.fill("#failure-form [name=retender_code]", "RE-2026-001")
        await page.click("#failure-form button[type=submit]")
        await page.wait_for_function("() => document.getElementById('award-state')?.textContent === 'Failed'")
        await assert_no_horizontal_overflow(page)
    award = await ok(await client.get(f"/api/v1/tenders/{tid}/award", headers=centre.staff_h))
    assert award["state"] == "failed"
    tenders = await ok(await client.get("/api/v1/tenders", headers=centre.staff_h))
    assert any(t["code"] == "RE-2026-001" and t["state"] == "draft" for t in tenders)
