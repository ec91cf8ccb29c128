"""The staff console, the expert workspace and the supervisor console in a real Chromium
(issue 13, items 5–7): staff run a tender's panel draw and its opening in the pages; an
expert confirms a summons and hands in a score sheet signed in the page; a supervisor sees
the newest audit entries first and verifies the chain; a forfeiture waits for a second
staff member; a bidder is refused the consoles; no console page is wider than a 390 px
phone; screenshots for docs/pages.md.

Sources (RULES.md): T1, T14 (publication; the deposit's bound), E3/E4 (the draw, the list
secret), T9 (the opening waits for k of n shares, each custodian's state shown), T19 and W4 (each member's own signed sheet, points
within each criterion's maximum), T17 (the report signed, dissent in writing), D6 (a
second staff member approves a forfeiture), T12 (the audit log, readable and verifiable by
supervision; every denied attempt recorded), and issue 13 "Security" (every page checks
role and scope exactly as the API does).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from bidding.client import seal_bid_bytes, signing_key_from
from bidding.evaluation import records
from crypto.keys import b64url_decode, b64url_encode
from crypto.signing import canonical_json, generate_signing_key, private_key_bytes, public_key_bytes
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
from trading.ledger import bank
from trading.ledger.model import BankNotification, NotificationKind
from trading.supervision.service import raise_alert
from web import keys

PRICES = (700_000_000, 712_345_600, 698_000_000)
CRITERIA = [{"code": "price", "name": "价格", "max_points": 40}, {"code": "technical", "name": "技术", "max_points": 60}]


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


async def drawn_tender(panel: Panel) -> dict[str, Any]:
    """A comprehensive tender scored on CRITERIA, published, its panel drawn (the API)."""
    client, staff_h = panel.client, panel.centre.staff_h
    tender = await panel.centre.tender(evaluation_method="comprehensive", criteria=CRITERIA)
    tid = tender["id"]
    await ok(await client.put(f"/api/v1/tenders/{tid}/panel-requirements", json=panel.requirements(), headers=staff_h))
    draw = await ok(await client.post(f"/api/v1/tenders/{tid}/panel", json=panel.sitting(tender), headers=staff_h), 201)
    await ok(await client.post(f"/api/v1/draws/{draw['id']}/run", json={}, headers=staff_h))
    return tender


async def to_the_evaluation(panel: Panel, tender: dict[str, Any]) -> None:
    """Every drawn expert confirms, the bids come in, the opening passes with two shares and
    staff start the evaluation (the API)."""
    tid = tender["id"]
    await panel.confirm_everyone(tid)
    await submit_bids(panel, tender)
    await to_the_opening(panel)
    await hand_in_shares(panel, tid, 2)
    await ok(await panel.client.post(f"/api/v1/tenders/{tid}/evaluation", headers=panel.centre.staff_h), 201)


async def hand_in_sheet(
    panel: Panel, tid: int, eid: int, reviews: list[dict[str, Any]], points: dict[int, dict[str, str]]
) -> Any:
    """Member ``eid`` registers a new signing key and hands in revision 1 of a sheet signed
    with it (the API); the key, to sign the report with."""
    client, (_, member_h) = panel.client, panel.experts[eid]
    key = generate_signing_key()
    await ok(await client.post("/api/v1/me/keys", json={"public_key": public_key_bytes(key).hex()}, headers=member_h),
             201)  # fmt: skip
    doc = records.sheet_document(tender_id=tid, expert_id=eid, revision=1, reviews=reviews, points=points)
    await ok(await client.post(f"/api/v1/tenders/{tid}/evaluation/sheets", headers=member_h, json={
        "document": doc, "signature": b64url_encode(key.sign(canonical_json(doc)))}), 201)  # fmt: skip
    return key


async def sign_the_report(panel: Panel, tid: int, report_sha256: str, signing: dict[int, Any]) -> None:
    """Each member in ``signing`` signs the report, without dissent, with their key (the API)."""
    for eid, key in signing.items():
        _, member_h = panel.experts[eid]
        doc = records.signature_document(tender_id=tid, report_sha256=report_sha256, expert_id=eid, dissent=None)
        await ok(await panel.client.post(f"/api/v1/tenders/{tid}/evaluation/report/signatures", headers=member_h,
                                         json={"document": doc, "signature": b64url_encode(key.sign(canonical_json(doc)))}),
                 201)  # fmt: skip


async def test_staff_create_a_tender_with_inline_validation_upload_and_publish_in_the_pages(
    make_client: Any, tmp_path: Path
) -> None:
    """T14 (deposit ≤ 2 % of the estimate), T1 (publication ≥ 20 days before the deadline):
    the API's refusal shows beside the field that caused it; fixed, the draft is made, a
    document uploads with its progress bar, and the tender is published from the page; W1: a
    bidder's question is answered by a clarification published in the page."""
    from tests.e2e.test_bidding_api import Centre

    client = await make_client()
    centre = Centre(client, tmp_path)
    await centre.start(bidders=1)
    now = client.server.app[keys.CLOCK].now()
    local = lambda d: (now + d).strftime("%Y-%m-%dT%H:%M")  # noqa: E731 (the browser runs in UTC)
    document = tmp_path / "招标文件.pdf"
    document.write_bytes(b"%PDF tender documents " * 4000)
    async with browser() as b:
        context = await b.new_context(locale="en-GB", timezone_id="UTC", viewport={"width": 1200, "height": 900})
        page = await context.new_page()
        page.on("dialog", lambda d: d.accept())
        await login(page, base_url(client), centre.staff.username, PASSWORD, "/staff?lang=en")
        await page.wait_for_selector("#custodian-choices .custodian-box")
        form = "#new-tender"
        for name, value in (("code", "PAGE-2026-001"), ("project_name", "湖州市体育馆维修工程"),
                            ("lots", "第一标段"), ("estimated_price_fen", "1,000,000"),
                            ("deposit_fen", "50000"), ("bid_deadline_at", local(timedelta(days=25))),
                            ("opening_at", local(timedelta(days=25, minutes=30))), ("place", "开标室 2")):  # fmt: skip
            await page.fill(f"{form} [name={name}]", value)
        for box in (await page.query_selector_all(".custodian-box"))[:3]:
            await box.check()
        await page.click(f"{form} button[type=submit]")
        await page.wait_for_selector(f"{form} [name=deposit_fen][aria-invalid=true]")
        assert await page.get_attribute(f"{form} [name=estimated_price_fen]", "aria-invalid") is None
        await page.fill(f"{form} [name=deposit_fen]", "20000")
        async with page.expect_navigation():
            await page.click(f"{form} button[type=submit]")
        await page.wait_for_selector("#upload-form")
        # the progress bar's values as the upload goes (recorded by an observer in the page)
        await page.evaluate("""() => { window.progressSeen = []; const bar = document.querySelector('#upload-form progress');
            new MutationObserver(() => window.progressSeen.push(bar.value)).observe(bar, {attributes: true}); }""")
        await page.set_input_files("#upload-form [name=file]", str(document))
        await page.click("#upload-form button[type=submit]")
        await page.wait_for_selector("#sec-documents a:has-text('招标文件.pdf')")
        assert 100 in await page.evaluate("() => window.progressSeen")
        await page.click("#sec-summary button:has-text('Publish')")
        await page.wait_for_selector("#sec-summary dd:has-text('Published')")
        await assert_no_horizontal_overflow(page)

        # W1: a registered bidder asks (the API); staff answer it with a clarification in the page
        tenders = await ok(await client.get("/api/v1/tenders", headers=centre.staff_h))
        made = next(t for t in tenders if t["code"] == "PAGE-2026-001")
        bidder_h = centre.bidders[0][1]
        await ok(await client.post(f"/api/v1/tenders/{made['id']}/registrations", headers=bidder_h), 201)
        question = await ok(await client.post(f"/api/v1/tenders/{made['id']}/questions", headers=bidder_h,
                                              json={"text": "工期可否调整？ May the period change?"}), 201)  # fmt: skip
        await page.reload()
        await page.check(f"#clarify-form .answer-box[value='{question['id']}']")
        await page.fill("#clarify-form [name=text]", "工期不变。 The period stays.")
        await page.click("#clarify-form button[type=submit]")
        await page.wait_for_selector("#sec-questions td:has-text('The period stays.')")
    assert made["state"] == "published" and made["deposit_fen"] == 2_000_000 and made["threshold_k"] == 2
    clarifications = await ok(await client.get(f"/api/v1/tenders/{made['id']}/clarifications", headers=bidder_h))
    assert [c["text"] for c in clarifications] == ["工期不变。 The period stays."]
    asked = await ok(await client.get(f"/api/v1/tenders/{made['id']}/questions", headers=bidder_h))
    assert asked[0]["answered"] is True


