"""Projects (deposit terms), deposits and guarantees."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from ..model import (
    Deposit,
    DepositTerms,
)
from .codecs import deposit_from_row, forfeit_json, guarantee_json, terms_from_row

# == projects and deposits ======================================================================


async def next_project_no(conn: asyncpg.Connection) -> int:
    n: int = await conn.fetchval("SELECT nextval('ledger_project_no_seq')")
    return n


async def get_project(
    conn: asyncpg.Connection, project_id: str, *, for_update: bool = False
) -> DepositTerms | None:
    r = await conn.fetchrow(
        "SELECT * FROM ledger_projects WHERE project_id = $1"
        + (" FOR UPDATE" if for_update else ""),
        project_id,
    )
    return terms_from_row(r) if r else None


async def project_no_taken(conn: asyncpg.Connection, project_no: int) -> bool:
    return bool(
        await conn.fetchval("SELECT true FROM ledger_projects WHERE project_no = $1", project_no)
    )


async def insert_project(conn: asyncpg.Connection, t: DepositTerms, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO ledger_projects (project_id, project_no, kind, required_fen, deadline_at, opening_at,
               interest_rate_bp, accept_guarantees, estimate_fen, works, starting_price_fen, land, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        t.project_id,
        t.project_no,
        t.kind.value,
        t.required_fen,
        t.deadline_at,
        t.opening_at,
        t.interest_rate_bp,
        t.accept_guarantees,
        t.estimate_fen,
        t.works,
        t.starting_price_fen,
        t.land,
        at,
    )


async def update_project_dates(
    conn: asyncpg.Connection, project_id: str, deadline_at: datetime, opening_at: datetime | None
) -> None:
    await conn.execute(
        "UPDATE ledger_projects SET deadline_at = $2, opening_at = $3 WHERE project_id = $1",
        project_id,
        deadline_at,
        opening_at,
    )


async def list_projects(conn: asyncpg.Connection, *, limit: int = 1000) -> list[DepositTerms]:
    rows = await conn.fetch(
        "SELECT * FROM ledger_projects ORDER BY created_at, project_id LIMIT $1", limit
    )
    return [terms_from_row(r) for r in rows]


async def get_deposit(
    conn: asyncpg.Connection, project_id: str, bidder_id: str, *, for_update: bool = False
) -> Deposit | None:
    r = await conn.fetchrow(
        "SELECT * FROM ledger_deposits WHERE project_id = $1 AND bidder_id = $2"
        + (" FOR UPDATE" if for_update else ""),
        project_id,
        bidder_id,
    )
    return deposit_from_row(r) if r else None


async def get_deposit_by_sub_account(
    conn: asyncpg.Connection, sub_account: str, *, for_update: bool = False
) -> Deposit | None:
    r = await conn.fetchrow(
        "SELECT * FROM ledger_deposits WHERE sub_account = $1"
        + (" FOR UPDATE" if for_update else ""),
        sub_account,
    )
    return deposit_from_row(r) if r else None


async def bidder_no_owner(conn: asyncpg.Connection, project_id: str, bidder_no: int) -> str | None:
    owner: str | None = await conn.fetchval(
        "SELECT bidder_id FROM ledger_deposits WHERE project_id = $1 AND bidder_no = $2",
        project_id,
        bidder_no,
    )
    return owner


async def next_bidder_no(conn: asyncpg.Connection, project_id: str) -> int:
    n: int = await conn.fetchval(
        "SELECT coalesce(max(bidder_no), 0) + 1 FROM ledger_deposits WHERE project_id = $1",
        project_id,
    )
    return n


async def insert_deposit(conn: asyncpg.Connection, d: Deposit, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO ledger_deposits (project_id, bidder_id, bidder_no, sub_account, account_id, state, version,
                                        created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)""",
        d.project_id,
        d.bidder_id,
        d.bidder_no,
        d.sub_account,
        d.account_id,
        d.state.value,
        d.version,
        at,
    )


