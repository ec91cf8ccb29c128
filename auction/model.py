"""What a live auction is: lots, their configuration and state, the commands they take and
the events they log.

A lot (标的) is sold by ascending auction: land-use rights (土地使用权, a listing phase 挂牌
then a timed phase 限时竞价) or a special licence plate (号牌, one plate per lot, many lots
in one session). Quota plates (Shanghai-style) are a different mechanism: see
``auction.quota``.

Conventions:
- money is ``int`` fen (分), never float; every amount is ``0 < amount <= MAX_AMOUNT_FEN``;
- times are aware UTC ``datetime`` truncated to the millisecond (what the log stores);
- bidders are known only by their paddle number (竞买号), assigned at admission; nothing here
  ever holds a name or a party id;
- commands are imperative (``PlaceBid``), events past tense (``BidAccepted``); both frozen.

Every event carries ``seq`` (the lot's sequence number, 1, 2, 3 … with no gap: the order of
the one stream every watcher sees and a reconnecting client resumes from) and ``at`` (when
it took effect; nondecreasing along ``seq``). A few events are ``public = False``: they are
in the lot's log but the gateway does not broadcast them (admissions and suspensions would
tell bidders how many rivals they have; the reserve commitment is nobody's business until
the close). Their sequence numbers still count, so watchers may see gaps.

``event_to_dict``/``event_from_dict`` and ``config_to_dict``/``config_from_dict`` are the
one JSON codec for the lot's log and configuration: ``event_from_dict(event_to_dict(e)) == e``.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, ClassVar

from trading.clock import iso_ms, utc_ms
from trading.errors import ValidationFailed

__all__ = [
    "COMMAND_TYPES",
    "EVENT_TYPES",
    "MAX_AMOUNT_FEN",
    "MAX_BID_ID_LEN",
    "MAX_PADDLE_LEN",
    "MAX_TEXT_LEN",
    "Admit",
    "AcceptCap",
    "Basis",
    "BidAccepted",
    "BidderAdmitted",
    "BidderReinstated",
    "BidderSuspended",
    "BiddingEnded",
    "CapAccepted",
    "CapPolicy",
    "CapReached",
    "CapResolved",
    "Close",
    "Command",
    "CountdownPolicy",
    "CountdownStarted",
    "DecideByCriterion",
    "Decision",
    "DrawLottery",
    "Event",
    "LotClosed",
    "LotConfig",
    "LotKind",
    "LotPaused",
    "LotResumed",
    "LotStarted",
    "LotState",
    "Outcome",
    "OutagePolicyApplied",
    "Pause",
    "Phase",
    "PlaceBid",
    "Reinstate",
    "ReserveSealed",
    "Resume",
    "RevealReserve",
    "SealReserve",
    "SeedCommitted",
    "Start",
    "Suspend",
    "Tick",
    "config_from_dict",
    "config_to_dict",
    "event_from_dict",
    "event_to_dict",
    "iso_time",
]

# -- limits (a limit on everything) -------------------------------------------------------

MAX_AMOUNT_FEN = 10**15
"""Ten trillion yuan: far above any lot, far below where arithmetic could surprise anyone."""
MAX_PADDLE_LEN = 32
MAX_BID_ID_LEN = 64
MAX_TEXT_LEN = 500
"""Pause and cancellation reasons, second-criterion notes."""
MAX_COUNTDOWN_S = 24 * 3600
DEFAULT_LAND_COUNTDOWN_S = 240
DEFAULT_PLATE_COUNTDOWN_S = 60
DEFAULT_LISTING_QUIET_S = 3600
DEFAULT_MIN_LISTING_DAYS = 10
DEFAULT_MIN_DEPOSIT_PCT = 20


# -- enums --------------------------------------------------------------------------------


class LotKind(Enum):
    LAND = "land"
    """Land-use rights (土地使用权): listing (挂牌) then, if anyone bid, a timed phase."""
    PLATE = "plate"
    """A special licence plate (号牌): a countdown from the session's common start."""


