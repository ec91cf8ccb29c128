"""The rules of an evaluation: pure functions of the method, the bids, the sheets and ``now``.

Theory of operation
-------------------
The method is fixed on the tender at publication (T16, O12 29–37): lowest evaluated price
(经评审的最低投标价法) or comprehensive scoring (综合评估法) with criteria whose maximum
points sum to exactly 100, one of which — ``price`` — is scored by the formula below and
not by the members. :func:`check_method` lists every problem with a method.

An evaluation's lifecycle is the ``EvaluationState`` enum and the table ``TRANSITIONS`` of
``(state, command type) -> allowed next states`` (``None``: not started). :func:`decide`
is the one entry point: a missing pair is refused with the reason that says why, and a
refused command changes nothing. Nothing here reads a clock: ``now`` is a parameter.

::

    (none) ──Start──▶ evaluating ──GenerateReport──▶ reported ──Sign (last)──────▶ concluded
                       │ ▲ SubmitSheet, RecordFinding,   │ ▲ Sign (not last)        ▲
                       └─┘ AskClarification, Answer       └─┘                       │
                                                  reported ──SigningDeadline────────┘

Aggregation (:func:`aggregate`), in this order, all in integers, ``Fraction`` and
``Decimal`` (never float):

1. Sheets of a replaced member are void (T19, IR 48): dropped as if never handed in. Of
   each member only the latest revision counts.
2. W3 (IR 27, 51(5)): a price above the control price (最高投标限价) is rejected
   (``above_control_price``), whatever the sheets say.
3. W4 (IR 51): a bid failed by more than half of the counted sheets that review it is
   rejected; its cause is the cause most of those sheets give (ties: ``RejectCause``
   order).
4. W5 (O12 21): among the bids within the control price, a bid is flagged when
   ``price × (n − 1) × 100 < (100 − threshold_pct) × Σ(other prices)`` — more than
   ``threshold_pct`` (15 %) below the mean of the others. A flagged bid is not ranked until
   the panel records a finding: explanation rejected → rejected (``below_cost``); no
   finding yet → ``unresolved`` (the report is refused until there is none).
5. W7 (BL 42): no valid bid, or fewer than ``min_valid_bids`` (3), and the evaluation fails.
6. Comprehensive scoring. Benchmark ``B`` = the lowest valid price, or their exact mean
   (a ``Fraction``). For a valid price ``P`` with the price criterion's maximum ``M`` and
   ``k`` points lost per percent of deviation (either side of the benchmark)::

       deviation_pct = |P − B| × 100 / B                  (exact)
       price_score   = round2(max(0, M − k × deviation_pct))

   Each scored criterion's points for a bid are the mean over the counted sheets that score
   it — with ``trim_extremes`` and at least ``trim_min_members`` (7) scores, the single
   highest and single lowest dropped first — ``round2``-ed. ``round2`` rounds half up to
   0.01 (every figure is ≥ 0); points carry at most two decimals, so a mean is computed in
   integer hundredths as ``(2 × Σ + n) // (2 × n)``, which is exactly ``round2(Σ / n)``.
   ``total = Σ criterion means + price_score`` (exact, two decimals). Ranking: total descending, then price ascending, then receipt time
   ascending, then bid id.
7. Lowest evaluated price: the evaluated price is the opened price (no adjustment is
   modelled); ranking: evaluated price ascending, then receipt time, then bid id.
8. T17 (IR 53): at most ``max_candidates`` (3) ranked candidates.

The ranking key is a total order on distinct bids (the bid id breaks what nothing else
does), so the result does not depend on the order the sheets arrive in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from bidding.evaluation.errors import EvalReason, EvaluationRejected
from bidding.evaluation.model import (
    MAX_CRITERIA,
    PRICE_CRITERION,
    TOTAL_POINTS,
    Aggregate,
    BidEntry,
    BidScore,
    Criterion,
    EvaluationMethod,
    EvaluationSettings,
    EvaluationState,
    MethodSpec,
    PanelMember,
    PriceBenchmark,
    RejectCause,
    Review,
    Sheet,
)

__all__ = [
    "SHEET_TYPE",
    "SIGNING_DEADLINE_EVENT",
    "TRANSITIONS",
    "AnswerClarification",
    "AskClarification",
    "Decision",
    "GenerateReport",
    "Problem",
    "RecordFinding",
    "SignReport",
    "SigningDeadline",
    "Start",
    "SubmitSheet",
    "aggregate",
    "below_cost_flags",
    "check_method",
    "decide",
    "method_from_json",
    "parse_points",
    "parse_sheet",
    "price_score",
    "rank_key",
    "require_valid_method",
    "round2",
]

SIGNING_DEADLINE_EVENT = "evaluation.signing_deadline"
SHEET_TYPE = "sunlit/evaluation-sheet/v1"
MAX_CODE_CHARS = 40
MAX_NAME_CHARS = 200
MAX_REASON_CHARS = 2000
MAX_POINTS_PER_PERCENT = Decimal(100)
TWO_PLACES = Decimal("0.01")

# ---------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Start:
    """Staff start the evaluation: the tender is opened and its panel drawn and seated."""

    tender_opened: bool
    panel_seated: bool


@dataclass(frozen=True)
class SubmitSheet:
    pass


@dataclass(frozen=True)
class RecordFinding:
    pass


@dataclass(frozen=True)
class AskClarification:
    pass


@dataclass(frozen=True)
class AnswerClarification:
    pass


@dataclass(frozen=True)
class GenerateReport:
    """``missing``: seated members without a sheet; ``unresolved``: flagged bids without a
    finding."""

    missing_sheets: tuple[str, ...]
    unresolved: tuple[int, ...]
    signing_window_s: int


@dataclass(frozen=True)
class SignReport:
    """``remaining``: members still to sign after this signature."""

    remaining: int


@dataclass(frozen=True)
class SigningDeadline:
    deadline_at: datetime


Command = (
    Start
    | SubmitSheet
    | RecordFinding
    | AskClarification
    | AnswerClarification
    | GenerateReport
    | SignReport
    | SigningDeadline
)


@dataclass(frozen=True)
class Decision:
    state: EvaluationState
    events: tuple[str, ...] = ()
    signing_deadline_at: datetime | None = None
    """Schedule the signing deadline (silence = consent) at this time."""
    cancel_deadline: bool = False


E = EvaluationState
TRANSITIONS: Mapping[tuple[EvaluationState | None, type], frozenset[EvaluationState]] = {
    (None, Start): frozenset({E.EVALUATING}),
    (E.EVALUATING, SubmitSheet): frozenset({E.EVALUATING}),
    (E.EVALUATING, RecordFinding): frozenset({E.EVALUATING}),
    (E.EVALUATING, AskClarification): frozenset({E.EVALUATING}),
    (E.EVALUATING, AnswerClarification): frozenset({E.EVALUATING}),
    (E.EVALUATING, GenerateReport): frozenset({E.REPORTED}),
    (E.REPORTED, SignReport): frozenset({E.REPORTED, E.CONCLUDED}),
    (E.REPORTED, SigningDeadline): frozenset({E.CONCLUDED}),
}


def decide(state: EvaluationState | None, command: Command, now: datetime) -> Decision:
    """The one entry point of the lifecycle. Raises ``EvaluationRejected``; changes nothing."""
    allowed = TRANSITIONS.get((state, type(command)))
    if allowed is None:
        raise _refusal(state, command)
    decision = _guard(command, now)
    assert decision.state in allowed, f"{type(command).__name__} → {decision.state}"
    return decision


def _refusal(state: EvaluationState | None, command: Command) -> EvaluationRejected:
    if isinstance(command, Start):
        return EvaluationRejected(EvalReason.EVALUATION_EXISTS, f"it is {state}", f"当前为 {state}")
    if state is None:
        return EvaluationRejected(EvalReason.EVALUATION_NOT_STARTED)
    if isinstance(command, SignReport | SigningDeadline):
        return EvaluationRejected(EvalReason.NOT_REPORTED, f"it is {state}", f"当前为 {state}")
    return EvaluationRejected(EvalReason.NOT_EVALUATING, f"it is {state}", f"当前为 {state}")


def _guard(command: Command, now: datetime) -> Decision:
    if isinstance(command, Start):
        if not command.tender_opened:
            raise EvaluationRejected(EvalReason.TENDER_NOT_OPENED)
        if not command.panel_seated:
            raise EvaluationRejected(EvalReason.PANEL_NOT_SEATED)
        return Decision(E.EVALUATING, ("evaluation.started",))
    if isinstance(command, GenerateReport):
        if command.missing_sheets:
            raise EvaluationRejected(
                EvalReason.SHEETS_MISSING,
                f"experts {list(command.missing_sheets)}",
                f"专家 {list(command.missing_sheets)}",
                details={"expert_ids": list(command.missing_sheets)},
            )
        if command.unresolved:
            raise EvaluationRejected(
                EvalReason.FINDING_MISSING,
                f"bids {list(command.unresolved)}",
                f"投标 {list(command.unresolved)}",
                details={"bid_ids": list(command.unresolved)},
            )
        return Decision(
            E.REPORTED,
            ("evaluation.reported",),
            signing_deadline_at=now + timedelta(seconds=command.signing_window_s),
        )
    if isinstance(command, SignReport):
        if command.remaining == 0:
            return Decision(E.CONCLUDED, ("evaluation.signed", "evaluation.concluded"),
                            cancel_deadline=True)
        return Decision(E.REPORTED, ("evaluation.signed",))
    if isinstance(command, SigningDeadline):
        if now < command.deadline_at:
            raise EvaluationRejected(EvalReason.NOT_REPORTED, "the signing deadline is not due")
        return Decision(E.CONCLUDED, ("evaluation.concluded",))
    return Decision(E.EVALUATING)


# ---------------------------------------------------------------------------- the method


@dataclass(frozen=True)
class Problem:
    reason: EvalReason
    field: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.reason.code, "problem": self.detail}


def check_method(spec: MethodSpec) -> list[Problem]:
    """Every problem with the evaluation terms of a tender, not the first."""
    problems: list[Problem] = []
    codes = [c.code for c in spec.criteria]
    if len(spec.criteria) > MAX_CRITERIA or len(set(codes)) != len(codes) or any(
        not c.code
        or len(c.code) > MAX_CODE_CHARS
        or not c.name.strip()
        or len(c.name) > MAX_NAME_CHARS
        or not 1 <= c.max_points <= TOTAL_POINTS
        for c in spec.criteria
    ):
        problems.append(Problem(EvalReason.BAD_CRITERIA, "criteria", "codes, names or points"))
    if spec.method is EvaluationMethod.COMPREHENSIVE:
        if codes.count(PRICE_CRITERION) != 1:
            problems.append(
                Problem(EvalReason.BAD_CRITERIA, "criteria", "exactly one 'price' criterion")
            )
        total = sum(c.max_points for c in spec.criteria)
        if total != TOTAL_POINTS:
            problems.append(
                Problem(EvalReason.CRITERIA_NOT_100, "criteria", f"they sum to {total}, not 100")
            )
    elif spec.criteria:
        problems.append(
            Problem(EvalReason.BAD_CRITERIA, "criteria", "the lowest price method takes none")
        )
    k = spec.points_per_percent
    if not (k.is_finite() and 0 <= k <= MAX_POINTS_PER_PERCENT and k == k.quantize(TWO_PLACES)):
        problems.append(Problem(EvalReason.BAD_POINTS_PER_PERCENT, "points_per_percent", str(k)))
    for name, value in (("control_price_fen", spec.control_price_fen), ("budget_fen", spec.budget_fen)):
        if value is not None and not 0 < value <= 10**15:
            problems.append(Problem(EvalReason.BAD_CONTROL_PRICE, name, str(value)))
    return problems


def require_valid_method(spec: MethodSpec) -> None:
    """Raise with the first problem's code (all problems in ``details.errors``)."""
    problems = check_method(spec)
    if problems:
        text = "; ".join(f"{p.field}: {p.detail}" for p in problems)
        raise EvaluationRejected(
            problems[0].reason, text, text, details={"errors": [p.as_dict() for p in problems]}
        )


