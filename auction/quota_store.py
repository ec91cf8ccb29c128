"""Every SQL statement of quota sessions (asyncpg, ``$n`` parameters).

``PgQuotaLogStore`` is the quota engine's store (``auction.quota_engine.QuotaLogStore``): a
dedicated writer connection that also holds the advisory lock of each session this process
owns, and the pool for reads. The other functions serve ``auction.quota_service``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from auction.errors import EngineUnavailable
from auction.lot_log import RefusalRow
from auction.model import event_from_dict
from auction.quota import QUOTA_EVENT_TYPES, quota_config_from_dict
from auction.quota_engine import QUOTA_LOCK_CLASS, LoadedSession, QuotaRow
from auction.store import register_backend
from trading.db import connect

_INSERT_ROWS = """
INSERT INTO quota_events (session_id, seq, at, type, paddle, bid_id, data)
SELECT s, q, a, t, pd, b, d::jsonb
FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[])
     AS u(s, q, a, t, pd, b, d)
"""

# A flush with refusals is still one statement (a data-modifying CTE runs once, whether or
# not the outer statement reads it): the refused bid ids and the events commit together.
_INSERT_ROWS_AND_REFUSALS = """
WITH refused AS (
    INSERT INTO quota_refusals (session_id, paddle, bid_id, amount_fen, at, code, answer)
    SELECT s, pd, b, amt, a, c, d::jsonb
    FROM unnest($8::bigint[], $9::text[], $10::text[], $11::bigint[], $12::timestamptz[], $13::text[], $14::text[])
         AS r(s, pd, b, amt, a, c, d)
    ON CONFLICT (session_id, paddle, bid_id) DO NOTHING
)""" + _INSERT_ROWS

_REFUSAL_COLUMNS = "session_id, paddle, bid_id, amount_fen, at, code, answer::text"


class PgQuotaLogStore:
    """The quota engine's store on PostgreSQL."""

    def __init__(self, dsn: str, pool: asyncpg.Pool) -> None:
        self._dsn = dsn
        self._pool = pool
        self._conn: asyncpg.Connection | None = None
        self._owned: set[int] = set()
        self._lock = asyncio.Lock()
        self.node_id: str | None = None
        """This process in ``auction_nodes`` (``register``): owners are found by the backend."""

    async def register(self, node_id: str) -> None:
        """Name the writer's backend as node ``node_id``'s (``auction.ownership``: another
        process forwards bids to the holder of a session's lock, found through it)."""
        self.node_id = node_id
        async with self._lock:
            await register_backend(await self._writer(), node_id)

    async def open(self) -> None:
        self._conn = await connect(self._dsn)

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
        self._conn = None
        self._owned.clear()

    async def _writer(self) -> asyncpg.Connection:
        """The writer's connection; a new one takes back every session's lock (the old
        connection's locks ended with it), or gives up if another process took one."""
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        conn = await connect(self._dsn)
        if self.node_id is not None:
            await register_backend(conn, self.node_id)
        for session_id in sorted(self._owned):
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", QUOTA_LOCK_CLASS, session_id):
                await conn.close()
                raise EngineUnavailable(f"quota session {session_id} was taken by another process")
        self._conn = conn
        return conn

    async def append(self, rows: Sequence[QuotaRow], refusals: Sequence[RefusalRow] = ()) -> None:
        """The rows and the refused bid ids (``auction.lot_log.RefusalRow``, keyed by session)
        in one statement."""
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in range(7)]
        async with self._lock:
            conn = await self._writer()
            if not refusals:
                await conn.execute(_INSERT_ROWS, *columns)
                return
            await conn.execute(_INSERT_ROWS_AND_REFUSALS, *columns, *zip(*refusals, strict=True))

    async def refusal_of(self, session_id: int, paddle: str, bid_id: str) -> RefusalRow | None:
        """The stored refusal of one bid id, if any."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_REFUSAL_COLUMNS} FROM quota_refusals "
                "WHERE session_id = $1 AND paddle = $2 AND bid_id = $3",
                session_id,
                paddle,
                bid_id,
            )
        return None if row is None else tuple(row)  # type: ignore[return-value]

    async def claim(self, session_id: int) -> bool:
        if session_id in self._owned:
            return True
        if not 0 < session_id < 2**31:
            return False
        async with self._lock:
            conn = await self._writer()
            got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", QUOTA_LOCK_CLASS, session_id))
        if got:
            self._owned.add(session_id)
        return got

    async def live_session_ids(self) -> list[int]:
        async with self._pool.acquire() as conn:
            return await live_session_ids(conn)

    async def load(self, session_id: int, *, refusals_max: int = 200_000) -> LoadedSession | None:
        """The session, its log, its admitted paddles and the newest ``refusals_max`` + 1 of
        its refused bid ids (so that the engine knows whether it has them all)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT id, title, config, result IS NOT NULL AS recorded FROM quota_sessions WHERE id = $1",
                session_id,
            )
            if row is None:
                return None
            events = await conn.fetch(
                "SELECT data FROM quota_events WHERE session_id = $1 ORDER BY seq", session_id
            )
            admitted = await conn.fetch(
                "SELECT paddle FROM quota_bidders WHERE session_id = $1 AND paddle IS NOT NULL "
                "ORDER BY admitted_at, paddle",
                session_id,
            )
            refused = await conn.fetch(
                f"SELECT {_REFUSAL_COLUMNS} FROM quota_refusals WHERE session_id = $1 "
                "ORDER BY at DESC, paddle DESC, bid_id DESC LIMIT $2",
                session_id,
                refusals_max + 1,
            )
        return LoadedSession(
            session_id=session_id,
            title=row["title"],
            config=quota_config_from_dict(row["config"]),
            events=[event_from_dict(r["data"], QUOTA_EVENT_TYPES) for r in events],
            admitted=[r["paddle"] for r in admitted],
            settled=row["recorded"],
            refusals=[tuple(r) for r in reversed(refused)],  # type: ignore[misc]
        )


