"""Every SQL statement of the auction package (asyncpg, ``$n`` parameters).

``PgLogStore`` is the engine's store (``auction.engine.LogStore``): a dedicated connection
for the group-commit writer, which also holds the session-level advisory lock of every lot
this process owns (``LOT_LOCK_CLASS``, lot id — several processes share one database, each
lot owned by one of them; ``auction.ownership``), and the pool for reads. Each flush
notifies ``sunlit_auction_log`` with the (lot, seq) it reached, in the same statement: the
other processes read the new events from the log and fan them out to their own watchers.
The node registry (``auction_nodes``) and the owner lookup (pg_locks) are here too. The
other functions serve ``auction.service``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from auction.engine import LoadedLot, LogRow, RefusalRow
from auction.errors import EngineUnavailable
from auction.model import Event, config_from_dict, event_from_dict
from trading.db import connect

log = logging.getLogger("sunlit.auction.store")

LOT_LOCK_CLASS = 0x4C4F_5453  # "LOTS": pg_advisory_lock(LOT_LOCK_CLASS, lot id)
LOG_CHANNEL = "sunlit_auction_log"
"""NOTIFY channel of the lots' commits: payload ``lot:seq,lot:seq,…`` (each lot's newest seq)."""
NOTIFY_PAYLOAD_MAX = 7900
"""PostgreSQL refuses a NOTIFY payload of 8000 bytes or more."""

WRITER_SETTINGS = {
    # The server notices a vanished client machine (power loss, a cable) by TCP keepalives:
    # after about idle + interval x count seconds its session ends and its locks are free.
    # A killed process on a live machine closes its socket at once. (Ignored on Unix sockets.)
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "application_name": "sunlit-auction-writer",
}


async def writer_connection(dsn: str) -> asyncpg.Connection:
    """A connection of its own for a writer that holds ownership locks (``WRITER_SETTINGS``)."""
    conn = await connect(dsn)
    try:
        await conn.execute(
            "SELECT " + ", ".join(f"set_config('{k}', '{v}', false)" for k, v in WRITER_SETTINGS.items())
        )
    except BaseException:
        await conn.close()
        raise
    return conn


def notify_payloads(reached: dict[int, int]) -> list[str]:
    """``lot:seq`` pairs, comma-separated, each payload under ``NOTIFY_PAYLOAD_MAX`` bytes."""
    out: list[str] = []
    part: list[str] = []
    size = 0
    for lot_id, seq in reached.items():
        item = f"{lot_id}:{seq}"
        if part and size + len(item) + 1 > NOTIFY_PAYLOAD_MAX:
            out.append(",".join(part))
            part, size = [], 0
        part.append(item)
        size += len(item) + 1
    if part:
        out.append(",".join(part))
    return out


def parse_log_payload(payload: str) -> dict[int, int]:
    """Inverse of ``notify_payloads`` for one payload; anything malformed is skipped."""
    reached: dict[int, int] = {}
    for item in payload.split(","):
        lot, _, seq = item.partition(":")
        if lot.isdigit() and seq.isdigit():
            reached[int(lot)] = max(reached.get(int(lot), 0), int(seq))
    return reached


# The rows go as one JSON text, an array of [lot, seq, at, type, public, paddle, bid_id,
# data] arrays (``rows_json``): asyncpg's part is one text, not eight arrays of 80-odd
# elements each (≈ 1.6 against 4 µs of the server's CPU a row; PostgreSQL's the same).
# ``::text::jsonb``: the text as it is, not through the connection's jsonb codec.
_INSERT_ROWS = """
INSERT INTO auction_events (lot_id, seq, at, type, public, paddle, bid_id, data)
SELECT (r->>0)::bigint, (r->>1)::int, (r->>2)::timestamptz, r->>3, (r->>4)::bool, r->>5, r->>6, r->7
FROM jsonb_array_elements($1::text::jsonb) AS r
"""

# A flush is one statement: the rows, the refusals if any (data-modifying CTEs run once,
# whether or not the outer query reads them), and the NOTIFY of the (lot, seq) reached,
# delivered to the other processes when — and only if — the flush commits.
_INSERT_ROWS_NOTIFY = (
    "WITH logged AS (" + _INSERT_ROWS + ") SELECT pg_notify('" + LOG_CHANNEL + "', p) "
    "FROM unnest($2::text[]) AS p"
)

_INSERT_ROWS_AND_REFUSALS = """
WITH refused AS (
    INSERT INTO auction_refusals (lot_id, paddle, bid_id, amount_fen, at, code, answer)
    SELECT l, pd, b, amt, a, c, d::jsonb
    FROM unnest($3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::timestamptz[], $8::text[], $9::text[])
         AS r(l, pd, b, amt, a, c, d)
    ON CONFLICT (lot_id, paddle, bid_id) DO NOTHING
), logged AS (""" + _INSERT_ROWS + ") SELECT pg_notify('" + LOG_CHANNEL + "', p) FROM unnest($2::text[]) AS p"


def rows_json(rows: Sequence[LogRow]) -> str:
    """The flush's rows as one JSON text (``_INSERT_ROWS``): each row an array, its data
    (already JSON) set in as it is."""
    fragment = orjson.Fragment
    return orjson.dumps(
        [(lot, seq, at, kind, public, paddle, bid_id, fragment(data))
         for lot, seq, at, kind, public, paddle, bid_id, data in rows]
    ).decode()  # fmt: skip


async def _try_locks(conn: asyncpg.Connection, lot_ids: Sequence[int]) -> list[int]:
    rows = await conn.fetch(
        "SELECT i FROM unnest($2::int[]) AS i WHERE pg_try_advisory_lock($1, i)",
        LOT_LOCK_CLASS,
        list(lot_ids),
    )
    return [r["i"] for r in rows]


# -- the node registry -----------------------------------------------------------------------------


async def register_node(conn: asyncpg.Connection, node_id: str, now: datetime) -> None:
    """Add this process to the registry (and forget nodes silent for a day)."""
    await conn.execute("DELETE FROM auction_nodes WHERE beat_at < $1::timestamptz - interval '1 day'", now)
    await conn.execute(
        "INSERT INTO auction_nodes (node_id, host, os_pid, started_at, beat_at) "
        "VALUES ($1, $2, $3, $4, $4)",
        node_id,
        socket.gethostname()[:200],
        os.getpid(),
        now,
    )


async def register_backend(conn: asyncpg.Connection, node_id: str) -> None:
    """Name this connection's backend as one of the node's writers (it will hold locks).
    A backend pid is reused by PostgreSQL once free: older rows naming it let go of it."""
    await conn.execute(
        "UPDATE auction_nodes SET backend_pids = array_remove(backend_pids, pg_backend_pid()) "
        "WHERE pg_backend_pid() = ANY (backend_pids) AND node_id <> $1",
        node_id,
    )
    await conn.execute(
        "UPDATE auction_nodes SET backend_pids = array_append(array_remove(backend_pids, "
        "pg_backend_pid()), pg_backend_pid()) WHERE node_id = $1",
        node_id,
    )


async def lock_holder(conn: asyncpg.Connection, lock_class: int, key: int) -> str | None:
    """The node whose backend holds the advisory lock (``lock_class``, ``key``), if any."""
    node: str | None = await conn.fetchval(
        "SELECT n.node_id FROM pg_locks l JOIN auction_nodes n ON l.pid = ANY (n.backend_pids) "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid "
        "AND l.objid = $2::bigint::oid AND l.objsubid = 2 ORDER BY n.started_at DESC LIMIT 1",
        lock_class,
        key,
    )
    return node


async def lock_holders(conn: asyncpg.Connection, lock_class: int) -> dict[int, str]:
    """Every key of ``lock_class`` whose advisory lock is held, and the node holding it: one
    read of pg_locks (which costs what ``lock_holder`` costs) for every lot at once."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (l.objid) l.objid::bigint AS key, n.node_id FROM pg_locks l "
        "JOIN auction_nodes n ON l.pid = ANY (n.backend_pids) "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid "
        "AND l.objsubid = 2 ORDER BY l.objid, n.started_at DESC",
        lock_class,
    )
    return {r["key"]: r["node_id"] for r in rows}


