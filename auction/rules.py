"""The rules of one live lot: a pure, event-sourced state machine.

Theory of operation
===================

A lot is a ``LotState`` (``auction.model``) that changes only by folding events::

    decide(state, command, now) -> Decision(state, events, next_deadline)   # may raise
    apply(state, event)         -> state                                     # never judges
    rebuild(config, events)     =  fold apply over events from initial_state(config)

``decide`` judges a command against the state *as it stands at* ``now``; if the rules
allow it, it returns the events that record it, each already applied to the returned
state; if not, it raises ``AuctionRejected`` with its own reason and nothing changes.
``apply`` only folds: replaying a lot's log rebuilds exactly the state the engine held
(``rebuild(config, all_events) == state``). No clock, no randomness, no I/O: ``now`` is a
parameter, the lottery's seed is a parameter.

Sequence numbers. Every event carries ``seq = state.seq + 1``: the lot's log is one
gapless, ordered stream, and the same replay gives the same numbers. Ties never happen:
two bids of the same amount cannot both be accepted, the second finds the first already
highest and is below the minimum (A2).

Time. A lot has at most one pending deadline, ``next_deadline(state)``: the listing's end
(land) or the countdown's end. The engine arms its timer for it and sends ``Tick``. But
``decide`` never trusts the timer: before judging *any* command it first takes every
transition that fell due by ``now``, each stamped with its true deadline, not with
``now``. So a bid at exactly the countdown's end is refused as ``closed`` and one
millisecond earlier is accepted; a bid arriving at the listing's end is a bid in the
timed phase. If the command is refused, those time transitions are dropped with it;
the next ``Tick`` produces them again, identical, because they depend only on the state
and the deadline. ``now`` is truncated to the millisecond (the log's precision) and never
runs backwards within a lot (an earlier ``now`` is read as the last event's time).

Phases and transitions (``Tick`` is allowed in every phase and only takes due deadlines)::

    SCHEDULED --Start--> LISTING (land) | COUNTDOWN (plate, countdown from the start)
    LISTING   --listing end, no bid--------------------------> CLOSED (no_sale, no_bid)
    LISTING   --listing end, bids----------------------------> COUNTDOWN (限时竞价)
    LISTING, COUNTDOWN --PlaceBid--> same phase (a countdown bid restarts the countdown)
    LISTING, COUNTDOWN --PlaceBid at the cap---------------> CAP_REACHED
    COUNTDOWN --countdown end, no bid (plate)----------------> CLOSED (no_sale, no_bid)
    COUNTDOWN --countdown end, bids, no reserve sealed-------> CLOSED (sold, highest_bid)
    COUNTDOWN --countdown end, bids, reserve sealed----------> AWAITING_RESERVE
    LISTING, COUNTDOWN --Pause--> PAUSED --Resume--> the phase it left
    CAP_REACHED --AcceptCap--> CAP_REACHED
    CAP_REACHED --DrawLottery | DecideByCriterion--> CLOSED, or AWAITING_RESERVE if sealed
    AWAITING_RESERVE --RevealReserve--> CLOSED (sold if highest ≥ reserve, else no_sale)
    SCHEDULED, PAUSED --Close(reason)--> CLOSED (cancelled)

A command missing from the table is refused and changes nothing: ``PlaceBid`` in
SCHEDULED is ``not_open``, in PAUSED ``paused``, after the race ``closed``; anything in
CLOSED is ``closed``; anything else is ``wrong_phase``.

The rules, by their ids in the project's rules table (A1–A9; A7, the deposits, is in
``auction.deposits``; A9, quota plates, in ``auction.quota``):

- A1 (O39): the first bid is at least the starting price; each later one the highest plus
  a whole number of increments; both on the grid ``starting price + k × increment``.
- A2 (O39): the sequence orders every bid; amounts strictly rise.
- A3 (O39, cfg): the reserve price (底价) is sealed as a commitment (``SealReserve``,
  before the countdown); the amount enters the log only in ``LotClosed``.
- A4 (O39): no bid, or highest below the reserve → 流拍 (no_sale); else the highest wins.
- A5 (O39, land practice): the listing (挂牌) lasts ≥ 10 days (config), takes no bids in
  its last hour (config, ``listing_quiet``); if anyone bid, a countdown (4 min default,
  plates 60 s) restarts from each accepted bid; the close comes only when it runs out.
- A6: only admitted paddles bid (deposit confirmed); the state knows only paddles.
- A8 (land practice, cfg): a bid at the price cap ends the price race; the lot is
  decided among those who accept the capped price (the bidder who reached it first,
  then each ``AcceptCap`` in order; a suspended bidder is left out) by a staff-entered
  second criterion or by a lottery over a seed passed in (``lottery_pick``, re-runnable
  by anyone from the ``CapResolved`` event). The seed is committed before bidding opens:
  ``Start(seed_commitment)`` logs ``SeedCommitted`` (hex SHA-256 of the seed,
  ``seed_commitment``) before ``LotStarted``, and a lottery whose seed does not hash to it
  is refused (``seed_mismatch``). A lot started without one takes any seed (older logs).

Refusals of ``PlaceBid``, in this order of precedence: ``bad_command`` (bid id, paddle),
``bad_amount``, the phase (``not_open``, ``paused``, ``closed``), ``not_admitted``,
``suspended``, ``listing_quiet``, ``already_highest`` (unless self-raise is allowed),
``below_minimum``, ``over_cap``, ``not_increment_multiple``.

Pauses. Pausing the listing stops its clock: on resume its end moves later by the length
of the pause. Pausing the countdown records the time left; on resume the countdown is
set by ``config.resume_policy`` (default: a full countdown from the resume).

Outage. After a restart the engine rebuilds each live lot and calls ``recover``: a
deadline that passed while the server was down is taken at its true time (a countdown
that ran out closes at its true end: no bid can have been accepted after it); a countdown
still running is set again by the outage policy (default: a full countdown from now),
recorded by ``OutagePolicyApplied`` with the downtime. Read literally, this also closes
a land lot whose listing *and* whole timed phase fell inside the outage: its countdown
ran out while the server was down, with no bid after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime, timedelta
from typing import Any

from auction.errors import AuctionReason, AuctionRejected, CorruptLog
from auction.model import (
    MAX_AMOUNT_FEN,
    MAX_BID_ID_LEN,
    MAX_PADDLE_LEN,
    MAX_TEXT_LEN,
    AcceptCap,
    Admit,
    Basis,
    BidAccepted,
    BidderAdmitted,
    BidderReinstated,
    BidderSuspended,
    BiddingEnded,
    CapAccepted,
    CapPolicy,
    CapReached,
    CapResolved,
    Close,
    Command,
    CountdownPolicy,
    CountdownStarted,
    DecideByCriterion,
    Decision,
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
)
from crypto.signing import sha256, sha256_hex
from trading.clock import iso_ms, utc_ms

__all__ = [
    "MAX_LOTTERY_SEED_BYTES",
    "MIN_RESERVE_SALT_BYTES",
    "TRANSITIONS",
    "apply",
    "check_amount",
    "decide",
    "initial_state",
    "lottery_pick",
    "minimum_bid_fen",
    "next_deadline",
    "public_view",
    "rebuild",
    "recover",
    "reserve_commitment",
    "seed_commitment",
]

MIN_RESERVE_SALT_BYTES = 16
MAX_RESERVE_SALT_BYTES = 64
MAX_LOTTERY_SEED_BYTES = 256
_LOTTERY_DOMAIN = b"sunlit/auction/lottery/v1\x00"
_RESERVE_DOMAIN = b"sunlit/auction/reserve/v1\x00"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_LISTING, _COUNTDOWN = Phase.LISTING, Phase.COUNTDOWN
"""For the checks every bid makes (three in ``next_deadline`` alone): on Python 3.11 each
``Phase.X`` goes through ``EnumType.__getattr__`` (≈ 75 ns, against ≈ 5 for a global)."""


# -- small pure helpers ---------------------------------------------------------------------


def initial_state(config: LotConfig) -> LotState:
    return LotState(config=config, listing_ends_at=config.listing_ends_at)


def next_deadline(state: LotState) -> datetime | None:
    """The one instant at which time alone changes this lot, or None."""
    phase = state.phase
    if phase is _LISTING:
        return state.listing_ends_at
    if phase is _COUNTDOWN:
        return state.countdown_ends_at
    return None


def minimum_bid_fen(state: LotState) -> int:
    """The least amount the rules would accept next (before admission and phase checks)."""
    if state.highest_fen is None:
        return state.config.starting_price_fen
    return state.highest_fen + state.config.increment_fen


def check_amount(amount_fen: object) -> int:
    """A whole, positive number of fen within ``MAX_AMOUNT_FEN``, or ``bad_amount``."""
    if (
        not isinstance(amount_fen, int)
        or isinstance(amount_fen, bool)
        or not 0 < amount_fen <= MAX_AMOUNT_FEN
    ):
        raise AuctionRejected(
            AuctionReason.BAD_AMOUNT, f"{amount_fen!r}", details={"amount": repr(amount_fen)}
        )
    return amount_fen


def lottery_pick(seed: bytes, candidates: Sequence[str]) -> str:
    """The lottery among the cap's candidates: SHA-256 over a domain tag, the seed and the
    candidates in order, read as a big-endian integer, modulo their number. Anyone holding
    the ``CapResolved`` event can re-run it."""
    assert candidates, "a lottery needs at least one candidate"
    digest = sha256(_LOTTERY_DOMAIN + seed + b"\x00" + "\n".join(candidates).encode())
    return candidates[int.from_bytes(digest, "big") % len(candidates)]


def seed_commitment(seed: bytes) -> str:
    """The lottery seed's commitment: its plain hex SHA-256 (``sha256sum`` checks it)."""
    return sha256_hex(seed)