def method_from_json(values: Mapping[str, Any]) -> MethodSpec:
    """A method from its JSON form (:meth:`MethodSpec.as_json`; also the columns of a
    tender row). ``ValueError`` when malformed."""
    criteria = values.get("criteria") or []
    if not isinstance(criteria, list):
        raise ValueError("criteria must be a list")
    parsed = []
    for c in criteria:
        if not isinstance(c, Mapping) or type(c.get("max_points")) is not int:
            raise ValueError("each criterion is {code, name, max_points: int}")
        parsed.append(Criterion(str(c.get("code", "")), str(c.get("name", "")), c["max_points"]))
    try:
        ppp = Decimal(str(values.get("points_per_percent", "1.00")))
    except InvalidOperation:
        raise ValueError("points_per_percent is not a decimal") from None
    return MethodSpec(
        method=EvaluationMethod(values.get("evaluation_method", "lowest_price")),
        criteria=tuple(parsed),
        price_benchmark=PriceBenchmark(values.get("price_benchmark", "lowest")),
        points_per_percent=ppp,
        control_price_fen=values.get("control_price_fen"),
        budget_fen=values.get("budget_fen"),
        trim_extremes=bool(values.get("trim_extremes", False)),
    )


# ---------------------------------------------------------------------------- sheets


