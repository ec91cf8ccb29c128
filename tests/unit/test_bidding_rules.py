"""The pure rules of a sealed tender: the lifecycle table and its time rules.

Sources (RULES.md): T1 BL 24; T2 A4(a), EM 28; T4 A4(c); T5 BL 29, IR 35, EM 27;
T7 BL 28, IR 44; T8 BL 34; T9 PT (2 of 3); T10 EM 31; T14 IR 26.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidding import rules
from bidding.errors import BidReason, BidRejected
from bidding.model import (
    Bid,
    BiddingSettings,
    BidOutcome,
    Category,
    FailureCause,
    OpeningMode,
    Procedure,
    Tender,
    TenderDraft,
    TenderState,
)

NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
DEADLINE = NOW + timedelta(days=21)
MS = timedelta(milliseconds=1)
SETTINGS = BiddingSettings()
S = TenderState


def tender(state: TenderState = S.PUBLISHED, **kw: object) -> Tender:
    base = Tender(
        id=7,
        code="T-7",
        project_name="Road",
        category=Category.WORKS,
        procedure=Procedure.OPEN,
        lots=("Lot 1",),
        estimated_price_fen=100_000_000,
        deposit_fen=2_000_000,
        bid_deadline_at=DEADLINE,
        opening_at=DEADLINE + timedelta(hours=1),
        place="room 1",
        min_bidders=3,
        min_period_days=20,
        opening_mode=OpeningMode.CUSTODIANS,
        threshold_k=2,
        custodian_count=3,
        max_bid_bytes=1 << 20,
        state=state,
        version=1,
        created_by=1,
        created_at=NOW,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def draft(**kw: object) -> TenderDraft:
    base = TenderDraft(
        code="T-1",
        project_name="Road",
        category=Category.WORKS,
        procedure=Procedure.OPEN,
        lots=("Lot 1",),
        estimated_price_fen=100_000_000,
        deposit_fen=2_000_000,
        bid_deadline_at=DEADLINE,
        opening_at=DEADLINE,
        place="room 1",
        custodian_user_ids=(1, 2, 3),
        threshold_k=2,
        max_bid_bytes=1 << 20,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def refused(reason: BidReason, fn: object, *args: object) -> None:
    with pytest.raises(BidRejected) as info:
        fn(*args)  # type: ignore[operator]
    assert info.value.reason is reason, info.value.code


# ---------------------------------------------------------------------------- T1


def test_publishing_with_19_days_to_the_deadline_is_refused() -> None:
    """T1 (BL 24): at least 20 days from publication to the bid deadline."""
    draft_tender = tender(S.DRAFT, bid_deadline_at=NOW + timedelta(days=19, hours=23, minutes=59))
    refused(BidReason.PERIOD_TOO_SHORT, rules.decide, draft_tender, rules.Publish(), NOW)


def test_publishing_with_exactly_20_days_schedules_the_deadline_then_the_opening() -> None:
    """T1 (BL 24), T8 (BL 34): publication schedules the deadline before the opening."""
    t = tender(
        S.DRAFT, bid_deadline_at=NOW + timedelta(days=20), opening_at=NOW + timedelta(days=20)
    )
    decision = rules.decide(t, rules.Publish(), NOW)
    assert decision.state is S.PUBLISHED
    assert [x.kind for x in decision.timers] == [rules.DEADLINE_EVENT, rules.OPENING_EVENT]


def test_a_longer_minimum_period_per_procedure_is_respected() -> None:
    """T1 (cfg per procedure): a tender's own longer period counts."""
    t = tender(S.DRAFT, min_period_days=30)
    refused(BidReason.PERIOD_TOO_SHORT, rules.decide, t, rules.Publish(), NOW)


def test_a_period_below_the_statutory_minimum_is_refused_at_creation() -> None:
    """T1 (BL 24): the per-tender period may be raised, never lowered."""
    problems = rules.check_draft(draft(min_period_days=15), NOW, SETTINGS)
    assert [p.reason for p in problems] == [BidReason.MIN_PERIOD_BELOW_STATUTORY]


# ---------------------------------------------------------------------------- T2, T5, T6


def test_deadline_minus_one_millisecond_is_accepted_and_the_deadline_is_refused() -> None:
    """T2 (A4(a), EM 28): the receipt time decides; the deadline itself is too late."""
    assert rules.decide(tender(), rules.SubmitBid(), DEADLINE - MS).state is S.PUBLISHED
    refused(BidReason.DEADLINE_PASSED, rules.decide, tender(), rules.SubmitBid(), DEADLINE)


@settings(max_examples=100, deadline=None)
@given(offset_ms=st.integers(min_value=-(10**9), max_value=10**9))
def test_submission_is_open_exactly_before_the_deadline(offset_ms: int) -> None:
    """T2, T5 (BL 29, EM 27): submit, replace, withdraw until the deadline, nothing after."""
    now = DEADLINE + timedelta(milliseconds=offset_ms)
    if offset_ms < 0:
        assert rules.decide(tender(), rules.SubmitBid(), now).state is S.PUBLISHED
    else:
        refused(BidReason.DEADLINE_PASSED, rules.decide, tender(), rules.SubmitBid(), now)


