"""Supervision alerts (电子监察): raised by any package when something looks wrong, read by
supervisors. Alerts are facts, never edited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


async def raise_alert(
    conn: asyncpg.Connection,
    now: datetime,
    *,
    kind: str,
    severity: str,
    object_type: str,
    object_id: str,
    message_en: str,
    message_zh: str,
    detail: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> int | None:
    """Raise a supervision alert (电子监察). With a ``dedup_key`` the same alert is raised once."""
    aid: int | None = await conn.fetchval(
        "INSERT INTO alerts (kind, severity, object_type, object_id, message_en, message_zh, detail, raised_at, dedup_key) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        kind, severity, object_type, object_id, message_en, message_zh, detail or {}, now, dedup_key,
    )
    return aid


async def list_alerts(conn: asyncpg.Connection, *, kind: str | None = None, after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM alerts WHERE id > $1 AND ($2::text IS NULL OR kind = $2) ORDER BY id LIMIT $3",
        after_id, kind, limit,
    )
    return [dict(r) for r in rows]
