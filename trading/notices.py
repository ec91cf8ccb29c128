"""Notices to parties (deadline changes, results, summons). Recorded in the database; a
delivery channel (SMS, e-mail, the page) picks them up."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def add_notice(
    conn: asyncpg.Connection,
    now: datetime,
    *,
    subject: str,
    body: str,
    org_id: int | None = None,
    user_id: int | None = None,
    object_type: str = "",
    object_id: str = "",
) -> int:
    """Record a notice to a party; a delivery channel picks it up."""
    nid: int = await conn.fetchval(
        "INSERT INTO notices (org_id, user_id, subject, body, object_type, object_id, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        org_id, user_id, subject, body, object_type, object_id, now,
    )
    return nid


async def list_notices(conn: asyncpg.Connection, *, org_id: int | None = None, user_id: int | None = None, limit: int = 100) -> list[dict]:
    rows = await conn.fetch(
        "SELECT * FROM notices WHERE ($1::bigint IS NULL OR org_id = $1) AND ($2::bigint IS NULL OR user_id = $2) ORDER BY id DESC LIMIT $3",
        org_id, user_id, limit,
    )
    return [dict(r) for r in rows]
