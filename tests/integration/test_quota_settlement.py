"""A quota session's deposits are admitted and settled through the ledger in chunks, one
transaction per chunk: a crash in the middle of a chunk loses and doubles nothing, the next
run goes on from the cursor, every bidder is settled exactly once (winners converted, losers
refunded, the unpaid left), and the trial balance is zero at the end.

Sources: RULES.md A6 (admission on a confirmed deposit), A7 (deposits after the close), A9;
issue 15 item 2.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from auction import quota_service as service
from auction.model import Admit, PlaceBid, Tick
from auction.quota import QuotaBook, quota_config_from_dict
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
DEPOSIT = 200_000
WARNING = 9_000_000


async def test_settlement_in_chunks_survives_a_crash_mid_chunk_and_settles_each_bidder_once(
    pool: asyncpg.Pool, audit: AuditLog, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A7 with A9: seven applicants, six pay; two plates; chunks of three; the refund of the
    fifth bidder fails once (a crash): its chunk rolls back whole and is run again."""
    starts = clock.now() + timedelta(hours=1)
    async with pool.acquire() as conn:
        await audit.register_key(conn, clock.now())
        staff = (await make_user(conn, audit, clock, Role.STAFF)).actor
        await ledger.register_bank_key(conn, audit, staff, clock.now(), public_key_bytes(BANK))
        session = await service.create_session(
            conn, audit, staff, clock.now(), title="额度 2026-03", quota=2,
            warning_price_fen=WARNING, starts_at=starts, deposit_fen=DEPOSIT,
            first_half_s=60, second_half_s=60,
        )
        sid = session["id"]
        orgs = sorted([await make_org(conn, audit, clock) for _ in range(7)])
        for n, org in enumerate(orgs, start=1):
            applied = await service.apply(conn, audit, staff, clock.now(), session_id=sid, org_id=org)
            if n == 7:
                continue  # never pays
            notice = BankNotification(
                n, f"Q{n}", NotificationKind.CREDIT, applied["deposit"]["sub_account"], DEPOSIT,
                clock.now(), f"6222 {n}", "payer",
            )
            body = bank.sign_notification(notice, BANK)
            await ledger.receive_notification(
                conn, audit, Actor.system("bank"), clock.now(), notice, bank.decode_signature(body["signature"])
            )
        # admission in chunks of two, through the ledger
        paddles: dict[int, str] = {}
        cursor: int | None = 0
        while cursor is not None:
            given, cursor = await service.admit_chunk(
                conn, audit, staff, clock.now(), session_id=sid, after_org_id=cursor, limit=2
            )
            paddles.update(given)
        assert sorted(paddles) == orgs[:6]

        # the session: bidders 1..6 bid 1..6 steps under the warning price; 1 and 2 win
        config = quota_config_from_dict((await service.get_session(conn, sid))["config"])
        book = QuotaBook(config)
        for org in orgs[:6]:
            book.handle(Admit(paddles[org]), starts - timedelta(seconds=1))
        for n, org in enumerate(orgs[:6], start=1):
            book.handle(PlaceBid(f"b{n}", paddles[org], WARNING - n * 10_000), starts + timedelta(seconds=n))
        book.handle(Tick(), config.ends_at)
        assert await service.record_close(conn, audit, clock.now(), session_id=sid, book=book)
        assert not await service.record_close(conn, audit, clock.now(), session_id=sid, book=book)

        real_refund = ledger.request_refund
        calls = {"n": 0}

        async def crashing_refund(*args: object, **kwargs: object) -> object:
            calls["n"] += 1
            if calls["n"] == 3:  # the fifth bidder, in the second chunk
                raise ConnectionError("the process died here")
            return await real_refund(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(ledger, "request_refund", crashing_refund)
        outcomes: list[tuple[int, str]] = []
        done = False
        crashes = 0
        while not done:
            try:
                chunk, done = await service.settle_chunk(conn, audit, clock.now(), session_id=sid, limit=3)
            except ConnectionError:
                crashes += 1
                continue
            outcomes.extend(chunk)
        assert crashes == 1
        assert [o for o, _ in outcomes] == orgs  # each bidder exactly once, in order
        assert dict(outcomes) == {
            **{o: "converted" for o in orgs[:2]},
            **{o: "refund_due" for o in orgs[2:6]},
            orgs[6]: "unpaid",
        }
        deposits = {int(d.bidder_id): d.state for d in await ledger_store.list_deposits(conn, project_id=f"quota_session:{sid}")}
        assert deposits == {
            **{o: DepositState.CONVERTED for o in orgs[:2]},
            **{o: DepositState.REFUND_PENDING for o in orgs[2:6]},
            orgs[6]: DepositState.AWAITING,
        }
        assert (await ledger_store.trial_balance(conn)).balanced
        before = await conn.fetchval("SELECT count(*) FROM audit_log")
        assert await service.settle_chunk(conn, audit, clock.now(), session_id=sid) == ([], True)
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == before
