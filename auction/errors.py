"""Errors of the live auctions.

Tree (the roots live in ``trading.errors``)::

    DomainError
    ├── Rejected
    │   └── AuctionRejected(reason: AuctionReason)   a rule refused a command; nothing changed
    └── CorruptLog                                   a lot's log does not replay (a bug or tampering)

Every refusal has its own stable code, so a bidder's client can say exactly what to fix.
The precedence in which the rules check them is stated in ``auction.rules`` (lots) and
``auction.quota`` (quota plates).
"""

from __future__ import annotations

from typing import Any

from trading.errors import DomainError, Reason, Rejected

__all__ = ["AuctionReason", "AuctionRejected", "CorruptLog"]


class AuctionReason(Reason):
    """Why the auction rules refused a command. Closed set: add a member, never reuse a code."""

    # -- the command itself is malformed --------------------------------------------------
    BAD_COMMAND = (
        "bad_command",
        422,
        "The command is malformed",
        "指令格式不正确",
    )
    BAD_AMOUNT = (
        "bad_amount",
        422,
        "The amount must be a whole, positive number of fen within limits",
        "金额必须为限额内的正整数（分）",
    )
    # -- who bids -----------------------------------------------------------------------
    NOT_ADMITTED = (
        "not_admitted",
        403,
        "This paddle is not admitted: no confirmed deposit",
        "该竞买号未获竞买资格：保证金未确认",
    )
    SUSPENDED = (
        "suspended",
        403,
        "This bidder is suspended from the lot",
        "该竞买人已被暂停竞买",
    )
    # -- when -----------------------------------------------------------------------------
    NOT_OPEN = (
        "not_open",
        409,
        "The lot is not open for bidding yet",
        "标的尚未开始竞价",
    )
    TOO_EARLY = (
        "too_early",
        409,
        "The lot cannot start before its scheduled time",
        "未到预定开始时间，不能开始",
    )
    PAUSED = (
        "paused",
        409,
        "The lot is paused",
        "竞价已暂停",
    )
    CLOSED = (
        "closed",
        409,
        "Bidding on this lot has ended",
        "该标的竞价已结束",
    )
    LISTING_QUIET = (
        "listing_quiet",
        409,
        "No listing bids in the last period of the listing; bid in the timed phase",
        "挂牌截止前最后时段不接受挂牌报价，请在限时竞价阶段出价",
    )
    WRONG_PHASE = (
        "wrong_phase",
        409,
        "This command is not allowed in the lot's current phase",
        "当前阶段不允许此操作",
    )
    # -- how much -------------------------------------------------------------------------
    ALREADY_HIGHEST = (
        "already_highest",
        409,
        "Your bid is already the highest",
        "您的报价已是最高价",
    )
    BELOW_MINIMUM = (
        "below_minimum",
        409,
        "The bid is below the minimum acceptable price",
        "报价低于最低可接受价",
    )
    NOT_INCREMENT_MULTIPLE = (
        "not_increment_multiple",
        422,
        "The bid must rise by a whole multiple of the increment",
        "加价必须为增价幅度的整数倍",
    )
    OVER_CAP = (
        "over_cap",
        422,
        "The bid is above the price cap",
        "报价超过最高限价",
    )
    # -- price cap (A8) -------------------------------------------------------------------
    CAP_POLICY_MISMATCH = (
        "cap_policy_mismatch",
        409,
        "The lot's price-cap rule decides otherwise",
        "该标的达到最高限价后的确定方式与此操作不符",
    )
    NOT_A_CANDIDATE = (
        "not_a_candidate",
        422,
        "This paddle did not accept the capped price",
        "该竞买号未接受最高限价",
    )
    # -- reserve price (A3, A4) -----------------------------------------------------------
    RESERVE_ALREADY_SEALED = (
        "reserve_already_sealed",
        409,
        "A reserve price is already sealed for this lot",
        "该标的底价已封存",
    )
    RESERVE_MISMATCH = (
        "reserve_mismatch",
        422,
        "The revealed reserve price does not match the sealed commitment",
        "公开的底价与封存的承诺值不符",
    )
    # -- quota plates (A9) ----------------------------------------------------------------
    OVER_WARNING_PRICE = (
        "over_warning_price",
        422,
        "In the first half a bid may not exceed the warning price",
        "首次出价时段报价不得高于警示价",
    )
    ONE_BID_ONLY = (
        "one_bid_only",
        409,
        "Only one bid per bidder in the first half",
        "首次出价时段每人限出价一次",
    )
    TOO_MANY_REVISIONS = (
        "too_many_revisions",
        409,
        "No more revisions allowed",
        "修改出价次数已用完",
    )
    OUTSIDE_WINDOW = (
        "outside_window",
        409,
        "The bid is outside the window around the current lowest winning price",
        "报价超出当前最低可成交价上下浮动范围",
    )


class AuctionRejected(Rejected):
    """A rule of the auction refused the command; the lot's state is unchanged."""

    reason: AuctionReason

    def __init__(
        self,
        reason: AuctionReason,
        detail_en: str = "",
        detail_zh: str = "",
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(reason, detail_en, detail_zh, details=details)


class CorruptLog(DomainError):
    """A lot's log does not replay: a sequence gap, an event that cannot happen in the
    phase it finds. Only a bug or tampering causes this; the engine must not go on."""

    code = "auction_log_corrupt"
    status_hint = 500
