"""The rules after the evaluation report: pure functions of the procedure, the command and
``now`` (and, for working days, the calendar). Nothing here reads a clock or a database.

Theory of operation
-------------------
A tender's award procedure starts when its evaluation report is concluded (every member
signed, or the signing time passed: T17). Its lifecycle is ``AwardState`` and the table
``TRANSITIONS`` of ``(state, command type) -> allowed next states``; :func:`decide` is the one
entry point: a missing pair is refused (``wrong_award_state``, or the reason that says why),
the command's guard applies the rule, and the :class:`Decision` says the next state, the
columns to set, what was passed over, and the timed events to schedule or cancel. A refused
command raises ``AwardRejected`` and changes nothing.

::

    concluded ──PublishCandidates──▶ publicity ──Award(rank, reason?)──▶ awarded ──RecordContract──▶ contracted
        │                             ▲   objections: open → answered            │
        │                             │   complaints: received → accepted|refused │
        │                             │               accepted → decided          │
        │                             └──────────── Decline(reason) ◀─────────────┘
        └──Fail (no valid candidate)──▶ failed  (re-tender draft linked, FAILED/RE_TENDER notices)

The rules, with their sources (RULES.md):

- T18 (IR 54): the candidates are published within 3 days of the report (a timed event,
  ``award.publicity_due``, raises a supervision alert if they are not), for at least 3 days
  (``AwardSettings.publicity_days``, cfg ≥ 3). Objections (异议) to the candidates are taken
  from the tender's bidders during the publicity only; each suspends the award until staff
  answer it in writing (due in 3 days: ``award.objection_due`` alerts when missed).
- W12 (IR 60–62): a complaint (投诉) reaches the supervisor within 10 days of the day the
  complainant knew or should have known (China dates: the 10th day after that day is the
  last); the supervisor accepts or refuses it within 3 working days of receipt and decides
  an accepted one within 30 working days of acceptance (working days from the ledger's
  calendar, ``trading.ledger.rules.dates``); each is a timed event that alerts when missed.
  Accepting may suspend the award (the supervisor's choice, recorded): no award and no
  contract until the decision.
- W8 (IR 55): the award goes to the first-ranked candidate; a lower one only with a recorded
  reason (``PassReason``: gave up, cannot perform, ineligible) and a note; a candidate passed
  over (or who declined) cannot be awarded later. No award before the publicity ends, while
  an objection is open, or while an accepted complaint suspends it.
- W9 (BL 45): the award notice to the winner and the result notices to every other bidder
  are made by the same step (the service does it in one transaction).
- W10 (BL 46, IR 57): the contract within 30 days of the award (``award.contract_due`` at
  award + 30 days alerts on day 31), for exactly the winning bid's price.
- W11 (IR 58): the performance bond at most 10 % of the contract price (integer test:
  ``bond × 10 ≤ amount``).
- W7 (BL 42): no valid candidate → the tender fails (``Fail``).
- S5: the savings rate (节支率) = (budget − award) / budget, an exact fraction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from bidding.award.errors import AwardReason, AwardRejected
from bidding.award.model import (
    AwardProcedure,
    AwardSettings,
    AwardState,
    ComplaintState,
    PassReason,
    Result,
)
from trading.clock import iso_ms
from trading.ledger.model import CHINA_TZ, WorkCalendar
from trading.ledger.rules.dates import add_working_days, china_date

__all__ = [
    "COMPLAINT_ACCEPT_DAYS",
    "COMPLAINT_ACCEPT_DUE",
    "COMPLAINT_DAYS",
    "COMPLAINT_DECIDE_DAYS",
    "COMPLAINT_DECIDE_DUE",
    "COMPLAINT_TRANSITIONS",
    "CONTRACT_DAYS",
    "CONTRACT_DUE",
    "OBJECTION_DUE",
    "PUBLICITY_DUE",
    "SWEEP",
    "TRANSITIONS",
    "Award",
    "Decision",
    "Decline",
    "Fail",
    "PublishCandidates",
    "RecordContract",
    "Timer",
    "check_bond",
    "check_complaint_in_time",
    "check_contract_amount",
    "check_objection_window",
    "complaint_accept_due_at",
    "complaint_decide_due_at",
    "complaint_last_day",
    "contract_due_at",
    "decide",
    "decide_complaint",
    "end_of_china_day",
    "objection_answer_due_at",
    "publicity_due_at",
    "savings_rate",
    "savings_rate_percent",
    "start",
    "total_savings_rate",
]

PUBLICITY_DUE = "award.publicity_due"
OBJECTION_DUE = "award.objection_due"
COMPLAINT_ACCEPT_DUE = "award.complaint_accept_due"
COMPLAINT_DECIDE_DUE = "award.complaint_decide_due"
CONTRACT_DUE = "award.contract_due"
SWEEP = "award.sweep"
"""The award watch: finds newly concluded reports and starts their procedures (arming
``award.publicity_due``), then schedules itself again."""

CONTRACT_DAYS = 30
"""W10 (BL 46): the contract within 30 days of the award notice."""
COMPLAINT_DAYS = 10
"""W12 (IR 60): a complaint within 10 days of knowing."""
COMPLAINT_ACCEPT_DAYS = 3
"""W12 (IR 61): accepted or refused within 3 working days of receipt."""
COMPLAINT_DECIDE_DAYS = 30
"""W12 (IR 61): decided within 30 working days of acceptance."""
BOND_MAX_PERCENT = 10
"""W11 (IR 58): the performance bond at most 10 % of the contract price."""


# ---------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class PublishCandidates:
    """Staff publish the ranked candidates (中标候选人公示)."""


@dataclass(frozen=True)
class Award:
    """Award to the candidate of ``rank``; below the first, ``reason`` and ``note`` say why
    every candidate above it not yet passed over is passed over (W8)."""

    rank: int
    reason: PassReason | None = None
    note: str = ""


@dataclass(frozen=True)
class Decline:
    """The winner gave up, cannot perform or is found ineligible after the award (refusing
    to sign is giving up): the award lapses and the next candidate may be awarded."""

    reason: PassReason
    note: str


@dataclass(frozen=True)
class RecordContract:
    amount_fen: int
    bond_fen: int


@dataclass(frozen=True)
class Fail:
    """No valid candidate (W7, BL 42): the tender failed."""

    reason: str


Command = PublishCandidates | Award | Decline | RecordContract | Fail


@dataclass(frozen=True)
class Timer:
    kind: str
    due_at: datetime


@dataclass(frozen=True)
class Decision:
    state: AwardState
    changes: Mapping[str, Any] = field(default_factory=dict)
    """Columns of the procedure to set besides the state."""
    passed: tuple[tuple[int, PassReason], ...] = ()
    """Candidates passed over by this step, (rank, reason)."""
    timers: tuple[Timer, ...] = ()
    cancel_timers: tuple[str, ...] = ()
    late: bool = False
    """The step came after its deadline (recorded; the alert was the timed event's)."""


S = AwardState
TRANSITIONS: Mapping[tuple[AwardState, type], frozenset[AwardState]] = {
    (S.CONCLUDED, PublishCandidates): frozenset({S.PUBLICITY}),
    (S.CONCLUDED, Fail): frozenset({S.FAILED}),
    (S.PUBLICITY, Award): frozenset({S.AWARDED}),
    (S.AWARDED, Decline): frozenset({S.PUBLICITY}),
    (S.AWARDED, RecordContract): frozenset({S.CONTRACTED}),
}


# ---------------------------------------------------------------------------- start


def publicity_due_at(concluded_at: datetime, settings: AwardSettings) -> datetime:
    """T18 (IR 54): the candidates are published within 3 days of the report."""
    return concluded_at + timedelta(days=settings.publish_within_days)


def start(result: Result, settings: AwardSettings) -> tuple[AwardState, datetime, tuple[Timer, ...]]:
    """A concluded result starts the procedure: its state, the publication deadline, and the
    timer that alerts if the candidates are not published by then (none for a failed one)."""
    due = publicity_due_at(result.concluded_at, settings)
    if result.failed or not result.candidates:
        return S.CONCLUDED, due, ()
    ranks = [c.rank for c in result.candidates]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks), "candidates in rank order"
    return S.CONCLUDED, due, (Timer(PUBLICITY_DUE, due),)


