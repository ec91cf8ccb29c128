"""Every SQL statement of supervision: alerts, the acts on them, the watch's watermarks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from trading.supervision.model import Act, Alert, AlertState

__all__ = [
    "AlertFilter",
    "get_alert",
    "insert_act",
    "insert_alert",
    "list_acts",
    "list_alerts_after",
    "list_alerts_newest",
    "live_watch_alerts",
    "set_state",
    "set_watermark",
    "stale_open_alerts",
    "watermark",
]


async def insert_alert(
    conn: asyncpg.Connection,
    now: datetime,
    *,
    kind: str,
    severity: str,
    object_type: str,
    object_id: str,
    message_en: str,
    message_zh: str,
    detail: dict[str, Any],
    dedup_key: str | None,
    watch_ref: str | None = None,
    due_at: datetime | None = None,
) -> int | None:
    """Insert an alert; ``None`` if one with the same ``dedup_key`` or watched step exists."""
    aid: int | None = await conn.fetchval(
        "INSERT INTO alerts (kind, severity, object_type, object_id, message_en, message_zh, detail, raised_at, "
        "dedup_key, watch_ref, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        "ON CONFLICT DO NOTHING RETURNING id",
        kind, severity, object_type, object_id, message_en, message_zh, detail, now, dedup_key, watch_ref, due_at,
    )
    return aid


async def get_alert(conn: asyncpg.Connection, alert_id: int, *, lock: bool = False) -> Alert | None:
    r = await conn.fetchrow(
        "SELECT * FROM alerts WHERE id = $1" + (" FOR UPDATE" if lock else ""), alert_id
    )
    return Alert.from_row(r) if r is not None else None


async def set_state(
    conn: asyncpg.Connection, alert: Alert, *, state: AlertState, **changes: Any
) -> Alert:
    """Save the alert's new state (and acknowledged_at/by, resolved_at, closed_at/by,
    escalated_at); the version guards against a concurrent act (no row → ``None`` → stale)."""
    allowed = {"acknowledged_at", "acknowledged_by", "resolved_at", "closed_at", "closed_by", "escalated_at"}
    assert set(changes) <= allowed, set(changes) - allowed
    cols = ["state = $3", "version = version + 1"]
    args: list[Any] = [alert.id, alert.version, state.value]
    for name, value in changes.items():
        args.append(value)
        cols.append(f"{name} = ${len(args)}")
    r = await conn.fetchrow(
        f"UPDATE alerts SET {', '.join(cols)} WHERE id = $1 AND version = $2 RETURNING *", *args
    )
    assert r is not None, "the alert is locked by its act's transaction"
    return Alert.from_row(r)


async def insert_act(
    conn: asyncpg.Connection, alert_id: int, act: Act, *, user_id: int | None, actor: str, note: str, at: datetime
) -> dict[str, Any]:
    r = await conn.fetchrow(
        "INSERT INTO alert_acts (alert_id, act, user_id, actor, note, at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        alert_id, act.value, user_id, actor, note, at,
    )
    return dict(r)


async def list_acts(conn: asyncpg.Connection, alert_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM alert_acts WHERE alert_id = $1 ORDER BY id", alert_id)
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class AlertFilter:
    kind: str | None = None
    severity: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    state: AlertState | None = None
    since: datetime | None = None
    until: datetime | None = None
    escalated: bool | None = None


async def list_alerts_newest(
    conn: asyncpg.Connection, f: AlertFilter, *, before_id: int | None, limit: int
) -> list[Alert]:
    """Newest first, keyset-paged by id (``before_id``: the last id of the previous page)."""
    rows = await conn.fetch(
        "SELECT * FROM alerts WHERE ($1::bigint IS NULL OR id < $1) "
        "AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR severity = $3) "
        "AND ($4::text IS NULL OR object_type = $4) AND ($5::text IS NULL OR object_id = $5) "
        "AND ($6::text IS NULL OR state = $6) AND ($7::timestamptz IS NULL OR raised_at >= $7) "
        "AND ($8::timestamptz IS NULL OR raised_at < $8) "
        "AND ($9::boolean IS NULL OR (escalated_at IS NOT NULL) = $9) "
        "ORDER BY id DESC LIMIT $10",
        before_id, f.kind, f.severity, f.object_type, f.object_id,
        f.state.value if f.state else None, f.since, f.until, f.escalated, limit,
    )
    return [Alert.from_row(r) for r in rows]


async def list_alerts_after(
    conn: asyncpg.Connection, *, kind: str | None, after_id: int, limit: int
) -> list[dict[str, Any]]:
    """Oldest first after ``after_id`` (the first alert endpoint's order, kept for its readers)."""
    rows = await conn.fetch(
        "SELECT * FROM alerts WHERE id > $1 AND ($2::text IS NULL OR kind = $2) ORDER BY id LIMIT $3",
        after_id, kind, limit,
    )
    return [dict(r) for r in rows]


async def live_watch_alerts(conn: asyncpg.Connection, kinds: list[str], *, limit: int) -> list[Alert]:
    """Open or acknowledged alerts of watched steps (the watch checks whether each step is done)."""
    rows = await conn.fetch(
        "SELECT * FROM alerts WHERE state IN ('open', 'acknowledged') AND watch_ref IS NOT NULL "
        "AND kind = ANY($1::text[]) ORDER BY raised_at, id LIMIT $2",
        kinds, limit,
    )
    return [Alert.from_row(r) for r in rows]


async def stale_open_alerts(conn: asyncpg.Connection, raised_before: datetime, *, limit: int) -> list[Alert]:
    """Open alerts raised before ``raised_before`` and not escalated yet."""
    rows = await conn.fetch(
        "SELECT * FROM alerts WHERE state = 'open' AND escalated_at IS NULL AND raised_at <= $1 "
        "ORDER BY raised_at, id LIMIT $2",
        raised_before, limit,
    )
    return [Alert.from_row(r) for r in rows]


async def watermark(conn: asyncpg.Connection, scan: str) -> datetime | None:
    value: datetime | None = await conn.fetchval(
        "SELECT scanned_until FROM supervision_watermarks WHERE scan = $1 FOR UPDATE", scan
    )
    return value


async def set_watermark(conn: asyncpg.Connection, scan: str, until: datetime) -> None:
    await conn.execute(
        "INSERT INTO supervision_watermarks (scan, scanned_until) VALUES ($1, $2) "
        "ON CONFLICT (scan) DO UPDATE SET scanned_until = EXCLUDED.scanned_until",
        scan, until,
    )
