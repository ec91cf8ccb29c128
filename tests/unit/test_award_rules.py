"""The award's pure rules: the lifecycle table, every window, the amounts, the savings rate.

Sources (RULES.md): T18 (IR 54: candidates published within 3 days, for at least 3 days,
objections in that window suspend the award), W7 (BL 42), W8 (IR 55), W10 (BL 46, IR 57),
W11 (IR 58), W12 (IR 60–62), S5 (savings rate).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bidding.award import rules
from bidding.award.errors import AwardRejected
from bidding.award.model import (
    AwardProcedure,
    AwardSettings,
    AwardState,
    Candidate,
    ComplaintState,
    PassReason,
    Result,
)
from trading.ledger.model import WorkCalendar

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in China
SETTINGS = AwardSettings()
CANDIDATES = (
    Candidate(1, 11, 101, 9_000_000),
    Candidate(2, 12, 102, 9_100_000),
    Candidate(3, 13, 103, 9_200_000),
)


def concluded(**kw: object) -> AwardProcedure:
    base = AwardProcedure(
        tender_id=1,
        state=AwardState.CONCLUDED,
        version=1,
        report_id=1,
        concluded_at=T0,
        candidates=CANDIDATES,
        publicity_due_at=rules.publicity_due_at(T0, SETTINGS),
        created_at=T0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def published(at: datetime = T0 + timedelta(days=1), **kw: object) -> AwardProcedure:
    d = rules.decide(concluded(), rules.PublishCandidates(), at, SETTINGS)
    return concluded(state=d.state, **{**d.changes, **kw})


def awarded(rank: int = 1, at: datetime | None = None, **kw: object) -> AwardProcedure:
    proc = published()
    assert proc.publicity_ends_at is not None
    when = at or proc.publicity_ends_at
    d = rules.decide(proc, rules.Award(rank, PassReason.GAVE_UP, "gave up"), when, SETTINGS)
    return replace(proc, state=d.state, award_id=1, passed_over=d.passed, **{**d.changes, **kw})  # type: ignore[arg-type]


def refused(proc: AwardProcedure, command: rules.Command, now: datetime) -> str:
    with pytest.raises(AwardRejected) as info:
        rules.decide(proc, command, now, SETTINGS)
    return info.value.code


# ---------------------------------------------------------------------------- T18


def test_candidates_are_due_within_three_days_of_the_report() -> None:
    """T18 (IR 54): the publication deadline is the report + 3 days; its timer is armed."""
    state, due, timers = rules.start(Result(1, 1, T0, False, CANDIDATES), SETTINGS)
    assert state is AwardState.CONCLUDED and due == T0 + timedelta(days=3)
    assert timers == (rules.Timer(rules.PUBLICITY_DUE, due),)


def test_candidates_published_after_three_days_are_recorded_late() -> None:
    """T18 (IR 54): publishing after the deadline is allowed but recorded late."""
    on_time = rules.decide(
        concluded(), rules.PublishCandidates(), T0 + timedelta(days=3, milliseconds=-1), SETTINGS
    )
    late = rules.decide(concluded(), rules.PublishCandidates(), T0 + timedelta(days=3), SETTINGS)
    assert not on_time.late and late.late
    assert rules.PUBLICITY_DUE in on_time.cancel_timers


def test_publicity_lasts_at_least_three_days() -> None:
    """T18 (IR 54): at least 3 days (cfg, never fewer)."""
    at = T0 + timedelta(hours=5)
    d = rules.decide(concluded(), rules.PublishCandidates(), at, SETTINGS)
    assert d.changes["publicity_ends_at"] - at == timedelta(days=3)
    d5 = rules.decide(concluded(), rules.PublishCandidates(), at, AwardSettings(publicity_days=5))
    assert d5.changes["publicity_ends_at"] - at == timedelta(days=5)
    with pytest.raises(AssertionError):
        AwardSettings(publicity_days=2)


def test_award_before_the_publicity_ends_is_refused() -> None:
    """T18 (IR 54): no award during the publicity, nor before it starts."""
    proc = published()
    assert proc.publicity_ends_at is not None
    end = proc.publicity_ends_at
    assert refused(proc, rules.Award(1), end - timedelta(milliseconds=1)) == "publicity_not_ended"
    assert rules.decide(proc, rules.Award(1), end, SETTINGS).state is AwardState.AWARDED
    assert refused(concluded(), rules.Award(1), end) == "publicity_not_ended"


def test_award_while_an_objection_is_open_is_refused() -> None:
    """T18 (IR 54): an objection suspends the award until it is answered."""
    proc = published(open_objections=1)
    assert proc.publicity_ends_at is not None
    assert refused(proc, rules.Award(1), proc.publicity_ends_at + timedelta(days=9)) == "objection_open"


def test_objection_outside_the_publicity_is_refused() -> None:
    """T18 (IR 54): objections only while the candidates are published."""
    proc = published()
    assert proc.publicity_published_at is not None and proc.publicity_ends_at is not None
    rules.check_objection_window(proc, proc.publicity_published_at)
    rules.check_objection_window(proc, proc.publicity_ends_at - timedelta(milliseconds=1))
    for when in (proc.publicity_ends_at, proc.publicity_published_at - timedelta(milliseconds=1)):
        with pytest.raises(AwardRejected) as info:
            rules.check_objection_window(proc, when)
        assert info.value.code == "objection_outside_window"
    with pytest.raises(AwardRejected):
        rules.check_objection_window(concluded(), T0)


def test_an_objection_is_answered_within_three_days() -> None:
    """IR 54: the answer is due 3 days after receipt."""
    assert rules.objection_answer_due_at(T0, SETTINGS) == T0 + timedelta(days=3)


# ---------------------------------------------------------------------------- W8


def test_skipping_the_first_candidate_without_a_reason_is_refused() -> None:
    """W8 (IR 55): the next only with a recorded reason (and a note)."""
    proc = published()
    assert proc.publicity_ends_at is not None
    end = proc.publicity_ends_at
    assert refused(proc, rules.Award(2), end) == "skip_without_reason"
    assert refused(proc, rules.Award(2, PassReason.GAVE_UP, "  "), end) == "skip_without_reason"
    d = rules.decide(proc, rules.Award(3, PassReason.INELIGIBLE, "IR 55 finding"), end, SETTINGS)
    assert d.passed == ((1, PassReason.INELIGIBLE), (2, PassReason.INELIGIBLE))
    assert d.changes["award_fen"] == 9_200_000


def test_the_first_candidate_needs_no_reason() -> None:
    """W8 (IR 55)."""
    proc = published()
    assert proc.publicity_ends_at is not None
    d = rules.decide(proc, rules.Award(1), proc.publicity_ends_at, SETTINGS)
    assert d.passed == () and d.changes["awarded_rank"] == 1


def test_a_passed_over_candidate_cannot_be_awarded_and_the_next_needs_no_new_reason() -> None:
    """W8: a winner who declined is passed over; the next one follows from that record."""
    proc = awarded()
    d = rules.decide(proc, rules.Decline(PassReason.GAVE_UP, "refused to sign"), T0 + timedelta(days=6), SETTINGS)
    assert d.state is AwardState.PUBLICITY and d.passed == ((1, PassReason.GAVE_UP),)
    again = replace(proc, state=d.state, passed_over=d.passed, **d.changes)  # type: ignore[arg-type]
    later = T0 + timedelta(days=7)
    assert refused(again, rules.Award(1), later) == "candidate_passed_over"
    assert rules.decide(again, rules.Award(2), later, SETTINGS).passed == ()
    assert refused(again, rules.Award(3), later) == "skip_without_reason"


def test_a_decline_needs_a_written_note() -> None:
    """W8: the reason is recorded in writing."""
    assert refused(awarded(), rules.Decline(PassReason.GAVE_UP, ""), T0 + timedelta(days=6)) == "note_required"


def test_an_unknown_rank_is_refused() -> None:
    proc = published()
    assert proc.publicity_ends_at is not None
    assert refused(proc, rules.Award(4, PassReason.GAVE_UP, "x"), proc.publicity_ends_at) == "unknown_candidate"


# ---------------------------------------------------------------------------- W10, W11


def test_contract_amount_differs_from_winning_bid_is_refused() -> None:
    """W10 (BL 46, IR 57): the contract is for the winning bid's price, to the fen."""
    proc = awarded()
    at = T0 + timedelta(days=10)
    assert refused(proc, rules.RecordContract(9_000_001, 0), at) == "contract_amount_differs"
    assert refused(proc, rules.RecordContract(8_999_999, 0), at) == "contract_amount_differs"
    assert rules.decide(proc, rules.RecordContract(9_000_000, 0), at, SETTINGS).state is AwardState.CONTRACTED


