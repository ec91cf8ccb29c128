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