def parse_points(text: object) -> Decimal | None:
    """Points travel as strings with at most two decimals (``"12.5"``); ``None`` if not."""
    if not isinstance(text, str) or len(text) > 12:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.quantize(TWO_PLACES):
        return None
    return value


def parse_sheet(
    document: Mapping[str, Any],
    *,
    tender_id: int,
    expert_id: str,
    spec: MethodSpec,
    bids: Sequence[BidEntry],
) -> Sheet:
    """A member's sheet document checked against the method and the bids. Raises
    ``EvaluationRejected`` listing every problem (``details.errors``): the code is
    ``points_above_maximum`` when that is all that is wrong, else ``sheet_invalid``.

    The document::

        {"type": "sunlit/evaluation-sheet/v1", "tender_id": 7, "expert_id": "E000003",
         "revision": 1,
         "reviews": [{"bid_id": 11, "passed": true, "cause": null, "reason": ""}, ...],
         "points": [{"bid_id": 11, "scores": {"technical": "28.50", ...}}, ...]}

    Every bid is reviewed once; a failed review names a cause and a reason; every passed
    bid gets points for every scored criterion (none for ``price``), each 0..max with at
    most two decimals; a failed bid gets none."""
    errors: list[dict[str, str]] = []
    points_only = True

    def bad(field: str, problem: str, *, points: bool = False) -> None:
        nonlocal points_only
        points_only = points_only and points
        errors.append({"field": field, "problem": problem})

    if document.get("type") != SHEET_TYPE:
        bad("type", f"must be {SHEET_TYPE}")
    if document.get("tender_id") != tender_id:
        bad("tender_id", f"must be {tender_id}")
    if document.get("expert_id") != expert_id:
        bad("expert_id", f"must be {expert_id} (yours)")
    revision = document.get("revision")
    if type(revision) is not int or not 1 <= revision <= 10_000:
        bad("revision", "an integer 1..10000")
        revision = 0
    unknown = set(document) - {"type", "tender_id", "expert_id", "revision", "reviews", "points"}
    if unknown:
        bad("document", f"unknown fields {sorted(unknown)}")
    known = {b.bid_id for b in bids}
    reviews: dict[int, Review] = {}
    raw_reviews = document.get("reviews")
    if not isinstance(raw_reviews, list):
        bad("reviews", "a list, one entry per bid")
        raw_reviews = []
    for i, r in enumerate(raw_reviews):
        where = f"reviews.{i}"
        if not isinstance(r, Mapping) or set(r) - {"bid_id", "passed", "cause", "reason"}:
            bad(where, "{bid_id, passed, cause, reason}")
            continue
        bid_id, passed, cause, reason = r.get("bid_id"), r.get("passed"), r.get("cause"), r.get("reason", "")
        if type(bid_id) is not int or bid_id not in known or bid_id in reviews:
            bad(where, f"bid_id {bid_id!r}: not an opened bid, or reviewed twice")
            continue
        if type(passed) is not bool or not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
            bad(where, "passed is a boolean, reason a text of at most 2000 characters")
            continue
        if passed and cause is not None:
            bad(where, "a passed review has no cause")
            continue
        if not passed:
            if cause not in {c.value for c in RejectCause}:
                bad(where, f"cause must be one of {[c.value for c in RejectCause]}")
                continue
            if not reason.strip():
                bad(where, "a failed review gives its reason")
                continue
        reviews[bid_id] = Review(passed, RejectCause(cause) if cause else None, reason)
    missing = sorted(known - set(reviews))
    if missing and not any(e["field"].startswith("reviews.") for e in errors):
        bad("reviews", f"bids {missing} are not reviewed")
    points: dict[int, dict[str, Decimal]] = {}
    raw_points = document.get("points", [])
    if not isinstance(raw_points, list):
        bad("points", "a list")
        raw_points = []
    scored = {c.code: c for c in spec.scored_criteria}
    for i, p in enumerate(raw_points):
        where = f"points.{i}"
        if not isinstance(p, Mapping) or set(p) != {"bid_id", "scores"} or not isinstance(
            p["scores"], Mapping
        ):
            bad(where, "{bid_id, scores: {criterion: points}}")
            continue
        bid_id = p["bid_id"]
        review = reviews.get(bid_id) if type(bid_id) is int else None
        if review is None or not review.passed or bid_id in points:
            bad(where, f"bid_id {bid_id!r}: points only for a bid you pass, once")
            continue
        if set(p["scores"]) != set(scored):
            bad(where, f"scores for exactly {sorted(scored)}")
            continue
        row: dict[str, Decimal] = {}
        for code, text in p["scores"].items():
            value = parse_points(text)
            if value is None:
                bad(f"{where}.{code}", "points as a string with at most two decimals")
                continue
            if not 0 <= value <= scored[code].max_points:
                bad(
                    f"{where}.{code}",
                    f"{value} is outside 0..{scored[code].max_points}",
                    points=True,
                )
                continue
            row[code] = value
        points[bid_id] = row
    if scored:
        unscored = sorted(b for b, r in reviews.items() if r.passed and b not in points)
        if unscored and not any(e["field"].startswith("points.") for e in errors):
            bad("points", f"passed bids {unscored} have no points")
    if errors:
        reason = EvalReason.POINTS_ABOVE_MAXIMUM if points_only else EvalReason.SHEET_INVALID
        text = "; ".join(f"{e['field']}: {e['problem']}" for e in errors[:20])
        raise EvaluationRejected(reason, text, text, details={"errors": errors})
    return Sheet(expert_id, revision, reviews, points)


