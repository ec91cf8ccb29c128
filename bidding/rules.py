"""The rules of a sealed tender: pure functions of the tender, the command and ``now``.

Theory of operation
-------------------
A tender's lifecycle is the ``TenderState`` enum and the table ``TRANSITIONS`` of
``(state, command type) -> allowed next states``. :func:`decide` is the one entry point:
it looks the pair up (a missing pair is refused with the reason that says why — the
deadline has passed, the tender is not published, …), applies the command's guard (the
time rules below), and returns a :class:`Decision`: the next state, the events to record,
and the timed events to (re)schedule or cancel. A refused command raises ``BidRejected``
and changes nothing. Nothing here reads a clock: ``now`` is a parameter.

::

    draft ──Publish──▶ published ──Freeze(n ≥ min)──▶ closed ──StartOpening──▶ opening
      │                 │   ▲ ChangeDates, SubmitBid,                              │
      │                 │   └ Register (until the deadline)              CompleteOpening
      └──Cancel──▶ cancelled ◀──Cancel (before the deadline)                        ▼
                        └──Freeze(n < min)──▶ failed                              opened

The time rules, with their sources (RULES.md):

- T1 (BL 24): publishing needs at least ``min_period_days`` (20 by default, per procedure)
  from publication to the bid deadline.
- T2/T5 (A4(a), EM 27–28, BL 29): bids are submitted, replaced and withdrawn while
  ``now < bid_deadline_at`` — a bid committed at the deadline minus 1 ms is in, one at the
  deadline is out. ``now`` is taken when the upload has been fully received.
- T1 again on every date change of a published tender: the new deadline is at least
  ``min_period_days`` after the publication (a change never shortens the statutory period).
- T4 (A4(c)): dates change only before the deadline (and only by staff: the edge checks
  the role); the opening is never before the deadline.
- T7 (BL 28, IR 44): at the deadline (``Freeze``), fewer than ``min_bidders`` (3) current
  bids fail the tender (流标); no opening.
- T8 (BL 34): the opening session starts at the opening time, or as soon as the server is
  back if it was down then.
- T10 (EM 31): :func:`classify_failure` — a bid that fails to open through the bidder's own
  fault is revoked, through any other cause withdrawn with an incident.
- T14 (IR 26): the bid deposit is at most 2 % of the estimated price; for works, also at
  most a configured cap (800,000 yuan by default).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bidding.errors import BidReason, BidRejected
from bidding.model import (
    DEFAULT_MIN_BIDDERS,
    MAX_AMOUNT_FEN,
    Bid,
    BiddingSettings,
    BidOutcome,
    Category,
    FailureCause,
    OpeningMode,
    Tender,
    TenderDraft,
    TenderState,
)
from crypto.shamir import MAX_SHARES
from trading.clock import iso_ms

__all__ = [
    "DEADLINE_EVENT",
    "OPENING_EVENT",
    "TRANSITIONS",
    "Cancel",
    "ChangeDates",
    "CompleteOpening",
    "Decision",
    "Freeze",
    "Problem",
    "Publish",
    "Register",
    "StartOpening",
    "SubmitBid",
    "Timer",
    "check_draft",
    "classify_failure",
    "decide",
    "deposit_within_limits",
    "frozen_order",
    "require_valid_draft",
    "share_commitment",
]

DEADLINE_EVENT = "tender.deadline"
OPENING_EVENT = "tender.opening"
MAX_LOTS = 100
MAX_LOT_NAME_CHARS = 200


# ---------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Publish:
    """Publish a draft with its documents: bidding opens."""


@dataclass(frozen=True)
class ChangeDates:
    bid_deadline_at: datetime
    opening_at: datetime


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class Register:
    """A bidder registers for the tender."""


@dataclass(frozen=True)
class SubmitBid:
    """Submit, replace or withdraw a bid: all three need the submission window."""


@dataclass(frozen=True)
class Freeze:
    """The deadline: freeze the set of ``bid_count`` current bids."""

    bid_count: int


@dataclass(frozen=True)
class StartOpening:
    """The opening time: the opening session starts; custodians may hand in shares."""


@dataclass(frozen=True)
class CompleteOpening:
    """k valid shares are in and every bid was processed: the record is published."""


Command = (
    Publish | ChangeDates | Cancel | Register | SubmitBid | Freeze | StartOpening | CompleteOpening
)


@dataclass(frozen=True)
class Timer:
    kind: str
    due_at: datetime


@dataclass(frozen=True)
class Decision:
    state: TenderState
    events: tuple[str, ...] = ()
    timers: tuple[Timer, ...] = ()
    """Timed events to schedule (replacing a pending one of the same kind)."""
    cancel_timers: tuple[str, ...] = ()


S = TenderState
TRANSITIONS: Mapping[tuple[TenderState, type], frozenset[TenderState]] = {
    (S.DRAFT, Publish): frozenset({S.PUBLISHED}),
    (S.DRAFT, ChangeDates): frozenset({S.DRAFT}),
    (S.PUBLISHED, ChangeDates): frozenset({S.PUBLISHED}),
    (S.DRAFT, Cancel): frozenset({S.CANCELLED}),
    (S.PUBLISHED, Cancel): frozenset({S.CANCELLED}),
    (S.PUBLISHED, Register): frozenset({S.PUBLISHED}),
    (S.PUBLISHED, SubmitBid): frozenset({S.PUBLISHED}),
    (S.PUBLISHED, Freeze): frozenset({S.CLOSED, S.FAILED}),
    (S.CLOSED, StartOpening): frozenset({S.OPENING}),
    (S.OPENING, CompleteOpening): frozenset({S.OPENED}),
}
_AFTER_DEADLINE = frozenset({S.CLOSED, S.OPENING, S.OPENED, S.FAILED})


def decide(tender: Tender, command: Command, now: datetime) -> Decision:
    """The one entry point of the lifecycle. Raises ``BidRejected``; changes nothing."""
    allowed = TRANSITIONS.get((tender.state, type(command)))
    if allowed is None:
        raise _refusal(tender, command)
    decision = _guard(tender, command, now)
    assert decision.state in allowed, f"{type(command).__name__} → {decision.state}"
    return decision


def _refusal(tender: Tender, command: Command) -> BidRejected:
    state = tender.state
    if state is S.CANCELLED:
        return BidRejected(BidReason.TENDER_CANCELLED)
    if (
        isinstance(command, SubmitBid | Register | ChangeDates | Cancel)
        and state in _AFTER_DEADLINE
    ):
        return BidRejected(
            BidReason.DEADLINE_PASSED,
            f"the deadline was {iso_ms(tender.bid_deadline_at)}",
            f"截止时间为 {iso_ms(tender.bid_deadline_at)}",
        )
    if isinstance(command, SubmitBid | Register) and state is S.DRAFT:
        return BidRejected(BidReason.TENDER_NOT_PUBLISHED)
    if isinstance(command, Publish):
        return BidRejected(BidReason.TENDER_NOT_DRAFT, f"it is {state}", f"当前状态为 {state}")
    if isinstance(command, StartOpening | CompleteOpening) and state is S.FAILED:
        return BidRejected(BidReason.TENDER_FAILED)
    return BidRejected(
        BidReason.WRONG_STATE,
        f"{type(command).__name__} in state {state}",
        f"状态 {state} 下不能执行 {type(command).__name__}",
    )


def _deadline_passed(tender: Tender) -> BidRejected:
    return BidRejected(
        BidReason.DEADLINE_PASSED,
        f"the deadline was {iso_ms(tender.bid_deadline_at)}",
        f"截止时间为 {iso_ms(tender.bid_deadline_at)}",
    )


def _check_dates(deadline: datetime, opening: datetime, now: datetime) -> None:
    if deadline <= now:
        raise BidRejected(
            BidReason.DEADLINE_NOT_IN_FUTURE,
            f"deadline {iso_ms(deadline)}",
            f"截止时间 {iso_ms(deadline)}",
        )
    if opening < deadline:
        raise BidRejected(
            BidReason.OPENING_BEFORE_DEADLINE,
            f"opening {iso_ms(opening)} < deadline {iso_ms(deadline)}",
            f"开标 {iso_ms(opening)} 早于截止 {iso_ms(deadline)}",
        )


def _check_period(tender: Tender, deadline: datetime, *, since: datetime) -> None:
    """T1 (BL 24): at least ``min_period_days`` from publication (``since``) to the deadline —
    at publication, and again on every later date change (measured from the publication)."""
    period = timedelta(days=tender.min_period_days)
    if deadline - since < period:
        left = (deadline - since) / timedelta(days=1)
        raise BidRejected(
            BidReason.PERIOD_TOO_SHORT,
            f"{tender.min_period_days} days needed from publication ({iso_ms(since)}) "
            f"to the deadline, {left:.2f} days given",
            f"自发布（{iso_ms(since)}）至投标截止需要 {tender.min_period_days} 日，仅 {left:.2f} 日",
        )


def _schedule(deadline: datetime, opening: datetime) -> tuple[Timer, ...]:
    # The deadline is scheduled first so that, when both fall due together (after downtime,
    # or an opening at the deadline moment), the freeze runs before the opening.
    return (Timer(DEADLINE_EVENT, deadline), Timer(OPENING_EVENT, opening))


def _guard(tender: Tender, command: Command, now: datetime) -> Decision:
    if isinstance(command, Publish):
        _check_dates(tender.bid_deadline_at, tender.opening_at, now)
        _check_period(tender, tender.bid_deadline_at, since=now)
        return Decision(
            S.PUBLISHED, ("tender.published",), _schedule(tender.bid_deadline_at, tender.opening_at)
        )
    if isinstance(command, ChangeDates):
        if tender.state is S.PUBLISHED and now >= tender.bid_deadline_at:
            raise _deadline_passed(tender)
        _check_dates(command.bid_deadline_at, command.opening_at, now)
        if tender.published_at is not None:
            _check_period(tender, command.bid_deadline_at, since=tender.published_at)
        timers = (
            _schedule(command.bid_deadline_at, command.opening_at)
            if tender.state is S.PUBLISHED
            else ()
        )
        return Decision(tender.state, ("tender.dates_changed",), timers)
    if isinstance(command, Cancel):
        if tender.state is S.PUBLISHED and now >= tender.bid_deadline_at:
            raise _deadline_passed(tender)
        return Decision(S.CANCELLED, ("tender.cancelled",), (), (DEADLINE_EVENT, OPENING_EVENT))
    if isinstance(command, Register | SubmitBid):
        if now >= tender.bid_deadline_at:
            raise _deadline_passed(tender)
        return Decision(S.PUBLISHED)
    if isinstance(command, Freeze):
        if now < tender.bid_deadline_at:
            raise BidRejected(BidReason.NOT_DUE, f"deadline {iso_ms(tender.bid_deadline_at)}")
        if command.bid_count < tender.min_bidders:
            return Decision(S.FAILED, ("tender.failed",), (), (OPENING_EVENT,))
        return Decision(S.CLOSED, ("tender.closed",))
    if isinstance(command, StartOpening):
        if now < tender.opening_at:
            raise BidRejected(BidReason.NOT_DUE, f"opening {iso_ms(tender.opening_at)}")
        return Decision(S.OPENING, ("tender.opening_started",))
    assert isinstance(command, CompleteOpening)
    return Decision(S.OPENED, ("tender.opened",))


# ---------------------------------------------------------------------------- the draft


@dataclass(frozen=True)
class Problem:
    reason: BidReason
    field: str
    detail_en: str
    detail_zh: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.reason.code, "problem": self.detail_en}


def deposit_within_limits(
    deposit_fen: int, estimated_price_fen: int, category: Category, works_cap_fen: int
) -> BidReason | None:
    """T14 (IR 26): ``deposit <= 2 % of the estimate``, in integers (2.01 % is refused);
    a works tender's deposit also ``<= works_cap_fen``. ``None`` when within limits."""
    if deposit_fen * 100 > estimated_price_fen * 2:
        return BidReason.DEPOSIT_OVER_TWO_PERCENT
    if category is Category.WORKS and deposit_fen > works_cap_fen:
        return BidReason.DEPOSIT_OVER_WORKS_CAP
    return None


