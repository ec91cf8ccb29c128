"""The rules of one live lot (auction.rules), example by example, with a fake clock.

Sources are cited per test: O39 = 招标拍卖挂牌出让国有建设用地使用权规定 (2007); RULES.md
rows A1–A8; "practice" = land and plate auction practice recorded in DESIGN.md.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from auction.errors import AuctionReason, AuctionRejected, CorruptLog
from auction.model import (
    COMMAND_TYPES,
    EVENT_TYPES,
    MAX_AMOUNT_FEN,
    AcceptCap,
    Admit,
    Basis,
    BidAccepted,
    BidderAdmitted,
    BiddingEnded,
    CapPolicy,
    CapReached,
    CapResolved,
    Close,
    Command,
    CountdownPolicy,
    CountdownStarted,
    DecideByCriterion,
    DrawLottery,
    Event,
    LotClosed,
    LotConfig,
    LotKind,
    LotPaused,
    LotResumed,
    LotStarted,
    LotState,
    OutagePolicyApplied,
    Outcome,
    Pause,
    Phase,
    PlaceBid,
    Reinstate,
    ReserveSealed,
    Resume,
    RevealReserve,
    SealReserve,
    SeedCommitted,
    Start,
    Suspend,
    Tick,
    config_from_dict,
    config_to_dict,
    event_from_dict,
    event_to_dict,
)
from auction.rules import (
    TRANSITIONS,
    apply,
    decide,
    initial_state,
    lottery_pick,
    minimum_bid_fen,
    next_deadline,
    public_view,
    rebuild,
    recover,
    reserve_commitment,
)
from trading.clock import FakeClock
from trading.errors import ValidationFailed

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)
S = timedelta(seconds=1)
YUAN = 100
SALT = b"s" * 16


def plate(**options: Any) -> LotConfig:
    return LotConfig.plate(
        lot_id="P-001",
        session_id="S-1",
        starting_price_fen=10_000 * YUAN,
        increment_fen=1_000 * YUAN,
        deposit_fen=5_000 * YUAN,
        starts_at=T0,
        **options,
    )


def land(**options: Any) -> LotConfig:
    defaults: dict[str, Any] = {
        "lot_id": "L-001",
        "starting_price_fen": 100_000_000 * YUAN,
        "increment_fen": 1_000_000 * YUAN,
        "deposit_fen": 20_000_000 * YUAN,
        "listing_starts_at": T0,
        "listing_ends_at": T0 + timedelta(days=10),
    }
    return LotConfig.land(**{**defaults, **options})


class Lot:
    """Drives one lot with a fake clock and keeps its log, as the engine would."""

    def __init__(self, config: LotConfig, clock: FakeClock | None = None) -> None:
        self.config = config
        self.clock = clock or FakeClock(config.opens_at)
        self.state = initial_state(config)
        self.log: list[Event] = []

    def do(self, command: Command, at: datetime | None = None) -> tuple[Event, ...]:
        decision = decide(self.state, command, at or self.clock.now())
        assert decision.state == rebuild(self.config, [*self.log, *decision.events])
        assert decision.next_deadline == next_deadline(decision.state)
        self.state = decision.state
        self.log.extend(decision.events)
        return decision.events

    def refused(self, command: Command, at: datetime | None = None) -> AuctionReason:
        before = self.state
        with pytest.raises(AuctionRejected) as caught:
            decide(self.state, command, at or self.clock.now())
        assert self.state is before
        return caught.value.reason

    def admit(self, *paddles: str) -> None:
        for paddle in paddles:
            self.do(Admit(paddle))

    def bid(self, paddle: str, amount_fen: int, at: datetime | None = None) -> BidAccepted:
        events = self.do(PlaceBid(f"b{len(self.log)}", paddle, amount_fen), at)
        accepted = [e for e in events if isinstance(e, BidAccepted)]
        assert len(accepted) == 1
        return accepted[0]


def started_plate(**options: Any) -> Lot:
    lot = Lot(plate(**options))
    lot.admit("A1", "A2", "A3")
    lot.do(Start())
    return lot


def started_land(**options: Any) -> Lot:
    lot = Lot(land(**options))
    lot.admit("L1", "L2", "L3")
    lot.do(Start())
    return lot


# -- A1: whole increments -------------------------------------------------------------------


def test_first_bid_may_be_the_starting_price() -> None:
    """A1 (O39): the race opens at the starting price; the first bid may take it."""
    lot = started_plate()
    assert lot.bid("A1", lot.config.starting_price_fen).amount_fen == 1_000_000


def test_bid_below_the_minimum_is_refused() -> None:
    """A1 (O39): below the starting price, or not above the highest, is refused."""
    lot = started_plate()
    assert lot.refused(PlaceBid("x", "A1", 999_999)) is AuctionReason.BELOW_MINIMUM
    lot.bid("A1", 1_000_000)
    assert lot.refused(PlaceBid("y", "A2", 1_000_000)) is AuctionReason.BELOW_MINIMUM
    assert lot.refused(PlaceBid("y", "A2", 1_050_000)) is AuctionReason.BELOW_MINIMUM


def test_one_and_a_half_increments_are_refused() -> None:
    """A1 (O39, practice): bids rise by whole multiples of the increment (增价幅度)."""
    lot = started_plate()
    assert lot.refused(PlaceBid("x", "A1", 1_050_000)) is AuctionReason.NOT_INCREMENT_MULTIPLE
    lot.bid("A1", 1_000_000)
    assert lot.refused(PlaceBid("y", "A2", 1_150_000)) is AuctionReason.NOT_INCREMENT_MULTIPLE
    assert lot.bid("A2", 1_300_000).amount_fen == 1_300_000
    assert minimum_bid_fen(lot.state) == 1_400_000


def test_equal_bids_the_earlier_wins_the_later_is_refused() -> None:
    """A2 (O39): equal prices never both stand; the server's arrival order decides."""
    lot = started_plate()
    first = lot.bid("A1", 1_100_000)
    assert lot.refused(PlaceBid("y", "A2", 1_100_000)) is AuctionReason.BELOW_MINIMUM
    second = lot.bid("A2", 1_200_000)
    assert second.seq == first.seq + 1


