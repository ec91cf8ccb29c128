"""The pure rules of the evaluation: the method, the sheets, the aggregation, the verifier.

Sources (RULES.md): T16 (O12 29–37: lowest evaluated price or comprehensive scoring,
weights fixed in the tender documents), T17 (IR 53, O12 42–45: at most 3 candidates; all
members sign), T19 (IR 48: a replaced member's scores are void), W3 (IR 27, 51(5): above
the control price → rejected), W4 (IR 51: causes recorded, the bid leaves the ranking),
W5 (O12 21: a flagged bid is not ranked until the panel's finding), W7 (BL 42: too few
valid → failed).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidding.evaluation import records, rules
from bidding.evaluation.errors import EvaluationRejected
from bidding.evaluation.model import (
    BidEntry,
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
from bidding.evaluation.verify import verify_record
from bidding.records import sign_document
from crypto.keys import b64url_encode
from crypto.signing import canonical_json, generate_signing_key, public_key_bytes

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
SETTINGS = EvaluationSettings()
CRITERIA = (
    Criterion("price", "价格 Price", 40),
    Criterion("technical", "技术 Technical", 35),
    Criterion("business", "商务 Business", 25),
)
COMPREHENSIVE = MethodSpec(EvaluationMethod.COMPREHENSIVE, CRITERIA)
LOWEST = MethodSpec(EvaluationMethod.LOWEST_PRICE)


def bid(bid_id: int, price_fen: int, at_s: int = 0) -> BidEntry:
    return BidEntry(bid_id, 100 + bid_id, price_fen, T0 + timedelta(seconds=at_s))


def member(n: int, replaced: bool = False) -> PanelMember:
    return PanelMember(n, f"E{n:06d}", 1000 + n, f"专家{n}", replaced)


def sheet(n: int, bids: list[BidEntry], technical: str = "30", business: str = "20",
          fail: dict[int, RejectCause] | None = None, revision: int = 1) -> Sheet:  # fmt: skip
    fail = fail or {}
    reviews = {
        b.bid_id: Review(False, fail[b.bid_id], "原因 reason") if b.bid_id in fail else Review(True)
        for b in bids
    }
    points = {
        b.bid_id: {"technical": Decimal(technical), "business": Decimal(business)}
        for b in bids
        if b.bid_id not in fail
    }
    return Sheet(f"E{n:06d}", revision, reviews, points)


# ---------------------------------------------------------------------------- the method


def test_weights_not_summing_to_100_are_refused() -> None:
    """T16: the criteria's maximum points sum to exactly 100."""
    spec = MethodSpec(EvaluationMethod.COMPREHENSIVE, CRITERIA[:2])
    with pytest.raises(EvaluationRejected) as info:
        rules.require_valid_method(spec)
    assert info.value.code == "criteria_not_100"
    assert "75" in info.value.message_en


def test_comprehensive_needs_one_price_criterion_and_lowest_price_none() -> None:
    """T16: the price score is one criterion of the comprehensive method."""
    no_price = MethodSpec(
        EvaluationMethod.COMPREHENSIVE, (Criterion("technical", "t", 60), Criterion("b", "b", 40))
    )
    assert [p.reason.code for p in rules.check_method(no_price)] == ["bad_criteria"]
    assert [p.reason.code for p in rules.check_method(MethodSpec(criteria=CRITERIA))] == [
        "bad_criteria"
    ]
    assert rules.check_method(COMPREHENSIVE) == []
    assert rules.check_method(LOWEST) == []


def test_every_problem_with_a_method_is_listed() -> None:
    bad = MethodSpec(
        EvaluationMethod.COMPREHENSIVE,
        (Criterion("price", "p", 50), Criterion("price", "p", 40)),
        points_per_percent=Decimal("0.001"),
        control_price_fen=0,
    )
    codes = [p.reason.code for p in rules.check_method(bad)]
    assert codes == [
        "bad_criteria",  # a duplicate code
        "bad_criteria",  # two price criteria
        "criteria_not_100",
        "bad_points_per_percent",
        "bad_control_price",
    ]