def test_day_31_without_contract_raises_alert_is_armed_at_the_award() -> None:
    """W10 (BL 46): the award arms ``award.contract_due`` 30 days on; a contract after it is late."""
    proc = published()
    assert proc.publicity_ends_at is not None
    at = proc.publicity_ends_at
    d = rules.decide(proc, rules.Award(1), at, SETTINGS)
    assert d.timers == (rules.Timer(rules.CONTRACT_DUE, at + timedelta(days=30)),)
    won = awarded(at=at)
    due = at + timedelta(days=30)
    before = due - timedelta(milliseconds=1)
    assert not rules.decide(won, rules.RecordContract(9_000_000, 0), before, SETTINGS).late
    assert rules.decide(won, rules.RecordContract(9_000_000, 0), due, SETTINGS).late


def test_bond_of_ten_point_zero_one_percent_is_refused() -> None:
    """W11 (IR 58): 10 % accepted, 10.01 % refused."""
    rules.check_bond(1_000_000, 10_000_000)
    with pytest.raises(AwardRejected) as info:
        rules.check_bond(1_001_000, 10_000_000)
    assert info.value.code == "bond_over_ten_percent"
    proc = awarded()
    assert refused(proc, rules.RecordContract(9_000_000, 900_001), T0 + timedelta(days=8)) == "bond_over_ten_percent"


