"""The bidder's portal in a real Chromium: a bid sealed and submitted entirely in the page
opens at the custodians' opening to the price typed; replace and withdraw before the
deadline, each receipt checked in the page; submission with the keyboard only; registration
shows the deposit instructions; the CLI's envelope and receipt check in the page; no
horizontal overflow at 390 px.

Sources: EM (电子招标投标办法) 2013 art. 26–31 (the bidder encrypts and may replace or
withdraw before the deadline; the platform cannot read a bid before the opening); BL 29
(投标截止前可以补充、修改或者撤回); RULES T2, T3, T5; docs/bidding.md §2–5.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta
from pathlib import Path
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
from tests.helpers import login as api_login
from web import cli, keys

TYPED_PRICE = "8,120,000.00"
TYPED_FEN = 812_000_000


def key_dir(app: Any) -> Path:
    return app[keys.CONFIG].data_dir / "demo-keys"


async def headers(client: Any, username: str) -> dict[str, str]:
    return await api_login(client, username, demo_password(client.server.app, username))


async def demo_tender(client: Any) -> dict[str, Any]:
    tenders = await (
        await client.get("/api/v1/tenders", headers=await headers(client, "bidder1"))
    ).json()
    return tenders[0]


async def cli_bid(
    client: Any, username: str, tid: int, amount_fen: int, out: Path
) -> tuple[Path, Path]:
    """Seal with `sunlit bid seal` and submit with `sunlit bid submit --receipt-out`."""
    app = client.server.app
    h = await headers(client, username)
    org = (await (await client.get("/api/v1/me", headers=h)).json())["org_id"]
    schedule = out / f"{username}.json"
    schedule.write_text(json.dumps({"amount_fen": amount_fen, "duration_days": 300}), "utf-8")
    envelope, receipt = out / f"{username}.env", out / f"{username}-receipt.json"
    kd = key_dir(app)
    assert (
        cli.main(
            [
                "bid",
                "seal",
                "--tender-public-key",
                str(kd / f"tender-{tid}.pub"),
                "--tender-id",
                str(tid),
                "--bidder-org",
                str(org),
                "--signing-key",
                str(kd / f"{username}.ed25519"),
                "--price-schedule",
                str(schedule),
                "--out",
                str(envelope),
            ]
        )
        == 0
    )
    token = h["Authorization"].split()[1]
    url = base_url(client)
    assert (
        await asyncio.to_thread(
            cli.main,
            [
                "bid",
                "submit",
                "--url",
                url,
                f"--token={token}",
                "--tender-id",
                str(tid),
                "--envelope",
                str(envelope),
                "--receipt-out",
                str(receipt),
            ],
        )
        == 0
    )
    return envelope, receipt


async def open_tender(client: Any, tid: int) -> dict[str, Any]:
    """Staff move the deadline (T4), the clock passes it and the opening time, custodian1
    and custodian3 hand in their shares with `sunlit bid share`: the public record."""
    app = client.server.app
    now = app[keys.CLOCK].now()
    r = await client.patch(
        f"/api/v1/tenders/{tid}/dates",
        headers=await headers(client, "staff1"),
        json={
            "bid_deadline_at": (now + timedelta(days=22)).isoformat(),
            "opening_at": (now + timedelta(days=22, minutes=3)).isoformat(),
            "reason": "page test",
        },
    )
    assert r.status == 200, await r.text()
    app[keys.CLOCK].advance(days=22, minutes=5)
    await app[keys.SCHEDULER].run_due()
    url = base_url(client)
    for username in ("custodian1", "custodian3"):
        token = (await headers(client, username))["Authorization"].split()[1]
        assert (
            await asyncio.to_thread(
                cli.main,
                [
                    "bid",
                    "share",
                    "--url",
                    url,
                    f"--token={token}",
                    "--tender-id",
                    str(tid),
                    "--key",
                    str(key_dir(app) / f"{username}.x25519"),
                ],
            )
            == 0
        )
    r = await client.get(f"/api/v1/tenders/{tid}/opening-record/public")
    assert r.status == 200, await r.text()
    return (await r.json())["document"]


async def seal_in_page(page: Any, app: Any, username: str, price: str, docs: list[Path]) -> None:
    await page.set_input_files("#key-file", str(key_dir(app) / f"{username}.ed25519"))
    await page.wait_for_selector("#key-status.ok")
    await page.fill("#amount", price)
    await page.fill("#duration", "365")
    await page.fill("#declared", "质量 = 合格\n工期承诺 = 365 天")
    await page.set_input_files("#documents-input", [str(d) for d in docs])
    await page.click("#seal-submit")
    await page.wait_for_selector("#seal-status.ok, #seal-error.error:not(:empty)")
    assert await page.text_content("#seal-error") == "", await page.text_content("#seal-error")


async def receipt_checks(page: Any, rows: int = 1) -> list[tuple[str, str]]:
    """(action, check) per receipt row, newest first, once every check has its answer."""
    await page.wait_for_selector(f"#receipts tbody tr:nth-child({rows})")
    await page.wait_for_selector("#receipts td.check:not(.ok):not(.bad)", state="detached")
    rows_ = await page.eval_on_selector_all(
        "#receipts tbody tr",
        "rows => rows.map(r => [r.dataset.action, r.querySelector('td.check').textContent])",
    )
    return [(a, c) for a, c in rows_]


def generated(tmp_path: Path, name: str, size: int, seed: int = 1) -> Path:
    path = tmp_path / name
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


async def test_a_bid_sealed_in_the_page_opens_to_the_price_typed(
    make_client: Any, tmp_path: Path
) -> None:
    """A bidder seals and submits entirely in the page (key from its file, price typed in
    yuan, a 2 MiB document); two others bid with the CLI; at the opening the custodians'
    shares open the page's envelope to the very price typed (EM 26–31, T3)."""
    client = await make_client(load_demo=True)
    app = client.server.app
    tender = await demo_tender(client)
    tid = tender["id"]
    proposal = generated(tmp_path, "技术方案.pdf", 2 * 1024 * 1024 + 5)
    async with browser() as b:
        page = await new_page(b)
        await login(page, base_url(client), "bidder1", demo_password(app, "bidder1"), "/bidder")
        await page.wait_for_selector("#my-tenders")
        await screenshot(page, "bidder")
        await page.click(f"#my-tenders a[href='/bidder/tenders/{tid}']")
        await page.wait_for_selector("#seal-form")
        assert (await page.text_content("#sub-account") or "").strip()
        assert await page.get_attribute("#deposit-state", "class") == "ok"
        await seal_in_page(page, app, "bidder1", TYPED_PRICE, [proposal])
        assert await page.get_attribute("#seal-progress", "value") == "100"
        checks = await receipt_checks(page)
        assert checks[0][0] == "submit" and checks[0][1].startswith("✓"), checks
        await screenshot(page, "bidder-tender")
        # the other way round: what the page saved checks with `sunlit bid verify-receipt`
        saved = {}
        for link in ("save-receipt", "save-envelope"):
            async with page.expect_download() as dl:
                await page.click(f"#{link}")
            saved[link] = tmp_path / (await dl.value).suggested_filename
            await (await dl.value).save_as(saved[link])
        server_key = (await (await client.get("/api/v1/bidding/server-key")).json())[
            "public_key_hex"
        ]
        verify = [
            "bid",
            "verify-receipt",
            "--receipt",
            str(saved["save-receipt"]),
            "--server-public-key",
            server_key,
            "--envelope",
        ]
        assert cli.main([*verify, str(saved["save-envelope"])]) == 0
        assert cli.main([*verify, str(proposal)]) != 0  # not the envelope the receipt names

        await cli_bid(client, "bidder2", tid, 813_000_000, tmp_path)
        await cli_bid(client, "bidder3", tid, 814_000_000, tmp_path)
        record = await open_tender(client, tid)
        org1 = (
            await (await client.get("/api/v1/me", headers=await headers(client, "bidder1"))).json()
        )["org_id"]
        mine = next(e for e in record["entries"] if e["bidder_org_id"] == org1)
        assert mine["outcome"] == "opened"
        assert mine["amount_fen"] == TYPED_FEN and mine["duration_days"] == 365
        assert mine["declared_items"] == {"质量": "合格", "工期承诺": "365 天"}

        # 22 days later the session has expired: log in again, see the record and my row
        await login(
            page,
            base_url(client),
            "bidder1",
            demo_password(app, "bidder1"),
            f"/bidder/tenders/{tid}",
        )
        assert TYPED_PRICE in (await page.text_content("#my-entry") or "")