# -- the service's statements --------------------------------------------------------------------


async def insert_session(
    conn: asyncpg.Connection,
    *,
    title: str,
    config: dict[str, Any],
    deposit_fen: int,
    created_by: int | None,
    now: datetime,
) -> int:
    session_id: int = await conn.fetchval(
        "INSERT INTO quota_sessions (title, config, deposit_fen, created_by, created_at) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
        title,
        config,
        deposit_fen,
        created_by,
        now,
    )
    return session_id


async def set_config(conn: asyncpg.Connection, session_id: int, config: dict[str, Any]) -> None:
    await conn.execute("UPDATE quota_sessions SET config = $2 WHERE id = $1", session_id, config)


async def get_session(conn: asyncpg.Connection, session_id: int, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM quota_sessions WHERE id = $1" + (" FOR UPDATE" if lock else ""), session_id
    )


async def list_sessions(conn: asyncpg.Connection, *, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, title, config, deposit_fen, created_at, closed_at, settled_at FROM quota_sessions "
        "ORDER BY id DESC LIMIT $1",
        limit,
    )


async def upsert_applicant(conn: asyncpg.Connection, session_id: int, org_id: int, now: datetime) -> asyncpg.Record:
    await conn.execute(
        "INSERT INTO quota_bidders (session_id, org_id, applied_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (session_id, org_id) DO NOTHING",
        session_id,
        org_id,
        now,
    )
    row: asyncpg.Record = await conn.fetchrow(
        "SELECT * FROM quota_bidders WHERE session_id = $1 AND org_id = $2 FOR UPDATE", session_id, org_id
    )
    return row


async def get_applicant(conn: asyncpg.Connection, session_id: int, org_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM quota_bidders WHERE session_id = $1 AND org_id = $2", session_id, org_id
    )


async def waiting_applicants(
    conn: asyncpg.Connection, session_id: int, *, after_org_id: int, limit: int
) -> list[int]:
    rows = await conn.fetch(
        "SELECT org_id FROM quota_bidders WHERE session_id = $1 AND paddle IS NULL AND org_id > $2 "
        "ORDER BY org_id LIMIT $3",
        session_id,
        after_org_id,
        limit,
    )
    return [r["org_id"] for r in rows]