# -- A6: admission, suspension, paddles -------------------------------------------------------


def test_unadmitted_bid_is_refused() -> None:
    """A6 (O39): no confirmed deposit, no admission, no bid."""
    lot = started_plate()
    assert lot.refused(PlaceBid("x", "Z9", 1_000_000)) is AuctionReason.NOT_ADMITTED


def test_admission_twice_changes_nothing() -> None:
    """A6: admitting is idempotent (a repeated deposit confirmation)."""
    lot = started_plate()
    assert lot.do(Admit("A1")) == ()


def test_suspended_bidder_is_refused_until_reinstated() -> None:
    """Practice: staff may suspend a bidder; the suspension has its own code."""
    lot = started_plate()
    lot.do(Suspend("A1", "suspected collusion"))
    assert lot.refused(PlaceBid("x", "A1", 1_000_000)) is AuctionReason.SUSPENDED
    lot.do(Reinstate("A1"))
    lot.bid("A1", 1_000_000)
    assert lot.refused(Suspend("Z9", "unknown")) is AuctionReason.NOT_ADMITTED


def test_private_events_are_marked_not_public() -> None:
    """A6: admissions (how many rivals) and the reserve commitment are not broadcast."""
    assert not BidderAdmitted.public and not ReserveSealed.public
    assert BidAccepted.public and LotClosed.public


def test_frames_name_bidders_only_by_paddle() -> None:
    """A6: events and the public view carry paddles and nothing else about a bidder."""
    identity_words = {"party", "name", "user", "bidder_id", "account"}
    for cls in EVENT_TYPES.values():
        fields = {f.name for f in dataclasses.fields(cls)}
        assert not any(word in f for f in fields for word in identity_words), cls
    view = public_view(started_plate().state)
    assert "admitted" not in view and "suspended" not in view


# -- own bid already highest -----------------------------------------------------------------


def test_own_highest_bid_cannot_be_raised_by_default() -> None:
    """Practice (cfg): the highest bidder may not bid against themselves."""
    lot = started_plate()
    lot.bid("A1", 1_000_000)
    assert lot.refused(PlaceBid("y", "A1", 1_100_000)) is AuctionReason.ALREADY_HIGHEST


def test_own_highest_bid_may_be_raised_when_configured() -> None:
    """Practice (cfg): allow_self_raise lets the leader raise."""
    lot = started_plate(allow_self_raise=True)
    lot.bid("A1", 1_000_000)
    assert lot.bid("A1", 1_100_000).amount_fen == 1_100_000


# -- amounts and command shapes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [0, -1_000_000, True, 1_000_000.0, "1000000", None, MAX_AMOUNT_FEN + 1, 10**30],
)
def test_bad_amounts_are_refused(amount: Any) -> None:
    """Money is whole fen, positive, bounded; never float (house rule)."""
    lot = started_plate()
    assert lot.refused(PlaceBid("x", "A1", amount)) is AuctionReason.BAD_AMOUNT


@pytest.mark.parametrize(
    "command",
    [
        PlaceBid("", "A1", 1_000_000),
        PlaceBid("x" * 65, "A1", 1_000_000),
        PlaceBid("x", "", 1_000_000),
        PlaceBid("x", " A1", 1_000_000),
        PlaceBid("x", "A" * 33, 1_000_000),
        PlaceBid("x", 7, 1_000_000),  # type: ignore[arg-type]
        Admit("bad\npaddle"),
        Pause("   "),
        Pause("x" * 501),
        Close(""),
        SealReserve("not hex"),
        RevealReserve(1, b"short"),
        DrawLottery(b""),
        DecideByCriterion("A1", ""),
    ],
)
def test_malformed_commands_are_refused(command: Command) -> None:
    """Every input is validated; the refusal says so and nothing changes."""
    lot = started_plate()
    assert lot.refused(command) is AuctionReason.BAD_COMMAND


def test_non_command_is_refused() -> None:
    lot = started_plate()
    assert lot.refused("bid!") is AuctionReason.BAD_COMMAND  # type: ignore[arg-type]


def test_naive_now_is_a_programming_error() -> None:
    lot = started_plate()
    with pytest.raises(TypeError):
        decide(lot.state, Tick(), datetime(2026, 3, 2, 1, 0))


# -- opening and schedule ------------------------------------------------------------------------


