"""Payouts and the bank batches that carry them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from ..model import (
    Payout,
)
from .codecs import payout_from_row

# == payouts and batches ========================================================================


async def get_payout(
    conn: asyncpg.Connection, payout_id: str, *, for_update: bool = False
) -> Payout | None:
    r = await conn.fetchrow(
        "SELECT * FROM ledger_payouts WHERE id = $1" + (" FOR UPDATE" if for_update else ""),
        payout_id,
    )
    return payout_from_row(r) if r else None


async def insert_payout(conn: asyncpg.Connection, p: Payout, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO ledger_payouts (id, purpose, payee_account, payee_name, amount_fen, due_on, project_id,
               bidder_id, source_ref, state, bank_ref, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        p.id,
        p.purpose.value,
        p.payee_account,
        p.payee_name,
        p.amount_fen,
        p.due_on,
        p.project_id,
        p.bidder_id,
        p.source_ref,
        p.state.value,
        p.bank_ref,
        at,
    )


async def settle_payout(conn: asyncpg.Connection, p: Payout, at: datetime) -> None:
    await conn.execute(
        "UPDATE ledger_payouts SET state = $2, bank_ref = $3, settled_at = $4 WHERE id = $1",
        p.id,
        p.state.value,
        p.bank_ref,
        at,
    )


async def list_payouts(
    conn: asyncpg.Connection,
    *,
    state: str | None = None,
    batch_id: int | None = None,
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT * FROM ledger_payouts WHERE ($1::text IS NULL OR state = $1) AND ($2::bigint IS NULL OR batch_id = $2)
           ORDER BY no LIMIT $3""",
        state,
        batch_id,
        limit,
    )
    return [dict(r) for r in rows]


async def create_batch(
    conn: asyncpg.Connection, created_by: str, at: datetime
) -> tuple[int, list[Payout]] | None:
    """Put every pending payout not yet in a batch into a new batch. None when there are none."""
    rows = await conn.fetch(
        "SELECT id FROM ledger_payouts WHERE state = 'pending' AND batch_id IS NULL ORDER BY no FOR UPDATE"
    )
    if not rows:
        return None
    ids = [r["id"] for r in rows]
    total = await conn.fetchval(
        "SELECT sum(amount_fen) FROM ledger_payouts WHERE id = ANY($1::text[])", ids
    )
    batch_id: int = await conn.fetchval(
        "INSERT INTO ledger_refund_batches (created_at, created_by, lines, total_fen) VALUES ($1, $2, $3, $4) RETURNING id",
        at,
        created_by,
        len(ids),
        total,
    )
    await conn.execute(
        "UPDATE ledger_payouts SET batch_id = $1 WHERE id = ANY($2::text[])", batch_id, ids
    )
    payouts = await conn.fetch(
        "SELECT * FROM ledger_payouts WHERE batch_id = $1 ORDER BY no", batch_id
    )
    return batch_id, [payout_from_row(r) for r in payouts]


async def get_batch(
    conn: asyncpg.Connection, batch_id: int
) -> tuple[dict[str, Any], list[Payout]] | None:
    r = await conn.fetchrow("SELECT * FROM ledger_refund_batches WHERE id = $1", batch_id)
    if r is None:
        return None
    rows = await conn.fetch(
        "SELECT * FROM ledger_payouts WHERE batch_id = $1 ORDER BY no", batch_id
    )
    return dict(r), [payout_from_row(p) for p in rows]


async def list_batches(conn: asyncpg.Connection, *, limit: int = 100) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in await conn.fetch(
            "SELECT * FROM ledger_refund_batches ORDER BY id DESC LIMIT $1", limit
        )
    ]
