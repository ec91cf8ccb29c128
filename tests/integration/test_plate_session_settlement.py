"""A plate session's deposits are settled exactly once when its lots close at the same
moment and are settled on two connections at once: the session's last lot to settle sees the
session ended, neither loses the settlement and a repeat changes nothing.

Sources: RULES.md A7; auction/deposits.py; issue 4 (live auctions).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg

from auction import service, store
from auction.model import Phase, PlaceBid, Start, Tick, config_from_dict
from auction.rules import decide, initial_state
from crypto.signing import generate_signing_key, public_key_bytes
from tests.helpers import make_org, make_user
from trading.audit import AuditLog
from trading.clock import FakeClock
from trading.context import Actor, Role
from trading.ledger import bank
from trading.ledger import service as ledger
from trading.ledger import store as ledger_store
from trading.ledger.model import BankNotification, DepositState, NotificationKind

BANK = generate_signing_key()
START = 500_000
INC = 50_000
DEPOSIT = 100_000


async def test_two_plates_closing_together_settle_the_sessions_deposits_once(
    pool: asyncpg.Pool, audit: AuditLog, clock: FakeClock
) -> None:
    starts = clock.now() + timedelta(hours=1)
    async with pool.acquire() as conn:
        await audit.register_key(conn, clock.now())
        staff = (await make_user(conn, audit, clock, Role.STAFF)).actor
        await ledger.register_bank_key(conn, audit, staff, clock.now(), public_key_bytes(BANK))
        session = await service.create_plate_session(
            conn,
            audit,
            staff,
            clock.now(),
            title="together",
            starts_at=starts,
            countdown_s=60,
            lots=[
                {
                    "title": t,
                    "starting_price_fen": START,
                    "increment_fen": INC,
                    "deposit_fen": DEPOSIT,
                }
                for t in ("浙E·00001", "浙E·00002")
            ],
        )
        ref = session["deposit_ref"]
        orgs = [await make_org(conn, audit, clock) for _ in range(3)]
        for seq, org in enumerate(orgs, start=1):
            d = await ledger.open_deposit(conn, audit, staff, clock.now(), ref, org)
            n = BankNotification(
                seq,
                f"R{seq}",
                NotificationKind.CREDIT,
                d.sub_account,
                DEPOSIT,
                clock.now(),
                f"6222 {seq}",
                "payer",
            )
            body = bank.sign_notification(n, BANK)
            await ledger.receive_notification(
                conn,
                audit,
                Actor.system("bank"),
                clock.now(),
                n,
                bank.decode_signature(body["signature"]),
            )
        admitted = await service.admit(
            conn, audit, staff, clock.now(), scope=f"session:{session['id']}", org_ids=orgs
        )
        paddle = {a["org_id"]: a["paddle"] for a in admitted}
        states = []
        for lot, winner in zip(session["lots"], orgs[:2], strict=True):
            row = await store.get_lot(conn, lot["id"])
            state = decide(initial_state(config_from_dict(row["config"])), Start(), starts).state
            for n, org in enumerate((orgs[2], winner)):  # the third bidder is outbid on both
                state = decide(
                    state,
                    PlaceBid(bid_id=f"b{n}", paddle=paddle[org], amount_fen=START + n * INC),
                    starts,
                    admitted=set(paddle.values()),
                ).state
            state = decide(state, Tick(), starts + timedelta(seconds=60)).state
            assert state.phase is Phase.CLOSED and state.winner == paddle[winner]
            states.append((lot["id"], state))

    async def settle(lot_id: int, state: object) -> bool:
        async with pool.acquire() as conn:
            return await service.settle(
                conn, audit, clock.now(), lot_id=lot_id, state=state, key=None
            )

    assert await asyncio.gather(*(settle(i, s) for i, s in states)) == [True, True]

    async with pool.acquire() as conn:
        deposits = {
            int(d.bidder_id): d for d in await ledger_store.list_deposits(conn, project_id=ref)
        }
        assert [deposits[o].state for o in orgs] == [
            DepositState.CONVERTED,
            DepositState.CONVERTED,
            DepositState.REFUND_PENDING,
        ]
        assert (await ledger_store.trial_balance(conn)).balanced
        settled = "SELECT count(*) FROM audit_log WHERE action = 'auction.session.deposits_settle'"
        assert await conn.fetchval(settled) == 1
        before = (await ledger_store.journal(conn), await conn.fetchval(settled))

    assert await asyncio.gather(*(settle(i, s) for i, s in states)) == [False, False]
    async with pool.acquire() as conn:
        again = await service.settle_session_deposits(
            conn, audit, staff, clock.now(), session_id=session["id"]
        )
        assert again is not None and (again.converted, again.refunded) == ([], [])
        assert (await ledger_store.journal(conn), await conn.fetchval(settled)) == before
