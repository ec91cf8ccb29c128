"""An expert as staff enter it, and as the pool shows it — pure checks and conversions.

``ExpertInput`` is what the CSV import and the staff API both produce: everything about one
expert, the identity card number in clear (it is encrypted by the service before it
reaches the database and never leaves it again). ``check_expert`` returns every problem
with it, each naming its field, never just the first. ``PoolEntry`` is the stored expert as
the API shows it: the pure ``Expert`` the draw works on, plus contact details and
bookkeeping; the identity number only masked.

Organisations (employer, ties) are named by an organisation code: the unified social
credit code (统一社会信用代码) where the organisation has one, so ties to organisations not
registered on the platform are declared the same way; the draw matches them against the
codes of the tenderee, the bidders and the supervising departments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from experts.model.ids import is_valid_id, is_valid_id_number, mask_id_number
from experts.model.pool import Expert, ExpertStatus, Relation, RelationKind, Sanction, SanctionKind
from experts.model.specialties import SpecialtyCode
from trading.errors import Rejected

__all__ = [
    "GENERATED_ID_PREFIX",
    "ExpertInput",
    "FieldProblem",
    "PoolEntry",
    "RelationInput",
    "SanctionInput",
    "check_expert",
    "expert_from_row",
    "relations_json",
    "sanctions_json",
]

GENERATED_ID_PREFIX = "EXP-"  # ids the service makes; an imported id may not start so
MAX_SPECIALTIES = 10
MAX_TIES = 50
MAX_UNAVAILABLE = 366
_PHONE = re.compile(r"\+?[0-9]{5,20}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}")
_REGION = re.compile(r"[0-9A-Za-z]{1,20}")


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One problem with one field of one expert: ``code`` is stable, messages say what to fix."""

    field: str
    code: str
    message_en: str
    message_zh: str

    def as_dict(self) -> dict[str, str]:
        return {
            "field": self.field,
            "code": self.code,
            "message_en": self.message_en,
            "message_zh": self.message_zh,
        }


@dataclass(frozen=True, slots=True)
class RelationInput:
    kind: str
    org: str
    org_name: str = ""
    start: date | None = None
    end: date | None = None
    relative_name: str = ""
    relationship: str = ""


@dataclass(frozen=True, slots=True)
class SanctionInput:
    kind: str
    start: date
    end: date | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class ExpertInput:
    name: str
    id_number: str
    specialties: tuple[str, ...]
    region: str
    expert_id: str | None = None
    employer_code: str | None = None
    employer_name: str = ""
    title: str = ""
    experience_years: int = 0
    status: str = "active"
    suspended_until: date | None = None
    unavailable_dates: tuple[date, ...] = ()
    relations: tuple[RelationInput, ...] = ()
    sanctions: tuple[SanctionInput, ...] = ()
    phone: str = ""
    email: str = ""
    language: str = "zh"
    user_id: int | None = None

    def __repr__(self) -> str:  # never print the identity number
        return f"ExpertInput(expert_id={self.expert_id!r}, name={self.name!r}, id_number=<hidden>)"

    @property
    def codes(self) -> tuple[SpecialtyCode, ...]:
        """The specialty codes, parsed and de-duplicated in order (call after a clean check)."""
        seen: dict[str, SpecialtyCode] = {}
        for text in self.specialties:
            c = SpecialtyCode.parse(text)
            seen.setdefault(c.code, c)
        return tuple(seen.values())


def _p(field_: str, code: str, en: str, zh: str) -> FieldProblem:
    return FieldProblem(field_, code, en, zh)


