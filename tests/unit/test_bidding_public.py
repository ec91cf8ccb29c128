"""The pure rules of public notices and of the tender documents after publication.

Sources (RULES.md): W1 (BL 23, IR 21: a change to the documents reaches everyone who obtained
them at least 15 days before the deadline, else the deadline moves), W2 (IR 22: objections
at least 10 days before the deadline, answered within 3 days), T1 (BL 24: at least 20 days
from publication to the deadline — re-checked on every date change), T11 (EM 30: the public
view omits confidential fields).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bidding import rules
from bidding.errors import BidReason, BidRejected
from bidding.public import (
    NoticeKind,
    check_objection_window,
    clarification_dates,
    confidential_keys,
    like_pattern,
    question_view,
)
from tests.unit.test_bidding_rules import DEADLINE, NOW, tender

DAY = timedelta(days=1)
MS = timedelta(milliseconds=1)


def refused(reason: BidReason, fn: object, *args: object, **kw: object) -> None:
    with pytest.raises(BidRejected) as info:
        fn(*args, **kw)  # type: ignore[operator]
    assert info.value.reason is reason


# ---------------------------------------------------------------------------- T1


def test_a_date_change_leaving_19_days_from_publication_is_refused() -> None:
    """T1 (BL 24): a date change of a published tender re-checks the minimum period from the
    publication: 19 days refused, 20 accepted (the change used to skip this check)."""
    published = tender(published_at=NOW)
    at_19 = NOW + 19 * DAY
    refused(
        BidReason.PERIOD_TOO_SHORT,
        rules.decide,
        published,
        rules.ChangeDates(at_19, at_19),
        NOW + DAY,
    )
    at_20 = NOW + 20 * DAY
    decision = rules.decide(published, rules.ChangeDates(at_20, at_20), NOW + DAY)
    assert decision.timers[0].due_at == at_20


@given(days=st.integers(min_value=1, max_value=60), min_period=st.integers(min_value=1, max_value=40))
def test_a_date_change_never_shortens_the_period_below_the_minimum(days: int, min_period: int) -> None:
    """T1 (BL 24), as a property: a change is accepted iff the new deadline is at least
    ``min_period_days`` after the publication."""
    published = tender(published_at=NOW, min_period_days=min_period)
    deadline = NOW + days * DAY
    change = rules.ChangeDates(deadline, deadline)
    if days >= min_period:
        assert rules.decide(published, change, NOW + MS).state.value == "published"
    else:
        refused(BidReason.PERIOD_TOO_SHORT, rules.decide, published, change, NOW + MS)


# ---------------------------------------------------------------------------- W1


def test_a_change_10_days_before_moves_the_deadline() -> None:
    """W1 (BL 23, IR 21): a clarification 10 days before the deadline moves it by whole days
    to at least 15 days after the change; the opening moves as much."""
    now = DEADLINE - 10 * DAY
    opening = DEADLINE + timedelta(hours=1)
    d = clarification_dates(now=now, bid_deadline_at=DEADLINE, opening_at=opening, min_days=15)
    assert d.moved and d.automatic
    assert d.bid_deadline_at == DEADLINE + 5 * DAY
    assert d.opening_at == opening + 5 * DAY


def test_a_change_15_days_or_more_before_leaves_the_deadline() -> None:
    """W1 (BL 23): with 15 days left nothing moves."""
    d = clarification_dates(
        now=DEADLINE - 15 * DAY, bid_deadline_at=DEADLINE, opening_at=DEADLINE, min_days=15
    )
    assert not d.moved and d.bid_deadline_at == DEADLINE


def test_a_new_deadline_under_15_days_after_the_change_is_refused() -> None:
    """W1 (BL 23): a deadline staff give must itself be 15 days after the change."""
    now = DEADLINE - 10 * DAY
    refused(
        BidReason.DEADLINE_TOO_SOON_AFTER_CHANGE,
        clarification_dates,
        now=now,
        bid_deadline_at=DEADLINE,
        opening_at=DEADLINE,
        min_days=15,
        new_deadline_at=now + 15 * DAY - MS,
    )
    d = clarification_dates(
        now=now, bid_deadline_at=DEADLINE, opening_at=DEADLINE, min_days=15,
        new_deadline_at=now + 15 * DAY,
    )
    assert d.moved and not d.automatic and d.bid_deadline_at == now + 15 * DAY


@given(
    left_s=st.integers(min_value=1, max_value=40 * 86400),
    min_days=st.integers(min_value=1, max_value=30),
)
def test_after_a_change_the_deadline_is_always_at_least_15_days_away(left_s: int, min_days: int) -> None:
    """W1 (BL 23), as a property: after any change without a given deadline the deadline is
    at least ``min_days`` away, moved by whole days (the time of day kept), and never moved
    when it was far enough already; the opening keeps its distance from the deadline."""
    now = DEADLINE - timedelta(seconds=left_s)
    opening = DEADLINE + timedelta(hours=2)
    d = clarification_dates(now=now, bid_deadline_at=DEADLINE, opening_at=opening, min_days=min_days)
    assert d.bid_deadline_at >= now + timedelta(days=min_days)
    shift = d.bid_deadline_at - DEADLINE
    assert shift % DAY == timedelta(0) and shift < timedelta(days=min_days + 1)
    assert d.opening_at - d.bid_deadline_at == timedelta(hours=2)
    assert d.moved == (DEADLINE < now + timedelta(days=min_days))


# ---------------------------------------------------------------------------- W2


def test_late_objection_is_refused() -> None:
    """W2 (IR 22): an objection at least 10 days before the deadline; later is refused."""
    check_objection_window(now=DEADLINE - 10 * DAY, bid_deadline_at=DEADLINE, min_days=10)
    refused(
        BidReason.OBJECTION_TOO_LATE,
        check_objection_window,
        now=DEADLINE - 10 * DAY + MS,
        bid_deadline_at=DEADLINE,
        min_days=10,
    )
    assert BidReason.OBJECTION_TOO_LATE.status == 409


# ---------------------------------------------------------------------------- what is public


def test_public_notices_never_carry_confidential_fields() -> None:
    """T11 (EM 30), BL 22: no confidential item, custodian or asker in any notice; no bidder
    named in a notice published before the opening."""
    assert confidential_keys(NoticeKind.OPENING_RECORD, {"entries": [{"bidder_name": "A"}]}) == []
    assert confidential_keys(
        NoticeKind.OPENING_RECORD, {"entries": [{"confidential_items": {}}]}
    ) == ["entries[0].confidential_items"]
    assert confidential_keys(NoticeKind.CLARIFICATION, {"questions": [{"org_id": 3}]}) == [
        "questions[0].org_id"
    ]
    assert confidential_keys(NoticeKind.TENDER, {"custodians": ["c1"]}) == ["custodians"]


def test_the_asker_is_never_shown_to_other_bidders() -> None:
    """BL 22 (issue 12): staff see who asked; the asker's organisation its own question;
    another bidder the text only once answered, never the asker."""
    row = {
        "id": 1, "tender_id": 2, "text": "Q?", "asked_at": NOW, "clarification_id": None,
        "org_id": 10, "asked_by": 5, "asked_by_username": "b1", "org_name": "Org",
    }
    assert question_view(row, sees_askers=False, own_org=11) is None
    mine = question_view(row, sees_askers=False, own_org=10)
    assert mine is not None and mine["mine"] and "asked_by" not in mine
    staff = question_view(row, sees_askers=True, own_org=None)
    assert staff is not None and staff["asked_by"]["org_id"] == 10
    other = question_view({**row, "clarification_id": 7}, sees_askers=False, own_org=11)
    assert other is not None and other["text"] == "Q?" and "asked_by" not in other
    assert "org_id" not in other and not other["mine"]


def test_title_search_escapes_like_wildcards() -> None:
    assert like_pattern("100%_Road") == "%100\\%\\_road%"


def test_clarification_dates_are_pure() -> None:
    """Same inputs, same outputs (no clock inside)."""
    kw = dict(now=datetime(2026, 3, 1, tzinfo=UTC), bid_deadline_at=DEADLINE, opening_at=DEADLINE,
              min_days=15)
    assert clarification_dates(**kw) == clarification_dates(**kw)  # type: ignore[arg-type]