class Phase(Enum):
    """The lot's lifecycle; ``auction.rules`` holds the transition table."""

    SCHEDULED = "scheduled"
    LISTING = "listing"
    """Land only (挂牌): bids of the highest plus whole increments, none in the quiet period."""
    COUNTDOWN = "countdown"
    """限时竞价 / a plate's race: each accepted bid restarts the countdown."""
    PAUSED = "paused"
    CAP_REACHED = "cap_reached"
    """A bid reached the price cap: the price race is over; a second criterion or a lottery
    decides among those who accepted the capped price."""
    AWAITING_RESERVE = "awaiting_reserve"
    """Bidding is over and a reserve price is sealed: the close waits for its reveal."""
    CLOSED = "closed"


class CountdownPolicy(Enum):
    """What becomes of a running countdown interrupted by a pause or by an outage."""

    RESUME_FULL = "resume_full"
    """Restart the full countdown from the moment the lot goes on (the default)."""
    RESUME_REMAINING = "resume_remaining"
    """Give back the time that was left when the lot stopped."""
    STAY_PAUSED = "stay_paused"
    """Outage only: leave the lot paused (keeping the time that was left) until staff resume."""


class CapPolicy(Enum):
    """How a lot whose price reached the cap is decided (A8, cfg)."""

    LOTTERY = "lottery"
    SECOND_CRITERION = "second_criterion"
    """Staff enter the result of the second criterion (e.g. public housing floor area offered)."""


class Outcome(Enum):
    SOLD = "sold"
    NO_SALE = "no_sale"
    """流拍."""
    CANCELLED = "cancelled"
    """Terminated by staff (终止), with a reason."""


class Basis(Enum):
    """Why the lot closed as it did."""

    HIGHEST_BID = "highest_bid"
    SECOND_CRITERION = "second_criterion"
    LOTTERY = "lottery"
    NO_BID = "no_bid"
    BELOW_RESERVE = "below_reserve"
    STAFF_CANCELLED = "staff_cancelled"


# -- configuration -------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_aware(value: object) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None


