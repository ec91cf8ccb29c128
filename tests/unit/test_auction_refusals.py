"""Issue 16, item 7: refusals are durable, like acceptances — the engine against the
in-memory store (auction/testing.py) and a fake clock.

A refused bid id is answered only once its refusal is durable, in the same flush as the
events around it; a new engine on the same store (a restart) answers a repeat with the same
refusal; a flush that fails leaves the refusal unanswered (``engine_unavailable``); a lot
that let go of refusals from memory looks a repeat up in the store. RULES A2."""

from __future__ import annotations

import asyncio

import pytest

from auction.engine import EngineSettings
from auction.errors import AuctionReason, AuctionRejected, EngineUnavailable
from tests.unit.test_auction_engine import clock, engines, plate, start_lot, started, store_with  # noqa: F401


async def test_item7_a_refusal_rides_in_the_flush_and_is_answered_once_durable(clock, engines) -> None:  # noqa: F811
    """Issue 16 item 7: the refusal waits for its flush, which carries the bid's events too."""
    store = store_with(plate())
    engine = await started(store, clock, engines)
    await start_lot(engine)
    store.gate = asyncio.Event()
    accepted = engine.place_bid(1, "100001", "b1", 10_000)
    refused = engine.place_bid(1, "100002", "low", 10_000)  # judged after b1: below the minimum
    for _ in range(5):
        await asyncio.sleep(0)
    assert not refused.done() and store.refusals == {}
    store.gate.set()
    await accepted
    with pytest.raises(AuctionRejected) as caught:
        await refused
    assert caught.value.reason is AuctionReason.BELOW_MINIMUM
    assert list(store.refusals) == [(1, "100002", "low")]
    assert store.flush_sizes[-1] == 1  # one flush: b1's row, the refusal beside it


async def test_item7_a_refused_bid_id_is_refused_the_same_after_a_restart(clock, engines) -> None:  # noqa: F811
    """Issue 16 item 7: a new engine on the same store answers the repeat with the first
    refusal — though the same amount under a new id would be accepted now."""
    store = store_with(plate())
    first = await started(store, clock, engines)
    with pytest.raises(AuctionRejected) as before:
        await first.place_bid(1, "100001", "early", 10_000)
    assert before.value.reason is AuctionReason.NOT_OPEN
    await start_lot(first)
    await first.stop()
    engines.remove(first)

    second = await started(store, clock, engines)
    with pytest.raises(AuctionRejected) as after:
        await second.place_bid(1, "100001", "early", 10_000)
    assert after.value.reason is AuctionReason.NOT_OPEN
    assert after.value.message_en == before.value.message_en
    with pytest.raises(AuctionRejected) as reused:
        await second.place_bid(1, "100001", "early", 10_500)
    assert reused.value.reason is AuctionReason.BID_ID_REUSED
    assert (await second.place_bid(1, "100001", "fresh", 10_000)).amount_fen == 10_000


async def test_item7_a_refusal_whose_flush_failed_is_not_answered(clock, engines) -> None:  # noqa: F811
    """Issue 16 item 7: no refusal is heard that is not durable; the repeat is judged again."""
    store = store_with(plate())
    engine = await started(store, clock, engines)
    store.fail_next = "before"
    with pytest.raises(EngineUnavailable):
        await engine.place_bid(1, "100001", "early", 10_000)
    await engine.wait_idle()  # the lot reloads after the failed flush: an engine task it awaits
    assert not engine._lots[1].reloading
    assert store.refusals == {}
    with pytest.raises(AuctionRejected) as caught:
        await engine.place_bid(1, "100001", "early", 10_000)
    assert caught.value.reason is AuctionReason.NOT_OPEN
    assert list(store.refusals) == [(1, "100001", "early")]


async def test_item7_refusals_past_the_memory_bound_are_looked_up(clock, engines) -> None:  # noqa: F811
    """Issue 16 item 7: a lot holding only the newest ``refusals_max`` refusals in memory
    finds an older one in the store: still the same refusal."""
    store = store_with(plate())
    settings = EngineSettings(heartbeat_s=3600, retry_after_s=0.01, refusals_max=2)
    engine = await started(store, clock, engines, settings=settings)
    for n in range(4):
        with pytest.raises(AuctionRejected):
            await engine.place_bid(1, "100001", f"early{n}", 10_000)
    await start_lot(engine)
    with pytest.raises(AuctionRejected) as caught:
        await engine.place_bid(1, "100001", "early0", 10_000)  # let go of from memory
    assert caught.value.reason is AuctionReason.NOT_OPEN
    assert (await engine.place_bid(1, "100001", "fresh", 10_000)).seq == 2
