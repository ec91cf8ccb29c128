"""Who may sit on an evaluation committee: composition, specialty codes, exclusions.

Sources: RULES.md T15 (BL 37, O12 9: odd, at least 5, experts at least two thirds), E2
(发改法规〔2018〕316号: the four-level classification, a code matches its descendants), E3
(O12 12, GPR 9, IR 46: staff and relatives of bidders and the tenderee, labour, director
and control relations within 3 years, supervising staff, sanctions and defaulters, and
whatever the tender adds).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experts.errors import Problem, reject_all
from experts.model.exclusions import Exclusion, ExclusionReason
from experts.model.ids import is_valid_id_number, mask_id_number
from experts.model.pool import (
    Expert,
    ExpertPool,
    ExpertStatus,
    PastDraw,
    Relation,
    RelationKind,
    Sanction,
    SanctionKind,
)
from experts.model.request import (
    DrawRequest,
    ExtraExclusion,
    RegionRule,
    RegionScope,
    SpecialtyDemand,
)
from experts.model.specialties import SpecialtyCode
from experts.rules import (
    check_composition,
    check_feasibility,
    check_request,
    compute_eligibility,
    exclusions_for,
    expert_matches,
    years_before,
)
from trading.errors import Rejected

SETTINGS = settings(max_examples=100, deadline=None)
TODAY = date(2026, 3, 2)
SITTING = date(2026, 3, 10)
HOME = "330500"
TENDEREE = "ORG-T"
BIDDERS = frozenset({"ORG-B1", "ORG-B2"})
SUPERVISOR = "ORG-S"


def make_expert(expert_id: str, *codes: str, **kw: Any) -> Expert:
    fields: dict[str, Any] = {
        "name": f"Expert {expert_id}",
        "id_number_masked": "110***********002X",
        "employer_org_id": "ORG-OTHER",
        "region": HOME,
        "title": "senior engineer",
        "experience_years": 12,
    }
    fields.update(kw)
    return Expert(
        expert_id=expert_id,
        specialties=tuple(SpecialtyCode.parse(c) for c in (codes or ("A0801",))),
        **fields,
    )


def make_request(*demands: SpecialtyDemand, **kw: Any) -> DrawRequest:
    fields: dict[str, Any] = {
        "request_id": "REQ-1",
        "tender_id": "T-1",
        "tenderee_org_id": TENDEREE,
        "tender_region": HOME,
        "evaluation_date": SITTING,
        "evaluation_time": time(9, 0),
        "evaluation_place": "Huzhou trading centre, room 3",
        "bidder_org_ids": BIDDERS,
        "supervising_org_ids": frozenset({SUPERVISOR}),
    }
    fields.update(kw)
    return DrawRequest(demands=demands or (SpecialtyDemand(SpecialtyCode("A08"), 5),), **fields)


def codes_of(problems: list[Problem]) -> list[str]:
    return [p.reason.code for p in problems]


# --- T15: composition ------------------------------------------------------------------


def test_committee_of_an_even_number_is_refused() -> None:
    """T15 (BL 37): the committee has an odd number of members."""
    assert codes_of(check_composition(6)) == ["committee_even"]


def test_committee_of_fewer_than_five_is_refused() -> None:
    """T15 (BL 37, O12 9): at least 5 members."""
    assert codes_of(check_composition(3)) == ["committee_too_small"]


def test_experts_must_be_two_thirds_when_the_tenderee_seats_representatives() -> None:
    """T15 (BL 37): technical and economic experts are at least two thirds of the members."""
    assert check_composition(4, 1) == []  # 4 of 5
    assert check_composition(5, 2) == []  # 5 of 7
    assert codes_of(check_composition(3, 2)) == ["experts_below_two_thirds"]  # 3 of 5
    assert codes_of(check_composition(4, 3)) == ["experts_below_two_thirds"]  # 4 of 7


def test_every_composition_problem_is_reported_at_once() -> None:
    """T15: the validator returns every problem, not the first."""
    assert codes_of(check_composition(2, 2)) == [
        "committee_even",
        "committee_too_small",
        "experts_below_two_thirds",
    ]


@SETTINGS
@given(st.integers(0, 40), st.integers(0, 20), st.integers(1, 9))
def test_composition_check_is_exactly_the_law(experts: int, reps: int, min_members: int) -> None:
    """T15 (BL 37, O12 9) restated: odd, ≥ min_members, experts ≥ 2/3 of members."""
    members = experts + reps
    expected = set()
    if members % 2 == 0:
        expected.add("committee_even")
    if members < min_members:
        expected.add("committee_too_small")
    if experts < 2 * members / 3:
        expected.add("experts_below_two_thirds")
    assert set(codes_of(check_composition(experts, reps, min_members))) == expected


def test_check_request_reports_the_composition() -> None:
    """T15: a request for 4 experts is refused as even and too small."""
    req = make_request(SpecialtyDemand(SpecialtyCode("A08"), 4))
    assert codes_of(check_request(req)) == ["committee_even", "committee_too_small"]


def test_reject_all_carries_every_problem() -> None:
    problems = check_composition(2, 2)
    with pytest.raises(Rejected) as info:
        reject_all(problems)
    assert info.value.code == "committee_even"
    assert [e["code"] for e in info.value.details["errors"]] == codes_of(problems)
    assert info.value.message_zh.startswith("评标委员会成员人数应为单数")


# --- E2: specialty codes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "compact", "level"),
    [
        ("A", "A", 1),
        ("A08", "A08", 2),
        ("A0803", "A0803", 3),
        ("A080301", "A080301", 4),
        ("A.08.03.01", "A080301", 4),
        (" b.02 ", "B02", 2),
    ],
)
def test_specialty_codes_parse_in_compact_and_dotted_form(
    text: str, compact: str, level: int
) -> None:
    """E2: the four-level national classification, one letter then two-digit levels."""
    code = SpecialtyCode.parse(text)
    assert code.code == compact
    assert code.level == level
    assert SpecialtyCode.parse(code.dotted) == code


@pytest.mark.parametrize("text", ["", "1", "AA", "A1", "A081", "A08030101", "A.8", "A-08", "Ａ08"])
def test_a_malformed_specialty_code_is_refused(text: str) -> None:
    with pytest.raises(Rejected) as info:
        SpecialtyCode.parse(text)
    assert info.value.code == "invalid_specialty_code"


def test_a_code_covers_itself_and_its_descendants_only() -> None:
    """E2: a code matches its descendants; not its siblings, not its ancestors."""
    a08 = SpecialtyCode("A08")
    assert a08.covers(SpecialtyCode("A08"))
    assert a08.covers(SpecialtyCode("A0803"))
    assert a08.covers(SpecialtyCode("A080301"))
    assert not a08.covers(SpecialtyCode("A09"))
    assert not a08.covers(SpecialtyCode("A"))
    assert not SpecialtyCode("A0803").covers(a08)
    assert SpecialtyCode("A080301").parent == SpecialtyCode("A0803")
    assert SpecialtyCode("A").parent is None


code_texts = st.builds(
    lambda letter, levels: letter + "".join(f"{n:02d}" for n in levels),
    st.sampled_from("ABC"),
    st.lists(st.integers(0, 3), max_size=3),
)


@SETTINGS
@given(code_texts, code_texts)
def test_covering_is_a_prefix_of_the_code_path(a: str, b: str) -> None:
    """E2: ``a`` covers ``b`` exactly when a's levels are the first levels of b's."""
    ca, cb = SpecialtyCode(a), SpecialtyCode(b)
    assert ca.covers(cb) == (cb.segments[: len(ca.segments)] == ca.segments)


def test_request_by_parent_code_draws_from_children() -> None:
    """E2 (发改法规〔2018〕316号): a request for A08 matches experts coded A08, A0801 and
    A080101, and not A09; a request for A0801 does not match an expert coded only A08."""
    pool = [
        make_expert("E1", "A08"),
        make_expert("E2", "A0801"),
        make_expert("E3", "A080101"),
        make_expert("E4", "A09"),
        make_expert("E5", "B02", "A080203"),
    ]
    elig = compute_eligibility(pool, make_request(), [], TODAY)
    assert elig.candidates == (("E1", "E2", "E3", "E5"),)
    child = make_request(SpecialtyDemand(SpecialtyCode("A0801"), 5))
    assert compute_eligibility(pool, child, [], TODAY).candidates == (("E2", "E3"),)


def test_unknown_specialty_is_refused_given_the_classification() -> None:
    classification = {SpecialtyCode("A08"), SpecialtyCode("A0801")}
    req = make_request(
        SpecialtyDemand(SpecialtyCode("A08"), 3), SpecialtyDemand(SpecialtyCode("A0899"), 2)
    )
    problems = check_request(req, classification=classification)
    assert codes_of(problems) == ["unknown_specialty"]
    assert problems[0].data == {"line": 1, "specialty": "A0899"}


# --- request validation ----------------------------------------------------------------


def test_the_same_line_twice_is_refused() -> None:
    req = make_request(
        SpecialtyDemand(SpecialtyCode("A08"), 3), SpecialtyDemand(SpecialtyCode("A08"), 2)
    )
    assert "duplicate_demand" in codes_of(check_request(req))


def test_lines_are_kept_in_canonical_order() -> None:
    req = make_request(
        SpecialtyDemand(SpecialtyCode("B02"), 2),
        SpecialtyDemand(SpecialtyCode("A08"), 3, RegionRule(RegionScope.LOCAL)),
        SpecialtyDemand(SpecialtyCode("A08"), 2),
    )
    assert [(d.code.code, d.region_rule.scope.value) for d in req.demands] == [
        ("A08", "any"),
        ("A08", "local"),
        ("B02", "any"),
    ]
    assert check_request(req) == []


@pytest.mark.parametrize(
    "rule",
    [
        RegionRule(RegionScope.LOCAL, frozenset({"330100"})),
        RegionRule(RegionScope.ANY, frozenset({"330100"})),
        RegionRule(RegionScope.OTHER_REGIONS, frozenset({HOME})),
        RegionRule(RegionScope.REMOTE),
    ],
)
def test_an_inconsistent_region_rule_is_refused(rule: RegionRule) -> None:
    req = make_request(SpecialtyDemand(SpecialtyCode("A08"), 5, rule))
    assert codes_of(check_request(req)) == ["invalid_region_rule"]


def test_malformed_request_fields_are_all_reported() -> None:
    req = make_request(
        SpecialtyDemand(SpecialtyCode("A08"), 0),
        request_id="bad id",
        evaluation_days=0,
        cooldown_days=-1,
        yearly_cap=0,
        evaluation_place=" ",
    )
    codes = codes_of(check_request(req, today=TODAY))
    assert codes.count("invalid_expert_id") == 1
    assert codes.count("invalid_draw_request") == 5
    assert "committee_too_small" in codes


def test_a_sitting_before_today_is_refused() -> None:
    req = make_request(evaluation_date=TODAY - timedelta(days=1))
    assert codes_of(check_request(req, today=TODAY)) == ["invalid_draw_request"]


def test_request_json_round_trips() -> None:
    req = make_request(
        SpecialtyDemand(SpecialtyCode("A08"), 3, reserve=4),
        SpecialtyDemand(SpecialtyCode("B02"), 2, RegionRule(RegionScope.REMOTE, {"330100"})),
        extra_exclusions=(ExtraExclusion("E9", "declared by the tenderee"),),
        yearly_cap=12,
        cooldown_days=30,
    )
    again = DrawRequest.from_json(req.to_json())
    assert again.to_json() == req.to_json()


# --- E3: exclusions, each with its reason ----------------------------------------------

ONGOING = None

EXCLUSION_CASES: list[tuple[str, dict[str, Any], dict[str, Any], ExclusionReason]] = [
    ("employee of the tenderee", {"employer_org_id": TENDEREE}, {}, ExclusionReason.TENDEREE_STAFF),
    ("employee of a bidder", {"employer_org_id": "ORG-B2"}, {}, ExclusionReason.BIDDER_STAFF),
    (
        "relative at the tenderee",
        {"relations": (Relation(RelationKind.RELATIVE, TENDEREE, relationship="spouse"),)},
        {},
        ExclusionReason.TENDEREE_RELATIVE,
    ),
    (
        "relative at a bidder",
        {"relations": (Relation(RelationKind.RELATIVE, "ORG-B1", relationship="sibling"),)},
        {},
        ExclusionReason.BIDDER_RELATIVE,
    ),
    (
        "worked for a bidder until last year",
        {
            "relations": (
                Relation(RelationKind.EMPLOYMENT, "ORG-B1", date(2015, 1, 1), date(2025, 6, 30)),
            )
        },
        {},
        ExclusionReason.LABOUR_RELATION,
    ),
    (
        "director of the tenderee",
        {"relations": (Relation(RelationKind.DIRECTOR, TENDEREE, date(2020, 1, 1)),)},
        {},
        ExclusionReason.DIRECTOR_RELATION,
    ),
    (
        "controlling shareholder of a bidder",
        {"relations": (Relation(RelationKind.CONTROL, "ORG-B2"),)},
        {},
        ExclusionReason.CONTROL_RELATION,
    ),
    (
        "economic interest in a bidder",
        {"relations": (Relation(RelationKind.ECONOMIC_INTEREST, "ORG-B2"),)},
        {},
        ExclusionReason.ECONOMIC_INTEREST,
    ),
    (
        "works for the supervising department",
        {"employer_org_id": SUPERVISOR},
        {},
        ExclusionReason.SUPERVISING_STAFF,
    ),
    (
        "seconded to the supervising department",
        {"relations": (Relation(RelationKind.EMPLOYMENT, SUPERVISOR, date(2025, 1, 1)),)},
        {},
        ExclusionReason.SUPERVISING_STAFF,
    ),
    (
        "suspended until the end of the year",
        {"status": ExpertStatus.SUSPENDED, "suspended_until": date(2026, 12, 31)},
        {},
        ExclusionReason.SUSPENDED,
    ),
    ("suspended indefinitely", {"status": ExpertStatus.SUSPENDED}, {}, ExclusionReason.SUSPENDED),
    ("retired", {"status": ExpertStatus.RETIRED}, {}, ExclusionReason.RETIRED),
    (
        "penalised for tendering misconduct",
        {
            "sanctions": (
                Sanction(SanctionKind.TENDERING_PENALTY, date(2025, 1, 1), date(2027, 1, 1)),
            )
        },
        {},
        ExclusionReason.SANCTIONED,
    ),
    (
        "judgment defaulter",
        {"sanctions": (Sanction(SanctionKind.JUDGMENT_DEFAULTER, date(2026, 1, 1)),)},
        {},
        ExclusionReason.JUDGMENT_DEFAULTER,
    ),
    (
        "unavailable on the second day of a two-day sitting",
        {"unavailable_dates": frozenset({SITTING + timedelta(days=1)})},
        {"evaluation_days": 2},
        ExclusionReason.UNAVAILABLE,
    ),
    (
        "excluded by the tender",
        {},
        {"extra_exclusions": (ExtraExclusion("E1", "designed the works"),)},
        ExclusionReason.TENDER_SPECIFIC,
    ),
]


@pytest.mark.parametrize(
    ("expert_kw", "request_kw", "reason"),
    [case[1:] for case in EXCLUSION_CASES],
    ids=[case[0] for case in EXCLUSION_CASES],
)
def test_each_exclusion_is_recorded_with_its_reason(
    expert_kw: dict[str, Any], request_kw: dict[str, Any], reason: ExclusionReason
) -> None:
    """E3 (O12 12, GPR 9, IR 46): the expert is left out and the row names the reason."""
    pool = [make_expert("E1", **expert_kw), make_expert("E2")]
    elig = compute_eligibility(pool, make_request(**request_kw), [], TODAY)
    assert elig.candidates == (("E2",),)
    assert [(x.expert_id, x.reason) for x in elig.exclusions] == [("E1", reason)]


def test_drawn_for_the_same_tenderee_within_the_cooldown_is_excluded() -> None:
    """E3 (cfg): no second seat with the same tenderee within ``cooldown_days``."""
    req = make_request(cooldown_days=30)
    pool = [make_expert("E1"), make_expert("E2"), make_expert("E3")]
    history = [
        PastDraw("E1", TENDEREE, TODAY - timedelta(days=29)),  # still cooling down
        PastDraw("E2", TENDEREE, TODAY - timedelta(days=30)),  # 30 days passed: eligible
        PastDraw("E3", "ORG-ELSEWHERE", TODAY),  # another tenderee: eligible
    ]
    elig = compute_eligibility(pool, req, history, TODAY)
    assert elig.candidates == (("E2", "E3"),)
    assert elig.exclusions == (
        Exclusion.of("E1", ExclusionReason.SAME_TENDEREE_COOLDOWN, "org=ORG-T last=2026-02-01"),
    )
    assert compute_eligibility(pool, make_request(), history, TODAY).exclusions == ()


def test_over_the_yearly_draw_cap_is_excluded() -> None:
    """E3 (cfg): at most ``yearly_cap`` draws per calendar year; last year does not count."""
    req = make_request(yearly_cap=2)
    pool = [make_expert("E1"), make_expert("E2")]
    history = [
        PastDraw("E1", "ORG-A", date(2026, 1, 5)),
        PastDraw("E1", "ORG-B", date(2026, 2, 5)),
        PastDraw("E2", "ORG-A", date(2025, 12, 30)),
        PastDraw("E2", "ORG-B", date(2026, 2, 5)),
    ]
    elig = compute_eligibility(pool, req, history, TODAY)
    assert elig.candidates == (("E2",),)
    assert [x.reason for x in elig.exclusions] == [ExclusionReason.YEARLY_CAP]


def test_a_labour_relation_excludes_for_three_years() -> None:
    """E3 (O12 12): a labour relation with a bidder in the last 3 years excludes; one that
    ended the day before the 3 years began does not."""
    start = years_before(TODAY, 3)
    inside = make_expert(
        "E1", relations=(Relation(RelationKind.EMPLOYMENT, "ORG-B1", date(2010, 1, 1), start),)
    )
    outside = make_expert(
        "E2",
        relations=(
            Relation(
                RelationKind.EMPLOYMENT, "ORG-B1", date(2010, 1, 1), start - timedelta(days=1)
            ),
        ),
    )
    elig = compute_eligibility([inside, outside], make_request(), [], TODAY)
    assert elig.candidates == (("E2",),)
    assert elig.exclusions[0].reason is ExclusionReason.LABOUR_RELATION
    longer = make_request(relation_lookback_years=5)
    assert compute_eligibility([inside, outside], longer, [], TODAY).candidates == ((),)


def test_ties_that_have_ended_or_concern_others_do_not_exclude() -> None:
    """E3: a relative who left the bidder, a sanction served, a suspension over, a tie with
    an organisation not in the tender, unavailability on another day: all eligible."""
    yesterday = TODAY - timedelta(days=1)
    pool = [
        make_expert("E1", relations=(Relation(RelationKind.RELATIVE, "ORG-B1", end=yesterday),)),
        make_expert(
            "E2",
            sanctions=(Sanction(SanctionKind.TENDERING_PENALTY, date(2024, 1, 1), yesterday),),
        ),
        make_expert("E3", status=ExpertStatus.SUSPENDED, suspended_until=yesterday),
        make_expert("E4", relations=(Relation(RelationKind.DIRECTOR, "ORG-ELSEWHERE"),)),
        make_expert("E5", unavailable_dates=frozenset({SITTING + timedelta(days=1)})),
        make_expert(
            "E6",
            sanctions=(Sanction(SanctionKind.DISQUALIFIED, SITTING + timedelta(days=5)),),
        ),
    ]
    elig = compute_eligibility(pool, make_request(), [], TODAY)
    assert elig.candidates == (("E1", "E2", "E3", "E4", "E5", "E6"),)
    assert elig.exclusions == ()


def test_suspended_until_today_is_still_excluded() -> None:
    pool = [make_expert("E1", status=ExpertStatus.SUSPENDED, suspended_until=TODAY)]
    elig = compute_eligibility(pool, make_request(), [], TODAY)
    assert [x.reason for x in elig.exclusions] == [ExclusionReason.SUSPENDED]


def test_an_expert_with_several_reasons_has_one_row_per_reason() -> None:
    e = make_expert(
        "E1",
        employer_org_id="ORG-B1",
        relations=(Relation(RelationKind.RELATIVE, TENDEREE),),
        unavailable_dates=frozenset({SITTING}),
    )
    elig = compute_eligibility([e], make_request(), [], TODAY)
    assert {x.reason for x in elig.exclusions} == {
        ExclusionReason.BIDDER_STAFF,
        ExclusionReason.TENDEREE_RELATIVE,
        ExclusionReason.UNAVAILABLE,
    }
    assert exclusions_for(e, make_request(), [], TODAY) == elig.exclusions


def test_experts_matching_no_line_are_not_listed() -> None:
    """Only experts who would otherwise be candidates appear among the exclusions."""
    pool = [make_expert("E1", "B02", employer_org_id="ORG-B1"), make_expert("E2")]
    elig = compute_eligibility(pool, make_request(), [], TODAY)
    assert elig.candidates == (("E2",),)
    assert elig.exclusions == ()


# --- region rules ----------------------------------------------------------------------


def test_region_rules_select_local_other_and_remote_experts() -> None:
    """Local (本地), other regions (异地) and remote cross-region evaluation (远程异地评标)."""
    pool = [
        make_expert("E1", region=HOME),
        make_expert("E2", region="330100"),
        make_expert("E3", region="330200"),
    ]

    def ids(rule: RegionRule) -> tuple[str, ...]:
        req = make_request(SpecialtyDemand(SpecialtyCode("A08"), 5, rule))
        return compute_eligibility(pool, req, [], TODAY).candidates[0]

    assert ids(RegionRule()) == ("E1", "E2", "E3")
    assert ids(RegionRule(RegionScope.LOCAL)) == ("E1",)
    assert ids(RegionRule(RegionScope.OTHER_REGIONS)) == ("E2", "E3")
    assert ids(RegionRule(RegionScope.OTHER_REGIONS, frozenset({"330200"}))) == ("E3",)
    assert ids(RegionRule(RegionScope.REMOTE, frozenset({HOME, "330200"}))) == ("E1", "E3")


# --- feasibility -----------------------------------------------------------------------


def test_not_enough_eligible_names_the_line_and_the_shortfall() -> None:
    req = make_request(
        SpecialtyDemand(SpecialtyCode("A08"), 3), SpecialtyDemand(SpecialtyCode("B02"), 2)
    )
    problems = check_feasibility(req, [("E1", "E2", "E3"), ("E4",)])
    assert codes_of(problems) == ["not_enough_eligible"]
    assert problems[0].data == {
        "line": 1,
        "specialty": "B02",
        "needed": 2,
        "eligible": 1,
        "contested": 0,
        "short_by": 1,
    }


def test_experts_shared_between_lines_count_against_the_later_line() -> None:
    """Line 1 (A0801 × 2) shares all 3 of its candidates with line 0 (A08 × 3), which may
    draw all of them first: refused, short by 2."""
    req = make_request(
        SpecialtyDemand(SpecialtyCode("A08"), 3), SpecialtyDemand(SpecialtyCode("A0801"), 2)
    )
    problems = check_feasibility(req, [("E1", "E2", "E3", "E4", "E5"), ("E1", "E2", "E3")])
    assert [(p.data["line"], p.data["short_by"], p.data["contested"]) for p in problems] == [
        (1, 2, 3)
    ]
    assert check_feasibility(req, [("E1", "E2", "E3", "E4", "E5"), ("E1", "E6", "E7")]) == []


# --- the pool index against a one-by-one reference --------------------------------------

IDS = [f"E{n:02d}" for n in range(60)]
ORGS = [TENDEREE, "ORG-B1", "ORG-B2", SUPERVISOR, "ORG-O1", "ORG-O2"]
REGIONS = [HOME, "330100", "330200"]
CODES = ["A08", "A0801", "A080101", "A0802", "A09", "B02", "B0201"]
DAYS = [TODAY + timedelta(days=d) for d in (-1200, -400, -30, -1, 0, 5, 8, 9, 10, 400)]

maybe_day = st.none() | st.sampled_from(DAYS)


def sometimes(strategy: st.SearchStrategy[Any], empty: Any) -> st.SearchStrategy[Any]:
    """``strategy`` about one time in three, ``empty`` otherwise: most generated experts
    carry one trait at most, so every single reason is exercised on its own."""
    return st.one_of(st.just(empty), st.just(empty), strategy)


_relations = sometimes(
    st.lists(
        st.builds(
            Relation,
            st.sampled_from(list(RelationKind)),
            st.sampled_from(ORGS),
            maybe_day,
            maybe_day,
        ),
        min_size=1,
        max_size=2,
    ).map(tuple),
    (),
)
_sanctions = sometimes(
    st.builds(Sanction, st.sampled_from(list(SanctionKind)), st.sampled_from(DAYS), maybe_day).map(
        lambda x: (x,)
    ),
    (),
)
_statuses = sometimes(st.sampled_from(list(ExpertStatus)), ExpertStatus.ACTIVE)
_employers = sometimes(st.none() | st.sampled_from(ORGS), "ORG-O1")
_unavailable = sometimes(st.frozensets(st.sampled_from(DAYS), max_size=2), frozenset())
_codes = st.lists(st.sampled_from(CODES), min_size=1, max_size=2)
_regions = st.sampled_from(REGIONS)


@st.composite
def experts_strategy(draw: st.DrawFn, expert_id: str) -> Expert:
    status = draw(_statuses)
    return make_expert(
        expert_id,
        *draw(_codes),
        region=draw(_regions),
        employer_org_id=draw(_employers),
        status=status,
        suspended_until=draw(maybe_day) if status is ExpertStatus.SUSPENDED else None,
        unavailable_dates=draw(_unavailable),
        relations=draw(_relations),
        sanctions=draw(_sanctions),
    )


@st.composite
def pools(draw: st.DrawFn, min_size: int = 0, max_size: int = 30) -> list[Expert]:
    ids = draw(st.lists(st.sampled_from(IDS), min_size=min_size, max_size=max_size, unique=True))
    return [draw(experts_strategy(x)) for x in ids]


region_rules = st.one_of(
    st.just(RegionRule()),
    st.just(RegionRule(RegionScope.LOCAL)),
    st.builds(
        RegionRule,
        st.just(RegionScope.OTHER_REGIONS),
        st.frozensets(st.sampled_from(REGIONS[1:])),
    ),
    st.builds(
        RegionRule, st.just(RegionScope.REMOTE), st.frozensets(st.sampled_from(REGIONS), min_size=1)
    ),
)


@st.composite
def requests(draw: st.DrawFn, max_lines: int = 3) -> DrawRequest:
    lines = draw(
        st.lists(
            st.builds(
                SpecialtyDemand,
                st.sampled_from(CODES).map(SpecialtyCode),
                st.integers(1, 3),
                region_rules,
                st.none() | st.integers(0, 4),
            ),
            min_size=1,
            max_size=max_lines,
            unique_by=lambda d: (d.code, d.region_rule),
        )
    )
    return make_request(
        *lines,
        evaluation_days=draw(st.integers(1, 3)),
        extra_exclusions=tuple(
            ExtraExclusion(x, "tender rule")
            for x in draw(st.lists(st.sampled_from(IDS), max_size=2, unique=True))
        ),
        cooldown_days=draw(st.sampled_from([0, 1, 30])),
        yearly_cap=draw(st.none() | st.integers(1, 2)),
        tenderee_representatives=draw(st.integers(0, 2)),
    )


histories = st.lists(
    st.builds(
        PastDraw,
        st.sampled_from(IDS),
        st.sampled_from([TENDEREE, "ORG-O1"]),
        st.sampled_from([TODAY - timedelta(days=d) for d in (0, 1, 29, 30, 70, 400)]),
    ),
    max_size=8,
)


def reference_eligibility(
    pool: list[Expert], req: DrawRequest, history: list[PastDraw]
) -> tuple[tuple[tuple[str, ...], ...], tuple[Exclusion, ...]]:
    """The rules applied expert by expert, with no index."""
    candidates: list[list[str]] = [[] for _ in req.demands]
    rows: list[Exclusion] = []
    for e in sorted(pool, key=lambda e: e.expert_id):
        hits = [i for i, d in enumerate(req.demands) if expert_matches(e, d, req.tender_region)]
        if not hits:
            continue
        why = exclusions_for(e, req, history, TODAY)
        rows.extend(why)
        if not why:
            for i in hits:
                candidates[i].append(e.expert_id)
    return tuple(tuple(c) for c in candidates), tuple(sorted(rows))


@SETTINGS
@given(pools(), requests(), histories)
def test_indexed_eligibility_equals_the_expert_by_expert_rules(
    pool: list[Expert], req: DrawRequest, history: list[PastDraw]
) -> None:
    """E3: the pool index never skips an expert who has a reason to be excluded."""
    elig = compute_eligibility(ExpertPool(pool), req, history, TODAY)
    assert (elig.candidates, elig.exclusions) == reference_eligibility(pool, req, history)


@SETTINGS
@given(pools(), requests(), histories)
def test_an_excluded_expert_is_never_a_candidate(
    pool: list[Expert], req: DrawRequest, history: list[PastDraw]
) -> None:
    """E3: exclusions and candidates are disjoint; candidates sorted, no repeats."""
    elig = compute_eligibility(pool, req, history, TODAY)
    for ids in elig.candidates:
        assert list(ids) == sorted(set(ids))
        assert elig.excluded_ids.isdisjoint(ids)


def test_an_expert_twice_in_the_pool_is_refused() -> None:
    with pytest.raises(Rejected) as info:
        ExpertPool([make_expert("E1"), make_expert("E1")])
    assert info.value.code == "invalid_expert_id"


# --- small helpers ----------------------------------------------------------------------


def test_years_before_handles_the_leap_day() -> None:
    assert years_before(date(2028, 2, 29), 3) == date(2025, 2, 28)
    assert years_before(TODAY, 3) == date(2023, 3, 2)


def test_identity_card_numbers_are_checked_and_masked() -> None:
    """GB 11643-1999 check character; shown as the first 3 and last 4 characters."""
    assert is_valid_id_number("11010519491231002X")
    assert not is_valid_id_number("110105194912310021")
    assert not is_valid_id_number("1101051949123100")
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_id_number("12345") == "*****"


def test_pool_index_lists_experts_in_id_order() -> None:
    pool = ExpertPool([make_expert("E2"), make_expert("E1", "B02")])
    assert pool.ids == ("E1", "E2")
    assert pool.get("E1") is not None and pool.get("E3") is None
    assert [e.expert_id for e in pool] == ["E1", "E2"]
    assert len(pool) == 2
    assert replace(pool.expert_at(0), name="x").expert_id == "E1"
