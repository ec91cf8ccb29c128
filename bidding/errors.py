"""Errors of sealed tendering.

Tree (the roots live in ``trading.errors``)::

    DomainError
    ├── Rejected
    │   └── BidRejected(reason: BidReason)    a rule refused a command; nothing changed
    └── NotFound                              tender, document, bid or record unknown

Every refusal has its own stable code (``BidReason``), an HTTP status, and a message in
English and Simplified Chinese that says what to fix. Envelope problems found by the
``crypto`` inspector while a bid streams in are mapped one to one onto reasons here
(:func:`envelope_rejected`), so a bidder's client gets ``truncated_envelope`` or
``wrong_recipient`` rather than a generic 400.
"""

from __future__ import annotations

from typing import Any

from crypto.errors import EnvelopeCode, EnvelopeError
from trading.errors import NotFound, Reason, Rejected

__all__ = [
    "BidReason",
    "BidRejected",
    "envelope_rejected",
    "not_found",
]


class BidReason(Reason):
    """Why sealed tendering refused a command. Closed set: add a member, never reuse a code."""

    # -- the tender as drafted (T14, T1, T9) ----------------------------------------------
    DEPOSIT_OVER_TWO_PERCENT = (
        "deposit_over_two_percent",
        422,
        "The bid deposit may be at most 2 % of the estimated price (IR 26)",
        "投标保证金不得超过招标项目估算价的 2%（实施条例第二十六条）",
    )
    DEPOSIT_OVER_WORKS_CAP = (
        "deposit_over_works_cap",
        422,
        "The bid deposit of a works tender is above the configured cap",
        "工程招标的投标保证金超过规定上限",
    )
    OPENING_BEFORE_DEADLINE = (
        "opening_before_deadline",
        422,
        "The opening time must not be before the bid deadline",
        "开标时间不得早于投标截止时间",
    )
    DEADLINE_NOT_IN_FUTURE = (
        "deadline_not_in_future",
        422,
        "The bid deadline must be in the future",
        "投标截止时间必须晚于当前时间",
    )
    MIN_PERIOD_BELOW_STATUTORY = (
        "min_period_below_statutory",
        422,
        "The minimum bidding period may not be shorter than the procedure's statutory minimum",
        "最短投标期限不得短于该招标方式的法定最短期限",
    )
    MIN_BIDDERS_BELOW_THREE = (
        "min_bidders_below_three",
        422,
        "A tender needs at least 3 bidders (BL 28)",
        "投标人不得少于三个（招标投标法第二十八条）",
    )
    BAD_CUSTODIAN_THRESHOLD = (
        "bad_custodian_threshold",
        422,
        "Custodians: need 2 <= k <= n distinct custodians, so that no one person can open",
        "开标密钥保管人须满足 2 <= k <= n 且互不相同，任何一人均不能单独开标",
    )
    CUSTODIAN_USER_INVALID = (
        "custodian_user_invalid",
        422,
        "Each custodian must be an active user with the custodian role",
        "每位开标密钥保管人须为具有保管人角色的有效用户",
    )
    OPENING_MODE_UNSUPPORTED = (
        "opening_mode_unsupported",
        422,
        "This opening mode is not supported yet; use 'custodians'",
        "暂不支持该开标方式，请使用 'custodians'（保管人门限解密）",
    )
    NO_LOTS = (
        "no_lots",
        422,
        "A tender has at least one lot, each with a distinct non-empty name",
        "招标项目至少包含一个标段，且标段名称不得为空或重复",
    )
    INVALID_AMOUNT = (
        "invalid_amount",
        422,
        "Amounts are whole fen: the estimate above 0, the deposit 0 or more, within limits",
        "金额须为整数（分）：估算价大于 0，保证金不小于 0，且在限额内",
    )
    BID_SIZE_LIMIT_INVALID = (
        "bid_size_limit_invalid",
        422,
        "The bid size limit is out of the allowed range",
        "投标文件大小上限超出允许范围",
    )
    TENDER_CODE_TAKEN = (
        "tender_code_taken",
        409,
        "A tender with this code already exists",
        "该招标项目编号已存在",
    )
    # -- the lifecycle --------------------------------------------------------------------
    PERIOD_TOO_SHORT = (
        "period_too_short",
        422,
        "Too little time from publication to the bid deadline (BL 24: at least 20 days)",
        "自招标文件发出之日至投标截止之日的期限过短（招标投标法第二十四条：不少于二十日）",
    )
    NO_TENDER_DOCUMENTS = (
        "no_tender_documents",
        409,
        "Upload the tender documents before publishing",
        "发布前须上传招标文件",
    )
    CUSTODIAN_WITHOUT_KEY = (
        "custodian_without_key",
        409,
        "A custodian has not registered an X25519 key (POST /api/v1/me/keys algorithm=x25519)",
        "有开标密钥保管人尚未登记 X25519 公钥（POST /api/v1/me/keys，algorithm=x25519）",
    )
    TENDER_NOT_DRAFT = (
        "tender_not_draft",
        409,
        "Only a draft tender can be changed this way",
        "仅草稿状态的招标项目可以执行此操作",
    )
    TENDER_NOT_PUBLISHED = (
        "tender_not_published",
        409,
        "The tender is not open for bidding",
        "该招标项目未处于投标阶段",
    )
    TENDER_CANCELLED = (
        "tender_cancelled",
        409,
        "The tender was cancelled",
        "该招标项目已终止",
    )
    DEADLINE_PASSED = (
        "deadline_passed",
        409,
        "The bid deadline has passed",
        "投标截止时间已过",
    )
    NOT_DUE = (
        "not_due",
        409,
        "Its time has not come yet",
        "时间未到",
    )
    WRONG_STATE = (
        "wrong_state",
        409,
        "The tender is not in a state that allows this",
        "招标项目当前状态不允许此操作",
    )
    RETENDER_NEEDS_FAILED_TENDER = (
        "retender_needs_failed_tender",
        409,
        "Only a failed or cancelled tender can be re-tendered",
        "仅流标或终止的招标项目可以重新招标",
    )
    # -- tender documents -----------------------------------------------------------------
    BAD_DOCUMENT_NAME = (
        "bad_document_name",
        422,
        "A document name is 1-200 characters, without '/', '\\' or control characters",
        "文件名须为 1-200 个字符，且不含 '/'、'\\' 或控制字符",
    )
    DOCUMENT_NAME_TAKEN = (
        "document_name_taken",
        409,
        "A document with this name is already attached to the tender",
        "该招标项目已有同名文件",
    )
    DOCUMENT_TOO_LARGE = (
        "document_too_large",
        413,
        "The document is larger than the limit",
        "文件超过大小上限",
    )
    # -- who may bid (T13, A6) ------------------------------------------------------------
    PLATFORM_AFFILIATE = (
        "platform_affiliate_may_not_bid",
        403,
        "The platform operator and its affiliates may not bid (EM 23)",
        "交易平台运营机构及其关联机构不得参与投标（电子招标投标办法第二十三条）",
    )
    NOT_A_BIDDER = (
        "not_a_bidder_organisation",
        403,
        "Only a user of a bidding organisation may register",
        "只有投标单位的用户可以报名",
    )
    NOT_REGISTERED = (
        "not_registered",
        403,
        "Your organisation has not registered for this tender",
        "贵单位未报名参加该招标项目",
    )
    DEPOSIT_NOT_CONFIRMED = (
        "deposit_not_confirmed",
        403,
        "Your bid deposit for this tender is not confirmed",
        "贵单位本项目的投标保证金尚未确认",
    )
    NO_SIGNING_KEY = (
        "no_signing_key",
        403,
        "Register an Ed25519 signing key first (POST /api/v1/me/keys)",
        "请先登记 Ed25519 签名公钥（POST /api/v1/me/keys）",
    )
    # -- the upload (T3, T5, T6) ----------------------------------------------------------
    UNSUPPORTED_MEDIA_TYPE = (
        "unsupported_media_type",
        415,
        "Upload the sealed envelope as application/octet-stream",
        "请以 application/octet-stream 上传密封投标文件",
    )
    NOT_AN_ENVELOPE = (
        "not_an_envelope",
        422,
        "This is not a sealed envelope: seal the bid with 'sunlit bid seal' first",
        "上传的不是密封投标信封：请先用 'sunlit bid seal' 加密",
    )
    UNSUPPORTED_ENVELOPE_VERSION = (
        "unsupported_envelope_version",
        422,
        "The envelope format version is not supported",
        "不支持该信封格式版本",
    )
    UNKNOWN_SUITE = (
        "unknown_suite",
        422,
        "The envelope names an unknown cipher suite or signature scheme",
        "信封使用了未知的密码套件或签名算法",
    )
    MALFORMED_ENVELOPE = (
        "malformed_envelope",
        422,
        "The envelope is malformed",
        "信封格式错误",
    )
    BID_TOO_LARGE = (
        "bid_too_large",
        413,
        "The bid is larger than this tender's size limit",
        "投标文件超过本项目的大小上限",
    )
    HEADER_MISMATCH = (
        "header_mismatch",
        422,
        "The envelope is sealed for another tender or another bidder",
        "信封头中的招标项目或投标人与本次提交不符",
    )
    WRONG_RECIPIENT = (
        "wrong_recipient",
        422,
        "The envelope is not sealed to this tender's opening key",
        "信封不是用本项目的开标公钥加密的",
    )
    CHUNK_OUT_OF_ORDER = (
        "chunk_out_of_order",
        422,
        "The envelope's chunks are missing, repeated or out of order",
        "信封数据块缺失、重复或顺序错误",
    )
    TRUNCATED_ENVELOPE = (
        "truncated_envelope",
        422,
        "The envelope is incomplete; upload the whole file",
        "信封不完整，请上传完整文件",
    )
    BAD_SIGNATURE = (
        "bad_signature",
        422,
        "The envelope is not signed by a key registered to your organisation",
        "信封不是由贵单位登记的密钥签名的",
    )
    ENVELOPE_DECRYPT_FAILED = (
        "envelope_decrypt_failed",
        422,
        "The envelope does not decrypt",
        "信封解密失败",
    )
    UPLOAD_EXPIRED = (
        "upload_expired",
        408,
        "The upload stalled or was interrupted and was discarded; send the whole envelope again",
        "上传停滞过久或被中断，已收到的部分已丢弃，请重新上传完整信封",
    )
    NO_CURRENT_BID = (
        "no_current_bid",
        409,
        "Your organisation has no current bid on this tender",
        "贵单位在本项目没有有效的投标",
    )
    # -- the frozen set (Merkle) ----------------------------------------------------------
    BIDS_NOT_FROZEN = (
        "bids_not_frozen",
        409,
        "The set of bids is frozen at the bid deadline; it is not frozen yet",
        "投标文件集合在投标截止时冻结，目前尚未冻结",
    )
    NOT_IN_FROZEN_SET = (
        "not_in_frozen_set",
        404,
        "Your organisation has no bid in the frozen set",
        "冻结的投标集合中没有贵单位的投标",
    )
    # -- the opening (T8-T11) -------------------------------------------------------------
    OPENING_NOT_STARTED = (
        "opening_not_started",
        409,
        "The opening session has not started: key shares cannot be fetched or handed in yet",
        "开标尚未开始：现在不能获取或提交密钥份额",
    )
    OPENING_COMPLETED = (
        "opening_completed",
        409,
        "The opening is complete; no more key shares are needed",
        "开标已完成，无需再提交密钥份额",
    )
    TENDER_FAILED = (
        "tender_failed",
        409,
        "The tender failed (too few bids); there is no opening",
        "该项目已流标（投标人不足），不再开标",
    )
    NOT_A_CUSTODIAN = (
        "not_a_custodian",
        403,
        "You are not a key custodian of this tender",
        "您不是本项目的开标密钥保管人",
    )
    MALFORMED_SHARE = (
        "malformed_share",
        422,
        "The key share is malformed (expected S1-<k>-<x>-<hex> or base64url bytes)",
        "密钥份额格式错误（应为 S1-<k>-<x>-<十六进制> 或 base64url）",
    )
    SHARE_DOES_NOT_FIT = (
        "share_does_not_fit",
        422,
        "This key share does not belong to this tender's opening key",
        "该密钥份额与本项目的开标密钥不匹配",
    )
    RECORD_NOT_READY = (
        "opening_record_not_ready",
        409,
        "There is no opening record yet",
        "尚无开标记录",
    )
    # -- documents, questions, clarifications, objections (W1, W2) ------------------------
    DEADLINE_TOO_SOON_AFTER_CHANGE = (
        "deadline_too_soon_after_change",
        422,
        "After a clarification or change to the tender documents the bid deadline must be at "
        "least 15 days away (BL 23): give a later deadline, or none to have it moved",
        "澄清或修改招标文件后，投标截止时间须在至少 15 日之后（招标投标法第二十三条）："
        "请给出更晚的截止时间，或不填以自动顺延",
    )
    OBJECTION_TOO_LATE = (
        "objection_too_late",
        409,
        "Objections to the tender documents must be raised at least 10 days before the bid "
        "deadline (IR 22)",
        "对招标文件有异议的，应当在投标截止时间 10 日前提出（实施条例第二十二条）",
    )
    OBJECTION_ALREADY_ANSWERED = (
        "objection_already_answered",
        409,
        "This objection has been answered already",
        "该异议已答复",
    )
    QUESTION_ALREADY_ANSWERED = (
        "question_already_answered",
        409,
        "A question named in the clarification has been answered already",
        "澄清所答复的问题中有已答复的问题",
    )
    DOCUMENT_VERSION_NOT_STAGED = (
        "document_version_not_staged",
        409,
        "A document version named is not a staged, unpublished version of this tender",
        "所列文件版本不是本项目已上传但未发布的版本",
    )