# ---------------------------------------------------------------------------- sheets


def _doc(bids: list[BidEntry], **over: Any) -> dict[str, Any]:
    doc = records.sheet_document(
        tender_id=7,
        expert_id="E000001",
        revision=1,
        reviews=[{"bid_id": b.bid_id, "passed": True, "cause": None, "reason": ""} for b in bids],
        points={b.bid_id: {"technical": "30.5", "business": "20"} for b in bids},
    )
    doc.update(over)
    return doc


def test_points_above_a_criterions_maximum_are_refused() -> None:
    """T16: points within each criterion's maximum (35 for technical here)."""
    bids = [bid(1, 1_000_000), bid(2, 1_100_000)]
    doc = _doc(bids)
    doc["points"][1]["scores"]["technical"] = "35.01"
    with pytest.raises(EvaluationRejected) as info:
        rules.parse_sheet(doc, tender_id=7, expert_id="E000001", spec=COMPREHENSIVE, bids=bids)
    assert info.value.code == "points_above_maximum"
    assert info.value.details["errors"][0]["field"] == "points.1.technical"


def test_a_sheet_must_review_every_bid_and_score_every_passed_one() -> None:
    bids = [bid(1, 1_000_000), bid(2, 1_100_000)]
    for doc in (
        _doc(bids, reviews=_doc(bids)["reviews"][:1]),
        _doc(bids, points=_doc(bids)["points"][:1]),
        _doc(bids, expert_id="E000002"),
    ):
        with pytest.raises(EvaluationRejected) as info:
            rules.parse_sheet(doc, tender_id=7, expert_id="E000001", spec=COMPREHENSIVE, bids=bids)
        assert info.value.code == "sheet_invalid"
    good = rules.parse_sheet(
        _doc(bids), tender_id=7, expert_id="E000001", spec=COMPREHENSIVE, bids=bids
    )
    assert good.points[1]["technical"] == Decimal("30.5")


def test_a_failed_review_names_a_cause_of_ir_51_and_a_reason() -> None:
    """W4: the cause is one of a closed set, with the reason in writing."""
    bids = [bid(1, 1_000_000)]
    doc = _doc(bids, points=[])
    doc["reviews"][0].update(passed=False, cause="bribery", reason="x")
    with pytest.raises(EvaluationRejected):
        rules.parse_sheet(doc, tender_id=7, expert_id="E000001", spec=COMPREHENSIVE, bids=bids)
    doc["reviews"][0].update(cause="collusion", reason="")
    with pytest.raises(EvaluationRejected):
        rules.parse_sheet(doc, tender_id=7, expert_id="E000001", spec=COMPREHENSIVE, bids=bids)
    doc["reviews"][0].update(reason="报价雷同 identical price lists")
    s = rules.parse_sheet(doc, tender_id=7, expert_id="E000001", spec=COMPREHENSIVE, bids=bids)
    assert s.reviews[1] == Review(False, RejectCause.COLLUSION, "报价雷同 identical price lists")


def test_points_are_decimal_strings_never_floats() -> None:
    assert rules.parse_points("12.5") == Decimal("12.5")
    assert rules.parse_points(12.5) is None
    assert rules.parse_points("12.505") is None
    assert rules.parse_points("NaN") is None


# ---------------------------------------------------------------------------- the lifecycle


def test_a_sheet_after_the_report_is_refused() -> None:
    """T17: the report is generated from the sheets; nothing is scored after it."""
    with pytest.raises(EvaluationRejected) as info:
        rules.decide(EvaluationState.REPORTED, rules.SubmitSheet(), T0)
    assert info.value.code == "not_evaluating"
    with pytest.raises(EvaluationRejected) as info:
        rules.decide(None, rules.SubmitSheet(), T0)
    assert info.value.code == "evaluation_not_started"