def test_bid_before_the_start_is_not_open() -> None:
    """The lot takes bids only once started (session start for plates)."""
    lot = Lot(plate())
    lot.admit("A1")
    assert lot.refused(PlaceBid("x", "A1", 1_000_000)) is AuctionReason.NOT_OPEN


def test_start_before_the_schedule_is_too_early() -> None:
    """The published start time binds staff too."""
    lot = Lot(plate())
    assert lot.refused(Start(), T0 - MS) is AuctionReason.TOO_EARLY
    assert isinstance(lot.do(Start(), T0)[0], LotStarted)
    assert lot.refused(Start()) is AuctionReason.WRONG_PHASE


def test_plate_session_lots_share_the_start_and_each_runs_its_own_countdown() -> None:
    """DESIGN (plates): many lots at once, each its own countdown after a common start."""
    clock = FakeClock(T0)
    lots = [
        Lot(LotConfig.plate(**{**_plate_kwargs(), "lot_id": f"P-{i}"}), clock) for i in range(3)
    ]
    for lot in lots:
        lot.admit("A1", "A2")
        lot.do(Start())
    clock.advance(seconds=30)
    lots[1].bid("A1", 1_000_000)
    clock.advance(seconds=30)
    for lot in (lots[0], lots[2]):
        assert lot.do(Tick())[0].outcome is Outcome.NO_SALE  # type: ignore[attr-defined]
    assert lots[1].do(Tick()) == ()
    clock.advance(seconds=30)
    closed = lots[1].do(Tick())[0]
    assert isinstance(closed, LotClosed) and closed.winner == "A1"


def _plate_kwargs() -> dict[str, Any]:
    return {
        "lot_id": "P",
        "session_id": "S-1",
        "starting_price_fen": 1_000_000,
        "increment_fen": 100_000,
        "deposit_fen": 0,
        "starts_at": T0,
    }


# -- A5: the countdown, edge by edge, on a fake clock ----------------------------------------------


def test_bid_at_the_countdown_end_is_closed_and_one_ms_before_is_accepted() -> None:
    """A5 (O39, practice): the close comes when the countdown runs out, to the millisecond."""
    lot = started_plate()
    end = lot.state.countdown_ends_at
    assert end == T0 + timedelta(seconds=60)
    accepted = lot.bid("A1", 1_000_000, at=end - MS)
    assert accepted.countdown_ends_at == end - MS + timedelta(seconds=60)
    new_end = accepted.countdown_ends_at
    assert lot.refused(PlaceBid("y", "A2", 1_100_000), new_end) is AuctionReason.CLOSED
    assert lot.bid("A2", 1_100_000, at=new_end - MS).amount_fen == 1_100_000


def test_each_accepted_bid_restarts_the_countdown() -> None:
    """A5: the countdown restarts from every accepted bid, not from the previous end."""
    clock = FakeClock(T0)
    lot = Lot(plate(countdown_s=60), clock)
    lot.admit("A1", "A2")
    lot.do(Start())
    clock.advance(seconds=59)
    assert lot.bid("A1", 1_000_000).countdown_ends_at == T0 + timedelta(seconds=119)
    clock.advance(seconds=1)
    assert lot.bid("A2", 1_100_000).countdown_ends_at == T0 + timedelta(seconds=120)
    clock.advance(seconds=59, milliseconds=999)
    assert lot.do(Tick()) == ()
    clock.advance(milliseconds=1)
    (closed,) = lot.do(Tick())
    assert isinstance(closed, LotClosed)
    assert (closed.outcome, closed.winner, closed.price_fen) == (Outcome.SOLD, "A2", 1_100_000)
    assert closed.at == T0 + timedelta(seconds=120)


def test_a_late_tick_closes_at_the_true_end() -> None:
    """A5: the close is stamped at the countdown's end however late the timer fires."""
    lot = started_plate()
    lot.bid("A1", 1_000_000, at=T0 + 10 * S)
    (closed,) = lot.do(Tick(), T0 + timedelta(hours=3))
    assert closed.at == T0 + 70 * S


def test_refused_late_bid_leaves_the_close_to_the_tick() -> None:
    """A bid after the end is refused and nothing changes; the next Tick closes, the same."""
    lot = started_plate()
    lot.bid("A1", 1_000_000, at=T0 + S)
    assert lot.refused(PlaceBid("y", "A2", 1_100_000), T0 + 90 * S) is AuctionReason.CLOSED
    assert lot.state.phase is Phase.COUNTDOWN
    (closed,) = lot.do(Tick(), T0 + 95 * S)
    assert closed.at == T0 + 61 * S and closed.seq == lot.log[-2].seq + 1


def test_sub_millisecond_now_is_truncated_to_the_log_precision() -> None:
    """Times are kept to the millisecond so the log replays exactly."""
    lot = started_plate()
    end = lot.state.countdown_ends_at
    assert end is not None
    accepted = lot.bid("A1", 1_000_000, at=end - timedelta(microseconds=500))
    assert accepted.at == end - MS


def test_time_never_runs_backwards_within_a_lot() -> None:
    """An earlier ``now`` (a clock stepped back) is read as the last event's time."""
    lot = started_plate()
    lot.bid("A1", 1_000_000, at=T0 + 10 * S)
    accepted = lot.bid("A2", 1_100_000, at=T0 + 5 * S)
    assert accepted.at == T0 + 10 * S