async def test_replace_and_withdraw_before_the_deadline_each_with_a_checked_receipt(
    make_client: Any, tmp_path: Path
) -> None:
    """Before the deadline a bidder replaces its bid and then withdraws it, in the page;
    each step has a server-signed receipt that the page checks (BL 29, T5)."""
    client = await make_client(load_demo=True)
    app = client.server.app
    tid = (await demo_tender(client))["id"]
    async with browser() as b:
        page = await new_page(b, locale="en-US")
        await login(
            page,
            base_url(client),
            "bidder4",
            demo_password(app, "bidder4"),
            f"/bidder/tenders/{tid}?lang=en",
        )
        await seal_in_page(page, app, "bidder4", "8,300,000", [])
        await page.wait_for_selector("#withdraw-form:not([hidden])")
        assert await page.text_content("#seal-submit") == "Seal and replace"
        await page.fill("#amount", "8,250,000.10")
        await page.click("#seal-submit")
        checks = await receipt_checks(page, rows=2)
        assert [a for a, _ in checks] == ["replace", "submit"]
        assert all(c.startswith("✓") for _, c in checks), checks
        assert "names this envelope" in checks[0][1]

        await page.click("#withdraw")  # not confirmed: refused in the page
        assert "Tick the box" in (await page.text_content("#withdraw-status") or "")
        await page.check("#withdraw-confirm")
        await page.click("#withdraw")
        await page.wait_for_selector("#no-bid")
        checks = await receipt_checks(page, rows=3)
        assert [a for a, _ in checks] == ["withdraw", "replace", "submit"]
        assert all(c.startswith("✓") for _, c in checks), checks
        assert await page.is_hidden("#withdraw-form")
    status = await (
        await client.get(f"/api/v1/tenders/{tid}/bid", headers=await headers(client, "bidder4"))
    ).json()
    assert status["current"] is None
    assert [b["status"] for b in status["bids"]] == ["superseded", "withdrawn"]


