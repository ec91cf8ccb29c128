"""D8 under concurrency: two connections refunding one deposit at once — exactly one refund;
sixteen refunds and forfeits racing on one deposit — exactly one wins; many batches racing to
drain one account — exactly one succeeds; one bank message delivered twice at once —
processed once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import asyncpg

from crypto.signing import generate_signing_key, public_key_bytes
from tests.helpers import make_org
from trading.audit import AuditLog
from trading.clock import FakeClock
from trading.context import Actor, Role
from trading.db import connect
from trading.ledger import bank, service, store
from trading.ledger.errors import LedgerReason, LedgerRejected
from trading.ledger.model import (
    BankNotification,
    Deposit,
    DepositState,
    ForfeitCause,
    NotificationKind,
    NotificationOutcome,
    ProjectKind,
    RefundCause,
    Transfer,
    TransferCode,
    TransferResult,
)
from trading.ledger.service.context import Ledger
from trading.ledger.service.transfers import create_transfers

BANK = generate_signing_key()
STAFF = Actor(9001, "staff.wang", Role.STAFF, None)


async def confirmed_deposit(
    pool: asyncpg.Pool, audit: AuditLog, clock: FakeClock
) -> tuple[int, str]:
    now = clock.now()
    async with pool.acquire() as conn:
        await audit.register_key(conn, now)
        org = await make_org(conn, audit, clock)
        await service.register_bank_key(conn, audit, STAFF, now, public_key_bytes(BANK))
        await service.register_project(
            conn,
            audit,
            STAFF,
            now,
            project_ref="lot:1",
            kind=ProjectKind.AUCTION,
            required_fen=20_000_000,
            deadline_at=now + timedelta(days=10),
            land=True,
            starting_price_fen=100_000_000,
        )
        d = await service.open_deposit(conn, audit, STAFF, now, "lot:1", org)
        n = BankNotification(
            1, "R1", NotificationKind.CREDIT, d.sub_account, 20_000_000, now, "6222", "payer"
        )
        await receive_signed(conn, audit, now, n)
    return org, d.account_id


async def lost_refund(
    conn: asyncpg.Connection, audit: AuditLog, org: int, now: datetime, command_id: str
) -> Deposit:
    """The auction lost (A7): refund ``org``'s deposit in lot:1."""
    return await service.request_refund(
        conn,
        audit,
        STAFF,
        now,
        project_ref="lot:1",
        org_id=org,
        cause=RefundCause.LOST,
        cause_at=now,
        command_id=command_id,
    )


async def receive_signed(
    conn: asyncpg.Connection, audit: AuditLog, now: datetime, n: BankNotification
) -> NotificationOutcome:
    """The bank's message ``n``, signed with the registered key, received."""
    signature = bank.decode_signature(bank.sign_notification(n, BANK)["signature"])
    return await service.receive_notification(conn, audit, STAFF, now, n, signature)


