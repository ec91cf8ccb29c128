"""Quota plates, Shanghai-style (auction.quota): RULES A9.

Source: Shanghai private car licence plate auction rules (上海市个人非营业性客车额度拍卖):
one hour; first half one bid each, at most the warning price (警示价); second half up to
two revisions, in whole hundreds of yuan, within ±300 yuan of the current lowest winning
price (最低成交价); ranking by price then time; the Q-th bid sets the cutoff; pay as bid.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from auction.errors import AuctionReason, AuctionRejected, CorruptLog
from auction.model import (
    Admit,
    BidderAdmitted,
    Close,
    PlaceBid,
    Tick,
    event_from_dict,
    event_to_dict,
)
from auction.quota import (
    QUOTA_EVENT_TYPES,
    QuotaBid,
    QuotaBidAccepted,
    QuotaBook,
    QuotaClosed,
    QuotaConfig,
    allocate,
    rebuild_quota,
)
from trading.errors import ValidationFailed

T0 = datetime(2026, 3, 21, 2, 30, tzinfo=UTC)
MS = timedelta(milliseconds=1)
YUAN = 100
WARNING = 90_000 * YUAN
HALF = T0 + timedelta(minutes=30)
END = T0 + timedelta(hours=1)


def config(quota: int = 2, **options: Any) -> QuotaConfig:
    return QuotaConfig(
        session_id="SH-2026-03",
        quota=quota,
        starts_at=T0,
        warning_price_fen=WARNING,
        **options,
    )


class Session:
    def __init__(self, cfg: QuotaConfig, paddles: tuple[str, ...] = ("A", "B", "C", "D")) -> None:
        self.book = QuotaBook(cfg)
        self.log: list[Any] = []
        self.n = 0
        for paddle in paddles:
            self.do(Admit(paddle), T0 - timedelta(days=1))

    def do(self, command: Any, at: datetime) -> tuple[Any, ...]:
        events = self.book.handle(command, at)
        self.log.extend(events)
        return events

    def bid(self, paddle: str, yuan: int, at: datetime) -> QuotaBidAccepted:
        self.n += 1
        (event,) = self.do(PlaceBid(f"q{self.n}", paddle, yuan * YUAN), at)
        assert isinstance(event, QuotaBidAccepted)
        return event

    def refused(self, paddle: str, amount_fen: Any, at: datetime) -> AuctionReason:
        seq = self.book.seq
        with pytest.raises(AuctionRejected) as caught:
            self.book.decide(PlaceBid("r", paddle, amount_fen), at)
        assert self.book.seq == seq
        return caught.value.reason


# -- the first half ----------------------------------------------------------------------------


def test_first_half_allows_one_bid_each() -> None:
    """A9: in the first half each bidder bids once."""
    s = Session(config())
    s.bid("A", 89_000, T0 + timedelta(minutes=1))
    assert s.refused("A", 89_100 * YUAN, T0 + timedelta(minutes=2)) is AuctionReason.ONE_BID_ONLY


def test_first_half_bid_over_the_warning_price_is_refused() -> None:
    """A9: first-half bids are capped at the warning price (警示价)."""
    s = Session(config())
    assert s.refused("A", WARNING + 100 * YUAN, T0) is AuctionReason.OVER_WARNING_PRICE
    assert s.bid("A", 90_000, T0).amount_fen == WARNING


def test_bids_are_whole_hundreds_of_yuan() -> None:
    """A9: multiples of 100 yuan."""
    s = Session(config())
    assert s.refused("A", 89_050 * YUAN, T0) is AuctionReason.NOT_INCREMENT_MULTIPLE
    assert s.refused("A", 89_000 * YUAN + 1, T0) is AuctionReason.NOT_INCREMENT_MULTIPLE


def test_bids_stay_between_the_floor_and_the_ceiling() -> None:
    s = Session(config(min_price_fen=1_000 * YUAN))
    assert s.refused("A", 900 * YUAN, T0) is AuctionReason.BELOW_MINIMUM
    assert s.refused("A", 2 * WARNING + 100 * YUAN, HALF) is AuctionReason.OVER_CAP


@pytest.mark.parametrize("amount", [0, -100, True, 8_900_000.0, "8900000", 10**16])
def test_bad_amounts_are_refused(amount: Any) -> None:
    assert Session(config()).refused("A", amount, T0) is AuctionReason.BAD_AMOUNT


def test_unadmitted_bidder_is_refused() -> None:
    """A6, A9: only bidders admitted to the session bid."""
    assert Session(config()).refused("Z", WARNING, T0) is AuctionReason.NOT_ADMITTED


# -- time edges ---------------------------------------------------------------------------------------


def test_session_opens_and_ends_to_the_millisecond() -> None:
    """A9: one hour; a bid at the end instant is refused, one millisecond before accepted."""
    s = Session(config())
    assert s.refused("A", WARNING, T0 - MS) is AuctionReason.NOT_OPEN
    s.bid("A", 90_000, END - MS)
    assert s.refused("B", WARNING, END) is AuctionReason.CLOSED


def test_the_second_half_begins_at_the_half_instant() -> None:
    """A9: at the half, first bids become revisions."""
    s = Session(config())
    s.bid("A", 89_000, T0)
    assert s.refused("A", 89_000 * YUAN, HALF - MS) is AuctionReason.ONE_BID_ONLY
    revised = s.bid("A", 89_100, HALF)
    assert (revised.revision, revised.replaces_fen) == (1, 89_000 * YUAN)


# -- the second half -------------------------------------------------------------------------------------


def test_at_most_two_revisions() -> None:
    """A9: up to two revisions in the second half."""
    s = Session(config())
    s.bid("A", 89_000, T0)
    s.bid("A", 89_100, HALF)
    s.bid("A", 89_200, HALF + MS)
    reason = s.refused("A", 89_300 * YUAN, HALF + 2 * MS)
    assert reason is AuctionReason.TOO_MANY_REVISIONS


def test_a_first_bid_in_the_second_half_may_be_revised_twice() -> None:
    s = Session(config(quota=1))
    s.bid("A", 89_000, HALF)
    s.bid("A", 89_100, HALF + MS)
    s.bid("A", 89_200, HALF + 2 * MS)
    assert s.refused("A", 89_300 * YUAN, HALF + 3 * MS) is AuctionReason.TOO_MANY_REVISIONS


def test_second_half_bids_stay_within_300_yuan_of_the_lowest_winning_price() -> None:
    """A9: within ±300 yuan of the current lowest winning price, edges included."""
    s = Session(config(quota=2))
    s.bid("A", 89_000, T0)
    s.bid("B", 89_500, T0)
    s.bid("C", 88_000, T0)
    assert s.book.lowest_winning_price_fen() == 89_000 * YUAN
    at = HALF + timedelta(minutes=1)
    assert s.refused("C", 89_400 * YUAN, at) is AuctionReason.OUTSIDE_WINDOW
    assert s.refused("C", 88_600 * YUAN, at) is AuctionReason.OUTSIDE_WINDOW
    s.bid("C", 89_300, at)
    # C now ranks second and A (89,000) drops out: the lowest winning price rises.
    assert s.book.lowest_winning_price_fen() == 89_300 * YUAN
    s.bid("D", 89_000, at)  # −300 from 89,300: the lower edge is inside
    assert s.book.lowest_winning_price_fen() == 89_300 * YUAN


def test_with_fewer_bids_than_plates_the_lowest_bid_is_the_lowest_winning_price() -> None:
    s = Session(config(quota=10))
    assert s.book.lowest_winning_price_fen() is None
    s.bid("A", 80_000, HALF)  # no bid yet: no window
    s.bid("B", 80_300, HALF)
    assert s.book.lowest_winning_price_fen() == 80_000 * YUAN
    assert s.refused("C", 80_400 * YUAN, HALF) is AuctionReason.OUTSIDE_WINDOW


# -- ranking, cutoff, payment ---------------------------------------------------------------------------


def test_rank_by_price_then_time_the_qth_sets_the_cutoff_and_winners_pay_their_bids() -> None:
    """A9, A2: price first, then the earlier bid; winners pay what they bid."""
    s = Session(config(quota=2))
    s.bid("A", 89_000, T0 + timedelta(minutes=1))
    s.bid("B", 89_000, T0 + timedelta(minutes=2))
    s.bid("C", 89_200, T0 + timedelta(minutes=3))
    result = s.book.result()
    assert [w.paddle for w in result.winners] == ["C", "A"]
    assert result.cutoff_fen == 89_000 * YUAN
    assert result.total_fen == (89_200 + 89_000) * YUAN


def test_a_revision_takes_the_time_of_the_revision() -> None:
    """A9: a revised bid ranks by its new time: re-bidding the same price loses the tie."""
    s = Session(config(quota=1))
    s.bid("A", 89_000, T0)
    s.bid("B", 89_000, T0 + MS)
    s.bid("A", 89_000, HALF)
    assert [w.paddle for w in s.book.result().winners] == ["B"]


def test_the_close_comes_at_the_end_with_the_cutoff() -> None:
    s = Session(config(quota=1))
    s.bid("A", 89_000, T0)
    s.bid("B", 89_100, T0)
    assert s.do(Tick(), END - MS) == ()
    assert s.book.next_deadline() == END
    (closed,) = s.do(Tick(), END + timedelta(minutes=5))
    assert isinstance(closed, QuotaClosed) and closed.at == END
    assert (closed.cutoff_fen, closed.winner_count, closed.bid_count) == (89_100 * YUAN, 1, 2)
    assert s.book.next_deadline() is None
    assert s.do(Tick(), END + timedelta(hours=1)) == ()
    with pytest.raises(AuctionRejected) as caught:
        s.book.decide(Admit("E"), END)
    assert caught.value.reason is AuctionReason.CLOSED
    assert s.refused("A", 89_200 * YUAN, END) is AuctionReason.CLOSED


def test_commands_a_quota_session_does_not_take_are_refused() -> None:
    with pytest.raises(AuctionRejected) as caught:
        QuotaBook(config()).decide(Close("no"), T0)
    assert caught.value.reason is AuctionReason.WRONG_PHASE


def test_watchers_see_counts_and_the_cutoff_never_bidders() -> None:
    s = Session(config())
    s.bid("A", 89_000, T0)
    view = s.book.public_view()
    assert view["bid_count"] == 1 and view["lowest_winning_price_fen"] == 89_000 * YUAN
    assert "A" not in json.dumps(view)


# -- the log ------------------------------------------------------------------------------------------------


def busy_session() -> Session:
    s = Session(config(quota=2))
    s.bid("A", 89_000, T0)
    s.bid("B", 89_500, T0 + MS)
    s.bid("A", 89_200, HALF)
    s.bid("C", 89_300, HALF + MS)
    s.do(Tick(), END)
    return s


def test_replaying_the_log_rebuilds_the_same_book() -> None:
    """DESIGN: a restart replays the log."""
    s = busy_session()
    wire = [json.loads(json.dumps(event_to_dict(e))) for e in s.log]
    events = [event_from_dict(w, QUOTA_EVENT_TYPES) for w in wire]
    assert events == s.log
    again = rebuild_quota(s.book.config, events)
    assert (again.seq, again.admitted, again.bids, again.closed) == (
        s.book.seq,
        s.book.admitted,
        s.book.bids,
        s.book.closed,
    )
    assert again.result() == s.book.result()


def test_replay_refuses_a_log_decide_could_not_have_written() -> None:
    s = busy_session()
    with pytest.raises(CorruptLog):
        rebuild_quota(s.book.config, s.log[:2] + s.log[3:])
    with pytest.raises(CorruptLog):
        rebuild_quota(
            s.book.config, [*s.log, BidderAdmitted(seq=len(s.log) + 1, at=END, paddle="Z")]
        )
    stranger = QuotaBidAccepted(
        seq=1, at=T0, bid_id="x", paddle="Z", amount_fen=WARNING, revision=0, replaces_fen=None
    )
    with pytest.raises(CorruptLog):
        rebuild_quota(s.book.config, [stranger])


def test_configuration_lists_every_problem() -> None:
    with pytest.raises(ValidationFailed) as caught:
        QuotaConfig(
            session_id="",
            quota=0,
            starts_at=datetime(2026, 1, 1),
            warning_price_fen=WARNING + 1,
            first_half_s=0,
        )
    assert len(caught.value.details["errors"]) >= 4
    with pytest.raises(ValidationFailed):
        config(min_price_fen=WARNING + 10_000)
    with pytest.raises(ValidationFailed):
        config(step_fen=1, max_price_fen=10**12)  # too many price levels
    assert config().ceiling_fen == 2 * WARNING


def test_allocate_is_pay_as_bid_in_rank_order() -> None:
    bids = [
        QuotaBid("A", 100, 3, T0, 0),
        QuotaBid("B", 300, 5, T0, 0),
        QuotaBid("C", 100, 2, T0, 0),
    ]
    result = allocate(2, bids)
    assert [b.paddle for b in result.winners] == ["B", "C"] and result.cutoff_fen == 100
    assert allocate(2, []).cutoff_fen is None


# -- the cutoff, by property ----------------------------------------------------------------------------------

PADDLES = tuple(f"Q{i}" for i in range(8))
STEP = 10_000


def brute_cutoff(book: QuotaBook) -> int | None:
    ranked = sorted(book.bids.values(), key=QuotaBid.rank_key)
    if not ranked:
        return None
    return ranked[min(book.config.quota, len(ranked)) - 1].amount_fen


bid_op = st.tuples(
    st.just("bid"),
    st.tuples(
        st.sampled_from(PADDLES),
        st.integers(-8, 3),  # steps from the warning price
        st.integers(0, 9).map(lambda n: 5_000 if n == 0 else 0),  # sometimes off the grid
    ),
)
op = st.one_of(
    st.tuples(st.just("wait"), st.sampled_from([1, 500, 3_000, 10_000, 20_000])),
    st.tuples(st.just("admit"), st.sampled_from(PADDLES)),
    st.tuples(st.just("tick"), st.just(0)),
    bid_op,
    bid_op,
    st.tuples(st.just("near"), st.tuples(st.sampled_from(PADDLES[:4]), st.integers(-4, 4))),
    st.tuples(st.just("near"), st.tuples(st.sampled_from(PADDLES[:4]), st.integers(-4, 4))),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    quota=st.integers(1, 5),
    admitted=st.integers(0, len(PADDLES) - 1),
    ops=st.lists(op, min_size=20, max_size=120),
)
def test_the_qth_ranked_bid_is_the_cutoff(
    quota: int, admitted: int, ops: list[tuple[str, Any]]
) -> None:
    """A9: at every moment the live cutoff equals the price of the Q-th bid ranked by price
    then time (or the last bid's, when fewer); every acceptance and every refusal follows
    the rules; at the close the Q best win and pay as bid; the log replays."""
    warning = 1_000_000
    cfg = QuotaConfig(
        session_id="prop",
        quota=quota,
        starts_at=T0,
        warning_price_fen=warning,
        first_half_s=30,
        second_half_s=30,
    )
    book = QuotaBook(cfg)
    log: list[Any] = []
    for paddle in PADDLES[:admitted]:
        log.extend(book.handle(Admit(paddle), T0 - MS))
    now = T0
    for kind, arg in ops:
        if kind == "wait":
            now += timedelta(milliseconds=arg)
            continue
        if kind == "admit":
            command: Any = Admit(arg)
        elif kind == "tick":
            command = Tick()
        elif kind == "near":  # aim at the window around the current cutoff: edges ±3, out ±4
            paddle, steps = arg
            base = book.lowest_winning_price_fen() or warning
            command = PlaceBid(f"b{len(log)}", paddle, base + steps * STEP)
        else:
            paddle, steps, off = arg
            command = PlaceBid(f"b{len(log)}", paddle, warning + steps * STEP + off)
        cutoff_before = book.lowest_winning_price_fen()
        standing = book.bids.get(getattr(command, "paddle", ""))
        try:
            events = book.handle(command, now)
        except AuctionRejected as refused:
            justify(refused.reason, cfg, book, command, now, cutoff_before)
            event(f"refused: {refused.reason.code}")
        else:
            for logged in events:
                if isinstance(logged, QuotaBidAccepted):
                    assert logged.paddle in book.admitted and cfg.starts_at <= now < cfg.ends_at
                    assert logged.amount_fen % STEP == 0
                    if now < cfg.half_at:
                        assert standing is None and logged.amount_fen <= warning
                    else:
                        assert logged.revision <= cfg.max_revisions
                        if cutoff_before is not None:
                            assert abs(logged.amount_fen - cutoff_before) <= cfg.window_fen
                        event(f"second-half bid, revision {logged.revision}")
            log.extend(events)
        assert book.lowest_winning_price_fen() == brute_cutoff(book)
    result = book.result()
    ranked = sorted(book.bids.values(), key=lambda b: (-b.amount_fen, b.seq))
    assert list(result.winners) == ranked[:quota]
    assert result.cutoff_fen == brute_cutoff(book)
    assert all(w.amount_fen >= (result.cutoff_fen or 0) for w in result.winners)
    again = rebuild_quota(cfg, log)
    assert (again.bids, again.seq, again.closed) == (book.bids, book.seq, book.closed)


def justify(
    reason: AuctionReason,
    cfg: QuotaConfig,
    book: QuotaBook,
    command: Any,
    now: datetime,
    cutoff: int | None,
) -> None:
    """The condition each refusal names holds."""
    R = AuctionReason
    amount = getattr(command, "amount_fen", 0)
    standing = book.bids.get(getattr(command, "paddle", ""))
    if reason is R.NOT_OPEN:
        assert now < cfg.starts_at
    elif reason is R.CLOSED:
        assert now >= cfg.ends_at or book.closed is not None
    elif reason is R.NOT_ADMITTED:
        assert command.paddle not in book.admitted
    elif reason is R.NOT_INCREMENT_MULTIPLE:
        assert amount % cfg.step_fen
    elif reason is R.BELOW_MINIMUM:
        assert amount < cfg.min_price_fen
    elif reason is R.OVER_CAP:
        assert amount > cfg.ceiling_fen
    elif reason is R.ONE_BID_ONLY:
        assert now < cfg.half_at and standing is not None
    elif reason is R.OVER_WARNING_PRICE:
        assert now < cfg.half_at and amount > cfg.warning_price_fen
    elif reason is R.TOO_MANY_REVISIONS:
        assert now >= cfg.half_at and standing is not None
        assert standing.revision >= cfg.max_revisions
    elif reason is R.OUTSIDE_WINDOW:
        assert now >= cfg.half_at and cutoff is not None
        assert abs(amount - cutoff) > cfg.window_fen
    else:
        raise AssertionError(f"unexpected refusal {reason}")


def test_a_large_session_keeps_its_cutoff_in_log_time() -> None:
    """The surge: many bidders, one book; the cutoff after each bid is exact."""
    cfg = QuotaConfig(session_id="big", quota=500, starts_at=T0, warning_price_fen=WARNING)
    book = QuotaBook(cfg)
    for i in range(5_000):
        book.handle(Admit(f"P{i}"), T0)
    for i in range(5_000):
        amount = WARNING - (i * 7919 % 60) * 10_000
        book.handle(PlaceBid(f"b{i}", f"P{i}", amount), T0 + i * MS)
    assert book.lowest_winning_price_fen() == brute_cutoff(book)
    assert book.result().cutoff_fen == brute_cutoff(book)