def test_the_last_signature_concludes_and_the_deadline_counts_silence_as_consent() -> None:
    """T17: all members sign; silent refusal counts as consent."""
    assert rules.decide(EvaluationState.REPORTED, rules.SignReport(1), T0).state is EvaluationState.REPORTED
    assert rules.decide(EvaluationState.REPORTED, rules.SignReport(0), T0).state is EvaluationState.CONCLUDED
    with pytest.raises(EvaluationRejected):
        rules.decide(EvaluationState.REPORTED, rules.SigningDeadline(T0), T0 - timedelta(milliseconds=1))
    assert rules.decide(EvaluationState.REPORTED, rules.SigningDeadline(T0), T0).state is EvaluationState.CONCLUDED


def test_the_report_needs_every_sheet_and_every_finding() -> None:
    with pytest.raises(EvaluationRejected) as info:
        rules.decide(EvaluationState.EVALUATING, rules.GenerateReport(("E000003",), (), 3600), T0)
    assert info.value.code == "sheets_missing"
    with pytest.raises(EvaluationRejected) as info:
        rules.decide(EvaluationState.EVALUATING, rules.GenerateReport((), (5,), 3600), T0)
    assert info.value.code == "below_cost_finding_missing"
    d = rules.decide(EvaluationState.EVALUATING, rules.GenerateReport((), (), 3600), T0)
    assert d.signing_deadline_at == T0 + timedelta(hours=1)


def test_start_needs_the_opening_and_the_panel() -> None:
    with pytest.raises(EvaluationRejected) as info:
        rules.decide(None, rules.Start(False, True), T0)
    assert info.value.code == "tender_not_opened"
    with pytest.raises(EvaluationRejected) as info:
        rules.decide(None, rules.Start(True, False), T0)
    assert info.value.code == "panel_not_seated"
    with pytest.raises(EvaluationRejected) as info:
        rules.decide(EvaluationState.EVALUATING, rules.Start(True, True), T0)
    assert info.value.code == "evaluation_exists"


# ---------------------------------------------------------------------------- aggregation


def test_price_score_formula_in_exact_arithmetic() -> None:
    """2 % above a benchmark of 1,000,000 fen at 1 point per % → 40 − 2 = 38.00; 0.5 per %
    and 3.333… % → 40 − 1.6666… = 38.33 (half up); never below 0."""
    assert rules.price_score(1_020_000, Fraction(1_000_000), 40, Decimal("1")) == Decimal("38.00")
    assert rules.price_score(1_033_333, Fraction(1_000_000), 40, Decimal("0.5")) == Decimal("38.33")
    assert rules.price_score(980_000, Fraction(1_000_000), 40, Decimal("1")) == Decimal("38.00")
    assert rules.price_score(3_000_000, Fraction(1_000_000), 40, Decimal("1")) == Decimal("0.00")
    assert rules.round2(Fraction(1, 200)) == Decimal("0.01")  # 0.005 → 0.01


def test_a_bid_above_the_control_price_is_rejected_with_its_cause() -> None:
    """W3: rejected as above_control_price whatever the sheets say."""
    bids = [bid(1, 900_000), bid(2, 1_000_000), bid(3, 1_000_001), bid(4, 950_000)]
    spec = MethodSpec(EvaluationMethod.LOWEST_PRICE, control_price_fen=1_000_000)
    agg = rules.aggregate(spec, bids, [sheet(1, bids)], [member(1)], {}, SETTINGS)
    assert agg.rejected == ((3, RejectCause.ABOVE_CONTROL_PRICE),)
    assert [s.bid_id for s in agg.candidates] == [1, 4, 2]


