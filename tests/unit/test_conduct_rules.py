"""The bad-behaviour register's rules (pure): periods in China dates, four eyes, the
transition table, and the in-memory ban book the auction websocket reads.

Sources: RULES.md S1 (IR 79), S2 (BL 53–54, IR 67–68: allowed again the day after the ban).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.conduct import rules
from trading.conduct.model import Door, Finding, FindingState, SubjectKind, china_date
from trading.errors import ValidationFailed
from web.register import BanBook

SHA = "0" * 64


def finding(**kw: object) -> Finding:
    base = dict(id=1, subject_kind=SubjectKind.ORGANISATION, org_id=7, expert_id=None, subject_name="甲公司",
                credit_code="", conduct="串标", legal_basis="BL 53", decision_sha256=SHA, decision_ref="",
                starts_on=date(2026, 1, 5), ends_on=date(2026, 1, 6), state=FindingState.APPROVED, recorded_by=1,
                recorded_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    return replace(Finding(**base), **kw)  # type: ignore[arg-type]


@given(st.dates(date(2020, 1, 1), date(2030, 12, 31)), st.integers(0, 400), st.integers(-5, 405))
def test_a_ban_holds_each_day_of_its_period_and_not_the_day_after(start: date, days: int, offset: int) -> None:
    """S2: banned from starts_on to ends_on, both included; allowed the day after."""
    f = finding(starts_on=start, ends_on=start + timedelta(days=days))
    today = start + timedelta(days=offset)
    assert rules.is_banned(f, today) == (0 <= offset <= days)
    assert not rules.is_banned(replace(f, state=FindingState.REVOKED), today)
    assert not rules.is_banned(replace(f, state=FindingState.PROPOSED), today)


def test_the_day_is_the_china_date() -> None:
    assert china_date(datetime(2026, 1, 6, 15, 59, tzinfo=UTC)) == date(2026, 1, 6)
    assert china_date(datetime(2026, 1, 6, 16, 0, tzinfo=UTC)) == date(2026, 1, 7)


def test_four_eyes_and_the_transition_table() -> None:
    f = finding(state=FindingState.PROPOSED)
    with pytest.raises(rules.ConductRejected) as info:
        rules.decide(f, rules.Command.APPROVE, actor_user_id=1)
    assert info.value.code == "four_eyes"
    assert rules.decide(f, rules.Command.APPROVE, actor_user_id=2) is FindingState.APPROVED
    with pytest.raises(rules.ConductRejected) as info:
        rules.decide(f, rules.Command.APPROVE_REVOKE, actor_user_id=2)
    assert info.value.code == "finding_wrong_state"
    asked = finding(state=FindingState.REVOKE_PROPOSED, revoke_requested_by=3)
    with pytest.raises(rules.ConductRejected):
        rules.decide(asked, rules.Command.APPROVE_REVOKE, actor_user_id=3)
    assert rules.decide(asked, rules.Command.APPROVE_REVOKE, actor_user_id=1) is FindingState.REVOKED


def test_a_bad_finding_lists_every_problem() -> None:
    with pytest.raises(ValidationFailed) as info:
        rules.check_finding(conduct="", legal_basis=" ", decision_sha256="xyz", decision_ref="",
                            starts_on=date(2026, 2, 1), ends_on=date(2026, 1, 1))  # fmt: skip
    fields = [e["field"] for e in info.value.details["errors"]]
    assert fields == ["body.conduct", "body.legal_basis", "body.decision_sha256", "body.ends_on"]
    with pytest.raises(ValidationFailed) as info:
        rules.check_finding(conduct="x", legal_basis="BL 53", decision_sha256=SHA, decision_ref="",
                            starts_on=None, ends_on=None)  # fmt: skip
    assert [e["field"] for e in info.value.details["errors"]] == ["body.starts_on", "body.ends_on"]


def test_the_ban_book_refuses_the_websocket_bid_until_the_day_after() -> None:
    """S2 at the auction websocket: the in-memory book, kept by approvals and revocations."""
    book = BanBook()
    f = finding()
    book.load([f])
    assert book.ban(7, datetime(2026, 1, 6, 15, 59, tzinfo=UTC)) == f
    assert book.ban(7, datetime(2026, 1, 6, 16, 0, tzinfo=UTC)) is None
    assert book.ban(8, datetime(2026, 1, 5, 12, tzinfo=UTC)) is None
    err = rules.refusal(f, Door.AUCTION_BID)
    assert err.code == "party_banned" and err.details["finding_id"] == 1 and err.status_hint == 403
    book.note(replace(f, state=FindingState.REVOKED))
    assert book.ban(7, datetime(2026, 1, 5, 12, tzinfo=UTC)) is None
