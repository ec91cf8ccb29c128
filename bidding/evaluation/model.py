"""What an evaluation is: the method a tender fixes at publication (T16), the panel's
members, the bids under evaluation, the members' score sheets, and the result.

Conventions: money is ``int`` fen; points are ``Decimal`` with at most two decimal places
(never float) and travel as strings (``"12.50"``); times are aware UTC ``datetime``.
This module imports nothing of ``bidding`` (``bidding.model`` imports the method types).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "MAX_CRITERIA",
    "PRICE_CRITERION",
    "Aggregate",
    "BidEntry",
    "BidScore",
    "Candidate",
    "Criterion",
    "EvaluationMethod",
    "EvaluationResult",
    "EvaluationSettings",
    "EvaluationState",
    "MethodSpec",
    "PanelMember",
    "PriceBenchmark",
    "RejectCause",
    "Review",
    "Sheet",
]

PRICE_CRITERION = "price"
"""The code of the comprehensive method's price criterion: scored by the formula, not by
the members."""
MAX_CRITERIA = 50
TOTAL_POINTS = 100


class EvaluationMethod(StrEnum):
    """Lowest evaluated price (经评审的最低投标价法) or comprehensive scoring (综合评估法)."""

    LOWEST_PRICE = "lowest_price"
    COMPREHENSIVE = "comprehensive"


class PriceBenchmark(StrEnum):
    """The price score's benchmark (评标基准价): the lowest valid price or their mean."""

    LOWEST = "lowest"
    MEAN = "mean"


class EvaluationState(StrEnum):
    """evaluating → reported (report generated, members sign) → concluded."""

    EVALUATING = "evaluating"
    REPORTED = "reported"
    CONCLUDED = "concluded"


class RejectCause(StrEnum):
    """Why a bid leaves the ranking (IR 51; W3, W4, W5). Closed set."""

    UNSIGNED = "unsigned"
    """未经投标单位盖章和单位负责人签字"""
    UNQUALIFIED = "unqualified"
    """投标人不符合国家或者招标文件规定的资格条件"""
    TWO_PRICES = "two_prices"
    """同一投标人提交两个以上不同的投标文件或者投标报价"""
    BELOW_COST = "below_cost"
    """投标报价低于成本"""
    NOT_RESPONSIVE = "not_responsive"
    """投标文件没有对招标文件的实质性要求和条件作出响应"""
    COLLUSION = "collusion"
    """投标人有串通投标、弄虚作假、行贿等违法行为"""
    ABOVE_CONTROL_PRICE = "above_control_price"
    """投标报价高于招标文件设定的最高投标限价"""


@dataclass(frozen=True)
class Criterion:
    code: str
    name: str
    max_points: int

    def as_json(self) -> dict[str, object]:
        return {"code": self.code, "name": self.name, "max_points": self.max_points}


@dataclass(frozen=True)
class MethodSpec:
    """The evaluation terms on the tender, fixed at publication (T16)."""

    method: EvaluationMethod = EvaluationMethod.LOWEST_PRICE
    criteria: tuple[Criterion, ...] = ()
    price_benchmark: PriceBenchmark = PriceBenchmark.LOWEST
    points_per_percent: Decimal = Decimal("1.00")
    control_price_fen: int | None = None
    budget_fen: int | None = None
    trim_extremes: bool = False

    def criterion(self, code: str) -> Criterion | None:
        return next((c for c in self.criteria if c.code == code), None)

    @property
    def scored_criteria(self) -> tuple[Criterion, ...]:
        """The criteria the members score (all but the price criterion)."""
        return tuple(c for c in self.criteria if c.code != PRICE_CRITERION)

    def as_json(self) -> dict[str, object]:
        return {
            "evaluation_method": self.method.value,
            "criteria": [c.as_json() for c in self.criteria],
            "price_benchmark": self.price_benchmark.value,
            "points_per_percent": f"{self.points_per_percent:.2f}",
            "control_price_fen": self.control_price_fen,
            "budget_fen": self.budget_fen,
            "trim_extremes": self.trim_extremes,
        }


@dataclass(frozen=True)
class PanelMember:
    """One member of the panel as the web layer passes it in (from ``experts.seating``).
    ``replaced``: declined or recused after seating — the member's sheets are void (T19)."""

    seat: int
    expert_id: str
    """The pool's expert id (text, e.g. ``E000123``)."""
    user_id: int | None
    name: str
    replaced: bool = False


@dataclass(frozen=True)
class BidEntry:
    """An opened bid under evaluation: its price from the opening record, its receipt time."""

    bid_id: int
    org_id: int
    price_fen: int
    received_at: datetime


@dataclass(frozen=True)
class Review:
    """A member's compliance and qualification review of one bid (符合性/资格审查)."""

    passed: bool
    cause: RejectCause | None = None
    reason: str = ""


@dataclass(frozen=True)
class Sheet:
    """A member's score sheet (评分表): a review of every bid, and points per criterion for
    every bid the member passes."""

    expert_id: str
    revision: int
    reviews: Mapping[int, Review]
    points: Mapping[int, Mapping[str, Decimal]] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationSettings:
    """What a centre configures for every evaluation."""

    below_cost_threshold_pct: int = 15
    """W5: a price more than this % below the mean of the other prices is flagged (cfg)."""
    min_valid_bids: int = 3
    """W7 (BL 42): fewer valid bids than this and the evaluation fails (cfg)."""
    max_candidates: int = 3
    """T17 (IR 53): at most three ranked candidates."""
    signing_window_s: int = 24 * 3600
    """T17: a member silent this long after the report counts as consenting."""
    trim_min_members: int = 7
    """``trim_extremes``: the highest and lowest are dropped when this many scored."""

    def __post_init__(self) -> None:
        assert 1 <= self.below_cost_threshold_pct <= 99
        assert 1 <= self.min_valid_bids <= 100
        assert 1 <= self.max_candidates <= 10
        assert 60 <= self.signing_window_s <= 30 * 86400
        assert self.trim_min_members >= 3


@dataclass(frozen=True)
class BidScore:
    """One valid bid's figures in the aggregate (comprehensive: criterion means, price
    score and total; lowest price: the evaluated price only)."""

    bid_id: int
    org_id: int
    price_fen: int
    evaluated_price_fen: int
    criteria: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    price_score: Decimal | None = None
    total: Decimal | None = None


@dataclass(frozen=True)
class Aggregate:
    """What :func:`bidding.evaluation.rules.aggregate` derives from the sheets.

    ``ranking``: every valid bid in rank order; ``candidates`` the first ≤ 3;
    ``rejected`` (bid_id, cause) in bid order; ``flagged`` the bids flagged below cost;
    ``unresolved`` flagged bids still without the panel's finding (no report until none);
    ``failed`` (W7): all rejected or too few valid."""

    ranking: tuple[BidScore, ...]
    candidates: tuple[BidScore, ...]
    rejected: tuple[tuple[int, RejectCause], ...]
    flagged: tuple[int, ...]
    unresolved: tuple[int, ...]
    failed: bool
    void_experts: tuple[str, ...]
    counted_experts: tuple[str, ...]
    benchmark_fen: Decimal | None = None


@dataclass(frozen=True)
class Candidate:
    rank: int
    bid_id: int
    org_id: int
    price_fen: int
    score: Decimal | None
    """``None`` for the lowest evaluated price method."""


@dataclass(frozen=True)
class EvaluationResult:
    """The concluded evaluation, as the award (G2) reads it."""

    tender_id: int
    report_id: int
    concluded_at: datetime
    failed: bool
    candidates: tuple[Candidate, ...]
    rejected: tuple[tuple[int, str], ...]