def test_plate_without_bids_is_no_sale() -> None:
    """A4: no bid → 流拍."""
    lot = started_plate()
    (closed,) = lot.do(Tick(), T0 + 60 * S)
    assert isinstance(closed, LotClosed)
    assert (closed.outcome, closed.basis, closed.winner) == (Outcome.NO_SALE, Basis.NO_BID, None)


def test_anything_after_the_close_is_refused_as_closed() -> None:
    lot = started_plate()
    lot.do(Tick(), T0 + 60 * S)
    for command in (PlaceBid("x", "A1", 1_000_000), Admit("A9"), Pause("x"), Start(), Resume()):
        assert lot.refused(command) is AuctionReason.CLOSED
    assert lot.do(Tick()) == ()


# -- A5: land listing and timed phase ----------------------------------------------------------------


def test_listing_shorter_than_ten_days_is_refused() -> None:
    """A5 (O39 art. 21): the listing lasts at least 10 days (cfg)."""
    with pytest.raises(ValidationFailed) as caught:
        land(listing_ends_at=T0 + timedelta(days=10) - MS)
    assert any("10 days" in p for p in caught.value.details["errors"])
    assert land(min_listing_days=3, listing_ends_at=T0 + timedelta(days=3)).kind.value == "land"


def test_land_deposit_below_twenty_percent_is_refused() -> None:
    """A7 (land practice, cfg): the deposit is at least 20 % of the starting price."""
    with pytest.raises(ValidationFailed):
        land(deposit_fen=20_000_000 * YUAN - 1)
    assert land(min_deposit_pct=10, deposit_fen=10_000_000 * YUAN).deposit_fen == 10**9


def test_configuration_lists_every_problem() -> None:
    """beancount style: validation returns every problem, not the first."""
    with pytest.raises(ValidationFailed) as caught:
        LotConfig(
            lot_id="",
            kind=LotKind.LAND,
            starting_price_fen=0,
            increment_fen=1.5,  # type: ignore[arg-type]
            deposit_fen=-1,
            opens_at=datetime(2026, 1, 1),
            countdown_s=0,
            resume_policy=CountdownPolicy.STAY_PAUSED,
        )
    assert len(caught.value.details["errors"]) >= 7


def test_price_cap_must_sit_on_the_increment_grid() -> None:
    """A8 (cfg): the cap is reachable: starting price plus whole increments."""
    with pytest.raises(ValidationFailed):
        plate(price_cap_fen=1_050_000)
    with pytest.raises(ValidationFailed):
        plate(price_cap_fen=1_000_000)
    assert plate(price_cap_fen=1_500_000).price_cap_fen == 1_500_000


def test_listing_bid_in_its_last_hour_is_refused() -> None:
    """A5 (O39, cfg): no listing bids in the listing's last hour."""
    lot = started_land()
    quiet_from = T0 + timedelta(days=10) - timedelta(hours=1)
    lot.bid("L1", 10**10, at=quiet_from - MS)
    reason = lot.refused(PlaceBid("y", "L2", 10**10 + 10**8), quiet_from)
    assert reason is AuctionReason.LISTING_QUIET


def test_listing_quiet_period_is_configurable() -> None:
    lot = started_land(listing_quiet_s=0)
    lot.bid("L1", 10**10, at=T0 + timedelta(days=10) - MS)


def test_listing_without_bids_closes_as_no_sale_at_its_end() -> None:
    """A4, A5: nobody bid in the listing → no timed phase, 流拍 at the listing end."""
    lot = started_land()
    (closed,) = lot.do(Tick(), T0 + timedelta(days=11))
    assert isinstance(closed, LotClosed)
    assert closed.outcome is Outcome.NO_SALE and closed.at == T0 + timedelta(days=10)


def test_listing_with_bids_switches_to_a_four_minute_countdown_at_its_end() -> None:
    """A5: if anyone bid, 限时竞价 begins at the listing end with a 4-minute countdown."""
    lot = started_land()
    lot.bid("L1", 10**10, at=T0 + timedelta(days=1))
    end = T0 + timedelta(days=10)
    # A bid arriving exactly at the listing end is a bid in the timed phase.
    events = lot.do(PlaceBid("b", "L2", 10**10 + 3 * 10**8), end)
    assert isinstance(events[0], CountdownStarted) and events[0].at == end
    assert events[0].countdown_ends_at == end + timedelta(minutes=4)
    assert isinstance(events[1], BidAccepted)
    assert events[1].countdown_ends_at == end + timedelta(minutes=4)
    assert lot.state.phase is Phase.COUNTDOWN


def test_land_single_bidder_without_reserve_wins_after_the_countdown() -> None:
    """A4: one bidder, no reserve: the highest (only) bid wins when the countdown runs out."""
    lot = started_land()
    lot.bid("L1", 10**10, at=T0 + timedelta(days=2))
    events = lot.do(Tick(), T0 + timedelta(days=10, minutes=4))
    assert [type(e) for e in events] == [CountdownStarted, LotClosed]
    closed = events[1]
    assert isinstance(closed, LotClosed) and closed.winner == "L1"
    assert closed.at == T0 + timedelta(days=10, minutes=4)


