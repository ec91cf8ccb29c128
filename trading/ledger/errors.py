"""Why the deposit ledger refuses a command.

Tree (the roots live in ``trading.errors``)::

    DomainError
    └── Rejected
        └── LedgerRejected(reason: LedgerReason)   a rule refused the command; nothing changed

Two kinds of answer come out of the ledger, on purpose:

- ``TransferResult`` (in ``trading.ledger.model``) is the low-level, TigerBeetle-style result of
  creating one transfer: a code, never an exception, so a batch can report one per transfer.
  ``reason_for_result`` maps a failed result onto a ``LedgerReason`` when a use case has to
  refuse a whole command because one of its transfers failed.
- ``LedgerRejected`` is what the deposit use cases (receive a notification, refund, forfeit,
  convert…) raise. Codes are stable: add a member, never reuse or rename a code.
"""

from __future__ import annotations

from typing import Any

from trading.errors import Reason, Rejected

__all__ = ["LedgerReason", "LedgerRejected"]


class LedgerReason(Reason):
    """Closed set of refusals of the deposit ledger."""

    # -- malformed input ----------------------------------------------------------------
    AMOUNT_NOT_INTEGER = (
        "amount_not_integer",
        422,
        "The amount must be a whole number of fen (an integer, not a boolean or decimal)",
        "金额必须为整数（分），不能是布尔值或小数",
    )
    AMOUNT_NOT_POSITIVE = (
        "amount_not_positive",
        422,
        "The amount must be greater than zero",
        "金额必须大于零",
    )
    AMOUNT_TOO_LARGE = (
        "amount_too_large",
        422,
        "The amount exceeds the largest amount the ledger accepts",
        "金额超过账簿允许的上限",
    )
    ID_INVALID = (
        "id_invalid",
        422,
        "The id must be 1 to 128 characters of letters, digits and . _ : / -",
        "编号须为1至128个字符，仅限字母、数字及 . _ : / -",
    )
    INVALID_INPUT = (
        "invalid_input",
        422,
        "A value is out of range or of the wrong type",
        "参数超出范围或类型错误",
    )
    # -- transfers ----------------------------------------------------------------------
    ID_REUSED = (
        "id_reused",
        409,
        "This id was already used with different content; choose a new id",
        "该编号已用于内容不同的请求，请使用新编号",
    )
    TRANSFER_REFUSED = (
        "transfer_refused",
        409,
        "The ledger refused the transfer",
        "账簿拒绝了该笔转账",
    )
    INSUFFICIENT_HELD = (
        "insufficient_held",
        409,
        "The amount is more than the account holds",
        "金额超过账户余额",
    )
    ACCOUNT_NOT_FOUND = (
        "account_not_found",
        404,
        "No such ledger account",
        "账簿中无此账户",
    )
    PENDING_ALREADY_RESOLVED = (
        "pending_already_resolved",
        409,
        "The pending transfer was already posted or voided",
        "该待定转账已过账或已撤销",
    )
    # -- bank notifications ---------------------------------------------------------------
    NOTIFICATION_BAD_SIGNATURE = (
        "notification_bad_signature",
        403,
        "The bank notification's signature does not verify",
        "银行到账通知签名验证失败",
    )
    NOTIFICATION_MALFORMED = (
        "notification_malformed",
        422,
        "The bank notification is malformed",
        "银行到账通知格式错误",
    )
    NOTIFICATION_REPLAYED = (
        "notification_replayed",
        409,
        "The bank notification repeats a sequence number already processed",
        "银行通知的序号已处理过（重放）",
    )
    NOTIFICATION_OUT_OF_ORDER = (
        "notification_out_of_order",
        409,
        "The bank notification skips sequence numbers; send the missing ones first",
        "银行通知序号不连续，请先补发缺失的通知",
    )
    NOTIFICATION_CONFLICT = (
        "notification_conflict",
        409,
        "A notification with this bank reference was already received with other content",
        "该银行流水号已收到内容不同的通知",
    )
    # -- deposits -------------------------------------------------------------------------
    PROJECT_NOT_FOUND = (
        "deposit_project_not_found",
        404,
        "No deposit terms are registered for this project",
        "该项目未登记保证金条款",
    )
    PROJECT_CONFLICT = (
        "deposit_project_conflict",
        409,
        "This project's deposit terms were registered with other values",
        "该项目已登记不同的保证金条款",
    )
    DEPOSIT_NOT_FOUND = (
        "deposit_not_found",
        404,
        "No deposit for this bidder and project",
        "该投标人在本项目下无保证金记录",
    )
    DEPOSIT_CONFLICT = (
        "deposit_conflict",
        409,
        "The bidder number or sub-account is already taken in this project",
        "本项目中该投标人序号或子账户已被占用",
    )
    DEPOSIT_NOT_CONFIRMED = (
        "deposit_not_confirmed",
        409,
        "The deposit has not been confirmed",
        "保证金尚未确认到账",
    )
    DEPOSIT_ALREADY_RESOLVED = (
        "deposit_already_resolved",
        409,
        "The deposit is already being refunded, forfeited or converted",
        "保证金已在退还、没收或转为价款的处理中或已处理完毕",
    )
    DEPOSIT_TRANSITION_NOT_ALLOWED = (
        "deposit_transition_not_allowed",
        409,
        "The deposit's state does not allow this",
        "保证金当前状态不允许该操作",
    )
    DEPOSIT_ABOVE_CAP = (
        "deposit_above_cap",
        422,
        "The bid deposit exceeds 2 % of the estimated price or the cap for works",
        "投标保证金超过招标项目估算价的2%或工程项目上限",
    )
    DEPOSIT_BELOW_FLOOR = (
        "deposit_below_floor",
        422,
        "The land deposit is below the required share of the starting price",
        "土地竞买保证金低于起始价规定比例",
    )
    GUARANTEE_NOT_ACCEPTED = (
        "guarantee_not_accepted",
        409,
        "This project accepts cash deposits only",
        "本项目仅接受现金保证金",
    )
    GUARANTEE_INSUFFICIENT = (
        "guarantee_insufficient",
        422,
        "The guarantee's amount or validity does not cover the deposit",
        "保函金额或有效期不满足保证金要求",
    )
    GUARANTEE_IN_USE = (
        "guarantee_in_use",
        409,
        "This guarantee already backs another deposit",
        "该保函已用于其他保证金",
    )
    AFTER_DEADLINE = (
        "deposit_after_deadline",
        409,
        "The deadline for deposits has passed",
        "保证金缴纳截止时间已过",
    )
    # -- refunds, forfeits, conversion ------------------------------------------------------
    REFUND_CAUSE_NOT_APPLICABLE = (
        "refund_cause_not_applicable",
        409,
        "This refund cause does not apply to the deposit",
        "该退还事由不适用于本保证金",
    )
    FORFEIT_REASON_REQUIRED = (
        "forfeit_reason_required",
        422,
        "A forfeiture needs a cause and a written reason",
        "没收保证金须注明事由及书面理由",
    )
    FORFEIT_CAUSE_NOT_APPLICABLE = (
        "forfeit_cause_not_applicable",
        409,
        "This forfeiture cause does not apply to the deposit",
        "该没收事由不适用于本保证金",
    )
    SECOND_APPROVER_REQUIRED = (
        "second_approver_required",
        403,
        "A forfeiture must be approved by a second staff member",
        "没收保证金须经另一名工作人员复核批准",
    )
    CONVERSION_NOT_APPLICABLE = (
        "conversion_not_applicable",
        409,
        "Only an auction winner's cash deposit can be converted into the price",
        "仅拍卖竞得人的现金保证金可转为成交价款",
    )
    PAYOUT_NOT_FOUND = (
        "payout_not_found",
        404,
        "No such refund instruction",
        "无此退款指令",
    )
    PAYOUT_ALREADY_SETTLED = (
        "payout_already_settled",
        409,
        "The refund instruction was already confirmed or rejected by the bank",
        "该退款指令已由银行确认或退回",
    )
    PAYOUT_NOT_VOIDED = (
        "payout_not_voided",
        409,
        "Only a refund instruction the bank rejected can be issued again",
        "仅被银行退回的退款指令可以重新发出",
    )
    SUSPENSE_ITEM_NOT_FOUND = (
        "suspense_item_not_found",
        404,
        "No open suspense item for this bank reference",
        "无此银行流水号对应的待处理款项",
    )
    SUSPENSE_NOT_IN_CNY = (
        "suspense_not_in_cny",
        409,
        "The money is in another currency than CNY: it is not in the CNY books and cannot be "
        "returned through a CNY refund batch; return it with the bank by hand",
        "该款项币种不是人民币，未记入人民币账簿，不能通过人民币退款批次退回；请与银行人工办理退回",
    )
    COMMAND_ID_REUSED = (
        "command_id_reused",
        409,
        "This request id was already used for a different request",
        "该请求编号已用于其他请求",
    )

    def reject(self, detail_en: str = "", detail_zh: str = "", **details: Any) -> LedgerRejected:
        """The error to raise: ``raise LedgerReason.X.reject("…", amount_fen=1)``."""
        return LedgerRejected(self, detail_en, detail_zh, details=details or None)


class LedgerRejected(Rejected):
    """A ledger rule refused the command; nothing changed. ``reason`` is a ``LedgerReason``."""

    reason: LedgerReason

    def __init__(
        self,
        reason: LedgerReason,
        detail_en: str = "",
        detail_zh: str = "",
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(reason, detail_en, detail_zh, details=details)
