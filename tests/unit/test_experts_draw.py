"""The verifiable panel draw: commit, run, verify (experts/draw.py, docs/draw.md).

Sources: RULES.md E1 (drawn at random, never designated — IR 46, O12 10), E5 (a decliner
is replaced from the next position of the same random stream — IR 46, 48), E7 (inputs
committed before, seed revealed after, anyone can re-run it — RFC 3797,
DB35/T 2223—2024), T15 (composition — BL 37, O12 9).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experts.draw import (
    ALGORITHM_VERSION,
    commit,
    next_replacement,
    run_draw,
    seed_hash_of,
    verify_draw,
)
from experts.model.exclusions import Exclusion, ExclusionReason
from experts.model.pool import Expert, PastDraw
from experts.model.record import (
    BeaconRef,
    DifferenceKind,
    DrawRecord,
    DrawResult,
    LineDraw,
    VerifyReport,
)
from experts.model.request import DrawRequest, RegionRule, RegionScope, SpecialtyDemand
from experts.model.specialties import SpecialtyCode
from experts.rules import check_feasibility, compute_eligibility
from tests.unit.test_experts_rules import (
    TODAY,
    histories,
    make_request,
    pools,
    requests,
)
from trading.errors import Rejected

SETTINGS = settings(max_examples=60, deadline=None)
SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))
CHI2_999_DF9 = 27.877  # chi-square critical value, 9 degrees of freedom, p = 0.999
DOCS = Path(__file__).resolve().parents[2] / "docs" / "draw.md"

secrets_ = st.binary(min_size=32, max_size=32)


def derived_secret(i: int) -> bytes:
    """The i-th secret of a fixed outer seed: the statistical tests are deterministic."""
    return hashlib.sha256(b"sunlit draw test outer seed" + i.to_bytes(4, "big")).digest()


def ids(n: int, prefix: str = "E") -> tuple[str, ...]:
    return tuple(f"{prefix}{k:03d}" for k in range(n))


def small_request(count: int = 5, reserve: int | None = None, **kw: Any) -> DrawRequest:
    return make_request(SpecialtyDemand(SpecialtyCode("A08"), count, reserve=reserve), **kw)


def simple_record(
    candidates: tuple[str, ...] = ids(20),
    secret: bytes = SECRET,
    beacon: BeaconRef | None = None,
    **kw: Any,
) -> DrawRecord:
    return commit(small_request(**kw), [candidates], [], seed_hash_of(secret), beacon)


def composable(req: DrawRequest) -> DrawRequest:
    """The same lines with a composition that passes T15 (min 1 member, one tenderee
    representative when the drawn count is even), so the draw itself is under test."""
    reps = 0 if req.expert_count % 2 else 1
    return replace(req, min_members=1, tenderee_representatives=reps)


def kinds(report: VerifyReport) -> set[DifferenceKind]:
    return {d.kind for d in report.differences}


def reference_verifier() -> dict[str, Any]:
    """The standard-library verifier printed in docs/draw.md §9, executed as written."""
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(
        r"<!-- reference-verifier:start -->\s*```python\n(.*?)```\s*<!-- reference-verifier:end -->",
        text,
        re.S,
    )
    assert block is not None, "docs/draw.md lost its reference verifier"
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), str(DOCS), "exec"), namespace)
    return namespace


# --- the definition ----------------------------------------------------------------------


def worked_example() -> tuple[DrawRecord, DrawResult]:
    """docs/draw.md §8."""
    req = make_request(
        SpecialtyDemand(SpecialtyCode("A08"), 3, reserve=2),
        SpecialtyDemand(SpecialtyCode("B02"), 2, RegionRule(RegionScope.LOCAL), reserve=1),
        request_id="REQ-0001",
        tender_id="T-2026-0042",
        tenderee_org_id="ORG-TENDEREE",
        tender_region="330500",
        evaluation_date=date(2026, 3, 10),
        evaluation_time=time(9, 0),
        evaluation_place="Room 3",
        bidder_org_ids=frozenset({"ORG-B1", "ORG-B2", "ORG-B3"}),
        supervising_org_ids=frozenset({"ORG-SUP"}),
    )
    candidates = [ids(11)[1:], ("E004", "E011", "E012", "E013", "E014")]
    excluded = [Exclusion.of("E015", ExclusionReason.BIDDER_STAFF, "org=ORG-B2")]
    record = commit(req, candidates, excluded, seed_hash_of(SECRET))
    return record, run_draw(record, SECRET)


def test_the_worked_example_of_the_docs() -> None:
    """E7: the byte-level definition is pinned by the numbers published in docs/draw.md."""
    record, result = worked_example()
    assert record.request_hash == "ae4628e14fd593ef9526debb71119983f503a8d1fe9c38c878ad63694b69f466"
    assert record.pool_hash == "2d63f91fc6a835d3467f8d787b1f1f7e84471e6622fe2f98d26fb2f150d54dda"
    assert (
        record.exclusions_hash == "023b9b67bd9832ba4ca51abf5958ce55a23491179250fde45554db0c0f55d673"
    )
    assert record.seed_hash == "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"
    assert record.record_hash == "66e1a7657b29379d0dac98da63fefa146e2193ca819e2ef0349c8e680621d5aa"
    assert [ld.order for ld in result.lines] == [
        ("E009", "E005", "E003", "E006", "E007"),
        ("E011", "E012", "E014"),
    ]
    assert result.lines[0].panel == ("E009", "E005", "E003")
    assert result.lines[1].reserves == ("E014",)
    for number in (record.record_hash, record.pool_hash, "E009 E005 E003 | E006 E007"):
        assert number in DOCS.read_text(encoding="utf-8")


@SETTINGS
@given(
    pools(min_size=15, max_size=40),
    requests(),
    histories,
    secrets_,
    st.none() | st.binary(max_size=48),
)
def test_the_reference_verifier_of_the_docs_agrees(
    pool: list[Expert],
    req: DrawRequest,
    history: list[PastDraw],
    secret: bytes,
    beacon_value: bytes | None,
) -> None:
    """E7: a verifier written from docs/draw.md alone gets the same hashes and orders."""
    req = composable(req)
    elig = compute_eligibility(pool, req, history, TODAY)
    if check_feasibility(req, elig.candidates):
        return
    beacon = None if beacon_value is None else BeaconRef("drand-quicknet", 12_345_678)
    record = commit(req, elig.candidates, elig.exclusions, seed_hash_of(secret), beacon)
    result = run_draw(record, secret, beacon_value)
    ref = reference_verifier()
    published = json.loads(json.dumps(record.to_json()))
    claimed = json.loads(json.dumps(result.to_json()))
    hashes = ref["record_hashes"](published)
    for name in ("request_hash", "pool_hash", "exclusions_hash", "record_hash"):
        assert hashes[name] == getattr(record, name)
    assert ref["redraw"](published, secret, beacon_value or b"") == [
        list(ld.order) for ld in result.lines
    ]
    assert ref["verify"](published, secret, claimed, beacon_value or b"")
    if result.lines[0].order:
        claimed["lines"][0]["order"][0] = "NOT-DRAWN"
        assert not ref["verify"](published, secret, claimed, beacon_value or b"")


# --- E1, E3: who can be drawn -------------------------------------------------------------


@SETTINGS
@given(pools(min_size=15, max_size=40), requests(), histories, secrets_)
def test_a_draw_never_includes_an_excluded_expert(
    pool: list[Expert], req: DrawRequest, history: list[PastDraw], secret: bytes
) -> None:
    """E1, E3: everyone drawn is a candidate of their line and not excluded; nobody is on
    two lines; each panel is full; a committed draw never runs short; it verifies."""
    req = composable(req)
    elig = compute_eligibility(pool, req, history, TODAY)
    if check_feasibility(req, elig.candidates):
        with pytest.raises(Rejected) as info:
            commit(req, elig.candidates, elig.exclusions, seed_hash_of(secret))
        assert info.value.code == "not_enough_eligible"
        return
    record = commit(req, elig.candidates, elig.exclusions, seed_hash_of(secret))
    result = run_draw(record, secret)
    excluded = elig.excluded_ids
    placed: list[str] = []
    for ld, demand, candidates in zip(result.lines, req.demands, elig.candidates, strict=True):
        assert len(ld.panel) == demand.count
        assert len(ld.order) <= demand.count + demand.reserve_count
        assert set(ld.order) <= set(candidates)
        assert excluded.isdisjoint(ld.order)
        placed.extend(ld.order)
    assert len(placed) == len(set(placed))
    assert verify_draw(record, secret, result).ok


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.sets(st.sampled_from(ids(10)), max_size=10)),
        min_size=2,
        max_size=3,
    ),
    secrets_,
)
def test_a_committed_draw_never_runs_short(
    lines: list[tuple[int, set[str]]], secret: bytes
) -> None:
    """Overlapping lines (A08, its child A0801, B02): when commit accepts the request, no
    seed leaves a panel short, and nobody is placed twice."""
    codes = ["A08", "A0801", "B02"]
    req = composable(
        make_request(
            *(
                SpecialtyDemand(SpecialtyCode(codes[i]), count, reserve=2)
                for i, (count, _) in enumerate(lines)
            )
        )
    )
    candidates = [tuple(sorted(members)) for _, members in lines]
    if check_feasibility(req, candidates):
        return
    record = commit(req, candidates, [], seed_hash_of(secret))
    result = run_draw(record, secret)
    placed = [x for ld in result.lines for x in ld.order]
    assert len(placed) == len(set(placed))
    assert [len(ld.panel) for ld in result.lines] == [count for count, _ in lines]


def test_an_expert_eligible_for_two_lines_is_placed_once() -> None:
    """Lines are drawn in order; whoever one line places is gone from the others."""
    req = composable(
        make_request(
            SpecialtyDemand(SpecialtyCode("A08"), 3, reserve=3),
            SpecialtyDemand(SpecialtyCode("A0801"), 2, reserve=3),
        )
    )
    shared = ids(8)
    for i in range(30):
        secret = derived_secret(i)
        record = commit(req, [shared, shared[:6]], [], seed_hash_of(secret))
        result = run_draw(record, secret)
        everyone = [x for ld in result.lines for x in ld.order]
        assert len(everyone) == len(set(everyone)) == 8
        assert len(result.lines[1].panel) == 2


def test_the_order_is_as_long_as_the_reserve_allows() -> None:
    record = simple_record(ids(9), count=5, reserve=10)
    assert len(run_draw(record, SECRET).lines[0].order) == 9
    record = simple_record(ids(9), count=5)
    assert len(run_draw(record, SECRET).lines[0].order) == 9  # default reserve 2 × 5
    record = simple_record(ids(30), count=5, reserve=0)
    assert run_draw(record, SECRET).lines[0].reserves == ()


# --- E7: determinism and uniformity ---------------------------------------------------------


@SETTINGS
@given(secrets_, st.integers(5, 40), st.sampled_from([1, 3, 5]))
def test_the_same_record_always_gives_the_same_panel(secret: bytes, n: int, count: int) -> None:
    """E7: a draw is a pure function of its record, seed and beacon value — also after the
    record and the result travel as JSON."""
    record = commit(composable(small_request(count)), [ids(n)], [], seed_hash_of(secret))
    first = run_draw(record, secret)
    assert run_draw(record, secret) == first
    again = DrawRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert run_draw(again, secret) == first
    assert DrawResult.from_json(json.loads(json.dumps(first.to_json()))) == first


def test_the_selection_is_uniform() -> None:
    """E1: over 5,000 seeds derived from a fixed outer seed, drawing 1 of 10 picks each
    candidate equally often (chi-square below the p = 0.999 critical value, 9 degrees of
    freedom); so do the second and the last position of the replacement order."""
    req = composable(small_request(1, reserve=9))
    candidates = ids(10)
    firsts, seconds, lasts = [0] * 10, [0] * 10, [0] * 10
    for i in range(5_000):
        secret = derived_secret(i)
        record = commit(req, [candidates], [], seed_hash_of(secret))
        order = run_draw(record, secret).lines[0].order
        assert sorted(order) == list(candidates)
        firsts[candidates.index(order[0])] += 1
        seconds[candidates.index(order[1])] += 1
        lasts[candidates.index(order[-1])] += 1
    for counts in (firsts, seconds, lasts):
        expected = sum(counts) / 10
        chi2 = sum((c - expected) ** 2 / expected for c in counts)
        assert chi2 < CHI2_999_DF9, counts


# --- E7: verification -----------------------------------------------------------------------


def _recommitted(record: DrawRecord, **request_changes: Any) -> DrawRecord:
    return commit(
        replace(record.request, **request_changes),
        record.candidates,
        record.exclusions,
        record.seed_hash,
        record.beacon,
    )


MUTATIONS: dict[str, Callable[[DrawRecord], DrawRecord]] = {
    "evaluation place": lambda r: replace(
        r, request=replace(r.request, evaluation_place="Elsewhere")
    ),
    "a bidder added": lambda r: replace(
        r, request=replace(r.request, bidder_org_ids=r.request.bidder_org_ids | {"ORG-B9"})
    ),
    "a line's count": lambda r: replace(
        r,
        request=replace(
            r.request, demands=(replace(r.request.demands[0], count=7), *r.request.demands[1:])
        ),
    ),
    "a candidate dropped": lambda r: replace(r, candidates=(r.candidates[0][1:],)),
    "a candidate added": lambda r: replace(r, candidates=((*r.candidates[0], "Z999"),)),
    "an exclusion dropped": lambda r: replace(r, exclusions=r.exclusions[1:]),
    "an exclusion's reason": lambda r: replace(
        r, exclusions=(replace(r.exclusions[0], reason_code="retired"), *r.exclusions[1:])
    ),
    "the seed commitment": lambda r: replace(r, seed_hash=seed_hash_of(OTHER_SECRET)),
    "a beacon named": lambda r: replace(r, beacon=BeaconRef("drand", 1)),
    "the algorithm version": lambda r: replace(r, algorithm_version="sunlit-draw/0"),
    "the stated request hash": lambda r: replace(r, request_hash="0" * 64),
    "the stated pool hash": lambda r: replace(r, pool_hash="0" * 64),
    "the stated exclusions hash": lambda r: replace(r, exclusions_hash="0" * 64),
    "the stated record hash": lambda r: replace(r, record_hash="0" * 64),
    "recommitted with another place": lambda r: _recommitted(r, evaluation_place="Elsewhere"),
    "recommitted with another cooldown": lambda r: _recommitted(r, cooldown_days=99),
}


def record_with_exclusions(secret: bytes) -> DrawRecord:
    excluded = [
        Exclusion.of("X001", ExclusionReason.BIDDER_STAFF, "org=ORG-B1"),
        Exclusion.of("X002", ExclusionReason.UNAVAILABLE, "date=2026-03-10"),
    ]
    return commit(small_request(5), [ids(12)], excluded, seed_hash_of(secret))


@SETTINGS
@given(st.sampled_from(sorted(MUTATIONS)), secrets_)
def test_changing_any_committed_input_changes_the_verification(name: str, secret: bytes) -> None:
    """E7: the honest draw verifies; with any committed input changed, it does not."""
    record = record_with_exclusions(secret)
    result = run_draw(record, secret)
    assert verify_draw(record, secret, result).ok
    assert not verify_draw(MUTATIONS[name](record), secret, result).ok


@SETTINGS
@given(secrets_)
def test_a_changed_seed_or_beacon_value_does_not_verify(secret: bytes) -> None:
    """E7: the revealed seed must be the committed one; the beacon value the public one."""
    record = record_with_exclusions(secret)
    result = run_draw(record, secret)
    report = verify_draw(record, OTHER_SECRET if secret != OTHER_SECRET else SECRET, result)
    assert kinds(report) == {DifferenceKind.SEED_MISMATCH}
    assert report.expected is None
    beaconed = simple_record(secret=secret, beacon=BeaconRef("drand-quicknet", 42))
    claimed = run_draw(beaconed, secret, b"public value")
    assert verify_draw(beaconed, secret, claimed, beacon_value=b"public value").ok
    report = verify_draw(beaconed, secret, claimed, beacon_value=b"another value")
    assert DifferenceKind.BEACON_MISMATCH in kinds(report)


def test_verify_names_the_line_and_position_that_differ() -> None:
    """E7: 'exactly where they differ': line, code, position, expected vs claimed."""
    record = simple_record(ids(20), count=5, reserve=3)
    honest = run_draw(record, SECRET)
    order = list(honest.lines[0].order)
    order[1], order[6] = order[6], order[1]
    claimed = replace(honest, lines=(replace(honest.lines[0], order=tuple(order)),))
    report = verify_draw(record, SECRET, claimed)
    rows = [(d.kind, d.line, d.code, d.position, d.expected, d.claimed) for d in report.differences]
    assert rows == [
        (DifferenceKind.POSITION, 0, "A08", 1, honest.lines[0].order[1], order[1]),
        (DifferenceKind.POSITION, 0, "A08", 6, honest.lines[0].order[6], order[6]),
    ]
    assert "panel" in report.differences[0].message_en
    assert "replacement" in report.differences[1].message_en
    assert report.expected == honest

    short = replace(honest, lines=(replace(honest.lines[0], order=honest.lines[0].order[:6]),))
    [diff] = verify_draw(record, SECRET, short).differences
    assert (diff.kind, diff.position, diff.expected, diff.claimed) == (
        DifferenceKind.LENGTH,
        6,
        "8",
        "6",
    )


def test_verify_names_the_hash_that_does_not_match() -> None:
    record = simple_record()
    result = run_draw(record, SECRET)
    tampered = replace(record, candidates=(record.candidates[0][:-1],))
    report = verify_draw(tampered, SECRET, result)
    hashes = [d.code for d in report.differences if d.kind is DifferenceKind.HASH_MISMATCH]
    assert hashes == ["pool_hash"]


def test_verify_checks_the_record_hash_published_before_the_draw() -> None:
    record = simple_record()
    result = run_draw(record, SECRET)
    assert verify_draw(record, SECRET, result, published_record_hash=record.record_hash).ok
    report = verify_draw(record, SECRET, result, published_record_hash="f" * 64)
    assert kinds(report) == {DifferenceKind.PUBLISHED_HASH_MISMATCH}


def test_verify_reports_an_excluded_expert_among_the_candidates() -> None:
    record = record_with_exclusions(SECRET)
    result = run_draw(record, SECRET)
    smuggled = replace(record, candidates=(("X001", *record.candidates[0]),))
    assert DifferenceKind.EXCLUDED_CANDIDATE in kinds(verify_draw(smuggled, SECRET, result))


def test_verify_reports_a_result_of_another_record() -> None:
    first, second = simple_record(), simple_record(ids(21))
    report = verify_draw(second, SECRET, run_draw(first, SECRET))
    assert DifferenceKind.RESULT_FOR_OTHER_RECORD in kinds(report)


def test_verify_reports_an_unsupported_algorithm_and_never_raises() -> None:
    record = simple_record()
    result = run_draw(record, SECRET)
    report = verify_draw(replace(record, algorithm_version="other/9"), b"short", result)
    assert kinds(report) == {DifferenceKind.UNSUPPORTED_ALGORITHM}
    assert verify_draw(record, b"short", result).differences[0].kind is (
        DifferenceKind.SEED_MISMATCH
    )
    assert json.loads(json.dumps(report.to_json()))["ok"] is False


# --- E5: replacements ------------------------------------------------------------------------


def test_replacements_follow_the_drawn_order() -> None:
    """E5 (IR 46, 48): a decliner is replaced by the next expert in the same drawn order,
    fixed before anyone was called; when the order is used up, a new draw is needed."""
    record = simple_record(ids(9), count=5, reserve=2)
    result = run_draw(record, SECRET)
    order = result.lines[0].order
    called = set(order[:5])
    assert next_replacement(result, 0, called) == order[5]
    called.add(order[5])
    assert next_replacement(result, 0, called) == order[6]
    called.add(order[6])
    with pytest.raises(Rejected) as info:
        next_replacement(result, 0, called)
    assert info.value.code == "pool_exhausted"
    assert info.value.details["line"] == 0


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "reps", "codes"),
    [
        (6, 0, {"committee_even"}),
        (3, 0, {"committee_too_small"}),
        (4, 0, {"committee_even", "committee_too_small"}),
        (3, 2, {"experts_below_two_thirds"}),
    ],
)
def test_commit_refuses_a_committee_the_law_does_not_allow(
    count: int, reps: int, codes: set[str]
) -> None:
    """T15 (BL 37, O12 9): odd, at least 5, experts at least two thirds."""
    with pytest.raises(Rejected) as info:
        simple_record(count=count, tenderee_representatives=reps)
    assert {e["code"] for e in info.value.details["errors"]} == codes


def test_commit_refuses_a_request_needing_more_experts_than_are_eligible() -> None:
    with pytest.raises(Rejected) as info:
        simple_record(ids(4), count=5)
    assert info.value.code == "not_enough_eligible"
    assert info.value.details["short_by"] == 1
    assert info.value.details["specialty"] == "A08"
    assert "短" in info.value.message_zh or "缺" in info.value.message_zh


@pytest.mark.parametrize(
    ("candidates", "excluded", "seed_hash", "code"),
    [
        ([ids(10)], [Exclusion.of("E001", ExclusionReason.RETIRED)], None, "invalid_draw_record"),
        ([(*ids(10), "E001")], [], None, "invalid_draw_record"),
        ([ids(10), ids(10)], [], None, "invalid_draw_record"),
        ([(*ids(10), "bad id")], [], None, "invalid_expert_id"),
        ([ids(10)], [], "ABC", "invalid_seed"),
        ([ids(10)], [Exclusion("X001", "made_up_reason")], None, "invalid_draw_record"),
    ],
)
def test_commit_refuses_an_inconsistent_snapshot(
    candidates: list[tuple[str, ...]],
    excluded: list[Exclusion],
    seed_hash: str | None,
    code: str,
) -> None:
    with pytest.raises(Rejected) as info:
        commit(small_request(5), candidates, excluded, seed_hash or seed_hash_of(SECRET))
    assert info.value.code == code


def test_commit_sorts_the_snapshot_and_the_exclusions() -> None:
    excluded = [
        Exclusion.of("X2", ExclusionReason.RETIRED),
        Exclusion.of("X1", ExclusionReason.SUSPENDED, "until=indefinite"),
    ]
    record = commit(small_request(5), [ids(7)[::-1]], excluded, seed_hash_of(SECRET))
    assert record.candidates == (ids(7),)
    assert [x.expert_id for x in record.exclusions] == ["X1", "X2"]


def test_run_draw_refuses_a_wrong_seed_a_tampered_record_or_a_missing_beacon() -> None:
    record = simple_record()
    for bad_seed in (OTHER_SECRET, b"too short"):
        with pytest.raises(Rejected) as info:
            run_draw(record, bad_seed)
        assert info.value.code == "invalid_seed"
    with pytest.raises(Rejected) as info:
        run_draw(replace(record, candidates=(record.candidates[0][1:],)), SECRET)
    assert info.value.code == "invalid_draw_record"
    with pytest.raises(Rejected) as info:
        run_draw(record, SECRET, b"beacon")
    assert info.value.code == "beacon_unexpected"
    beaconed = simple_record(beacon=BeaconRef("drand-quicknet", 7))
    with pytest.raises(Rejected) as info:
        run_draw(beaconed, SECRET)
    assert info.value.code == "beacon_required"
    with pytest.raises(Rejected) as info:
        run_draw(replace(record, algorithm_version="x"), SECRET)
    assert info.value.code == "unsupported_algorithm"


def test_the_beacon_value_changes_the_draw() -> None:
    """E7: with a beacon round named, its value enters the stream."""
    record = simple_record(ids(60), beacon=BeaconRef("drand-quicknet", 7))
    a = run_draw(record, SECRET, b"value one")
    b = run_draw(record, SECRET, b"value two")
    assert a.lines[0].order != b.lines[0].order
    assert a.beacon_value_hex == b"value one".hex()


def test_the_algorithm_version_is_recorded() -> None:
    record = simple_record()
    assert record.algorithm_version == ALGORITHM_VERSION
    assert run_draw(record, SECRET).algorithm_version == ALGORITHM_VERSION
    assert LineDraw.from_json(run_draw(record, SECRET).lines[0].to_json()).count == 5