# ---------------------------------------------------------------------------- decide


def decide(
    proc: AwardProcedure, command: Command, now: datetime, settings: AwardSettings
) -> Decision:
    """The one entry point of the award lifecycle. Raises ``AwardRejected``; changes nothing."""
    allowed = TRANSITIONS.get((proc.state, type(command)))
    if allowed is None:
        raise _refusal(proc, command)
    decision = _guard(proc, command, now, settings)
    assert decision.state in allowed, f"{type(command).__name__} → {decision.state}"
    return decision


def _refusal(proc: AwardProcedure, command: Command) -> AwardRejected:
    if isinstance(command, PublishCandidates | Award) and proc.state is S.FAILED:
        return AwardRejected(AwardReason.EVALUATION_FAILED)
    if isinstance(command, Award) and proc.state is S.CONCLUDED:
        return AwardRejected(
            AwardReason.PUBLICITY_NOT_ENDED, "the candidates are not published yet", "中标候选人尚未公示"
        )
    return AwardRejected(
        AwardReason.WRONG_AWARD_STATE,
        f"{type(command).__name__} in state {proc.state}",
        f"状态 {proc.state} 下不能执行 {type(command).__name__}",
    )


def _guard(
    proc: AwardProcedure, command: Command, now: datetime, settings: AwardSettings
) -> Decision:
    if isinstance(command, PublishCandidates):
        if not proc.candidates:
            raise AwardRejected(AwardReason.EVALUATION_FAILED)
        ends = now + timedelta(days=settings.publicity_days)
        return Decision(
            S.PUBLICITY,
            {"publicity_published_at": now, "publicity_ends_at": ends},
            cancel_timers=(PUBLICITY_DUE,),
            late=now >= proc.publicity_due_at,
        )
    if isinstance(command, Fail):
        if proc.candidates:
            raise AwardRejected(AwardReason.EVALUATION_NOT_FAILED)
        return Decision(
            S.FAILED,
            {"failed_at": now, "failure_reason": command.reason},
            cancel_timers=(PUBLICITY_DUE,),
        )
    if isinstance(command, Award):
        return _award(proc, command, now)
    if isinstance(command, Decline):
        _require_note(command.note)
        assert proc.awarded_rank is not None
        return Decision(
            S.PUBLICITY,
            {"award_id": None, "awarded_rank": None, "awarded_at": None, "contract_due_at": None,
             "award_fen": None},
            passed=((proc.awarded_rank, command.reason),),
            cancel_timers=(CONTRACT_DUE,),
        )
    assert isinstance(command, RecordContract)
    _not_suspended(proc)
    winner = proc.winner
    assert winner is not None and proc.contract_due_at is not None
    check_contract_amount(command.amount_fen, winner.price_fen)
    check_bond(command.bond_fen, command.amount_fen)
    return Decision(
        S.CONTRACTED,
        {"award_fen": command.amount_fen},
        cancel_timers=(CONTRACT_DUE,),
        late=now >= proc.contract_due_at,
    )


