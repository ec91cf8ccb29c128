"""Every SQL statement of the bad-behaviour register."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from .model import Finding, FindingState, SubjectKind

_COLUMNS = (
    "id, subject_kind, org_id, expert_id, subject_name, credit_code, conduct, legal_basis, "
    "decision_sha256, decision_ref, starts_on, ends_on, state, recorded_by, recorded_at, "
    "approved_by, approved_at, revoke_reason, revoke_requested_by, revoke_requested_at, "
    "revoked_by, revoked_at, version"
)
PUBLIC_STATES = (FindingState.APPROVED.value, FindingState.REVOKE_PROPOSED.value, FindingState.REVOKED.value)
LIVE_STATES = [FindingState.APPROVED.value, FindingState.REVOKE_PROPOSED.value]


def _finding(r: asyncpg.Record) -> Finding:
    d = dict(r)
    d["subject_kind"] = SubjectKind(d["subject_kind"])
    d["state"] = FindingState(d["state"])
    return Finding(**d)


async def insert(
    conn: asyncpg.Connection, *, subject_kind: SubjectKind, org_id: int | None, expert_id: str | None,
    subject_name: str, credit_code: str, conduct: str, legal_basis: str, decision_sha256: str,
    decision_ref: str, starts_on: date, ends_on: date, recorded_by: int, now: datetime,
) -> Finding:
    r = await conn.fetchrow(
        f"""INSERT INTO conduct_findings (subject_kind, org_id, expert_id, subject_name, credit_code,
               conduct, legal_basis, decision_sha256, decision_ref, starts_on, ends_on, state,
               recorded_by, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'proposed', $12, $13)
           RETURNING {_COLUMNS}""",
        subject_kind.value, org_id, expert_id, subject_name, credit_code, conduct, legal_basis,
        decision_sha256, decision_ref, starts_on, ends_on, recorded_by, now,
    )
    assert r is not None
    return _finding(r)


async def get(conn: asyncpg.Connection, finding_id: int, *, lock: bool = False) -> Finding | None:
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM conduct_findings WHERE id = $1" + (" FOR UPDATE" if lock else ""), finding_id
    )
    return _finding(r) if r is not None else None


async def update(conn: asyncpg.Connection, finding: Finding, **changes: Any) -> Finding:
    """Write ``changes`` if the row is still at ``finding.version`` (else ``None`` → conflict)."""
    names = list(changes)
    sets = ", ".join(f"{n} = ${i + 3}" for i, n in enumerate(names))
    r = await conn.fetchrow(
        f"UPDATE conduct_findings SET {sets}, version = version + 1 WHERE id = $1 AND version = $2 "
        f"RETURNING {_COLUMNS}",
        finding.id, finding.version, *[v.value if isinstance(v, FindingState) else v for v in changes.values()],
    )
    assert r is not None, "the row is locked FOR UPDATE by the caller"
    return _finding(r)


async def listing(
    conn: asyncpg.Connection, *, public: bool, q: str | None = None, credit_code: str | None = None,
    state: str | None = None, after_id: int = 0, limit: int = 50,
) -> list[Finding]:
    """Newest first by id (``after_id`` = the last id seen; 0 = from the newest)."""
    states = list(PUBLIC_STATES) if public else [s.value for s in FindingState]
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM conduct_findings
            WHERE state = ANY($1::text[])
              AND ($2::text IS NULL OR strpos(lower(subject_name), lower($2)) > 0)
              AND ($3::text IS NULL OR credit_code = $3)
              AND ($4::text IS NULL OR state = $4)
              AND ($5::bigint = 0 OR id < $5)
            ORDER BY id DESC LIMIT $6""",
        states, q, credit_code, state, after_id, limit,
    )
    return [_finding(r) for r in rows]


async def live_for_org(conn: asyncpg.Connection, org_id: int, today: date) -> list[Finding]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM conduct_findings WHERE org_id = $1 AND state = ANY($2::text[]) "
        "AND starts_on <= $3 AND ends_on >= $3",
        org_id, LIVE_STATES, today,
    )
    return [_finding(r) for r in rows]


async def live_for_orgs(conn: asyncpg.Connection, org_ids: list[int], today: date) -> list[Finding]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM conduct_findings WHERE org_id = ANY($1::bigint[]) AND state = ANY($2::text[]) "
        "AND starts_on <= $3 AND ends_on >= $3 ORDER BY id",
        org_ids, LIVE_STATES, today,
    )
    return [_finding(r) for r in rows]


async def live_experts(conn: asyncpg.Connection, today: date) -> list[Finding]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM conduct_findings WHERE expert_id IS NOT NULL AND state = ANY($1::text[]) "
        "AND starts_on <= $2 AND ends_on >= $2 ORDER BY expert_id, id",
        LIVE_STATES, today,
    )
    return [_finding(r) for r in rows]


async def not_ended(conn: asyncpg.Connection, today: date) -> list[Finding]:
    """Findings in force now or later (for a process's in-memory ban book)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM conduct_findings WHERE state = ANY($1::text[]) AND ends_on >= $2 ORDER BY id",
        LIVE_STATES, today,
    )
    return [_finding(r) for r in rows]