def test_pausing_the_listing_moves_its_end_by_the_pause() -> None:
    """Pauses stop the listing's clock: its last hour stays a full hour."""
    lot = started_land()
    lot.do(Pause("system check"), T0 + timedelta(days=5))
    assert lot.refused(PlaceBid("x", "L1", 10**10)) is AuctionReason.PAUSED
    (resumed,) = lot.do(Resume(), T0 + timedelta(days=5, hours=2))
    assert isinstance(resumed, LotResumed)
    assert resumed.listing_ends_at == T0 + timedelta(days=10, hours=2)
    assert next_deadline(lot.state) == T0 + timedelta(days=10, hours=2)


# -- A3, A4: the reserve price ---------------------------------------------------------------------


def reserved_land(reserve_fen: int) -> Lot:
    lot = Lot(land())
    lot.admit("L1", "L2")
    lot.do(SealReserve(reserve_commitment(reserve_fen, SALT)))
    lot.do(Start())
    return lot


def test_highest_at_or_above_the_reserve_wins() -> None:
    """A4 (O39): a single bidder at or above the reserve wins."""
    reserve = 10**10 + 2 * 10**8
    lot = reserved_land(reserve)
    lot.bid("L1", reserve, at=T0 + timedelta(days=1))
    (started, ended) = lot.do(Tick(), T0 + timedelta(days=10, minutes=5))
    assert isinstance(ended, BiddingEnded) and ended.at == T0 + timedelta(days=10, minutes=4)
    assert lot.state.phase is Phase.AWAITING_RESERVE and next_deadline(lot.state) is None
    assert lot.refused(PlaceBid("x", "L2", reserve + 10**8)) is AuctionReason.CLOSED
    (closed,) = lot.do(RevealReserve(reserve, SALT))
    assert isinstance(closed, LotClosed)
    assert (closed.outcome, closed.winner, closed.price_fen, closed.reserve_fen) == (
        Outcome.SOLD,
        "L1",
        reserve,
        reserve,
    )


def test_highest_below_the_reserve_is_no_sale() -> None:
    """A4 (O39): highest below the reserve → 流拍."""
    reserve = 10**10 + 2 * 10**8
    lot = reserved_land(reserve)
    lot.bid("L1", 10**10 + 10**8, at=T0 + timedelta(days=1))
    lot.do(Tick(), T0 + timedelta(days=11))
    (closed,) = lot.do(RevealReserve(reserve, SALT))
    assert isinstance(closed, LotClosed)
    assert (closed.outcome, closed.basis, closed.winner) == (
        Outcome.NO_SALE,
        Basis.BELOW_RESERVE,
        None,
    )


def test_reserve_is_in_no_frame_before_the_close() -> None:
    """A3 (O39, cfg): the reserve stays secret until the close, in every event and view."""
    reserve = 10**10 + 7 * 10**8
    lot = reserved_land(reserve)
    lot.bid("L1", 10**10, at=T0 + timedelta(days=1))
    lot.bid("L2", 10**10 + 10**8, at=T0 + timedelta(days=2))
    lot.do(Tick(), T0 + timedelta(days=11))
    assert lot.refused(RevealReserve(reserve, b"t" * 16)) is AuctionReason.RESERVE_MISMATCH
    assert lot.refused(RevealReserve(reserve + 1, SALT)) is AuctionReason.RESERVE_MISMATCH
    before_close = json.dumps([event_to_dict(e) for e in lot.log]) + json.dumps(
        public_view(lot.state)
    )
    assert str(reserve) not in before_close and lot.state.reserve_fen is None
    lot.do(RevealReserve(reserve, SALT))
    assert public_view(lot.state)["reserve_fen"] == reserve


def test_reserve_cannot_be_revealed_before_the_close() -> None:
    """A3: checked only at the close."""
    lot = reserved_land(10**10)
    assert lot.refused(RevealReserve(10**10, SALT)) is AuctionReason.WRONG_PHASE


def test_reserve_is_sealed_once_and_before_the_timed_phase() -> None:
    """A3: entered before the listing closes; not replaced."""
    lot = reserved_land(10**10)
    again = SealReserve(reserve_commitment(1, SALT))
    assert lot.refused(again) is AuctionReason.RESERVE_ALREADY_SEALED
    other = started_land()
    other.bid("L1", 10**10, at=T0 + timedelta(days=1))
    other.do(Tick(), T0 + timedelta(days=10))
    assert other.refused(again) is AuctionReason.WRONG_PHASE


def test_no_bid_closes_without_revealing_the_reserve() -> None:
    """A3, A4: no bid → 流拍, and the reserve never needs to leave its seal."""
    lot = reserved_land(10**10)
    (closed,) = lot.do(Tick(), T0 + timedelta(days=10))
    assert isinstance(closed, LotClosed) and closed.reserve_fen is None
    assert closed.basis is Basis.NO_BID


# -- A8: the price cap --------------------------------------------------------------------------------

CAP = 1_500_000


def capped(**options: Any) -> Lot:
    lot = started_plate(price_cap_fen=CAP, **options)
    lot.admit("A4")
    return lot


