"""The quota engine over an in-memory log: for any sequence of commands the result is a
brute-force sort of the final bids, the log replays to the live book, the signed export
verifies offline, and nothing is acknowledged before it is durable.

Sources: RULES.md A9 (quota plates: rank by price then time, the Q-th is the cutoff, pay as
bid), A2 (the server's order decides); issue 15 items 1 and "Tests".
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction.errors import AuctionReason, AuctionRejected, EngineUnavailable
from auction.lot_log import RefusalRow
from auction.model import event_from_dict
from auction.quota import (
    QUOTA_EVENT_TYPES,
    QuotaBid,
    QuotaConfig,
    quota_config_to_dict,
    rebuild_quota,
)
from auction.quota_engine import LoadedSession, QuotaEngine, QuotaEngineSettings, QuotaRow
from auction.verify import QUOTA_LOG_FORMAT, log_digest, quota_result, verify_auction
from crypto.signing import canonical_json, generate_signing_key, public_key_bytes
from trading.clock import FakeClock

T0 = datetime(2026, 3, 21, 2, 30, tzinfo=UTC)
WARNING = 1_000_000
STEP = 10_000


def make_config(quota: int) -> QuotaConfig:
    return QuotaConfig(
        session_id="1", quota=quota, starts_at=T0, warning_price_fen=WARNING, first_half_s=30, second_half_s=30
    )


class MemoryStore:
    """The engine's store in memory; ``fail_next`` makes the next append raise (its rows
    not written: the uncertain outcome resolved as 'lost')."""

    def __init__(self, config: QuotaConfig, admitted: Sequence[str] = ()) -> None:
        self.config = config
        self.rows: list[QuotaRow] = []
        self.refusals: dict[tuple[str, str], RefusalRow] = {}
        self.admitted = list(admitted)
        self.fail_next = False
        self.appends = 0

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, rows: Sequence[QuotaRow], refusals: Sequence[RefusalRow] = ()) -> None:
        await asyncio.sleep(0)
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("the database went away")
        seqs = [r[1] for r in self.rows] + [r[1] for r in rows]
        assert seqs == list(range(1, len(seqs) + 1)), "the log is gapless"
        self.rows.extend(rows)
        for refusal in refusals:
            self.refusals.setdefault((refusal[1], refusal[2]), refusal)
        self.appends += 1

    async def refusal_of(self, session_id: int, paddle: str, bid_id: str) -> RefusalRow | None:
        return self.refusals.get((paddle, bid_id)) if session_id == 1 else None

    async def claim(self, session_id: int) -> bool:
        return session_id == 1

    async def live_session_ids(self) -> list[int]:
        return [1]

    async def load(self, session_id: int, *, refusals_max: int = 200_000) -> LoadedSession | None:
        if session_id != 1:
            return None
        refused = list(self.refusals.values())[-(refusals_max + 1) :]
        return LoadedSession(1, "test", self.config, self.events(), list(self.admitted), refusals=refused)

    def events(self) -> list[Any]:
        return [event_from_dict(orjson.loads(r[6]), QUOTA_EVENT_TYPES) for r in self.rows]


async def started(store: MemoryStore, clock: FakeClock) -> QuotaEngine:
    engine = QuotaEngine(store, clock, settings=QuotaEngineSettings(publish_s=0))
    await engine.start()
    await engine.wait_idle()
    return engine


PADDLES = tuple(f"{i:08d}" for i in range(6))
command = st.one_of(
    st.tuples(st.just("wait"), st.sampled_from([1, 700, 5_000, 12_000])),
    st.tuples(st.just("bid"), st.tuples(st.sampled_from(PADDLES), st.integers(-6, 3))),
    st.tuples(st.just("near"), st.tuples(st.sampled_from(PADDLES), st.integers(-4, 4))),
    st.tuples(st.just("near"), st.tuples(st.sampled_from(PADDLES), st.integers(-3, 3))),
    st.tuples(st.just("repeat"), st.just(0)),
    st.tuples(st.just("flush"), st.just(0)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quota=st.integers(1, 4), admitted=st.integers(1, len(PADDLES)), ops=st.lists(command, max_size=60))
def test_the_result_is_a_brute_force_sort_of_the_final_bids_and_the_log_replays(
    quota: int, admitted: int, ops: list[tuple[str, Any]]
) -> None:
    """A9: whatever the commands, the Q best final bids by price then time win at their own
    price; the durable log rebuilds the live book; the signed export verifies offline."""
    asyncio.run(_session(quota, admitted, ops))


async def _session(quota: int, admitted: int, ops: list[tuple[str, Any]]) -> None:
    config = make_config(quota)
    store = MemoryStore(config, PADDLES[:admitted])
    clock = FakeClock(T0 - timedelta(seconds=1))
    engine = await started(store, clock)
    clock.set(T0)
    acked: dict[str, tuple[int, int]] = {}  # paddle -> (amount, seq) of its last acknowledged bid
    futures: list[tuple[str, asyncio.Future[Any]]] = []
    n = 0
    last: tuple[str, str, int] | None = None
    for kind, arg in ops:
        if kind == "wait":
            clock.advance(milliseconds=arg)
            continue
        if kind == "flush":
            await engine.wait_idle()
            continue
        if kind == "repeat":
            if last is None:
                continue
            paddle, bid_id, amount = last
        else:
            paddle, steps = arg
            book = engine.book(1)
            assert book is not None
            base = (book.lowest_winning_price_fen() or WARNING) if kind == "near" else WARNING
            n += 1
            bid_id, amount = f"b{n}", base + steps * STEP
        last = (paddle, bid_id, amount)
        futures.append((paddle, engine.place_bid(1, paddle, bid_id, amount)))
    await engine.wait_idle()
    clock.set(config.ends_at)
    engine.tick()
    await engine.wait_idle()
    for paddle, fut in futures:
        assert fut.done()
        if fut.exception() is None:
            answer = fut.result()
            seq = answer.event.seq
            assert seq <= len(store.rows), "acknowledged only once durable"
            if paddle not in acked or acked[paddle][1] < seq:
                acked[paddle] = (answer.event.amount_fen, seq)
        else:
            assert isinstance(fut.exception(), AuctionRejected)
    book = engine.book(1)
    assert book is not None and book.closed is not None
    # brute force: every bidder's last acknowledged bid, sorted by price then time
    ranked = sorted(acked.items(), key=lambda kv: (-kv[1][0], kv[1][1]))[:quota]
    result = quota_result(book)
    assert [(w["paddle"], w["amount_fen"], w["seq"]) for w in result["winners"]] == [
        (p, a, s) for p, (a, s) in ranked
    ]
    assert result["cutoff_fen"] == (ranked[-1][1][0] if ranked else None)
    # replay of the durable log equals the live book
    replayed = rebuild_quota(config, store.events())
    assert replayed.bids == book.bids and replayed.admitted == book.admitted
    assert replayed.closed == book.closed and replayed.seq == book.seq
    assert all(isinstance(b, QuotaBid) for b in replayed.bids.values())
    # the signed export verifies offline
    key = generate_signing_key()
    events = [orjson.loads(r[6]) for r in store.rows]
    doc = {
        "type": QUOTA_LOG_FORMAT,
        "session_id": 1,
        "title": "test",
        "config": quota_config_to_dict(config),
        "events": events,
        "log_seq": len(events),
        "log_sha256": log_digest(events),
        "result": {**result, "log_seq": len(events), "log_sha256": log_digest(events)},
    }
    export = {"log": doc, "signature": key.sign(canonical_json(doc)).hex()}
    report = verify_auction(export, public_key_bytes(key))
    assert report.ok, report.problems
    await engine.stop()


async def test_a_failed_flush_answers_engine_unavailable_and_the_same_bid_id_is_then_accepted() -> None:
    """Durable before acknowledged: a flush that fails acknowledges nothing; the session is
    rebuilt from its log and the bid, sent again with the same id, is accepted once."""
    config = make_config(2)
    store = MemoryStore(config, PADDLES)
    clock = FakeClock(T0)
    engine = await started(store, clock)
    store.fail_next = True
    first = engine.place_bid(1, PADDLES[0], "x1", WARNING)
    with pytest.raises(EngineUnavailable):
        await first
    await engine.wait_idle()
    again = await engine.place_bid(1, PADDLES[0], "x1", WARNING)
    assert again.event.seq == len(store.rows) and again.half == "first"
    assert (await engine.place_bid(1, PADDLES[0], "x1", WARNING)).event.seq == again.event.seq
    await engine.stop()


async def test_a_bid_a_few_milliseconds_after_the_end_is_refused_and_closes_the_session() -> None:
    """A9: the session ends to the millisecond; a bid at the end is refused ``closed`` and
    the close is logged at its true time even before the timer fires."""
    config = make_config(1)
    store = MemoryStore(config, PADDLES)
    clock = FakeClock(T0)
    engine = await started(store, clock)
    await engine.place_bid(1, PADDLES[0], "a", WARNING)
    clock.set(config.ends_at + timedelta(milliseconds=3))
    with pytest.raises(AuctionRejected) as caught:
        await engine.place_bid(1, PADDLES[1], "b", WARNING)
    assert caught.value.reason is AuctionReason.CLOSED
    await engine.wait_idle()
    closed = store.events()[-1]
    assert closed.type_name == "quota_closed" and closed.at == config.ends_at
    await engine.stop()


async def test_the_ack_names_the_half_the_cutoff_the_window_and_the_revisions_left() -> None:
    config = make_config(1)
    store = MemoryStore(config, PADDLES)
    clock = FakeClock(T0)
    engine = await started(store, clock)
    first = await engine.place_bid(1, PADDLES[0], "a", WARNING - STEP)
    assert (first.half, first.window, first.revisions_left) == ("first", None, 2)
    clock.set(config.half_at)
    second = await engine.place_bid(1, PADDLES[0], "b", WARNING - STEP + 30_000)
    assert second.half == "second" and second.revisions_left == 1
    assert second.lowest_winning_price_fen == WARNING + 20_000
    assert second.window == (WARNING - 10_000, WARNING + 50_000)
    assert engine.view(1) is not None and engine.view(1)["bid_count"] == 1  # type: ignore[index]
    await engine.stop()


async def test_an_admission_committed_by_another_process_is_logged_ahead_of_the_bid() -> None:
    """A6: a paddle exists only once the ledger confirmed the deposit; when the admission
    sweep ran in another process, the owner logs the admission just before the bid."""
    config = make_config(1)
    store = MemoryStore(config)
    clock = FakeClock(T0)
    engine = await started(store, clock)
    with pytest.raises(AuctionRejected) as caught:
        await engine.place_bid(1, PADDLES[0], "a", WARNING)
    assert caught.value.reason is AuctionReason.NOT_ADMITTED
    engine.admitted_elsewhere(1, PADDLES[0])
    answer = await engine.place_bid(1, PADDLES[0], "b", WARNING)
    assert [e.type_name for e in store.events()] == ["bidder_admitted", "quota_bid_accepted"]
    assert answer.event.seq == 2
    await engine.stop()


async def test_a_repeat_of_a_refused_bid_id_after_a_restart_gets_the_same_refusal() -> None:
    """Issue 16 item 7 (refusals durable like acceptances), for quota sessions too: a refused
    bid id is answered only once its refusal is written; after a restart its repeat gets the
    same refusal (never a later acceptance), with another amount ``bid_id_reused``; and
    once refusals were let go of from memory, a repeat is looked up in the store."""
    config = make_config(1)
    store = MemoryStore(config, PADDLES[:1])
    clock = FakeClock(T0)
    engine = await started(store, clock)
    refused = {}
    for bid_id in ("r0", "r1"):
        with pytest.raises(AuctionRejected) as caught:
            await engine.place_bid(1, PADDLES[1], bid_id, WARNING)  # not admitted
        assert caught.value.reason is AuctionReason.NOT_ADMITTED
        assert (PADDLES[1], bid_id) in store.refusals  # written before it was answered
        refused[bid_id] = caught.value
    await engine.stop()

    store.admitted = list(PADDLES[:2])  # admitted since: a new judgment would accept it
    for refusals_max in (200_000, 1):  # all in memory; r0 let go of, looked up in the store
        settings = QuotaEngineSettings(publish_s=0, refusals_max=refusals_max)
        engine = QuotaEngine(store, clock, settings=settings)
        await engine.start()
        await engine.wait_idle()
        for bid_id in ("r0", "r1"):
            with pytest.raises(AuctionRejected) as again:
                await engine.place_bid(1, PADDLES[1], bid_id, WARNING)
            assert again.value.reason is AuctionReason.NOT_ADMITTED
            assert again.value.message_en == refused[bid_id].message_en
        with pytest.raises(AuctionRejected) as other:
            await engine.place_bid(1, PADDLES[1], "r0", WARNING + STEP)
        assert other.value.reason is AuctionReason.BID_ID_REUSED
        await engine.stop()
    assert "quota_bid_accepted" not in [e.type_name for e in store.events()]