def test_a_majority_of_members_rejects_with_the_most_given_cause() -> None:
    """W4: the cause is recorded and the bid leaves the ranking."""
    bids = [bid(i, 1_000_000 + i * 10_000) for i in range(1, 5)]
    sheets = [
        sheet(1, bids, fail={2: RejectCause.UNQUALIFIED}),
        sheet(2, bids, fail={2: RejectCause.NOT_RESPONSIVE}),
        sheet(3, bids, fail={2: RejectCause.NOT_RESPONSIVE, 3: RejectCause.UNSIGNED}),
    ]
    members = [member(1), member(2), member(3)]
    agg = rules.aggregate(COMPREHENSIVE, bids, sheets, members, {}, SETTINGS)
    assert agg.rejected == ((2, RejectCause.NOT_RESPONSIVE),)  # bid 3: one fail of three
    assert {s.bid_id for s in agg.ranking} == {1, 3, 4}


def test_a_flagged_bid_is_not_ranked_until_the_panel_finds() -> None:
    """W5: 15 % below the mean of the others → flagged; no finding → unresolved; rejected
    explanation → below_cost; accepted → ranked."""
    bids = [bid(1, 800_000), bid(2, 1_000_000), bid(3, 1_000_000), bid(4, 1_000_000)]
    assert rules.below_cost_flags(bids, LOWEST, SETTINGS) == (1,)
    assert rules.below_cost_flags([bid(1, 850_000), *bids[1:]], LOWEST, SETTINGS) == ()
    s, m = [sheet(1, bids)], [member(1)]
    agg = rules.aggregate(LOWEST, bids, s, m, {}, SETTINGS)
    assert agg.unresolved == (1,) and 1 not in {x.bid_id for x in agg.ranking}
    agg = rules.aggregate(LOWEST, bids, s, m, {1: False}, SETTINGS)
    assert agg.rejected == ((1, RejectCause.BELOW_COST),) and agg.unresolved == ()
    agg = rules.aggregate(LOWEST, bids, s, m, {1: True}, SETTINGS)
    assert agg.candidates[0].bid_id == 1


def test_too_few_valid_bids_fail_the_evaluation() -> None:
    """W7 (BL 42): fewer than 3 valid → failed, no candidates."""
    bids = [bid(1, 1_000_000), bid(2, 1_010_000), bid(3, 1_020_000)]
    s = [sheet(1, bids, fail={3: RejectCause.COLLUSION})]
    agg = rules.aggregate(LOWEST, bids, s, [member(1)], {}, SETTINGS)
    assert agg.failed and agg.candidates == () and len(agg.ranking) == 2
    every = [sheet(1, bids, fail={b.bid_id: RejectCause.UNQUALIFIED for b in bids})]
    assert rules.aggregate(LOWEST, bids, every, [member(1)], {}, SETTINGS).failed


def test_at_most_three_candidates() -> None:
    """T17 (IR 53)."""
    bids = [bid(i, 1_000_000 + i) for i in range(1, 7)]
    agg = rules.aggregate(LOWEST, bids, [sheet(1, bids)], [member(1)], {}, SETTINGS)
    assert len(agg.ranking) == 6 and [c.bid_id for c in agg.candidates] == [1, 2, 3]


def test_comprehensive_total_mean_and_trim_extremes() -> None:
    """Means per criterion over the members; with trim_extremes and 7 members the highest
    and lowest are dropped."""
    bids = [bid(1, 1_000_000), bid(2, 1_020_000), bid(3, 1_050_000)]
    members = [member(i) for i in range(1, 8)]
    tech = ["35", "10", "20", "20", "20", "20", "20"]
    sheets = [sheet(i + 1, bids, technical=t, business="20") for i, t in enumerate(tech)]
    agg = rules.aggregate(COMPREHENSIVE, bids, sheets, members, {}, SETTINGS)
    first = next(s for s in agg.ranking if s.bid_id == 1)
    assert first.criteria["technical"] == Decimal("20.71")  # 145 / 7 = 20.714…
    assert first.price_score == Decimal("40.00") and first.total == Decimal("80.71")
    second = next(s for s in agg.ranking if s.bid_id == 2)
    assert second.price_score == Decimal("38.00")
    trimmed = MethodSpec(EvaluationMethod.COMPREHENSIVE, CRITERIA, trim_extremes=True)
    agg = rules.aggregate(trimmed, bids, sheets, members, {}, SETTINGS)
    assert next(s for s in agg.ranking if s.bid_id == 1).criteria["technical"] == Decimal("20.00")


