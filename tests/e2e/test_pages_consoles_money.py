"""Money in the staff console, in a real Chromium (issue 13 item 5: "deposits (incoming
money, unmatched statement lines, refunds due)"): money that matched no sub-account waits in
suspense and staff return it to the payer from the page; the return waits among the refunds
due, and staff put the waiting refunds in a bank batch from the page (the batch file for the
bank; the refund stays pending until the bank pays it).

Sources (RULES.md): D2/D3 (money is matched by the virtual sub-account; what matches nothing
is never a deposit and goes back to the payer), D5 (refunds are paid in bank batches).
"""

from __future__ import annotations

from typing import Any

from crypto.signing import generate_signing_key, public_key_bytes
from tests.e2e.browser import assert_no_horizontal_overflow, base_url, browser, login, new_page
from tests.helpers import PASSWORD, user_headers
from trading.context import Role
from trading.ledger import bank
from trading.ledger.model import BankNotification, NotificationKind
from web import keys


async def ok(r: Any, status: int = 200) -> Any:
    assert r.status == status, f"{r.method} {r.url}: {r.status} {await r.text()}"
    return await r.json()


async def test_staff_return_unmatched_money_and_batch_the_refunds_in_the_page(client: Any) -> None:
    """D2/D3, D5 (see the module docstring)."""
    _, admin = await user_headers(client, Role.ADMIN)
    staff, staff_h = await user_headers(client, Role.STAFF)
    key = generate_signing_key()
    await ok(await client.post("/api/v1/ledger/bank-keys", headers=admin,
                               json={"public_key": public_key_bytes(key).hex()}), 201)  # fmt: skip
    now = client.server.app[keys.CLOCK].now()
    stray = BankNotification(1, "STRAY0001", NotificationKind.CREDIT, "99999999999999999999", 123_456, now,
                             "6222 0000 1111 2222", "某建设有限公司")  # fmt: skip
    await ok(await client.post("/api/v1/bank/notifications", json=bank.sign_notification(stray, key)))
    async with browser() as b:
        page = await new_page(b, locale="en-GB")
        page.on("dialog", lambda d: d.accept())
        await login(page, base_url(client), staff.username, PASSWORD, "/staff/deposits?lang=en")
        row = "#suspense tr:has(td:text-is('STRAY0001'))"
        await page.wait_for_selector(row)
        assert "1,234.56" in (await page.text_content(row) or "")
        await page.click(f"{row} button:has-text('Return to the payer')")
        await page.wait_for_selector("#suspense :text('No unmatched money.')")
        await page.reload()
        await page.wait_for_selector("#refunds tbody tr")
        pending = await ok(await client.get("/api/v1/ledger/payouts?state=pending", headers=staff_h))
        assert [p["amount_fen"] for p in pending] == [123_456]
        batch_made = page.expect_response(lambda r: r.url.endswith("/api/v1/ledger/refund-batches")
                                          and r.request.method == "POST")  # fmt: skip
        async with batch_made as made:
            await page.click("#refunds button:has-text('Put the waiting refunds in a bank batch')")
        assert (await made.value).status == 201
        await assert_no_horizontal_overflow(page)
    batches = await ok(await client.get("/api/v1/ledger/refund-batches", headers=staff_h))
    assert len(batches) == 1, batches