def reserve_commitment(reserve_fen: int, salt: bytes) -> str:
    """Hex SHA-256 commitment to a reserve price; ``SealReserve`` carries it."""
    return sha256_hex(_RESERVE_DOMAIN + str(reserve_fen).encode() + b"\x00" + salt)


def _instant(now: datetime) -> datetime:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise TypeError("now must be a timezone-aware datetime")
    return utc_ms(now)


def _ms(delta: timedelta) -> int:
    return delta // timedelta(milliseconds=1)


def _reject(reason: AuctionReason, detail: str = "", **details: Any) -> AuctionRejected:
    return AuctionRejected(reason, detail, details=details or None)


# -- command validation (shape only; no state) ----------------------------------------------


def _check_text(value: object, name: str, limit: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _reject(AuctionReason.BAD_COMMAND, f"{name} must be 1 to {limit} characters")


def _check_paddle(value: object) -> None:
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_PADDLE_LEN
        or not value.isprintable()
        or value != value.strip()
    ):
        raise _reject(AuctionReason.BAD_COMMAND, f"paddle must be 1 to {MAX_PADDLE_LEN} characters")


def _check_bytes(value: object, name: str, low: int, high: int) -> None:
    if not isinstance(value, bytes) or not low <= len(value) <= high:
        raise _reject(AuctionReason.BAD_COMMAND, f"{name} must be {low} to {high} bytes")


