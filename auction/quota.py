"""Quota plates (Shanghai-style 额度拍卖): many identical plates, one sealed-price session.

Theory of operation
===================

A session sells ``quota`` (Q) identical plates in one timed window, split in two halves:

- first half (首次出价时段): each admitted bidder may bid once, at most the warning price
  (警示价);
- second half (修改出价时段): a bidder may bid (if they have not) and revise, at most
  ``max_revisions`` (2) times in all after their first bid, each time within
  ±``window_fen`` (300 yuan) of the current lowest winning price.

Every amount is a whole multiple of ``step_fen`` (100 yuan = 10,000 fen) between the floor
``min_price_fen`` and the ceiling ``max_price_fen``. A revision replaces the bidder's bid,
price *and* time. Bids rank by price, then time (the session's sequence number: earlier
wins); the Q best win; the Q-th sets the cutoff (最低成交价); winners pay what they bid.
"The current lowest winning price" is the price of the Q-th ranked bid, or of the last bid
when fewer than Q have been made; before any bid there is no window.

The session is event-sourced like a lot (``auction.rules``): ``QuotaBook.decide(command,
now)`` judges and returns events, or raises ``AuctionRejected`` and changes nothing;
``QuotaBook.apply(event)`` folds; ``rebuild_quota(config, events)`` replays a log. Every
event carries the session's gapless ``seq``. There is no clock and no randomness here.

Unlike a lot, the book is a mutable aggregate, on purpose: the record session had
221,109 bidders, and copying their bids on every bid would be quadratic. The rule stays
the same: ``decide`` never mutates; only ``apply`` does; the state is a fold of the log.
The live cutoff is kept by a Fenwick tree over price levels (log time per bid).

Refusals of ``PlaceBid``, in this order: ``bad_command``, ``bad_amount``, ``not_open``
(before the start), ``closed`` (at or after the end), ``not_admitted``,
``below_minimum``, ``over_cap`` (above the ceiling), ``not_increment_multiple``; then in
the first half ``one_bid_only``, ``over_warning_price``; in the second half
``too_many_revisions``, ``outside_window``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from auction.errors import AuctionReason, AuctionRejected, CorruptLog
from auction.model import (
    MAX_AMOUNT_FEN,
    MAX_BID_ID_LEN,
    MAX_PADDLE_LEN,
    Admit,
    BidderAdmitted,
    Command,
    Event,
    PlaceBid,
    Tick,
)
from auction.rules import check_amount
from trading.clock import iso_ms, utc_ms
from trading.errors import ValidationFailed

__all__ = [
    "MAX_PRICE_LEVELS",
    "QUOTA_EVENT_TYPES",
    "QuotaBid",
    "QuotaBidAccepted",
    "QuotaBook",
    "QuotaClosed",
    "QuotaConfig",
    "QuotaResult",
    "allocate",
    "quota_config_from_dict",
    "quota_config_to_dict",
    "rebuild_quota",
]

MAX_PRICE_LEVELS = 1 << 20
"""Distinct prices a session may span ((ceiling − floor) / step + 1)."""
MAX_QUOTA = 1_000_000


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class QuotaConfig:
    """One quota session. Construction validates and raises ``ValidationFailed`` listing
    every problem. Default halves: 30 minutes each (the one-hour Shanghai session)."""

    session_id: str
    quota: int
    starts_at: datetime
    warning_price_fen: int
    first_half_s: int = 1800
    second_half_s: int = 1800
    step_fen: int = 10_000
    window_fen: int = 30_000
    max_revisions: int = 2
    min_price_fen: int = 10_000
    max_price_fen: int | None = None
    """The ceiling of any bid; default twice the warning price."""

    def __post_init__(self) -> None:
        if isinstance(self.starts_at, datetime) and self.starts_at.tzinfo is not None:
            object.__setattr__(self, "starts_at", utc_ms(self.starts_at))
        if self.max_price_fen is None and _is_int(self.warning_price_fen):
            object.__setattr__(self, "max_price_fen", 2 * self.warning_price_fen)
        problems = self.problems()
        if problems:
            raise ValidationFailed(
                "Invalid quota session: " + "; ".join(problems),
                "额度拍卖场次配置无效：" + "；".join(problems),
                details={"errors": problems},
            )

    def problems(self) -> list[str]:
        out: list[str] = []
        if not isinstance(self.session_id, str) or not 0 < len(self.session_id) <= 64:
            out.append("session_id must be 1 to 64 characters")
        if not _is_int(self.quota) or not 0 < self.quota <= MAX_QUOTA:
            out.append(f"quota must be in 1..{MAX_QUOTA}")
        if not isinstance(self.starts_at, datetime) or self.starts_at.tzinfo is None:
            out.append("starts_at must be a timezone-aware datetime")
        for name in ("first_half_s", "second_half_s"):
            value = getattr(self, name)
            if not _is_int(value) or not 0 < value <= 24 * 3600:
                out.append(f"{name} must be in 1..86400")
        if not _is_int(self.max_revisions) or not 0 <= self.max_revisions <= 100:
            out.append("max_revisions must be in 0..100")
        amounts = ("step_fen", "window_fen", "min_price_fen", "warning_price_fen", "max_price_fen")
        bad = [n for n in amounts if not _is_int(getattr(self, n)) or getattr(self, n) <= 0]
        bad += [n for n in amounts if n not in bad and getattr(self, n) > MAX_AMOUNT_FEN]
        out.extend(f"{name} must be a whole number of fen in 1..{MAX_AMOUNT_FEN}" for name in bad)
        if bad:
            return out
        step = self.step_fen
        assert self.max_price_fen is not None
        for name in ("min_price_fen", "warning_price_fen", "max_price_fen"):
            if getattr(self, name) % step:
                out.append(f"{name} must be a whole multiple of step_fen")
        if not self.min_price_fen <= self.warning_price_fen <= self.max_price_fen:
            out.append("need min_price_fen <= warning_price_fen <= max_price_fen")
        elif (self.max_price_fen - self.min_price_fen) // step + 1 > MAX_PRICE_LEVELS:
            out.append(f"the price range spans more than {MAX_PRICE_LEVELS} steps")
        return out

    @property
    def half_at(self) -> datetime:
        """The second half starts here (a bid at this instant is a second-half bid)."""
        return self.starts_at + timedelta(seconds=self.first_half_s)

    @property
    def ends_at(self) -> datetime:
        return self.half_at + timedelta(seconds=self.second_half_s)

    @property
    def ceiling_fen(self) -> int:
        assert self.max_price_fen is not None
        return self.max_price_fen


# -- events and records --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class QuotaBidAccepted(Event):
    """A bid or a revision (``revision`` 1, 2 …; 0 for the first bid); it replaces the
    bidder's previous bid, whose amount is ``replaces_fen``."""

    type_name: ClassVar[str] = "quota_bid_accepted"
    bid_id: str
    paddle: str
    amount_fen: int
    revision: int
    replaces_fen: int | None