def test_bid_over_the_cap_is_refused() -> None:
    """A8 (land practice): no bid above the price cap."""
    lot = capped()
    assert lot.refused(PlaceBid("x", "A1", CAP + 100_000)) is AuctionReason.OVER_CAP


def test_reaching_the_cap_ends_the_price_race() -> None:
    """A8: a bid at the cap switches the lot to cap_reached; no more bids, no countdown."""
    lot = capped()
    lot.bid("A1", 1_000_000)
    events = lot.do(PlaceBid("c", "A2", CAP))
    assert [type(e) for e in events] == [BidAccepted, CapReached]
    assert events[0].countdown_ends_at is None  # type: ignore[attr-defined]
    assert lot.state.phase is Phase.CAP_REACHED and next_deadline(lot.state) is None
    assert lot.refused(PlaceBid("y", "A3", CAP)) is AuctionReason.CLOSED
    assert lot.do(Tick(), T0 + timedelta(hours=1)) == ()


def test_cap_lottery_draws_among_those_who_accept_the_capped_price() -> None:
    """A8 (cfg lottery): the seed is passed in; anyone can re-run the draw."""
    lot = capped()
    lot.bid("A1", CAP)
    lot.do(AcceptCap("A3"))
    lot.do(AcceptCap("A2"))
    assert lot.do(AcceptCap("A3")) == ()
    assert lot.refused(AcceptCap("Z9")) is AuctionReason.NOT_ADMITTED
    assert lot.refused(DecideByCriterion("A1", "area")) is AuctionReason.CAP_POLICY_MISMATCH
    seed = bytes(range(32))
    resolved, closed = lot.do(DrawLottery(seed))
    assert isinstance(resolved, CapResolved) and isinstance(closed, LotClosed)
    assert resolved.candidates == ("A1", "A3", "A2")
    assert resolved.winner == lottery_pick(
        bytes.fromhex(resolved.seed_hex or ""), ("A1", "A3", "A2")
    )
    assert (closed.winner, closed.price_fen, closed.basis) == (
        resolved.winner,
        CAP,
        Basis.LOTTERY,
    )


def test_lottery_is_deterministic_and_uses_every_candidate() -> None:
    """A8: same seed and candidates, same pick; over many seeds every candidate can win."""
    candidates = ("A1", "A2", "A3")
    assert lottery_pick(b"seed", candidates) == lottery_pick(b"seed", candidates)
    winners = {lottery_pick(i.to_bytes(4, "big"), candidates) for i in range(64)}
    assert winners == set(candidates)


def test_cap_second_criterion_is_entered_by_staff_among_candidates() -> None:
    """A8 (cfg second criterion, e.g. public housing floor area offered)."""
    lot = capped(cap_policy=CapPolicy.SECOND_CRITERION)
    lot.bid("A1", CAP)
    lot.do(AcceptCap("A2"))
    assert lot.refused(DrawLottery(b"x")) is AuctionReason.CAP_POLICY_MISMATCH
    assert lot.refused(DecideByCriterion("A3", "most area")) is AuctionReason.NOT_A_CANDIDATE
    _, closed = lot.do(DecideByCriterion("A2", "offers 12,000 m² of public housing"))
    assert isinstance(closed, LotClosed)
    assert (closed.winner, closed.basis) == ("A2", Basis.SECOND_CRITERION)


def test_a_suspended_candidate_is_left_out_of_the_cap_decision() -> None:
    """A8: only bidders in good standing take the lot at the capped price."""
    lot = capped()
    lot.bid("A1", CAP)
    lot.do(AcceptCap("A2"))
    lot.do(Suspend("A1", "forged documents"))
    resolved, _ = lot.do(DrawLottery(b"seed"))
    assert isinstance(resolved, CapResolved)
    assert (resolved.candidates, resolved.winner) == (("A2",), "A2")
    other = capped(cap_policy=CapPolicy.SECOND_CRITERION)
    other.bid("A1", CAP)
    other.do(Suspend("A1", "forged documents"))
    assert other.refused(DecideByCriterion("A1", "area")) is AuctionReason.SUSPENDED
    lottery = capped()
    lottery.bid("A1", CAP)
    lottery.do(Suspend("A1", "forged documents"))
    assert lottery.refused(DrawLottery(b"seed")) is AuctionReason.SUSPENDED


def test_cap_with_a_sealed_reserve_waits_for_the_reveal() -> None:
    """A3, A8: the reserve is still checked at the close, after the cap is resolved."""
    lot = Lot(plate(price_cap_fen=CAP))
    lot.admit("A1")
    lot.do(SealReserve(reserve_commitment(1_200_000, SALT)))
    lot.do(Start())
    lot.bid("A1", CAP)
    (resolved,) = lot.do(DrawLottery(b"seed"))
    assert lot.state.phase is Phase.AWAITING_RESERVE
    (closed,) = lot.do(RevealReserve(1_200_000, SALT))
    assert isinstance(closed, LotClosed) and closed.basis is Basis.LOTTERY
    assert closed.winner == "A1" and closed.reserve_fen == 1_200_000


# -- staff: pause, resume, close ------------------------------------------------------------------------


