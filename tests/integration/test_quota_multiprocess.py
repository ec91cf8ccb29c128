"""A quota session across two processes (two nodes in one test process, each with its own
quota engine, writer connection and LISTEN connection, over one database): owned by one,
bids and admissions forwarded from the other, the owner's published view reaching the
other's watchers, and the owner's death → the other takes the session over from the log.

Source: issue 15 items 3-4 (a live lot *or quota session* owned by one process; a bid for a
session owned by a dead process during takeover is retried, never lost, never doubled).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import pytest

from auction import quota_service
from auction.ownership import Cluster, QuotaRouter, QuotaRouterSettings
from auction.quota_engine import QuotaEngine, QuotaEngineSettings
from auction.quota_store import PgQuotaLogStore
from tests.helpers import make_user
from trading.context import Role


@dataclass
class Node:
    cluster: Cluster
    store: PgQuotaLogStore
    engine: QuotaEngine
    router: QuotaRouter

    async def stop(self) -> None:
        await self.router.stop()
        await self.engine.stop()
        await self.cluster.stop()

    async def die(self) -> None:
        """As ``kill -9`` would: its connections end, nothing is flushed or said."""
        self.cluster._stopping = True
        await self.router.stop()
        for conn in (self.store._conn, self.cluster._listener):
            if conn is not None:
                conn.terminate()


class Watcher:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    def push(self, frame: bytes) -> None:
        self.frames.append(orjson.loads(frame))
        self.arrived.set()

    def room(self) -> int:
        return 1000

    async def wait_for(self, condition: Any, timeout_s: float = 10.0) -> dict[str, Any]:
        async def seen() -> dict[str, Any]:
            while True:
                for f in self.frames:
                    if condition(f):
                        return f
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(seen(), timeout_s)


@pytest.fixture
async def nodes(db_dsn, pool, clock) -> AsyncIterator[list[Node]]:
    started: list[Node] = []

    async def start() -> Node:
        cluster = Cluster(db_dsn, pool, clock)
        store = PgQuotaLogStore(db_dsn, pool)
        engine = QuotaEngine(store, clock, settings=QuotaEngineSettings(publish_s=0.05))
        router = QuotaRouter(
            engine, cluster, pool, settings=QuotaRouterSettings(publish_s=0.05, claim_interval_s=0.1)
        )
        await cluster.start()
        await engine.start()
        await store.register(cluster.node_id)
        router.start()
        node = Node(cluster, store, engine, router)
        started.append(node)
        return node

    yield [await start(), await start()]
    for node in started:
        await node.stop()  # a dead one's connections are already gone: this ends its tasks


async def test_a_quota_session_owned_by_one_process_is_bid_on_through_another_and_taken_over(
    pool, audit, clock, nodes
) -> None:
    """Issue 15 items 3-4: the owner judges every bid; a bid at the other process is
    forwarded and acknowledged; its watchers see the owner's published view; the owner dies
    → the other takes the session over; a repeat of an acknowledged bid id answers the same
    ack (never doubled), new bids go on, and the close time is the session's own."""
    owner, other = nodes
    async with pool.acquire() as conn:
        staff = await make_user(conn, audit, clock, Role.STAFF)
        session = await quota_service.create_session(
            conn, audit, staff.actor, clock.now(), title="额度 2026-12", quota=2,
            warning_price_fen=9_000_000, starts_at=clock.now() + timedelta(minutes=1), deposit_fen=0,
        )
    sid = session["id"]
    clock.advance(minutes=2)  # the first half
    await owner.engine.ensure(sid)
    assert owner.router.owns(sid) and not other.router.owns(sid)
    assert await other.router.admit(sid, ["10000001", "10000002"]) == 2  # forwarded
    watcher = Watcher()
    snapshot = await other.router.subscribe(sid, watcher)
    assert snapshot["quota_session"] == sid and snapshot["max_revisions"] == 2
    first = await other.router.place_bid(sid, "10000001", "b-1", 8_800_000)
    ack = first.as_dict()
    assert ack["half"] == "first" and ack["seq"] == owner.engine.book(sid).seq
    await watcher.wait_for(lambda f: f["type"] == "quota_status" and f["bid_count"] == 1)
    ends_at = owner.engine.book(sid).config.ends_at

    await owner.die()
    again = await other.router.place_bid(sid, "10000001", "b-1", 8_800_000)  # the same bid id
    assert again.as_dict()["seq"] == ack["seq"]  # the first answer, from the log
    assert other.router.owns(sid)
    second = await other.router.place_bid(sid, "10000002", "b-2", 8_700_000)
    assert second.as_dict()["seq"] == ack["seq"] + 1  # the sequence goes on
    book = other.engine.book(sid)
    assert book is not None and book.config.ends_at == ends_at and len(book.bids) == 2
    await watcher.wait_for(lambda f: f["type"] == "quota_status" and f["bid_count"] == 2)
    async with pool.acquire() as conn:
        bids = await conn.fetch(
            "SELECT paddle, bid_id FROM quota_events WHERE session_id = $1 AND type = 'quota_bid_accepted'",
            sid,
        )
    assert sorted((r["paddle"], r["bid_id"]) for r in bids) == [
        ("10000001", "b-1"),
        ("10000002", "b-2"),
    ]