async def test_submission_with_the_keyboard_only(make_client: Any, tmp_path: Path) -> None:
    """Every control of the sealing form is reached with Tab, files are chosen from the
    keyboard (Space opens the file chooser), Enter submits."""
    client = await make_client(load_demo=True)
    app = client.server.app
    tid = (await demo_tender(client))["id"]
    doc = generated(tmp_path, "proposal.txt", 10_000)
    async with browser() as b:
        page = await new_page(b)
        await login(
            page,
            base_url(client),
            "bidder2",
            demo_password(app, "bidder2"),
            f"/bidder/tenders/{tid}",
        )

        async def tab_to(element_id: str) -> None:
            for _ in range(80):
                await page.keyboard.press("Tab")
                if (
                    await page.evaluate("document.activeElement && document.activeElement.id")
                    == element_id
                ):
                    return
            raise AssertionError(f"#{element_id} is not reachable with Tab")

        await tab_to("key-file")
        async with page.expect_file_chooser() as chooser:
            await page.keyboard.press("Space")
        await (await chooser.value).set_files(str(key_dir(app) / "bidder2.ed25519"))
        await page.wait_for_selector("#key-status.ok")
        await tab_to("amount")
        await page.keyboard.type("7654321.5")
        await tab_to("duration")
        await page.keyboard.type("200")
        await tab_to("documents-input")
        async with page.expect_file_chooser() as chooser:
            await page.keyboard.press("Space")
        await (await chooser.value).set_files(str(doc))
        await tab_to("seal-submit")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#seal-status.ok, #seal-error.error:not(:empty)")
        assert await page.text_content("#seal-error") == ""
    status = await (
        await client.get(f"/api/v1/tenders/{tid}/bid", headers=await headers(client, "bidder2"))
    ).json()
    assert status["current"] is not None


