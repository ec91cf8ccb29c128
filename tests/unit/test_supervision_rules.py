"""The pure rules of supervision: the alert's transition table, the catalogue of watched
steps, the limiter of refused requests and their aggregate tally.

Sources (RULES.md): S4 (an overdue step raises one alert that a supervisor acknowledges), T12
(every denied attempt is in the audit log); issue 14 items 2 and 8.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.supervision import rules
from trading.supervision.abuse import DeniedTally, RefusalLimiter
from trading.supervision.errors import SupervisionRejected
from trading.supervision.model import Act, AlertState

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_acknowledging_twice_is_refused_with_a_stable_code() -> None:
    """S4: acknowledge once; the second time is alert_already_acknowledged (409)."""
    state = rules.decide(AlertState.OPEN, Act.ACKNOWLEDGE, escalated=False)
    assert state is AlertState.ACKNOWLEDGED
    with pytest.raises(SupervisionRejected) as info:
        rules.decide(state, Act.ACKNOWLEDGE, escalated=False)
    assert info.value.code == "alert_already_acknowledged" and info.value.status_hint == 409


def test_an_alert_escalates_once() -> None:
    assert rules.decide(AlertState.OPEN, Act.ESCALATE, escalated=False) is AlertState.OPEN
    with pytest.raises(SupervisionRejected) as info:
        rules.decide(AlertState.OPEN, Act.ESCALATE, escalated=True)
    assert info.value.code == "alert_already_escalated"


@given(st.lists(st.sampled_from(list(Act)), max_size=12), st.booleans())
def test_every_act_is_in_the_table_or_refused_and_closed_is_final(acts: list[Act], escalated: bool) -> None:
    """Any sequence of acts: each either follows the table or is refused (state unchanged);
    once closed, only notes are taken; resolved is reached only from a live alert."""
    state = AlertState.OPEN
    for act in acts:
        try:
            new = rules.decide(state, act, escalated=escalated)
        except SupervisionRejected:
            assert (state, act) not in rules.TRANSITIONS or (act is Act.ESCALATE and escalated)
            continue
        assert rules.TRANSITIONS[(state, act)] is new
        if state is AlertState.CLOSED:
            assert act is Act.NOTE and new is AlertState.CLOSED
        if new is AlertState.RESOLVED and state is not AlertState.RESOLVED:
            assert state in (AlertState.OPEN, AlertState.ACKNOWLEDGED) and act is Act.RESOLVE
        state = new


def test_every_watched_step_names_its_rule_and_is_unique() -> None:
    kinds = [w.kind for w in rules.WATCHED]
    assert len(kinds) == len(set(kinds))
    assert {"award.contract_overdue", "bidding.opening_overdue", "ledger.refund_overdue",
            "experts.summons_unanswered", "bidding.late_change", "bidding.objection_unanswered",
            "award.publicity_overdue", "award.complaint_accept_overdue",
            "award.complaint_decide_overdue", "award.objection_overdue", "auction.reserve_overdue"} == set(kinds)  # fmt: skip
    assert all(w.rule and w.what_en and w.what_zh and w.resolves_en and w.resolves_zh for w in rules.WATCHED)


def test_a_change_less_than_15_days_before_the_deadline_is_late() -> None:
    """W1 (BL 23)."""
    deadline = NOW + timedelta(days=30)
    assert rules.late_change(changed_at=deadline - timedelta(days=14), bid_deadline_at=deadline, min_days=15)
    assert not rules.late_change(changed_at=deadline - timedelta(days=15), bid_deadline_at=deadline, min_days=15)


def test_a_client_past_its_burst_waits_and_is_served_again_after_the_refill() -> None:
    """Issue 14 item 8: ``burst`` refusals, then one per ``1 / per_s`` seconds."""
    lim = RefusalLimiter(burst=3, per_s=2.0, keys_max=10)
    for _ in range(3):
        assert lim.retry_after_s("a", 0.0) is None
        lim.charge("a", 0.0)
    assert lim.retry_after_s("a", 0.0) == pytest.approx(0.5)
    assert lim.retry_after_s("b", 0.0) is None  # another client is not touched
    assert lim.retry_after_s("a", 0.5) is None


def test_the_limiter_holds_at_most_keys_max_clients() -> None:
    lim = RefusalLimiter(burst=1, per_s=1.0, keys_max=100)
    for i in range(1000):
        lim.charge(f"c{i}", 0.0)
    assert len(lim) == 100


@given(st.integers(min_value=0, max_value=500), st.integers(min_value=0, max_value=30))
def test_the_tally_audits_the_first_ones_alone_and_counts_the_rest(n: int, individual_max: int) -> None:
    """T12: every refusal is accounted for — one by one, or in the minute's one summary."""
    tally = DeniedTally(individual_max=individual_max, keys_max=1000, paths_sample_max=5)
    alone = sum(
        tally.add(client="10.0.0.1", user="-", minute=NOW, code="unauthenticated", status=401, path=f"/p{i % 7}")
        for i in range(n)
    )
    assert alone == min(n, individual_max)
    summaries = tally.drain(NOW + timedelta(minutes=1))
    assert sum(s.count for s in summaries) == n - alone and len(summaries) == (1 if n > individual_max else 0)
    assert all(len(s.paths) <= 5 for s in summaries) and len(tally) == 0


def test_the_tally_keeps_a_minute_until_it_is_over() -> None:
    tally = DeniedTally(individual_max=0, keys_max=10, paths_sample_max=5)
    tally.add(client="a", user="-", minute=NOW, code="x", status=403, path="/p")
    assert tally.drain(NOW) == []
    [s] = tally.drain(NOW + timedelta(minutes=1))
    assert (s.client, s.count, dict(s.statuses)) == ("a", 1, {403: 1})