@pytest.mark.parametrize("state", [S.CLOSED, S.OPENING, S.OPENED, S.FAILED])
def test_after_the_freeze_every_submission_is_refused_as_past_the_deadline(
    state: TenderState,
) -> None:
    """T5 (IR 35): nothing after the deadline, whatever the state says."""
    refused(BidReason.DEADLINE_PASSED, rules.decide, tender(state), rules.SubmitBid(), NOW)


def test_a_draft_takes_no_bids_and_a_cancelled_tender_none_either() -> None:
    refused(BidReason.TENDER_NOT_PUBLISHED, rules.decide, tender(S.DRAFT), rules.SubmitBid(), NOW)
    refused(BidReason.TENDER_CANCELLED, rules.decide, tender(S.CANCELLED), rules.SubmitBid(), NOW)


# ---------------------------------------------------------------------------- T4


def test_dates_change_before_the_deadline_and_move_the_timed_events() -> None:
    """T4 (A4(c)): staff change the dates before the deadline; the events move with them."""
    new_deadline = DEADLINE - timedelta(days=10)
    d = rules.decide(
        tender(), rules.ChangeDates(new_deadline, new_deadline), DEADLINE - timedelta(days=11)
    )
    assert d.state is S.PUBLISHED
    assert [(t.kind, t.due_at) for t in d.timers] == [
        (rules.DEADLINE_EVENT, new_deadline),
        (rules.OPENING_EVENT, new_deadline),
    ]


def test_a_date_change_after_the_deadline_is_refused() -> None:
    """T4 (A4(c)): a passed deadline cannot be changed (409)."""
    change = rules.ChangeDates(DEADLINE + timedelta(days=1), DEADLINE + timedelta(days=1))
    refused(BidReason.DEADLINE_PASSED, rules.decide, tender(), change, DEADLINE)
    refused(BidReason.DEADLINE_PASSED, rules.decide, tender(S.CLOSED), change, DEADLINE)
    assert BidReason.DEADLINE_PASSED.status == 409


def test_a_date_change_cannot_put_the_opening_before_the_deadline_or_the_deadline_in_the_past() -> (
    None
):
    """T4: the opening is never before the deadline; a new deadline is in the future."""
    refused(
        BidReason.OPENING_BEFORE_DEADLINE,
        rules.decide,
        tender(),
        rules.ChangeDates(DEADLINE, DEADLINE - MS),
        NOW,
    )
    refused(
        BidReason.DEADLINE_NOT_IN_FUTURE, rules.decide, tender(), rules.ChangeDates(NOW, NOW), NOW
    )


# ---------------------------------------------------------------------------- T7, T8


@pytest.mark.parametrize(
    "count, state", [(0, S.FAILED), (2, S.FAILED), (3, S.CLOSED), (40, S.CLOSED)]
)
def test_fewer_than_three_bids_fail_the_tender(count: int, state: TenderState) -> None:
    """T7 (BL 28, IR 44): fewer than 3 bids at the deadline — no opening, the tender fails."""
    decision = rules.decide(tender(), rules.Freeze(count), DEADLINE)
    assert decision.state is state
    if state is S.FAILED:
        assert rules.OPENING_EVENT in decision.cancel_timers


def test_the_freeze_and_the_opening_wait_for_their_time() -> None:
    """T8 (BL 34): nothing freezes before the deadline nor opens before the opening time."""
    refused(BidReason.NOT_DUE, rules.decide, tender(), rules.Freeze(5), DEADLINE - MS)
    t = tender(S.CLOSED)
    refused(BidReason.NOT_DUE, rules.decide, t, rules.StartOpening(), t.opening_at - MS)
    assert rules.decide(t, rules.StartOpening(), t.opening_at).state is S.OPENING


def test_a_failed_tender_never_opens() -> None:
    """T7: no opening after 流标."""
    refused(BidReason.TENDER_FAILED, rules.decide, tender(S.FAILED), rules.StartOpening(), DEADLINE)


# ---------------------------------------------------------------------------- the table


COMMANDS = [
    rules.Publish(),
    rules.ChangeDates(DEADLINE + timedelta(days=1), DEADLINE + timedelta(days=1)),
    rules.Cancel(),
    rules.Register(),
    rules.SubmitBid(),
    rules.Freeze(3),
    rules.StartOpening(),
    rules.CompleteOpening(),
]


@settings(max_examples=200, deadline=None)
@given(
    state=st.sampled_from(list(TenderState)),
    command=st.sampled_from(COMMANDS),
    offset_h=st.integers(min_value=-24 * 40, max_value=24 * 40),
)
def test_decide_follows_the_transition_table_or_refuses(
    state: TenderState, command: rules.Command, offset_h: int
) -> None:
    """Every decision lands in a state the table allows; anything else is refused."""
    now = DEADLINE + timedelta(hours=offset_h)
    allowed = rules.TRANSITIONS.get((state, type(command)))
    try:
        decision = rules.decide(tender(state), command, now)
    except BidRejected:
        return
    assert allowed is not None and decision.state in allowed