def _require_note(note: str) -> None:
    if not note or not note.strip():
        raise AwardRejected(AwardReason.NOTE_REQUIRED)


def _not_suspended(proc: AwardProcedure) -> None:
    if proc.suspending_complaints:
        raise AwardRejected(
            AwardReason.COMPLAINT_SUSPENDS,
            f"{proc.suspending_complaints} accepted complaint(s) undecided",
            f"{proc.suspending_complaints} 件已受理投诉尚未处理",
        )


def _award(proc: AwardProcedure, command: Award, now: datetime) -> Decision:
    # Order of precedence: time first (the publicity), then what suspends, then the choice.
    assert proc.publicity_ends_at is not None
    if now < proc.publicity_ends_at:
        raise AwardRejected(
            AwardReason.PUBLICITY_NOT_ENDED,
            f"the publicity ends at {iso_ms(proc.publicity_ends_at)}",
            f"公示期至 {iso_ms(proc.publicity_ends_at)} 届满",
        )
    if proc.open_objections:
        raise AwardRejected(
            AwardReason.OBJECTION_OPEN,
            f"{proc.open_objections} objection(s) unanswered",
            f"{proc.open_objections} 件异议尚未答复",
        )
    _not_suspended(proc)
    candidate = proc.candidate(command.rank)
    if candidate is None:
        raise AwardRejected(
            AwardReason.UNKNOWN_CANDIDATE,
            f"rank {command.rank}; ranks are {[c.rank for c in proc.candidates]}",
            f"名次 {command.rank}；候选人名次为 {[c.rank for c in proc.candidates]}",
        )
    already = {rank for rank, _ in proc.passed_over}
    if command.rank in already:
        raise AwardRejected(AwardReason.CANDIDATE_PASSED_OVER, f"rank {command.rank}")
    skipped = tuple(c.rank for c in proc.candidates if c.rank < command.rank and c.rank not in already)
    if skipped and (command.reason is None or not command.note.strip()):
        raise AwardRejected(
            AwardReason.SKIP_WITHOUT_REASON,
            f"ranks {list(skipped)} would be passed over",
            f"将顺延名次 {list(skipped)}",
        )
    passed = tuple((rank, command.reason) for rank in skipped if command.reason is not None)
    return Decision(
        S.AWARDED,
        {
            "awarded_rank": command.rank,
            "awarded_at": now,
            "contract_due_at": contract_due_at(now),
            "award_fen": candidate.price_fen,
        },
        passed=passed,
        timers=(Timer(CONTRACT_DUE, contract_due_at(now)),),
    )


