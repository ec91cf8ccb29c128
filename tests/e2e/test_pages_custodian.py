"""A custodian hands in the key share from the browser (issue 13 item 4): the sealed share is
opened in the page with WebCrypto (X25519, HKDF-SHA-256, AES-256-GCM — crypto/sealedbox.py)
using the key file picked with <input type=file>, and the opening proceeds. The private key
never reaches the server (RULES T9: k of n custodians; the key is never sent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.browser import (
    assert_no_horizontal_overflow,
    base_url,
    browser,
    login,
    new_page,
    screenshot,
)
from tests.e2e.test_bidding_api import CONFIG, Centre, cli_in_thread, run_cli
from tests.helpers import PASSWORD
from web import keys


async def _tender_at_its_opening(centre: Centre, tmp: Path) -> dict[str, Any]:
    """A published tender with three sealed bids (the CLI's), its deadline passed and its
    opening session started."""
    from datetime import timedelta

    client, app = centre.client, centre.client.server.app
    tender = await centre.tender()
    for i, (party, headers, key_file) in enumerate(centre.bidders):
        schedule = tmp / f"schedule{i}.json"
        schedule.write_text(json.dumps({"amount_fen": 800_000_000 + i, "duration_days": 500, "declared_items": {},
                                        "confidential_items": {}}), "utf-8")
        envelope = tmp / f"bid{i}.env"
        assert run_cli("bid", "seal", "--tender-public-key", tender["opening_public_key"], "--tender-id",
                       str(tender["id"]), "--bidder-org", str(party.org_id), "--signing-key", str(key_file),
                       "--price-schedule", str(schedule), "--out", str(envelope)) == 0
        token = headers["Authorization"].split()[1]
        assert await cli_in_thread("bid", "submit", "--url", centre.url, f"--token={token}", "--tender-id",
                                   str(tender["id"]), "--envelope", str(envelope),
                                   "--receipt-out", str(tmp / f"r{i}.json")) == 0
    clock = app[keys.CLOCK]
    clock.set(clock.now() + timedelta(days=21, minutes=31))
    await app[keys.SCHEDULER].run_due()
    status = await (await client.get(f"/api/v1/tenders/{tender['id']}/opening", headers=centre.staff_h)).json()
    assert status["state"] == "opening", status
    return tender


async def test_a_custodian_hands_in_a_share_in_the_page_and_the_opening_proceeds(make_client, tmp_path) -> None:
    client = await make_client(**CONFIG)
    centre = Centre(client, tmp_path)
    await centre.start()
    tender = await _tender_at_its_opening(centre, tmp_path)
    base = base_url(client)
    seen_bodies: list[bytes] = []
    async with browser() as b:
        for n, (party, _headers, key_file) in enumerate(centre.custodians[:2]):  # k = 2
            page = await new_page(b, "zh-CN")
            page.on("request", lambda r, bodies=seen_bodies: bodies.append(r.post_data_buffer or b""))
            await login(page, base, party.username, PASSWORD)
            assert page.url.endswith("/custodian")
            row = page.locator(f".share-row[data-tender='{tender['id']}']")
            await row.locator("button.hand-in").click()  # no key chosen yet: said so
            assert "私钥" in (await row.locator(".share-result").text_content() or "")
            await page.set_input_files("#key-file", str(key_file))
            await page.wait_for_selector("#key-state.ok")
            await row.locator("button.hand-in").click()
            await page.wait_for_function(
                f"() => document.querySelector(\".share-row[data-tender='{tender['id']}'] .share-result\").classList.contains('ok')"
            )
            assert await row.get_attribute("data-state") == ("opening" if n == 0 else "opened")
            if n == 0:
                await assert_no_horizontal_overflow(page)
                await page.set_viewport_size({"width": 1200, "height": 900})
                await screenshot(page, "custodian")
    status = await (await client.get(f"/api/v1/tenders/{tender['id']}/opening", headers=centre.staff_h)).json()
    assert status["state"] == "opened" and status["shares_received"] == 2
    record = await (await client.get(f"/api/v1/tenders/{tender['id']}/opening-record/public")).json()
    assert sorted(e["amount_fen"] for e in record["document"]["entries"]) == [800_000_000, 800_000_001, 800_000_002]
    async with browser() as b:  # the tender's public record now shows the opening, to anyone
        page = await new_page(b, "zh-CN")
        await page.goto(f"{base}/tenders/{tender['id']}")
        assert await page.locator("#opening-record table.opening tbody tr").count() == 3
        prices = await page.locator("#opening-record td.num").all_text_contents()
        assert "8,000,000.00" in prices and "8,000,000.02" in prices
        assert "招标文件.pdf" in (await page.text_content("#docs-h + *") or await page.content())
        await assert_no_horizontal_overflow(page)
        await page.set_viewport_size({"width": 1200, "height": 900})
        await screenshot(page, "public-tender")
    private_keys = [key_file.read_text().strip().encode() for _, _, key_file in centre.custodians]
    assert seen_bodies and not any(k in body for k in private_keys for body in seen_bodies)  # never sent


async def test_a_wrong_key_file_does_not_open_the_share(make_client, tmp_path) -> None:
    client = await make_client(**CONFIG)
    centre = Centre(client, tmp_path)
    await centre.start()
    tender = await _tender_at_its_opening(centre, tmp_path)
    party, _headers, _key = centre.custodians[0]
    other_key = centre.custodians[1][2]
    async with browser() as b:
        page = await new_page(b, "en-US")
        await login(page, base_url(client), party.username, PASSWORD, next_path="/custodian?lang=en")
        await page.set_input_files("#key-file", str(other_key))
        row = page.locator(f".share-row[data-tender='{tender['id']}']")
        await row.locator("button.hand-in").click()
        await page.wait_for_function(
            f"() => document.querySelector(\".share-row[data-tender='{tender['id']}'] .share-result\").classList.contains('error')"
        )
        assert "does not open with this key" in (await row.locator(".share-result").text_content() or "")
    status = await (await client.get(f"/api/v1/tenders/{tender['id']}/opening", headers=centre.staff_h)).json()
    assert status["shares_received"] == 0
