"""A quota-plate session end to end, on real PostgreSQL with a fake clock, through the
websocket protocol and the CLI: staff create it (CLI); bidders apply and pay their deposit
into the ledger and are admitted once the bank's notification confirms it (never by a staff
flag); first half (one bid, at most the warning price); a server restart; second half (the
±300 window, two revisions); the close to the millisecond; the signed result (winners by
price then time, the cutoff, the average); the deposits settled in chunks by timed events
(winners converted, losers refunded, each once; trial balance zero); the log verified offline
(CLI ``sunlit verify-auction``).

Sources: RULES.md A9 (quota plates), A6 (admission on a confirmed deposit), A7 (deposits
after the close); issue 15 items 1 and 2.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from auction import quota_service
from auction.verify import verify_auction
from crypto.signing import generate_signing_key, public_key_bytes
from tests.e2e.test_auction_cli import sunlit
from tests.e2e.test_auction_ws import Ws, connect
from tests.helpers import PASSWORD, user_headers
from trading.clock import iso_ms
from trading.context import Role
from trading.ledger import bank
from trading.ledger import store as ledger_store
from trading.ledger.model import BankNotification, DepositState, NotificationKind
from web import keys
from web.auction_quota import QUOTA_ENGINE

WARNING = 9_000_000  # 90,000 yuan
DEPOSIT = 200_000


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def pay(client: TestClient, key: Any, n: int, sub_account: str) -> None:
    notification = BankNotification(
        n, f"QUOTA{n:04d}", NotificationKind.CREDIT, sub_account, DEPOSIT,
        client.server.app[keys.CLOCK].now(), f"6222 0000 0000 000{n}", f"bidder {n}",
    )
    await ok(await client.post("/api/v1/bank/notifications", json=bank.sign_notification(notification, key)))


async def bid(ws: Ws, session_id: int, bid_id: str, amount_fen: int) -> dict[str, Any]:
    return await ws.ask(
        {"op": "bid", "quota_session": session_id, "bid_id": bid_id, "amount_fen": amount_fen}
    )


async def test_a_quota_session_runs_from_application_to_settled_deposits_and_verifies_offline(
    make_client: Any, clock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A9, A6, A7 end to end (see the module docstring)."""
    monkeypatch.setattr(quota_service, "SETTLE_CHUNK", 2)  # four bidders: settled in chunks
    first = await make_client()
    base = str(first.server.make_url("")).rstrip("/")
    _, admin = await user_headers(first, Role.ADMIN)
    staff, staff_headers = await user_headers(first, Role.STAFF)
    key = generate_signing_key()
    await ok(
        await first.post(
            "/api/v1/ledger/bank-keys", headers=admin, json={"public_key": public_key_bytes(key).hex()}
        ),
        201,
    )
    starts = clock.now() + timedelta(hours=1)

    # staff create the session with the CLI
    code, out = await sunlit(
        "auction", "quota", "create", "--url", base, "--username", staff.username, "--password", PASSWORD,
        "--title", "2026年3月 个人额度拍卖", "--quota", "2", "--warning-price-fen", str(WARNING),
        "--starts-at", iso_ms(starts), "--first-half-s", "60", "--second-half-s", "60",
        "--deposit-fen", str(DEPOSIT),
    )
    assert code == 0, out
    session = json.loads(out)
    sid = session["id"]
    assert session["deposit_ref"] == f"quota_session:{sid}"
    half_at, ends_at = starts + timedelta(seconds=60), starts + timedelta(seconds=120)

    # four bidders apply (报名); A, B and C pay; A applies again and is admitted at once
    people = [await user_headers(first, Role.BIDDER) for _ in range(4)]
    applied = [
        await ok(await first.post(f"/api/v1/auctions/quota/{sid}/apply", headers=h), 201)
        for _, h in people
    ]
    assert all(a["paddle"] is None and a["deposit"]["state"] == "awaiting" for a in applied)
    for n in range(3):
        await pay(first, key, n + 1, applied[n]["deposit"]["sub_account"])
    again = await ok(await first.post(f"/api/v1/auctions/quota/{sid}/apply", headers=people[0][1]), 201)
    assert again["paddle"] is not None and again["deposit"]["state"] == "confirmed"
    # the rest are admitted by the timed admission sweep at the start (through the ledger)
    clock.set(starts)
    await first.server.app[keys.SCHEDULER].run_due()
    await first.server.app[QUOTA_ENGINE].wait_idle()
    live = await ok(await first.get(f"/api/v1/auctions/quota/{sid}"))
    assert live["counts"] == {"applied": 4, "admitted": 3, "settled": 0}

    a, b, c, d = (p[0] for p in people)
    tokens = [h["Authorization"].split()[1] for _, h in people]

    # the first half: one bid each, at most the warning price
    clock.set(starts + timedelta(seconds=10))
    async with connect(first, tokens[0]) as wa, connect(first, tokens[1]) as wb, connect(
        first, tokens[2]
    ) as wc, connect(first, tokens[3]) as wd:
        for ws in (wa, wb, wc, wd):
            snap = await ws.ask({"op": "subscribe", "quota_session": sid, "req": "s"}, "quota_snapshot")
            assert snap["quota_session"] == sid and snap["warning_price_fen"] == WARNING
        ack = await bid(wa, sid, "a1", WARNING - 100_000)
        assert ack["type"] == "ack" and ack["half"] == "first" and ack["revisions_left"] == 2
        assert ack["window"] is None and ack["lowest_winning_price_fen"] == WARNING - 100_000
        refused = await bid(wb, sid, "b0", WARNING + 10_000)
        assert refused["code"] == "over_warning_price" and refused["quota_session"] == sid
        assert (await bid(wb, sid, "b1", WARNING))["type"] == "ack"
        assert (await bid(wa, sid, "a2", WARNING - 50_000))["code"] == "one_bid_only"
        assert (await bid(wd, sid, "d1", WARNING))["code"] == "not_admitted"
        assert (await bid(wc, sid, "c1", WARNING - 200_000))["type"] == "ack"
        # hostile frames are refused and touch nobody else
        assert (await wa.ask({"op": "bid", "quota_session": "x", "bid_id": "h", "amount_fen": 1}))[
            "code"
        ] == "bad_field"
        assert (await wa.ask({"op": "bid", "quota_session": sid, "bid_id": "h", "amount_fen": 1e30}))[
            "code"
        ] == "bad_amount"
        huge = '{"op": "bid", "quota_session": ' + str(sid) + ', "bid_id": "h2", "amount_fen": ' + "9" * 100 + "}"
        await wa.send(huge)
        assert (await wa.until("error", bid_id="h2"))["code"] == "bad_amount"
        await wa.send('{"op": "bid", "quota_session": [')
        assert (await wa.until("error"))["code"] == "malformed_frame"
        await wa.send("x" * (1 << 20))  # a 1 MB frame closes that socket, and only that one
        assert (await bid(wb, sid, "b2", WARNING))["code"] == "one_bid_only"

    # a restart: the log is replayed and the session goes on
    await first.close()
    second = await make_client()
    live = await ok(await second.get(f"/api/v1/auctions/quota/{sid}"))
    assert live["live"]["bid_count"] == 3 and live["live"]["lowest_winning_price_fen"] == WARNING - 100_000

    # the second half: within ±300 yuan of the lowest winning price, two revisions at most
    clock.set(half_at + timedelta(seconds=1))
    async with connect(second, tokens[0]) as wa, connect(second, tokens[2]) as wc, connect(second) as watcher:
        for ws in (wa, wc, watcher):
            await ws.ask({"op": "subscribe", "quota_session": sid, "req": "s"}, "quota_snapshot")
        cut = WARNING - 100_000  # A's bid: the second of two plates
        out_of_window = await bid(wc, sid, "c2", WARNING)
        assert out_of_window["code"] == "outside_window"
        assert out_of_window["details"] == {"low_fen": cut - 30_000, "high_fen": cut + 30_000}
        ack = await bid(wc, sid, "c3", cut + 30_000)
        assert ack["half"] == "second" and ack["revision"] == 1 and ack["revisions_left"] == 1
        assert ack["window"] == {"low_fen": cut, "high_fen": cut + 60_000}
        assert (await bid(wc, sid, "c4", cut + 60_000))["revisions_left"] == 0
        assert (await bid(wc, sid, "c5", cut + 50_000))["code"] == "too_many_revisions"
        clock.set(half_at + timedelta(seconds=2))
        assert (await bid(wa, sid, "a3", cut + 60_000))["type"] == "ack"  # a tie: the later loses
        # watchers see the published cutoff and count, never a bidder's price
        second.server.app[QUOTA_ENGINE].publish()
        status = await watcher.until("quota_status")
        assert status["bid_count"] == 3 and status["lowest_winning_price_fen"] == cut + 60_000
        assert not {"paddle", "amount_fen", "bids"} & set(status)
        # a bid three milliseconds after the end is refused; the close is logged at the end
        clock.set(ends_at + timedelta(milliseconds=3))
        assert (await bid(wa, sid, "a4", WARNING))["code"] == "closed"
        await watcher.until("quota_closed")
    app = second.server.app
    late = await user_headers(second, Role.BIDDER)  # 报名 after the close is refused, nothing written
    r = await second.post(f"/api/v1/auctions/quota/{sid}/apply", headers=late[1])
    assert r.status == 409 and (await r.json())["code"] == "quota_session_ended", await r.text()
    async with app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM quota_bidders WHERE session_id = $1", sid) == 4
    await app[QUOTA_ENGINE].wait_idle()
    while await app[keys.SCHEDULER].run_due():  # the settlement, chunk by chunk
        pass

    # the result: B at the warning price, C at the cutoff; A loses the tie with C by time
    code, out = await sunlit("auction", "quota", "result", "--url", base_of(second), "--session", str(sid))
    assert code == 0, out
    result = json.loads(out)["result"]
    paddles = {p.org_id: None for p in (a, b, c, d)}
    async with app[keys.POOL].acquire() as conn:
        for org in paddles:
            paddles[org] = await quota_service.paddle_of(conn, sid, org)
    assert [w["paddle"] for w in result["winners"]] == [paddles[b.org_id], paddles[c.org_id]]
    assert result["cutoff_fen"] == WARNING - 40_000 and result["average_fen"] == WARNING - 20_000
    assert result["closed_at"] == iso_ms(ends_at)

    # the deposits: winners converted, the loser refunded, the unpaid left; each exactly once
    async with app[keys.POOL].acquire() as conn:
        deposits = {
            int(x.bidder_id): x.state
            for x in await ledger_store.list_deposits(conn, project_id=f"quota_session:{sid}")
        }
        assert deposits == {
            a.org_id: DepositState.REFUND_PENDING,
            b.org_id: DepositState.CONVERTED,
            c.org_id: DepositState.CONVERTED,
            d.org_id: DepositState.AWAITING,
        }
        assert (await ledger_store.trial_balance(conn)).balanced
        actions = dict(
            await conn.fetch(
                "SELECT action, count(*) FROM audit_log WHERE action IN "
                "('ledger.deposit.convert', 'ledger.deposit.refund', 'auction.quota.deposits_settled') "
                "GROUP BY action"
            )
        )
        assert actions == {
            "ledger.deposit.convert": 2,
            "ledger.deposit.refund": 1,
            "auction.quota.deposits_settled": 1,
        }
        assert await conn.fetchval("SELECT settled_at IS NOT NULL FROM quota_sessions WHERE id = $1", sid)

    # the log, exported with the CLI and verified offline with the server's public key
    out_file = tmp_path / "quota.json"
    code, out = await sunlit(
        "auction", "quota", "export", "--url", base_of(second), "--session", str(sid),
        "--username", staff.username, "--password", PASSWORD, "--out", str(out_file),
    )
    assert code == 0, out
    public_key = app[keys.AUDIT].public_key.hex()
    code, out = await sunlit("verify-auction", "--log", str(out_file), "--public-key", public_key)
    assert code == 0 and "VALID: quota session" in out, out
    export = json.loads(out_file.read_text("utf-8"))
    export["log"]["result"]["average_fen"] += 1
    assert not verify_auction(export, bytes.fromhex(public_key)).ok


def base_of(client: TestClient) -> str:
    return str(client.server.make_url("")).rstrip("/")
