"""Commands (idempotency), the working calendar, the trial balance and reconciliations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from ..model import TrialBalance, WorkCalendar
from ..rules.transfers import trial_balance as rules_trial_balance
from .accounts import _ACCOUNT_COLS
from .codecs import account_from_row

# == commands, calendar, reconciliations =========================================================


async def lock_command(conn: asyncpg.Connection, command_id: str) -> None:
    """Serialise two runs of one command id (the second then sees the first's answer)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('ledger:' || $1, 0))", command_id
    )


async def get_command(
    conn: asyncpg.Connection, command_id: str
) -> tuple[str, dict[str, Any]] | None:
    r = await conn.fetchrow(
        "SELECT fingerprint, answer FROM ledger_commands WHERE command_id = $1", command_id
    )
    return (r["fingerprint"], r["answer"]) if r else None


async def insert_command(
    conn: asyncpg.Connection,
    command_id: str,
    fingerprint_: str,
    answer: dict[str, Any],
    at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO ledger_commands (command_id, fingerprint, answer, created_at) VALUES ($1, $2, $3, $4)",
        command_id,
        fingerprint_,
        answer,
        at,
    )


async def work_calendar(conn: asyncpg.Connection) -> WorkCalendar:
    rows = await conn.fetch("SELECT day, working FROM ledger_calendar_days")
    return WorkCalendar(
        holidays=frozenset(r["day"] for r in rows if not r["working"]),
        workdays=frozenset(r["day"] for r in rows if r["working"]),
    )


async def set_calendar_day(conn: asyncpg.Connection, day: date, working: bool, note: str) -> None:
    await conn.execute(
        "INSERT INTO ledger_calendar_days (day, working, note) VALUES ($1, $2, $3) "
        "ON CONFLICT (day) DO UPDATE SET working = EXCLUDED.working, note = EXCLUDED.note",
        day,
        working,
        note,
    )


async def list_calendar_days(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch("SELECT * FROM ledger_calendar_days ORDER BY day")]


async def insert_reconciliation(conn: asyncpg.Connection, row: dict[str, Any]) -> int:
    rid: int = await conn.fetchval(
        """INSERT INTO ledger_reconciliations (statement_sha256, from_on, to_on, lines, matched, differences,
               missing_in_ledger, missing_in_bank, to_suspense_fen, report, imported_at, imported_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id""",
        row["statement_sha256"],
        row["from_on"],
        row["to_on"],
        row["lines"],
        row["matched"],
        row["differences"],
        row["missing_in_ledger"],
        row["missing_in_bank"],
        row["to_suspense_fen"],
        row["report"],
        row["imported_at"],
        row["imported_by"],
    )
    return rid


async def get_reconciliation(conn: asyncpg.Connection, rid: int) -> dict[str, Any] | None:
    r = await conn.fetchrow("SELECT * FROM ledger_reconciliations WHERE id = $1", rid)
    return dict(r) if r else None


async def list_reconciliations(
    conn: asyncpg.Connection, *, limit: int = 100
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT id, statement_sha256, from_on, to_on, lines, matched, differences, missing_in_ledger,
                  missing_in_bank, to_suspense_fen, imported_at, imported_by
           FROM ledger_reconciliations ORDER BY id DESC LIMIT $1""",
        limit,
    )
    return [dict(r) for r in rows]


async def trial_balance(conn: asyncpg.Connection) -> TrialBalance:
    rows = await conn.fetch(f"SELECT {_ACCOUNT_COLS} FROM ledger_accounts")
    return rules_trial_balance(account_from_row(r) for r in rows)
