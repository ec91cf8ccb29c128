"""Timed events: what is due when, and the handlers domain packages register for each kind.

A domain package schedules ``(kind, ref)`` at ``due_at`` inside its own use-case transaction
(``schedule`` replaces a pending event of the same kind and ref: moving a deadline moves its
event). When the event falls due the scheduler calls the handler registered for its kind
inside one transaction that also marks the event done, so a handler's work and the record that
it ran commit together — exactly once, even across restarts and several processes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class TimedEvent:
    id: int
    kind: str
    ref: str
    due_at: datetime
    payload: dict[str, Any]
    status: str
    created_at: datetime
    ran_at: datetime | None
    attempts: int
    last_error: str | None

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> TimedEvent:
        return cls(**dict(r))


@dataclass(frozen=True)
class EventContext:
    """What a handler gets: its connection (inside the transaction), the event, and ``now``
    (the real time it runs, which may be later than ``event.due_at`` after downtime)."""

    conn: asyncpg.Connection
    event: TimedEvent
    now: datetime


Handler = Callable[[EventContext], Awaitable[None]]
AfterCommit = Callable[[TimedEvent], Awaitable[None]]


class EventRegistry:
    """Event kinds and their handlers. One per application; packages register at start."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._after: dict[str, AfterCommit] = {}

    def register(self, kind: str, handler: Handler, *, after_commit: AfterCommit | None = None) -> None:
        """``after_commit`` runs once the handler's transaction has committed (to touch
        in-memory state such as a live auction lot)."""
        assert kind not in self._handlers, f"event kind {kind} registered twice"
        self._handlers[kind] = handler
        if after_commit is not None:
            self._after[kind] = after_commit

    def handler(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    def after_commit(self, kind: str) -> AfterCommit | None:
        return self._after.get(kind)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._handlers)


async def schedule(
    conn: asyncpg.Connection,
    *,
    kind: str,
    ref: str | int,
    due_at: datetime,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> TimedEvent:
    """Schedule ``kind`` for ``ref`` at ``due_at``, replacing a pending one of the same kind
    and ref. Call inside the use case's transaction; the scheduler hears of it at commit.

    Two processes scheduling the same (kind, ref) at once (every server schedules its sweeps
    at start) are taken one after the other by a transaction-scoped advisory lock on the pair:
    the second then sees the first's event, cancels it and inserts its own, instead of both
    inserting and one failing on ``timed_events_one_pending``."""
    assert due_at.tzinfo is not None, "due_at must be timezone-aware UTC"
    async with conn.transaction():  # a savepoint inside the caller's; its own outside one
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"timed_event:{kind}:{ref}")
        await conn.execute(
            "UPDATE timed_events SET status = 'cancelled' WHERE kind = $1 AND ref = $2 AND status = 'pending'",
            kind, str(ref),
        )
        r = await conn.fetchrow(
            "INSERT INTO timed_events (kind, ref, due_at, payload, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING *",
            kind, str(ref), due_at, payload or {}, now,
        )
    return TimedEvent.from_row(r)


async def cancel(conn: asyncpg.Connection, *, kind: str, ref: str | int) -> bool:
    status = await conn.execute(
        "UPDATE timed_events SET status = 'cancelled' WHERE kind = $1 AND ref = $2 AND status = 'pending'",
        kind, str(ref),
    )
    return status != "UPDATE 0"


async def pending(conn: asyncpg.Connection, *, ref: str | None = None, limit: int = 1000) -> list[TimedEvent]:
    rows = await conn.fetch(
        "SELECT * FROM timed_events WHERE status = 'pending' AND ($1::text IS NULL OR ref = $1) ORDER BY due_at, id LIMIT $2",
        ref, limit,
    )
    return [TimedEvent.from_row(r) for r in rows]


async def history(conn: asyncpg.Connection, *, kind: str | None = None, ref: str | None = None, limit: int = 100) -> list[TimedEvent]:
    rows = await conn.fetch(
        "SELECT * FROM timed_events WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR ref = $2) "
        "ORDER BY id DESC LIMIT $3",
        kind, ref, limit,
    )
    return [TimedEvent.from_row(r) for r in rows]
