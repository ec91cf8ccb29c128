"""Deposit ledger figures (issue 6).

1. Transfers per second into PostgreSQL with every invariant checked — TigerBeetle-style
   batches (one transaction per batch: accounts locked in id order, ids checked for
   idempotency, every balance limit, pending/post, the database's CHECK constraints and
   UNIQUE (pending_id) behind it) — against a plain INSERT of the same rows (the journal's
   columns and types) into a table with only a primary key (``ratio``) and into one with no
   index (``ratio_vs_no_index``), by the same client method, same batches, same connection,
   same run (the three alternate batch by batch). The workload is the deposit life: money in (bank → deposit held), refund (deposit → refunds payable), payout
   reserved (pending) and posted when the bank pays. Also one transfer per transaction, for
   scale. At the end the journal is replayed and must explain every balance; the trial
   balance must sum to zero.
2. Reconciliation of a 100,000-line bank statement against the ledger in PostgreSQL: parse,
   load the period's movements, match, put the stray credits in suspense and record the
   report (``reconciling.reconcile_statement``), with the parse-only time of the same text with
   ``csv.reader`` as the floor.

    python bench/bench_ledger.py [--transfers 100000] [--batch 2000] [--lines 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import LoadResult, report
from crypto.signing import generate_signing_key
from trading import migrate
from trading.audit import AuditLog
from trading.context import Actor, Role
from trading.db import EmbeddedPostgres, connect
from trading.ledger import bank, reconciling, store
from trading.ledger.model import (
    Account,
    AccountKind,
    BankMovement,
    Transfer,
    TransferCode,
    TransferFlags,
)
from trading.ledger.reconcile import parse_statement_csv, reconcile
from trading.ledger.rules.dates import china_date
from trading.ledger.rules.transfers import apply_transfer
from trading.ledger.service.context import Ledger
from trading.ledger.service.transfers import create_accounts, create_transfers

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def workload(n: int, accounts: int) -> list[Transfer]:
    """``n`` transfers of the deposit life, four per deposit cycle, spread over ``accounts``
    deposit accounts (each cycle: in, refund, payout pending, payout posted)."""
    out: list[Transfer] = []
    cycle = 0
    while len(out) < n:
        acct = f"deposit:bench:{cycle % accounts}"
        amount = 1_000_000 + cycle % 997
        c = f"c{cycle}"
        out += [
            Transfer(f"{c}/in", "bank", acct, amount, TransferCode.DEPOSIT_RECEIVED, reference=c),
            Transfer(
                f"{c}/refund", acct, "refunds_payable", amount, TransferCode.REFUND, reference=c
            ),
            Transfer(
                f"{c}/payout",
                "refunds_payable",
                "bank",
                amount,
                TransferCode.PAYOUT,
                TransferFlags.PENDING,
                reference=c,
            ),
            Transfer(
                f"{c}/post",
                "refunds_payable",
                "bank",
                amount,
                TransferCode.PAYOUT,
                TransferFlags.POST_PENDING,
                pending_id=f"{c}/payout",
                reference=c,
            ),
        ]
        cycle += 1
    return out[:n]


async def bench_transfers(conn, n: int, batch: int, accounts: int) -> None:  # type: ignore[no-untyped-def]
    lg = Ledger(conn, T0)
    await create_accounts(
        lg,
        [
            Account(f"deposit:bench:{i}", AccountKind.DEPOSIT_HELD, "bench", str(i))
            for i in range(accounts)
        ],
    )
    # The baseline: the same rows (the journal's columns and types) into a table with only a
    # primary key — the journal's own, ``seq`` — and, for scale, into one with no index at all.
    columns = """seq bigint GENERATED ALWAYS AS IDENTITY {pk}, id text, debit_account_id text,
                 credit_account_id text, amount_fen bigint, code text, flags integer,
                 pending_id text, reference text, created_at timestamptz"""
    await conn.execute(f"CREATE TABLE plain_transfers ({columns.format(pk='PRIMARY KEY')})")
    await conn.execute(f"CREATE TABLE heap_transfers ({columns.format(pk='')})")
    transfers = workload(n, accounts)
    # Batch by batch, the baselines and the ledger in turn (a plain INSERT of the same rows by
    # the same client method as the ledger's, ``INSERT … SELECT FROM unnest`` of one array per
    # column, one transaction each), so that all see the same machine: on a shared machine the
    # load moves within seconds, and timing one after the other measured the load as much as
    # the ledger. The three take turns at going first (what runs right after another
    # transaction's commit pays for some of it).
    lat: dict[str, list[float]] = {"plain_transfers": [], "heap_transfers": [], "ledger": []}

    async def plain(table: str, chunk: list[Transfer]) -> None:
        async with conn.transaction():
            await conn.execute(
                f"""INSERT INTO {table} (id, debit_account_id, credit_account_id, amount_fen,
                                         code, flags, pending_id, reference, created_at)
                    SELECT *, $9::timestamptz FROM unnest($1::text[], $2::text[], $3::text[],
                        $4::bigint[], $5::text[], $6::int[], $7::text[], $8::text[])""",
                *store._transfer_columns(chunk),
                T0,
            )

    async def ledger(_: str, chunk: list[Transfer]) -> None:
        outcomes = await create_transfers(lg, chunk, T0)
        assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok][:3]

    turns = [("plain_transfers", plain), ("heap_transfers", plain), ("ledger", ledger)]
    for b, i in enumerate(range(0, n, batch)):
        chunk = transfers[i : i + batch]
        k = b % len(turns)
        for name, run in turns[k:] + turns[:k]:
            t = time.perf_counter()
            await run(name, chunk)
            lat[name].append(time.perf_counter() - t)
    plain_lat, heap_lat, ledger_lat = lat["plain_transfers"], lat["heap_transfers"], lat["ledger"]
    plain_s = sum(plain_lat)
    heap_s = sum(heap_lat)
    ledger_s = sum(ledger_lat)

    # the invariants, afterwards, from the journal alone
    accounts_now = {a.id: a for a in await store.list_accounts(conn, limit=10**9)}
    rebuilt = {
        a.id: Account(a.id, a.kind, a.project_id, a.bidder_id) for a in accounts_now.values()
    }
    by_id: dict[str, Transfer] = {}
    for t in await store.journal(conn):
        pending = by_id.get(t.pending_id) if t.pending_id else None
        rebuilt[t.debit_account_id], rebuilt[t.credit_account_id] = apply_transfer(
            t, rebuilt[t.debit_account_id], rebuilt[t.credit_account_id], pending
        )
        by_id[t.id] = t
    assert rebuilt == accounts_now, "the journal does not explain the balances"
    tb = await store.trial_balance(conn)
    assert tb.balanced and tb.net_fen == 0

    # a replay of the first batch answers every id as already done, and changes nothing
    t = time.perf_counter()
    again = await create_transfers(lg, transfers[:batch], T0)
    replay_s = time.perf_counter() - t
    assert all(o.ok and o.replayed for o in again)

    # one transfer per transaction, for scale
    single_n = min(2_000, n)
    singles = [
        Transfer(
            f"single{i}",
            "bank",
            f"deposit:bench:{i % accounts}",
            100,
            TransferCode.DEPOSIT_RECEIVED,
        )
        for i in range(single_n)
    ]
    t = time.perf_counter()
    for s in singles:
        [o] = await create_transfers(lg, [s], T0)
        assert o.ok
    single_s = time.perf_counter() - t

    ledger_run, plain_run = LoadResult(len(ledger_lat), ledger_s, ledger_lat), LoadResult(len(plain_lat), plain_s, plain_lat)
    report(
        "ledger transfers (all invariants) vs plain INSERT",
        {
            "transfers_per_s": round(n / ledger_s),
            "plain_inserts_per_s": round(n / plain_s),
            "ratio": round(plain_s / ledger_s, 3),
            "ratio_vs_no_index": round(heap_s / ledger_s, 3),
            "batch": batch,
            "n": n,
            "deposit_accounts": accounts,
            "batch_p50_ms": ledger_run.pct_ms(50),
            "batch_p99_ms": ledger_run.pct_ms(99),
            "plain_batch_p50_ms": plain_run.pct_ms(50),
            "replayed_batch_ms": round(replay_s * 1000, 1),
            "one_per_transaction_per_s": round(single_n / single_s),
            "mean_batch_ms": round(statistics.fmean(ledger_lat) * 1000, 2),
        },
    )


async def bench_reconcile(conn, audit: AuditLog, lines: int) -> None:  # type: ignore[no-untyped-def]
    """A statement of ``lines`` lines: all but 300 match; 100 missing at the bank, 100 amounts
    differ, 100 stray credits the ledger never heard of (→ suspense)."""
    lg = Ledger(conn, T0)
    n = lines
    day0 = china_date(T0)
    # the ledger side: n credits into suspense (bank → suspense), each a bank movement
    for i in range(0, n, 5_000):
        chunk = [
            Transfer(
                f"bn:S{j:07d}",
                "bank",
                "suspense",
                10_000 + j % 5_000,
                TransferCode.SUSPENSE_RECEIVED,
                reference=f"S{j:07d}",
            )
            for j in range(i, min(n, i + 5_000))
        ]
        assert all(o.ok for o in await create_transfers(lg, chunk, T0))
    movements = [
        BankMovement(f"bn:S{j:07d}", f"S{j:07d}", 10_000 + j % 5_000, day0 + timedelta(days=j % 3))
        for j in range(n)
    ]
    await conn.executemany(
        "INSERT INTO ledger_bank_movements (transfer_id, bank_ref, amount_fen, value_on) VALUES ($1, $2, $3, $4)",
        [(m.transfer_id, m.bank_ref, m.amount_fen, m.value_on) for m in movements],
    )
    damaged = movements[100:]  # the first 100 are missing at the bank
    changed = {m.bank_ref for m in damaged[:100]}
    text = bank.statement_csv(
        [m for m in damaged if m.bank_ref not in changed],
        extra=[(m.bank_ref, m.amount_fen + 1, m.value_on.isoformat(), "") for m in damaged[:100]]
        + [(f"X{j:05d}", 5_000 + j, day0.isoformat(), "6222 0000") for j in range(100)],
    )
    assert text.count("\n") == n + 1

    t = time.perf_counter()
    rows = sum(1 for _ in csv.reader(io.StringIO(text)))
    floor_s = time.perf_counter() - t
    t = time.perf_counter()
    parsed, problems = parse_statement_csv(text)
    parse_s = time.perf_counter() - t
    assert not problems
    t = time.perf_counter()
    loaded = await store.movements(conn, from_on=day0, to_on=day0 + timedelta(days=2))
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    rep = reconcile(parsed, loaded)
    match_s = time.perf_counter() - t
    assert (
        len(rep.matched) == n - 200
        and len(rep.differences) == 100
        and len(rep.missing_in_bank) == 100
    )

    t = time.perf_counter()
    r = await reconciling.reconcile_statement(
        conn, audit, Actor(1, "bench", Role.STAFF, None), T0, text
    )
    total_s = time.perf_counter() - t
    assert r["matched"] == n - 200 and r["to_suspense_fen"] == sum(5_000 + j for j in range(100))
    report(
        "reconcile a bank statement against PostgreSQL",
        {
            "lines": rows - 1,
            "total_s": round(total_s, 3),
            "lines_per_s": round(n / total_s),
            "parse_s": round(parse_s, 3),
            "load_movements_s": round(load_s, 3),
            "match_s": round(match_s, 3),
            "csv_reader_floor_s": round(floor_s, 3),
            "matched": r["matched"],
            "differences": r["differences"],
            "missing_in_bank": r["missing_in_bank"],
            "to_suspense": len(r["details"]["missing_in_ledger"]),
        },
    )


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--transfers", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=2_000)
    p.add_argument("--accounts", type=int, default=1_000)
    p.add_argument("--lines", type=int, default=100_000)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sunlit-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp))
        dsn = pg.start()
        try:
            conn = await connect(dsn)
            await migrate.migrate(conn)
            audit = AuditLog(generate_signing_key(), "srv-bench")
            await audit.register_key(conn, T0)
            await bench_transfers(conn, a.transfers, a.batch, a.accounts)
            await bench_reconcile(conn, audit, a.lines)
            await conn.close()
        finally:
            pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