async def test_registration_shows_the_deposit_instructions_then_a_question_and_an_objection(
    make_client: Any, tmp_path: Path
) -> None:
    """A bidder registers for a newly published tender in the page and sees where to pay the
    deposit (its virtual sub-account, the amount, the due time) and its state; it downloads
    a document, asks a question (W1) and objects to the documents (W2)."""
    client = await make_client(load_demo=True)
    app = client.server.app
    tid = await publish_new_tender(client)
    async with browser() as b:
        page = await new_page(b, locale="en-US")
        await login(page, base_url(client), "bidder1", demo_password(app, "bidder1"), "/bidder")
        async with page.expect_navigation():
            await page.click("#lang-switch")  # English, kept for this browser
        await page.click(f"#open-tenders a[href='/bidder/tenders/{tid}']")
        await page.click("#register")
        await page.wait_for_selector("#sub-account")
        assert (await page.text_content("#sub-account") or "").strip()
        assert (await page.text_content("#deposit-amount") or "").strip() == "¥100,000.00"
        assert await page.get_attribute("#deposit-due", "datetime")
        assert (await page.text_content("#deposit-state") or "").strip() == "Awaiting payment"
        assert await page.is_visible("#deposit-warning")
        async with page.expect_download() as dl:
            await page.click("#documents a")
        assert (await dl.value).suggested_filename == "招标文件.txt"
        await page.fill("#question-text", "May the duration be longer? 工期可否延长？")
        await page.click("#question-form button")
        await page.wait_for_selector("#questions")
        assert "工期可否延长" in (await page.text_content("#questions") or "")
        await page.fill("#objection-text", "资格条件过严 The qualification terms are too strict")
        await page.click("#objection-form button")
        await page.wait_for_selector("#objections")
        assert "Awaiting the answer" in (await page.text_content("#objections") or "")


async def publish_new_tender(client: Any) -> int:
    app = client.server.app
    staff = await headers(client, "staff1")
    custodians = [
        u["id"]
        for u in await (await client.get("/api/v1/users?role=custodian", headers=staff)).json()
    ]
    now = app[keys.CLOCK].now()
    r = await client.post(
        "/api/v1/tenders",
        headers=staff,
        json={
            "code": "PAGE-2026-002",
            "project_name": "页面测试工程 Page test works",
            "lots": ["一标段"],
            "estimated_price_fen": 10_000_000_00,
            "deposit_fen": 100_000_00,
            "bid_deadline_at": (now + timedelta(days=25)).isoformat(),
            "opening_at": (now + timedelta(days=25, hours=1)).isoformat(),
            "custodians": custodians[:3],
            "threshold_k": 2,
        },
    )
    assert r.status == 201, await r.text()
    tid = (await r.json())["id"]
    r = await client.post(
        f"/api/v1/tenders/{tid}/documents?name=招标文件.txt", headers=staff, data=b"tender text"
    )
    assert r.status == 201, await r.text()
    r = await client.post(f"/api/v1/tenders/{tid}/publish", headers=staff)
    assert r.status == 200, await r.text()
    return tid


