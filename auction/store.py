"""Every SQL statement of the auction package (asyncpg, ``$n`` parameters).

``PgLogStore`` is the engine's store (``auction.engine.LogStore``): a dedicated connection
for the group-commit writer, holding the engine lock (a session advisory lock: one engine
per database; the lot-by-lot lock of a multi-process deployment would take its place),
and the pool for reads. The other functions serve ``auction.service``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from auction.engine import LoadedLot, LogRow, RefusalRow
from auction.errors import EngineUnavailable
from auction.model import config_from_dict, event_from_dict
from trading.db import connect

log = logging.getLogger("sunlit.auction.store")

ENGINE_LOCK_KEY = 0x4155_4354  # "AUCT"

_INSERT_ROWS = """
INSERT INTO auction_events (lot_id, seq, at, type, public, paddle, bid_id, data)
SELECT l, s, a, t, p, pd, b, d::jsonb
FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::text[], $5::bool[], $6::text[], $7::text[], $8::text[])
     AS u(l, s, a, t, p, pd, b, d)
"""

# A flush that carries refusals writes them in the same statement (one round trip, one
# atomic commit): a data-modifying CTE. A flush without refusals uses _INSERT_ROWS as before.
_INSERT_ROWS_AND_REFUSALS = """
WITH refused AS (
    INSERT INTO auction_refusals (lot_id, paddle, bid_id, amount_fen, at, code, answer)
    SELECT l, pd, b, amt, a, c, d::jsonb
    FROM unnest($9::bigint[], $10::text[], $11::text[], $12::bigint[], $13::timestamptz[], $14::text[], $15::text[])
         AS r(l, pd, b, amt, a, c, d)
    ON CONFLICT (lot_id, paddle, bid_id) DO NOTHING
)
""" + _INSERT_ROWS

_REFUSAL_COLUMNS = "lot_id, paddle, bid_id, amount_fen, at, code, answer::text"


class PgLogStore:
    """The engine's store on PostgreSQL."""

    def __init__(self, dsn: str, pool: asyncpg.Pool, *, lock_wait_s: float = 30.0) -> None:
        self._dsn = dsn
        self._pool = pool
        self._conn: asyncpg.Connection | None = None
        self._lock_wait_s = lock_wait_s

    async def open(self) -> None:
        self._conn = await self._writer_connection()

    async def _writer_connection(self) -> asyncpg.Connection:
        """A connection of its own holding the engine lock; waits a bounded time for a
        previous owner (a crashed process's session ends when its socket closes)."""
        conn = await connect(self._dsn)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_wait_s
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", ENGINE_LOCK_KEY):
            if loop.time() > deadline:
                await conn.close()
                raise EngineUnavailable("another auction engine holds this database")
            await asyncio.sleep(0.2)
        return conn

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
        self._conn = None

    async def append(self, rows: Sequence[LogRow], refusals: Sequence[RefusalRow] = ()) -> None:
        if self._conn is None or self._conn.is_closed():
            self._conn = await self._writer_connection()
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in range(8)]
        if not refusals:
            await self._conn.execute(_INSERT_ROWS, *columns)
            return
        refusal_columns = list(zip(*refusals, strict=True))
        await self._conn.execute(_INSERT_ROWS_AND_REFUSALS, *columns, *refusal_columns)

    async def unsettled_lot_ids(self) -> list[int]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id FROM auction_lots WHERE settled_at IS NULL ORDER BY id"
            )
        return [r["id"] for r in rows]

    async def load_lot(self, lot_id: int, *, refusals_max: int = 50_000) -> LoadedLot | None:
        async with self._pool.acquire() as conn:
            lot = await conn.fetchrow(
                "SELECT id, title, config FROM auction_lots WHERE id = $1", lot_id
            )
            if lot is None:
                return None
            rows = await conn.fetch(
                "SELECT data FROM auction_events WHERE lot_id = $1 ORDER BY seq", lot_id
            )
            refused = await conn.fetch(
                f"SELECT {_REFUSAL_COLUMNS} FROM auction_refusals WHERE lot_id = $1 "
                "ORDER BY at DESC, paddle DESC, bid_id DESC LIMIT $2",
                lot_id,
                refusals_max + 1,
            )
        return LoadedLot(
            lot_id=lot_id,
            title=lot["title"],
            config=config_from_dict(lot["config"]),
            events=[event_from_dict(r["data"]) for r in rows],
            refusals=[tuple(r) for r in reversed(refused)],  # type: ignore[misc]
        )

    async def refusal_of(self, lot_id: int, paddle: str, bid_id: str) -> RefusalRow | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_REFUSAL_COLUMNS} FROM auction_refusals "
                "WHERE lot_id = $1 AND paddle = $2 AND bid_id = $3",
                lot_id,
                paddle,
                bid_id,
            )
        return None if row is None else tuple(row)  # type: ignore[return-value]

    async def load_scope(self, scope: str) -> dict[int, str]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT org_id, paddle FROM auction_paddles WHERE scope = $1", scope
            )
        return {r["org_id"]: r["paddle"] for r in rows}

    async def paddle_of(self, scope: str, org_id: int) -> str | None:
        async with self._pool.acquire() as conn:
            paddle: str | None = await conn.fetchval(
                "SELECT paddle FROM auction_paddles WHERE scope = $1 AND org_id = $2", scope, org_id
            )
        return paddle

    async def public_events(
        self, lot_id: int, after_seq: int, upto_seq: int
    ) -> list[tuple[int, dict[str, Any]]]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT seq, data FROM auction_events WHERE lot_id = $1 AND seq > $2 AND seq <= $3 "
                "AND public ORDER BY seq",
                lot_id,
                after_seq,
                upto_seq,
            )
        return [(r["seq"], r["data"]) for r in rows]

    async def heartbeat(self, at: datetime) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO auction_engine (id, beat_at) VALUES (1, $1) "
                "ON CONFLICT (id) DO UPDATE SET beat_at = greatest(auction_engine.beat_at, $1)",
                at,
            )

    async def last_heartbeat(self) -> datetime | None:
        async with self._pool.acquire() as conn:
            beat: datetime | None = await conn.fetchval(
                "SELECT beat_at FROM auction_engine WHERE id = 1"
            )
        return beat