async def set_paddles(
    conn: asyncpg.Connection, session_id: int, paddles: Sequence[tuple[int, str]], now: datetime
) -> list[tuple[int, str]]:
    """Give each (org id, paddle) not yet admitted its paddle; those whose paddle was taken
    already (a collision) are left out of the answer, to be drawn again."""
    if not paddles:
        return []
    rows = await conn.fetch(
        """
        UPDATE quota_bidders b SET paddle = u.p, admitted_at = $4
        FROM unnest($2::bigint[], $3::text[]) AS u(o, p)
        WHERE b.session_id = $1 AND b.org_id = u.o AND b.paddle IS NULL
          AND NOT EXISTS (SELECT 1 FROM quota_bidders x WHERE x.session_id = $1 AND x.paddle = u.p)
        RETURNING b.org_id, b.paddle
        """,
        session_id,
        [o for o, _ in paddles],
        [p for _, p in paddles],
        now,
    )
    return [(r["org_id"], r["paddle"]) for r in rows]


async def paddle_of(conn: asyncpg.Connection, session_id: int, org_id: int) -> str | None:
    paddle: str | None = await conn.fetchval(
        "SELECT paddle FROM quota_bidders WHERE session_id = $1 AND org_id = $2", session_id, org_id
    )
    return paddle


async def org_by_paddle(conn: asyncpg.Connection, session_id: int, paddles: Sequence[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT paddle, org_id FROM quota_bidders WHERE session_id = $1 AND paddle = ANY($2::text[])",
        session_id,
        list(paddles),
    )
    return {r["paddle"]: r["org_id"] for r in rows}


async def counts(conn: asyncpg.Connection, session_id: int) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT count(*) AS applied, count(paddle) AS admitted, count(settlement) AS settled "
        "FROM quota_bidders WHERE session_id = $1",
        session_id,
    )
    return dict(row)


async def live_session_ids(conn: asyncpg.Connection) -> list[int]:
    """The sessions without a result yet (to rebuild, or to take over)."""
    rows = await conn.fetch("SELECT id FROM quota_sessions WHERE result IS NULL ORDER BY id")
    return [r["id"] for r in rows]


async def record_result(
    conn: asyncpg.Connection, session_id: int, result: dict[str, Any], closed_at: datetime
) -> bool:
    """Write the result once; False if it was there already."""
    status = await conn.execute(
        "UPDATE quota_sessions SET result = $2, closed_at = $3 WHERE id = $1 AND result IS NULL",
        session_id,
        result,
        closed_at,
    )
    return status != "UPDATE 0"


async def events(conn: asyncpg.Connection, session_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT data FROM quota_events WHERE session_id = $1 ORDER BY seq", session_id)
    return [r["data"] for r in rows]


async def settle_chunk(
    conn: asyncpg.Connection, session_id: int, *, after_org_id: int, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT org_id, paddle, settlement FROM quota_bidders WHERE session_id = $1 AND org_id > $2 "
        "ORDER BY org_id LIMIT $3",
        session_id,
        after_org_id,
        limit,
    )


async def mark_settled(
    conn: asyncpg.Connection, session_id: int, outcomes: Sequence[tuple[int, str]]
) -> None:
    if outcomes:
        await conn.execute(
            "UPDATE quota_bidders b SET settlement = u.s FROM unnest($2::bigint[], $3::text[]) AS u(o, s) "
            "WHERE b.session_id = $1 AND b.org_id = u.o",
            session_id,
            [o for o, _ in outcomes],
            [s for _, s in outcomes],
        )


async def advance_cursor(
    conn: asyncpg.Connection, session_id: int, cursor: int, settled_at: datetime | None
) -> None:
    await conn.execute(
        "UPDATE quota_sessions SET settle_cursor = $2, settled_at = $3 WHERE id = $1",
        session_id,
        cursor,
        settled_at,
    )