def test_pause_refuses_bids_and_resume_gives_a_full_countdown() -> None:
    """Staff pause (with reason) and resume; default: a full countdown from the resume."""
    lot = started_plate()
    lot.bid("A1", 1_000_000, at=T0 + 10 * S)
    (paused,) = lot.do(Pause("network incident"), T0 + 40 * S)
    assert isinstance(paused, LotPaused) and paused.remaining_ms == 30_000
    assert lot.refused(PlaceBid("x", "A2", 1_100_000), T0 + 80 * S) is AuctionReason.PAUSED
    assert lot.do(Tick(), T0 + 500 * S) == ()
    (resumed,) = lot.do(Resume(), T0 + 600 * S)
    assert isinstance(resumed, LotResumed)
    assert resumed.countdown_ends_at == T0 + 660 * S
    assert resumed.policy is CountdownPolicy.RESUME_FULL


def test_resume_with_the_remaining_time_when_configured() -> None:
    lot = started_plate(resume_policy=CountdownPolicy.RESUME_REMAINING)
    lot.do(Pause("incident"), T0 + 45 * S)
    (resumed,) = lot.do(Resume(), T0 + 100 * S)
    assert resumed.countdown_ends_at == T0 + 115 * S  # type: ignore[attr-defined]


def test_close_while_the_countdown_runs_is_refused() -> None:
    """A close never cuts a running countdown: staff must pause first."""
    lot = started_plate()
    assert lot.refused(Close("court order")) is AuctionReason.WRONG_PHASE
    assert lot.refused(Resume()) is AuctionReason.WRONG_PHASE
    lot.do(Pause("court order"))
    (closed,) = lot.do(Close("court order"))
    assert isinstance(closed, LotClosed)
    assert (closed.outcome, closed.reason) == (Outcome.CANCELLED, "court order")


def test_pause_at_the_countdown_end_is_too_late() -> None:
    lot = started_plate()
    assert lot.refused(Pause("late"), T0 + 60 * S) is AuctionReason.CLOSED


# -- outage -----------------------------------------------------------------------------------------------


def test_countdown_that_ran_out_during_an_outage_closes_at_its_true_end() -> None:
    """DESIGN: a restart replays the log; a countdown that ended while down closes then."""
    lot = started_plate()
    lot.bid("A1", 1_000_000, at=T0 + 20 * S)
    state = rebuild(lot.config, lot.log)
    decision = recover(state, T0 + timedelta(hours=1))
    (closed,) = decision.events
    assert isinstance(closed, LotClosed) and closed.at == T0 + 80 * S and closed.winner == "A1"


def test_outage_during_a_running_countdown_resumes_with_a_full_countdown() -> None:
    """DESIGN (cfg): default outage policy — a full countdown from the restart, logged."""
    lot = started_plate()
    lot.bid("A1", 1_000_000, at=T0 + 20 * S)
    decision = recover(rebuild(lot.config, lot.log), T0 + 50 * S, down_since=T0 + 30 * S)
    (applied,) = decision.events
    assert isinstance(applied, OutagePolicyApplied)
    assert applied.policy is CountdownPolicy.RESUME_FULL
    assert (applied.down_since, applied.downtime_ms) == (T0 + 30 * S, 20_000)
    assert applied.countdown_ends_at_before == T0 + 80 * S
    assert applied.countdown_ends_at == T0 + 110 * S and applied.remaining_ms == 50_000
    assert decision.next_deadline == T0 + 110 * S


def test_outage_policy_resume_remaining_gives_back_the_time_left_at_the_outage() -> None:
    lot = started_plate(outage_policy=CountdownPolicy.RESUME_REMAINING)
    lot.bid("A1", 1_000_000, at=T0 + 20 * S)
    decision = recover(lot.state, T0 + 50 * S, down_since=T0 + 30 * S)
    assert decision.state.countdown_ends_at == T0 + 100 * S


def test_outage_policy_stay_paused_holds_the_lot_for_staff() -> None:
    lot = started_plate()
    lot.bid("A1", 1_000_000, at=T0 + 20 * S)
    decision = recover(lot.state, T0 + 50 * S, CountdownPolicy.STAY_PAUSED)
    assert decision.state.phase is Phase.PAUSED and decision.next_deadline is None
    lot.state, lot.log = decision.state, [*lot.log, *decision.events]
    assert lot.state.pause_reason == "outage"
    (resumed,) = lot.do(Resume(), T0 + 70 * S)
    assert resumed.countdown_ends_at == T0 + 130 * S  # type: ignore[attr-defined]


def test_outage_without_a_countdown_logs_nothing() -> None:
    """Nothing to recover in the listing, before the start or after the close."""
    assert recover(started_land().state, T0 + timedelta(days=1)).events == ()
    assert recover(Lot(plate()).state, T0).events == ()


def test_listing_that_ended_during_an_outage_moves_on_at_its_true_times() -> None:
    lot = started_land()
    lot.bid("L1", 10**10, at=T0 + timedelta(days=1))
    decision = recover(lot.state, T0 + timedelta(days=10, minutes=1))
    started, applied = decision.events
    assert isinstance(started, CountdownStarted) and started.at == T0 + timedelta(days=10)
    assert isinstance(applied, OutagePolicyApplied)
    assert applied.countdown_ends_at == T0 + timedelta(days=10, minutes=5)