@given(st.integers(0, 10**13), st.integers(0, 10**12))
def test_the_bond_limit_is_exact_in_integers(amount_fen: int, bond_fen: int) -> None:
    """W11: bond ≤ 10 % ⇔ 10 × bond ≤ amount — no rounding."""
    ok = Fraction(bond_fen, 1) <= Fraction(amount_fen, 10)
    try:
        rules.check_bond(bond_fen, amount_fen)
        assert ok
    except AwardRejected:
        assert not ok


def test_a_suspending_complaint_refuses_award_and_contract() -> None:
    """W12 (IR 62): an accepted complaint that suspends: no award, no contract."""
    proc = published(suspending_complaints=1)
    assert proc.publicity_ends_at is not None
    assert refused(proc, rules.Award(1), proc.publicity_ends_at) == "complaint_suspends_award"
    won = replace(awarded(), suspending_complaints=1)
    assert refused(won, rules.RecordContract(9_000_000, 0), T0 + timedelta(days=9)) == "complaint_suspends_award"


# ---------------------------------------------------------------------------- W12


def test_late_complaint_is_refused() -> None:
    """W12 (IR 60): within 10 days of the (China) day of knowing; the 11th day is late."""
    known = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 23:00 on 2 March in China
    assert rules.complaint_last_day(known) == date(2026, 3, 12)
    rules.check_complaint_in_time(known, datetime(2026, 3, 12, 15, 59, tzinfo=UTC))  # 23:59 12 March
    with pytest.raises(AwardRejected) as info:
        rules.check_complaint_in_time(known, datetime(2026, 3, 12, 16, 0, tzinfo=UTC))  # 00:00 13 March
    assert info.value.code == "complaint_late"
    with pytest.raises(AwardRejected) as future:
        rules.check_complaint_in_time(known + timedelta(seconds=1), known)
    assert future.value.code == "known_at_in_future"


def test_a_complaint_is_accepted_within_three_working_days_counted_on_the_ledger_calendar() -> None:
    """W12 (IR 61): 3 working days — a Friday complaint is due by Wednesday; a holiday moves it."""
    friday = datetime(2026, 3, 6, 2, 0, tzinfo=UTC)
    due = rules.complaint_accept_due_at(friday, WorkCalendar())
    assert due == rules.end_of_china_day(date(2026, 3, 11))
    holiday = WorkCalendar(holidays=frozenset({date(2026, 3, 9)}))
    assert rules.complaint_accept_due_at(friday, holiday) == rules.end_of_china_day(date(2026, 3, 12))
    assert rules.end_of_china_day(date(2026, 3, 11)) == datetime(2026, 3, 11, 16, 0, tzinfo=UTC)


def test_an_accepted_complaint_is_decided_within_thirty_working_days() -> None:
    """W12 (IR 61): 30 working days = 6 weeks without holidays."""
    monday = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert rules.complaint_decide_due_at(monday, WorkCalendar()) == rules.end_of_china_day(date(2026, 4, 13))


def test_the_complaint_lifecycle_refuses_what_is_not_in_its_table() -> None:
    """W12: received → accepted | refused; accepted → decided; nothing else."""
    assert rules.decide_complaint(ComplaintState.RECEIVED, "accept") is ComplaintState.ACCEPTED
    assert rules.decide_complaint(ComplaintState.RECEIVED, "refuse") is ComplaintState.REFUSED
    assert rules.decide_complaint(ComplaintState.ACCEPTED, "decide") is ComplaintState.DECIDED
    for state, action in [
        (ComplaintState.RECEIVED, "decide"),
        (ComplaintState.REFUSED, "accept"),
        (ComplaintState.DECIDED, "decide"),
        (ComplaintState.ACCEPTED, "accept"),
    ]:
        with pytest.raises(AwardRejected) as info:
            rules.decide_complaint(state, action)
        assert info.value.code == "complaint_wrong_state"