async def save_deposit(
    conn: asyncpg.Connection,
    d: Deposit,
    *,
    expected_version: int,
    at: datetime,
    payer_account_norm: str | None,
) -> None:
    """Replace the deposit's state; the version must be the one it was loaded with."""
    status = await conn.execute(
        """UPDATE ledger_deposits SET state = $3, form = $4, amount_fen = $5, bank_ref = $6, payer_account = $7,
               payer_account_norm = $8, payer_name = $9, received_at = $10, guarantee = $11, refund_cause = $12,
               refund_due_on = $13, interest_fen = $14, payout_id = $15, forfeit = $16, version = $17, updated_at = $18
           WHERE project_id = $1 AND bidder_id = $2 AND version = $19""",
        d.project_id,
        d.bidder_id,
        d.state.value,
        d.form.value if d.form else None,
        d.amount_fen,
        d.bank_ref,
        d.payer_account,
        payer_account_norm,
        d.payer_name,
        d.received_at,
        guarantee_json(d.guarantee),
        d.refund_cause.value if d.refund_cause else None,
        d.refund_due_on,
        d.interest_fen,
        d.payout_id,
        forfeit_json(d.forfeit),
        d.version,
        at,
        expected_version,
    )
    assert status == "UPDATE 1", f"deposit {d.project_id}/{d.bidder_id} changed under its lock"


async def list_deposits(
    conn: asyncpg.Connection,
    *,
    project_id: str | None = None,
    bidder_id: str | None = None,
    state: str | None = None,
    limit: int = 10_000,
) -> list[Deposit]:
    rows = await conn.fetch(
        """SELECT * FROM ledger_deposits
           WHERE ($1::text IS NULL OR project_id = $1) AND ($2::text IS NULL OR bidder_id = $2)
             AND ($3::text IS NULL OR state = $3)
           ORDER BY no LIMIT $4""",
        project_id,
        bidder_id,
        state,
        limit,
    )
    return [deposit_from_row(r) for r in rows]


async def lock_project_deposits(conn: asyncpg.Connection, project_id: str) -> list[Deposit]:
    """Every deposit of the project, locked in creation order: a use case over many deposits
    takes them all before it touches any account (see the module docstring)."""
    rows = await conn.fetch(
        "SELECT * FROM ledger_deposits WHERE project_id = $1 ORDER BY no FOR UPDATE", project_id
    )
    return [deposit_from_row(r) for r in rows]


async def lock_payouts_and_owners(conn: asyncpg.Connection, payout_ids: Sequence[str]) -> None:
    """Lock the payouts (by id), then the deposits and suspense items they pay out (in creation
    order): the order a single payout's use case takes them in, for many at once."""
    await conn.execute(
        "SELECT 1 FROM ledger_payouts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
        list(payout_ids),
    )
    await conn.execute(
        """SELECT 1 FROM ledger_deposits d WHERE EXISTS (
               SELECT 1 FROM ledger_payouts p WHERE p.id = ANY($1::text[])
                 AND p.project_id = d.project_id AND p.bidder_id = d.bidder_id)
           ORDER BY d.no FOR UPDATE OF d""",
        list(payout_ids),
    )
    await conn.execute(
        """SELECT 1 FROM ledger_suspense s WHERE s.bank_ref IN (
               SELECT source_ref FROM ledger_payouts WHERE id = ANY($1::text[]) AND source_ref IS NOT NULL)
           ORDER BY s.no FOR UPDATE OF s""",
        list(payout_ids),
    )


async def same_payer_deposits(
    conn: asyncpg.Connection, project_id: str, payer_account_norm: str
) -> list[Deposit]:
    rows = await conn.fetch(
        """SELECT * FROM ledger_deposits WHERE project_id = $1 AND payer_account_norm = $2 AND form = 'cash'
           ORDER BY no""",
        project_id,
        payer_account_norm,
    )
    return [deposit_from_row(r) for r in rows]


async def deposit_confirmed(conn: asyncpg.Connection, project_id: str, bidder_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM ledger_deposits WHERE project_id = $1 AND bidder_id = $2 AND state = 'confirmed'",
            project_id,
            bidder_id,
        )
    )


async def organisation_exists(conn: asyncpg.Connection, org_id: int) -> bool:
    return bool(await conn.fetchval("SELECT true FROM organisations WHERE id = $1", org_id))


async def guarantee_owner(conn: asyncpg.Connection, ref: str) -> tuple[str, str] | None:
    r = await conn.fetchrow(
        "SELECT project_id, bidder_id FROM ledger_guarantees WHERE ref = $1", ref
    )
    return (r["project_id"], r["bidder_id"]) if r else None


async def insert_guarantee(
    conn: asyncpg.Connection, ref: str, project_id: str, bidder_id: str
) -> None:
    await conn.execute(
        "INSERT INTO ledger_guarantees (ref, project_id, bidder_id) VALUES ($1, $2, $3)",
        ref,
        project_id,
        bidder_id,
    )