class BidRejected(Rejected):
    """A rule of sealed tendering refused the command; nothing changed."""

    reason: BidReason

    def __init__(
        self,
        reason: BidReason,
        detail_en: str = "",
        detail_zh: str = "",
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(reason, detail_en, detail_zh, details=details)


_ENVELOPE_REASONS: dict[EnvelopeCode, BidReason] = {
    EnvelopeCode.NOT_AN_ENVELOPE: BidReason.NOT_AN_ENVELOPE,
    EnvelopeCode.UNSUPPORTED_VERSION: BidReason.UNSUPPORTED_ENVELOPE_VERSION,
    EnvelopeCode.UNKNOWN_SUITE: BidReason.UNKNOWN_SUITE,
    EnvelopeCode.MALFORMED: BidReason.MALFORMED_ENVELOPE,
    EnvelopeCode.TOO_LARGE: BidReason.BID_TOO_LARGE,
    EnvelopeCode.HEADER_MISMATCH: BidReason.HEADER_MISMATCH,
    EnvelopeCode.WRONG_RECIPIENT: BidReason.WRONG_RECIPIENT,
    EnvelopeCode.CHUNK_OUT_OF_ORDER: BidReason.CHUNK_OUT_OF_ORDER,
    EnvelopeCode.TRUNCATED: BidReason.TRUNCATED_ENVELOPE,
    EnvelopeCode.BAD_SIGNATURE: BidReason.BAD_SIGNATURE,
    EnvelopeCode.DECRYPT_FAILED: BidReason.ENVELOPE_DECRYPT_FAILED,
}


def envelope_rejected(err: EnvelopeError) -> BidRejected:
    """The domain refusal for an envelope the inspector refused."""
    reason = _ENVELOPE_REASONS[err.code]
    return BidRejected(reason, err.detail, err.detail, details={"envelope_code": err.code.code})


def not_found(what: str, what_zh: str, ident: int | str, code: str) -> NotFound:
    return NotFound(f"{what} {ident} not found", f"{what_zh} {ident} 不存在", code=code)