# ---------------------------------------------------------------------------- aggregation


def round2(value: Fraction) -> Decimal:
    """Half up to 0.01, for ``value >= 0``: ``floor(value × 100 + 1/2) / 100``."""
    assert value >= 0
    hundredths = (value * 100 + Fraction(1, 2)).__floor__()
    return (Decimal(hundredths) / 100).quantize(TWO_PLACES)


def price_score(price_fen: int, benchmark: Fraction, max_points: int, per_percent: Decimal) -> Decimal:
    """``round2(max(0, max_points − per_percent × |price − benchmark| × 100 / benchmark))``."""
    assert benchmark > 0
    deviation_pct = abs(price_fen - benchmark) * 100 / benchmark
    lost = Fraction(per_percent) * deviation_pct
    return round2(max(Fraction(0), max_points - lost))


def below_cost_flags(
    bids: Sequence[BidEntry], spec: MethodSpec, settings: EvaluationSettings
) -> tuple[int, ...]:
    """W5: bids (within the control price) more than ``below_cost_threshold_pct`` below the
    mean of the other such bids: ``price × (n−1) × 100 < (100 − t) × Σ others``."""
    pool = [b for b in bids if not _above_control(b, spec)]
    if len(pool) < 2:
        return ()
    total = sum(b.price_fen for b in pool)
    t = settings.below_cost_threshold_pct
    n_others = len(pool) - 1
    return tuple(
        sorted(
            b.bid_id
            for b in pool
            if b.price_fen * n_others * 100 < (100 - t) * (total - b.price_fen)
        )
    )