def _validate(command: Command) -> None:
    if not isinstance(command, Command):
        raise _reject(AuctionReason.BAD_COMMAND, f"not a command: {type(command).__name__}")
    if isinstance(command, PlaceBid):
        _check_text(command.bid_id, "bid_id", MAX_BID_ID_LEN)
        _check_paddle(command.paddle)
        check_amount(command.amount_fen)
    elif isinstance(command, Admit | Reinstate | AcceptCap):
        _check_paddle(command.paddle)
    elif isinstance(command, Suspend):
        _check_paddle(command.paddle)
        _check_text(command.reason, "reason", MAX_TEXT_LEN)
    elif isinstance(command, Pause | Close):
        _check_text(command.reason, "reason", MAX_TEXT_LEN)
    elif isinstance(command, SealReserve):
        if not isinstance(command.commitment, str) or not _HEX64.fullmatch(command.commitment):
            raise _reject(AuctionReason.BAD_COMMAND, "commitment must be 64 lowercase hex digits")
    elif isinstance(command, Start):
        commitment = command.seed_commitment
        if commitment is not None and (
            not isinstance(commitment, str) or not _HEX64.fullmatch(commitment)
        ):
            raise _reject(
                AuctionReason.BAD_COMMAND, "seed_commitment must be 64 lowercase hex digits"
            )
    elif isinstance(command, RevealReserve):
        check_amount(command.reserve_fen)
        _check_bytes(command.salt, "salt", MIN_RESERVE_SALT_BYTES, MAX_RESERVE_SALT_BYTES)
    elif isinstance(command, DecideByCriterion):
        _check_paddle(command.winner)
        _check_text(command.note, "note", MAX_TEXT_LEN)
    elif isinstance(command, DrawLottery):
        _check_bytes(command.seed, "seed", 1, MAX_LOTTERY_SEED_BYTES)


# -- the emitter: events numbered and folded as they are produced ---------------------------


class _Log:
    """Collects the events of one decision, numbering each and folding it at once, so that
    ``Decision.state`` is by construction what ``apply`` makes of ``Decision.events``.
    ``admitted`` is the admission held outside the lot's log (see ``decide``)."""

    def __init__(self, state: LotState, admitted: AbstractSet[str] | None = None) -> None:
        self.state = state
        self.events: list[Event] = []
        self.admitted = admitted

    def is_admitted(self, paddle: str) -> bool:
        return paddle in self.state.admitted or (
            self.admitted is not None and paddle in self.admitted
        )

    def emit(self, cls: type[Event], at: datetime, **fields: Any) -> None:
        self.add(cls(seq=self.state.seq + 1, at=at, **fields))

    def add(self, event: Event) -> None:
        """An event built by the caller, numbered ``state.seq + 1`` (the bid path: no
        keyword packing)."""
        self.state = apply(self.state, event)
        self.events.append(event)

    def decision(self) -> Decision:
        return Decision(self.state, tuple(self.events), next_deadline(self.state))


def _close_race(log: _Log, at: datetime) -> None:
    """The price race is over at ``at`` with a leader: close, or wait for the reserve."""
    state = log.state
    assert state.leader is not None and state.highest_fen is not None
    if state.reserve_commitment is not None:
        if state.phase is not Phase.AWAITING_RESERVE:
            log.emit(BiddingEnded, at, highest_fen=state.highest_fen, leader=state.leader)
        return
    log.emit(
        LotClosed,
        at,
        outcome=Outcome.SOLD,
        basis=state.award_basis or Basis.HIGHEST_BID,
        winner=state.leader,
        price_fen=state.highest_fen,
        reserve_fen=None,
        reason=None,
    )


