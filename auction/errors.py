"""Errors of the live auctions.

Tree (the roots live in ``trading.errors``)::

    DomainError
    ├── Rejected
    │   ├── AuctionRejected(reason: AuctionReason)   a rule refused a command; nothing changed
    │   └── StreamRejected(reason: StreamReason)     the websocket gateway refused a frame
    ├── CorruptLog                                   a lot's log does not replay (a bug or tampering)
    └── EngineUnavailable                            the log could not be written; retry, same id

Every refusal has its own stable code, so a bidder's client can say exactly what to fix.
The precedence in which the rules check them is stated in ``auction.rules`` (lots) and
``auction.quota`` (quota plates).
"""

from __future__ import annotations

from typing import Any

from trading.errors import DomainError, Reason, Rejected

__all__ = [
    "AuctionReason",
    "AuctionRejected",
    "CorruptLog",
    "EngineUnavailable",
    "StreamReason",
    "StreamRejected",
]


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
    SEED_MISMATCH = (
        "seed_mismatch",
        422,
        "The lottery seed does not match the commitment published before bidding",
        "摇号种子与竞价开始前公布的承诺值不符",
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
    # -- the engine (not a rule of the lot, but an answer a bidder must be able to read) ----
    BID_ID_REUSED = (
        "bid_id_reused",
        409,
        "This bid id was already used for a different bid; choose a new id",
        "该出价编号已用于另一笔出价，请使用新的编号",
    )


class StreamReason(Reason):
    """Why the websocket gateway refused a frame. The connection and the lot go on."""

    MALFORMED_FRAME = (
        "malformed_frame",
        400,
        "The frame is not a JSON object of at most the allowed size",
        "消息不是合法的 JSON 对象或超过长度限制",
    )
    BINARY_FRAME = (
        "binary_frame",
        400,
        "Send text frames holding JSON",
        "请发送 JSON 文本消息",
    )
    UNKNOWN_OP = (
        "unknown_op",
        400,
        "Unknown operation",
        "未知的操作",
    )
    BAD_FIELD = (
        "bad_field",
        422,
        "A field of the frame is missing or of the wrong type",
        "消息字段缺失或类型错误",
    )
    UNAUTHENTICATED = (
        "unauthenticated",
        401,
        "Authenticate first with a bearer token",
        "请先使用令牌认证",
    )
    INVALID_TOKEN = (
        "invalid_token",
        401,
        "The token is not valid or has expired",
        "令牌无效或已过期",
    )
    ALREADY_AUTHENTICATED = (
        "already_authenticated",
        409,
        "This connection is already authenticated",
        "该连接已认证",
    )
    ROLE_CANNOT_BID = (
        "role_cannot_bid",
        403,
        "Only bidders bid",
        "只有竞买人可以出价",
    )
    LOT_NOT_FOUND = (
        "lot_not_found",
        404,
        "No such lot",
        "标的不存在",
    )
    NOT_SUBSCRIBED = (
        "not_subscribed",
        409,
        "Subscribe to the lot before bidding on it",
        "请先订阅该标的再出价",
    )
    TOO_MANY_SUBSCRIPTIONS = (
        "too_many_subscriptions",
        429,
        "Too many lots on one connection",
        "单个连接订阅的标的过多",
    )
    RATE_LIMITED = (
        "rate_limited",
        429,
        "Too many frames; slow down",
        "发送过于频繁，请稍后再试",
    )
    TOO_MANY_IN_FLIGHT = (
        "too_many_in_flight",
        429,
        "Too many bids awaiting an answer on this connection",
        "该连接等待应答的出价过多",
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


class StreamRejected(Rejected):
    """The gateway refused a frame (malformed, unknown, unauthenticated, rate-limited)."""

    reason: StreamReason

    def __init__(
        self,
        reason: StreamReason,
        detail_en: str = "",
        detail_zh: str = "",
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(reason, detail_en, detail_zh, details=details)


class EngineUnavailable(DomainError):
    """The lot's log could not be written (the database is unreachable, or the lot is being
    reloaded after a failed write). Nothing was acknowledged: send the command again with
    the same bid id; if it had in fact been recorded, the answer is the first one."""

    code = "engine_unavailable"
    status_hint = 503

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "The bid could not be recorded just now; send it again with the same bid id"
            + (f" ({detail})" if detail else ""),
            "出价暂时无法记录，请使用相同的出价编号重新提交",
        )
