"""D9: the bank's daily statement against the ledger in PostgreSQL. A statement generated from
the ledger's own movements, then damaged — lines missing, extra lines, amounts changed — is
reconciled: every damage is reported on its side, money the ledger never heard of goes to
suspense (once, however often the statement is imported), and the ledger still sums to zero."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from crypto.signing import generate_signing_key, public_key_bytes
from tests.helpers import make_org
from trading.context import Actor, Role
from trading.errors import ValidationFailed
from trading.ledger import bank, reconciling, service, settlement, store
from trading.ledger.model import (
    BankNotification,
    NotificationKind,
    PayoutResult,
    ProjectKind,
    RefundCause,
    SuspenseReason,
)

BANK = generate_signing_key()
STAFF = Actor(9001, "staff.wang", Role.STAFF, None)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_damaged_statement_is_reported_line_by_line_and_unmatched_money_goes_to_suspense(
    pool, audit, clock, seed: int
) -> None:
    """D9: missing, extra and differing lines, each reported; extra credits into suspense."""
    rng = random.Random(seed)
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
            required_fen=20_000_000,
            deadline_at=now + timedelta(days=10),
            land=True,
            starting_price_fen=100_000_000,
        )
        orgs = [await make_org(conn, audit, clock) for _ in range(rng.randint(6, 9))]
        for i, org in enumerate(orgs, start=1):
            d = await service.open_deposit(conn, audit, STAFF, now, "lot:1", org)
            n = BankNotification(
                i,
                f"CR{seed}{i:03d}",
                NotificationKind.CREDIT,
                d.sub_account,
                20_000_000 + rng.randint(0, 5),
                now - timedelta(hours=rng.randint(0, 30)),
                f"6222 {i:04d}",
                f"payer {i}",
            )
            await service.receive_notification(
                conn,
                audit,
                STAFF,
                now,
                n,
                bank.decode_signature(bank.sign_notification(n, BANK)["signature"]),
            )
        # two losers refunded and paid out: money out of the account
        for org in orgs[:2]:
            d = await service.request_refund(
                conn,
                audit,
                STAFF,
                now,
                project_ref="lot:1",
                org_id=org,
                cause=RefundCause.LOST,
                cause_at=now,
                command_id=f"r{org}",
            )
            assert d.payout_id
            await settlement.confirm_payouts(
                conn, audit, STAFF, now, [PayoutResult(d.payout_id, True, f"PO{org}", now)]
            )
        movements = await store.movements(conn)
    assert len(movements) == len(orgs) + 2

    shuffled = movements[:]
    rng.shuffle(shuffled)
    dropped, changed = shuffled[:2], shuffled[2:4]
    kept = [m for m in movements if m not in dropped]
    text = bank.statement_csv(
        [m for m in kept if m not in changed],
        extra=[
            (m.bank_ref, m.amount_fen + rng.choice([-100, 1, 700]), m.value_on.isoformat(), "")
            for m in changed
        ]
        + [
            ("STRAY1", 12_345, movements[0].value_on.isoformat(), "6222 9999"),
            ("STRAY2", 500, movements[0].value_on.isoformat(), ""),
            ("", 777, movements[0].value_on.isoformat(), "6222 8888"),
            ("FEE1", -300, movements[0].value_on.isoformat(), ""),
        ],
    )
    async with pool.acquire() as conn:
        r = await reconciling.reconcile_statement(conn, audit, STAFF, now, text)
    assert r["lines"] == len(movements) - 2 + 4
    assert r["matched"] == len(movements) - 4
    assert sorted(d["bank_ref"] for d in r["details"]["differences"]) == sorted(
        m.bank_ref for m in changed
    )
    assert sorted(m["transfer_id"] for m in r["details"]["missing_in_bank"]) == sorted(
        m.transfer_id for m in dropped
    )
    assert sorted(s["amount_fen"] for s in r["details"]["missing_in_ledger"]) == [
        -300,
        500,
        777,
        12_345,
    ]
    assert r["to_suspense_fen"] == 500 + 777 + 12_345 and not r["clean"]

    async with pool.acquire() as conn:
        items = [
            s
            for s in await store.list_suspense(conn)
            if s.reason is SuspenseReason.STATEMENT_UNMATCHED
        ]
        tb = await store.trial_balance(conn)
        alerts = await conn.fetchval(
            "SELECT count(*) FROM alerts WHERE kind = 'ledger.reconciliation'"
        )
        again = await reconciling.reconcile_statement(conn, audit, STAFF, now, text)
        items_after = await store.list_suspense(conn)
    assert sorted(i.amount_fen for i in items) == [500, 777, 12_345] and tb.balanced and alerts == 1
    # imported again: the stray credits are in the ledger now, nothing is put in suspense twice
    assert again["to_suspense_fen"] == 0 and [
        s["amount_fen"] for s in again["details"]["missing_in_ledger"]
    ] == [-300]
    assert again["matched"] == r["matched"] + 3
    assert len(items_after) == len(items)


async def test_a_malformed_statement_is_refused_with_every_problem(pool, audit, clock) -> None:
    """D9: a statement with bad lines is refused whole, each problem named; nothing changes."""
    text = "bank_ref,value_date,credit,debit\nA1,2026-13-01,1.00,\nA2,2026-01-05,1.001,\nA3,2026-01-05,,\n"
    async with pool.acquire() as conn:
        await audit.register_key(conn, clock.now())
        with pytest.raises(ValidationFailed) as e:
            await reconciling.reconcile_statement(conn, audit, STAFF, clock.now(), text)
        assert await conn.fetchval("SELECT count(*) FROM ledger_reconciliations") == 0
    assert e.value.code == "statement_invalid" and len(e.value.details["errors"]) == 3
