"""Public notices published by concurrent transactions: no deadlock whatever each
transaction wrote before, and ``seq`` dense and in commit order (a reader paging by it never
skips a notice that commits late).

Source: STYLE.md ("public feeds page by a commit-ordered sequence, never by a timestamp").
"""

from __future__ import annotations

import asyncio

from bidding.public import NoticeKind
from bidding.service import public
from trading.context import Actor

SYSTEM = Actor.system("test")


async def test_concurrent_publishers_get_dense_seqs_in_commit_order(pool, audit, clock) -> None:
    """Half the publishers append to the audit log first (as a use case does), half publish
    first (as the freeze does): all finish, and the seq order is the commit order."""
    async with pool.acquire() as conn:
        await audit.register_key(conn, clock.now())
    committed: list[int] = []

    async def one(i: int) -> None:
        async with pool.acquire() as conn:
            async with conn.transaction():
                if i % 2:
                    await audit.append(conn, actor=SYSTEM, action="test.before", object_type="t",
                                       object_id=i, at=clock.now())
                nid = await public.publish_notice(
                    conn, audit, SYSTEM, clock.now(), kind=NoticeKind.TENDER, tender_id=None,
                    title_zh=f"公告 {i}", title_en=f"Notice {i}", data={"i": i},
                )
                await asyncio.sleep(0)  # let the others queue on the locks
            committed.append(nid)

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(12))), timeout=30)
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, seq FROM public_notices ORDER BY seq")
    assert [r["seq"] for r in rows] == list(range(1, 13))
    assert [r["id"] for r in rows] == committed