async def test_staff_run_the_panel_draw_and_the_opening_in_the_pages(panel: Panel) -> None:
    """E3/E4, T9, T19: staff set the panel the tender asks for, request it, run the draw, see
    each summons' state and replace a member in the page; at the opening the page shows each
    custodian's share arriving and the quorum filling, then the opened table with the prices
    the bidders sealed."""
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
        # T19: a member is taken off the panel with a reason; the next in order is summoned
        seat = "#sec-panel tbody tr:has(.summons-confirmed)"
        await page.fill(f"{seat} [name=reason]", "与投标人存在利害关系 conflict of interest")
        await page.click(f"{seat} button:has-text('Take off the panel')")
        await page.wait_for_selector("#sec-panel .summons-replaced")
        await page.wait_for_selector("#sec-panel .summons-summoned")
        await panel.confirm_everyone(tid)

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
    """T19, W4, T17: a drawn expert confirms the summons in the page (another declines with a
    reason); seated, they read the bids side by side, score each within the criterion's
    maximum (the form refuses 61 of 60), sign the sheet in the page with their own Ed25519 key
    file and hand it in (the server verifies it against the member's registered key); once
    the report is made they sign it in the page with a dissent in writing; staff then publish
    the candidates and award in the staff console (T18, W8); a supervisor accepts a bidder's
    complaint in the supervisor console (W12)."""
    client, centre = panel.client, panel.centre
    tender = await drawn_tender(panel)
    tid = tender["id"]
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
        # another drawn expert declines in the page, with a reason (the next in order is called)
        second = next(m for m in await panel.members(tid) if m["status"] == "summoned")
        other_page = await new_page(b, locale="en-GB")
        await login(other_page, base, panel.experts[second["expert_id"]][0].username, PASSWORD, "/expert?lang=en")
        await other_page.fill("#summons [name=reason]", "出差在外 travelling that week")
        await other_page.click("#summons button:has-text('Decline')")
        await other_page.wait_for_selector("#summons .summons-declined")
        await other_page.close()

        await to_the_evaluation(panel, tender)
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

        # the other members hand in theirs (the API), staff make the report, and the member
        # signs it in the page with a dissent in writing (T17)
        bid_ids = [int(x) for x in bids]
        other_keys = {
            eid: await hand_in_sheet(
                panel, tid, eid,
                reviews=[{"bid_id": b, "passed": True, "cause": None, "reason": ""} for b in bid_ids],
                points={b: {"technical": "50"} for b in bid_ids},
            )  # fmt: skip
            for eid in state["missing_sheets"]
        }
        await ok(await client.post(f"/api/v1/tenders/{tid}/evaluation/report", headers=centre.staff_h), 201)
        await page.reload()
        await page.wait_for_selector("#report-form")
        await page.fill("#report-form [name=dissent]", "第二名技术方案更优 / the second is better")
        await page.set_input_files("#report-form [name=key_file]", str(key_file))
        await page.click("#report-form button[type=submit]")
        await page.wait_for_selector("#report-signed")
        state = await ok(await client.get(f"/api/v1/tenders/{tid}/evaluation", headers=centre.staff_h))
        signed = {s["expert_id"]: s["dissent"] for s in state["report"]["signatures"]}
        assert signed == {first["expert_id"]: "第二名技术方案更优 / the second is better"}

        # the other members sign (the API); staff publish the candidates and award in the
        # staff console (T18: after the publicity; W8: the first candidate)
        unsigned = [m["expert_id"] for m in state["members"] if not m["replaced"] and m["expert_id"] not in signed]
        await sign_the_report(panel, tid, state["report"]["sha256"], {eid: other_keys[eid] for eid in unsigned})
        staff_page = await new_page(b, locale="en-GB")
        await login(staff_page, base, centre.staff.username, PASSWORD, f"/staff/tenders/{tid}?lang=en")
        await staff_page.wait_for_selector("#sec-award button:has-text('Publish the candidates')")
        await staff_page.click("#sec-award button:has-text('Publish the candidates')")
        await staff_page.wait_for_function("() => document.getElementById('award-state').textContent === 'Candidates in publicity'")
        app = panel.app
        app[keys.CLOCK].advance(days=3)
        await app[keys.SCHEDULER].run_due()
        await login(staff_page, base, centre.staff.username, PASSWORD, f"/staff/tenders/{tid}?lang=en")
        await staff_page.wait_for_selector("#award-form")
        await staff_page.click("#award-form button[type=submit]")
        await staff_page.wait_for_function("() => document.getElementById('award-state').textContent === 'Awarded'")

        # W12: a bidder complains (the API); the supervisor accepts it in the console
        await panel.relogin()
        loser_h = centre.bidders[1][1]
        complaint = await ok(await client.post(f"/api/v1/tenders/{tid}/award/complaints", headers=loser_h,
                                               json={"text": "评分不公 the scoring was unfair"}), 201)  # fmt: skip
        sup_page = await new_page(b, locale="en-GB")
        await login(sup_page, base, panel.supervisor.username, PASSWORD, "/supervisor/complaints?lang=en")
        await sup_page.select_option("#complaint-tender", str(tid))
        row = f"#complaints tbody tr:has(td:text-is('{complaint['id']}'))"
        await sup_page.fill(f"{row} form:has(button:has-text('Accept')) [name=note]", "受理 accepted for review")
        await sup_page.click(f"{row} button:has-text('Accept')")
        await sup_page.wait_for_selector(f"{row} td:has-text('Accepted')")
        await assert_no_horizontal_overflow(sup_page)
    award = await ok(await client.get(f"/api/v1/tenders/{tid}/award", headers=centre.staff_h))
    assert award["state"] == "awarded" and award["awarded_rank"] == 1
    assert [c["state"] for c in award["complaints"]] == ["accepted"]


