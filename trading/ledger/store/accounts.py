"""Accounts and transfers: the accounts locked for a batch, what a batch's ids name, the
batch written in one statement, the journal and its reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from ..model import (
    Account,
    Transfer,
    TransferResult,
)
from .codecs import account_from_row, transfer_from_row

# == accounts and transfers =====================================================================

_ACCOUNT_COLS = "id, kind, project_id, bidder_id, debits_pending, debits_posted, credits_pending, credits_posted"
_TRANSFER_COLS = (
    "id, debit_account_id, credit_account_id, amount_fen, code, flags, pending_id, reference"
)


async def lock_accounts(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, Account]:
    """The named accounts that exist, locked in id order (the one order every path uses)."""
    if not ids:
        return {}
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLS} FROM ledger_accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
        list(ids),
    )
    return {r["id"]: account_from_row(r) for r in rows}


async def get_account(conn: asyncpg.Connection, account_id: str) -> Account | None:
    r = await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLS} FROM ledger_accounts WHERE id = $1", account_id
    )
    return account_from_row(r) if r else None


async def list_accounts(
    conn: asyncpg.Connection,
    *,
    after_id: str = "",
    kind: str | None = None,
    project_id: str | None = None,
    limit: int = 1000,
) -> list[Account]:
    rows = await conn.fetch(
        f"""SELECT {_ACCOUNT_COLS} FROM ledger_accounts
            WHERE id > $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR project_id = $3)
            ORDER BY id LIMIT $4""",
        after_id,
        kind,
        project_id,
        limit,
    )
    return [account_from_row(r) for r in rows]


async def insert_accounts(
    conn: asyncpg.Connection, accounts: Sequence[Account], at: datetime
) -> None:
    await conn.executemany(
        "INSERT INTO ledger_accounts (id, kind, project_id, bidder_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        [(a.id, a.kind.value, a.project_id, a.bidder_id, at) for a in accounts],
    )


async def load_for_batch(
    conn: asyncpg.Connection, ids: Sequence[str], pending_ids: Sequence[str]
) -> tuple[dict[str, Transfer], dict[str, tuple[Transfer, TransferResult]], dict[str, Transfer]]:
    """In one round trip, what a batch's ids and pending ids name: (accepted transfers by id,
    recorded failures by id, the post or void of each pending transfer by its pending id).
    Run after ``lock_accounts``, so that it sees everything committed before the lock."""
    transfers: dict[str, Transfer] = {}
    failures: dict[str, tuple[Transfer, TransferResult]] = {}
    resolutions: dict[str, Transfer] = {}
    if not ids:
        return transfers, failures, resolutions
    rows = await conn.fetch(
        f"""SELECT 't' AS src, {_TRANSFER_COLS}, NULL AS result FROM ledger_transfers WHERE id = ANY($1::text[])
            UNION ALL
            SELECT 'r', {_TRANSFER_COLS}, NULL FROM ledger_transfers WHERE pending_id = ANY($2::text[])
            UNION ALL
            SELECT 'f', {_TRANSFER_COLS}, result FROM ledger_transfer_failures WHERE id = ANY($1::text[])""",
        list(ids),
        list(pending_ids),
    )
    for r in rows:
        src = r["src"]
        if src == "t":
            transfers[r["id"]] = transfer_from_row(r)
        elif src == "r":
            resolutions[r["pending_id"]] = transfer_from_row(r)
        else:
            failures[r["id"]] = (transfer_from_row(r), TransferResult(r["result"]))
    return transfers, failures, resolutions


async def write_batch(
    conn: asyncpg.Connection,
    accounts: Sequence[Account],
    accepted: Sequence[Transfer],
    failures: Sequence[tuple[Transfer, TransferResult]],
    at: datetime,
) -> None:
    """A decided batch in one statement: the accounts' new sums, the accepted transfers in the
    batch's order (``seq`` follows it) and the failures to remember. The database checks the
    balance limits (CHECK), one settlement per pending transfer and unique ids (UNIQUE), and
    that every account exists (a statement trigger)."""
    failed = [t for t, _ in failures]
    await conn.execute(
        f"""WITH accounts AS (
                UPDATE ledger_accounts a SET debits_pending = v.dp, debits_posted = v.dq,
                                             credits_pending = v.cp, credits_posted = v.cq
                FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
                     AS v(id, dp, dq, cp, cq)
                WHERE a.id = v.id
            ), accepted AS (
                INSERT INTO ledger_transfers ({_TRANSFER_COLS}, created_at)
                SELECT u.id, u.d, u.c, u.a, u.code, u.f, u.p, u.r, $23::timestamptz
                FROM unnest($6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::int[],
                            $12::text[], $13::text[]) WITH ORDINALITY AS u(id, d, c, a, code, f, p, r, ord)
                ORDER BY u.ord
            )
            INSERT INTO ledger_transfer_failures ({_TRANSFER_COLS}, result, created_at)
            SELECT *, $23::timestamptz FROM unnest($14::text[], $15::text[], $16::text[], $17::bigint[],
                                                   $18::text[], $19::int[], $20::text[], $21::text[], $22::text[])
            ON CONFLICT (id) DO NOTHING""",
        [a.id for a in accounts],
        [a.debits_pending for a in accounts],
        [a.debits_posted for a in accounts],
        [a.credits_pending for a in accounts],
        [a.credits_posted for a in accounts],
        *_transfer_columns(accepted),
        *_transfer_columns(failed),
        [r.value for _, r in failures],
        at,
    )


def _transfer_columns(transfers: Sequence[Transfer]) -> list[list[Any]]:
    # One pass over the batch (this is on the hot path): eight columns for ``unnest``.
    cols: list[list[Any]] = [[], [], [], [], [], [], [], []]
    i, d, c, a, code, f, p, r = cols
    for t in transfers:
        i.append(t.id)
        d.append(t.debit_account_id)
        c.append(t.credit_account_id)
        a.append(t.amount_fen)
        code.append(t.code._value_)
        f.append(t.flags._value_)
        p.append(t.pending_id)
        r.append(t.reference)
    return cols


async def journal(conn: asyncpg.Connection) -> list[Transfer]:
    rows = await conn.fetch(f"SELECT {_TRANSFER_COLS} FROM ledger_transfers ORDER BY seq")
    return [transfer_from_row(r) for r in rows]


DENSE_ACCOUNTS = ("bank", "refunds_payable")
"""Accounts that are a leg of most transfers, left out of the per-account indexes (migration
``0010_ledger_journal.sql`` names the same two): their history is the journal read in order."""

_NOT_DENSE = "NOT IN ({})".format(", ".join(f"'{a}'" for a in DENSE_ACCOUNTS))


async def list_transfers(
    conn: asyncpg.Connection,
    *,
    after_seq: int = 0,
    account_id: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """The journal after ``after_seq`` in seq order, or one account's part of it."""
    cols = f"seq, {_TRANSFER_COLS}, created_at"
    if account_id is None:
        sql = f"SELECT {cols} FROM ledger_transfers WHERE seq > $1 ORDER BY seq LIMIT $2"
        return [dict(r) for r in await conn.fetch(sql, after_seq, limit)]
    if account_id in DENSE_ACCOUNTS:  # in most transfers: the journal in order, filtered
        sql = f"""SELECT {cols} FROM ledger_transfers
                  WHERE seq > $1 AND (debit_account_id = $2 OR credit_account_id = $2)
                  ORDER BY seq LIMIT $3"""
    else:
        # Each side from its partial index, in seq order. The condition repeats the indexes'
        # own, so that a plan made for any account id (a prepared statement's) can use them.
        sql = f"""SELECT {cols} FROM (
                    (SELECT {cols} FROM ledger_transfers
                     WHERE debit_account_id = $2 AND debit_account_id {_NOT_DENSE} AND seq > $1
                     ORDER BY seq LIMIT $3)
                    UNION ALL
                    (SELECT {cols} FROM ledger_transfers
                     WHERE credit_account_id = $2 AND credit_account_id {_NOT_DENSE} AND seq > $1
                     ORDER BY seq LIMIT $3)
                  ) t ORDER BY seq LIMIT $3"""
    return [dict(r) for r in await conn.fetch(sql, after_seq, account_id, limit)]


async def get_transfer(conn: asyncpg.Connection, transfer_id: str) -> Transfer | None:
    r = await conn.fetchrow(
        f"SELECT {_TRANSFER_COLS} FROM ledger_transfers WHERE id = $1", transfer_id
    )
    return transfer_from_row(r) if r else None


async def resolution(conn: asyncpg.Connection, pending_id: str) -> Transfer | None:
    r = await conn.fetchrow(
        f"SELECT {_TRANSFER_COLS} FROM ledger_transfers WHERE pending_id = $1", pending_id
    )
    return transfer_from_row(r) if r else None
