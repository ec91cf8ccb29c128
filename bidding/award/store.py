"""Every SQL statement of the award: procedures, passed-over candidates, decisions,
contracts, objections, complaints. asyncpg, ``$n`` parameters, the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any

import asyncpg

from bidding.award.model import (
    AwardDecision,
    AwardProcedure,
    AwardState,
    Candidate,
    Complaint,
    ComplaintOutcome,
    ComplaintState,
    Contract,
    Objection,
    PassReason,
    Result,
)

__all__ = [
    "get_contract",
    "get_complaint",
    "get_decision",
    "get_objection",
    "get_procedure",
    "insert_complaint",
    "insert_contract",
    "insert_decision",
    "insert_objection",
    "insert_passed_over",
    "insert_procedure",
    "list_complaints",
    "list_decisions",
    "list_objections",
    "tender_money",
    "tenders_awaiting_procedure",
    "update_complaint",
    "update_procedure",
]


def _jsonb(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _procedure(conn: asyncpg.Connection, r: asyncpg.Record) -> AwardProcedure:
    counts = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM award_objections WHERE tender_id = $1 AND answered_at IS NULL) AS o, "
        "(SELECT count(*) FROM award_complaints WHERE tender_id = $1 AND state = 'accepted' "
        " AND suspends_award) AS c",
        r["tender_id"],
    )
    passed = await conn.fetch(
        "SELECT rank, reason FROM award_passed_over WHERE tender_id = $1 ORDER BY decided_at, rank",
        r["tender_id"],
    )
    return AwardProcedure(
        tender_id=r["tender_id"],
        state=AwardState(r["state"]),
        version=r["version"],
        report_id=r["report_id"],
        concluded_at=r["concluded_at"],
        candidates=tuple(Candidate.from_json(c) for c in _jsonb(r["candidates"])),
        publicity_due_at=r["publicity_due_at"],
        created_at=r["created_at"],
        publicity_published_at=r["publicity_published_at"],
        publicity_ends_at=r["publicity_ends_at"],
        publicity_notice_id=r["publicity_notice_id"],
        passed_over=tuple((p["rank"], PassReason(p["reason"])) for p in passed),
        award_id=r["award_id"],
        awarded_rank=r["awarded_rank"],
        awarded_at=r["awarded_at"],
        contract_due_at=r["contract_due_at"],
        budget_fen=r["budget_fen"],
        control_price_fen=r["control_price_fen"],
        award_fen=r["award_fen"],
        failed_at=r["failed_at"],
        failure_reason=r["failure_reason"],
        retender_id=r["retender_id"],
        open_objections=counts["o"],
        suspending_complaints=counts["c"],
    )


async def get_procedure(
    conn: asyncpg.Connection, tender_id: int, *, lock: bool = False
) -> AwardProcedure | None:
    r = await conn.fetchrow(
        "SELECT * FROM award_procedures WHERE tender_id = $1" + (" FOR UPDATE" if lock else ""),
        tender_id,
    )
    return await _procedure(conn, r) if r is not None else None


async def insert_procedure(
    conn: asyncpg.Connection,
    result: Result,
    *,
    state: AwardState,
    publicity_due_at: datetime,
    budget_fen: int | None,
    control_price_fen: int | None,
    now: datetime,
) -> bool:
    """Start the procedure (idempotent: ``False`` when it exists already)."""
    status = await conn.execute(
        "INSERT INTO award_procedures (tender_id, state, report_id, concluded_at, candidates, "
        "rejected, publicity_due_at, budget_fen, control_price_fen, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (tender_id) DO NOTHING",
        result.tender_id,
        state.value,
        result.report_id,
        result.concluded_at,
        [c.as_json() for c in result.candidates],
        [[b, cause] for b, cause in result.rejected],
        publicity_due_at,
        budget_fen,
        control_price_fen,
        now,
    )
    return status == "INSERT 0 1"


async def update_procedure(
    conn: asyncpg.Connection, proc: AwardProcedure, **columns: Any
) -> AwardProcedure:
    """Set columns if the version is still ``proc.version``; bump it. The caller holds the row."""
    names = list(columns)
    sets = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
    values = [v.value if isinstance(v, AwardState) else v for v in columns.values()]
    r = await conn.fetchrow(
        f"UPDATE award_procedures SET {sets}, version = version + 1 "
        "WHERE tender_id = $1 AND version = $2 RETURNING *",
        proc.tender_id,
        proc.version,
        *values,
    )
    assert r is not None, "the procedure row is locked by the caller; its version cannot move"
    return await _procedure(conn, r)


async def insert_passed_over(
    conn: asyncpg.Connection,
    tender_id: int,
    rank: int,
    org_id: int,
    reason: PassReason,
    note: str,
    decided_by: int | None,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO award_passed_over (tender_id, rank, org_id, reason, note, decided_by, decided_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        tender_id, rank, org_id, reason.value, note, decided_by, now,
    )


async def tender_money(conn: asyncpg.Connection, tender_id: int) -> tuple[int | None, int | None]:
    """(budget_fen, control_price_fen) from the tender, where the evaluation's migration has
    added them (read through ``to_jsonb`` so that this works with or without those columns)."""
    r = await conn.fetchval("SELECT to_jsonb(t) FROM tenders t WHERE id = $1", tender_id)
    row = _jsonb(r) or {}
    budget, control = row.get("budget_fen"), row.get("control_price_fen")
    return (int(budget) if budget is not None else None, int(control) if control is not None else None)


async def tenders_awaiting_procedure(conn: asyncpg.Connection, limit: int = 500) -> list[int]:
    """Opened tenders that have no award procedure yet (the award watch asks the evaluation
    about each)."""
    rows = await conn.fetch(
        "SELECT t.id FROM tenders t WHERE t.state = 'opened' AND NOT EXISTS "
        "(SELECT 1 FROM award_procedures p WHERE p.tender_id = t.id) ORDER BY t.id LIMIT $1",
        limit,
    )
    return [r["id"] for r in rows]


# ---------------------------------------------------------------------------- decisions


def _decision(r: asyncpg.Record) -> AwardDecision:
    return AwardDecision(
        id=r["id"],
        tender_id=r["tender_id"],
        rank=r["rank"],
        bid_id=r["bid_id"],
        org_id=r["org_id"],
        price_fen=r["price_fen"],
        reason=PassReason(r["reason"]) if r["reason"] else None,
        note=r["note"],
        awarded_by=r["awarded_by"],
        awarded_at=r["awarded_at"],
        notice_document=json.loads(r["document"]),
        declined_at=r["declined_at"],
        decline_reason=PassReason(r["decline_reason"]) if r["decline_reason"] else None,
        decline_note=r["decline_note"],
        forfeit_requested=r["forfeit_requested"],
    )


async def insert_decision(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    candidate: Candidate,
    reason: PassReason | None,
    note: str,
    awarded_by: int | None,
    now: datetime,
    document: str,
    signature: bytes,
    key_id: str,
) -> int:
    did: int = await conn.fetchval(
        "INSERT INTO award_decisions (tender_id, rank, bid_id, org_id, price_fen, reason, note, "
        "awarded_by, awarded_at, document, signature, key_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        tender_id, candidate.rank, candidate.bid_id, candidate.org_id, candidate.price_fen,
        reason.value if reason else None, note, awarded_by, now, document, signature, key_id,
    )
    return did


async def set_decision_notice(conn: asyncpg.Connection, award_id: int, notice_id: int | None) -> None:
    await conn.execute(
        "UPDATE award_decisions SET public_notice_id = $2 WHERE id = $1", award_id, notice_id
    )


async def decline_decision(
    conn: asyncpg.Connection,
    award_id: int,
    reason: PassReason,
    note: str,
    forfeit_requested: bool,
    now: datetime,
) -> None:
    status = await conn.execute(
        "UPDATE award_decisions SET declined_at = $2, decline_reason = $3, decline_note = $4, "
        "forfeit_requested = $5 WHERE id = $1 AND declined_at IS NULL",
        award_id, now, reason.value, note, forfeit_requested,
    )
    assert status == "UPDATE 1", "the live decision is locked with its procedure"


async def get_decision(conn: asyncpg.Connection, award_id: int) -> AwardDecision | None:
    r = await conn.fetchrow("SELECT * FROM award_decisions WHERE id = $1", award_id)
    return _decision(r) if r is not None else None


async def get_signed_decision(conn: asyncpg.Connection, award_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT document, signature, key_id FROM award_decisions WHERE id = $1", award_id
    )


async def list_decisions(conn: asyncpg.Connection, tender_id: int) -> list[AwardDecision]:
    rows = await conn.fetch(
        "SELECT * FROM award_decisions WHERE tender_id = $1 ORDER BY id", tender_id
    )
    return [_decision(r) for r in rows]


# ---------------------------------------------------------------------------- contracts


def _contract(r: asyncpg.Record) -> Contract:
    return Contract(
        tender_id=r["tender_id"],
        award_id=r["award_id"],
        org_id=r["org_id"],
        amount_fen=r["amount_fen"],
        bond_fen=r["bond_fen"],
        signed_at=r["signed_at"],
        recorded_by=r["recorded_by"],
        recorded_at=r["recorded_at"],
        late=r["late"],
    )


async def insert_contract(conn: asyncpg.Connection, c: Contract) -> None:
    await conn.execute(
        "INSERT INTO award_contracts (tender_id, award_id, org_id, amount_fen, bond_fen, signed_at, "
        "recorded_by, recorded_at, late) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        c.tender_id, c.award_id, c.org_id, c.amount_fen, c.bond_fen, c.signed_at,
        c.recorded_by, c.recorded_at, c.late,
    )


async def get_contract(conn: asyncpg.Connection, tender_id: int) -> Contract | None:
    r = await conn.fetchrow("SELECT * FROM award_contracts WHERE tender_id = $1", tender_id)
    return _contract(r) if r is not None else None


# ---------------------------------------------------------------------------- objections


def _objection(r: asyncpg.Record) -> Objection:
    return Objection(**dict(r))


async def insert_objection(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    org_id: int,
    submitted_by: int,
    text: str,
    now: datetime,
    answer_due_at: datetime,
) -> Objection:
    r = await conn.fetchrow(
        "INSERT INTO award_objections (tender_id, org_id, submitted_by, text, received_at, answer_due_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        tender_id, org_id, submitted_by, text, now, answer_due_at,
    )
    return _objection(r)


async def get_objection(
    conn: asyncpg.Connection, objection_id: int, *, lock: bool = False
) -> Objection | None:
    r = await conn.fetchrow(
        "SELECT * FROM award_objections WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        objection_id,
    )
    return _objection(r) if r is not None else None


async def answer_objection(
    conn: asyncpg.Connection, objection_id: int, answer: str, answered_by: int | None, now: datetime
) -> Objection:
    r = await conn.fetchrow(
        "UPDATE award_objections SET answer = $2, answered_by = $3, answered_at = $4 "
        "WHERE id = $1 AND answered_at IS NULL RETURNING *",
        objection_id, answer, answered_by, now,
    )
    assert r is not None, "the objection row is locked by the caller"
    return _objection(r)


async def list_objections(
    conn: asyncpg.Connection, tender_id: int, *, org_id: int | None = None
) -> list[Objection]:
    rows = await conn.fetch(
        "SELECT * FROM award_objections WHERE tender_id = $1 AND ($2::bigint IS NULL OR org_id = $2) "
        "ORDER BY id",
        tender_id, org_id,
    )
    return [_objection(r) for r in rows]


# ---------------------------------------------------------------------------- complaints


def _complaint(r: asyncpg.Record) -> Complaint:
    d = dict(r)
    d["state"] = ComplaintState(d["state"])
    d["outcome"] = ComplaintOutcome(d["outcome"]) if d["outcome"] else None
    return Complaint(**d)


async def insert_complaint(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    org_id: int,
    submitted_by: int,
    text: str,
    known_at: datetime,
    now: datetime,
    accept_due_at: datetime,
) -> Complaint:
    r = await conn.fetchrow(
        "INSERT INTO award_complaints (tender_id, org_id, submitted_by, text, known_at, received_at, "
        "accept_due_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, 'received') RETURNING *",
        tender_id, org_id, submitted_by, text, known_at, now, accept_due_at,
    )
    return _complaint(r)


async def get_complaint(
    conn: asyncpg.Connection, complaint_id: int, *, lock: bool = False
) -> Complaint | None:
    r = await conn.fetchrow(
        "SELECT * FROM award_complaints WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        complaint_id,
    )
    return _complaint(r) if r is not None else None


async def update_complaint(conn: asyncpg.Connection, complaint_id: int, **columns: Any) -> Complaint:
    names = list(columns)
    sets = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(names))
    values = [v.value if isinstance(v, Enum) else v for v in columns.values()]
    r = await conn.fetchrow(
        f"UPDATE award_complaints SET {sets} WHERE id = $1 RETURNING *", complaint_id, *values
    )
    assert r is not None
    return _complaint(r)


async def list_complaints(
    conn: asyncpg.Connection, tender_id: int, *, org_id: int | None = None
) -> list[Complaint]:
    rows = await conn.fetch(
        "SELECT * FROM award_complaints WHERE tender_id = $1 AND ($2::bigint IS NULL OR org_id = $2) "
        "ORDER BY id",
        tender_id, org_id,
    )
    return [_complaint(r) for r in rows]


async def bidder_org_ids(conn: asyncpg.Connection, tender_id: int) -> Sequence[int]:
    """The tender's bidders: organisations with a bid in the set frozen at the deadline."""
    rows = await conn.fetch(
        "SELECT DISTINCT org_id FROM bids WHERE tender_id = $1 AND leaf_index IS NOT NULL ORDER BY org_id",
        tender_id,
    )
    return [r["org_id"] for r in rows]