async def test_a_forfeiture_is_approved_in_the_page_by_a_second_staff_member_only(
    make_client: Any, tmp_path: Path
) -> None:
    """D6: a forfeiture asked by one staff member waits in the deposits page; the one who
    asked is refused there (the API's refusal shown in place); a second staff member
    approves it in the page and the deposit is forfeited."""
    from tests.e2e.test_bidding_api import Centre

    client = await make_client()
    app = client.server.app
    centre = Centre(client, tmp_path)
    await centre.start(bidders=1)
    tender = await centre.tender()
    bidder = centre.bidders[0][0]
    ref = f"tender:{tender['id']}"
    _, admin_h = await user_headers(client, Role.ADMIN)
    second, _ = await user_headers(client, Role.STAFF)
    bank_key = generate_signing_key()
    await ok(await client.post("/api/v1/ledger/bank-keys", headers=admin_h,
                               json={"public_key": public_key_bytes(bank_key).hex(), "label": "test bank"}), 201)  # fmt: skip
    deposit = await ok(await client.get(f"/api/v1/ledger/projects/{ref}/deposits/{bidder.org_id}", headers=centre.staff_h))
    n = BankNotification(1, "PAGE0001", NotificationKind.CREDIT, deposit["sub_account"], tender["deposit_fen"],
                         app[keys.CLOCK].now(), "6222 0000 0000 0001", "bidder 0")  # fmt: skip
    await ok(await client.post("/api/v1/bank/notifications", json=bank.sign_notification(n, bank_key)))
    await ok(await client.post(f"/api/v1/ledger/projects/{ref}/deposits/{bidder.org_id}/forfeit", headers=centre.staff_h,
                               json={"cause": "refused_to_sign", "note": "拒签合同 refused to sign",
                                     "cause_at": app[keys.CLOCK].now().isoformat()}))  # fmt: skip
    base = base_url(client)
    async with browser() as b:
        page = await new_page(b, locale="en-GB")
        page.on("dialog", lambda d: d.accept())
        await login(page, base, centre.staff.username, PASSWORD, "/staff/deposits?lang=en")
        await page.wait_for_selector("#forfeits button:has-text('Approve the forfeiture')")
        await page.click("#forfeits button:has-text('Approve the forfeiture')")
        await page.wait_for_selector("#forfeits .form-status.bad")
        assert "second_approver_required" in (await page.text_content("#forfeits .form-status.bad") or "")
        await screenshot(page, "staff-deposits")
        page = await new_page(b, locale="en-GB")
        page.on("dialog", lambda d: d.accept())
        await login(page, base, second.username, PASSWORD, "/staff/deposits?lang=en")
        await page.click("#forfeits button:has-text('Approve the forfeiture')")
        await page.wait_for_selector("#forfeits p:has-text('No forfeiture is waiting.')")
    deposit = await ok(await client.get(f"/api/v1/ledger/projects/{ref}/deposits/{bidder.org_id}", headers=centre.staff_h))
    assert deposit["state"] == "forfeited" and deposit["forfeit"]["approved_by"]