def test_mean_benchmark_scores_below_and_above() -> None:
    bids = [bid(1, 900_000), bid(2, 1_000_000), bid(3, 1_100_000)]
    spec = MethodSpec(EvaluationMethod.COMPREHENSIVE, CRITERIA, PriceBenchmark.MEAN)
    agg = rules.aggregate(spec, bids, [sheet(1, bids)], [member(1)], {}, SETTINGS)
    scores = {s.bid_id: s.price_score for s in agg.ranking}
    assert scores == {1: Decimal("30.00"), 2: Decimal("40.00"), 3: Decimal("30.00")}
    assert [s.bid_id for s in agg.ranking] == [2, 1, 3]  # equal totals: the lower price first


def test_equal_totals_and_prices_rank_by_receipt_time() -> None:
    bids = [bid(1, 1_000_000, at_s=5), bid(2, 1_000_000, at_s=1), bid(3, 1_000_000, at_s=3)]
    for spec in (COMPREHENSIVE, LOWEST):
        agg = rules.aggregate(spec, bids, [sheet(1, bids)], [member(1)], {}, SETTINGS)
        assert [s.bid_id for s in agg.ranking] == [2, 3, 1]


def test_a_replaced_members_sheet_is_void() -> None:
    """T19 (IR 48): the replaced member's scores are dropped from the aggregate."""
    bids = [bid(1, 1_000_000), bid(2, 1_000_000), bid(3, 1_000_000)]
    sheets = [sheet(1, bids, technical="0"), sheet(2, bids, technical="30")]
    agg = rules.aggregate(COMPREHENSIVE, bids, sheets, [member(1, replaced=True), member(2)], {}, SETTINGS)
    assert agg.void_experts == ("E000001",) and agg.counted_experts == ("E000002",)
    assert agg.ranking[0].criteria["technical"] == Decimal("30.00")


# ---------------------------------------------------------------------------- properties


@st.composite
def panels(draw: st.DrawFn) -> tuple[MethodSpec, list[BidEntry], list[Sheet], list[PanelMember], dict[int, bool]]:
    comprehensive = draw(st.booleans())
    spec = MethodSpec(
        EvaluationMethod.COMPREHENSIVE if comprehensive else EvaluationMethod.LOWEST_PRICE,
        CRITERIA if comprehensive else (),
        draw(st.sampled_from(list(PriceBenchmark))),
        draw(st.sampled_from([Decimal("0.50"), Decimal("1.00"), Decimal("2.00")])),
        draw(st.none() | st.just(1_800_000)),
        None,
        draw(st.booleans()),
    )
    n_bids = draw(st.integers(1, 7))
    bids = [
        BidEntry(
            i,
            100 + i,
            draw(st.integers(700_000, 2_000_000) | st.just(1_000_000)),
            T0 + timedelta(seconds=draw(st.integers(0, 3))),
        )
        for i in range(1, n_bids + 1)
    ]
    n_members = draw(st.integers(1, 9))
    members = [member(i, draw(st.booleans()) if i > 1 else False) for i in range(1, n_members + 1)]
    sheets: list[Sheet] = []
    for m in members:
        reviews: dict[int, Review] = {}
        points: dict[int, dict[str, Decimal]] = {}
        for b in bids:
            if draw(st.integers(0, 4)) == 0:
                reviews[b.bid_id] = Review(False, draw(st.sampled_from(list(RejectCause))), "r")
                continue
            reviews[b.bid_id] = Review(True)
            if comprehensive:
                points[b.bid_id] = {
                    "technical": Decimal(draw(st.integers(0, 3500))) / 100,
                    "business": Decimal(draw(st.integers(0, 2500))) / 100,
                }
        sheets.append(Sheet(m.expert_id, 1, reviews, points))
    findings = {b.bid_id: draw(st.booleans()) for b in bids if draw(st.booleans())}
    return spec, bids, sheets, members, findings


