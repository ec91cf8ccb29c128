"""What happens after the evaluation report: the award procedure of a tender (publicity of
the candidates, the award, the contract), objections to the candidates (异议), complaints to
the supervisor (投诉), and the settings a centre configures.

Conventions as in ``bidding.model``: money is ``int`` fen, times aware UTC. The candidates
are copied from the concluded evaluation result (``bidding.evaluation``'s
``EvaluationResult``) when the procedure starts, so the award never re-reads a report that
could still change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

__all__ = [
    "AwardDecision",
    "AwardProcedure",
    "AwardSettings",
    "AwardState",
    "Candidate",
    "Complaint",
    "ComplaintOutcome",
    "ComplaintState",
    "Contract",
    "Objection",
    "PassReason",
    "Result",
    "result_from",
]


class AwardState(StrEnum):
    """The lifecycle after the report (see ``bidding.award.rules`` for the table)."""

    CONCLUDED = "concluded"
    """The report is concluded; the candidates are not published yet (T18: within 3 days)."""
    PUBLICITY = "publicity"
    """The candidates are published (中标候选人公示); after the window an award may be made."""
    AWARDED = "awarded"
    """An award notice (中标通知书) went to a candidate; the contract is due in 30 days."""
    CONTRACTED = "contracted"
    """The contract is recorded; every deposit is being refunded (D5)."""
    FAILED = "failed"
    """No valid candidate (W7): the tender failed; a re-tender draft is linked."""


class PassReason(StrEnum):
    """Why a candidate ranked above the one awarded was passed over (W8, IR 55). Closed."""

    GAVE_UP = "gave_up"
    """放弃中标 — including refusing to sign the contract."""
    CANNOT_PERFORM = "cannot_perform"
    """因不可抗力不能履行合同."""
    INELIGIBLE = "ineligible"
    """被查实存在影响中标结果的违法行为等情形，不符合中标条件."""


class ComplaintState(StrEnum):
    """received → accepted | refused (3 working days); accepted → decided (30 working days)."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    DECIDED = "decided"


class ComplaintOutcome(StrEnum):
    UPHELD = "upheld"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class Candidate:
    """One ranked candidate (中标候选人) as the concluded report ranks it."""

    rank: int
    bid_id: int
    org_id: int
    price_fen: int
    score: Decimal | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "bid_id": self.bid_id,
            "org_id": self.org_id,
            "price_fen": self.price_fen,
            "score": str(self.score) if self.score is not None else None,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Candidate:
        score = obj.get("score")
        return cls(
            int(obj["rank"]),
            int(obj["bid_id"]),
            int(obj["org_id"]),
            int(obj["price_fen"]),
            Decimal(score) if score is not None else None,
        )


@dataclass(frozen=True)
class Result:
    """The part of the evaluation result the award needs."""

    tender_id: int
    report_id: int | None
    concluded_at: datetime
    failed: bool
    candidates: tuple[Candidate, ...]
    rejected: tuple[tuple[int, str], ...] = ()


def result_from(evaluation_result: Any) -> Result:
    """Copy G1's ``EvaluationResult`` (``bidding.evaluation``) into the award's own record:
    the award depends on its fields, not on its module."""
    return Result(
        tender_id=int(evaluation_result.tender_id),
        report_id=int(evaluation_result.report_id),
        concluded_at=evaluation_result.concluded_at,
        failed=bool(evaluation_result.failed),
        candidates=tuple(
            Candidate(int(c.rank), int(c.bid_id), int(c.org_id), int(c.price_fen), c.score)
            for c in evaluation_result.candidates
        ),
        rejected=tuple((int(b), str(cause)) for b, cause in evaluation_result.rejected),
    )