async def test_staff_create_start_pause_and_terminate_a_lot_in_the_pages(client: Any) -> None:
    """A7 (deposit ≥ 20 % of the starting price) and the lot's lifecycle: staff create a land
    lot in the page, publish it, start it, pause it with a reason and terminate it (终止) with
    a reason; the page shows each phase the API reports."""
    staff, _ = await user_headers(client, Role.STAFF)
    now = client.server.app[keys.CLOCK].now()
    local = lambda d: (now + d).strftime("%Y-%m-%dT%H:%M")  # noqa: E731 (the browser runs in UTC)
    async with browser() as b:
        context = await b.new_context(locale="en-GB", timezone_id="UTC", viewport={"width": 1200, "height": 900})
        page = await context.new_page()
        await login(page, base_url(client), staff.username, PASSWORD, "/staff/auctions?lang=en")
        form = "#new-lot"
        for name, value in (("title", "湖州市 2026-01 号地块"), ("starting_price_fen", "10,000,000"),
                            ("increment_fen", "100,000"), ("deposit_fen", "1,000,000"),
                            ("listing_starts_at", local(timedelta(minutes=-1))),
                            ("listing_ends_at", local(timedelta(days=15)))):  # fmt: skip
            await page.fill(f"{form} [name={name}]", value)
        await page.click(f"{form} button[type=submit]")
        await page.wait_for_selector(f"{form} .form-status.bad")  # below 20 % (A7): the API's words
        assert "20%" in (await page.text_content(f"{form} .form-status") or "")
        await page.fill(f"{form} [name=deposit_fen]", "2,000,000")
        await page.click(f"{form} button[type=submit]")
        row = "#lots tbody tr:has-text('2026-01 号地块')"
        await page.click(f"{row} button:has-text('Publish')")
        await page.click(f"{row} button:has-text('Start now')")
        await page.wait_for_selector(f"{row} .lot-state:has-text('Listing')")
        await page.fill(f"{row} form:has(button:has-text('Pause')) [name=reason]", "系统维护 maintenance")
        await page.click(f"{row} button:has-text('Pause')")
        await page.wait_for_selector(f"{row} .lot-state:has-text('Paused')")
        await page.fill(f"{row} form:has(button:has-text('Terminate')) [name=reason]", "规划调整 planning changed")
        await page.click(f"{row} button:has-text('Terminate')")
        await page.wait_for_selector(f"{row} :has-text('Cancelled')")
        await assert_no_horizontal_overflow(page)