@dataclass(frozen=True)
class LotConfig:
    """One lot, as published. Build with ``LotConfig.land(...)`` or ``LotConfig.plate(...)``
    for the kind's defaults. Construction validates and raises ``ValidationFailed`` listing
    every problem (``details['errors']``); times are normalised to UTC milliseconds.

    The reserve price (底价) is *not* here: it is sealed into the lot's log as a commitment
    (``SealReserve``) and revealed only at the close (A3).
    """

    lot_id: str
    kind: LotKind
    starting_price_fen: int
    increment_fen: int
    deposit_fen: int
    opens_at: datetime
    """Land: the listing's start. Plates: the session's common start."""
    countdown_s: int
    session_id: str | None = None
    listing_ends_at: datetime | None = None
    """Land only: the announced end of the listing; the timed phase starts there."""
    listing_quiet_s: int = DEFAULT_LISTING_QUIET_S
    """Land only: no listing bids in this last stretch of the listing (A5, cfg)."""
    min_listing_days: int = DEFAULT_MIN_LISTING_DAYS
    price_cap_fen: int | None = None
    cap_policy: CapPolicy = CapPolicy.LOTTERY
    allow_self_raise: bool = False
    """May the current highest bidder raise their own bid? (cfg; default no)"""
    outage_policy: CountdownPolicy = CountdownPolicy.RESUME_FULL
    resume_policy: CountdownPolicy = CountdownPolicy.RESUME_FULL
    """After a staff pause during the countdown; STAY_PAUSED is meaningless here."""
    min_deposit_pct: int = DEFAULT_MIN_DEPOSIT_PCT
    """Land only: deposit at least this percentage of the starting price (A7, cfg)."""

    def __post_init__(self) -> None:
        for name in ("opens_at", "listing_ends_at"):
            value = getattr(self, name)
            if _is_aware(value):
                object.__setattr__(self, name, utc_ms(value))
        problems = self.problems()
        if problems:
            raise ValidationFailed(
                "Invalid lot configuration: " + "; ".join(problems),
                "标的配置无效：" + "；".join(problems),
                details={"errors": problems},
            )

    @classmethod
    def land(
        cls,
        *,
        lot_id: str,
        starting_price_fen: int,
        increment_fen: int,
        deposit_fen: int,
        listing_starts_at: datetime,
        listing_ends_at: datetime,
        countdown_s: int = DEFAULT_LAND_COUNTDOWN_S,
        **options: Any,
    ) -> LotConfig:
        return cls(
            lot_id=lot_id,
            kind=LotKind.LAND,
            starting_price_fen=starting_price_fen,
            increment_fen=increment_fen,
            deposit_fen=deposit_fen,
            opens_at=listing_starts_at,
            listing_ends_at=listing_ends_at,
            countdown_s=countdown_s,
            **options,
        )

    @classmethod
    def plate(
        cls,
        *,
        lot_id: str,
        session_id: str,
        starting_price_fen: int,
        increment_fen: int,
        deposit_fen: int,
        starts_at: datetime,
        countdown_s: int = DEFAULT_PLATE_COUNTDOWN_S,
        **options: Any,
    ) -> LotConfig:
        return cls(
            lot_id=lot_id,
            kind=LotKind.PLATE,
            session_id=session_id,
            starting_price_fen=starting_price_fen,
            increment_fen=increment_fen,
            deposit_fen=deposit_fen,
            opens_at=starts_at,
            countdown_s=countdown_s,
            **options,
        )

    @functools.cached_property
    def countdown(self) -> timedelta:
        """Every accepted bid in the countdown adds it: built once per lot, not per bid."""
        return timedelta(seconds=self.countdown_s)

    @functools.cached_property
    def listing_quiet(self) -> timedelta:
        return timedelta(seconds=self.listing_quiet_s)

    def problems(self) -> list[str]:
        """Every problem with this configuration, not just the first."""
        out: list[str] = []
        if not isinstance(self.lot_id, str) or not 0 < len(self.lot_id) <= 64:
            out.append("lot_id must be 1 to 64 characters")
        if self.session_id is not None and (
            not isinstance(self.session_id, str) or not 0 < len(self.session_id) <= 64
        ):
            out.append("session_id must be 1 to 64 characters")
        if not isinstance(self.kind, LotKind):
            out.append("kind must be a LotKind")
        for name in ("starting_price_fen", "increment_fen"):
            value = getattr(self, name)
            if not _is_int(value) or not 0 < value <= MAX_AMOUNT_FEN:
                out.append(f"{name} must be a whole number of fen in 1..{MAX_AMOUNT_FEN}")
        if not _is_int(self.deposit_fen) or not 0 <= self.deposit_fen <= MAX_AMOUNT_FEN:
            out.append(f"deposit_fen must be a whole number of fen in 0..{MAX_AMOUNT_FEN}")
        if not _is_aware(self.opens_at):
            out.append("opens_at must be a timezone-aware datetime")
        if not _is_int(self.countdown_s) or not 0 < self.countdown_s <= MAX_COUNTDOWN_S:
            out.append(f"countdown_s must be in 1..{MAX_COUNTDOWN_S}")
        if not isinstance(self.allow_self_raise, bool):
            out.append("allow_self_raise must be a bool")
        if not isinstance(self.cap_policy, CapPolicy):
            out.append("cap_policy must be a CapPolicy")
        if not isinstance(self.outage_policy, CountdownPolicy):
            out.append("outage_policy must be a CountdownPolicy")
        if not isinstance(self.resume_policy, CountdownPolicy) or (
            self.resume_policy is CountdownPolicy.STAY_PAUSED
        ):
            out.append("resume_policy must be resume_full or resume_remaining")
        prices_ok = _is_int(self.starting_price_fen) and _is_int(self.increment_fen)
        prices_ok = prices_ok and self.starting_price_fen > 0 and self.increment_fen > 0
        if self.price_cap_fen is not None:
            cap = self.price_cap_fen
            if not _is_int(cap) or not 0 < cap <= MAX_AMOUNT_FEN:
                out.append(f"price_cap_fen must be a whole number of fen in 1..{MAX_AMOUNT_FEN}")
            elif prices_ok and cap <= self.starting_price_fen:
                out.append("price_cap_fen must be above the starting price")
            elif prices_ok and (cap - self.starting_price_fen) % self.increment_fen:
                out.append("price_cap_fen must be the starting price plus whole increments")
        if self.kind is LotKind.LAND:
            out.extend(self._land_problems(prices_ok))
        elif self.kind is LotKind.PLATE and self.listing_ends_at is not None:
            out.append("a plate lot has no listing phase")
        return out

    def _land_problems(self, prices_ok: bool) -> list[str]:
        out: list[str] = []
        if not _is_int(self.min_listing_days) or self.min_listing_days < 0:
            out.append("min_listing_days must be a whole number of days, 0 or more")
        if not _is_int(self.listing_quiet_s) or self.listing_quiet_s < 0:
            out.append("listing_quiet_s must be a whole number of seconds, 0 or more")
        if not _is_int(self.min_deposit_pct) or not 0 <= self.min_deposit_pct <= 100:
            out.append("min_deposit_pct must be in 0..100")
        elif (
            prices_ok
            and _is_int(self.deposit_fen)
            and self.deposit_fen * 100 < self.starting_price_fen * self.min_deposit_pct
        ):
            out.append(
                f"a land deposit must be at least {self.min_deposit_pct}% of the starting price"
            )
        if not _is_aware(self.listing_ends_at):
            out.append("a land lot needs listing_ends_at, a timezone-aware datetime")
        elif _is_aware(self.opens_at) and _is_int(self.min_listing_days):
            assert self.listing_ends_at is not None
            length = self.listing_ends_at - self.opens_at
            if length < timedelta(days=max(self.min_listing_days, 0)):
                out.append(f"the listing must last at least {self.min_listing_days} days")
            if _is_int(self.listing_quiet_s) and timedelta(seconds=self.listing_quiet_s) >= length:
                out.append("the quiet period must be shorter than the listing")
        return out