def check_draft(draft: TenderDraft, now: datetime, settings: BiddingSettings) -> list[Problem]:
    """Every problem with a draft, not the first (beancount style)."""
    problems: list[Problem] = []

    def add(reason: BidReason, field: str, en: str, zh: str = "") -> None:
        problems.append(Problem(reason, field, en, zh or en))

    names = [lot.strip() for lot in draft.lots]
    if (
        not names
        or len(names) > MAX_LOTS
        or any(not n or len(n) > MAX_LOT_NAME_CHARS for n in names)
        or len(set(names)) != len(names)
    ):
        add(
            BidReason.NO_LOTS,
            "lots",
            f"1..{MAX_LOTS} distinct names of 1..{MAX_LOT_NAME_CHARS} characters",
        )
    if not 0 < draft.estimated_price_fen <= MAX_AMOUNT_FEN:
        add(BidReason.INVALID_AMOUNT, "estimated_price_fen", f"1..{MAX_AMOUNT_FEN} fen")
    elif not 0 <= draft.deposit_fen <= MAX_AMOUNT_FEN:
        add(BidReason.INVALID_AMOUNT, "deposit_fen", f"0..{MAX_AMOUNT_FEN} fen")
    else:
        reason = deposit_within_limits(
            draft.deposit_fen,
            draft.estimated_price_fen,
            draft.category,
            settings.works_deposit_cap_fen,
        )
        if reason is BidReason.DEPOSIT_OVER_TWO_PERCENT:
            add(
                reason,
                "deposit_fen",
                f"{draft.deposit_fen} fen > 2 % of {draft.estimated_price_fen} fen "
                f"(at most {draft.estimated_price_fen * 2 // 100} fen)",
                f"{draft.deposit_fen} 分超过估算价 {draft.estimated_price_fen} 分的 2%"
                f"（上限 {draft.estimated_price_fen * 2 // 100} 分）",
            )
        elif reason is BidReason.DEPOSIT_OVER_WORKS_CAP:
            add(
                reason,
                "deposit_fen",
                f"{draft.deposit_fen} fen > cap {settings.works_deposit_cap_fen} fen",
                f"{draft.deposit_fen} 分超过上限 {settings.works_deposit_cap_fen} 分",
            )
    if draft.bid_deadline_at <= now:
        add(BidReason.DEADLINE_NOT_IN_FUTURE, "bid_deadline_at", iso_ms(draft.bid_deadline_at))
    if draft.opening_at < draft.bid_deadline_at:
        add(
            BidReason.OPENING_BEFORE_DEADLINE,
            "opening_at",
            f"{iso_ms(draft.opening_at)} < {iso_ms(draft.bid_deadline_at)}",
        )
    statutory = settings.min_period_days.get(draft.procedure, 20)
    if draft.min_period_days is not None and draft.min_period_days < statutory:
        add(
            BidReason.MIN_PERIOD_BELOW_STATUTORY,
            "min_period_days",
            f"{draft.min_period_days} < {statutory} days for {draft.procedure} tendering",
            f"{draft.min_period_days} 日短于法定的 {statutory} 日",
        )
    if draft.min_bidders < DEFAULT_MIN_BIDDERS:
        add(BidReason.MIN_BIDDERS_BELOW_THREE, "min_bidders", f"{draft.min_bidders} < 3")
    if draft.opening_mode is not OpeningMode.CUSTODIANS:
        add(BidReason.OPENING_MODE_UNSUPPORTED, "opening_mode", str(draft.opening_mode))
    n = len(draft.custodian_user_ids)
    if len(set(draft.custodian_user_ids)) != n or not 2 <= draft.threshold_k <= n <= MAX_SHARES:
        add(
            BidReason.BAD_CUSTODIAN_THRESHOLD,
            "threshold_k",
            f"k={draft.threshold_k} of {n} custodians ({len(set(draft.custodian_user_ids))} distinct)",
        )
    if not 1024 <= draft.max_bid_bytes <= settings.max_bid_bytes_cap:
        add(
            BidReason.BID_SIZE_LIMIT_INVALID,
            "max_bid_bytes",
            f"the limit must be 1 KiB..{settings.max_bid_bytes_cap} bytes",
        )
    return problems