async def test_a_supervisor_sees_the_newest_audit_entries_first_and_verifies_the_chain(client: Any) -> None:
    """T12: the console's audit log starts at the newest entry (not at #1…); older entries
    page in below; the filters apply; the verify button checks the whole chain. S4: an alert
    is acknowledged with a note in the alerts page."""
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

        # S4: an alert is acknowledged with a note, in the page
        app = client.server.app
        async with app[keys.POOL].acquire() as conn:
            alert_id = await raise_alert(conn, app[keys.CLOCK].now(), kind="test.overdue", severity="warning",
                                         object_type="tender", object_id="7", message_en="A step is overdue",
                                         message_zh="环节逾期")  # fmt: skip
        await page.goto(base_url(client) + "/supervisor/alerts?lang=en")
        row = f"#alerts tbody tr:has(td:text-is('{alert_id}'))"
        await page.fill(f"{row} [name=note]", "已电话督办 called the agency")
        await page.click(f"{row} button:has-text('Acknowledge')")
        await page.wait_for_selector(f"{row} td:has-text('Acknowledged')")
    alert = await ok(await client.get(f"/api/v1/supervision/alerts/{alert_id}", headers=sup))
    assert alert["state"] == "acknowledged" and alert["acknowledged_by"] == supervisor.user_id


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