# ---------------------------------------------------------------------------- W10, W11


def contract_due_at(awarded_at: datetime) -> datetime:
    """W10 (BL 46): 30 days from the award notice; at this instant (day 31) an alert."""
    return awarded_at + timedelta(days=CONTRACT_DAYS)


def check_contract_amount(amount_fen: int, winning_price_fen: int) -> None:
    """W10 (BL 46, IR 57): the contract is for the winning bid's price, to the fen."""
    if amount_fen != winning_price_fen:
        raise AwardRejected(
            AwardReason.CONTRACT_AMOUNT_DIFFERS,
            f"contract {amount_fen} fen, winning bid {winning_price_fen} fen",
            f"合同金额 {amount_fen} 分，中标价 {winning_price_fen} 分",
            details={"amount_fen": amount_fen, "winning_price_fen": winning_price_fen},
        )


def check_bond(bond_fen: int, amount_fen: int) -> None:
    """W11 (IR 58): ``0 ≤ bond ≤ 10 %`` of the contract price, in integers (no rounding)."""
    if bond_fen < 0 or bond_fen * 100 > amount_fen * BOND_MAX_PERCENT:
        raise AwardRejected(
            AwardReason.BOND_OVER_TEN_PERCENT,
            f"bond {bond_fen} fen on {amount_fen} fen; at most {amount_fen * BOND_MAX_PERCENT // 100}",
            f"履约保证金 {bond_fen} 分，合同金额 {amount_fen} 分，上限 {amount_fen * BOND_MAX_PERCENT // 100} 分",
            details={"bond_fen": bond_fen, "amount_fen": amount_fen},
        )


# ---------------------------------------------------------------------------- T18 objections


def check_objection_window(proc: AwardProcedure, now: datetime) -> None:
    """T18 (IR 54): objections to the candidates only while they are published."""
    start_at, end_at = proc.publicity_published_at, proc.publicity_ends_at
    if proc.state is not S.PUBLICITY or start_at is None or end_at is None or not (
        start_at <= now < end_at
    ):
        window = f"{iso_ms(start_at)} – {iso_ms(end_at)}" if start_at and end_at else "not open"
        raise AwardRejected(
            AwardReason.OBJECTION_OUTSIDE_WINDOW,
            f"the publicity window: {window}",
            f"公示期：{window if start_at else '未开始'}",
        )