# -- lots and sessions ---------------------------------------------------------------------------

_LOT_COLUMNS = (
    "id, session_id, kind, title, description, config, status, created_by, created_at, scheduled_at, "
    "outcome, basis, winner_paddle, winner_org_id, price_fen, reserve_fen, closed_at, settled_at"
)


async def insert_session(
    conn: asyncpg.Connection,
    *,
    title: str,
    starts_at: datetime,
    countdown_s: int,
    created_by: int | None,
    now: datetime,
) -> int:
    session_id: int = await conn.fetchval(
        "INSERT INTO auction_sessions (title, starts_at, countdown_s, created_by, created_at) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
        title,
        starts_at,
        countdown_s,
        created_by,
        now,
    )
    return session_id


async def next_lot_ids(conn: asyncpg.Connection, count: int) -> list[int]:
    """Reserve lot ids first: a lot's configuration names its own id."""
    rows = await conn.fetch(
        "SELECT nextval(pg_get_serial_sequence('auction_lots', 'id')) AS id FROM generate_series(1, $1)",
        count,
    )
    return [r["id"] for r in rows]


async def insert_lots(
    conn: asyncpg.Connection, lots: Sequence[dict[str, Any]], *, now: datetime
) -> None:
    """Rows with id, session_id, kind, title, description, config (dict), created_by."""
    await conn.executemany(
        "INSERT INTO auction_lots (id, session_id, kind, title, description, config, created_by, created_at) "
        "OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (
                x["id"],
                x["session_id"],
                x["kind"],
                x["title"],
                x["description"],
                x["config"],
                x["created_by"],
                now,
            )
            for x in lots
        ],
    )


async def get_lot(conn: asyncpg.Connection, lot_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_LOT_COLUMNS} FROM auction_lots WHERE id = $1", lot_id
    )
    return row


async def lock_lot(conn: asyncpg.Connection, lot_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_LOT_COLUMNS} FROM auction_lots WHERE id = $1 FOR UPDATE", lot_id
    )
    return row


async def list_lots(
    conn: asyncpg.Connection,
    *,
    kind: str | None,
    session_id: int | None,
    closed: bool | None,
    after_id: int,
    limit: int,
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {_LOT_COLUMNS} FROM auction_lots WHERE ($1::text IS NULL OR kind = $1) "
        "AND ($2::bigint IS NULL OR session_id = $2) "
        "AND ($3::bool IS NULL OR (status = 'closed') = $3) AND id > $4 ORDER BY id LIMIT $5",
        kind,
        session_id,
        closed,
        after_id,
        limit,
    )
    return rows


async def session_lot_ids(conn: asyncpg.Connection, session_id: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT id FROM auction_lots WHERE session_id = $1 ORDER BY id", session_id
    )
    return [r["id"] for r in rows]


async def get_session(conn: asyncpg.Connection, session_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM auction_sessions WHERE id = $1", session_id
    )
    return row


async def lock_session(conn: asyncpg.Connection, session_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM auction_sessions WHERE id = $1 FOR UPDATE", session_id
    )
    return row


async def mark_scheduled_lots(
    conn: asyncpg.Connection, lot_ids: Sequence[int], now: datetime
) -> None:
    await conn.execute(
        "UPDATE auction_lots SET status = 'scheduled', scheduled_at = $2 WHERE id = ANY($1::bigint[]) AND status = 'draft'",
        list(lot_ids),
        now,
    )


async def mark_scheduled_session(conn: asyncpg.Connection, session_id: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE auction_sessions SET status = 'scheduled', scheduled_at = $2 WHERE id = $1",
        session_id,
        now,
    )


