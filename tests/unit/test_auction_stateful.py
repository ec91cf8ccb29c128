"""Hypothesis drives one lot through random lives: bids good and bad, staff actions, time
jumping to and around every deadline, outages and restarts. After every step:

- the price never falls (O39; RULES A1, A2);
- the winner is the highest accepted bid, or the cap's chosen candidate (A4, A8);
- a close never happens while a countdown runs: it comes exactly at the countdown's end
  (A5), or by staff only from a phase without one;
- replaying the log rebuilds the same state (DESIGN: a restart replays the log);
- every refusal is justified: the condition its reason names really holds;
- every acceptance is justified: each rule of A1, A5, A6 holds for the accepted bid;
- the reserve is nowhere in the state before the close (A3).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from auction.errors import AuctionReason, AuctionRejected
from auction.model import (
    AcceptCap,
    Admit,
    Basis,
    BidAccepted,
    BiddingEnded,
    CapPolicy,
    CapResolved,
    Close,
    Command,
    CountdownPolicy,
    DecideByCriterion,
    DrawLottery,
    Event,
    LotClosed,
    LotConfig,
    LotKind,
    LotState,
    OutagePolicyApplied,
    Outcome,
    Pause,
    Phase,
    PlaceBid,
    Reinstate,
    Resume,
    RevealReserve,
    SealReserve,
    Start,
    Suspend,
    Tick,
)
from auction.rules import (
    TRANSITIONS,
    apply,
    decide,
    initial_state,
    minimum_bid_fen,
    next_deadline,
    rebuild,
    recover,
    reserve_commitment,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)
START_FEN = 10_000
INCREMENT_FEN = 1_000
PADDLES = ("P1", "P2", "P3", "P4")
SALT = b"0123456789abcdef"
LIVE = (Phase.LISTING, Phase.COUNTDOWN)
ENDED = (Phase.CAP_REACHED, Phase.AWAITING_RESERVE, Phase.CLOSED)

# The strategies of each step, shared by the state machine and the long-life test below.
SETUP = {
    "kind": st.sampled_from(LotKind),
    "cap_steps": st.one_of(st.none(), st.integers(1, 8)),
    "allow_self_raise": st.booleans(),
    "cap_policy": st.sampled_from(CapPolicy),
    "outage_policy": st.sampled_from(CountdownPolicy),
    "resume_policy": st.sampled_from(
        [CountdownPolicy.RESUME_FULL, CountdownPolicy.RESUME_REMAINING]
    ),
    "countdown_s": st.integers(3, 10),
    "start_at_once": st.integers(0, 4).map(lambda n: n > 0),
    "staff_may_cancel": st.integers(0, 9).map(lambda n: n == 0),
    "reserve_steps": st.one_of(st.none(), st.sampled_from([0, 1, 2, 3])),
}
STEPS = {
    "wait": {"ms": st.sampled_from([1, 10, 250, 1_000, 1_000, 4_000])},
    "jump_to_the_deadline": {"offset_ms": st.sampled_from([-1, 0, 1])},
    "jump_to_the_quiet_period": {"offset_ms": st.sampled_from([-1, 0])},
    "tick": {},
    "admit": {"paddle": st.sampled_from(PADDLES[2:])},
    "bid": {
        "paddle": st.sampled_from(PADDLES),
        "steps": st.sampled_from([0, 0, 0, 1, 1, 2, 5, -1]),
        "off_grid": st.integers(0, 5).map(lambda n: n == 0),
        "at_cap": st.integers(0, 5).map(lambda n: n == 0),
    },
    "outbid": {
        "paddle": st.sampled_from(PADDLES[:3]),
        "raise_steps": st.sampled_from([0, 0, 1, 3]),
    },
    "staff": {
        "action": st.sampled_from(
            ["start", "pause", "resume", "cancel", "suspend", "reinstate", "seal"]
        ),
        "paddle": st.sampled_from(PADDLES),
        "steps": st.sampled_from([0, 1, 1, 2, 3, 6]),
    },
    "reveal_reserve": {"honest": st.booleans()},
    "cap": {
        "action": st.sampled_from(["accept", "accept", "lottery", "criterion"]),
        "paddle": st.sampled_from(PADDLES),
        "seed": st.binary(min_size=1, max_size=8),
    },
    "restart": {
        "down_ms": st.integers(0, 8_000),
        "policy": st.one_of(st.none(), st.sampled_from(CountdownPolicy)),
    },
}


class LotLife(RuleBasedStateMachine):
    config: LotConfig
    state: LotState

    @initialize(**SETUP)
    def setup(
        self,
        kind: LotKind,
        cap_steps: int | None,
        allow_self_raise: bool,
        cap_policy: CapPolicy,
        outage_policy: CountdownPolicy,
        resume_policy: CountdownPolicy,
        countdown_s: int,
        start_at_once: bool,
        staff_may_cancel: bool,
        reserve_steps: int | None,
    ) -> None:
        common = {
            "lot_id": "L",
            "kind": kind,
            "starting_price_fen": START_FEN,
            "increment_fen": INCREMENT_FEN,
            "deposit_fen": START_FEN,
            "opens_at": T0,
            "countdown_s": countdown_s,
            "price_cap_fen": None if cap_steps is None else START_FEN + cap_steps * INCREMENT_FEN,
            "allow_self_raise": allow_self_raise,
            "cap_policy": cap_policy,
            "outage_policy": outage_policy,
            "resume_policy": resume_policy,
        }
        if kind is LotKind.LAND:
            common |= {
                "listing_ends_at": T0 + timedelta(seconds=20),
                "listing_quiet_s": 5,
                "min_listing_days": 0,
            }
        self.config = LotConfig(**common)  # type: ignore[arg-type]
        self.state = initial_state(self.config)
        self.log: list[Event] = []
        self.now = T0
        self.accepted: list[BidAccepted] = []
        self.reserve_fen: int | None = None
        self.staff_may_cancel = staff_may_cancel
        for paddle in PADDLES[:2]:
            self.run(Admit(paddle))
        if reserve_steps is not None:
            self.staff("seal", PADDLES[0], reserve_steps)
        if start_at_once:
            self.run(Start())

    # -- the harness -------------------------------------------------------------------------

    def run(self, command: Command) -> None:
        before = self.state
        effective = decide(before, Tick(), self.now).state  # what the command will face
        try:
            decision = decide(before, command, self.now)
        except AuctionRejected as refused:
            self.justify_refusal(effective, command, refused.reason)
            event(f"refused {type(command).__name__}: {refused.reason.code}")
            return
        self.check_events(before, decision.events)
        assert decision.next_deadline == next_deadline(decision.state)
        self.state = decision.state
        self.log.extend(decision.events)

    def check_events(self, before: LotState, events: tuple[Event, ...]) -> None:
        state = before
        for logged in events:
            assert logged.seq == state.seq + 1
            assert state.last_event_at is None or logged.at >= state.last_event_at
            if isinstance(logged, LotClosed | BiddingEnded):
                self.check_close_timing(state, logged)
            if isinstance(logged, LotClosed):
                event(f"closed: {logged.basis.value}")
            if isinstance(logged, BidAccepted):
                self.justify_acceptance(state, logged)
                self.accepted.append(logged)
                event(f"bid accepted in {state.phase.value}")
            if isinstance(logged, OutagePolicyApplied):
                event(f"outage policy {logged.policy.value}")
            after = apply(state, logged)
            if state.highest_fen is not None:
                assert after.highest_fen is not None and after.highest_fen >= state.highest_fen
            state = after

    def check_close_timing(self, state: LotState, event: LotClosed | BiddingEnded) -> None:
        """A close never happens while a countdown runs."""
        if state.phase is Phase.COUNTDOWN:
            assert event.at == state.countdown_ends_at
        elif state.phase is Phase.LISTING:
            assert state.bid_count == 0 and event.at == state.listing_ends_at
        elif state.phase in (Phase.SCHEDULED, Phase.PAUSED):
            assert isinstance(event, LotClosed) and event.outcome is Outcome.CANCELLED
        else:
            assert state.phase in (Phase.CAP_REACHED, Phase.AWAITING_RESERVE)

    def justify_acceptance(self, state: LotState, event: BidAccepted) -> None:
        config = state.config
        assert state.phase in LIVE
        assert event.paddle in state.admitted and event.paddle not in state.suspended
        assert event.amount_fen >= minimum_bid_fen(state)
        base = state.highest_fen if state.highest_fen is not None else START_FEN
        assert (event.amount_fen - base) % INCREMENT_FEN == 0
        assert config.price_cap_fen is None or event.amount_fen <= config.price_cap_fen
        assert config.allow_self_raise or state.leader != event.paddle
        if state.phase is Phase.LISTING:
            assert state.listing_ends_at is not None
            assert event.at < state.listing_ends_at - config.listing_quiet
        else:
            assert state.countdown_ends_at is not None and event.at < state.countdown_ends_at
            if event.amount_fen != config.price_cap_fen:
                assert event.countdown_ends_at == event.at + config.countdown

    def justify_refusal(self, eff: LotState, command: Command, reason: AuctionReason) -> None:
        """The condition a refusal names holds in the state the command faced."""
        R = AuctionReason
        phase = eff.phase
        table_refused = (phase, type(command)) not in TRANSITIONS
        if reason is R.WRONG_PHASE:
            assert table_refused
        elif reason is R.NOT_OPEN:
            assert table_refused and phase is Phase.SCHEDULED
        elif reason is R.PAUSED:
            assert table_refused and phase is Phase.PAUSED
        elif reason is R.CLOSED:
            assert (table_refused and (phase is Phase.CLOSED or phase in ENDED)) or (
                isinstance(command, Start) and self.now >= (eff.listing_ends_at or self.now)
            )
        elif reason is R.TOO_EARLY:
            assert isinstance(command, Start) and self.now < self.config.opens_at
        elif reason is R.NOT_ADMITTED:
            assert getattr(command, "paddle", None) not in eff.admitted
        elif reason is R.SUSPENDED:
            if isinstance(command, DrawLottery):
                assert set(eff.cap_candidates) <= eff.suspended
            elif isinstance(command, DecideByCriterion):
                assert command.winner in eff.suspended
            else:
                assert getattr(command, "paddle", None) in eff.suspended
        elif reason is R.LISTING_QUIET:
            assert phase is Phase.LISTING and eff.listing_ends_at is not None
            assert self.now >= eff.listing_ends_at - self.config.listing_quiet
        elif reason is R.ALREADY_HIGHEST:
            assert isinstance(command, PlaceBid) and not self.config.allow_self_raise
            assert eff.leader == command.paddle
        elif reason is R.BELOW_MINIMUM:
            assert isinstance(command, PlaceBid) and command.amount_fen < minimum_bid_fen(eff)
        elif reason is R.OVER_CAP:
            cap = self.config.price_cap_fen
            assert isinstance(command, PlaceBid) and cap is not None and command.amount_fen > cap
        elif reason is R.NOT_INCREMENT_MULTIPLE:
            assert isinstance(command, PlaceBid)
            base = eff.highest_fen if eff.highest_fen is not None else START_FEN
            assert (command.amount_fen - base) % INCREMENT_FEN
        elif reason is R.RESERVE_ALREADY_SEALED:
            assert eff.reserve_commitment is not None
        elif reason is R.RESERVE_MISMATCH:
            assert isinstance(command, RevealReserve)
            assert (command.reserve_fen, command.salt) != (self.reserve_fen, SALT)
        elif reason is R.CAP_POLICY_MISMATCH:
            wanted = CapPolicy.LOTTERY if isinstance(command, DrawLottery) else None
            assert self.config.cap_policy is not wanted or wanted is None
        elif reason is R.NOT_A_CANDIDATE:
            assert isinstance(command, DecideByCriterion)
            assert command.winner not in eff.cap_candidates
        else:
            raise AssertionError(f"unexpected refusal {reason}")

    # -- time ------------------------------------------------------------------------------

    @rule(**STEPS["wait"])
    def wait(self, ms: int) -> None:
        self.now += timedelta(milliseconds=ms)

    @precondition(lambda self: self.state.bid_count > 0)
    @rule(**STEPS["jump_to_the_deadline"])
    def jump_to_the_deadline(self, offset_ms: int) -> None:
        due = next_deadline(self.state)
        if due is not None:
            self.now = max(self.now, due + offset_ms * MS)

    @precondition(lambda self: self.state.phase is Phase.LISTING)
    @rule(**STEPS["jump_to_the_quiet_period"])
    def jump_to_the_quiet_period(self, offset_ms: int) -> None:
        if self.state.listing_ends_at is None or self.state.phase is not Phase.LISTING:
            return
        quiet_from = self.state.listing_ends_at - self.config.listing_quiet
        self.now = max(self.now, quiet_from + offset_ms * MS)

    @rule(**STEPS["tick"])
    def tick(self) -> None:
        self.run(Tick())

    # -- bidders -----------------------------------------------------------------------------

    @rule(**STEPS["admit"])
    def admit(self, paddle: str) -> None:
        self.run(Admit(paddle))

    @rule(**STEPS["bid"])
    def bid(self, paddle: str, steps: int, off_grid: bool, at_cap: bool) -> None:
        if at_cap and self.config.price_cap_fen is not None:
            amount = self.config.price_cap_fen
        else:
            amount = minimum_bid_fen(self.state) + steps * INCREMENT_FEN
            amount += INCREMENT_FEN // 2 if off_grid else 0
        self.run(PlaceBid(f"b{len(self.log)}", paddle, amount))

    @precondition(lambda self: self.state.phase in LIVE)
    @rule(**STEPS["outbid"])
    def outbid(self, paddle: str, raise_steps: int) -> None:
        """A bid the rules should usually take: the minimum or a little more."""
        amount = minimum_bid_fen(self.state) + raise_steps * INCREMENT_FEN
        cap = self.config.price_cap_fen
        self.run(PlaceBid(f"b{len(self.log)}", paddle, amount if cap is None else min(amount, cap)))

    # -- staff ---------------------------------------------------------------------------------

    @rule(**STEPS["staff"])
    def staff(self, action: str, paddle: str, steps: int) -> None:
        """One rule for every staff action, so that bidding keeps most of the steps."""
        if action == "cancel" and not self.staff_may_cancel:
            action = "resume"
        if action == "seal":
            reserve = START_FEN + steps * INCREMENT_FEN
            before = self.state.reserve_commitment
            self.run(SealReserve(reserve_commitment(reserve, SALT)))
            if before is None and self.state.reserve_commitment is not None:
                self.reserve_fen = reserve
            return
        command: Command = {
            "start": Start(),
            "pause": Pause("incident"),
            "resume": Resume(),
            "cancel": Close("terminated"),
            "suspend": Suspend(paddle, "checks"),
            "reinstate": Reinstate(paddle),
        }[action]
        self.run(command)

    @precondition(lambda self: self.reserve_fen is not None)
    @rule(**STEPS["reveal_reserve"])
    def reveal_reserve(self, honest: bool) -> None:
        reserve = self.reserve_fen or START_FEN
        self.run(RevealReserve(reserve if honest else reserve + 1, SALT))

    @precondition(lambda self: self.config.price_cap_fen is not None)
    @rule(**STEPS["cap"])
    def cap(self, action: str, paddle: str, seed: bytes) -> None:
        command: Command = {
            "accept": AcceptCap(paddle),
            "lottery": DrawLottery(seed),
            "criterion": DecideByCriterion(paddle, "floor area"),
        }[action]
        self.run(command)

    # -- outage ----------------------------------------------------------------------------------

    @rule(**STEPS["restart"])
    def restart(self, down_ms: int, policy: CountdownPolicy | None) -> None:
        """The server dies at ``now``, comes back ``down_ms`` later and replays the log."""
        down_since = self.now
        self.now += timedelta(milliseconds=down_ms)
        replayed = rebuild(self.config, self.log)
        assert replayed == self.state
        decision = recover(replayed, self.now, policy, down_since=down_since)
        self.check_events(replayed, decision.events)
        for logged in decision.events:
            if isinstance(logged, OutagePolicyApplied):
                assert logged.countdown_ends_at_before > self.now
                assert logged.policy is (policy or self.config.outage_policy)
                assert logged.downtime_ms == down_ms or replayed.last_event_at is None
            else:
                assert logged.at <= self.now
        self.state = decision.state
        self.log.extend(decision.events)

    def check_invariants_now(self) -> None:
        self.replay_rebuilds_the_same_state()
        self.the_price_is_the_highest_accepted_bid()
        self.no_overdue_state_is_held_after_a_decision()
        self.the_reserve_is_absent_until_the_close()
        self.the_winner_is_the_highest_accepted_bid()

    # -- invariants -------------------------------------------------------------------------------

    @invariant()
    def replay_rebuilds_the_same_state(self) -> None:
        assert rebuild(self.config, self.log) == self.state
        assert self.state.seq == len(self.log)

    @invariant()
    def the_price_is_the_highest_accepted_bid(self) -> None:
        amounts = [bid.amount_fen for bid in self.accepted]
        assert self.state.highest_fen == (max(amounts) if amounts else None)
        assert amounts == sorted(amounts)

    @invariant()
    def no_overdue_state_is_held_after_a_decision(self) -> None:
        due = next_deadline(self.state)
        if due is not None and self.state.last_event_at is not None:
            assert due > self.state.last_event_at

    @invariant()
    def the_reserve_is_absent_until_the_close(self) -> None:
        if self.state.phase is not Phase.CLOSED:
            assert self.state.reserve_fen is None

    @invariant()
    def the_winner_is_the_highest_accepted_bid(self) -> None:
        state = self.state
        if state.phase is not Phase.CLOSED:
            return
        top = self.accepted[-1] if self.accepted else None
        if state.basis is Basis.HIGHEST_BID:
            assert top is not None and state.outcome is Outcome.SOLD
            assert (state.winner, state.price_fen) == (top.paddle, top.amount_fen)
        elif state.basis in (Basis.LOTTERY, Basis.SECOND_CRITERION):
            assert top is not None and state.price_fen == self.config.price_cap_fen
            assert state.winner in state.cap_candidates
            resolved = [e for e in self.log if isinstance(e, CapResolved)]
            assert len(resolved) == 1 and resolved[0].winner == state.winner
        elif state.basis is Basis.NO_BID:
            assert top is None
        elif state.basis is Basis.BELOW_RESERVE:
            assert top is not None and state.reserve_fen is not None
            assert top.amount_fen < state.reserve_fen
        if state.reserve_fen is not None:
            assert state.reserve_fen == self.reserve_fen
            assert (state.outcome is Outcome.SOLD) == (
                state.highest_fen is not None and state.highest_fen >= state.reserve_fen
            )


LotLife.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_lot_life = LotLife.TestCase


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    setup=st.fixed_dictionaries(SETUP),
    steps=st.lists(
        st.one_of(*[st.tuples(st.just(n), st.fixed_dictionaries(k)) for n, k in STEPS.items()]),
        min_size=30,
        max_size=90,
    ),
)
def test_long_lot_lives_keep_every_invariant(
    setup: dict[str, Any], steps: list[tuple[str, dict[str, Any]]]
) -> None:
    """The same steps and invariants as ``LotLife``, in lives of 30 to 90 steps: the state
    machine's runs are mostly short, and the rules' corners (the cap after many raises, an
    outage in a restarted countdown, a reserve revealed after a pause) need long ones."""
    life = LotLife()
    life.setup(**setup)
    for name, kwargs in steps:
        getattr(life, name)(**kwargs)
        life.check_invariants_now()


@settings(max_examples=150, deadline=None)
@given(
    raises=st.lists(st.integers(0, 3), min_size=0, max_size=6),
    reserve_steps=st.integers(0, 12),
    kind=st.sampled_from(LotKind),
)
def test_one_bidder_at_or_above_the_reserve_wins_below_it_no_sale(
    raises: list[int], reserve_steps: int, kind: LotKind
) -> None:
    """A4 (O39): no bid, or the highest below the reserve → 流拍; otherwise the highest
    accepted bid wins at its price, whoever and however many bid."""
    life = LotLife()
    life.setup(
        kind=kind,
        cap_steps=None,
        allow_self_raise=False,
        cap_policy=CapPolicy.LOTTERY,
        outage_policy=CountdownPolicy.RESUME_FULL,
        resume_policy=CountdownPolicy.RESUME_FULL,
        countdown_s=3,
        start_at_once=True,
        staff_may_cancel=False,
        reserve_steps=reserve_steps,
    )
    for i, steps in enumerate(raises):
        life.outbid(PADDLES[i % 2], steps)
        life.wait(1_000)
    life.now += timedelta(minutes=1)
    life.tick()
    if raises:
        assert life.state.phase is Phase.AWAITING_RESERVE
        life.reveal_reserve(honest=True)
    state = life.state
    assert state.phase is Phase.CLOSED
    reserve = START_FEN + reserve_steps * INCREMENT_FEN
    highest = life.accepted[-1] if life.accepted else None
    if highest is not None and highest.amount_fen >= reserve:
        assert (state.outcome, state.winner, state.price_fen) == (
            Outcome.SOLD,
            highest.paddle,
            highest.amount_fen,
        )
    else:
        assert state.outcome is Outcome.NO_SALE and state.winner is None
    life.check_invariants_now()
