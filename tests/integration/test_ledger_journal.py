"""D8 in the database itself: the journal's constraints refuse what the rules refuse when a
write bypasses the rules (``store.write_batch`` called straight); and an account's history,
read through the journal's partial indexes, is exactly its part of the journal (migration
``0010_ledger_journal.sql``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest

from trading.ledger import store
from trading.ledger.model import (
    Account,
    AccountKind,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferResult,
)
from trading.ledger.rules.transfers import post_of, void_of
from trading.ledger.service.context import Ledger
from trading.ledger.service.transfers import create_accounts, create_transfers

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DEP = "deposit:lot.1:7"
DEP2 = "deposit:lot.1:8"
F = TransferFlags
C = TransferCode


async def a_ledger(conn: asyncpg.Connection) -> Ledger:
    """Two deposit accounts, money in, a refund and a pending payout."""
    lg = Ledger(conn, T0)
    await create_accounts(
        lg,
        [
            Account(DEP, AccountKind.DEPOSIT_HELD, "lot.1", "7"),
            Account(DEP2, AccountKind.DEPOSIT_HELD, "lot.1", "8"),
        ],
    )
    batch = [
        Transfer("in1", "bank", DEP, 5_000, C.DEPOSIT_RECEIVED),
        Transfer("r1", DEP, "refunds_payable", 1_000, C.REFUND),
        Transfer("p1", "refunds_payable", "bank", 1_000, C.PAYOUT, F.PENDING),
    ]
    assert all(o.ok for o in await create_transfers(lg, batch, T0))
    return lg


async def refused(conn: asyncpg.Connection, error: type[Exception], **write: object) -> None:
    """``write`` goes straight to the store, in a transaction rolled back by the error."""
    args: dict[str, object] = {"accounts": [], "accepted": [], "failures": [], "at": T0}
    args.update(write)
    with pytest.raises(error):
        async with conn.transaction():
            await store.write_batch(conn, **args)  # type: ignore[arg-type]


async def test_the_database_refuses_what_the_rules_refuse(pool: asyncpg.Pool) -> None:
    """D8 (TigerBeetle): behind the rules, the database refuses a malformed id, an account or
    a pending transfer that does not exist, an id used twice, a second settlement of one
    pending transfer and a negative balance — the checks migration 0010 made cheaper."""
    async with pool.acquire() as conn:
        await a_ledger(conn)
        x = Transfer("x1", "bank", DEP, 1, C.DEPOSIT_RECEIVED)
        check = asyncpg.CheckViolationError
        for bad in ("has space", "", "a" * 129, "tab\t", "line\n", "é", "a,b"):
            await refused(conn, check, accepted=[replace(x, id=bad)])
        await refused(conn, check, accepted=[replace(x, amount_fen=0)])
        await refused(conn, check, accepted=[replace(x, credit_account_id="bank")])
        await refused(conn, check, accepted=[replace(x, pending_id="p1")])  # not a settlement
        fk = asyncpg.ForeignKeyViolationError
        await refused(conn, fk, accepted=[replace(x, credit_account_id="deposit:nobody")])
        await refused(conn, fk, accepted=[replace(x, debit_account_id="nobody")])
        ghost = Transfer("g1", "bank", DEP, 1, C.DEPOSIT_RECEIVED, F.PENDING)
        await refused(conn, fk, accepted=[post_of(ghost, "s0")])  # settles nothing recorded
        unique = asyncpg.UniqueViolationError
        await refused(conn, unique, accepted=[replace(x, id="in1")])
        await refused(conn, unique, accepted=[replace(x, id="x2"), replace(x, id="x2")])
        pending = Transfer("p1", "refunds_payable", "bank", 1_000, C.PAYOUT, F.PENDING)
        await refused(conn, unique, accepted=[post_of(pending, "s1"), void_of(pending, "s2")])
        held = await store.get_account(conn, DEP)
        assert held is not None and held.held_fen == 4_000
        overdrawn = replace(held, debits_posted=held.credits_posted + 1)
        await refused(conn, check, accounts=[overdrawn])
        await refused(conn, check, accounts=[replace(held, debits_pending=held.held_fen + 1)])
        # An account id is checked as a transfer's is (0010: on every update of the sums too).
        for bad in ("has space", "a" * 129, "é"):
            with pytest.raises(check):
                await store.insert_accounts(conn, [Account(bad, AccountKind.SUSPENSE)], T0)
        # What was refused left nothing behind; a good settlement after them still passes.
        lg = Ledger(conn, T0)
        [o] = await create_transfers(lg, [post_of(pending, "s3")], T0)
        assert o.ok and len(await store.journal(conn)) == 4
        [again] = await create_transfers(lg, [void_of(pending, "s4")], T0)
        assert again.result is TransferResult.PENDING_TRANSFER_ALREADY_POSTED


async def test_an_accounts_history_is_its_part_of_the_journal(pool: asyncpg.Pool) -> None:
    """D8: every account's history — a deposit account's and a rarely used account's from
    the partial indexes, bank's and refunds payable's from the journal in order — is its
    part of the journal in seq order, page by page; and a deposit account's page is read
    from an index even by a plan made for any account id (a prepared statement's)."""
    async with pool.acquire() as conn:
        lg = await a_ledger(conn)
        batch = []
        for i in range(40):
            dep = DEP if i % 3 else DEP2
            batch += [
                Transfer(f"c{i}/in", "bank", dep, 100 + i, C.DEPOSIT_RECEIVED),
                Transfer(f"c{i}/refund", dep, "refunds_payable", 100 + i, C.REFUND),
            ]
        batch.append(Transfer("adj1", "interest_expense", "refunds_payable", 7, C.INTEREST))
        assert all(o.ok for o in await create_transfers(lg, batch, T0))
        journal = await store.list_transfers(conn, limit=10_000)
        assert len(journal) == len(batch) + 3
        for account in (DEP, DEP2, "bank", "refunds_payable", "interest_expense", "forfeited"):
            want = [
                r["id"]
                for r in journal
                if account in (r["debit_account_id"], r["credit_account_id"])
            ]
            got: list[str] = []
            after = 0
            while True:
                page = await store.list_transfers(
                    conn, after_seq=after, account_id=account, limit=7
                )
                if not page:
                    break
                assert [r["seq"] for r in page] == sorted(r["seq"] for r in page)
                got += [r["id"] for r in page]
                after = page[-1]["seq"]
            assert got == want, account

        # Whether the indexes can serve any account id's plan (on a table this small the
        # planner would rather scan it whole: forbid that, and see what is left).
        await conn.execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off")
        try:
            sql: list[str] = []

            class Capture:
                async def fetch(self, query: str, *args: object) -> list[object]:
                    sql.append(query)
                    return []

            await store.list_transfers(Capture(), account_id=DEP)  # type: ignore[arg-type]
            await conn.execute(f"PREPARE history AS {sql[0]}")
            plan = "\n".join(
                r[0] for r in await conn.fetch(f"EXPLAIN EXECUTE history (0, '{DEP}', 100)")
            )
            assert "ledger_transfers_debit" in plan and "ledger_transfers_credit" in plan, plan
            assert "Seq Scan" not in plan, plan
        finally:
            await conn.execute("RESET plan_cache_mode; RESET enable_seqscan")