async def beat_node(conn: asyncpg.Connection, node_id: str, at: datetime) -> None:
    await conn.execute("UPDATE auction_nodes SET beat_at = $2 WHERE node_id = $1", node_id, at)


async def live_peers(conn: asyncpg.Connection, node_id: str) -> list[str]:
    """Other nodes with a writer connection open now (pg_stat_activity: the server's own view
    of who is connected)."""
    rows = await conn.fetch(
        "SELECT n.node_id FROM auction_nodes n WHERE n.node_id <> $1 AND EXISTS "
        "(SELECT 1 FROM pg_stat_activity a WHERE a.pid = ANY (n.backend_pids) "
        " AND a.application_name = $2) ORDER BY n.node_id",
        node_id,
        WRITER_SETTINGS["application_name"],
    )
    return [r["node_id"] for r in rows]


async def drop_node(conn: asyncpg.Connection, node_id: str) -> None:
    await conn.execute("DELETE FROM auction_nodes WHERE node_id = $1", node_id)


async def nodes(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every registered node, with whether it is connected now and how many lots it owns."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT n.node_id, n.host, n.os_pid, n.started_at, n.beat_at, "
        "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = ANY (n.backend_pids)) AS connected, "
        "(SELECT count(*) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
        " AND l.classid = $1::bigint::oid AND l.objsubid = 2 AND l.pid = ANY (n.backend_pids)) AS lots "
        "FROM auction_nodes n ORDER BY n.started_at",
        LOT_LOCK_CLASS,
    )
    return rows


