"""Why the expert package refuses a request.

Tree::

    trading.errors.DomainError
    └── Rejected(ExpertReason.X)     every refusal below; ``details['errors']`` lists every
                                     problem found when there were several

Rules that check many things at once (a draw request's composition, its specialty codes,
whether enough experts are eligible) return a list of ``Problem`` values instead of
raising on the first; ``reject_all`` turns a non-empty list into one ``Rejected`` whose
reason is the first problem's and whose ``details['errors']`` holds all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from trading.errors import Reason, Rejected

__all__ = ["ExpertReason", "Problem", "reject_all"]


class ExpertReason(Reason):
    """Closed set of refusals of the expert pool and the panel draw."""

    COMMITTEE_EVEN = (
        "committee_even",
        422,
        "The evaluation committee must have an odd number of members",
        "评标委员会成员人数应为单数",
    )
    COMMITTEE_TOO_SMALL = (
        "committee_too_small",
        422,
        "The evaluation committee has too few members",
        "评标委员会成员人数不足",
    )
    EXPERTS_BELOW_TWO_THIRDS = (
        "experts_below_two_thirds",
        422,
        "Technical and economic experts must be at least two thirds of the committee",
        "技术、经济等方面的专家不得少于成员总数的三分之二",
    )
    INVALID_REQUEST = (
        "invalid_draw_request",
        422,
        "The draw request is not well formed",
        "抽取申请格式不正确",
    )
    DUPLICATE_DEMAND = (
        "duplicate_demand",
        422,
        "The same specialty and region rule is requested twice",
        "同一专业和地区规则重复申请",
    )
    INVALID_SPECIALTY_CODE = (
        "invalid_specialty_code",
        422,
        "Not a specialty code of the four-level classification",
        "不是四级专业分类代码",
    )
    UNKNOWN_SPECIALTY = (
        "unknown_specialty",
        422,
        "The specialty code is not in the classification",
        "专业分类中没有该专业代码",
    )
    INVALID_REGION_RULE = (
        "invalid_region_rule",
        422,
        "The region rule is not consistent",
        "地区规则不一致",
    )
    NOT_ENOUGH_ELIGIBLE = (
        "not_enough_eligible",
        422,
        "Not enough eligible experts for a requested specialty",
        "该专业符合条件的专家人数不足",
    )
    POOL_EXHAUSTED = (
        "pool_exhausted",
        409,
        "No replacement is left in the drawn order; a supplementary draw is needed",
        "抽取顺序中已无候补专家，需要补充抽取",
    )
    INVALID_EXPERT_ID = (
        "invalid_expert_id",
        422,
        "An expert or organisation id is not well formed",
        "专家或单位标识格式不正确",
    )
    INVALID_ID_NUMBER = (
        "invalid_id_number",
        422,
        "Not a valid resident identity card number",
        "居民身份证号码无效",
    )
    INVALID_SEED = (
        "invalid_seed",
        422,
        "The secret seed must be 32 bytes; its commitment 64 hex digits",
        "秘密种子须为32字节，其承诺值须为64位十六进制",
    )
    BEACON_REQUIRED = (
        "beacon_required",
        409,
        "The draw record names a public beacon round; its value is needed to run the draw",
        "抽取记录指定了公开随机信标轮次，需提供其值方可抽取",
    )
    BEACON_UNEXPECTED = (
        "beacon_unexpected",
        422,
        "The draw record names no beacon round, yet a beacon value was supplied",
        "抽取记录未指定随机信标，却提供了信标值",
    )
    UNSUPPORTED_ALGORITHM = (
        "unsupported_algorithm",
        422,
        "The draw record uses an algorithm version this server does not implement",
        "抽取记录使用的算法版本本系统不支持",
    )
    INVALID_RECORD = (
        "invalid_draw_record",
        422,
        "The draw record is not consistent",
        "抽取记录内容不一致",
    )
    # --- the pool (service) ---------------------------------------------------------------
    EXPERT_NOT_FOUND = (
        "expert_not_found",
        404,
        "There is no such expert in the pool",
        "专家库中无此专家",
    )
    EXPERT_EXISTS = (
        "expert_exists",
        409,
        "An expert with this id is already in the pool",
        "专家库中已有该编号的专家",
    )
    ID_NUMBER_TAKEN = (
        "id_number_taken",
        409,
        "An expert with this identity card number is already in the pool",
        "专家库中已有该身份证号码的专家",
    )
    INVALID_EXPERT = (
        "invalid_expert",
        422,
        "The expert's data is not valid",
        "专家信息无效",
    )
    IMPORT_REJECTED = (
        "import_rejected",
        422,
        "The import file has bad rows; nothing was imported — fix every row listed and send it again",
        "导入文件存在错误行，未导入任何数据；请修正所列各行后重新提交",
    )
    IMPORT_TOO_LARGE = (
        "import_too_large",
        413,
        "The import file is larger than the limit",
        "导入文件超过大小上限",
    )
    VERSION_CONFLICT = (
        "version_conflict",
        409,
        "The record was changed by someone else; reload it and apply your change again",
        "记录已被他人修改，请重新加载后再修改",
    )
    USER_NOT_EXPERT = (
        "user_not_expert",
        422,
        "Only a user with the expert role can be linked to a pool record",
        "只有专家角色的用户可以关联专家库记录",
    )
    USER_ALREADY_LINKED = (
        "user_already_linked",
        409,
        "This user is already linked to another expert",
        "该用户已关联其他专家",
    )
    UNKNOWN_ORGANISATION = (
        "unknown_organisation",
        422,
        "An organisation named in the request is not registered",
        "申请中的单位未登记",
    )
    # --- draws and summons -------------------------------------------------------------
    DRAW_NOT_FOUND = ("draw_not_found", 404, "There is no such draw", "无此抽取记录")
    WRONG_DRAW_STATE = (
        "wrong_draw_state",
        409,
        "The draw is not in a state that allows this",
        "抽取当前状态不允许此操作",
    )
    NOT_DRAW_OWNER = (
        "not_draw_owner",
        403,
        "Only the staff member who requested the draw may do this",
        "只有申请该抽取的工作人员可以执行此操作",
    )
    PANEL_SECRET = (
        "panel_secret",
        403,
        "The panel list is secret until the result is fixed (BL 37)",
        "评标委员会成员名单在结果确定前保密（招标投标法第三十七条）",
    )
    DRAW_NOT_FIXED = (
        "draw_not_fixed",
        409,
        "The secret seed is revealed only after the result is fixed; verify then",
        "结果确定后才公开秘密种子，届时方可验证",
    )
    SEAT_NOT_FOUND = ("seat_not_found", 404, "No one was called to that seat", "该席位无人被通知")
    SUMMONS_NOT_FOUND = (
        "summons_not_found",
        404,
        "There is no such summons; check the link",
        "无此通知，请检查链接",
    )
    TOKEN_USED = (
        "token_used",
        409,
        "This link has already been used to answer; it works only once",
        "该链接已用于答复，只能使用一次",
    )
    SUMMONS_CLOSED = (
        "summons_closed",
        409,
        "This summons can no longer be answered",
        "该通知已不能答复",
    )
    NOT_SUMMONED = (
        "not_summoned",
        403,
        "You were not summoned for this; only the summoned expert may answer",
        "您未被通知参加，只有被通知的专家可以答复",
    )
    NOT_IN_POOL = (
        "not_in_pool",
        403,
        "Your user account is not linked to an expert in the pool",
        "您的账号未关联专家库中的专家",
    )


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found by a checking rule; ``data`` holds machine-readable specifics."""

    reason: ExpertReason
    detail_en: str = ""
    detail_zh: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.reason.code,
            "message_en": self.reason.message_en
            + (f": {self.detail_en}" if self.detail_en else ""),
            "message_zh": self.reason.message_zh
            + (f"：{self.detail_zh or self.detail_en}" if self.detail_zh or self.detail_en else ""),
            **({"data": self.data} if self.data else {}),
        }

    def rejected(self) -> Rejected:
        return Rejected(
            self.reason,
            self.detail_en,
            self.detail_zh,
            details={"errors": [self.as_dict()], **self.data},
        )


def reject_all(problems: Sequence[Problem]) -> NoReturn:
    """Raise one ``Rejected`` for a non-empty list of problems (the first gives the code)."""
    assert problems, "reject_all needs at least one problem"
    first = problems[0]
    raise Rejected(
        first.reason,
        first.detail_en,
        first.detail_zh,
        details={"errors": [p.as_dict() for p in problems], **first.data},
    )
