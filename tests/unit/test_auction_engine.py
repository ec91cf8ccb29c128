"""The auction engine against an in-memory store and a fake clock: acknowledgment only after
durable commit, group commit, idempotent bid ids, failed flushes, ordered broadcasts,
resume, countdown edges, restart replay.

Sources: RULES.md A1–A6; DESIGN.md "Auctions" (every accepted bid is durable before it is
acknowledged; every watcher sees the same ordered stream; a reconnecting client resumes
from the last sequence number it saw; a server restart replays the log) and "Architecture"
(group-commit writer; the countdown is the engine's own timer).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from auction.engine import Engine, EngineHooks, EngineSettings
from auction.errors import AuctionReason, AuctionRejected, EngineUnavailable
from auction.model import (
    BidAccepted,
    CountdownPolicy,
    LotClosed,
    LotConfig,
    LotState,
    OutagePolicyApplied,
    Pause,
    Phase,
    PlaceBid,
    Resume,
    SealReserve,
    Start,
)
from auction.rules import decide, initial_state, rebuild, reserve_commitment
from auction.testing import FakeLogStore, RecordingWatcher
from trading.clock import FakeClock

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)
PADDLES = {101: "100001", 102: "100002", 103: "100003"}


def plate(lot_id: int = 1, session: str = "9", countdown_s: int = 60, **kw: object) -> LotConfig:
    return LotConfig.plate(
        lot_id=str(lot_id),
        session_id=session,
        starting_price_fen=10_000,
        increment_fen=500,
        deposit_fen=5_000,
        starts_at=T0,
        countdown_s=countdown_s,
        **kw,
    )


def land(lot_id: int = 1, **kw: object) -> LotConfig:
    return LotConfig.land(
        lot_id=str(lot_id),
        starting_price_fen=1_000_000,
        increment_fen=10_000,
        deposit_fen=200_000,
        listing_starts_at=T0,
        listing_ends_at=T0 + timedelta(days=10),
        **kw,
    )


def store_with(*configs: LotConfig) -> FakeLogStore:
    store = FakeLogStore()
    for config in configs:
        store.add_lot(int(config.lot_id), config)
        scope = f"session:{config.session_id}" if config.session_id else f"lot:{config.lot_id}"
        for org, paddle in PADDLES.items():
            store.admit(scope, org, paddle)
    return store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def engines() -> AsyncIterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for engine in made:
        await engine.stop()


async def started(
    store: FakeLogStore, clock: FakeClock, engines: list[Engine], **kw: object
) -> Engine:
    settings = kw.pop("settings", None) or EngineSettings(heartbeat_s=3600, retry_after_s=0.01)
    engine = Engine(store, clock, settings=settings, **kw)  # type: ignore[arg-type]
    await engine.start()
    engines.append(engine)
    return engine


async def start_lot(engine: Engine, lot_id: int = 1) -> None:
    await engine.execute(lot_id, Start())


# -- durability and group commit ---------------------------------------------------------------


async def test_a_bid_is_acknowledged_and_broadcast_only_after_its_flush_commits(
    clock, engines
) -> None:
    """DESIGN: every accepted bid is durable before it is acknowledged, and before anyone
    sees it."""
    store = store_with(plate())
    engine = await started(store, clock, engines)
    await start_lot(engine)
    watcher = RecordingWatcher()
    await engine.subscribe(1, watcher)
    store.gate = asyncio.Event()
    ack = engine.place_bid(1, "100001", "b1", 10_000)
    for _ in range(5):
        await asyncio.sleep(0)
    assert not ack.done() and watcher.event_seqs() == [] and engine.state(1).highest_fen is None
    store.gate.set()
    event = await ack
    assert isinstance(event, BidAccepted) and event.seq == 2
    assert [r[1] for r in store.rows[1]] == [1, 2]
    assert watcher.event_seqs() == [2] and engine.state(1).highest_fen == 10_000


async def test_bids_arriving_during_a_flush_share_the_next_insert(clock, engines) -> None:
    """DESIGN: group commit — one INSERT of many rows, the next flush as soon as the last returns."""
    store = store_with(*(plate(i) for i in range(1, 6)))
    engine = await started(store, clock, engines)
    for i in range(1, 6):
        await start_lot(engine, i)
    store.flush_sizes.clear()
    store.gate = asyncio.Event()
    first = engine.place_bid(1, "100001", "first", 10_000)
    await asyncio.sleep(0)
    later = [
        engine.place_bid(lot, PADDLES[101 + n % 2], f"b{lot}-{n}", 10_000 + 500 * n)
        for lot in range(1, 6)
        for n in range(1 if lot == 1 else 0, 10)
    ]
    store.gate.set()
    await asyncio.gather(first, *later)
    assert store.flush_sizes == [1, len(later)]


async def test_the_same_bid_id_gets_the_first_answer(clock, engines) -> None:
    """A repeat of a bid id is answered with the first answer, accepted or refused; the same
    id with another amount is a conflict (STYLE: a reused id with other content is not a
    silent success)."""
    store = store_with(plate())
    engine = await started(store, clock, engines)
    await start_lot(engine)
    store.gate = asyncio.Event()
    one = engine.place_bid(1, "100001", "b1", 10_000)
    again_in_flight = engine.place_bid(1, "100001", "b1", 10_000)
    store.gate.set()
    assert (await one) == (await again_in_flight)
    assert (await engine.place_bid(1, "100001", "b1", 10_000)).seq == 2
    with pytest.raises(AuctionRejected) as refused:
        await engine.place_bid(1, "100002", "low", 9_000)
    assert refused.value.reason is AuctionReason.BELOW_MINIMUM
    await engine.place_bid(1, "100003", "b3", 11_000)
    with pytest.raises(AuctionRejected) as again:
        await engine.place_bid(1, "100002", "low", 9_000)
    assert again.value.reason is AuctionReason.BELOW_MINIMUM  # the first answer, not a new judgment
    with pytest.raises(AuctionRejected) as reused:
        await engine.place_bid(1, "100001", "b1", 20_000)
    assert reused.value.reason is AuctionReason.BID_ID_REUSED
    assert len([r for r in store.rows[1] if r[3] == "bid_accepted"]) == 2


async def test_a_bid_id_is_the_bidders_own(clock, engines) -> None:
    """Two bidders may choose the same id; each is judged as their own."""
    store = store_with(plate())
    engine = await started(store, clock, engines)
    await start_lot(engine)
    a = await engine.place_bid(1, "100001", "same", 10_000)
    b = await engine.place_bid(1, "100002", "same", 10_500)
    assert (a.paddle, b.paddle) == ("100001", "100002")


async def test_a_flush_lost_before_commit_answers_unavailable_and_nothing_is_kept(
    clock, engines
) -> None:
    store = store_with(plate())
    engine = await started(store, clock, engines)
    await start_lot(engine)
    watcher = RecordingWatcher()
    await engine.subscribe(1, watcher)
    store.fail_next = "before"
    with pytest.raises(EngineUnavailable):
        await engine.place_bid(1, "100001", "b1", 10_000)
    await engine.wait_idle()
    assert engine.state(1).highest_fen is None and watcher.event_seqs() == []
    retry = await engine.place_bid(1, "100001", "b1", 10_000)  # the same id, judged anew
    assert retry.seq == 2 and watcher.event_seqs() == [2]


async def test_a_flush_lost_after_commit_is_found_in_the_log_and_answered_as_first(
    clock, engines
) -> None:
    """An uncertain flush: the engine reloads the lot from its log; the bid it finds there is
    broadcast then, and a retry of its id gets that first answer."""
    store = store_with(plate())
    engine = await started(store, clock, engines)
    await start_lot(engine)
    watcher = RecordingWatcher()
    await engine.subscribe(1, watcher)
    store.fail_next = "after"
    with pytest.raises(EngineUnavailable):
        await engine.place_bid(1, "100001", "b1", 10_000)
    await engine.wait_idle()
    assert watcher.event_seqs() == [2] and engine.state(1).leader == "100001"
    retry = await engine.place_bid(1, "100001", "b1", 10_000)
    assert retry.seq == 2 and len(store.rows[1]) == 2


async def test_while_the_database_is_unreachable_bids_are_refused_and_nothing_is_lost(
    clock, engines
) -> None:
    store = store_with(plate())
    engine = await started(store, clock, engines)
    await start_lot(engine)
    await engine.place_bid(1, "100001", "b1", 10_000)
    store.unreachable = True
    with pytest.raises(EngineUnavailable):
        await engine.place_bid(1, "100002", "b2", 10_500)
    with pytest.raises(EngineUnavailable):
        await engine.place_bid(1, "100003", "b3", 11_000)
    store.unreachable = False
    await asyncio.wait_for(engine.wait_idle(), 10)  # the reload is one of the engine's tasks
    assert not engine._lots[1].reloading
    ok = await engine.place_bid(1, "100002", "b2", 10_500)
    assert ok.seq == 3 and rebuild(plate(), store.events(1)) == engine.state(1)


# -- the stream ----------------------------------------------------------------------------------


async def test_every_watcher_sees_the_same_events_in_sequence_order(clock, engines) -> None:
    """DESIGN: every watcher sees the same ordered stream (A2: the server's order decides)."""
    store = store_with(plate())
    engine = await started(store, clock, engines)
    await start_lot(engine)
    early, late = RecordingWatcher(), RecordingWatcher()
    await engine.subscribe(1, early)
    bids = [engine.place_bid(1, PADDLES[101 + n % 3], f"b{n}", 10_000 + 500 * n) for n in range(20)]
    await engine.subscribe(1, late)
    await asyncio.gather(*bids, return_exceptions=True)
    await engine.wait_idle()
    snapshot = late.of_type("snapshot")[0]
    assert early.event_seqs() == list(range(2, 22))
    assert late.event_seqs() == [s for s in early.event_seqs() if s > snapshot["seq"]]
    assert all("bid_id" not in f["event"] for f in early.of_type("event"))


async def test_the_snapshot_shows_only_what_is_durable(clock, engines) -> None:
    store = store_with(plate())
    engine = await started(store, clock, engines)
    await start_lot(engine)
    store.gate = asyncio.Event()
    pending = engine.place_bid(1, "100001", "b1", 10_000)
    await asyncio.sleep(0)
    watcher = RecordingWatcher()
    await engine.subscribe(1, watcher, paddle="100002")
    (snap,) = watcher.of_type("snapshot")
    assert snap["seq"] == 1 and snap["lot"]["highest_fen"] is None and snap["paddle"] == "100002"
    assert snap["server_time"] == "2026-03-02T01:00:00.000Z"
    store.gate.set()
    await pending
    assert watcher.event_seqs() == [2]


async def test_a_reconnecting_client_resumes_from_its_last_sequence(clock, engines) -> None:
    """DESIGN: a reconnecting client resumes from the last sequence number it saw — from
    memory, from the log, or (too far back) with a fresh snapshot."""
    store = store_with(plate())
    settings = EngineSettings(heartbeat_s=3600, recent_events_max=5, resume_from_log_max=30)
    engine = await started(store, clock, engines, settings=settings)
    await start_lot(engine)
    for n in range(40):
        await engine.place_bid(1, PADDLES[101 + n % 2], f"b{n}", 10_000 + 500 * n)
    assert engine.state(1).seq == 41
    from_memory = RecordingWatcher()
    await engine.subscribe(1, from_memory, after_seq=38)
    assert from_memory.frames[0]["type"] == "resumed" and from_memory.event_seqs() == [39, 40, 41]
    from_log = RecordingWatcher()
    await engine.subscribe(1, from_log, after_seq=20)
    assert from_log.frames[0]["missed"] == 21 and from_log.event_seqs() == list(range(21, 42))
    too_far = RecordingWatcher()
    await engine.subscribe(1, too_far, after_seq=5)
    assert [f["type"] for f in too_far.frames] == ["snapshot"]
    up_to_date = RecordingWatcher()
    await engine.subscribe(1, up_to_date, after_seq=41)
    assert up_to_date.frames[0]["missed"] == 0 and up_to_date.event_seqs() == []
    await engine.place_bid(1, "100003", "next", 40_000)
    for w in (from_memory, from_log, too_far, up_to_date):
        assert w.event_seqs()[-1] == 42


async def test_events_committed_while_a_resume_reads_the_log_are_not_lost(clock, engines) -> None:
    store = store_with(plate())
    engine = await started(
        store, clock, engines, settings=EngineSettings(heartbeat_s=3600, recent_events_max=2)
    )
    await start_lot(engine)
    for n in range(6):
        await engine.place_bid(1, PADDLES[101 + n % 2], f"b{n}", 10_000 + 500 * n)
    real = store.public_events
    gate = asyncio.Event()

    reading = asyncio.Event()

    async def slow(lot_id: int, after: int, upto: int):  # type: ignore[no-untyped-def]
        reading.set()
        await gate.wait()
        return await real(lot_id, after, upto)

    store.public_events = slow  # type: ignore[method-assign]
    watcher = RecordingWatcher()
    resuming = asyncio.create_task(engine.subscribe(1, watcher, after_seq=2))
    await reading.wait()  # the resume is reading the missed events from the store
    await engine.place_bid(1, "100003", "during", 20_000)
    gate.set()
    await resuming
    assert watcher.event_seqs() == [3, 4, 5, 6, 7, 8]


# -- time ------------------------------------------------------------------------------------------


async def test_countdown_edge_one_millisecond_before_is_a_bid_at_the_end_is_closed(
    clock, engines
) -> None:
    """A5: the countdown restarts from each accepted bid; a bid at its end is refused as
    closed, one millisecond earlier is accepted; the close comes at the true end."""
    store = store_with(plate(countdown_s=60))
    engine = await started(store, clock, engines)
    await start_lot(engine)
    first = await engine.place_bid(1, "100001", "b1", 10_000)
    assert first.countdown_ends_at == T0 + timedelta(seconds=60)
    clock.advance(seconds=60)
    clock.advance(-MS)
    second = await engine.place_bid(1, "100002", "b2", 10_500)
    end = T0 + timedelta(seconds=120) - MS
    assert second.countdown_ends_at == end
    clock.set(end)
    with pytest.raises(AuctionRejected) as late:
        await engine.place_bid(1, "100001", "b3", 11_000)
    assert late.value.reason is AuctionReason.CLOSED
    assert engine.state(1).phase is Phase.COUNTDOWN  # a refusal changes nothing
    await engine.tick()
    closed = engine.state(1)
    assert closed.phase is Phase.CLOSED and closed.closed_at == end and closed.winner == "100002"


async def test_the_engine_timer_closes_the_lot_by_itself(engines) -> None:
    """The countdown is the engine's own timer (loop.call_at), not the scheduler's."""
    from trading.clock import SystemClock

    now = datetime.now(UTC)
    config = dataclasses.replace(plate(countdown_s=1), opens_at=now - timedelta(seconds=1))
    store = store_with(config)
    engine = await started(store, SystemClock(), engines)
    await start_lot(engine)
    closed = asyncio.Event()

    class ClosingWatcher(RecordingWatcher):
        def push(self, frame: bytes) -> None:
            super().push(frame)
            last = self.frames[-1]
            if last["type"] == "event" and last["event"]["type"] == "lot_closed":
                closed.set()

    await engine.subscribe(1, ClosingWatcher())
    await engine.place_bid(1, "100001", "b1", 10_000)
    await asyncio.wait_for(closed.wait(), 10)  # the 1-s countdown's own timer, on a loaded machine
    assert engine.state(1).phase is Phase.CLOSED and engine.state(1).winner == "100001"


async def test_a_pause_stops_the_countdown_and_resume_sets_it_by_policy(clock, engines) -> None:
    store = store_with(plate(countdown_s=60))
    engine = await started(store, clock, engines)
    await start_lot(engine)
    await engine.place_bid(1, "100001", "b1", 10_000)
    await engine.execute(1, Pause(reason="network incident"))
    clock.advance(minutes=30)
    await engine.tick()
    assert engine.state(1).phase is Phase.PAUSED
    with pytest.raises(AuctionRejected) as paused:
        await engine.place_bid(1, "100002", "b2", 10_500)
    assert paused.value.reason is AuctionReason.PAUSED
    await engine.execute(1, Resume())
    assert engine.state(1).countdown_ends_at == clock.now() + timedelta(seconds=60)


# -- restart ---------------------------------------------------------------------------------------


async def test_a_restart_rebuilds_every_lot_from_its_log(clock, engines) -> None:
    """DESIGN: a server restart replays the log and the auction goes on."""
    store = store_with(plate(1), plate(2))
    first = await started(store, clock, engines)
    for lot in (1, 2):
        await start_lot(first, lot)
    for n in range(5):
        await first.place_bid(1, PADDLES[101 + n % 2], f"b{n}", 10_000 + 500 * n)
    before = first.state(1)
    engines.remove(first)
    await first.stop()
    second = await started(store, clock, engines)
    await second.wait_idle()
    assert rebuild(plate(1), store.events(1)[:6]) == before
    assert isinstance(store.events(1)[6], OutagePolicyApplied)  # the countdown was running
    assert (
        second.state(1).leader == before.leader
        and second.state(1).highest_fen == before.highest_fen
    )
    assert (await second.place_bid(1, "100001", "b0", 10_000)).seq == 2  # the log remembers bid ids
    assert (await second.place_bid(1, "100003", "b9", 20_000)).seq == 8


async def test_a_countdown_that_ran_out_while_down_closes_at_its_true_end(clock, engines) -> None:
    """Issue 4 / DESIGN: a lot whose countdown ran out while the server was down closes at
    its true end time, since no bid can have been accepted after it."""
    store = store_with(plate(countdown_s=60))
    first = await started(store, clock, engines)
    await start_lot(first)
    await first.place_bid(1, "100001", "b1", 10_000)
    engines.remove(first)
    await first.stop()
    clock.advance(minutes=10)
    second = await started(store, clock, engines)
    await second.wait_idle()
    state = second.state(1)
    assert state.phase is Phase.CLOSED and state.closed_at == T0 + timedelta(seconds=60)
    assert isinstance(store.events(1)[-1], LotClosed)


async def test_an_outage_during_a_countdown_applies_the_policy_and_logs_it(clock, engines) -> None:
    """Issue 4: the policy for an outage during a countdown (default: resume with a full
    countdown) is recorded in the lot's log, with the downtime measured from the heartbeat."""
    store = store_with(
        plate(countdown_s=60),
        plate(2, countdown_s=60, outage_policy=CountdownPolicy.RESUME_REMAINING),
    )
    first = await started(store, clock, engines)
    for lot in (1, 2):
        await start_lot(first, lot)
        await first.place_bid(lot, "100001", f"b{lot}", 10_000)
    engines.remove(first)
    await first.stop()
    clock.advance(seconds=10)
    await store.heartbeat(clock.now())  # the last beat: the server was alive 10 s in
    clock.advance(seconds=20)  # down for 20 s, then back
    second = await started(store, clock, engines)
    await second.wait_idle()
    full, remaining = store.events(1)[-1], store.events(2)[-1]
    assert isinstance(full, OutagePolicyApplied) and isinstance(remaining, OutagePolicyApplied)
    assert full.policy is CountdownPolicy.RESUME_FULL and full.downtime_ms == 20_000
    assert full.countdown_ends_at == clock.now() + timedelta(seconds=60)
    assert (
        remaining.remaining_ms == 50_000
        and remaining.countdown_ends_at == clock.now() + timedelta(seconds=50)
    )
    assert second.state(1).leader == "100001" and second.state(1).phase is Phase.COUNTDOWN


# -- admission, reserve, hooks ---------------------------------------------------------------------


async def test_a_session_admission_counts_on_every_lot_of_the_session(clock, engines) -> None:
    """A6 with session-level admission: a paddle admitted to the session bids on each of its
    plates; one admitted elsewhere does not."""
    store = store_with(plate(1), plate(2))
    store.admit("session:other", 200, "999999")
    engine = await started(store, clock, engines)
    for lot in (1, 2):
        await start_lot(engine, lot)
    assert (await engine.place_bid(2, "100003", "b", 10_000)).paddle == "100003"
    with pytest.raises(AuctionRejected) as refused:
        await engine.place_bid(1, "999999", "x", 10_000)
    assert refused.value.reason is AuctionReason.NOT_ADMITTED
    engine.note_admission("session:9", 200, "999999")
    assert (await engine.place_bid(1, "999999", "y", 10_000)).paddle == "999999"


def test_decide_counts_paddles_admitted_outside_the_log() -> None:
    """A6: ``decide(admitted=...)`` reads a paddle as admitted; without it, not."""
    state = decide(initial_state(plate()), Start(), T0).state
    bid = PlaceBid(bid_id="b", paddle="100001", amount_fen=10_000)
    with pytest.raises(AuctionRejected):
        decide(state, bid, T0)
    assert decide(state, bid, T0, admitted=frozenset({"100001"})).state.leader == "100001"


async def test_the_sealed_reserve_is_revealed_by_the_hook_when_bidding_ends(clock, engines) -> None:
    """A3, A4: the reserve is checked only at the close; highest below it → no sale."""
    salt = b"s" * 16
    revealed: list[int] = []
    settled: list[LotState] = []

    async def reveal(lot_id: int, commitment: str) -> tuple[int, bytes]:
        revealed.append(lot_id)
        assert commitment == reserve_commitment(12_000, salt)
        return 12_000, salt

    async def closed(lot_id: int, state: LotState) -> None:
        settled.append(state)

    store = store_with(plate())
    engine = await started(
        store, clock, engines, hooks=EngineHooks(reveal_reserve=reveal, lot_closed=closed)
    )
    await engine.execute(1, SealReserve(commitment=reserve_commitment(12_000, salt)))
    await start_lot(engine)
    await engine.place_bid(1, "100001", "b1", 11_500)
    clock.advance(minutes=2)
    await engine.tick()
    assert revealed == [1] and len(settled) == 1
    assert settled[0].phase is Phase.CLOSED and settled[0].basis.value == "below_reserve"
    assert settled[0].reserve_fen == 12_000


async def test_the_close_hook_runs_again_after_a_restart_until_it_succeeds(clock, engines) -> None:
    calls: list[int] = []

    async def flaky(lot_id: int, state: LotState) -> None:
        calls.append(lot_id)
        if len(calls) == 1:
            raise ConnectionError("database went away")

    store = store_with(plate())
    first = await started(store, clock, engines, hooks=EngineHooks(lot_closed=flaky))
    await start_lot(first)
    clock.advance(minutes=2)
    await first.tick()
    engines.remove(first)
    await first.stop()
    await started(store, clock, engines, hooks=EngineHooks(lot_closed=flaky))
    await engines[-1].wait_idle()
    assert calls == [1, 1]


async def test_a_lot_created_after_start_is_loaded_on_first_use(clock, engines) -> None:
    store = store_with()
    engine = await started(store, clock, engines)
    store.add_lot(7, plate(7))
    store.admit("session:9", 101, "100001")
    await engine.execute(7, Start())
    assert (await engine.place_bid(7, "100001", "b", 10_000)).seq == 2
    from trading.errors import NotFound

    with pytest.raises(NotFound):
        await engine.place_bid(8, "100001", "b", 10_000)
