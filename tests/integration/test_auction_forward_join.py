"""A forwarded bid answered late is not sent twice: two nodes in one test process over one
database (``auction.ownership.Cluster``). The follower's retry after ``forward_attempt_s``
and the client's resend after ``engine_unavailable`` wait for the first forward's answer
instead of sending the bid to a busy owner once more; the owner judges it once.

Source: issue 15 items 3-4 and benchmark b (forwarded commands retried, never lost, never
doubled; server-side ack p99 < 1 s at 20,000 bidders — docs/benchmarks-auction.md section 6:
every retry was a second round trip through the busy owner).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from auction.model import BidAccepted, event_to_dict
from auction.ownership import Cluster, ClusterSettings


@pytest.fixture
async def clusters(db_dsn, pool, clock) -> AsyncIterator[list[Cluster]]:
    started = [Cluster(db_dsn, pool, clock, settings=ClusterSettings(join_s=30)) for _ in range(2)]
    for cluster in started:
        await cluster.start()
    yield started
    for cluster in started:
        await cluster.stop()


def accepted(m: dict[str, Any], clock) -> dict[str, Any]:
    at = clock.now()
    event = BidAccepted(
        seq=7, at=at, paddle=str(m["paddle"]), bid_id=str(m["bid_id"]),
        amount_fen=int(m["amount_fen"]), countdown_ends_at=at,
    )
    return event_to_dict(event)


async def test_a_retried_forward_waits_for_the_first_answer_and_is_judged_once(clusters, clock) -> None:
    """Issue 15 item 3: a retry of a forwarded bid (same lot, paddle, bid id, amount) joins the
    call in flight; the owner serves it once and both get its answer."""
    owner, follower = clusters
    arrived = asyncio.Event()
    release = asyncio.Event()
    served: list[str] = []

    async def serve_bid(m: dict[str, Any]) -> dict[str, Any]:
        served.append(str(m["bid_id"]))
        arrived.set()
        await release.wait()  # the owner is busy
        return accepted(m, clock)

    owner.serve("lot.bid", serve_bid)
    with pytest.raises(TimeoutError):  # forward_attempt_s ran out
        await follower.bid(owner.node_id, 5, "000123", "b-1", 10_000, 0.05)
    await arrived.wait()
    retry = asyncio.ensure_future(follower.bid(owner.node_id, 5, "000123", "b-1", 10_000, 30))
    resend = asyncio.ensure_future(follower.bid(owner.node_id, 5, "000123", "b-1", 10_000, 30))
    release.set()
    first, second = await asyncio.gather(retry, resend)
    assert first == second and first.seq == 7 and first.bid_id == "b-1"
    assert served == ["b-1"]
    assert follower.calls_joined == 2 and follower.calls_sent == 1


async def test_another_bid_or_amount_is_sent_not_joined(clusters, clock) -> None:
    """The same bid id with another amount is a different command (the owner answers
    ``bid_id_reused``): never joined to the first one's answer."""
    owner, follower = clusters
    served: list[tuple[str, int]] = []

    async def serve_bid(m: dict[str, Any]) -> dict[str, Any]:
        served.append((str(m["bid_id"]), int(m["amount_fen"])))
        return accepted(m, clock)

    owner.serve("lot.bid", serve_bid)
    await asyncio.gather(
        follower.bid(owner.node_id, 5, "000123", "b-1", 10_000, 30),
        follower.bid(owner.node_id, 5, "000123", "b-1", 20_000, 30),
        follower.bid(owner.node_id, 5, "000124", "b-1", 10_000, 30),
    )
    assert sorted(served) == [("b-1", 10_000), ("b-1", 10_000), ("b-1", 20_000)]
    assert follower.calls_joined == 0


async def test_an_unanswered_forward_is_sent_again_after_join_s(db_dsn, pool, clock) -> None:
    """Issue 15 item 4: an answer lost (the owner's listener reconnected) must not keep every
    repeat waiting: after ``join_s`` a repeat is sent anew and answered."""
    owner = Cluster(db_dsn, pool, clock)
    follower = Cluster(db_dsn, pool, clock, settings=ClusterSettings(join_s=0.05))
    await owner.start()
    await follower.start()
    try:
        calls = 0

        async def serve_bid(m: dict[str, Any]) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            if calls == 1:
                await asyncio.Event().wait()  # this answer never comes
            return accepted(m, clock)

        owner.serve("lot.bid", serve_bid)
        with pytest.raises(TimeoutError):
            await follower.bid(owner.node_id, 5, "000123", "b-1", 10_000, 0.1)
        answer = await follower.bid(owner.node_id, 5, "000123", "b-1", 10_000, 30)
        assert answer.bid_id == "b-1" and calls == 2 and follower.calls_joined == 0
    finally:
        await follower.stop()
        await owner.stop()
