"""Exclusions: why an expert who matches a line is left out (回避及不予抽取情形), one row
per expert and reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "Exclusion",
    "ExclusionReason",
]


class ExclusionReason(Enum):
    """Why an expert who matches a line was left out (回避及不予抽取情形).

    Members are ``NAME = (code, label_en, label_zh)``; the code is what records carry.
    """

    TENDEREE_STAFF = ("tenderee_staff", "works for the tenderee", "招标人的工作人员")
    BIDDER_STAFF = ("bidder_staff", "works for a bidder", "投标人的工作人员")
    TENDEREE_RELATIVE = (
        "tenderee_relative",
        "near relative of the tenderee's staff or principal",
        "招标人工作人员或主要负责人的近亲属",
    )
    BIDDER_RELATIVE = (
        "bidder_relative",
        "near relative of a bidder's staff or principal",
        "投标人工作人员或主要负责人的近亲属",
    )
    LABOUR_RELATION = (
        "labour_relation",
        "labour relation with the tenderee or a bidder within the look-back period",
        "近三年内与招标人或投标人存在劳动关系",
    )
    DIRECTOR_RELATION = (
        "director_relation",
        "director, supervisor or manager of the tenderee or a bidder within the look-back period",
        "近三年内担任招标人或投标人的董事、监事或高管",
    )
    CONTROL_RELATION = (
        "control_relation",
        "shareholding or control in the tenderee or a bidder within the look-back period",
        "近三年内与招标人或投标人存在控股或实际控制关系",
    )
    ECONOMIC_INTEREST = (
        "economic_interest",
        "economic interest in the tenderee or a bidder",
        "与招标人或投标人有经济利益关系",
    )
    SUPERVISING_STAFF = (
        "supervising_staff",
        "works for the competent or supervising department",
        "项目主管部门或行政监督部门的人员",
    )
    SUSPENDED = ("suspended", "suspended", "暂停评标资格")
    RETIRED = ("retired", "retired from the pool", "已退出专家库")
    SANCTIONED = ("sanctioned", "under a sanction", "受到处罚或取消资格")
    JUDGMENT_DEFAULTER = ("judgment_defaulter", "judgment defaulter", "失信被执行人")
    UNAVAILABLE = ("unavailable", "declared unavailable on the evaluation day", "评标日期不能参加")
    SAME_TENDEREE_COOLDOWN = (
        "same_tenderee_cooldown",
        "drawn for the same tenderee within the cooldown period",
        "在间隔期内已被抽取参加同一招标人的项目",
    )
    YEARLY_CAP = ("yearly_cap", "reached the yearly draw cap", "已达年度抽取次数上限")
    TENDER_SPECIFIC = ("tender_specific", "excluded by the tender", "招标文件另行规定回避")

    def __init__(self, code: str, label_en: str, label_zh: str) -> None:
        self.code = code
        self.label_en = label_en
        self.label_zh = label_zh

    @classmethod
    def from_code(cls, code: str) -> ExclusionReason:
        for member in cls:
            if member.code == code:
                return member
        raise ValueError(f"unknown exclusion reason {code!r}")


@dataclass(frozen=True, slots=True, order=True)
class Exclusion:
    """One expert left out for one reason; an expert may have several."""

    expert_id: str
    reason_code: str
    detail: str = ""

    @classmethod
    def of(cls, expert_id: str, reason: ExclusionReason, detail: str = "") -> Exclusion:
        return cls(expert_id, reason.code, detail)

    @property
    def reason(self) -> ExclusionReason:
        return ExclusionReason.from_code(self.reason_code)

    def sort_key(self) -> tuple[str, str, str]:
        """The canonical order of exclusion rows (the same as the dataclass order)."""
        return (self.expert_id, self.reason_code, self.detail)

    def to_json(self) -> list[str]:
        return [self.expert_id, self.reason_code, self.detail]

    @classmethod
    def from_json(cls, data: Iterable[str]) -> Exclusion:
        expert_id, code, detail = data
        return cls(expert_id, code, detail)
