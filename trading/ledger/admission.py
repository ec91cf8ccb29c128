"""The admission check ``trading.admission`` asks the ledger (RULES A6, D2; IR 26): a bidder is
admitted to bid on a tender, or to an auction, only when its deposit for that project is
confirmed — paid in cash before the deadline by the bank's value time, or covered by an
accepted guarantee — and not refunded, forfeited or converted since."""

from __future__ import annotations

import asyncpg

from . import store


async def deposit_confirmed(conn: asyncpg.Connection, *, org_id: int, project_ref: str) -> bool:
    """True when ``org_id``'s deposit for ``project_ref`` ("tender:12", "lot:7") is confirmed."""
    return await store.deposit_confirmed(conn, project_ref, str(org_id))
