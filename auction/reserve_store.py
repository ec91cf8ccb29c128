"""SQL of a reserve held by custodians (``auction_reserve_custody``, ``..._custodians``;
migration 0007). The sealed reserve itself stays in ``auction_reserves`` (``auction.store``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from auction.reserve import SealedShare

__all__ = [
    "custodian_of",
    "custody_of_user",
    "custodians",
    "get_custody",
    "insert_custody",
    "mark_notified",
    "publish_opened_key",
    "record_hand_in",
    "stored_shares",
    "wipe_shares",
]


async def insert_custody(
    conn: asyncpg.Connection,
    *,
    lot_id: int,
    commitment: str,
    public_key: bytes,
    key_id: str,
    threshold_k: int,
    digest: str,
    shares: Sequence[tuple[int, SealedShare]],
) -> None:
    """The custody of one sealed reserve; ``shares`` are ``(user id, sealed share)``."""
    await conn.execute(
        "INSERT INTO auction_reserve_custody (lot_id, commitment, public_key, key_id, threshold_k, "
        "custodian_count, custody_digest) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        lot_id,
        commitment,
        public_key,
        key_id,
        threshold_k,
        len(shares),
        digest,
    )
    await conn.executemany(
        "INSERT INTO auction_reserve_custodians (lot_id, commitment, position, user_id, "
        "custodian_key_id, custodian_public_key, sealed_share, share_commitment) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (
                lot_id,
                commitment,
                s.position,
                user_id,
                s.custodian_key_id,
                s.custodian_public_key,
                s.sealed_share,
                s.share_commitment,
            )
            for user_id, s in shares
        ],
    )


async def get_custody(
    conn: asyncpg.Connection, lot_id: int, commitment: str, *, lock: bool = False
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM auction_reserve_custody WHERE lot_id = $1 AND commitment = $2"
        + (" FOR UPDATE" if lock else ""),
        lot_id,
        commitment,
    )
    return row


async def custodians(
    conn: asyncpg.Connection, lot_id: int, commitment: str
) -> list[asyncpg.Record]:
    """Each custodian with its username, by position (the share itself is not selected)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT c.position, c.user_id, u.username, c.custodian_key_id, c.share_commitment, "
        "c.handed_in_at FROM auction_reserve_custodians c JOIN users u ON u.id = c.user_id "
        "WHERE c.lot_id = $1 AND c.commitment = $2 ORDER BY c.position",
        lot_id,
        commitment,
    )
    return rows


async def custodian_of(
    conn: asyncpg.Connection, lot_id: int, commitment: str, user_id: int
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM auction_reserve_custodians WHERE lot_id = $1 AND commitment = $2 "
        "AND user_id = $3",
        lot_id,
        commitment,
        user_id,
    )
    return row


async def stored_shares(conn: asyncpg.Connection, lot_id: int, commitment: str) -> list[str]:
    """The shares handed in and written so far (at most k − 1)."""
    rows = await conn.fetch(
        "SELECT share FROM auction_reserve_custodians WHERE lot_id = $1 AND commitment = $2 "
        "AND handed_in_at IS NOT NULL AND share IS NOT NULL ORDER BY position",
        lot_id,
        commitment,
    )
    return [r["share"] for r in rows]


async def record_hand_in(
    conn: asyncpg.Connection,
    lot_id: int,
    commitment: str,
    position: int,
    *,
    share: str | None,
    now: datetime,
) -> None:
    """A custodian's hand-in; ``share`` None for the k-th, which is never written."""
    await conn.execute(
        "UPDATE auction_reserve_custodians SET handed_in_at = $4, share = $5 "
        "WHERE lot_id = $1 AND commitment = $2 AND position = $3 AND handed_in_at IS NULL",
        lot_id,
        commitment,
        position,
        now,
        share,
    )


async def wipe_shares(conn: asyncpg.Connection, lot_id: int, commitment: str) -> None:
    await conn.execute(
        "UPDATE auction_reserve_custodians SET share = NULL WHERE lot_id = $1 AND commitment = $2",
        lot_id,
        commitment,
    )


async def publish_opened_key(
    conn: asyncpg.Connection, lot_id: int, commitment: str, *, private: bytes, now: datetime
) -> None:
    """The rebuilt key, once the reserve it sealed is revealed (it hides nothing more)."""
    await conn.execute(
        "UPDATE auction_reserve_custody SET opened_key = $3, opened_at = $4 "
        "WHERE lot_id = $1 AND commitment = $2 AND opened_key IS NULL",
        lot_id,
        commitment,
        private,
        now,
    )


async def mark_notified(
    conn: asyncpg.Connection, lot_id: int, commitment: str, now: datetime
) -> bool:
    """True the first time: the custodians are to be told the close awaits them."""
    done = await conn.fetchval(
        "UPDATE auction_reserve_custody SET notified_at = $3 "
        "WHERE lot_id = $1 AND commitment = $2 AND notified_at IS NULL RETURNING 1",
        lot_id,
        commitment,
        now,
    )
    return done is not None


async def custody_of_user(
    conn: asyncpg.Connection, user_id: int, *, limit: int
) -> list[asyncpg.Record]:
    """The reserves whose key ``user_id`` holds a share of, newest lot first, with the lot's
    title and status (the share itself is not selected)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT c.lot_id, c.commitment, c.position, c.handed_in_at, k.threshold_k, "
        "k.custodian_count, k.opened_key IS NOT NULL AS key_rebuilt, l.title, l.status, "
        "(SELECT count(*) FROM auction_reserve_custodians o WHERE o.lot_id = c.lot_id "
        " AND o.commitment = c.commitment AND o.handed_in_at IS NOT NULL) AS shares_received "
        "FROM auction_reserve_custodians c "
        "JOIN auction_reserve_custody k USING (lot_id, commitment) "
        "JOIN auction_lots l ON l.id = c.lot_id "
        "WHERE c.user_id = $1 ORDER BY c.lot_id DESC LIMIT $2",
        user_id,
        limit,
    )
    return rows