# -- state --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotState:
    """Everything the rules know about one lot; built only by folding its events.

    ``leader`` is the paddle that would win now: the highest accepted bid, or after a cap
    resolution the paddle the second criterion or lottery chose. The reserve price is
    absent until the close (only its commitment is held).
    """

    config: LotConfig
    phase: Phase = Phase.SCHEDULED
    seq: int = 0
    last_event_at: datetime | None = None
    started_at: datetime | None = None
    listing_ends_at: datetime | None = None
    countdown_ends_at: datetime | None = None
    highest_fen: int | None = None
    leader: str | None = None
    bid_count: int = 0
    admitted: frozenset[str] = frozenset()
    suspended: frozenset[str] = frozenset()
    paused_from: Phase | None = None
    paused_at: datetime | None = None
    pause_reason: str | None = None
    reserve_commitment: str | None = None
    seed_commitment: str | None = None
    """The lottery seed's commitment (``SeedCommitted``), if the lot was started with one."""
    cap_candidates: tuple[str, ...] = ()
    award_basis: Basis | None = None
    bidding_ended_at: datetime | None = None
    outcome: Outcome | None = None
    basis: Basis | None = None
    winner: str | None = None
    price_fen: int | None = None
    reserve_fen: int | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None


# -- commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """Base of everything a lot can be asked to do. ``now`` is passed beside it."""


@dataclass(frozen=True)
class Start(Command):
    """Staff (or the scheduler at ``opens_at``) open the lot. ``seed_commitment``: the hex
    SHA-256 of the lottery seed the service drew for this lot (A8); given, the start logs it
    (``SeedCommitted``) before ``LotStarted``, so it is public before any bid."""

    seed_commitment: str | None = None


@dataclass(frozen=True)
class Tick(Command):
    """Time has passed: take every transition that fell due (listing end, countdown end)."""