def _no_bid(log: _Log, at: datetime) -> None:
    log.emit(
        LotClosed,
        at,
        outcome=Outcome.NO_SALE,
        basis=Basis.NO_BID,
        winner=None,
        price_fen=None,
        reserve_fen=None,
        reason=None,
    )


def _advance(log: _Log, now: datetime) -> None:
    """Take every deadline that fell due by ``now``, each at its true time."""
    while True:
        state = log.state
        due = next_deadline(state)
        if due is None or due > now:
            return
        if state.bid_count == 0:
            _no_bid(log, due)
        elif state.phase is Phase.LISTING:
            log.emit(CountdownStarted, due, countdown_ends_at=due + state.config.countdown)
        else:
            _close_race(log, due)


# -- command handlers: (log, command, now); each raises or emits ----------------------------


def _tick(log: _Log, command: Tick, now: datetime) -> None:
    """Deadlines were already taken by ``_advance``; a Tick adds nothing."""


def _start(log: _Log, command: Start, now: datetime) -> None:
    config = log.state.config
    if now < config.opens_at:
        raise _reject(AuctionReason.TOO_EARLY, f"opens at {iso_ms(config.opens_at)}")
    if command.seed_commitment is not None:
        log.emit(SeedCommitted, now, commitment=command.seed_commitment)
    if config.kind is LotKind.LAND:
        assert log.state.listing_ends_at is not None
        if now >= log.state.listing_ends_at:
            raise _reject(AuctionReason.CLOSED, "the listing period is over")
        log.emit(
            LotStarted,
            now,
            phase=Phase.LISTING,
            listing_ends_at=log.state.listing_ends_at,
            countdown_ends_at=None,
        )
    else:
        log.emit(
            LotStarted,
            now,
            phase=Phase.COUNTDOWN,
            listing_ends_at=None,
            countdown_ends_at=now + config.countdown,
        )


def _admit(log: _Log, command: Admit, now: datetime) -> None:
    if command.paddle not in log.state.admitted:
        log.emit(BidderAdmitted, now, paddle=command.paddle)


def _suspend(log: _Log, command: Suspend, now: datetime) -> None:
    if not log.is_admitted(command.paddle):
        raise _reject(AuctionReason.NOT_ADMITTED, command.paddle, paddle=command.paddle)
    if command.paddle not in log.state.suspended:
        log.emit(BidderSuspended, now, paddle=command.paddle, reason=command.reason)


def _reinstate(log: _Log, command: Reinstate, now: datetime) -> None:
    if command.paddle in log.state.suspended:
        log.emit(BidderReinstated, now, paddle=command.paddle)


def _seal_reserve(log: _Log, command: SealReserve, now: datetime) -> None:
    if log.state.reserve_commitment is not None:
        raise _reject(AuctionReason.RESERVE_ALREADY_SEALED)
    log.emit(ReserveSealed, now, commitment=command.commitment)


def _check_bidder(log: _Log, paddle: str) -> None:
    if not log.is_admitted(paddle):
        raise _reject(AuctionReason.NOT_ADMITTED, paddle, paddle=paddle)
    if paddle in log.state.suspended:
        raise _reject(AuctionReason.SUSPENDED, paddle, paddle=paddle)


def _place_bid(log: _Log, command: PlaceBid, now: datetime) -> None:
    state, config = log.state, log.state.config
    amount = command.amount_fen
    _check_bidder(log, command.paddle)
    if state.phase is _LISTING:
        assert state.listing_ends_at is not None
        quiet_from = state.listing_ends_at - config.listing_quiet
        if now >= quiet_from:
            raise _reject(
                AuctionReason.LISTING_QUIET,
                f"listing bids closed at {iso_ms(quiet_from)}; the timed phase starts at "
                f"{iso_ms(state.listing_ends_at)}",
            )
    if not config.allow_self_raise and state.leader == command.paddle:
        raise _reject(AuctionReason.ALREADY_HIGHEST, f"{state.highest_fen} fen")
    minimum = minimum_bid_fen(state)
    if amount < minimum:
        raise _reject(AuctionReason.BELOW_MINIMUM, f"minimum {minimum} fen", minimum_fen=minimum)
    cap = config.price_cap_fen
    if cap is not None and amount > cap:
        raise _reject(AuctionReason.OVER_CAP, f"cap {cap} fen", cap_fen=cap)
    base = config.starting_price_fen if state.highest_fen is None else state.highest_fen
    if (amount - base) % config.increment_fen:
        raise _reject(
            AuctionReason.NOT_INCREMENT_MULTIPLE,
            f"increment {config.increment_fen} fen above {base} fen",
            increment_fen=config.increment_fen,
            base_fen=base,
        )
    at_cap = cap is not None and amount == cap
    countdown_ends_at = (
        now + config.countdown if state.phase is _COUNTDOWN and not at_cap else None
    )
    log.add(
        BidAccepted(
            seq=state.seq + 1,
            at=now,
            bid_id=command.bid_id,
            paddle=command.paddle,
            amount_fen=amount,
            countdown_ends_at=countdown_ends_at,
        )
    )
    if at_cap:
        assert cap is not None
        log.emit(CapReached, now, paddle=command.paddle, cap_fen=cap)