@dataclass(frozen=True, kw_only=True)
class QuotaClosed(Event):
    """The session ended at ``at`` (its scheduled end). ``cutoff_fen`` is the lowest
    winning price (None without bids)."""

    type_name: ClassVar[str] = "quota_closed"
    cutoff_fen: int | None
    winner_count: int
    bid_count: int


QUOTA_EVENT_TYPES: dict[str, type[Event]] = {
    cls.type_name: cls for cls in (BidderAdmitted, QuotaBidAccepted, QuotaClosed)
}


@dataclass(frozen=True)
class QuotaBid:
    """A bidder's standing bid: the latest they made."""

    paddle: str
    amount_fen: int
    seq: int
    at: datetime
    revision: int

    def rank_key(self) -> tuple[int, int]:
        """Price first (higher first), then time (earlier first)."""
        return (-self.amount_fen, self.seq)


@dataclass(frozen=True)
class QuotaResult:
    """Winners in rank order; each pays their own bid. ``cutoff_fen`` is the last winner's."""

    cutoff_fen: int | None
    winners: tuple[QuotaBid, ...]

    @property
    def total_fen(self) -> int:
        return sum(bid.amount_fen for bid in self.winners)


def allocate(quota: int, bids: Iterable[QuotaBid]) -> QuotaResult:
    """Rank by price then time; the ``quota`` best win and pay as bid."""
    winners = tuple(sorted(bids, key=QuotaBid.rank_key)[:quota])
    return QuotaResult(winners[-1].amount_fen if winners else None, winners)


# -- the live cutoff --------------------------------------------------------------------------