@dataclass(frozen=True)
class Admit(Command):
    """A deposit was confirmed: admit this paddle (A6). Repeating it changes nothing."""

    paddle: str


@dataclass(frozen=True)
class Suspend(Command):
    paddle: str
    reason: str


@dataclass(frozen=True)
class Reinstate(Command):
    paddle: str


@dataclass(frozen=True)
class PlaceBid(Command):
    """``bid_id`` is the client's; the engine's store uses it for idempotency."""

    bid_id: str
    paddle: str
    amount_fen: int


@dataclass(frozen=True)
class Pause(Command):
    reason: str


@dataclass(frozen=True)
class Resume(Command):
    pass


@dataclass(frozen=True)
class Close(Command):
    """Staff terminate the lot (终止) with a reason: only before it starts or while paused,
    so that no close ever cuts a running countdown."""

    reason: str


@dataclass(frozen=True)
class SealReserve(Command):
    """Staff entered the reserve under a supervisor's eye; the service keeps it encrypted
    and hands the rules only ``reserve_commitment(reserve_fen, salt)`` (hex SHA-256)."""

    commitment: str


@dataclass(frozen=True)
class RevealReserve(Command):
    """At the close: the reserve and the salt of its commitment."""

    reserve_fen: int
    salt: bytes


@dataclass(frozen=True)
class AcceptCap(Command):
    """After the cap is reached, a bidder declares they take the lot at the capped price."""

    paddle: str


@dataclass(frozen=True)
class DecideByCriterion(Command):
    """Staff enter the winner of the second criterion among the cap's candidates."""

    winner: str
    note: str


@dataclass(frozen=True)
class DrawLottery(Command):
    """Draw among the cap's candidates with a seed fixed outside (e.g. a revealed commitment)."""

    seed: bytes


COMMAND_TYPES: tuple[type[Command], ...] = (
    Start,
    Tick,
    Admit,
    Suspend,
    Reinstate,
    PlaceBid,
    Pause,
    Resume,
    Close,
    SealReserve,
    RevealReserve,
    AcceptCap,
    DecideByCriterion,
    DrawLottery,
)


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of everything a lot logs. ``seq`` orders the lot's one stream; ``at`` is when the
    event took effect (for a deadline, the deadline itself, even if processed later)."""

    type_name: ClassVar[str] = "event"
    public: ClassVar[bool] = True

    seq: int
    at: datetime


@dataclass(frozen=True, kw_only=True)
class LotStarted(Event):
    type_name: ClassVar[str] = "lot_started"
    phase: Phase
    listing_ends_at: datetime | None
    countdown_ends_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class SeedCommitted(Event):
    """The lottery seed's commitment (hex SHA-256 of the seed), published before bidding
    opens; the seed itself appears only in the lottery's ``CapResolved`` (A8)."""

    type_name: ClassVar[str] = "seed_committed"
    commitment: str


@dataclass(frozen=True, kw_only=True)
class BidderAdmitted(Event):
    type_name: ClassVar[str] = "bidder_admitted"
    public: ClassVar[bool] = False
    paddle: str


@dataclass(frozen=True, kw_only=True)
class BidderSuspended(Event):
    type_name: ClassVar[str] = "bidder_suspended"
    public: ClassVar[bool] = False
    paddle: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class BidderReinstated(Event):
    type_name: ClassVar[str] = "bidder_reinstated"
    public: ClassVar[bool] = False
    paddle: str


@dataclass(frozen=True, kw_only=True)
class ReserveSealed(Event):
    type_name: ClassVar[str] = "reserve_sealed"
    public: ClassVar[bool] = False
    commitment: str


@dataclass(frozen=True, kw_only=True)
class BidAccepted(Event):
    """An accepted bid. In the countdown it also restarts the countdown: the new end is
    ``countdown_ends_at`` (None during the listing or when the bid reached the cap)."""

    type_name: ClassVar[str] = "bid_accepted"
    bid_id: str
    paddle: str
    amount_fen: int
    countdown_ends_at: datetime | None

    @property
    def times_text(self) -> tuple[str, str | None]:
        """``at`` and ``countdown_ends_at`` as ``iso_time`` writes them, formatted once: the
        log row and, a flush later, the bidder's ack both carry them. Kept a while by
        ``_RECENT_BID_TIMES``, not on the event (a lot remembers its bids as long as it lives)."""
        return _RECENT_BID_TIMES.text(self)


