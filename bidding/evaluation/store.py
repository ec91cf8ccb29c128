"""Every SQL statement of the evaluation (asyncpg, ``$n`` parameters). Callers own the
transaction. Lock order: the tender row, then the evaluation row (``FOR UPDATE``)."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from bidding.evaluation.model import BidEntry, EvaluationState

# ---------------------------------------------------------------------------- the bids


async def opened_bids(conn: asyncpg.Connection, tender_id: int) -> list[BidEntry]:
    """The bids the opening record shows opened, with their price and receipt time."""
    document = await conn.fetchval(
        "SELECT document FROM opening_records WHERE tender_id = $1 AND status = 'opened'",
        tender_id,
    )
    if document is None:
        return []
    entries = [e for e in json.loads(document)["entries"] if e.get("outcome") == "opened"]
    rows = await conn.fetch(
        "SELECT id, received_at FROM bids WHERE id = ANY($1::bigint[])",
        [e["bid_id"] for e in entries],
    )
    received = {r["id"]: r["received_at"] for r in rows}
    return [
        BidEntry(e["bid_id"], e["bidder_org_id"], e["amount_fen"], received[e["bid_id"]])
        for e in sorted(entries, key=lambda e: e["bid_id"])
    ]


# ---------------------------------------------------------------------------- evaluations


async def get_evaluation(
    conn: asyncpg.Connection, tender_id: int, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM evaluations WHERE tender_id = $1" + (" FOR UPDATE" if lock else ""),
        tender_id,
    )


async def insert_evaluation(
    conn: asyncpg.Connection, tender_id: int, *, started_by: int | None, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO evaluations (tender_id, state, started_by, started_at) "
        "VALUES ($1, 'evaluating', $2, $3)",
        tender_id,
        started_by,
        now,
    )


async def set_state(
    conn: asyncpg.Connection, tender_id: int, version: int, state: EvaluationState, **at: datetime
) -> None:
    names = list(at)
    sets = "".join(f", {name} = ${i + 4}" for i, name in enumerate(names))
    done = await conn.execute(
        f"UPDATE evaluations SET state = $3, version = version + 1{sets} "
        "WHERE tender_id = $1 AND version = $2",
        tender_id,
        version,
        state.value,
        *at.values(),
    )
    assert done == "UPDATE 1", "the evaluation row is locked by the caller"


# ---------------------------------------------------------------------------- sheets


async def current_sheets(conn: asyncpg.Connection, tender_id: int) -> list[asyncpg.Record]:
    """The latest revision of each expert's sheet, by expert."""
    return await conn.fetch(
        "SELECT DISTINCT ON (expert_id) * FROM evaluation_sheets WHERE tender_id = $1 "
        "ORDER BY expert_id, revision DESC",
        tender_id,
    )


async def last_revision(conn: asyncpg.Connection, tender_id: int, expert_id: str) -> int:
    value = await conn.fetchval(
        "SELECT max(revision) FROM evaluation_sheets WHERE tender_id = $1 AND expert_id = $2",
        tender_id,
        expert_id,
    )
    return int(value or 0)


async def insert_sheet(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    expert_id: str,
    user_id: int,
    revision: int,
    document: str,
    sha256: str,
    signature: bytes,
    public_key: bytes,
    now: datetime,
) -> int:
    sheet_id: int = await conn.fetchval(
        """INSERT INTO evaluation_sheets (tender_id, expert_id, user_id, revision, document, sha256,
               signature, public_key, submitted_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
        tender_id,
        expert_id,
        user_id,
        revision,
        document,
        sha256,
        signature,
        public_key,
        now,
    )
    return sheet_id


# ---------------------------------------------------------------------------- findings


async def put_finding(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    bid_id: int,
    accepted: bool,
    reason: str,
    expert_id: str,
    now: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO evaluation_findings (tender_id, bid_id, accepted, reason, expert_id,
               recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (tender_id, bid_id) DO UPDATE
           SET accepted = $3, reason = $4, expert_id = $5, recorded_at = $6""",
        tender_id,
        bid_id,
        accepted,
        reason,
        expert_id,
        now,
    )


async def findings(conn: asyncpg.Connection, tender_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT bid_id, accepted, reason, expert_id, recorded_at FROM evaluation_findings "
        "WHERE tender_id = $1 ORDER BY bid_id",
        tender_id,
    )


# ---------------------------------------------------------------------------- clarifications


async def insert_clarification(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    bid_id: int,
    org_id: int,
    question: str,
    asked_by: str,
    now: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO evaluation_clarifications (tender_id, bid_id, org_id, question, asked_by,
               asked_at)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
        tender_id,
        bid_id,
        org_id,
        question,
        asked_by,
        now,
    )


async def get_clarification(
    conn: asyncpg.Connection, tender_id: int, clarification_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM evaluation_clarifications WHERE tender_id = $1 AND id = $2 FOR UPDATE",
        tender_id,
        clarification_id,
    )


async def answer_clarification(
    conn: asyncpg.Connection, clarification_id: int, *, answer: str, user_id: int, now: datetime
) -> asyncpg.Record:
    return await conn.fetchrow(
        "UPDATE evaluation_clarifications SET answer = $2, answered_by = $3, answered_at = $4 "
        "WHERE id = $1 AND answer IS NULL RETURNING *",
        clarification_id,
        answer,
        user_id,
        now,
    )


async def clarifications(
    conn: asyncpg.Connection, tender_id: int, *, org_id: int | None = None
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM evaluation_clarifications "
        "WHERE tender_id = $1 AND ($2::bigint IS NULL OR org_id = $2) ORDER BY id",
        tender_id,
        org_id,
    )


# ---------------------------------------------------------------------------- the report


async def insert_report(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    document: str,
    sha256: str,
    signature: bytes,
    public_document: str,
    public_signature: bytes,
    key_id: str,
    failed: bool,
    signing_deadline_at: datetime,
    now: datetime,
) -> int:
    report_id: int = await conn.fetchval(
        """INSERT INTO evaluation_reports (tender_id, document, sha256, signature, public_document,
               public_signature, key_id, failed, signing_deadline_at, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id""",
        tender_id,
        document,
        sha256,
        signature,
        public_document,
        public_signature,
        key_id,
        failed,
        signing_deadline_at,
        now,
    )
    return report_id


async def get_report(conn: asyncpg.Connection, tender_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM evaluation_reports WHERE tender_id = $1", tender_id)


async def conclude_report(
    conn: asyncpg.Connection, report_id: int, *, conclusion: str, signature: bytes, now: datetime
) -> None:
    await conn.execute(
        "UPDATE evaluation_reports SET conclusion = $2, conclusion_signature = $3, "
        "concluded_at = $4 WHERE id = $1 AND concluded_at IS NULL",
        report_id,
        conclusion,
        signature,
        now,
    )


async def insert_signature(
    conn: asyncpg.Connection,
    *,
    report_id: int,
    expert_id: str,
    user_id: int,
    document: str,
    sha256: str,
    signature: bytes,
    public_key: bytes,
    dissent: str | None,
    now: datetime,
) -> bool:
    """False when this member has signed already."""
    done = await conn.execute(
        """INSERT INTO evaluation_report_signatures (report_id, expert_id, user_id, document, sha256,
               signature, public_key, dissent, signed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING""",
        report_id,
        expert_id,
        user_id,
        document,
        sha256,
        signature,
        public_key,
        dissent,
        now,
    )
    return bool(done == "INSERT 0 1")


async def signatures(conn: asyncpg.Connection, report_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM evaluation_report_signatures WHERE report_id = $1 ORDER BY expert_id",
        report_id,
    )