def _outcome(agg: Any) -> tuple[Any, ...]:
    return (agg.ranking, agg.candidates, agg.rejected, agg.flagged, agg.unresolved, agg.failed)


@settings(max_examples=200, deadline=None)
@given(panels(), st.randoms(use_true_random=False))
def test_the_order_of_sheets_does_not_matter(panel: Any, rnd: random.Random) -> None:
    spec, bids, sheets, members, findings = panel
    shuffled = list(sheets)
    rnd.shuffle(shuffled)
    bids_shuffled = list(bids)
    rnd.shuffle(bids_shuffled)
    a = rules.aggregate(spec, bids, sheets, members, findings, SETTINGS)
    b = rules.aggregate(spec, bids_shuffled, shuffled, members, findings, SETTINGS)
    assert a == b


@settings(max_examples=200, deadline=None)
@given(panels())
def test_voiding_a_member_equals_never_having_had_them(panel: Any) -> None:
    """T19: a replaced member's sheet leaves no trace in the result."""
    spec, bids, sheets, members, findings = panel
    replaced = {m.expert_id for m in members if m.replaced}
    with_void = rules.aggregate(spec, bids, sheets, members, findings, SETTINGS)
    without = rules.aggregate(
        spec,
        bids,
        [s for s in sheets if s.expert_id not in replaced],
        [m for m in members if not m.replaced],
        findings,
        SETTINGS,
    )
    assert _outcome(with_void) == _outcome(without)
    assert set(with_void.void_experts) == replaced


@settings(max_examples=200, deadline=None)
@given(panels())
def test_the_ranking_is_a_total_order(panel: Any) -> None:
    """Antisymmetric and transitive (distinct keys, strictly increasing along the ranking),
    deterministic on ties (receipt time, then bid id)."""
    spec, bids, sheets, members, findings = panel
    agg = rules.aggregate(spec, bids, sheets, members, findings, SETTINGS)
    at = {b.bid_id: b.received_at for b in bids}
    keys = [rules.rank_key(spec, s, at[s.bid_id]) for s in agg.ranking]
    assert len(set(keys)) == len(keys)
    assert all(keys[i] < keys[i + 1] for i in range(len(keys) - 1))
    for x, y in zip(agg.ranking, agg.ranking[1:], strict=False):
        if spec.method is EvaluationMethod.COMPREHENSIVE:
            assert x.total is not None and y.total is not None
            assert (x.total, -x.price_fen) >= (y.total, -y.price_fen)
            if (x.total, x.price_fen) == (y.total, y.price_fen):
                assert (at[x.bid_id], x.bid_id) < (at[y.bid_id], y.bid_id)
        else:
            assert x.evaluated_price_fen <= y.evaluated_price_fen
    assert len(agg.candidates) <= 3


SERVER = generate_signing_key()