@dataclass(frozen=True, kw_only=True)
class CountdownStarted(Event):
    """Land: the listing ended with bids; the timed phase (限时竞价) begins at ``at``."""

    type_name: ClassVar[str] = "countdown_started"
    countdown_ends_at: datetime


@dataclass(frozen=True, kw_only=True)
class LotPaused(Event):
    type_name: ClassVar[str] = "lot_paused"
    reason: str
    remaining_ms: int | None
    """Time left on the countdown when paused; None when paused during the listing."""


@dataclass(frozen=True, kw_only=True)
class LotResumed(Event):
    type_name: ClassVar[str] = "lot_resumed"
    policy: CountdownPolicy | None
    """The countdown policy applied; None when resuming the listing."""
    listing_ends_at: datetime | None
    countdown_ends_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class CapReached(Event):
    type_name: ClassVar[str] = "cap_reached"
    paddle: str
    cap_fen: int


@dataclass(frozen=True, kw_only=True)
class CapAccepted(Event):
    type_name: ClassVar[str] = "cap_accepted"
    paddle: str


@dataclass(frozen=True, kw_only=True)
class CapResolved(Event):
    """The second criterion or the lottery chose ``winner`` among ``candidates`` (in the
    order they accepted the cap). A lottery records its seed so anyone can re-run it."""

    type_name: ClassVar[str] = "cap_resolved"
    basis: Basis
    winner: str
    candidates: tuple[str, ...]
    seed_hex: str | None
    note: str


@dataclass(frozen=True, kw_only=True)
class BiddingEnded(Event):
    """The countdown ran out with bids and a sealed reserve: the close awaits its reveal."""

    type_name: ClassVar[str] = "bidding_ended"
    highest_fen: int
    leader: str


@dataclass(frozen=True, kw_only=True)
class LotClosed(Event):
    """The close. The reserve price appears here and nowhere before (A3), and only if it
    was revealed (a lot without bids closes without revealing it)."""

    type_name: ClassVar[str] = "lot_closed"
    outcome: Outcome
    basis: Basis
    winner: str | None
    price_fen: int | None
    reserve_fen: int | None
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class OutagePolicyApplied(Event):
    """After a restart, the countdown that was running while the server was down has been
    set again by ``policy``. ``downtime_ms`` is measured from ``down_since``."""

    type_name: ClassVar[str] = "outage_policy_applied"
    policy: CountdownPolicy
    down_since: datetime
    downtime_ms: int
    countdown_ends_at_before: datetime
    countdown_ends_at: datetime
    remaining_ms: int


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type_name: cls
    for cls in (
        SeedCommitted,
        LotStarted,
        BidderAdmitted,
        BidderSuspended,
        BidderReinstated,
        ReserveSealed,
        BidAccepted,
        CountdownStarted,
        LotPaused,
        LotResumed,
        CapReached,
        CapAccepted,
        CapResolved,
        BiddingEnded,
        LotClosed,
        OutagePolicyApplied,
    )
}


@dataclass(frozen=True)
class Decision:
    """What ``decide`` returns: the new state, the events to log (in order, already applied
    to ``state``), and when the lot next needs a ``Tick`` (None: nothing timed is pending)."""

    state: LotState
    events: tuple[Event, ...]
    next_deadline: datetime | None


# -- the JSON codec -------------------------------------------------------------------------


_ZERO = timedelta(0)


def iso_time(value: datetime) -> str:
    """``trading.clock.iso_ms``, faster for what the log holds (UTC, whole milliseconds)."""
    micro = value.microsecond
    if micro % 1000 == 0:
        if value.tzinfo is UTC:  # the engine's times: isoformat() is "….ffffff+00:00" or "…+00:00"
            text = value.isoformat()
            return text[:23] + "Z" if micro else text[:19] + ".000Z"
        if value.utcoffset() == _ZERO:
            return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return iso_ms(value)


