"""The bank: trusted keys, the message counter, notifications, bank movements, suspense."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from ..model import (
    BankMovement,
    BankNotification,
    NotificationOutcome,
    SuspenseItem,
)
from .codecs import notification_from_row, outcome_from_json, outcome_json, suspense_from_row

# == the bank ===================================================================================


async def bank_keys(conn: asyncpg.Connection) -> list[bytes]:
    rows = await conn.fetch(
        "SELECT public_key FROM ledger_bank_keys WHERE revoked_at IS NULL ORDER BY created_at"
    )
    return [bytes(r["public_key"]) for r in rows]


async def list_bank_keys(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch("SELECT * FROM ledger_bank_keys ORDER BY created_at")]


async def insert_bank_key(
    conn: asyncpg.Connection, key_id: str, public_key: bytes, label: str, at: datetime
) -> bool:
    status = await conn.execute(
        "INSERT INTO ledger_bank_keys (key_id, public_key, label, created_at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING",
        key_id,
        public_key,
        label,
        at,
    )
    return status == "INSERT 0 1"


async def revoke_bank_key(conn: asyncpg.Connection, key_id: str, at: datetime) -> bool:
    status = await conn.execute(
        "UPDATE ledger_bank_keys SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
        at,
    )
    return status == "UPDATE 1"


async def lock_last_seq(conn: asyncpg.Connection) -> int:
    """The number of the last bank message processed, locked: messages are taken one at a time."""
    n: int = await conn.fetchval("SELECT last_seq FROM ledger_bank_state WHERE id = 1 FOR UPDATE")
    return n


async def last_seq(conn: asyncpg.Connection) -> int:
    n: int = await conn.fetchval("SELECT last_seq FROM ledger_bank_state WHERE id = 1")
    return n


async def set_last_seq(conn: asyncpg.Connection, seq: int) -> None:
    await conn.execute("UPDATE ledger_bank_state SET last_seq = $1 WHERE id = 1", seq)


async def get_notification(
    conn: asyncpg.Connection, bank_ref: str
) -> tuple[BankNotification, NotificationOutcome] | None:
    r = await conn.fetchrow("SELECT * FROM ledger_notifications WHERE bank_ref = $1", bank_ref)
    return (notification_from_row(r), outcome_from_json(r["outcome"])) if r else None


async def insert_notification(
    conn: asyncpg.Connection,
    n: BankNotification,
    signature: bytes,
    outcome: NotificationOutcome,
    at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO ledger_notifications (bank_ref, seq, kind, sub_account, amount_fen, value_at, payer_account,
               payer_name, reverses_ref, signature, outcome, received_at, currency)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        n.bank_ref,
        n.seq,
        n.kind.value,
        n.sub_account,
        n.amount_fen,
        n.value_at,
        n.payer_account,
        n.payer_name,
        n.reverses_ref,
        signature,
        outcome_json(outcome),
        at,
        n.currency,
    )


async def insert_movement(conn: asyncpg.Connection, m: BankMovement) -> None:
    await conn.execute(
        "INSERT INTO ledger_bank_movements (transfer_id, bank_ref, amount_fen, value_on) VALUES ($1, $2, $3, $4)",
        m.transfer_id,
        m.bank_ref,
        m.amount_fen,
        m.value_on,
    )


async def movements(
    conn: asyncpg.Connection, *, from_on: date | None = None, to_on: date | None = None
) -> list[BankMovement]:
    rows = await conn.fetch(
        """SELECT transfer_id, bank_ref, amount_fen, value_on FROM ledger_bank_movements
           WHERE ($1::date IS NULL OR value_on >= $1) AND ($2::date IS NULL OR value_on <= $2)
           ORDER BY transfer_id""",
        from_on,
        to_on,
    )
    return [
        BankMovement(r["transfer_id"], r["bank_ref"], r["amount_fen"], r["value_on"]) for r in rows
    ]


# == suspense ===================================================================================


async def get_suspense(
    conn: asyncpg.Connection, bank_ref: str, *, for_update: bool = False
) -> SuspenseItem | None:
    r = await conn.fetchrow(
        "SELECT * FROM ledger_suspense WHERE bank_ref = $1" + (" FOR UPDATE" if for_update else ""),
        bank_ref,
    )
    return suspense_from_row(r) if r else None


async def insert_suspense(conn: asyncpg.Connection, s: SuspenseItem, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO ledger_suspense (bank_ref, reason, amount_fen, sub_account, payer_account, payer_name,
               value_at, state, payout_id, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        s.bank_ref,
        s.reason.value,
        s.amount_fen,
        s.sub_account,
        s.payer_account,
        s.payer_name,
        s.value_at,
        s.state.value,
        s.payout_id,
        at,
    )


async def update_suspense(conn: asyncpg.Connection, s: SuspenseItem) -> None:
    await conn.execute(
        "UPDATE ledger_suspense SET state = $2, payout_id = $3 WHERE bank_ref = $1",
        s.bank_ref,
        s.state.value,
        s.payout_id,
    )


async def list_suspense(
    conn: asyncpg.Connection, *, state: str | None = None, limit: int = 10_000
) -> list[SuspenseItem]:
    rows = await conn.fetch(
        "SELECT * FROM ledger_suspense WHERE ($1::text IS NULL OR state = $1) ORDER BY no LIMIT $2",
        state,
        limit,
    )
    return [suspense_from_row(r) for r in rows]