def _pause(log: _Log, command: Pause, now: datetime) -> None:
    state = log.state
    remaining_ms = None
    if state.phase is Phase.COUNTDOWN:
        assert state.countdown_ends_at is not None
        remaining_ms = _ms(state.countdown_ends_at - now)
    log.emit(LotPaused, now, reason=command.reason, remaining_ms=remaining_ms)


def _resume(log: _Log, command: Resume, now: datetime) -> None:
    state, config = log.state, log.state.config
    assert state.paused_at is not None
    if state.paused_from is Phase.LISTING:
        assert state.listing_ends_at is not None
        log.emit(
            LotResumed,
            now,
            policy=None,
            listing_ends_at=state.listing_ends_at + (now - state.paused_at),
            countdown_ends_at=None,
        )
        return
    assert state.countdown_ends_at is not None
    policy = config.resume_policy
    if policy is CountdownPolicy.RESUME_REMAINING:
        ends = now + (state.countdown_ends_at - state.paused_at)
    else:
        ends = now + config.countdown
    log.emit(LotResumed, now, policy=policy, listing_ends_at=None, countdown_ends_at=ends)


def _cancel(log: _Log, command: Close, now: datetime) -> None:
    log.emit(
        LotClosed,
        now,
        outcome=Outcome.CANCELLED,
        basis=Basis.STAFF_CANCELLED,
        winner=None,
        price_fen=None,
        reserve_fen=None,
        reason=command.reason,
    )


def _reveal_reserve(log: _Log, command: RevealReserve, now: datetime) -> None:
    state = log.state
    if reserve_commitment(command.reserve_fen, command.salt) != state.reserve_commitment:
        raise _reject(AuctionReason.RESERVE_MISMATCH)
    assert state.highest_fen is not None and state.leader is not None
    sold = state.highest_fen >= command.reserve_fen
    log.emit(
        LotClosed,
        now,
        outcome=Outcome.SOLD if sold else Outcome.NO_SALE,
        basis=(state.award_basis or Basis.HIGHEST_BID) if sold else Basis.BELOW_RESERVE,
        winner=state.leader if sold else None,
        price_fen=state.highest_fen if sold else None,
        reserve_fen=command.reserve_fen,
        reason=None,
    )


def _accept_cap(log: _Log, command: AcceptCap, now: datetime) -> None:
    _check_bidder(log, command.paddle)
    if command.paddle not in log.state.cap_candidates:
        log.emit(CapAccepted, now, paddle=command.paddle)


def _check_cap_policy(state: LotState, wanted: CapPolicy) -> None:
    if state.config.cap_policy is not wanted:
        raise _reject(
            AuctionReason.CAP_POLICY_MISMATCH,
            f"this lot is decided by {state.config.cap_policy.value}",
        )


def _decide_by_criterion(log: _Log, command: DecideByCriterion, now: datetime) -> None:
    state = log.state
    _check_cap_policy(state, CapPolicy.SECOND_CRITERION)
    if command.winner not in state.cap_candidates:
        raise _reject(AuctionReason.NOT_A_CANDIDATE, command.winner, paddle=command.winner)
    if command.winner in state.suspended:
        raise _reject(AuctionReason.SUSPENDED, command.winner, paddle=command.winner)
    log.emit(
        CapResolved,
        now,
        basis=Basis.SECOND_CRITERION,
        winner=command.winner,
        candidates=_eligible_candidates(state),
        seed_hex=None,
        note=command.note,
    )
    _close_race(log, now)


def _eligible_candidates(state: LotState) -> tuple[str, ...]:
    """The cap's candidates in the order they accepted, less any suspended since."""
    return tuple(p for p in state.cap_candidates if p not in state.suspended)


def _draw_lottery(log: _Log, command: DrawLottery, now: datetime) -> None:
    state = log.state
    _check_cap_policy(state, CapPolicy.LOTTERY)
    candidates = _eligible_candidates(state)
    if not candidates:
        raise _reject(AuctionReason.SUSPENDED, "every candidate is suspended")
    if state.seed_commitment is not None and seed_commitment(command.seed) != state.seed_commitment:
        raise _reject(AuctionReason.SEED_MISMATCH, f"commitment {state.seed_commitment}")
    log.emit(
        CapResolved,
        now,
        basis=Basis.LOTTERY,
        winner=lottery_pick(command.seed, candidates),
        candidates=candidates,
        seed_hex=command.seed.hex(),
        note="",
    )
    _close_race(log, now)