class _RecentTimes:
    """The formatted times of the latest accepted bids, by the event's identity: two
    generations of ``keep`` each, the older let go of whole when the newer is full (no
    per-entry eviction). A bid's ack comes a flush after its log row, well within. Each entry
    holds its event, so no other object can have its id while it is here."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.new: dict[int, tuple[BidAccepted, tuple[str, str | None]]] = {}
        self.old: dict[int, tuple[BidAccepted, tuple[str, str | None]]] = {}

    def text(self, event: BidAccepted) -> tuple[str, str | None]:
        key = id(event)
        kept = self.new.get(key) or self.old.get(key)
        if kept is not None and kept[0] is event:
            return kept[1]
        ends = event.countdown_ends_at
        text = (iso_time(event.at), None if ends is None else iso_time(ends))
        if len(self.new) >= self.keep:
            self.old, self.new = self.new, {}
        self.new[key] = (event, text)
        return text


_RECENT_BID_TIMES = _RecentTimes(8192)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list | frozenset):
        return [_encode(v) for v in value]
    return value


def _decode(hint: Any, raw: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if raw is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(inner, raw)
    if origin is tuple:
        (inner, _ellipsis) = typing.get_args(hint)
        return tuple(_decode(inner, r) for r in raw)
    if hint is datetime:
        when = datetime.fromisoformat(raw)
        if when.tzinfo is None:
            raise ValueError(f"naive datetime {raw!r}")
        return utc_ms(when)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(raw)
    if hint in (int, str, bool):
        if type(raw) is not hint:
            raise ValueError(f"expected {hint.__name__}, got {raw!r}")
        return raw
    raise TypeError(f"no codec for {hint!r}")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _to_dict(obj: Any) -> dict[str, Any]:
    return {name: _encode(getattr(obj, name)) for name in _field_names(type(obj))}


@functools.cache
def _fields_of(cls: type[Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """A dataclass's resolved type hints and field names, worked out once per class
    (``get_type_hints`` was a tenth of a follower's CPU: every event read from the log)."""
    return typing.get_type_hints(cls), frozenset(f.name for f in dataclasses.fields(cls))


def _from_dict(cls: type[Any], data: dict[str, Any]) -> Any:
    hints, names = _fields_of(cls)
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown fields for {cls.__name__}: {sorted(unknown)}")
    return cls(**{name: _decode(hints[name], data[name]) for name in names if name in data})


def event_to_dict(event: Event) -> dict[str, Any]:
    """JSON-ready dict with a ``type`` tag; the form the lot's log stores."""
    if type(event) is BidAccepted:  # the hot path: the same dict, written out
        at, ends = event.times_text
        return {
            "type": "bid_accepted",
            "seq": event.seq,
            "at": at,
            "bid_id": event.bid_id,
            "paddle": event.paddle,
            "amount_fen": event.amount_fen,
            "countdown_ends_at": ends,
        }
    return {"type": event.type_name, **_to_dict(event)}


def event_from_dict(data: dict[str, Any], registry: dict[str, type[Event]] | None = None) -> Event:
    """Inverse of ``event_to_dict``; raises ``ValueError`` on anything it does not know.
    ``registry`` maps type names to event classes (default: a lot's, ``EVENT_TYPES``;
    quota sessions pass ``auction.quota.QUOTA_EVENT_TYPES``)."""
    body = dict(data)
    cls = (EVENT_TYPES if registry is None else registry).get(body.pop("type", None))  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"unknown event type in {data!r}")
    event: Event = _from_dict(cls, body)
    return event


def config_to_dict(config: LotConfig) -> dict[str, Any]:
    return _to_dict(config)


def config_from_dict(data: dict[str, Any]) -> LotConfig:
    config: LotConfig = _from_dict(LotConfig, data)
    return config