def check_expert(
    e: ExpertInput, known_codes: Set[str], *, generated_id: bool = False
) -> list[FieldProblem]:
    """Every problem with ``e``; empty when it may enter the pool.

    ``known_codes`` is the classification (a code not in it is ``unknown_specialty``);
    ``generated_id`` says the service will make the id (then ``expert_id`` may be empty).
    """
    out: list[FieldProblem] = []
    if e.expert_id is None or e.expert_id == "":
        if not generated_id:
            out.append(_p("expert_id", "missing", "the expert id is missing", "缺少专家编号"))
    elif not is_valid_id(e.expert_id):
        out.append(
            _p(
                "expert_id",
                "invalid_expert_id",
                "use 1 to 64 letters, digits and . _ : - (starting with a letter or digit)",
                "专家编号须为1至64位字母、数字及 . _ : -，以字母或数字开头",
            )
        )
    elif e.expert_id.startswith(GENERATED_ID_PREFIX):
        out.append(
            _p(
                "expert_id",
                "reserved_expert_id",
                f"ids starting with {GENERATED_ID_PREFIX} are made by the system; leave it empty",
                f"以 {GENERATED_ID_PREFIX} 开头的编号由系统生成，请留空",
            )
        )
    if not e.name.strip() or len(e.name) > 100:
        out.append(
            _p(
                "name",
                "invalid_name",
                "the name must be 1 to 100 characters",
                "姓名须为1至100个字符",
            )
        )
    if not is_valid_id_number(e.id_number.strip()):
        out.append(
            _p(
                "id_number",
                "invalid_id_number",
                "not a valid 18-character resident identity card number (check character wrong?)",
                "不是有效的18位居民身份证号码（校验码是否有误？）",
            )
        )
    if not e.specialties:
        out.append(
            _p(
                "specialties",
                "missing",
                "at least one specialty code is needed",
                "至少需要一个专业代码",
            )
        )
    if len(e.specialties) > MAX_SPECIALTIES:
        out.append(
            _p(
                "specialties",
                "too_many",
                f"at most {MAX_SPECIALTIES} specialty codes",
                f"专业代码最多{MAX_SPECIALTIES}个",
            )
        )
    for text in e.specialties:
        try:
            code = SpecialtyCode.parse(text)
        except Rejected:
            out.append(
                _p(
                    "specialties",
                    "invalid_specialty_code",
                    f"{text!r} is not a code like A080301 (a letter, then up to three two-digit levels)",
                    f"{text!r} 不是形如 A080301 的代码（一个字母加至多三级两位数字）",
                )
            )
            continue
        if code.code not in known_codes:
            out.append(
                _p(
                    "specialties",
                    "unknown_specialty",
                    f"{code.code} is not in the specialty classification",
                    f"专业分类中没有 {code.code}",
                )
            )
    if not _REGION.fullmatch(e.region or ""):
        out.append(
            _p(
                "region",
                "invalid_region",
                "the region code is missing or malformed (e.g. 330500)",
                "地区代码缺失或格式错误（如 330500）",
            )
        )
    if e.employer_code is not None and e.employer_code != "" and not is_valid_id(e.employer_code):
        out.append(
            _p(
                "employer_code",
                "invalid_org_code",
                "the employer's code must be its unified social credit code or another id",
                "工作单位代码须为统一社会信用代码或其他标识",
            )
        )
    if len(e.employer_name) > 200:
        out.append(_p("employer_name", "too_long", "at most 200 characters", "最多200个字符"))
    if len(e.title) > 60:
        out.append(_p("title", "too_long", "at most 60 characters", "最多60个字符"))
    if not 0 <= e.experience_years <= 80:
        out.append(
            _p(
                "experience_years",
                "out_of_range",
                "years of experience must be 0 to 80",
                "从业年限须为0至80",
            )
        )
    try:
        status = ExpertStatus(e.status)
    except ValueError:
        out.append(
            _p(
                "status",
                "invalid_status",
                "status must be active, suspended or retired",
                "状态须为 active、suspended 或 retired",
            )
        )
    else:
        if status is not ExpertStatus.SUSPENDED and e.suspended_until is not None:
            out.append(
                _p(
                    "suspended_until",
                    "not_suspended",
                    "suspended_until is only for a suspended expert",
                    "仅暂停状态的专家可填写暂停截止日期",
                )
            )
    if len(e.unavailable_dates) > MAX_UNAVAILABLE:
        out.append(
            _p(
                "unavailable_dates",
                "too_many",
                f"at most {MAX_UNAVAILABLE} dates",
                f"最多{MAX_UNAVAILABLE}个日期",
            )
        )
    if len(e.relations) > MAX_TIES:
        out.append(_p("relations", "too_many", f"at most {MAX_TIES} ties", f"最多{MAX_TIES}项关系"))
    kinds = {k.value for k in RelationKind}
    for i, r in enumerate(e.relations):
        where = f"relations[{i}]"
        if r.kind not in kinds:
            out.append(
                _p(
                    where,
                    "invalid_relation_kind",
                    f"kind must be one of {', '.join(sorted(kinds))}",
                    f"关系类型须为 {', '.join(sorted(kinds))} 之一",
                )
            )
        if not is_valid_id(r.org):
            out.append(
                _p(
                    where,
                    "invalid_org_code",
                    "the organisation code is missing or malformed",
                    "单位代码缺失或格式错误",
                )
            )
        if r.start is not None and r.end is not None and r.end < r.start:
            out.append(
                _p(
                    where,
                    "end_before_start",
                    "the tie ends before it starts",
                    "关系结束日期早于开始日期",
                )
            )
        if max(len(r.org_name), len(r.relative_name), len(r.relationship)) > 200:
            out.append(
                _p(where, "too_long", "at most 200 characters per text", "每项文字最多200个字符")
            )
    skinds = {k.value for k in SanctionKind}
    if len(e.sanctions) > MAX_TIES:
        out.append(
            _p("sanctions", "too_many", f"at most {MAX_TIES} sanctions", f"最多{MAX_TIES}项处罚")
        )
    for i, s in enumerate(e.sanctions):
        where = f"sanctions[{i}]"
        if s.kind not in skinds:
            out.append(
                _p(
                    where,
                    "invalid_sanction_kind",
                    f"kind must be one of {', '.join(sorted(skinds))}",
                    f"处罚类型须为 {', '.join(sorted(skinds))} 之一",
                )
            )
        if s.end is not None and s.end < s.start:
            out.append(
                _p(
                    where,
                    "end_before_start",
                    "the sanction ends before it starts",
                    "处罚结束日期早于开始日期",
                )
            )
        if len(s.note) > 500:
            out.append(_p(where, "too_long", "at most 500 characters", "最多500个字符"))
    if e.phone and not _PHONE.fullmatch(e.phone):
        out.append(
            _p(
                "phone",
                "invalid_phone",
                "the phone number must be digits, optionally with a leading +",
                "电话号码须为数字，可带前导 +",
            )
        )
    if e.email and not _EMAIL.fullmatch(e.email):
        out.append(_p("email", "invalid_email", "not an e-mail address", "不是有效的电子邮箱地址"))
    if e.language not in ("zh", "en"):
        out.append(
            _p("language", "invalid_language", "language must be zh or en", "语言须为 zh 或 en")
        )
    return out


