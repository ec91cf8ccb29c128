"""Errors of the evaluation.

Tree (the roots live in ``trading.errors``)::

    DomainError
    └── Rejected
        └── EvaluationRejected(reason: EvalReason)   a rule refused; nothing changed

Every refusal has a stable code, an HTTP status and a message in English and Simplified
Chinese that says what to fix.
"""

from __future__ import annotations

from typing import Any

from trading.errors import Reason, Rejected

__all__ = ["EvalReason", "EvaluationRejected"]


class EvalReason(Reason):
    """Closed set: add a member, never reuse a code."""

    # -- the method on the tender (T16, W3) ------------------------------------------------
    CRITERIA_NOT_100 = (
        "criteria_not_100",
        422,
        "The criteria's maximum points must sum to exactly 100",
        "各评分因素的满分之和必须等于 100 分",
    )
    BAD_CRITERIA = (
        "bad_criteria",
        422,
        "Criteria: distinct codes, names and 1..100 points each; comprehensive scoring needs "
        "exactly one 'price' criterion; the lowest price method takes none",
        "评分因素：代码互不相同、须有名称、每项 1 至 100 分；综合评估法须恰有一项 'price' 价格分；"
        "经评审的最低投标价法不设评分因素",
    )
    BAD_POINTS_PER_PERCENT = (
        "bad_points_per_percent",
        422,
        "Points lost per percent of deviation: 0..100 with at most two decimal places",
        "每偏离 1% 的扣分须为 0 至 100，最多两位小数",
    )
    BAD_CONTROL_PRICE = (
        "bad_control_price",
        422,
        "The control price (最高投标限价) and the budget must be positive amounts in fen",
        "最高投标限价与预算金额须为正的整数（分）",
    )
    METHOD_FIXED = (
        "method_fixed_at_publication",
        409,
        "The evaluation method, criteria and control price are fixed once the tender is "
        "published (T16)",
        "招标文件发布后，评标办法、评分因素及权重和最高投标限价不得更改",
    )
    # -- starting -------------------------------------------------------------------------
    TENDER_NOT_OPENED = (
        "tender_not_opened",
        409,
        "The evaluation starts only after the opening",
        "开标完成后方可开始评标",
    )
    PANEL_NOT_SEATED = (
        "panel_not_seated",
        409,
        "No panel drawn for this tender has a seated member who can log in yet",
        "本项目评标委员会尚未抽取并就座",
    )
    EVALUATION_EXISTS = (
        "evaluation_exists",
        409,
        "The evaluation of this tender has started already",
        "本项目评标已经开始",
    )
    EVALUATION_NOT_STARTED = (
        "evaluation_not_started",
        409,
        "The evaluation of this tender has not started",
        "本项目尚未开始评标",
    )
    # -- members and sheets ---------------------------------------------------------------
    NOT_A_MEMBER = (
        "not_a_member",
        403,
        "Only a seated member of this tender's panel may do this",
        "只有本项目评标委员会的在席成员可以进行此操作",
    )
    MEMBER_REPLACED = (
        "member_replaced",
        403,
        "You were replaced on this panel: your sheets are void (T19)",
        "您已被替换，您的评分无效",
    )
    NOT_EVALUATING = (
        "not_evaluating",
        409,
        "Sheets, findings and clarifications are taken only while the evaluation is open "
        "(not after the report)",
        "评标报告生成后不再接受评分表、低于成本认定或澄清",
    )
    SHEET_INVALID = (
        "sheet_invalid",
        422,
        "The score sheet is incomplete or malformed",
        "评分表不完整或格式有误",
    )
    POINTS_ABOVE_MAXIMUM = (
        "points_above_maximum",
        422,
        "Points above a criterion's maximum (or below 0, or more than two decimals)",
        "评分超出该评分因素的满分（或为负数、或超过两位小数）",
    )
    NO_SIGNING_KEY = (
        "no_signing_key",
        422,
        "Register your Ed25519 public key (POST /api/v1/me/keys) before signing",
        "请先登记您的 Ed25519 公钥（POST /api/v1/me/keys）再签名",
    )
    BAD_SIGNATURE = (
        "evaluation_signature_invalid",
        422,
        "The signature does not verify with your registered key over this document",
        "签名无法用您登记的公钥对该文件验证",
    )
    STALE_REVISION = (
        "stale_sheet_revision",
        409,
        "A sheet's revision must be one more than your last sheet's",
        "评分表的修订号须为上一次的修订号加一",
    )
    UNKNOWN_BID = (
        "bid_not_under_evaluation",
        422,
        "This bid is not one of the opened bids under evaluation",
        "该投标不在评审范围内",
    )
    NOT_FLAGGED_BELOW_COST = (
        "not_flagged_below_cost",
        422,
        "This bid is not flagged as possibly below cost",
        "该投标未被标记为可能低于成本",
    )
    FINDING_MISSING = (
        "below_cost_finding_missing",
        409,
        "A bid flagged as possibly below cost needs the panel's finding before ranking (W5)",
        "被标记为可能低于成本的投标，须评标委员会作出认定后方可排序",
    )
    SHEETS_MISSING = (
        "sheets_missing",
        409,
        "Every seated member must hand in a sheet before the report",
        "所有在席成员提交评分表后方可生成评标报告",
    )
    CLARIFICATION_CHANGES_PRICE = (
        "clarification_changes_price",
        422,
        "A clarification may not change the price or the substance of the bid (IR 52)",
        "澄清、说明不得改变投标报价或投标文件的实质性内容（实施条例第五十二条）",
    )
    CLARIFICATION_ANSWERED = (
        "clarification_answered",
        409,
        "This clarification has been answered already",
        "该澄清已答复",
    )
    NOT_YOUR_BID = (
        "not_your_bid",
        403,
        "Only the bidder asked may answer this clarification",
        "只有被要求澄清的投标人可以答复",
    )
    # -- the report -----------------------------------------------------------------------
    NOT_REPORTED = (
        "report_not_generated",
        409,
        "There is no report to sign yet (or it is concluded)",
        "尚无待签署的评标报告（或已办结）",
    )
    ALREADY_SIGNED = (
        "report_already_signed",
        409,
        "You have signed this report already",
        "您已签署该报告",
    )
    REPORT_MISMATCH = (
        "report_mismatch",
        422,
        "The signature names another report (fetch the report and sign its sha256)",
        "签名所指的报告不符（请取回报告并对其 sha256 签名）",
    )
    NOT_CONCLUDED = (
        "evaluation_not_concluded",
        409,
        "The evaluation record is exported once the report is concluded",
        "评标报告办结后方可导出评标记录",
    )


class EvaluationRejected(Rejected):
    """A rule of the evaluation refused the command; nothing changed."""

    reason: EvalReason

    def __init__(
        self,
        reason: EvalReason,
        detail_en: str = "",
        detail_zh: str = "",
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(reason, detail_en, detail_zh, details=details)