@dataclass(frozen=True)
class AwardProcedure:
    """One tender's procedure after its report. ``open_objections`` and
    ``suspending_complaints`` are counted by the store when it loads the procedure, so the
    award's guard is a pure function of this record."""

    tender_id: int
    state: AwardState
    version: int
    report_id: int | None
    concluded_at: datetime
    candidates: tuple[Candidate, ...]
    publicity_due_at: datetime
    created_at: datetime
    publicity_published_at: datetime | None = None
    publicity_ends_at: datetime | None = None
    publicity_notice_id: int | None = None
    passed_over: tuple[tuple[int, PassReason], ...] = ()
    """(rank, reason) of every candidate passed over so far, in order."""
    award_id: int | None = None
    awarded_rank: int | None = None
    awarded_at: datetime | None = None
    contract_due_at: datetime | None = None
    budget_fen: int | None = None
    control_price_fen: int | None = None
    award_fen: int | None = None
    failed_at: datetime | None = None
    failure_reason: str | None = None
    retender_id: int | None = None
    open_objections: int = 0
    suspending_complaints: int = 0

    def candidate(self, rank: int) -> Candidate | None:
        for c in self.candidates:
            if c.rank == rank:
                return c
        return None

    @property
    def winner(self) -> Candidate | None:
        return self.candidate(self.awarded_rank) if self.awarded_rank is not None else None


@dataclass(frozen=True)
class Objection:
    """An objection to the candidates (异议, IR 54), from a bidder of the tender, during the
    publicity; answered in writing by staff."""

    id: int
    tender_id: int
    org_id: int
    submitted_by: int
    text: str
    received_at: datetime
    answer_due_at: datetime
    answer: str | None = None
    answered_by: int | None = None
    answered_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.answered_at is None


@dataclass(frozen=True)
class Complaint:
    """A complaint to the supervisor (投诉, IR 60–62)."""

    id: int
    tender_id: int
    org_id: int
    submitted_by: int
    text: str
    known_at: datetime
    received_at: datetime
    accept_due_at: datetime
    state: ComplaintState
    suspends_award: bool = False
    accepted_at: datetime | None = None
    decide_due_at: datetime | None = None
    refused_at: datetime | None = None
    decided_at: datetime | None = None
    outcome: ComplaintOutcome | None = None
    note: str | None = None
    """The refusal's reason, or the written decision."""
    acted_by: int | None = None


@dataclass(frozen=True)
class AwardDecision:
    """One award made (and, if the winner refused, declined)."""

    id: int
    tender_id: int
    rank: int
    bid_id: int
    org_id: int
    price_fen: int
    reason: PassReason | None
    note: str
    awarded_by: int | None
    awarded_at: datetime
    notice_document: dict[str, Any]
    declined_at: datetime | None = None
    decline_reason: PassReason | None = None
    decline_note: str | None = None
    forfeit_requested: bool = False


@dataclass(frozen=True)
class Contract:
    tender_id: int
    award_id: int
    org_id: int
    amount_fen: int
    bond_fen: int
    signed_at: datetime
    recorded_by: int | None
    recorded_at: datetime
    late: bool


@dataclass(frozen=True)
class AwardSettings:
    """What a centre configures (cfg). The statutory floors are asserted: a centre may be
    stricter, never looser."""

    publicity_days: int = 3
    """T18 (IR 54): the candidates are published for at least 3 days."""
    publish_within_days: int = 3
    """T18 (IR 54): published within 3 days of receiving the report."""
    objection_answer_days: int = 3
    """IR 54: the tenderer answers an objection within 3 days; the award waits."""
    sweep_interval_s: int = 3600
    """How often the award watch looks for newly concluded reports (to arm their deadlines)."""

    def __post_init__(self) -> None:
        assert self.publicity_days >= 3, "publicity is at least 3 days (IR 54)"
        assert 1 <= self.publish_within_days <= 3, "publish within at most 3 days (IR 54)"
        assert 1 <= self.objection_answer_days <= 3, "answer objections within 3 days (IR 54)"
        assert 60 <= self.sweep_interval_s <= 86_400