# --- stored form -------------------------------------------------------------------------


def relations_json(relations: Iterable[RelationInput]) -> list[dict[str, Any]]:
    return [
        {
            "kind": r.kind,
            "org": r.org,
            "org_name": r.org_name,
            "start": None if r.start is None else r.start.isoformat(),
            "end": None if r.end is None else r.end.isoformat(),
            "relative_name": r.relative_name,
            "relationship": r.relationship,
        }
        for r in relations
    ]


def sanctions_json(sanctions: Iterable[SanctionInput]) -> list[dict[str, Any]]:
    return [
        {
            "kind": s.kind,
            "start": s.start.isoformat(),
            "end": None if s.end is None else s.end.isoformat(),
            "note": s.note,
        }
        for s in sanctions
    ]


def _d(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _relation(d: Mapping[str, Any]) -> Relation:
    return Relation(
        RelationKind(d["kind"]),
        d["org"],
        _d(d.get("start")),
        _d(d.get("end")),
        d.get("relative_name", ""),
        d.get("relationship", ""),
    )


def _sanction(d: Mapping[str, Any]) -> Sanction:
    return Sanction(
        SanctionKind(d["kind"]), date.fromisoformat(d["start"]), _d(d.get("end")), d.get("note", "")
    )


def expert_from_row(
    expert_id: str,
    name: str,
    masked: str,
    employer_code: str | None,
    specialties: Iterable[str],
    region: str,
    title: str,
    experience_years: int,
    status: str,
    suspended_until: date | None,
    unavailable_dates: Iterable[date],
    relations: Iterable[Mapping[str, Any]],
    sanctions: Iterable[Mapping[str, Any]],
    code_cache: dict[str, SpecialtyCode] | None = None,
) -> Expert:
    """The pure ``Expert`` of a stored row (relations and sanctions as stored JSON).
    ``code_cache`` shares one ``SpecialtyCode`` per code across many rows."""
    if code_cache is None:
        codes = tuple(SpecialtyCode(c) for c in specialties)
    else:
        codes = tuple(
            code_cache.get(c) or code_cache.setdefault(c, SpecialtyCode(c)) for c in specialties
        )
    return Expert(
        expert_id=expert_id,
        name=name,
        id_number_masked=masked,
        employer_org_id=employer_code,
        specialties=codes,
        region=region,
        title=title,
        experience_years=experience_years,
        status=ExpertStatus(status),
        suspended_until=suspended_until,
        unavailable_dates=frozenset(unavailable_dates),
        relations=tuple(_relation(r) for r in relations),
        sanctions=tuple(_sanction(s) for s in sanctions),
    )


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """A stored expert as staff see it (the identity number masked)."""

    expert: Expert
    employer_name: str
    phone: str
    email: str
    language: str
    user_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime
    relations_json: list[dict[str, Any]] = field(default_factory=list)
    sanctions_json: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        e = self.expert
        return {
            "expert_id": e.expert_id,
            "name": e.name,
            "id_number_masked": e.id_number_masked,
            "employer_code": e.employer_org_id,
            "employer_name": self.employer_name,
            "specialties": [c.code for c in e.specialties],
            "region": e.region,
            "title": e.title,
            "experience_years": e.experience_years,
            "status": e.status.value,
            "suspended_until": e.suspended_until,
            "unavailable_dates": sorted(e.unavailable_dates),
            "relations": self.relations_json,
            "sanctions": self.sanctions_json,
            "phone": self.phone,
            "email": self.email,
            "language": self.language,
            "user_id": self.user_id,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def masked(id_number: str) -> str:
    return mask_id_number(id_number.strip().upper())