def test_recover_down_since_defaults_to_the_last_event() -> None:
    lot = started_plate()
    lot.bid("A1", 1_000_000, at=T0 + 20 * S)
    (applied,) = recover(lot.state, T0 + 25 * S).events
    assert applied.down_since == T0 + 20 * S and applied.downtime_ms == 5_000  # type: ignore[attr-defined]


# -- the log: replay, numbering, codec ---------------------------------------------------------------------


def full_land_flow() -> Lot:
    lot = reserved_land(10**10)
    lot.admit("L3")
    lot.do(Suspend("L3", "late documents"), T0 + timedelta(hours=1))
    lot.do(Reinstate("L3"), T0 + timedelta(hours=2))
    lot.bid("L1", 10**10, at=T0 + timedelta(days=1))
    lot.do(Pause("maintenance"), T0 + timedelta(days=2))
    lot.do(Resume(), T0 + timedelta(days=2, minutes=30))
    lot.bid("L2", 10**10 + 10**8, at=T0 + timedelta(days=10, minutes=30, seconds=1))
    lot.bid("L3", 10**10 + 3 * 10**8, at=T0 + timedelta(days=10, minutes=32))
    lot.do(Tick(), T0 + timedelta(days=10, minutes=40))
    lot.do(RevealReserve(10**10, SALT), T0 + timedelta(days=10, minutes=41))
    return lot


def test_replaying_the_log_rebuilds_the_same_state() -> None:
    """DESIGN: a restart replays the log; every sequence number comes back the same."""
    lot = full_land_flow()
    assert lot.state.outcome is Outcome.SOLD and lot.state.winner == "L3"
    assert rebuild(lot.config, lot.log) == lot.state
    assert [e.seq for e in lot.log] == list(range(1, len(lot.log) + 1))
    assert all(a.at <= b.at for a, b in zip(lot.log, lot.log[1:], strict=False))


def test_every_event_round_trips_through_json() -> None:
    """The one codec: what the store writes is what replay reads."""
    lot = full_land_flow()
    capped_lot = capped()
    capped_lot.bid("A1", CAP)
    capped_lot.do(AcceptCap("A2"))
    capped_lot.do(DrawLottery(b"seed"))
    outage = started_plate()
    outage.bid("A1", 1_000_000, at=T0 + S)
    events = [*lot.log, *capped_lot.log, *outage.log, *recover(outage.state, T0 + 30 * S).events]
    events.append(SeedCommitted(seq=1, at=T0, commitment="ab" * 32))
    assert {type(e) for e in events} == set(EVENT_TYPES.values())
    for event in events:
        wire = json.loads(json.dumps(event_to_dict(event)))
        assert event_from_dict(wire) == event
    assert config_from_dict(json.loads(json.dumps(config_to_dict(lot.config)))) == lot.config


def test_codec_refuses_what_it_does_not_know() -> None:
    with pytest.raises(ValueError):
        event_from_dict({"type": "bid_retracted", "seq": 1})
    wire = event_to_dict(BidderAdmitted(seq=1, at=T0, paddle="A1"))
    with pytest.raises(ValueError):
        event_from_dict({**wire, "extra": 1})
    with pytest.raises(ValueError):
        event_from_dict({**wire, "seq": "1"})


def test_replay_refuses_a_gap_a_reorder_or_an_impossible_event() -> None:
    """A log that decide could not have written does not replay (tampering or a bug)."""
    lot = full_land_flow()
    with pytest.raises(CorruptLog):
        rebuild(lot.config, lot.log[:3] + lot.log[4:])
    with pytest.raises(CorruptLog):
        rebuild(lot.config, [lot.log[1], lot.log[0], *lot.log[2:]])
    bid = BidAccepted(
        seq=1, at=T0, bid_id="x", paddle="L1", amount_fen=10**10, countdown_ends_at=None
    )
    with pytest.raises(CorruptLog):
        apply(initial_state(lot.config), bid)
    started = rebuild(lot.config, lot.log[:8])
    assert started.phase is Phase.LISTING and started.highest_fen == 10**10
    lower = BidAccepted(
        seq=9, at=T0 + timedelta(days=3), bid_id="y", paddle="L2", amount_fen=10**9,
        countdown_ends_at=None,
    )  # fmt: skip
    with pytest.raises(CorruptLog):
        apply(started, lower)


def test_every_command_has_a_row_in_the_table() -> None:
    """h11 style: each command is legal somewhere; Tick everywhere."""
    commands = {command for _, command in TRANSITIONS}
    assert commands == set(COMMAND_TYPES)
    assert all((phase, Tick) in TRANSITIONS for phase in Phase)


def test_reason_codes_are_unique_and_bilingual() -> None:
    codes = [reason.code for reason in AuctionReason]
    assert len(codes) == len(set(codes))
    for reason in AuctionReason:
        assert reason.message_en and reason.message_zh and 400 <= reason.status < 500
    error = AuctionRejected(AuctionReason.CLOSED, "ended at 01:00")
    assert error.code == "closed" and error.status_hint == 409 and "已结束" in error.message("zh")


def test_initial_state_is_scheduled_with_no_deadline() -> None:
    state = initial_state(land())
    assert isinstance(state, LotState) and state.phase is Phase.SCHEDULED
    assert next_deadline(state) is None and state.listing_ends_at == T0 + timedelta(days=10)