async def blocked_on_a_lock(pool: asyncpg.Pool, order: list[str], timeout_s: float = 30) -> None:
    """Until another backend of this database waits for a lock (or the other side already
    answered, which the test then reports). PostgreSQL sends no event for this: poll
    ``pg_stat_activity``, bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with pool.acquire() as conn:
        while not order:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting:
                return
            assert loop.time() < deadline, "the second transaction never waited for the lock"
            await asyncio.sleep(0.01)


async def test_two_connections_refunding_one_deposit_at_once_exactly_one_succeeds(
    pool, audit, clock
) -> None:
    """D8: the deposit row is locked by the first; the second then sees it being refunded."""
    org, account_id = await confirmed_deposit(pool, audit, clock)
    now = clock.now()
    first_holds_lock = asyncio.Event()
    order: list[str] = []

    async def first() -> object:
        async with pool.acquire() as conn, conn.transaction():
            d = await lost_refund(conn, audit, org, now, "refund-a")
            first_holds_lock.set()
            await blocked_on_a_lock(pool, order)  # the second waits for this commit
            order.append("first committed")
            return d

    async def second() -> object:
        await first_holds_lock.wait()
        async with pool.acquire() as conn:
            try:
                return await lost_refund(conn, audit, org, now, "refund-b")
            except LedgerRejected as e:
                order.append("second refused")
                return e

    a, b = await asyncio.gather(first(), second())
    assert order == ["first committed", "second refused"]
    assert isinstance(b, LedgerRejected) and b.reason is LedgerReason.DEPOSIT_ALREADY_RESOLVED
    assert a.state is DepositState.REFUND_PENDING  # type: ignore[attr-defined]
    async with pool.acquire() as conn:
        refunds = await conn.fetchval("SELECT count(*) FROM ledger_transfers WHERE code = 'refund'")
        payouts = await conn.fetchval("SELECT count(*) FROM ledger_payouts")
        account = await store.get_account(conn, account_id)
        tb = await store.trial_balance(conn)
    assert (
        refunds == 1
        and payouts == 1
        and account is not None
        and account.held_fen == 0
        and tb.balanced
    )


async def test_sixteen_refunds_and_forfeits_racing_on_one_deposit_leave_exactly_one_winner(
    pool, db_dsn, audit, clock
) -> None:
    """D8 (IR 57 refund, IR 74 forfeiture): a deposit is resolved once. Eight refunds and eight
    forfeiture requests, each its own command, on sixteen connections at once: one wins, the
    fifteen others are refused having written nothing, and the books still sum to zero."""
    org, account_id = await confirmed_deposit(pool, audit, clock)
    now = clock.now()
    # Sixteen connections of their own (the pool holds five), all open before the start.
    conns = [await connect(db_dsn) for _ in range(16)]
    start = asyncio.Event()

    async def refund(i: int) -> object:
        conn = conns[i]
        await start.wait()
        return await lost_refund(conn, audit, org, now, f"race-refund-{i}")

    async def forfeit(i: int) -> object:
        conn = conns[i]
        await start.wait()
        return await service.request_forfeit(
            conn,
            audit,
            STAFF,
            now,
            project_ref="lot:1",
            org_id=org,
            cause=ForfeitCause.REFUSED_TO_SIGN,
            note="refused to sign the contract",
            cause_at=now,
            command_id=f"race-forfeit-{i}",
        )

    racers = asyncio.gather(
        *(refund(i) if i % 2 else forfeit(i) for i in range(16)), return_exceptions=True
    )
    start.set()
    try:
        results = await racers
    finally:
        for c in conns:
            await c.close()
    winners = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, LedgerRejected)]
    assert len(winners) == 1 and len(refused) == 15, results
    assert {e.reason for e in refused} == {LedgerReason.DEPOSIT_ALREADY_RESOLVED}
    won = winners[0]
    assert won.state in (DepositState.REFUND_PENDING, DepositState.FORFEIT_PENDING)  # type: ignore[attr-defined]
    async with pool.acquire() as conn:
        moved = await conn.fetchval(
            "SELECT count(*) FROM ledger_transfers WHERE code IN ('refund', 'forfeit')"
        )
        commands = await conn.fetchval(
            "SELECT count(*) FROM ledger_commands WHERE command_id LIKE 'race-%'"
        )
        account = await store.get_account(conn, account_id)
        tb = await store.trial_balance(conn)
    assert moved == 1 and commands == 1
    assert account is not None and account.available_fen == 0
    assert tb.balanced and tb.net_fen == 0


async def test_racing_refunds_with_one_command_id_refund_once(pool, audit, clock) -> None:
    """D8: the same command from two connections at once: one refund, both get its answer."""
    org, _ = await confirmed_deposit(pool, audit, clock)
    now = clock.now()

    async def refund() -> object:
        async with pool.acquire() as conn:
            return await lost_refund(conn, audit, org, now, "refund-same")

    results = await asyncio.gather(*(refund() for _ in range(4)))
    assert all(r == results[0] for r in results)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM ledger_payouts") == 1


async def test_batches_racing_to_drain_one_account_leave_exactly_one_winner(
    pool, audit, clock
) -> None:
    """D8: accounts are locked in id order; no balance goes below what its kind allows."""
    _, account_id = await confirmed_deposit(pool, audit, clock)
    now = clock.now()

    async def drain(i: int) -> TransferResult:
        async with pool.acquire() as conn:
            batch = [
                Transfer(
                    f"drain-{i}-a", "interest_expense", "forfeited", 1, TransferCode.ADJUSTMENT
                ),
                Transfer(
                    f"drain-{i}", account_id, "refunds_payable", 20_000_000, TransferCode.REFUND
                ),
            ]
            outcomes = await create_transfers(Ledger(conn, now), batch, now)
            return outcomes[1].result

    results = await asyncio.gather(*(drain(i) for i in range(5)))
    assert sorted(r.value for r in results) == ["exceeds_credits"] * 4 + ["ok"]
    async with pool.acquire() as conn:
        tb = await store.trial_balance(conn)
        account = await store.get_account(conn, account_id)
    assert tb.balanced and account is not None and account.held_fen == 0


async def test_one_bank_message_delivered_twice_at_once_is_processed_once(
    pool, audit, clock
) -> None:
    """D8: messages are taken one at a time; the second delivery answers the first outcome."""
    now = clock.now()
    async with pool.acquire() as conn:
        await audit.register_key(conn, now)
        await service.register_bank_key(conn, audit, STAFF, now, public_key_bytes(BANK))
    n = BankNotification(1, "DUP1", NotificationKind.CREDIT, "999", 700, now, "6222", "payer")
    signature = bank.decode_signature(bank.sign_notification(n, BANK)["signature"])

    async def deliver() -> object:
        async with pool.acquire() as conn:
            return await service.receive_notification(conn, audit, STAFF, now, n, signature)

    outcomes = await asyncio.gather(*(deliver() for _ in range(3)))
    assert sorted(o.replayed for o in outcomes) == [False, True, True]  # type: ignore[attr-defined]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM ledger_transfers") == 1
        assert await conn.fetchval("SELECT sum(amount_fen) FROM ledger_suspense") == 700


async def test_refunding_a_project_while_the_bank_notifies_never_deadlocks(
    pool, audit, clock
) -> None:
    """D8: a use case over many deposits locks them all, in one order, before any account; a
    bank message about one of them meanwhile waits its turn instead of deadlocking."""
    now = clock.now()
    async with pool.acquire() as conn:
        await audit.register_key(conn, now)
        await service.register_bank_key(conn, audit, STAFF, now, public_key_bytes(BANK))
        await service.register_project(
            conn,
            audit,
            STAFF,
            now,
            project_ref="lot:1",
            kind=ProjectKind.AUCTION,
            required_fen=1_000,
            deadline_at=now + timedelta(days=10),
            land=True,
            starting_price_fen=5_000,
        )
        subs = []
        for i in range(1, 7):
            org = await make_org(conn, audit, clock)
            d = await service.open_deposit(conn, audit, STAFF, now, "lot:1", org)
            n = BankNotification(
                i, f"C{i}", NotificationKind.CREDIT, d.sub_account, 1_000, now, "6222", "p"
            )
            await receive_signed(conn, audit, now, n)
            subs.append(d.sub_account)

    async def refund_all() -> object:
        async with pool.acquire() as conn:
            return await service.refund_all(
                conn,
                audit,
                STAFF,
                now,
                project_ref="lot:1",
                cause=RefundCause.LOST,
                cause_at=now,
                command_id="all",
            )

    async def late_payment(seq: int, sub: str) -> object:
        await asyncio.sleep(0.005)
        n = BankNotification(seq, f"L{seq}", NotificationKind.CREDIT, sub, 1_000, now, "6222", "p")
        async with pool.acquire() as conn:
            return await receive_signed(conn, audit, now, n)

    done, outcome = await asyncio.gather(refund_all(), late_payment(7, subs[-1]))
    assert len(done["refunded"]) == 6  # type: ignore[index]
    assert outcome.verdict.value == "suspense"  # type: ignore[attr-defined]
    async with pool.acquire() as conn:
        assert (await store.trial_balance(conn)).balanced
