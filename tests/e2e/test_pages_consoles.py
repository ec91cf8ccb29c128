"""The staff console, the expert workspace and the supervisor console in a real Chromium
(issue 13, items 5–7): staff run a tender's panel draw and its opening in the pages; an
expert confirms a summons and hands in a score sheet signed in the page; a supervisor sees
the newest audit entries first and verifies the chain; a bidder is refused the staff
console; no console page is wider than a 390 px phone; screenshots for docs/pages.md.

Sources (RULES.md): E3/E4 (the draw, the list secret), T9 (the opening waits for k of n
shares, each custodian's state shown), T19 and W4 (each member's own signed sheet, points
within each criterion's maximum), T12 (the audit log, readable and verifiable by
supervision; every denied attempt recorded), and issue 13 "Security" (every page checks
role and scope exactly as the API does).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bidding.client import seal_bid_bytes, signing_key_from
from crypto.keys import b64url_decode, b64url_encode
from crypto.signing import generate_signing_key, private_key_bytes, public_key_bytes
from tests.e2e.browser import (
    assert_no_horizontal_overflow,
    base_url,
    browser,
    login,
    new_page,
    screenshot,
)
from tests.e2e.test_bidding_api import cli_in_thread
from tests.e2e.test_panel_api import Panel
from tests.helpers import PASSWORD, credit_code, user_headers
from trading.context import Role
from web import keys

PRICES = (700_000_000, 712_345_600, 698_000_000)
CRITERIA = [{"code": "price", "name": "价格", "max_points": 40}, {"code": "technical", "name": "技术", "max_points": 60}]


@pytest.fixture
async def panel(make_client: Any, tmp_path: Path) -> Panel:
    from tests.e2e.test_bidding_api import Centre

    client = await make_client(extra={"bidding.store_chunk_bytes": "4096", "SUNLIT_EXPERTS_CHANNEL": "memory"})
    centre = Centre(client, tmp_path)
    await centre.start()
    p = Panel(centre)
    await p.start()
    return p


async def ok(r: Any, status: int = 200) -> Any:
    assert r.status == status, f"{r.method} {r.url}: {r.status} {await r.text()}"
    return await r.json()


async def submit_bids(panel: Panel, tender: dict[str, Any]) -> None:
    for i, (party, headers, key_file) in enumerate(panel.centre.bidders):
        envelope = seal_bid_bytes(
            tender_public=b64url_decode(tender["opening_public_key"]), tender_id=tender["id"],
            bidder_org_id=party.org_id, signing_key=signing_key_from(key_file.read_text()),
            price_schedule=json.dumps({"amount_fen": PRICES[i], "duration_days": 400 + i}).encode(),
            documents={"技术标.pdf": f"technical proposal {i} ".encode() * 20}, chunk_size=1024,
        )  # fmt: skip
        await ok(await panel.client.put(f"/api/v1/tenders/{tender['id']}/bid", data=envelope,
                                        headers={**headers, "Content-Type": "application/octet-stream"}), 201)  # fmt: skip


async def to_the_opening(panel: Panel) -> None:
    """The deadline and the opening time pass (the scheduler's timed events run)."""
    app = panel.app
    clock = app[keys.CLOCK]
    clock.set(clock.now() + timedelta(days=21))
    await app[keys.SCHEDULER].run_due()
    clock.set(clock.now() + timedelta(minutes=30))
    await app[keys.SCHEDULER].run_due()
    await panel.relogin()


async def hand_in_shares(panel: Panel, tid: int, n: int) -> None:
    for _party, headers, key_file in panel.centre.custodians[:n]:
        token = headers["Authorization"].split()[1]
        assert await cli_in_thread("bid", "share", "--url", panel.centre.url, f"--token={token}",
                                   "--tender-id", str(tid), "--key", str(key_file)) == 0  # fmt: skip


async def test_staff_run_the_panel_draw_and_the_opening_in_the_pages(panel: Panel) -> None:
    """E3/E4, T9: staff set the panel the tender asks for, request it, run the draw and see
    each summons' state in the page; at the opening the page shows each custodian's share
    arriving and the quorum filling, then the opened table with the prices the bidders
    sealed."""
    client, centre = panel.client, panel.centre
    tender = await centre.tender()
    tid = tender["id"]
    base = base_url(client)
    async with browser() as b:
        page = await new_page(b, locale="en-GB")
        await login(page, base, centre.staff.username, PASSWORD, f"/staff/tenders/{tid}?lang=en")
        await page.wait_for_selector("#requirements-form")
        await page.fill("#requirements-form [name=tenderee_org_id]", "999999")
        await page.fill("#requirements-form [name=lines]", "A03 4 3\nC04 1")
        await page.click("#requirements-form button[type=submit]")
        # an unknown organisation is the API's refusal, shown in the form
        await page.wait_for_selector("#requirements-form .form-status.bad")
        await page.fill("#requirements-form [name=tenderee_org_id]", str(panel.tenderee))
        await page.fill("#requirements-form [name=supervising_org_ids]", str(panel.supervising))
        await page.click("#requirements-form button[type=submit]")
        await page.wait_for_selector("#panel-request-form")
        when = (panel.app[keys.CLOCK].now() + timedelta(days=22)).date().isoformat()
        await page.fill("#panel-request-form [name=evaluation_date]", when)
        await page.fill("#panel-request-form [name=evaluation_time]", "09:30")
        await page.fill("#panel-request-form [name=evaluation_place]", "评标室 3")
        await page.click("#panel-request-form button[type=submit]")
        await page.wait_for_selector("#draw-status")
        assert "Committed" in await page.text_content("#draw-status")
        await page.click("#sec-panel button:has-text('Run the draw')")
        await page.wait_for_selector("#sec-panel .summons-summoned")
        assert len(await page.query_selector_all("#sec-panel .summons-summoned")) == 5
        await panel.confirm_everyone(tid)
        await page.click("#sec-panel button:has-text('Refresh')")
        await page.wait_for_function(
            "() => document.querySelectorAll('#sec-panel .summons-confirmed').length === 5")

        await submit_bids(panel, tender)
        await to_the_opening(panel)
        await login(page, base, centre.staff.username, PASSWORD, f"/staff/tenders/{tid}?lang=en")
        await page.wait_for_selector("#opening-state")
        assert await page.text_content("#opening-state") == "Opening"
        assert len(await page.query_selector_all("#sec-opening .share-out")) == 3
        await hand_in_shares(panel, tid, 1)
        await page.wait_for_function(
            "() => document.querySelectorAll('#sec-opening .share-in').length === 1")
        assert await page.get_attribute("#quorum", "value") == "1"
        await hand_in_shares(panel, tid, 2)  # the first one's again is refused; the second opens
        await page.wait_for_selector("#opening-record table")
        text = await page.text_content("#opening-record")
        for price in PRICES:
            yuan = f"{price // 100:,}.{price % 100:02d}"
            assert yuan in text, (yuan, text)
        await page.wait_for_function(
            "() => document.getElementById('opening-state').textContent === 'Opened'")
        await screenshot(page, "staff-tender")
        await assert_no_horizontal_overflow(page)


async def test_an_expert_confirms_a_summons_and_hands_in_a_sheet_signed_in_the_page(
    panel: Panel, tmp_path: Path
) -> None:
    """T19, W4: a drawn expert confirms the summons in the page; seated, they read the bids
    side by side, score each within the criterion's maximum (the form refuses 61 of 60),
    sign the sheet in the page with their own Ed25519 key file and hand it in; the server
    holds the sheet, verified against the member's registered key."""
    client, centre = panel.client, panel.centre
    tender = await centre.tender(evaluation_method="comprehensive", criteria=CRITERIA)
    tid = tender["id"]
    staff_h = centre.staff_h
    await ok(await client.put(f"/api/v1/tenders/{tid}/panel-requirements", json=panel.requirements(), headers=staff_h))
    draw = await ok(await client.post(f"/api/v1/tenders/{tid}/panel", json=panel.sitting(tender), headers=staff_h), 201)
    await ok(await client.post(f"/api/v1/draws/{draw['id']}/run", json={}, headers=staff_h))
    first = next(m for m in await panel.members(tid) if m["status"] == "summoned")
    expert, expert_h = panel.experts[first["expert_id"]]
    key = generate_signing_key()
    await ok(await client.post("/api/v1/me/keys", json={"public_key": public_key_bytes(key).hex()}, headers=expert_h),
             201)  # fmt: skip
    key_file = tmp_path / "member.ed25519"
    key_file.write_text(b64url_encode(private_key_bytes(key)) + "\n")
    base = base_url(client)
    async with browser() as b:
        page = await new_page(b, locale="en-GB")
        await login(page, base, expert.username, PASSWORD, "/expert?lang=en")
        await page.wait_for_selector("#summons button:has-text('Confirm attendance')")
        await screenshot(page, "expert")
        await assert_no_horizontal_overflow(page)
        await page.set_viewport_size({"width": 1200, "height": 900})
        await page.click("#summons button:has-text('Confirm attendance')")
        await page.wait_for_selector("#summons .summons-confirmed")
        mine = await ok(await client.get("/api/v1/me/summons", headers=expert_h))
        assert mine[0]["status"] == "confirmed"
        await panel.confirm_everyone(tid)

        await submit_bids(panel, tender)
        await to_the_opening(panel)
        await hand_in_shares(panel, tid, 2)
        await ok(await client.post(f"/api/v1/tenders/{tid}/evaluation", headers=centre.staff_h), 201)
        await login(page, base, expert.username, PASSWORD, f"/expert/tenders/{tid}?lang=en")
        await page.wait_for_selector("#sheet-form")
        assert len(await page.query_selector_all("table.side-by-side thead th")) == 1 + len(PRICES)
        bids = await page.eval_on_selector_all("#sheet-form fieldset.bid-review", "fs => fs.map(f => f.dataset.bid)")
        assert await page.get_attribute(f"[name=points_{bids[0]}_technical]", "max") == "60"
        for bid in bids:
            await page.fill(f"[name=points_{bid}_technical]", "55.5")
        await page.fill(f"[name=points_{bids[0]}_technical]", "61")
        await page.set_input_files("#sheet-form [name=key_file]", str(key_file))
        await page.click("#sheet-form button[type=submit]")
        await page.wait_for_selector("#sheet-form .field-error")
        assert await page.get_attribute(f"[name=points_{bids[0]}_technical]", "aria-invalid") == "true"
        await page.fill(f"[name=points_{bids[0]}_technical]", "58")
        await page.click("#sheet-form button[type=submit]")
        await page.wait_for_selector("#my-sheet")
        await assert_no_horizontal_overflow(page)
    state = await ok(await client.get(f"/api/v1/tenders/{tid}/evaluation", headers=centre.staff_h))
    handed = {s["expert_id"]: s for s in state["sheets"]}
    assert handed[first["expert_id"]]["revision"] == 1 and first["expert_id"] not in state["missing_sheets"]


async def test_a_supervisor_sees_the_newest_audit_entries_first_and_verifies_the_chain(client: Any) -> None:
    """T12: the console's audit log starts at the newest entry (not at #1…); older entries
    page in below; the verify button checks the whole chain."""
    staff_party, staff = await user_headers(client, Role.STAFF)
    supervisor, sup = await user_headers(client, Role.SUPERVISOR)
    for i in range(60):
        await ok(await client.post("/api/v1/organisations", headers=staff,
                                   json={"name": f"Org {i}", "kind": "agency", "credit_code": credit_code()}), 201)  # fmt: skip
    newest_before = (await ok(await client.get("/api/v1/audit?order=desc&limit=1", headers=sup)))["entries"][0]["seq"]
    async with browser() as b:
        page = await new_page(b, locale="en-GB")
        await login(page, base_url(client), supervisor.username, PASSWORD, "/supervisor?lang=en")
        await page.wait_for_selector("#audit-entries tbody tr")
        seqs = [int(s) for s in await page.eval_on_selector_all("#audit-entries tbody tr td:first-child",
                                                                 "tds => tds.map(td => td.textContent)")]  # fmt: skip
        assert seqs[0] >= newest_before and seqs == sorted(seqs, reverse=True) and len(seqs) == 50
        await page.click("#audit-older")
        await page.wait_for_function(
            "() => document.querySelectorAll('#audit-entries tbody tr').length > 50")
        await page.fill("#audit-filter [name=actor_user_id]", str(staff_party.user_id))
        await page.fill("#audit-filter [name=action]", "organisation.create")
        await page.click("#audit-filter button[type=submit]")
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#audit-entries tbody tr td:nth-child(4)')].every(td => td.textContent === 'organisation.create')")
        await page.click("#verify")
        await page.wait_for_selector("#verify-result.ok")
        assert "Audit chain intact" in await page.text_content("#verify-result")
        await screenshot(page, "supervisor")
        await assert_no_horizontal_overflow(page)


async def test_a_bidder_is_refused_the_consoles_and_the_refusal_is_audited(client: Any) -> None:
    """Issue 13 "Security", T12: the pages check the role as the API does — a bidder gets
    403 for the staff console, the expert workspace and the supervisor console, each denial
    in the audit log; without a session the page sends to the login."""
    bidder, _ = await user_headers(client, Role.BIDDER)
    _, sup = await user_headers(client, Role.SUPERVISOR)
    base = base_url(client)
    async with browser() as b:
        page = await new_page(b, locale="en-GB")
        r = await page.goto(f"{base}/staff")
        assert "/login" in page.url and r is not None
        await login(page, base, bidder.username, PASSWORD, "/?lang=en")
        for path in ("/staff", "/staff/tenders/1", "/staff/deposits", "/expert", "/supervisor"):
            r = await page.goto(f"{base}{path}?lang=en")
            assert r is not None and r.status == 403, (path, r and r.status)
        r = await page.goto(f"{base}/staff/tenders/12a")
        assert r is not None and r.status in (403, 404)
    audit = await ok(await client.get(f"/api/v1/audit?order=desc&actor_user_id={bidder.user_id}&limit=100", headers=sup))
    denied = {e["action"] for e in audit["entries"] if e["outcome"] == "denied"}
    assert {"denied GET /staff", "denied GET /expert", "denied GET /supervisor"} <= denied, denied


async def test_each_console_page_fits_a_390_px_phone(client: Any) -> None:
    """Issue 13: readable at 390 px — no console page is wider than the phone (wide tables
    scroll inside their own box); the staff console's main page is pictured."""
    staff, _ = await user_headers(client, Role.STAFF)
    supervisor, _ = await user_headers(client, Role.SUPERVISOR)
    base = base_url(client)
    async with browser() as b:
        page = await new_page(b, locale="zh-CN")
        await login(page, base, staff.username, PASSWORD, "/staff")
        await page.wait_for_selector("#tender-list :is(table, p)")
        await screenshot(page, "staff")
        for path, ready in (("/staff", "#tender-list"), ("/staff/deposits", "#forfeits :is(table, p)"),
                            ("/staff/auctions", "#lots :is(table, p)")):  # fmt: skip
            await page.goto(base + path)
            await page.wait_for_selector(ready)
            await assert_no_horizontal_overflow(page)
            await page.set_viewport_size({"width": 1200, "height": 900})
        page = await new_page(b, locale="zh-CN")
        await login(page, base, supervisor.username, PASSWORD, "/supervisor")
        for path, ready in (("/supervisor", "#audit-entries table"), ("/supervisor/alerts", "#alerts :is(table, p)"),
                            ("/supervisor/ledger", "#balance-state"), ("/supervisor/complaints", "#complaints p")):  # fmt: skip
            await page.goto(base + path)
            await page.wait_for_selector(ready)
            await assert_no_horizontal_overflow(page)
            await page.set_viewport_size({"width": 1200, "height": 900})