def objection_answer_due_at(received_at: datetime, settings: AwardSettings) -> datetime:
    """IR 54: answered within 3 days of receipt."""
    return received_at + timedelta(days=settings.objection_answer_days)


# ---------------------------------------------------------------------------- W12 complaints


def end_of_china_day(day: date) -> datetime:
    """The instant a China date ends: what is due "on" ``day`` is late from then."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=CHINA_TZ).astimezone(UTC)


def complaint_last_day(known_at: datetime) -> date:
    """W12 (IR 60): the 10th day after the (China) day the complainant knew is the last."""
    return china_date(known_at) + timedelta(days=COMPLAINT_DAYS)


def check_complaint_in_time(known_at: datetime, now: datetime) -> None:
    if known_at > now:
        raise AwardRejected(AwardReason.KNOWN_AT_IN_FUTURE, iso_ms(known_at))
    last = complaint_last_day(known_at)
    if china_date(now) > last:
        raise AwardRejected(
            AwardReason.COMPLAINT_LATE,
            f"known on {china_date(known_at)}, the last day was {last}",
            f"知道之日为 {china_date(known_at)}，最后一日为 {last}",
        )


def complaint_accept_due_at(received_at: datetime, calendar: WorkCalendar) -> datetime:
    """W12 (IR 61): accept or refuse by the end of the 3rd working day after receipt."""
    return end_of_china_day(add_working_days(china_date(received_at), COMPLAINT_ACCEPT_DAYS, calendar))


def complaint_decide_due_at(accepted_at: datetime, calendar: WorkCalendar) -> datetime:
    """W12 (IR 61): decide by the end of the 30th working day after acceptance."""
    return end_of_china_day(add_working_days(china_date(accepted_at), COMPLAINT_DECIDE_DAYS, calendar))


COMPLAINT_TRANSITIONS: Mapping[tuple[ComplaintState, str], ComplaintState] = {
    (ComplaintState.RECEIVED, "accept"): ComplaintState.ACCEPTED,
    (ComplaintState.RECEIVED, "refuse"): ComplaintState.REFUSED,
    (ComplaintState.ACCEPTED, "decide"): ComplaintState.DECIDED,
}


def decide_complaint(state: ComplaintState, action: str) -> ComplaintState:
    """The complaint's lifecycle: a missing pair is refused and changes nothing."""
    nxt = COMPLAINT_TRANSITIONS.get((state, action))
    if nxt is None:
        raise AwardRejected(
            AwardReason.COMPLAINT_STATE, f"{action} a {state} complaint", f"对 {state} 状态的投诉执行 {action}"
        )
    return nxt


# ---------------------------------------------------------------------------- S5 savings


def savings_rate(budget_fen: int | None, award_fen: int | None) -> Fraction | None:
    """节支率 = (budget − award) / budget, exact; ``None`` without a budget or an award.
    Negative when the award is above the budget."""
    if budget_fen is None or award_fen is None or budget_fen <= 0:
        return None
    return Fraction(budget_fen - award_fen, budget_fen)


def total_savings_rate(pairs: Iterable[tuple[int, int]]) -> Fraction | None:
    """S5 over many purchases (a period's statistics): Σ(budget − award) / Σ budget, exact —
    weighted by budget, never a mean of rates. ``pairs`` are ``(budget_fen, award_fen)``."""
    budget = saved = 0
    for budget_fen, award_fen in pairs:
        budget += budget_fen
        saved += budget_fen - award_fen
    return Fraction(saved, budget) if budget > 0 else None


def savings_rate_percent(rate: Fraction | None, places: int = 2) -> Decimal | None:
    """The rate as a percentage rounded half-up to ``places`` (for display; keep the
    fraction for sums)."""
    if rate is None:
        return None
    exact = Decimal(rate.numerator * 100) / Decimal(rate.denominator)
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