# -- the transition table --------------------------------------------------------------------

_Handler = Callable[[_Log, Any, datetime], None]
_ALL = tuple(Phase)
_LIVE = (Phase.LISTING, Phase.COUNTDOWN)
_NOT_CLOSED = tuple(p for p in Phase if p is not Phase.CLOSED)


def _table(*rows: tuple[Iterable[Phase], type[Command], _Handler]) -> dict[Any, _Handler]:
    table: dict[Any, _Handler] = {}
    for phases, command_type, handler in rows:
        for phase in phases:
            assert (phase, command_type) not in table
            table[(phase, command_type)] = handler
    return table


TRANSITIONS: dict[tuple[Phase, type[Command]], _Handler] = _table(
    (_ALL, Tick, _tick),
    ((Phase.SCHEDULED,), Start, _start),
    ((Phase.SCHEDULED, *_LIVE, Phase.PAUSED), Admit, _admit),
    (_NOT_CLOSED, Suspend, _suspend),
    (_NOT_CLOSED, Reinstate, _reinstate),
    ((Phase.SCHEDULED, Phase.LISTING), SealReserve, _seal_reserve),
    (_LIVE, PlaceBid, _place_bid),
    (_LIVE, Pause, _pause),
    ((Phase.PAUSED,), Resume, _resume),
    ((Phase.SCHEDULED, Phase.PAUSED), Close, _cancel),
    ((Phase.AWAITING_RESERVE,), RevealReserve, _reveal_reserve),
    ((Phase.CAP_REACHED,), AcceptCap, _accept_cap),
    ((Phase.CAP_REACHED,), DecideByCriterion, _decide_by_criterion),
    ((Phase.CAP_REACHED,), DrawLottery, _draw_lottery),
)
"""(phase, command type) → handler. A missing entry is a refusal (see ``_refusal``)."""

_BIDDING_COMMANDS = (PlaceBid, Admit, AcceptCap)
_BIDDING_REFUSAL = {
    Phase.SCHEDULED: AuctionReason.NOT_OPEN,
    Phase.PAUSED: AuctionReason.PAUSED,
    Phase.CAP_REACHED: AuctionReason.CLOSED,
    Phase.AWAITING_RESERVE: AuctionReason.CLOSED,
    Phase.CLOSED: AuctionReason.CLOSED,
}


def _refusal(phase: Phase, command: Command) -> AuctionRejected:
    reason = AuctionReason.WRONG_PHASE
    if phase is Phase.CLOSED:
        reason = AuctionReason.CLOSED
    elif isinstance(command, _BIDDING_COMMANDS):
        reason = _BIDDING_REFUSAL.get(phase, AuctionReason.WRONG_PHASE)
    return _reject(
        reason,
        f"{type(command).__name__} in phase {phase.value}",
        phase=phase.value,
        command=type(command).__name__,
    )


# -- the entry points ------------------------------------------------------------------------


def decide(
    state: LotState,
    command: Command,
    now: datetime,
    *,
    admitted: AbstractSet[str] | None = None,
) -> Decision:
    """Judge ``command`` at ``now``. Returns the decision, or raises ``AuctionRejected``
    and changes nothing. Deadlines that fell due by ``now`` are taken first (their events
    lead the decision's events).

    ``admitted``: paddles admitted outside the lot's log, read as if each had a
    ``BidderAdmitted`` event (A6). A plate session admits its bidders once for all its
    lots (one paddle per bidder per session); copying a 20,000-paddle set into every lot's
    state on every admission would be quadratic, so the engine keeps the session's set and
    passes it here. Like ``now`` it is an input of the decision, not part of the state;
    ``apply`` never needs it, so replay is unchanged."""
    now = _instant(now)
    if state.last_event_at is not None and now < state.last_event_at:
        now = state.last_event_at
    _validate(command)
    log = _Log(state, admitted)
    _advance(log, now)
    handler = TRANSITIONS.get((log.state.phase, type(command)))
    if handler is None:
        raise _refusal(log.state.phase, command)
    handler(log, command, now)
    return log.decision()


