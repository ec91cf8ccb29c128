"""Sealed tendering across a restart and under concurrency.

Sources (RULES.md): T8 (BL 34: the opening happens at the announced time; after downtime,
at once on return, with the real time recorded), T2/T6 (A4(a), EM 27–28: a bid is in the
frozen set exactly when its receipt time is before the deadline — a commit racing the
freeze is either fully in or refused; an unfinished upload leaves nothing, not even after
a crash).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bidding import store
from bidding.errors import BidRejected
from bidding.model import BiddingSettings
from bidding.service import submission
from tests.service.test_bidding_support import (
    hand_in,
    make_world,
    pieces,
    run_due,
    seal_for,
    submit,
)
from web import keys


async def test_a_restart_between_deadline_and_opening_opens_on_return_with_the_real_time(
    make_client: Any, clock: Any
) -> None:
    """T8 (BL 34): the server is down at the opening time; on return the scheduler starts
    the opening at once and records the real time; the custodians then open as usual."""
    first = await make_client(extra={"bidding.store_chunk_bytes": "4096"})
    app = first.server.app
    world = await make_world(app[keys.POOL], app[keys.AUDIT], clock)
    for bidder in world.bidders[:3]:
        await submit(world, bidder, seal_for(world, bidder))
    clock.set(world.tender.bid_deadline_at)
    await app[keys.SCHEDULER].run_due()
    tender = await world.reload()
    assert tender.state == "closed"
    await first.close()  # the server goes down before the opening time

    clock.set(tender.opening_at + timedelta(hours=3, milliseconds=250))  # …back 3 hours late
    second = await make_client(extra={"bidding.store_chunk_bytes": "4096"})
    pool = second.server.app[keys.POOL]
    world.pool = pool
    tender = await world.reload()
    assert tender.state == "opening"
    assert tender.opening_started_at == clock.now() != tender.opening_at
    async with pool.acquire() as conn:
        event = await conn.fetchrow(
            "SELECT due_at, ran_at FROM timed_events WHERE kind = 'tender.opening' AND ref = $1",
            str(tender.id),
        )
        entry = await conn.fetchrow(
            "SELECT detail FROM audit_log WHERE action = 'tender.opening_start'"
        )
    assert event["due_at"] == tender.opening_at and event["ran_at"] == clock.now()
    assert entry["detail"]["late_ms"] == 3 * 3600 * 1000 + 250
    await hand_in(world, world.custodians[0])
    result = await hand_in(world, world.custodians[1])
    assert result["state"] == "opened" and len(result["record"]["document"]["entries"]) == 3


class CommitClock:
    """The upload's clock: once armed, its next reading (the commit's receipt time, taken
    under the tender lock) is deadline − 1 ms, after which the shared fake clock jumps to
    the deadline and the test is told — so the freeze starts while the commit holds the
    lock."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.armed = False
        self.read = asyncio.Event()

    def now(self) -> Any:
        at = self.clock.now()
        if self.armed:
            self.armed = False
            self.clock.advance(milliseconds=1)
            self.read.set()
        return at


@pytest.mark.parametrize("commit_first", [False, True])
async def test_a_commit_racing_the_freeze_is_either_in_the_set_or_refused(
    pool: Any, audit: Any, clock: Any, commit_first: bool
) -> None:
    """T2, T6: the freeze takes the tender row exclusively; a bid's commit takes it shared
    and reads the clock under it — a receipt before the deadline is always in the frozen
    set, a commit after the freeze always refused."""
    world = await make_world(pool, audit, clock, bidders=4)
    for bidder in world.bidders[:3]:
        await submit(world, bidder, seal_for(world, bidder))
    late = world.bidders[3]
    envelope = seal_for(world, late)
    clock.set(world.tender.bid_deadline_at - timedelta(milliseconds=1))
    release = asyncio.Event()
    all_in = asyncio.Event()
    commit_clock = CommitClock(clock)

    async def held_upload() -> Any:
        async def source() -> Any:
            async for piece in pieces(envelope, 200):
                yield piece
            all_in.set()
            await release.wait()  # the last byte is in; the commit is about to lock the tender
            commit_clock.armed = commit_first

        return await submission.submit_bid(
            pool,
            audit,
            late.party.actor,
            commit_clock,
            tender_id=world.tender_id,
            source=source(),
            content_length=len(envelope),
            settings=world.settings,
        )

    upload = asyncio.create_task(held_upload())
    await all_in.wait()  # the upload has every byte and waits to commit
    if commit_first:
        release.set()
        await commit_clock.read.wait()  # the commit holds the tender row (shared) right now
    else:
        clock.set(world.tender.bid_deadline_at)
    assert clock.now() == world.tender.bid_deadline_at
    freeze = asyncio.create_task(run_due(world))
    release.set()
    try:
        receipt = await upload
    except BidRejected as err:
        assert err.code == "deadline_passed"
        receipt = None
    await freeze
    async with pool.acquire() as conn:
        size = await conn.fetchval(
            "SELECT tree_size FROM bid_tree_heads WHERE tender_id = $1", world.tender_id
        )
        receipts = await conn.fetchval(
            "SELECT count(*) FROM bid_receipts WHERE tender_id = $1", world.tender_id
        )
    if commit_first:
        assert receipt is not None and size == 4 and receipts == 4
        assert receipt.document["received_at"].endswith(".999Z")
    else:
        assert receipt is None and size == 3 and receipts == 3


async def test_what_a_crash_left_staged_is_swept_at_start_once_idle_past_the_bound(
    make_client: Any, pool: Any, audit: Any, clock: Any
) -> None:
    """Nothing of an upload leaks after a crash: a server that died mid-upload left an
    upload row and its committed chunks; the next start sweeps those idle longer than
    ``upload_idle_max_s`` and leaves younger ones (another process may be receiving them)
    to the sweep of a later upload."""
    world = await make_world(pool, audit, clock)
    bidder = world.bidders[0]
    envelope = seal_for(world, bidder)
    idle_max = timedelta(seconds=BiddingSettings().upload_idle_max_s)
    left: list[int] = []
    async with pool.acquire() as conn:
        for touched_at in (clock.now() - idle_max - timedelta(seconds=1), clock.now()):
            upload_id = await store.insert_upload(
                conn,
                tender_id=world.tender_id,
                org_id=bidder.org_id,
                submitted_by=bidder.party.user_id,
                now=touched_at,
            )
            assert await store.stage_chunk(conn, upload_id, 0, envelope[:4096], touched_at)
            left.append(upload_id)
    await make_client()
    async with pool.acquire() as conn:
        uploads = await conn.fetch("SELECT id FROM bid_uploads")
        chunks = await conn.fetch("SELECT upload_id FROM bid_upload_chunks")
    assert [r["id"] for r in uploads] == [left[1]]
    assert [r["upload_id"] for r in chunks] == [left[1]]