def require_valid_draft(draft: TenderDraft, now: datetime, settings: BiddingSettings) -> int:
    """Raise with the first problem's code (all problems in ``details.errors``); return the
    tender's minimum period in days."""
    problems = check_draft(draft, now, settings)
    if problems:
        first = problems[0]
        raise BidRejected(
            first.reason,
            "; ".join(f"{p.field}: {p.detail_en}" for p in problems),
            "；".join(f"{p.field}：{p.detail_zh}" for p in problems),
            details={"errors": [p.as_dict() for p in problems]},
        )
    statutory = settings.min_period_days.get(draft.procedure, 20)
    return draft.min_period_days if draft.min_period_days is not None else statutory


# ---------------------------------------------------------------------------- the opening


BIDDER_FAULT_CODES = frozenset(
    {
        "decrypt_failed",  # every chunk authenticated at upload time is signed by the bidder
        "not_a_bid_package",
        "malformed_package",
        "truncated_package",
        "price_schedule_missing",
        "price_schedule_too_large",
        "malformed_price_schedule",
    }
)
"""Failure codes that are the bidder's own doing: the bidder signed these very bytes (the
signature and the receipt hash were checked), so what is inside them is on the bidder."""


def classify_failure(code: str, *, stored_bytes_intact: bool) -> tuple[FailureCause, BidOutcome]:
    """T10 (EM 31): a bid that fails to open — the bidder's fault → revoked; any other cause
    (storage damaged, the server's own error) → withdrawn, and the caller raises an incident.

    ``stored_bytes_intact``: the stored envelope still hashes to its receipt's SHA-256.
    """
    if stored_bytes_intact and code in BIDDER_FAULT_CODES:
        return FailureCause.BIDDER, BidOutcome.REVOKED
    return FailureCause.OTHER, BidOutcome.WITHDRAWN


def frozen_order(bids: Sequence[Bid]) -> list[Bid]:
    """The defined order of the frozen set (the Merkle leaves): by the sequence number of
    the receipt that made each bid current, then by bid id."""
    return sorted(bids, key=lambda b: (b.receipt_id if b.receipt_id is not None else 0, b.id))


def share_commitment(tender_id: int, share_bytes: bytes) -> bytes:
    """What the server keeps to recognise a custodian's share when it is handed in:
    ``SHA-256("sunlit/share-commitment/v1" 0x00 || tender id || 0x00 || share bytes)``.
    A share is 32 uniformly distributed bytes (k >= 2), so its hash reveals nothing of it."""
    return hashlib.sha256(
        b"sunlit/share-commitment/v1\x00" + str(tender_id).encode() + b"\x00" + bytes(share_bytes)
    ).digest()