def recover(
    state: LotState,
    now: datetime,
    policy: CountdownPolicy | None = None,
    *,
    down_since: datetime | None = None,
) -> Decision:
    """What to log after a restart, before the lot takes commands again.

    ``down_since`` is the last moment the server is known to have been up (a heartbeat);
    by default the lot's last event. Deadlines that passed during the outage are taken at
    their true times (a countdown that ran out closes at its true end). A countdown still
    running is set again by ``policy`` (default ``config.outage_policy``), recorded in an
    ``OutagePolicyApplied`` event with the downtime.
    """
    now = _instant(now)
    if state.last_event_at is not None and now < state.last_event_at:
        now = state.last_event_at
    policy = policy or state.config.outage_policy
    # The server was up at the last event, so the outage began no earlier than that.
    last = state.last_event_at or now
    since = last if down_since is None else max(_instant(down_since), last)
    since = min(since, now)
    log = _Log(state)
    _advance(log, now)
    current = log.state
    if current.phase is Phase.COUNTDOWN:
        before = current.countdown_ends_at
        assert before is not None and before > now >= since
        remaining_ms = min(_ms(before - since), current.config.countdown_s * 1000)
        if policy is CountdownPolicy.RESUME_FULL:
            ends = now + current.config.countdown
        else:
            ends = now + timedelta(milliseconds=remaining_ms)
        log.emit(
            OutagePolicyApplied,
            now,
            policy=policy,
            down_since=since,
            downtime_ms=_ms(now - since),
            countdown_ends_at_before=before,
            countdown_ends_at=ends,
            remaining_ms=remaining_ms,
        )
    return log.decision()


# -- apply: the fold --------------------------------------------------------------------------


def _evolve(state: LotState, **changes: Any) -> LotState:
    """``dataclasses.replace`` for the fold, without re-running ``__init__``: a fresh copy of
    the state's attributes with ``changes`` laid over them. The fold runs once per event on
    the engine's hot path; ``replace`` costs several times more and checks nothing the fold
    needs (every value here comes from a validated event)."""
    new: LotState = object.__new__(LotState)
    new.__dict__.update(state.__dict__)
    new.__dict__.update(changes)
    return new


def _on_started(state: LotState, e: LotStarted) -> LotState:
    return _evolve(
        state,
        phase=e.phase,
        started_at=e.at,
        listing_ends_at=e.listing_ends_at,
        countdown_ends_at=e.countdown_ends_at,
    )


def _on_admitted(state: LotState, e: BidderAdmitted) -> LotState:
    return _evolve(state, admitted=state.admitted | {e.paddle})


def _on_suspended(state: LotState, e: BidderSuspended) -> LotState:
    return _evolve(state, suspended=state.suspended | {e.paddle})


def _on_reinstated(state: LotState, e: BidderReinstated) -> LotState:
    return _evolve(state, suspended=state.suspended - {e.paddle})


def _on_seed_committed(state: LotState, e: SeedCommitted) -> LotState:
    return _evolve(state, seed_commitment=e.commitment)


def _on_reserve_sealed(state: LotState, e: ReserveSealed) -> LotState:
    return _evolve(state, reserve_commitment=e.commitment)


def _on_bid(state: LotState, e: BidAccepted) -> LotState:
    if state.highest_fen is not None and e.amount_fen <= state.highest_fen:
        raise CorruptLog(f"bid {e.seq} does not raise the price")
    return _evolve(
        state,
        highest_fen=e.amount_fen,
        leader=e.paddle,
        bid_count=state.bid_count + 1,
        countdown_ends_at=e.countdown_ends_at
        if state.phase is _COUNTDOWN
        else state.countdown_ends_at,
    )


def _on_countdown_started(state: LotState, e: CountdownStarted) -> LotState:
    return _evolve(state, phase=Phase.COUNTDOWN, countdown_ends_at=e.countdown_ends_at)


def _on_paused(state: LotState, e: LotPaused) -> LotState:
    return _evolve(
        state, phase=Phase.PAUSED, paused_from=state.phase, paused_at=e.at, pause_reason=e.reason
    )


def _on_resumed(state: LotState, e: LotResumed) -> LotState:
    assert state.paused_from is not None
    return _evolve(
        state,
        phase=state.paused_from,
        paused_from=None,
        paused_at=None,
        pause_reason=None,
        listing_ends_at=e.listing_ends_at or state.listing_ends_at,
        countdown_ends_at=e.countdown_ends_at,
    )


def _on_cap_reached(state: LotState, e: CapReached) -> LotState:
    return _evolve(
        state,
        phase=Phase.CAP_REACHED,
        countdown_ends_at=None,
        cap_candidates=(e.paddle,),
        bidding_ended_at=e.at,
    )


def _on_cap_accepted(state: LotState, e: CapAccepted) -> LotState:
    return _evolve(state, cap_candidates=(*state.cap_candidates, e.paddle))


def _on_cap_resolved(state: LotState, e: CapResolved) -> LotState:
    awaiting = state.reserve_commitment is not None
    return _evolve(
        state,
        leader=e.winner,
        award_basis=e.basis,
        phase=Phase.AWAITING_RESERVE if awaiting else state.phase,
    )


def _on_bidding_ended(state: LotState, e: BiddingEnded) -> LotState:
    return _evolve(
        state, phase=Phase.AWAITING_RESERVE, countdown_ends_at=None, bidding_ended_at=e.at
    )