def make_record(spec: MethodSpec, bids: list[BidEntry], sheets: list[Sheet],
                members: list[PanelMember], findings: dict[int, bool]) -> dict[str, Any]:  # fmt: skip
    """A concluded record built as the service builds it, every member with a key."""
    member_keys = {m.expert_id: generate_signing_key() for m in members}
    sheet_entries, signed_sheets = [], []
    counted = {m.expert_id for m in members if not m.replaced}
    for s in sheets:
        doc = records.sheet_document(
            tender_id=7, expert_id=s.expert_id, revision=s.revision,
            reviews=[{"bid_id": b, "passed": r.passed, "cause": r.cause.value if r.cause else None,
                      "reason": r.reason} for b, r in s.reviews.items()],
            points={b: {c: str(v) for c, v in p.items()} for b, p in s.points.items()},
        )  # fmt: skip
        key = member_keys[s.expert_id]
        public = b64url_encode(public_key_bytes(key))
        sheet_entries.append({"expert_id": s.expert_id, "revision": s.revision,
                              "sha256": records.document_sha256(doc), "public_key": public,
                              "void": s.expert_id not in counted})  # fmt: skip
        signed_sheets.append({"document": doc, "signature": b64url_encode(key.sign(canonical_json(doc))),
                              "public_key": public})  # fmt: skip
    agg = rules.aggregate(spec, bids, sheets, members, findings, SETTINGS)
    report = records.report_document(
        tender_id=7, tender_code="T-7", generated_at=T0, signing_deadline_at=T0 + timedelta(days=1),
        spec=spec, settings=SETTINGS, members=members, bids=bids, sheets=sheet_entries,
        findings=[{"bid_id": b, "accepted": a, "reason": "r", "expert_id": "E000001"}
                  for b, a in findings.items()],
        clarifications=[], agg=agg,
    )  # fmt: skip
    report_sha = records.document_sha256(report)
    signatures, entries = [], []
    seated = [m for m in members if not m.replaced]
    for m in seated[:-1]:  # the last one stays silent
        doc = records.signature_document(tender_id=7, report_sha256=report_sha,
                                         expert_id=m.expert_id, dissent=None)  # fmt: skip
        key = member_keys[m.expert_id]
        public = b64url_encode(public_key_bytes(key))
        signatures.append({"document": doc, "signature": b64url_encode(key.sign(canonical_json(doc))),
                           "public_key": public})  # fmt: skip
        entries.append({"expert_id": m.expert_id, "sha256": records.document_sha256(doc),
                        "public_key": public, "dissent": None})  # fmt: skip
    conclusion = records.conclusion_document(
        tender_id=7, report_sha256=report_sha, concluded_at=T0 + timedelta(days=1),
        signatures=entries, silent=[seated[-1].expert_id], failed=agg.failed,
    )  # fmt: skip
    return {
        "type": records.RECORD_TYPE,
        "report": sign_document(report, SERVER.sign, "srv-test").as_json(),
        "sheets": signed_sheets,
        "signatures": signatures,
        "conclusion": sign_document(conclusion, SERVER.sign, "srv-test").as_json(),
    }


@settings(max_examples=60, deadline=None)
@given(panels())
def test_the_verifiers_re_derivation_equals_the_report(panel: Any) -> None:
    spec, bids, sheets, members, findings = panel
    record = make_record(spec, bids, sheets, members, findings)
    outcome = verify_record(record, public_key_bytes(SERVER))
    assert outcome.ok, outcome.problems
    assert outcome.result == record["report"]["document"]["result"]


def test_the_verifier_catches_a_changed_point_a_changed_result_and_a_forged_key() -> None:
    bids = [bid(1, 1_000_000), bid(2, 1_020_000), bid(3, 1_050_000)]
    members = [member(1), member(2), member(3)]
    sheets = [sheet(i, bids) for i in (1, 2, 3)]
    record = make_record(COMPREHENSIVE, bids, sheets, members, {})
    server = public_key_bytes(SERVER)
    assert verify_record(record, server).ok

    tampered = make_record(COMPREHENSIVE, bids, sheets, members, {})
    tampered["sheets"][0]["document"]["points"][0]["scores"]["technical"] = "35"
    assert not verify_record(tampered, server).ok

    lied = make_record(COMPREHENSIVE, bids, sheets, members, {})
    lied["report"]["document"]["result"]["candidates"] = [2, 1, 3]
    out = verify_record(lied, server)
    assert not out.ok and "signature" in out.problems[0]

    other = generate_signing_key()
    assert not verify_record(record, public_key_bytes(other)).ok