_REFUSAL_COLUMNS = "lot_id, paddle, bid_id, amount_fen, at, code, answer::text"


class PgLogStore:
    """The engine's store on PostgreSQL. ``node_id`` names this process in ``auction_nodes``
    (``auction.ownership.Cluster``); without one the store still takes each lot's lock (a
    second engine on the same database owns none of the lots the first one holds)."""

    def __init__(self, dsn: str, pool: asyncpg.Pool, *, node_id: str | None = None) -> None:
        self._dsn = dsn
        self._pool = pool
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        """One statement at a time on the writer's connection (a flush, a claim)."""
        self.node_id = node_id
        self._owned: set[int] = set()
        self.lost: set[int] = set()
        """Lots whose lock a reconnecting writer found taken by another process (the engine
        demotes them to followers)."""

    async def open(self) -> None:
        async with self._lock:
            await self._writer()

    async def _writer(self) -> asyncpg.Connection:
        """The writer's connection; a new one takes back the lock of every lot owned (the
        old connection's locks ended with it) and names its backend in the node registry."""
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        conn = await writer_connection(self._dsn)
        try:
            if self.node_id is not None:
                await register_backend(conn, self.node_id)
            if self._owned:
                got = set(await _try_locks(conn, sorted(self._owned)))
                self.lost |= self._owned - got
                self._owned = got
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return conn

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
        self._conn = None
        self._owned.clear()

    def owns(self, lot_id: int) -> bool:
        return lot_id in self._owned

    def owned(self) -> set[int]:
        return set(self._owned)

    async def claim(self, lot_ids: Iterable[int]) -> list[int]:
        """Take the lock of each lot not yet owned that no other process holds; the lots
        now owned among ``lot_ids`` (those already owned included)."""
        wanted = [i for i in dict.fromkeys(lot_ids) if 0 < i < 2**31]
        fresh = [i for i in wanted if i not in self._owned]
        if fresh:
            async with self._lock:
                got = await _try_locks(await self._writer(), fresh)
            self._owned.update(got)
            self.lost.difference_update(got)
        return [i for i in wanted if i in self._owned]

    async def release(self, lot_id: int) -> None:
        """Let go of a lot (settled: nothing more to own)."""
        if lot_id not in self._owned:
            return
        self._owned.discard(lot_id)
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                await self._conn.execute(
                    "SELECT pg_advisory_unlock($1, $2::int)", LOT_LOCK_CLASS, lot_id
                )

    async def owner_of(self, lot_id: int) -> str | None:
        """The node holding the lot's lock now (None: nobody — the lot is free to take)."""
        async with self._pool.acquire() as conn:
            return await lock_holder(conn, LOT_LOCK_CLASS, lot_id)

    async def owners(self) -> dict[int, str]:
        """Every lot whose lock is held now, and the node holding it."""
        async with self._pool.acquire() as conn:
            return await lock_holders(conn, LOT_LOCK_CLASS)

    async def append(self, rows: Sequence[LogRow], refusals: Sequence[RefusalRow] = ()) -> None:
        reached: dict[int, int] = {}
        for row in rows:
            reached[row[0]] = max(reached.get(row[0], 0), row[1])
        payloads = notify_payloads(reached)
        logged = rows_json(rows)
        async with self._lock:
            conn = await self._writer()  # a new connection takes the locks back first
            stray = reached.keys() - self._owned
            if stray:  # fencing: a lot whose lock this process does not hold is not written
                raise EngineUnavailable(f"lots {sorted(stray)[:5]} are owned by another process")
            if not refusals:
                await conn.execute(_INSERT_ROWS_NOTIFY, logged, payloads)
                return
            refusal_columns = list(zip(*refusals, strict=True))
            await conn.execute(_INSERT_ROWS_AND_REFUSALS, logged, payloads, *refusal_columns)

    async def peers_alive(self) -> bool:
        """Another process's writer is connected now (the platform did not go down)."""
        if self.node_id is None:
            return False
        async with self._pool.acquire() as conn:
            return bool(await live_peers(conn, self.node_id))

    async def live_lot_ids(self) -> list[int]:
        """Unsettled lots with a log (something to own: a timer, bidders); a lot without
        events is loaded, and claimed, on first use."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id FROM auction_lots l WHERE settled_at IS NULL "
                "AND EXISTS (SELECT 1 FROM auction_events e WHERE e.lot_id = l.id) ORDER BY id"
            )
        return [r["id"] for r in rows]

    async def events_after(self, lot_id: int, after_seq: int) -> list[Event]:
        """Every event of the lot's log after ``after_seq``, in order (a follower catching up)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT data FROM auction_events WHERE lot_id = $1 AND seq > $2 ORDER BY seq",
                lot_id,
                after_seq,
            )
        return [event_from_dict(r["data"]) for r in rows]

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
            if self.node_id is not None:
                await beat_node(conn, self.node_id, at)
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


async def paddle_org(conn: asyncpg.Connection, scope: str, paddle: str) -> int | None:
    """The organisation holding ``paddle`` in ``scope`` (one row, by its unique key)."""
    org: int | None = await conn.fetchval(
        "SELECT org_id FROM auction_paddles WHERE scope = $1 AND paddle = $2", scope, paddle
    )
    return org


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


async def insert_lottery_seed(
    conn: asyncpg.Connection,
    lot_id: int,
    *,
    commitment: str,
    sealed_box: bytes,
    key_id: str,
    now: datetime,
) -> str:
    """Store a lot's sealed lottery seed unless it has one; the commitment that counts."""
    await conn.execute(
        "INSERT INTO auction_lottery_seeds (lot_id, commitment, sealed_box, key_id, created_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (lot_id) DO NOTHING",
        lot_id,
        commitment,
        sealed_box,
        key_id,
        now,
    )
    stored: str = await conn.fetchval(
        "SELECT commitment FROM auction_lottery_seeds WHERE lot_id = $1", lot_id
    )
    return stored


async def get_lottery_seed(conn: asyncpg.Connection, lot_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM auction_lottery_seeds WHERE lot_id = $1", lot_id
    )
    return row


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