def _on_closed(state: LotState, e: LotClosed) -> LotState:
    return _evolve(
        state,
        phase=Phase.CLOSED,
        countdown_ends_at=None,
        paused_from=None,
        paused_at=None,
        bidding_ended_at=state.bidding_ended_at or e.at,
        outcome=e.outcome,
        basis=e.basis,
        winner=e.winner,
        price_fen=e.price_fen,
        reserve_fen=e.reserve_fen,
        closed_at=e.at,
        close_reason=e.reason,
    )


def _on_outage(state: LotState, e: OutagePolicyApplied) -> LotState:
    if e.policy is CountdownPolicy.STAY_PAUSED:
        return _evolve(
            state,
            phase=Phase.PAUSED,
            paused_from=Phase.COUNTDOWN,
            paused_at=e.at,
            pause_reason="outage",
            countdown_ends_at=e.countdown_ends_at,
        )
    return _evolve(state, countdown_ends_at=e.countdown_ends_at)


_FOLD: dict[type[Event], tuple[tuple[Phase, ...], Callable[[LotState, Any], LotState]]] = {
    SeedCommitted: ((Phase.SCHEDULED,), _on_seed_committed),
    LotStarted: ((Phase.SCHEDULED,), _on_started),
    BidderAdmitted: ((Phase.SCHEDULED, *_LIVE, Phase.PAUSED), _on_admitted),
    BidderSuspended: (_NOT_CLOSED, _on_suspended),
    BidderReinstated: (_NOT_CLOSED, _on_reinstated),
    ReserveSealed: ((Phase.SCHEDULED, Phase.LISTING), _on_reserve_sealed),
    BidAccepted: (_LIVE, _on_bid),
    CountdownStarted: ((Phase.LISTING,), _on_countdown_started),
    LotPaused: (_LIVE, _on_paused),
    LotResumed: ((Phase.PAUSED,), _on_resumed),
    CapReached: (_LIVE, _on_cap_reached),
    CapAccepted: ((Phase.CAP_REACHED,), _on_cap_accepted),
    CapResolved: ((Phase.CAP_REACHED,), _on_cap_resolved),
    BiddingEnded: ((Phase.COUNTDOWN,), _on_bidding_ended),
    LotClosed: (
        (*_LIVE, Phase.SCHEDULED, Phase.PAUSED, Phase.CAP_REACHED, Phase.AWAITING_RESERVE),
        _on_closed,
    ),
    OutagePolicyApplied: ((Phase.COUNTDOWN,), _on_outage),
}
"""event type → (phases it may find, fold). The fold does not judge; it only refuses
what no log written by ``decide`` can contain."""


def apply(state: LotState, event: Event) -> LotState:
    """Fold one logged event into the state. Raises ``CorruptLog`` on a sequence gap, time
    running backwards, or an event impossible in the phase it finds."""
    if event.seq != state.seq + 1:
        raise CorruptLog(f"expected seq {state.seq + 1}, got {event.seq}")
    if state.last_event_at is not None and event.at < state.last_event_at:
        raise CorruptLog(f"event {event.seq} goes back in time")
    entry = _FOLD.get(type(event))
    if entry is None or state.phase not in entry[0]:
        raise CorruptLog(f"event {event.seq} ({event.type_name}) in phase {state.phase.value}")
    new = entry[1](state, event)
    if new is state:
        new = _evolve(state)
    new.__dict__.update(seq=event.seq, last_event_at=event.at)  # a fresh copy: ours to finish
    return new


def rebuild(config: LotConfig, events: Iterable[Event]) -> LotState:
    """Replay a lot's log: the state the engine held after those events."""
    state = initial_state(config)
    for event in events:
        state = apply(state, event)
    return state


# -- what watchers may see ---------------------------------------------------------------------


def public_view(state: LotState) -> dict[str, Any]:
    """A JSON-ready snapshot for watchers (a resync after a missed frame): paddles only, no
    admission list, the reserve only once the lot is closed."""
    config = state.config

    def when(value: datetime | None) -> str | None:
        return None if value is None else iso_ms(value)

    bidding = state.phase in _LIVE
    return {
        "lot_id": config.lot_id,
        "session_id": config.session_id,
        "kind": config.kind.value,
        "phase": state.phase.value,
        "seq": state.seq,
        "starting_price_fen": config.starting_price_fen,
        "increment_fen": config.increment_fen,
        "price_cap_fen": config.price_cap_fen,
        "seed_commitment": state.seed_commitment,
        "highest_fen": state.highest_fen,
        "leader": state.leader,
        "bid_count": state.bid_count,
        "minimum_bid_fen": minimum_bid_fen(state) if bidding else None,
        "listing_ends_at": when(state.listing_ends_at),
        "countdown_ends_at": when(state.countdown_ends_at),
        "cap_candidates": list(state.cap_candidates),
        "outcome": state.outcome.value if state.outcome else None,
        "basis": state.basis.value if state.basis else None,
        "winner": state.winner,
        "price_fen": state.price_fen,
        "reserve_fen": state.reserve_fen if state.phase is Phase.CLOSED else None,
        "closed_at": when(state.closed_at),
    }