# ---------------------------------------------------------------------------- W7, the table


def test_a_failed_evaluation_cannot_be_published_and_fails_the_tender() -> None:
    """W7 (BL 42): no valid candidate → failed; and a ranked one cannot be declared failed."""
    state, _, timers = rules.start(Result(1, 1, T0, True, ()), SETTINGS)
    assert state is AwardState.CONCLUDED and timers == ()
    empty = concluded(candidates=())
    assert refused(empty, rules.PublishCandidates(), T0) == "evaluation_failed"
    d = rules.decide(empty, rules.Fail("evaluation_failed"), T0, SETTINGS)
    assert d.state is AwardState.FAILED and d.changes["failure_reason"] == "evaluation_failed"
    assert refused(concluded(), rules.Fail("x"), T0) == "evaluation_not_failed"
    assert refused(concluded(state=AwardState.FAILED, candidates=()), rules.Award(1), T0) == "evaluation_failed"


COMMANDS: list[rules.Command] = [
    rules.PublishCandidates(),
    rules.Award(1),
    rules.Decline(PassReason.GAVE_UP, "n"),
    rules.RecordContract(9_000_000, 0),
    rules.Fail("x"),
]


@given(st.sampled_from(list(AwardState)), st.sampled_from(COMMANDS))
def test_a_pair_outside_the_table_is_refused(state: AwardState, command: rules.Command) -> None:
    """The lifecycle is its table: a missing (state, command) pair raises and changes nothing."""
    proc = awarded() if state is AwardState.AWARDED else published() if state is AwardState.PUBLICITY else concluded()
    proc = replace(proc, state=state)
    if (state, type(command)) in rules.TRANSITIONS:
        return
    before = proc
    with pytest.raises(AwardRejected):
        rules.decide(proc, command, T0 + timedelta(days=40), SETTINGS)
    assert proc == before


# ---------------------------------------------------------------------------- S5


def test_the_savings_rate_is_exact() -> None:
    """S5: (budget − award) / budget as a fraction; 14.5 % from Huzhou's figures."""
    assert rules.savings_rate(100_000_000, 85_500_000) == Fraction(29, 200)
    assert str(rules.savings_rate_percent(Fraction(29, 200))) == "14.50"
    assert rules.savings_rate_percent(rules.savings_rate(3, 2)) == rules.savings_rate_percent(Fraction(1, 3))
    assert str(rules.savings_rate_percent(Fraction(1, 3))) == "33.33"
    assert rules.savings_rate(None, 1) is None and rules.savings_rate(10, None) is None
    assert rules.savings_rate(100, 120) == Fraction(-1, 5)


@given(st.integers(1, 10**15), st.integers(0, 10**15))
def test_the_savings_rate_reproduces_the_award(budget_fen: int, award_fen: int) -> None:
    """S5: budget × (1 − rate) is the award, exactly."""
    rate = rules.savings_rate(budget_fen, award_fen)
    assert rate is not None and budget_fen * (1 - rate) == award_fen


def test_the_evaluation_result_is_copied_into_the_award() -> None:
    """The crossing from the evaluation (G1's ``EvaluationResult``) keeps every field the
    award needs: ranks, bids, bidders, prices, scores, the rejected causes."""
    from decimal import Decimal

    from bidding.award.model import result_from
    from bidding.evaluation.model import Candidate as EvalCandidate
    from bidding.evaluation.model import EvaluationResult

    evaluated = EvaluationResult(
        tender_id=7, report_id=3, concluded_at=T0, failed=False,
        candidates=(EvalCandidate(1, 11, 101, 9_000_000, Decimal("91.50")),
                    EvalCandidate(2, 12, 102, 9_100_000, None)),
        rejected=((13, "below_cost"),),
    )
    result = result_from(evaluated)
    assert result == Result(
        7, 3, T0, False,
        (Candidate(1, 11, 101, 9_000_000, Decimal("91.50")), Candidate(2, 12, 102, 9_100_000, None)),
        ((13, "below_cost"),),
    )
    assert Candidate.from_json(result.candidates[0].as_json()) == result.candidates[0]


def test_the_savings_rate_of_a_period_is_weighted_by_budget() -> None:
    """S5: Σ(budget − award) / Σ budget — Huzhou's 14.5 % from two purchases."""
    pairs = [(60_000_000, 50_000_000), (40_000_000, 35_500_000)]
    assert rules.total_savings_rate(pairs) == Fraction(29, 200)
    assert rules.total_savings_rate([]) is None