async def test_the_cli_envelope_and_receipt_check_in_the_page(
    make_client: Any, tmp_path: Path
) -> None:
    """One format, two clients: an envelope sealed and submitted with the CLI has its
    receipt checked in the page — valid with the envelope it names, not with another file;
    the tender page lists it checked too (docs/bidding.md §3)."""
    client = await make_client(load_demo=True)
    app = client.server.app
    tid = (await demo_tender(client))["id"]
    envelope, receipt = await cli_bid(client, "bidder3", tid, 814_000_000, tmp_path)
    other = generated(tmp_path, "other.env", 1000)
    async with browser() as b:
        page = await new_page(b, locale="en-US")
        await login(
            page,
            base_url(client),
            "bidder3",
            demo_password(app, "bidder3"),
            "/bidder/receipts?lang=en",
        )
        await page.set_input_files("#receipt-file", str(receipt))
        await page.set_input_files("#envelope-file", str(envelope))
        await page.click("#receipt-check")
        await page.wait_for_selector("#receipt-result.ok, #receipt-result.bad")
        assert (await page.text_content("#receipt-result") or "").startswith("✓ Valid")
        assert "names this envelope" in (await page.text_content("#receipt-result") or "")
        await page.set_input_files("#envelope-file", str(other))
        await page.click("#receipt-check")
        await page.wait_for_selector("#receipt-result.bad")
        assert "another envelope" in (await page.text_content("#receipt-result") or "")

        await page.goto(f"{base_url(client)}/bidder/tenders/{tid}?lang=en")
        checks = await receipt_checks(page)
        assert checks == [("submit", "✓ Valid: signed by the server's key.")]


async def test_the_portal_fits_a_phone_390px_wide(make_client: Any) -> None:
    """Readable at 390 px: no page scrolls sideways (wide tables scroll in their own box)."""
    client = await make_client(load_demo=True)
    app = client.server.app
    tid = (await demo_tender(client))["id"]
    async with browser() as b:
        page = await new_page(b, width=390, height=844)
        await login(page, base_url(client), "bidder1", demo_password(app, "bidder1"), "/bidder")
        for path in ("/bidder", f"/bidder/tenders/{tid}", "/bidder/receipts"):
            for lang in ("zh", "en"):
                await page.goto(f"{base_url(client)}{path}?lang={lang}")
                await assert_no_horizontal_overflow(page)


async def test_the_opening_record_my_result_and_an_objection_during_the_publicity(
    make_client: Any, clock: Any, monkeypatch: Any
) -> None:
    """After the opening the bidder sees the signed record with its own row and its price,
    the candidates once published, and objects to them in the page during the publicity
    (T18: IR 54); the objection is the API's, with the bidder's own view of it."""
    from tests.e2e.test_award_api import opened_tender, ranking
    from tests.helpers import PASSWORD
    from web import award as web_award

    client = await make_client(session_ttl_s=40 * 86400)
    world = await opened_tender(client, clock)
    clock.advance(days=1)
    result = await ranking(world)

    async def concluded(_conn: Any, tender_id: int) -> Any:
        return result if tender_id == world.tender_id else None

    monkeypatch.setattr(web_award, "concluded", concluded)
    staff = await api_login(client, world.staff.username)
    r = await client.post(f"/api/v1/tenders/{world.tender_id}/award/publicity", headers=staff)
    assert r.status == 200, await r.text()
    second = result.candidates[1]
    bidder = next(b for b in world.bidders if b.org_id == second.org_id)
    async with browser() as b:
        page = await new_page(b, locale="en-US")
        await login(
            page,
            base_url(client),
            bidder.party.username,
            PASSWORD,
            f"/bidder/tenders/{world.tender_id}?lang=en",
        )
        assert "(me)" in (await page.text_content("#my-entry") or "")
        assert "(me)" in (await page.text_content("#candidates tr.mine") or "")
        await page.fill(
            "#award-objection-text", "异议：第一名资格 The first candidate's qualification"
        )
        await page.click("#award-objection-form button")
        await page.wait_for_selector("#award-objections")
        assert "第一名资格" in (await page.text_content("#award-objections") or "")
    status = await (
        await client.get(
            f"/api/v1/tenders/{world.tender_id}/award",
            headers=await api_login(client, bidder.party.username),
        )
    ).json()
    assert status["open_objections"] == 1 and len(status["objections"]) == 1