class _Fenwick:
    """Counts of standing bids per price level, highest price at index 1."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.tree = [0] * (size + 1)
        self.top = 1 << (size.bit_length() - 1)

    def add(self, index: int, delta: int) -> None:
        while index <= self.size:
            self.tree[index] += delta
            index += index & -index

    def kth(self, k: int) -> int:
        """The smallest index whose prefix count reaches ``k`` (1 ≤ k ≤ total)."""
        position, step = 0, self.top
        while step:
            nxt = position + step
            if nxt <= self.size and self.tree[nxt] < k:
                position = nxt
                k -= self.tree[nxt]
            step >>= 1
        return position + 1


def _refuse(reason: AuctionReason, detail: str = "", **details: Any) -> AuctionRejected:
    return AuctionRejected(reason, detail, details=details or None)


class QuotaBook:
    """One quota session's state: admissions, each bidder's standing bid, the close."""

    def __init__(self, config: QuotaConfig) -> None:
        self.config = config
        self.seq = 0
        self.last_event_at: datetime | None = None
        self.admitted: set[str] = set()
        self.bids: dict[str, QuotaBid] = {}
        self.closed: QuotaClosed | None = None
        self._levels = _Fenwick((config.ceiling_fen - config.min_price_fen) // config.step_fen + 1)

    # -- reading --------------------------------------------------------------------------

    def _index(self, amount_fen: int) -> int:
        return (self.config.ceiling_fen - amount_fen) // self.config.step_fen + 1

    def lowest_winning_price_fen(self) -> int | None:
        """The price of the Q-th ranked standing bid (or of the last, if fewer)."""
        if not self.bids:
            return None
        index = self._levels.kth(min(self.config.quota, len(self.bids)))
        return self.config.ceiling_fen - (index - 1) * self.config.step_fen

    def next_deadline(self) -> datetime | None:
        return None if self.closed else self.config.ends_at

    def result(self) -> QuotaResult:
        return allocate(self.config.quota, self.bids.values())

    def public_view(self) -> dict[str, Any]:
        """What every watcher sees: counts and the cutoff, never who bid what."""
        return {
            "session_id": self.config.session_id,
            "seq": self.seq,
            "quota": self.config.quota,
            "bid_count": len(self.bids),
            "lowest_winning_price_fen": self.lowest_winning_price_fen(),
            "warning_price_fen": self.config.warning_price_fen,
            "half_at": iso_ms(self.config.half_at),
            "ends_at": iso_ms(self.config.ends_at),
            "closed": self.closed is not None,
        }

    # -- deciding -------------------------------------------------------------------------

    def decide(self, command: Command, now: datetime) -> tuple[Event, ...]:
        """Judge ``command`` at ``now``: the events to log, or ``AuctionRejected``. Does not
        change the book; ``apply`` each event (or call ``handle``)."""
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise TypeError("now must be a timezone-aware datetime")
        now = utc_ms(now)
        if self.last_event_at is not None and now < self.last_event_at:
            now = self.last_event_at
        config, seq = self.config, self.seq + 1
        if self.closed is None and now >= config.ends_at:
            # The end fell due: the close is the only thing left to log.
            if isinstance(command, Tick):
                return (self._close_event(seq),)
            raise _refuse(AuctionReason.CLOSED, f"ended at {iso_ms(config.ends_at)}")
        if isinstance(command, Tick):
            return ()
        if isinstance(command, Admit):
            _check_paddle(command.paddle)
            if self.closed is not None:
                raise _refuse(AuctionReason.CLOSED)
            if command.paddle in self.admitted:
                return ()
            return (BidderAdmitted(seq=seq, at=now, paddle=command.paddle),)
        if isinstance(command, PlaceBid):
            return (self._judge_bid(command, now, seq),)
        raise _refuse(AuctionReason.WRONG_PHASE, f"{type(command).__name__} in a quota session")

    def _close_event(self, seq: int) -> QuotaClosed:
        return QuotaClosed(
            seq=seq,
            at=self.config.ends_at,
            cutoff_fen=self.lowest_winning_price_fen(),
            winner_count=min(self.config.quota, len(self.bids)),
            bid_count=len(self.bids),
        )

    def _judge_bid(self, command: PlaceBid, now: datetime, seq: int) -> QuotaBidAccepted:
        config = self.config
        if not isinstance(command.bid_id, str) or not 0 < len(command.bid_id) <= MAX_BID_ID_LEN:
            raise _refuse(AuctionReason.BAD_COMMAND, "bid_id")
        _check_paddle(command.paddle)
        amount = check_amount(command.amount_fen)
        if now < config.starts_at:
            raise _refuse(AuctionReason.NOT_OPEN, f"opens at {iso_ms(config.starts_at)}")
        if self.closed is not None:
            raise _refuse(AuctionReason.CLOSED)
        if command.paddle not in self.admitted:
            raise _refuse(AuctionReason.NOT_ADMITTED, command.paddle)
        if amount < config.min_price_fen:
            raise _refuse(AuctionReason.BELOW_MINIMUM, f"floor {config.min_price_fen} fen")
        if amount > config.ceiling_fen:
            raise _refuse(AuctionReason.OVER_CAP, f"ceiling {config.ceiling_fen} fen")
        if amount % config.step_fen:
            raise _refuse(AuctionReason.NOT_INCREMENT_MULTIPLE, f"step {config.step_fen} fen")
        standing = self.bids.get(command.paddle)
        if now < config.half_at:
            if standing is not None:
                raise _refuse(AuctionReason.ONE_BID_ONLY)
            if amount > config.warning_price_fen:
                raise _refuse(
                    AuctionReason.OVER_WARNING_PRICE,
                    f"warning price {config.warning_price_fen} fen",
                )
        else:
            if standing is not None and standing.revision >= config.max_revisions:
                raise _refuse(AuctionReason.TOO_MANY_REVISIONS, f"at most {config.max_revisions}")
            cutoff = self.lowest_winning_price_fen()
            if cutoff is not None and abs(amount - cutoff) > config.window_fen:
                raise _refuse(
                    AuctionReason.OUTSIDE_WINDOW,
                    f"{cutoff - config.window_fen}..{cutoff + config.window_fen} fen",
                    low_fen=cutoff - config.window_fen,
                    high_fen=cutoff + config.window_fen,
                )
        return QuotaBidAccepted(
            seq=seq,
            at=now,
            bid_id=command.bid_id,
            paddle=command.paddle,
            amount_fen=amount,
            revision=0 if standing is None else standing.revision + 1,
            replaces_fen=None if standing is None else standing.amount_fen,
        )

    # -- folding --------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Fold one logged event. Raises ``CorruptLog`` on a gap or an impossible event."""
        if event.seq != self.seq + 1:
            raise CorruptLog(f"expected seq {self.seq + 1}, got {event.seq}")
        if self.last_event_at is not None and event.at < self.last_event_at:
            raise CorruptLog(f"event {event.seq} goes back in time")
        if self.closed is not None:
            raise CorruptLog(f"event {event.seq} after the close")
        if isinstance(event, BidderAdmitted):
            self.admitted.add(event.paddle)
        elif isinstance(event, QuotaBidAccepted):
            standing = self.bids.get(event.paddle)
            if event.paddle not in self.admitted or (
                (None if standing is None else standing.amount_fen) != event.replaces_fen
            ):
                raise CorruptLog(f"bid {event.seq} does not follow the log")
            if standing is not None:
                self._levels.add(self._index(standing.amount_fen), -1)
            self._levels.add(self._index(event.amount_fen), 1)
            self.bids[event.paddle] = QuotaBid(
                event.paddle, event.amount_fen, event.seq, event.at, event.revision
            )
        elif isinstance(event, QuotaClosed):
            self.closed = event
        else:
            raise CorruptLog(f"event {event.seq} ({event.type_name}) in a quota session")
        self.seq = event.seq
        self.last_event_at = event.at

    def handle(self, command: Command, now: datetime) -> tuple[Event, ...]:
        """``decide`` then ``apply`` each event: the engine's one call per command."""
        events = self.decide(command, now)
        for event in events:
            self.apply(event)
        return events


