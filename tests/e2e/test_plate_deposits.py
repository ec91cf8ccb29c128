"""A plate session's deposits in the ledger, end to end: creating the session registers one
deposit per bidder (the largest any plate asks, due before the start); bidders pay into their
own sub-accounts and are admitted once the bank's notification confirms it (A6); when the
last plate closes — after a server restart between the plates' closes — each winner's deposit
converts once, into the first plate it won, and every other confirmed deposit is refundable
within 5 working days (A7); staff see what became of each deposit; a repeat changes nothing.

Sources: RULES.md A6, A7; DESIGN.md "Auctions", "Deposits"; issue 4 (live auctions).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from auction import service
from crypto.signing import generate_signing_key, public_key_bytes
from tests.helpers import login, user_headers
from trading.clock import iso_ms
from trading.context import Role
from trading.ledger import bank
from trading.ledger import service as ledger
from trading.ledger import store as ledger_store
from trading.ledger.model import BankNotification, NotificationKind
from web import keys
from web.auction_ws import ENGINE

START = 500_000
INC = 50_000


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def ledger_snapshot(client: TestClient) -> tuple[Any, ...]:
    async with client.server.app[keys.POOL].acquire() as conn:
        return (
            await ledger_store.trial_balance(conn),
            await ledger_store.journal(conn),
            await ledger_store.list_deposits(conn),
            await conn.fetchval("SELECT count(*) FROM audit_log"),
            await conn.fetchval("SELECT count(*) FROM notices"),
        )


async def test_a_plate_sessions_deposits_convert_for_winners_and_are_refunded_to_the_others(
    make_client, clock
) -> None:
    first = await make_client()
    app = first.server.app
    _, admin = await user_headers(first, Role.ADMIN)
    staff_party, staff = await user_headers(first, Role.STAFF)
    key = generate_signing_key()
    await ok(
        await first.post(
            "/api/v1/ledger/bank-keys",
            headers=admin,
            json={"public_key": public_key_bytes(key).hex()},
        ),
        201,
    )
    starts = clock.now() + timedelta(hours=1)
    session = await ok(
        await first.post(
            "/api/v1/auctions/sessions",
            headers=staff,
            json={
                "title": "2026 第二期特殊号牌 Special plates, session 2",
                "starts_at": iso_ms(starts),
                "countdown_s": 60,
                "lots": [
                    {
                        "title": title,
                        "starting_price_fen": START,
                        "increment_fen": INC,
                        "deposit_fen": deposit,
                    }
                    for title, deposit in (
                        ("浙E·88888", 100_000),
                        ("浙E·66666", 150_000),
                        ("浙E·12345", 100_000),
                    )
                ],
            },
        ),
        201,
    )
    ref = session["deposit_ref"]
    assert ref == f"auction_session:{session['id']}" and session["deposit_fen"] == 150_000
    terms = await ok(await first.get(f"/api/v1/ledger/projects/{ref}", headers=staff))
    assert terms["kind"] == "auction" and terms["required_fen"] == 150_000
    assert terms["deadline_at"] == iso_ms(starts) and terms["accept_guarantees"] is False

    # four bidders open their deposits; A, B and C pay, D does not
    people = [await user_headers(first, Role.BIDDER) for _ in range(4)]
    for n, (_, headers) in enumerate(people, start=1):
        d = await ok(
            await first.post(f"/api/v1/ledger/projects/{ref}/deposits", headers=headers, json={}),
            201,
        )
        if n == 4:
            continue
        notification = BankNotification(
            n,
            f"PLATE{n:04d}",
            NotificationKind.CREDIT,
            d["sub_account"],
            150_000,
            clock.now(),
            f"6222 0000 0000 000{n}",
            f"bidder {n}",
        )
        answer = await ok(
            await first.post(
                "/api/v1/bank/notifications", json=bank.sign_notification(notification, key)
            )
        )
        assert answer["verdict"] == "confirm", answer
    (a, ah), (b, bh), (c, ch), (unpaid, _) = people
    admissions = f"/api/v1/auctions/sessions/{session['id']}/admissions"
    problem = await ok(
        await first.post(
            admissions,
            headers=staff,
            json={"org_ids": [a.org_id, b.org_id, c.org_id, unpaid.org_id]},
        ),
        403,
    )
    assert [(e["org_id"], e["code"]) for e in problem["errors"]] == [(unpaid.org_id, "deposit_not_confirmed")]
    admitted = await ok(
        await first.post(
            admissions, headers=staff, json={"org_ids": [a.org_id, b.org_id, c.org_id]}
        ),
        201,
    )
    assert len(admitted["admitted"]) == 3

    await ok(await first.post(f"/api/v1/auctions/sessions/{session['id']}/schedule", headers=staff))
    clock.set(starts)
    await app[keys.SCHEDULER].run_due()
    x, y, z = (lot["id"] for lot in session["lots"])

    async def bid(
        client: TestClient, headers: dict[str, str], lot_id: int, bid_id: str, fen: int
    ) -> None:
        await ok(
            await client.post(
                f"/api/v1/auctions/lots/{lot_id}/bids",
                headers=headers,
                json={"bid_id": bid_id, "amount_fen": fen},
            ),
            201,
        )

    await bid(first, ah, x, "x1", START)
    await bid(first, ch, x, "x2", START + INC)
    await bid(first, bh, y, "y1", START)
    await bid(first, ch, y, "y2", START + INC)
    await bid(first, bh, y, "y3", START + 2 * INC)
    await bid(first, ah, z, "z1", START)
    clock.advance(seconds=30)
    await bid(first, ah, x, "x3", START + 2 * INC)  # x runs on: its countdown restarts
    clock.advance(seconds=30)
    await app[ENGINE].tick()
    await app[ENGINE].wait_idle()  # y (B) and z (A) closed and settled; x still runs

    results = f"/api/v1/auctions/sessions/{session['id']}/results"
    problem = await ok(await first.get(results, headers=staff), 409)
    assert problem["code"] == "session_not_ended"
    problem = await ok(await first.get(f"/api/v1/auctions/lots/{z}/confirmation", headers=ah), 409)
    assert problem["code"] == "session_not_ended"
    deposits = await ok(await first.get(f"/api/v1/ledger/projects/{ref}/deposits", headers=staff))
    assert sorted(d["state"] for d in deposits) == [
        "awaiting",
        "confirmed",
        "confirmed",
        "confirmed",
    ]

    # a restart between the plates' closes
    await first.close()
    second = await make_client()
    app = second.server.app
    staff = await login(second, staff_party.username)
    ah = await login(second, a.username)
    bh = await login(second, b.username)
    live = (await ok(await second.get(f"/api/v1/auctions/lots/{x}")))["live"]
    assert live["phase"] == "countdown"
    clock.set(datetime.fromisoformat(live["countdown_ends_at"]))
    await app[ENGINE].tick()
    await app[ENGINE].wait_idle()

    got = await ok(await second.get(results, headers=staff))
    outcomes = {lot["lot_id"]: (lot["outcome"], lot["winner_org_id"]) for lot in got["lots"]}
    assert outcomes == {x: ("sold", a.org_id), y: ("sold", b.org_id), z: ("sold", a.org_id)}
    by_org = {d["org_id"]: d for d in got["deposits"]}
    assert set(by_org) == {a.org_id, b.org_id, c.org_id, unpaid.org_id}
    # A won z first (x closed later, after the restart): its deposit went into z
    assert by_org[a.org_id]["settlement"] == "converted"
    assert (
        by_org[a.org_id]["won_lot_ids"] == [x, z] and by_org[a.org_id]["converts_into_lot_id"] == z
    )
    assert (
        by_org[b.org_id]["settlement"] == "converted"
        and by_org[b.org_id]["converts_into_lot_id"] == y
    )
    loser = by_org[c.org_id]
    assert loser["settlement"] == "refund_due" and loser["won_lot_ids"] == []
    # the session ended on Monday 5 January 2026: 5 working days on is Monday 12 January
    assert loser["deposit"]["refund_due_on"] == "2026-01-12"
    assert loser["deposit"]["refund_cause"] == "lost" and loser["deposit"]["amount_fen"] == 150_000
    assert (
        by_org[unpaid.org_id]["settlement"] == "unpaid" and by_org[unpaid.org_id]["paddle"] is None
    )
    assert got["settled"] is True
    assert got["totals"] == {"converted_fen": 300_000, "refund_due_fen": 150_000, "refunded_fen": 0}

    tb = await ok(await second.get("/api/v1/ledger/trial-balance", headers=staff))
    assert tb["balanced"] is True and tb["net_fen"] == 0
    (price,) = [r for r in tb["rows"] if r["kind"] == "price_receivable"]
    assert price["credits_posted"] == 300_000

    # the confirmations say where the deposit went: into z, not into x
    docs = {}
    for lot_id, headers in ((x, ah), (y, bh), (z, ah)):
        docs[lot_id] = (
            await ok(
                await second.get(f"/api/v1/auctions/lots/{lot_id}/confirmation", headers=headers)
            )
        )["confirmation"]
    assert docs[z]["deposit_fen"] == 150_000 and docs[z]["deposit_applied_fen"] == 150_000
    assert docs[z]["balance_due_fen"] == START - 150_000
    assert docs[x]["deposit_applied_fen"] == 0 and docs[x]["balance_due_fen"] == START + 2 * INC
    assert docs[y]["deposit_applied_fen"] == 150_000

    _, supervisor = await user_headers(second, Role.SUPERVISOR)
    assert (await second.get(results, headers=supervisor)).status == 200
    assert (await second.get(results, headers=bh)).status == 403

    async with app[keys.POOL].acquire() as conn:
        told = await conn.fetch(
            "SELECT org_id, subject FROM notices WHERE subject LIKE 'Deposit converted%' ORDER BY org_id"
        )
        assert [(n["org_id"], n["subject"].split(": ")[1].split(" /")[0]) for n in told] == sorted(
            [(a.org_id, "浙E·12345"), (b.org_id, "浙E·66666")]
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'auction.session.deposits_settle'"
            )
            == 1
        )
        due_at = await conn.fetchval(  # an alert if the bank has not paid by then
            "SELECT due_at FROM timed_events WHERE kind = $1 AND ref = $2 AND status = 'pending'",
            ledger.REFUND_DUE,
            f"deposit:{ref}:{c.org_id}",
        )
        assert due_at == datetime(2026, 1, 12, 16, 0, tzinfo=UTC)  # the end of the 12th in China

    # a repeat — by hand, or the engine settling a lot again — changes nothing
    before = await ledger_snapshot(second)
    async with app[keys.POOL].acquire() as conn:
        again = await service.settle_session_deposits(
            conn, app[keys.AUDIT], staff_party.actor, clock.now(), session_id=session["id"]
        )
        assert again is not None and again.converted == [] and again.refunded == []
        assert not await service.settle(
            conn, app[keys.AUDIT], clock.now(), lot_id=x, state=app[ENGINE].state(x), key=None
        )
    assert await ledger_snapshot(second) == before