def _above_control(bid: BidEntry, spec: MethodSpec) -> bool:
    return spec.control_price_fen is not None and bid.price_fen > spec.control_price_fen


def rank_key(spec: MethodSpec, score: BidScore, received_at: datetime) -> tuple[Any, ...]:
    """The ranking order: comprehensive — total desc, price asc, receipt time asc, bid id;
    lowest price — evaluated price asc, receipt time asc, bid id."""
    if spec.method is EvaluationMethod.COMPREHENSIVE:
        assert score.total is not None
        return (-score.total, score.price_fen, received_at, score.bid_id)
    return (score.evaluated_price_fen, received_at, score.bid_id)


def counted_sheets(
    sheets: Sequence[Sheet], members: Sequence[PanelMember]
) -> tuple[dict[str, Sheet], tuple[str, ...]]:
    """The latest sheet of each seated, non-replaced member; and the experts whose sheets
    are void (replaced members, T19) in expert order."""
    active = {m.expert_id for m in members if not m.replaced}
    latest: dict[str, Sheet] = {}
    void: set[str] = set()
    for s in sheets:
        if s.expert_id not in active:
            void.add(s.expert_id)
            continue
        held = latest.get(s.expert_id)
        if held is None or s.revision > held.revision:
            latest[s.expert_id] = s
    return latest, tuple(sorted(void))