def _check_paddle(paddle: object) -> None:
    if not isinstance(paddle, str) or not 0 < len(paddle) <= MAX_PADDLE_LEN:
        raise _refuse(AuctionReason.BAD_COMMAND, f"paddle must be 1 to {MAX_PADDLE_LEN} characters")


def rebuild_quota(config: QuotaConfig, events: Iterable[Event]) -> QuotaBook:
    """Replay a session's log."""
    book = QuotaBook(config)
    for event in events:
        book.apply(event)
    return book


_CONFIG_INTS = (
    "quota",
    "warning_price_fen",
    "first_half_s",
    "second_half_s",
    "step_fen",
    "window_fen",
    "max_revisions",
    "min_price_fen",
    "max_price_fen",
)


def quota_config_to_dict(config: QuotaConfig) -> dict[str, Any]:
    """The configuration as the session's row and its exported log store it."""
    out: dict[str, Any] = {"session_id": config.session_id, "starts_at": iso_ms(config.starts_at)}
    out.update({name: getattr(config, name) for name in _CONFIG_INTS})
    return out


def quota_config_from_dict(data: dict[str, Any]) -> QuotaConfig:
    """Inverse of ``quota_config_to_dict``; ``ValidationFailed`` or ``ValueError`` on bad data."""
    unknown = set(data) - {"session_id", "starts_at", *_CONFIG_INTS}
    if unknown:
        raise ValueError(f"unknown configuration keys {sorted(unknown)}")
    starts_at = datetime.fromisoformat(str(data["starts_at"]).replace("Z", "+00:00"))
    return QuotaConfig(
        session_id=data["session_id"],
        starts_at=starts_at,
        **{name: data[name] for name in _CONFIG_INTS if name in data},
    )
