"""The rules of supervision (RULES S4): which steps are watched, and what an act does to an alert.

Theory of operation
-------------------
Every deadline the rules set is a *watched step* (:data:`WATCHED`): its kind (the alert it
raises when overdue), the rule, the severity, and what completing it is. A domain package
schedules a timed event at the step's deadline in its own use case (the contract's 30 days,
an objection's 3 days…) or the watch scans for it (an opening not held, a late change of the
documents); either way the overdue step goes through one function
(``trading.supervision.service.overdue``) that raises exactly one alert per step — the
step's identity is ``(kind, watch_ref)``, unique in the table, so a retry, a catch-up after
downtime or a second process raises nothing more.

An alert's lifecycle is a transition table (:data:`TRANSITIONS`)::

    open ──acknowledge──▶ acknowledged ──close──▶ closed
      │                        │                    ▲
      └────resolve─────▶ resolved ◀──resolve───┘    │
                             └──────close───────────┘

``note`` is allowed in every state and changes none; ``escalate`` (once, open or
acknowledged) sets a flag, not a state. An act the table does not hold is refused with a
stable code and changes nothing. The watch resolves an alert when the watched step is done
(the ``resolve`` act), and escalates an alert still *open* after ``escalate_after_s``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from trading.supervision.errors import SupervisionReason, SupervisionRejected
from trading.supervision.model import Act, AlertState, Severity, WatchedStep

__all__ = [
    "TRANSITIONS",
    "WATCHED",
    "decide",
    "escalation_due",
    "late_change",
    "watched",
]

S = AlertState

TRANSITIONS: dict[tuple[AlertState, Act], AlertState] = {
    (S.OPEN, Act.ACKNOWLEDGE): S.ACKNOWLEDGED,
    (S.OPEN, Act.NOTE): S.OPEN,
    (S.OPEN, Act.ESCALATE): S.OPEN,
    (S.OPEN, Act.RESOLVE): S.RESOLVED,
    (S.OPEN, Act.CLOSE): S.CLOSED,
    (S.ACKNOWLEDGED, Act.NOTE): S.ACKNOWLEDGED,
    (S.ACKNOWLEDGED, Act.ESCALATE): S.ACKNOWLEDGED,
    (S.ACKNOWLEDGED, Act.RESOLVE): S.RESOLVED,
    (S.ACKNOWLEDGED, Act.CLOSE): S.CLOSED,
    (S.RESOLVED, Act.NOTE): S.RESOLVED,
    (S.RESOLVED, Act.CLOSE): S.CLOSED,
    (S.CLOSED, Act.NOTE): S.CLOSED,
}

_REFUSALS: dict[tuple[AlertState, Act], SupervisionReason] = {
    (S.ACKNOWLEDGED, Act.ACKNOWLEDGE): SupervisionReason.ALREADY_ACKNOWLEDGED,
    (S.CLOSED, Act.CLOSE): SupervisionReason.ALREADY_CLOSED,
    (S.CLOSED, Act.ACKNOWLEDGE): SupervisionReason.ALREADY_CLOSED,
    (S.CLOSED, Act.ESCALATE): SupervisionReason.ALREADY_CLOSED,
}


def decide(state: AlertState, act: Act, *, escalated: bool) -> AlertState:
    """The state after ``act``; raises ``SupervisionRejected`` (nothing changes) if the table
    does not allow it. ``escalated``: whether the alert has escalated already (once only)."""
    new = TRANSITIONS.get((state, act))
    if new is None:
        raise SupervisionRejected(_REFUSALS.get((state, act), SupervisionReason.NOT_LIVE),
                                  details={"state": state.value, "act": act.value})
    if act is Act.ESCALATE and escalated:
        raise SupervisionRejected(SupervisionReason.ALREADY_ESCALATED, details={"state": state.value})
    return new


def escalation_due(raised_at: datetime, escalate_after_s: int) -> datetime:
    """When an alert still open escalates."""
    return raised_at + timedelta(seconds=escalate_after_s)


def late_change(*, changed_at: datetime, bid_deadline_at: datetime, min_days: int) -> bool:
    """W1 (BL 23): a change to the documents published less than ``min_days`` before the
    deadline that stands (the deadline was not moved far enough, or moved back later)."""
    return changed_at > bid_deadline_at - timedelta(days=min_days)


# ---------------------------------------------------------------------------- the watched steps

W = Severity.WARNING

WATCHED: tuple[WatchedStep, ...] = (
    WatchedStep(
        "bidding.late_change", "W1", W,
        "documents changed < 15 days before the deadline without moving it",
        "招标文件澄清或修改距投标截止不足 15 日且未顺延截止时间",
        "never by itself (the deadline has passed): a supervisor closes it",
        "不会自动解除（截止时间已过），由监督人员关闭",
        "tender", auto_resolves=False,
    ),
    WatchedStep(
        "bidding.objection_unanswered", "W2", W,
        "objection to the tender documents unanswered after 3 days",
        "对招标文件的异议 3 日内未答复",
        "the objection is answered", "异议已答复", "tender",
    ),
    WatchedStep(
        "bidding.opening_overdue", "T8, T9", Severity.CRITICAL,
        "opening not held at its announced time (plus the grace period)",
        "未按公告时间开标（超过宽限期）",
        "the tender is opened (or fails, or is cancelled)", "已开标（或流标、已取消）", "tender",
    ),
    WatchedStep(
        "award.publicity_overdue", "T18", W,
        "candidates not published within 3 days of the report",
        "收到评标报告 3 日内未公示中标候选人",
        "the candidates are published", "中标候选人已公示", "tender",
    ),
    WatchedStep(
        "award.objection_overdue", "T18", W,
        "objection to the candidates unanswered after 3 days",
        "对中标候选人的异议 3 日内未答复",
        "the objection is answered", "异议已答复", "tender",
    ),
    WatchedStep(
        "award.complaint_accept_overdue", "W12", W,
        "complaint not accepted or refused within 3 working days",
        "投诉 3 个工作日内未决定是否受理",
        "the complaint is accepted or refused", "已决定是否受理", "tender",
    ),
    WatchedStep(
        "award.complaint_decide_overdue", "W12", W,
        "accepted complaint not decided within 30 working days",
        "已受理的投诉 30 个工作日内未作出处理决定",
        "the complaint is decided", "已作出处理决定", "tender",
    ),
    WatchedStep(
        "award.contract_overdue", "W10", W,
        "contract not recorded by day 30 after the award",
        "中标通知书发出 30 日内未订立合同",
        "the contract is recorded", "合同已备案", "tender",
    ),
    WatchedStep(
        "ledger.refund_overdue", "D4, D5, A7", W,
        "deposit refund not paid by its due day (5 days)",
        "保证金未在应退日（5 日）内退还",
        "the refund is paid (or the money in suspense returned)", "已退还（或挂账款项已退回）", "deposit",
    ),
    WatchedStep(
        "auction.reserve_overdue", "A3", W,
        "sealed reserve not opened by its custodians within 1 hour of the close",
        "竞价结束 1 小时内保管人未开启密封底价",
        "the custodians open the reserve", "保管人已开启底价", "auction_lot",
    ),
    WatchedStep(
        "experts.summons_unanswered", "E5, E6", Severity.INFO,
        "expert summons unanswered in time (counted as a decline; a replacement is called)",
        "专家通知未在规定时间内答复（视为拒绝，依次递补）",
        "the draw's panel is complete or fixed", "抽取结果已补足或已确定", "expert_draw",
    ),
)
"""Every watched step. Report not signed (T17) is not among them: at the signing deadline a
member's silence is consent, so the report concludes by itself (``evaluation.signing_deadline``)."""

_BY_KIND = {w.kind: w for w in WATCHED}


def watched(kind: str) -> WatchedStep:
    """The watched step of alert kind ``kind`` (a bug if there is none)."""
    step = _BY_KIND.get(kind)
    assert step is not None, f"{kind} is not a watched step"
    return step