def aggregate(
    spec: MethodSpec,
    bids: Sequence[BidEntry],
    sheets: Sequence[Sheet],
    members: Sequence[PanelMember],
    findings: Mapping[int, bool],
    settings: EvaluationSettings,
) -> Aggregate:
    """The panel's result from the sheets (see the theory of operation for every step).
    ``findings``: bid id → the panel accepted the bidder's below-cost explanation."""
    counted, void = counted_sheets(sheets, members)
    by_id = {b.bid_id: b for b in bids}
    rejected: dict[int, RejectCause] = {}
    for b in bids:
        if _above_control(b, spec):
            rejected[b.bid_id] = RejectCause.ABOVE_CONTROL_PRICE
            continue
        reviews = [s.reviews[b.bid_id] for s in counted.values() if b.bid_id in s.reviews]
        fails = [r.cause for r in reviews if not r.passed and r.cause is not None]
        if fails and len(fails) * 2 > len(reviews):
            tally = Counter(fails)
            order = list(RejectCause)
            rejected[b.bid_id] = min(tally, key=lambda c: (-tally[c], order.index(c)))
    flagged = below_cost_flags(bids, spec, settings)
    unresolved: list[int] = []
    for bid_id in flagged:
        if bid_id in rejected:
            continue
        if bid_id not in findings:
            unresolved.append(bid_id)
        elif not findings[bid_id]:
            rejected[bid_id] = RejectCause.BELOW_COST
    valid = [b for b in bids if b.bid_id not in rejected and b.bid_id not in unresolved]
    failed = not valid or len(valid) < settings.min_valid_bids
    benchmark: Fraction | None = None
    scores: list[BidScore] = []
    if spec.method is EvaluationMethod.COMPREHENSIVE and valid:
        prices = [b.price_fen for b in valid]
        benchmark = (
            Fraction(min(prices))
            if spec.price_benchmark is PriceBenchmark.LOWEST
            else Fraction(sum(prices), len(prices))
        )
        price_criterion = spec.criterion(PRICE_CRITERION)
        price_max = price_criterion.max_points if price_criterion is not None else 0
        scored = spec.scored_criteria
        trim = spec.trim_extremes
        for b in valid:
            means: dict[str, Decimal] = {}
            total_h = 0
            for c in scored:
                # points carry at most two decimals: the mean is exact in hundredths, and
                # round2(sum / n) = (2 × sum + n) // (2 × n) hundredths.
                values = sorted(
                    int(s.points[b.bid_id][c.code] * 100)
                    for s in counted.values()
                    if b.bid_id in s.points and c.code in s.points[b.bid_id]
                )
                if trim and len(values) >= settings.trim_min_members:
                    values = values[1:-1]
                n = len(values)
                mean_h = (2 * sum(values) + n) // (2 * n) if n else 0
                means[c.code] = Decimal(mean_h).scaleb(-2)
                total_h += mean_h
            ps = (
                price_score(b.price_fen, benchmark, price_max, spec.points_per_percent)
                if benchmark > 0
                else Decimal("0.00")
            )
            total = Decimal(total_h + int(ps * 100)).scaleb(-2)
            scores.append(BidScore(b.bid_id, b.org_id, b.price_fen, b.price_fen, means, ps, total))
    else:
        scores = [BidScore(b.bid_id, b.org_id, b.price_fen, b.price_fen) for b in valid]
    ranking = tuple(sorted(scores, key=lambda s: rank_key(spec, s, by_id[s.bid_id].received_at)))
    return Aggregate(
        ranking=ranking,
        candidates=() if failed else ranking[: settings.max_candidates],
        rejected=tuple(sorted(rejected.items())),
        flagged=flagged,
        unresolved=tuple(unresolved),
        failed=failed,
        void_experts=void,
        counted_experts=tuple(sorted(counted)),
        benchmark_fen=round2(benchmark) if benchmark is not None else None,
    )