# ---------------------------------------------------------------------------- T14, the draft


@settings(max_examples=200, deadline=None)
@given(
    estimate=st.integers(min_value=1, max_value=10**13),
    basis_points=st.integers(min_value=0, max_value=400),
)
def test_a_deposit_over_two_percent_is_refused(estimate: int, basis_points: int) -> None:
    """T14 (IR 26): the deposit is at most 2 % of the estimate, computed in integers."""
    deposit = estimate * basis_points // 10_000
    reason = rules.deposit_within_limits(deposit, estimate, Category.GOODS, 80_000_000)
    assert (reason is None) == (deposit * 100 <= estimate * 2)


def test_a_deposit_of_2_01_percent_is_refused_and_2_percent_accepted() -> None:
    """T14 (IR 26): 2.01 % refused."""
    assert rules.deposit_within_limits(2_010_000, 100_000_000, Category.GOODS, 10**12) is (
        BidReason.DEPOSIT_OVER_TWO_PERCENT
    )
    assert rules.deposit_within_limits(2_000_000, 100_000_000, Category.GOODS, 10**12) is None


def test_a_works_deposit_over_the_cap_is_refused_even_within_two_percent() -> None:
    """T14 (cfg): works tenders cap the deposit at 800,000 yuan by default."""
    estimate = 100_000_000_00  # 100 million yuan: 2 % is 2 million yuan
    assert rules.deposit_within_limits(80_000_001, estimate, Category.WORKS, 80_000_000) is (
        BidReason.DEPOSIT_OVER_WORKS_CAP
    )
    assert rules.deposit_within_limits(80_000_000, estimate, Category.WORKS, 80_000_000) is None
    assert rules.deposit_within_limits(80_000_001, estimate, Category.GOODS, 80_000_000) is None


def test_one_custodian_cannot_open_alone() -> None:
    """T9 (PT 2 of 3): k >= 2, k <= n, custodians distinct."""
    for bad in (draft(threshold_k=1), draft(threshold_k=4), draft(custodian_user_ids=(1, 1, 2))):
        assert [p.reason for p in rules.check_draft(bad, NOW, SETTINGS)] == [
            BidReason.BAD_CUSTODIAN_THRESHOLD
        ]


def test_every_problem_of_a_draft_is_reported_not_only_the_first() -> None:
    bad = draft(
        lots=(),
        deposit_fen=3_000_000,
        opening_at=DEADLINE - MS,
        min_bidders=2,
        opening_mode=OpeningMode.BIDDER_DECRYPT,
    )
    reasons = [p.reason for p in rules.check_draft(bad, NOW, SETTINGS)]
    assert reasons == [
        BidReason.NO_LOTS,
        BidReason.DEPOSIT_OVER_TWO_PERCENT,
        BidReason.OPENING_BEFORE_DEADLINE,
        BidReason.MIN_BIDDERS_BELOW_THREE,
        BidReason.OPENING_MODE_UNSUPPORTED,
    ]
    with pytest.raises(BidRejected) as info:
        rules.require_valid_draft(bad, NOW, SETTINGS)
    assert info.value.code == "no_lots" and len(info.value.details["errors"]) == 5


# ---------------------------------------------------------------------------- T10, order


@pytest.mark.parametrize(
    "code, intact, expected",
    [
        ("decrypt_failed", True, (FailureCause.BIDDER, BidOutcome.REVOKED)),
        ("malformed_price_schedule", True, (FailureCause.BIDDER, BidOutcome.REVOKED)),
        ("not_a_bid_package", True, (FailureCause.BIDDER, BidOutcome.REVOKED)),
        ("decrypt_failed", False, (FailureCause.OTHER, BidOutcome.WITHDRAWN)),
        ("truncated", False, (FailureCause.OTHER, BidOutcome.WITHDRAWN)),
        ("bad_signature", True, (FailureCause.OTHER, BidOutcome.WITHDRAWN)),
        ("receipt_mismatch", False, (FailureCause.OTHER, BidOutcome.WITHDRAWN)),
    ],
)
def test_a_bid_failing_by_the_bidders_fault_is_revoked_otherwise_withdrawn(
    code: str, intact: bool, expected: tuple[FailureCause, BidOutcome]
) -> None:
    """T10 (EM 31): bidder's fault → revoked; any other cause → withdrawn (with an incident)."""
    assert rules.classify_failure(code, stored_bytes_intact=intact) == expected


def test_the_frozen_set_is_ordered_by_receipt_sequence() -> None:
    def bid(i: int, receipt: int) -> Bid:
        return Bid(i, 1, i, 1, i, "0" * 64, 100, "k", b"\x00" * 32, receipt_id=receipt)

    assert [b.id for b in rules.frozen_order([bid(1, 9), bid(2, 3), bid(3, 5)])] == [2, 3, 1]


def test_a_share_commitment_binds_the_tender() -> None:
    share = bytes(range(35))
    assert rules.share_commitment(1, share) != rules.share_commitment(2, share)
    assert rules.share_commitment(1, share) == rules.share_commitment(1, bytes(share))