async def settle_lot(
    conn: asyncpg.Connection,
    lot_id: int,
    *,
    outcome: str,
    basis: str,
    winner_paddle: str | None,
    winner_org_id: int | None,
    price_fen: int | None,
    reserve_fen: int | None,
    closed_at: datetime,
    now: datetime,
) -> bool:
    """Write the result once; False when it was already written."""
    status = await conn.execute(
        "UPDATE auction_lots SET status = 'closed', outcome = $2, basis = $3, winner_paddle = $4, "
        "winner_org_id = $5, price_fen = $6, reserve_fen = $7, closed_at = $8, settled_at = $9 "
        "WHERE id = $1 AND settled_at IS NULL",
        lot_id,
        outcome,
        basis,
        winner_paddle,
        winner_org_id,
        price_fen,
        reserve_fen,
        closed_at,
        now,
    )
    return status != "UPDATE 0"


# -- the log, read ------------------------------------------------------------------------------


async def events_page(
    conn: asyncpg.Connection, lot_id: int, *, after_seq: int, limit: int, public_only: bool
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT seq, at, type, public, data FROM auction_events WHERE lot_id = $1 AND seq > $2 "
        "AND (public OR NOT $3) ORDER BY seq LIMIT $4",
        lot_id,
        after_seq,
        public_only,
        limit,
    )
    return rows


async def accepted_bids(conn: asyncpg.Connection, lot_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT seq, at, paddle, (data->>'amount_fen')::bigint AS amount_fen FROM auction_events "
        "WHERE lot_id = $1 AND type = 'bid_accepted' ORDER BY seq",
        lot_id,
    )
    return rows


async def log_counts(conn: asyncpg.Connection, lot_ids: Sequence[int]) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT lot_id, max(seq) AS seq FROM auction_events WHERE lot_id = ANY($1::bigint[]) GROUP BY lot_id",
        list(lot_ids),
    )
    return {r["lot_id"]: r["seq"] for r in rows}


# -- paddles --------------------------------------------------------------------------------------


async def scope_paddles(conn: asyncpg.Connection, scope: str) -> dict[int, str]:
    rows = await conn.fetch("SELECT org_id, paddle FROM auction_paddles WHERE scope = $1", scope)
    return {r["org_id"]: r["paddle"] for r in rows}


async def insert_paddles(
    conn: asyncpg.Connection,
    scope: str,
    pairs: Sequence[tuple[int, str]],
    *,
    admitted_by: int | None,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO auction_paddles (scope, org_id, paddle, admitted_at, admitted_by) "
        "SELECT $1, o, p, $4, $5 FROM unnest($2::bigint[], $3::text[]) AS u(o, p)",
        scope,
        [o for o, _ in pairs],
        [p for _, p in pairs],
        now,
        admitted_by,
    )


async def lock_scope(conn: asyncpg.Connection, scope: str) -> None:
    """Admissions to one scope one at a time (paddles are drawn against those taken)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('auction_paddles:' || $1))", scope)


async def paddle_holders(conn: asyncpg.Connection, scope: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT p.paddle, p.org_id, o.name, o.credit_code, p.admitted_at FROM auction_paddles p "
        "JOIN organisations o ON o.id = p.org_id WHERE p.scope = $1 ORDER BY p.paddle",
        scope,
    )
    return rows


async def org_paddles(conn: asyncpg.Connection, org_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT scope, paddle, admitted_at FROM auction_paddles WHERE org_id = $1 ORDER BY admitted_at",
        org_id,
    )
    return rows


async def organisations(
    conn: asyncpg.Connection, org_ids: Sequence[int]
) -> dict[int, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT id, name, kind, credit_code, platform_affiliate FROM organisations WHERE id = ANY($1::bigint[])",
        list(org_ids),
    )
    return {r["id"]: r for r in rows}


# -- reserves -------------------------------------------------------------------------------------


async def insert_reserve(
    conn: asyncpg.Connection,
    *,
    lot_id: int,
    commitment: str,
    sealed_box: bytes,
    key_id: str,
    entered_by: int | None,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO auction_reserves (lot_id, commitment, sealed_box, key_id, entered_by, entered_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        lot_id,
        commitment,
        sealed_box,
        key_id,
        entered_by,
        now,
    )


async def get_reserve(
    conn: asyncpg.Connection, lot_id: int, commitment: str
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM auction_reserves WHERE lot_id = $1 AND commitment = $2", lot_id, commitment
    )
    return row


async def mark_reserve_revealed(
    conn: asyncpg.Connection,
    lot_id: int,
    commitment: str,
    *,
    reserve_fen: int,
    salt: bytes,
    now: datetime,
) -> None:
    await conn.execute(
        "UPDATE auction_reserves SET revealed_at = $3, revealed_fen = $4, revealed_salt = $5 "
        "WHERE lot_id = $1 AND commitment = $2 AND revealed_at IS NULL",
        lot_id,
        commitment,
        now,
        reserve_fen,
        salt,
    )


async def revealed_reserve(conn: asyncpg.Connection, lot_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT commitment, revealed_fen, revealed_salt, revealed_at, entered_at FROM auction_reserves "
        "WHERE lot_id = $1 AND revealed_at IS NOT NULL",
        lot_id,
    )
    return row


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
