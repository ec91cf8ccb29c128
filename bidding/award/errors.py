"""Refusals of the steps after the evaluation report: publicity, objections, complaints,
award, contract, re-tender.

Tree (the roots live in ``trading.errors``; ``BidRejected`` in ``bidding.errors``)::

    DomainError
    └── Rejected
        └── BidRejected
            └── AwardRejected(reason: AwardReason)   a rule refused the step; nothing changed

``AwardRejected`` is a ``BidRejected`` so that the tender's refusal auditing
(``bidding.service.common.refusals_audited``) records it like any other. The reasons are
their own closed set, kept beside the rules that raise them (the other helpers of this issue
edit ``bidding/errors.py`` at the same time); every code is stable and documented in
``docs/evaluation.md``.
"""

from __future__ import annotations

from typing import Any

from bidding.errors import BidRejected
from trading.errors import Reason

__all__ = ["AwardReason", "AwardRejected"]


class AwardReason(Reason):
    """Why a step after the report was refused. Closed set: add a member, never reuse a code."""

    NO_CONCLUDED_REPORT = (
        "no_concluded_report",
        409,
        "The evaluation report is not concluded yet (every member signs, or the signing time passes)",
        "评标报告尚未完成（须全体成员签字，或签字期限届满）",
    )
    EVALUATION_FAILED = (
        "evaluation_failed",
        409,
        "The evaluation failed (no valid candidate): declare the tender failed and re-tender (W7)",
        "评标结果为否决所有投标（无合格候选人）：应宣布流标并重新招标（W7）",
    )
    EVALUATION_NOT_FAILED = (
        "evaluation_not_failed",
        409,
        "The tender has ranked candidates; it cannot be declared failed",
        "本项目已有排序的中标候选人，不能宣布流标",
    )
    WRONG_AWARD_STATE = (
        "wrong_award_state",
        409,
        "The award procedure is not in a state that allows this",
        "定标程序当前状态不允许此操作",
    )
    PUBLICITY_NOT_ENDED = (
        "publicity_not_ended",
        409,
        "The candidates' publicity has not ended: no award before its end (T18, IR 54)",
        "中标候选人公示期未满，不得定标（实施条例第五十四条）",
    )
    OBJECTION_OPEN = (
        "objection_open",
        409,
        "An objection to the candidates is not answered: the award is suspended until it is (IR 54)",
        "对中标候选人的异议尚未答复，答复前暂停定标（实施条例第五十四条）",
    )
    COMPLAINT_SUSPENDS = (
        "complaint_suspends_award",
        409,
        "An accepted complaint suspends the award until the supervisor decides it (IR 62)",
        "已受理的投诉暂停了招标投标活动，须待监督部门作出处理决定（实施条例第六十二条）",
    )
    UNKNOWN_CANDIDATE = (
        "unknown_candidate",
        422,
        "There is no candidate of this rank (at most 3 are ranked)",
        "没有该名次的中标候选人（最多三名）",
    )
    SKIP_WITHOUT_REASON = (
        "skip_without_reason",
        422,
        "Awarding below the first-ranked candidate needs a recorded reason: gave_up, "
        "cannot_perform or ineligible, and a note (W8, IR 55)",
        "不向排名第一的中标候选人定标，须记录理由（放弃中标、不能履行合同、经查不符合中标条件）及说明"
        "（实施条例第五十五条）",
    )
    CANDIDATE_PASSED_OVER = (
        "candidate_passed_over",
        409,
        "This candidate was passed over (or refused the award) and cannot be awarded",
        "该中标候选人已被依法顺延（或已放弃中标），不能再向其定标",
    )
    CONTRACT_AMOUNT_DIFFERS = (
        "contract_amount_differs",
        422,
        "The contract amount must equal the winning bid's price (W10, BL 46)",
        "合同金额须与中标价一致（招标投标法第四十六条）",
    )
    BOND_OVER_TEN_PERCENT = (
        "bond_over_ten_percent",
        422,
        "The performance bond may be at most 10 % of the contract price (W11, IR 58)",
        "履约保证金不得超过中标合同金额的 10%（实施条例第五十八条）",
    )
    OBJECTION_OUTSIDE_WINDOW = (
        "objection_outside_window",
        409,
        "Objections to the candidates are taken only during their publicity (T18, IR 54)",
        "对中标候选人的异议须在公示期间提出（实施条例第五十四条）",
    )
    OBJECTION_ANSWERED = (
        "objection_already_answered",
        409,
        "This objection has been answered already",
        "该异议已答复",
    )
    COMPLAINT_LATE = (
        "complaint_late",
        409,
        "A complaint must reach the supervisor within 10 days of knowing (W12, IR 60)",
        "投诉应当自知道或者应当知道之日起 10 日内提出（实施条例第六十条）",
    )
    KNOWN_AT_IN_FUTURE = (
        "known_at_in_future",
        422,
        "known_at (when you knew of the matter) cannot be in the future",
        "known_at（知道投诉事项的时间）不能晚于当前时间",
    )
    COMPLAINT_STATE = (
        "complaint_wrong_state",
        409,
        "The complaint is not in a state that allows this (accept or refuse a received one, "
        "decide an accepted one)",
        "投诉当前状态不允许此操作（仅可受理或不予受理新收到的投诉，对已受理的投诉作出处理决定）",
    )
    NOT_A_BIDDER_OF_TENDER = (
        "not_a_bidder_of_tender",
        403,
        "Only a bidder of this tender may object or complain",
        "只有本项目的投标人可以提出异议或投诉",
    )
    NOTE_REQUIRED = (
        "note_required",
        422,
        "Write the reason (note) down: it is part of the record",
        "须填写书面理由（note），该理由将记入记录",
    )
    NO_DECLINED_DEPOSIT = (
        "no_forfeit_to_approve",
        409,
        "No forfeiture of a declining winner's deposit awaits approval",
        "没有待审批的中标人保证金没收申请",
    )


class AwardRejected(BidRejected):
    """A rule of the award refused the step; nothing changed."""

    def __init__(
        self,
        reason: AwardReason,
        detail_en: str = "",
        detail_zh: str = "",
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(reason, detail_en, detail_zh, details=details)  # type: ignore[arg-type]
