"""The expert pool and the panel draw: what the domain is.

Identifiers
    Expert, organisation, tender and request ids are short ASCII strings
    (``[A-Za-z0-9][A-Za-z0-9._:-]{0,63}``, e.g. a UUID). They sort by code point, which is
    also their UTF-8 byte order, so any language sorts them the same way.

Specialty codes (专业分类代码, 发改法规〔2018〕316号)
    A path of one to four levels. Level 1 is one capital letter (the category, 门类, e.g.
    ``A`` works, ``B`` goods, ``C`` services); levels 2, 3 and 4 are two decimal digits each.
    The canonical text is the compact national form: ``A``, ``A08``, ``A0803``, ``A080301``.
    The dotted form ``A.08.03.01`` is accepted on input and available as ``.dotted``.
    Because every level below the first has a fixed width, a code is an ancestor of another
    exactly when its compact text is a prefix of the other's; a request for a code matches
    the code itself and all its descendants.

Regions
    Region codes are opaque strings compared for equality (the service normalises them,
    e.g. to the six-digit administrative division code of the city).

Every record is a frozen dataclass; collections are tuples and frozensets. ``to_json``
gives the canonical JSON form (only strings, integers, lists, objects and null; never a
float) that the draw hashes; ``from_json`` reads it back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from enum import Enum
from typing import Any

from experts.errors import ExpertReason
from trading.errors import Rejected

__all__ = [
    "ID_PATTERN",
    "BeaconRef",
    "Difference",
    "DifferenceKind",
    "DrawRecord",
    "DrawRequest",
    "DrawResult",
    "Exclusion",
    "ExclusionReason",
    "Expert",
    "ExpertPool",
    "ExpertStatus",
    "ExtraExclusion",
    "LineDraw",
    "PastDraw",
    "RegionRule",
    "RegionScope",
    "Relation",
    "RelationKind",
    "Sanction",
    "SanctionKind",
    "SpecialtyCode",
    "SpecialtyDemand",
    "VerifyReport",
    "all_valid_ids",
    "is_valid_id",
    "is_valid_id_list",
    "is_valid_id_number",
    "mask_id_number",
]

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
_CODE_COMPACT = re.compile(r"[A-Z](?:[0-9]{2}){0,3}")
_CODE_DOTTED = re.compile(r"[A-Z](?:\.[0-9]{2}){0,3}")
DEFAULT_RESERVE_FACTOR = 2  # replacements kept in order per line, per seat, by default


def is_valid_id(value: object) -> bool:
    """True for an id of the shape every record uses (see the module docstring)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


_ID_LIST = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9._:\-]{0,63})(?:\n[A-Za-z0-9][A-Za-z0-9._:\-]{0,63})*"
)


def all_valid_ids(values: Iterable[str]) -> bool:
    """True when every value is a valid id (one regular-expression pass over all of them)."""
    items = values if isinstance(values, list | tuple) else list(values)
    if not items:
        return True
    try:
        joined = "\n".join(items)
    except TypeError:
        return False
    return is_valid_id_list(joined)


def is_valid_id_list(joined: str) -> bool:
    """True when ``joined`` is one or more valid ids separated by single line feeds."""
    return _ID_LIST.fullmatch(joined) is not None


# --- identity card numbers -------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def is_valid_id_number(id_number: str) -> bool:
    """Resident identity card number (居民身份证号码, GB 11643-1999): 17 digits and an
    ISO 7064 MOD 11-2 check character (a digit or ``X``)."""
    if len(id_number) != 18 or not id_number[:17].isdigit() or not id_number[:17].isascii():
        return False
    total = sum(int(c) * w for c, w in zip(id_number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == id_number[17].upper()


def mask_id_number(id_number: str) -> str:
    """The form shown on screens and in records: the first 3 and the last 4 characters,
    the rest as ``*`` (``330***********123X``). Short values are masked entirely."""
    if len(id_number) <= 7:
        return "*" * len(id_number)
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]


# --- specialty codes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class SpecialtyCode:
    """A code of the national four-level classification, in compact form (``A080301``)."""

    code: str

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or _CODE_COMPACT.fullmatch(self.code) is None:
            raise Rejected(
                ExpertReason.INVALID_SPECIALTY_CODE,
                f"{self.code!r}: expected a letter and up to three two-digit levels, like A080301",
                f"{self.code!r}：应为一个字母加至多三级两位数字，如 A080301",
                details={"specialty": str(self.code)},
            )

    @classmethod
    def parse(cls, text: str) -> SpecialtyCode:
        """Read a code in compact (``A080301``) or dotted (``A.08.03.01``) form; a lowercase
        first letter and surrounding blanks are tolerated."""
        if not isinstance(text, str):
            raise Rejected(ExpertReason.INVALID_SPECIALTY_CODE, repr(text))
        t = text.strip()
        t = t[:1].upper() + t[1:]
        if _CODE_DOTTED.fullmatch(t) and "." in t:
            t = t.replace(".", "")
        return cls(t)

    @property
    def level(self) -> int:
        """1 (category) to 4 (the finest level)."""
        return 1 + (len(self.code) - 1) // 2

    @property
    def segments(self) -> tuple[str, ...]:
        c = self.code
        return (c[0], *(c[i : i + 2] for i in range(1, len(c), 2)))

    @property
    def dotted(self) -> str:
        return ".".join(self.segments)

    @property
    def parent(self) -> SpecialtyCode | None:
        return None if len(self.code) == 1 else SpecialtyCode(self.code[:-2])

    def covers(self, other: SpecialtyCode) -> bool:
        """True when ``other`` is this code or one of its descendants."""
        return other.code.startswith(self.code)

    def __str__(self) -> str:
        return self.code


# --- the pool --------------------------------------------------------------------------


class ExpertStatus(Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # 暂停: until ``suspended_until`` (inclusive), or indefinitely
    RETIRED = "retired"  # 退出/解聘: never drawn again


class RelationKind(Enum):
    """A declared tie between an expert and an organisation, for conflict checks."""

    EMPLOYMENT = "employment"  # labour relation, past or present (劳动关系)
    DIRECTOR = "director"  # director, supervisor or senior manager (董事、监事、高管)
    CONTROL = "control"  # shareholding or control (控股、实际控制)
    ECONOMIC_INTEREST = "economic_interest"  # any other economic interest (经济利益关系)
    RELATIVE = "relative"  # a near relative (近亲属) is staff or a principal of the org


@dataclass(frozen=True, slots=True)
class Relation:
    """``start``/``end`` are inclusive dates; ``end=None`` means the tie still holds."""

    kind: RelationKind
    org_id: str
    start: date | None = None
    end: date | None = None
    relative_name: str = ""  # for RELATIVE: who
    relationship: str = ""  # for RELATIVE: spouse, parent, child, sibling, ...


class SanctionKind(Enum):
    TENDERING_PENALTY = "tendering_penalty"  # penalised for misconduct in tendering
    JUDGMENT_DEFAULTER = "judgment_defaulter"  # 失信被执行人
    DISQUALIFIED = "disqualified"  # other bar from evaluation work


@dataclass(frozen=True, slots=True)
class Sanction:
    """In force from ``start`` to ``end`` inclusive; ``end=None`` means open-ended."""

    kind: SanctionKind
    start: date
    end: date | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Expert:
    """An evaluation expert (评标专家) in the pool.

    The identity card number is stored encrypted by the store; the pure core only ever sees
    its masked form.
    """

    expert_id: str
    name: str
    id_number_masked: str
    employer_org_id: str | None
    specialties: tuple[SpecialtyCode, ...]
    region: str
    title: str = ""
    experience_years: int = 0
    status: ExpertStatus = ExpertStatus.ACTIVE
    suspended_until: date | None = None
    unavailable_dates: frozenset[date] = frozenset()
    relations: tuple[Relation, ...] = ()
    sanctions: tuple[Sanction, ...] = ()


@dataclass(frozen=True, slots=True)
class PastDraw:
    """One earlier seat: ``expert_id`` was drawn for ``tenderee_org_id`` on ``drawn_on``.

    The service decides what counts (by default: members seated, not reserves never called).
    """

    expert_id: str
    tenderee_org_id: str
    drawn_on: date


class ExpertPool:
    """An immutable, indexed snapshot of the expert pool, in expert-id order.

    Building it walks every expert once; eligibility then works on the index and reads
    only the experts who could possibly be excluded (those not active or under a sanction,
    declared unavailable on a day of the sitting, tied by employment or a declared
    relation to an organisation of the request, or named by the request's history or
    extra exclusions). Build one per version of the pool and reuse it for many requests.

    Index entries are *ranks*: an expert's position in ``ids`` (sorted expert ids).
    """

    __slots__ = (
        "_by_code",
        "_by_org",
        "_by_region",
        "_by_unavailable",
        "_experts",
        "_ids",
        "_irregular",
        "_rank",
    )

    def __init__(self, experts: Iterable[Expert]) -> None:
        ordered = sorted(experts, key=lambda e: e.expert_id)
        ids = tuple(e.expert_id for e in ordered)
        rank = {x: r for r, x in enumerate(ids)}
        if len(rank) != len(ids):
            dup = next(a for a, b in zip(ids, ids[1:], strict=False) if a == b)
            raise Rejected(
                ExpertReason.INVALID_EXPERT_ID,
                f"expert {dup} is twice in the pool",
                f"专家 {dup} 在专家库中重复",
            )
        by_code: dict[str, list[int]] = {}
        by_region: dict[str, list[int]] = {}
        by_org: dict[str, list[int]] = {}
        by_unavailable: dict[date, list[int]] = {}
        irregular: list[int] = []
        active = ExpertStatus.ACTIVE
        for r, e in enumerate(ordered):
            specialties = e.specialties
            if len(specialties) == 1:
                by_code.setdefault(specialties[0].code, []).append(r)
            else:
                for code in {c.code for c in specialties}:
                    by_code.setdefault(code, []).append(r)
            by_region.setdefault(e.region, []).append(r)
            orgs = {rel.org_id for rel in e.relations} if e.relations else set()
            if e.employer_org_id is not None:
                orgs.add(e.employer_org_id)
            for org in orgs:
                by_org.setdefault(org, []).append(r)
            for d in e.unavailable_dates:
                by_unavailable.setdefault(d, []).append(r)
            if e.status is not active or e.sanctions:
                irregular.append(r)
        self._experts = tuple(ordered)
        self._ids = ids
        self._rank = rank
        self._by_code = by_code
        self._by_region = by_region
        self._by_org = by_org
        self._by_unavailable = by_unavailable
        self._irregular = tuple(irregular)

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[Expert]:
        return iter(self._experts)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every expert id, sorted."""
        return self._ids

    def get(self, expert_id: str) -> Expert | None:
        r = self._rank.get(expert_id)
        return None if r is None else self._experts[r]

    def expert_at(self, rank: int) -> Expert:
        return self._experts[rank]

    def rank_of(self, expert_id: str) -> int | None:
        return self._rank.get(expert_id)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_region))

    def ranks_under(self, code: SpecialtyCode) -> list[int]:
        """Sorted ranks of the experts holding ``code`` or one of its descendants (E2)."""
        prefix = code.code
        lists = [ranks for c, ranks in self._by_code.items() if c.startswith(prefix)]
        if not lists:
            return []
        if len(lists) == 1:
            return list(lists[0])
        return sorted(set().union(*lists))

    def ranks_in_regions(self, regions: Iterable[str]) -> set[int]:
        out: set[int] = set()
        for region in regions:
            out.update(self._by_region.get(region, ()))
        return out

    def ranks_tied_to(self, org_id: str) -> list[int]:
        """Experts employed by ``org_id`` or declaring any relation with it."""
        return self._by_org.get(org_id, [])

    def ranks_unavailable_on(self, day: date) -> list[int]:
        return self._by_unavailable.get(day, [])

    @property
    def irregular_ranks(self) -> tuple[int, ...]:
        """Experts not active, or with a sanction on record (in force or not)."""
        return self._irregular


# --- the request -----------------------------------------------------------------------


class RegionScope(Enum):
    ANY = "any"  # no restriction
    LOCAL = "local"  # only experts of the tender's own region (本地专家)
    OTHER_REGIONS = "other_regions"  # only experts from elsewhere (异地专家), maybe listed ones
    REMOTE = "remote"  # remote cross-region evaluation (远程异地评标): the listed regions,
    # each expert sitting at their own region's site; the list may include the home region


@dataclass(frozen=True, slots=True)
class RegionRule:
    scope: RegionScope = RegionScope.ANY
    regions: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.regions, frozenset):
            object.__setattr__(self, "regions", frozenset(self.regions))

    def admits(self, expert_region: str, home_region: str) -> bool:
        scope = self.scope
        if scope is RegionScope.ANY:
            return True
        if scope is RegionScope.LOCAL:
            return expert_region == home_region
        if scope is RegionScope.OTHER_REGIONS:
            return expert_region != home_region and (
                not self.regions or expert_region in self.regions
            )
        return expert_region in self.regions

    def problems(self, home_region: str) -> list[str]:
        """What is inconsistent about this rule, in English (empty when fine)."""
        out: list[str] = []
        if self.scope in (RegionScope.ANY, RegionScope.LOCAL) and self.regions:
            out.append(f"{self.scope.value} takes no list of regions")
        if self.scope is RegionScope.OTHER_REGIONS and home_region in self.regions:
            out.append("other_regions cannot list the tender's own region")
        if self.scope is RegionScope.REMOTE and not self.regions:
            out.append("remote needs the list of participating regions")
        return out

    def sort_key(self) -> tuple[str, tuple[str, ...]]:
        return (self.scope.value, tuple(sorted(self.regions)))

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope.value, "regions": sorted(self.regions)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegionRule:
        return cls(RegionScope(data["scope"]), frozenset(data["regions"]))


@dataclass(frozen=True, slots=True)
class SpecialtyDemand:
    """One line of a request: ``count`` experts of ``code`` (or its descendants) admitted
    by ``region_rule``, and ``reserve`` more kept in order as replacements
    (default ``2 × count``)."""

    code: SpecialtyCode
    count: int
    region_rule: RegionRule = field(default_factory=RegionRule)
    reserve: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.code, str):
            object.__setattr__(self, "code", SpecialtyCode.parse(self.code))

    @property
    def reserve_count(self) -> int:
        return DEFAULT_RESERVE_FACTOR * self.count if self.reserve is None else self.reserve

    def sort_key(self) -> tuple[str, str, tuple[str, ...], int, int]:
        return (self.code.code, *self.region_rule.sort_key(), self.count, self.reserve_count)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code.code,
            "count": self.count,
            "region_rule": self.region_rule.to_json(),
            "reserve": self.reserve_count,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SpecialtyDemand:
        return cls(
            SpecialtyCode(data["code"]),
            data["count"],
            RegionRule.from_json(data["region_rule"]),
            data["reserve"],
        )


@dataclass(frozen=True, slots=True)
class ExtraExclusion:
    """An exclusion the tender adds (招标文件另行规定的回避情形)."""

    expert_id: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DrawRequest:
    """Staff's request for a panel for one tender.

    ``demands`` are kept in canonical order (by code, then region rule, count, reserve): the
    draw processes lines in that order and results refer to a line by its index in it.
    ``evaluation_date``/``evaluation_time`` are local (the centre's time zone); the sitting
    lasts ``evaluation_days`` calendar days. ``supervising_org_ids`` are the competent and
    supervising departments (项目主管部门、行政监督部门) whose staff may not sit.
    ``cooldown_days = 0`` and ``yearly_cap = None`` switch those two exclusions off.
    """

    request_id: str
    tender_id: str
    tenderee_org_id: str
    tender_region: str
    demands: tuple[SpecialtyDemand, ...]
    evaluation_date: date
    evaluation_time: time
    evaluation_place: str
    evaluation_days: int = 1
    bidder_org_ids: frozenset[str] = frozenset()
    supervising_org_ids: frozenset[str] = frozenset()
    extra_exclusions: tuple[ExtraExclusion, ...] = ()
    tenderee_representatives: int = 0
    min_members: int = 5
    cooldown_days: int = 0
    yearly_cap: int | None = None
    relation_lookback_years: int = 3

    def __post_init__(self) -> None:
        demands = tuple(sorted(self.demands, key=SpecialtyDemand.sort_key))
        object.__setattr__(self, "demands", demands)
        object.__setattr__(self, "bidder_org_ids", frozenset(self.bidder_org_ids))
        object.__setattr__(self, "supervising_org_ids", frozenset(self.supervising_org_ids))
        extra = tuple(sorted(self.extra_exclusions, key=lambda x: (x.expert_id, x.detail)))
        object.__setattr__(self, "extra_exclusions", extra)

    @property
    def expert_count(self) -> int:
        """Experts to be drawn (the panel, without reserves)."""
        return sum(d.count for d in self.demands)

    @property
    def member_count(self) -> int:
        """Committee members: drawn experts plus the tenderee's own representatives."""
        return self.expert_count + self.tenderee_representatives

    @property
    def evaluation_dates(self) -> tuple[date, ...]:
        return tuple(
            self.evaluation_date + timedelta(days=i) for i in range(max(self.evaluation_days, 1))
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "tender_id": self.tender_id,
            "tenderee_org_id": self.tenderee_org_id,
            "tender_region": self.tender_region,
            "demands": [d.to_json() for d in self.demands],
            "evaluation_date": self.evaluation_date.isoformat(),
            "evaluation_time": self.evaluation_time.strftime("%H:%M"),
            "evaluation_place": self.evaluation_place,
            "evaluation_days": self.evaluation_days,
            "bidder_org_ids": sorted(self.bidder_org_ids),
            "supervising_org_ids": sorted(self.supervising_org_ids),
            "extra_exclusions": [[x.expert_id, x.detail] for x in self.extra_exclusions],
            "tenderee_representatives": self.tenderee_representatives,
            "min_members": self.min_members,
            "cooldown_days": self.cooldown_days,
            "yearly_cap": self.yearly_cap,
            "relation_lookback_years": self.relation_lookback_years,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DrawRequest:
        return cls(
            request_id=data["request_id"],
            tender_id=data["tender_id"],
            tenderee_org_id=data["tenderee_org_id"],
            tender_region=data["tender_region"],
            demands=tuple(SpecialtyDemand.from_json(d) for d in data["demands"]),
            evaluation_date=date.fromisoformat(data["evaluation_date"]),
            evaluation_time=time.fromisoformat(data["evaluation_time"]),
            evaluation_place=data["evaluation_place"],
            evaluation_days=data["evaluation_days"],
            bidder_org_ids=frozenset(data["bidder_org_ids"]),
            supervising_org_ids=frozenset(data["supervising_org_ids"]),
            extra_exclusions=tuple(ExtraExclusion(i, d) for i, d in data["extra_exclusions"]),
            tenderee_representatives=data["tenderee_representatives"],
            min_members=data["min_members"],
            cooldown_days=data["cooldown_days"],
            yearly_cap=data["yearly_cap"],
            relation_lookback_years=data["relation_lookback_years"],
        )


# --- exclusions ------------------------------------------------------------------------


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


# --- the draw record and its result ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class BeaconRef:
    """A public randomness value fixed in advance (e.g. a drand round): the record names the
    round before its value is published; staff supply the value when the draw runs."""

    source: str
    round: int

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "round": self.round}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BeaconRef:
        return cls(data["source"], data["round"])


@dataclass(frozen=True, slots=True)
class DrawRecord:
    """What the draw commits to before it runs (see docs/draw.md).

    ``candidates[i]`` is the sorted tuple of eligible expert ids for ``request.demands[i]``
    (the pool snapshot); ``exclusions`` is sorted. The four hashes are lowercase hex
    SHA-256 values computed by ``experts.draw.commit``; ``record_hash`` covers the other
    hashes, the algorithm version, the seed commitment and the beacon reference, and is
    what gets published and audited before the draw.
    """

    algorithm_version: str
    request: DrawRequest
    candidates: tuple[tuple[str, ...], ...]
    exclusions: tuple[Exclusion, ...]
    seed_hash: str
    beacon: BeaconRef | None
    request_hash: str
    pool_hash: str
    exclusions_hash: str
    record_hash: str

    def header_json(self) -> dict[str, Any]:
        """The object whose canonical JSON is hashed into ``record_hash``."""
        return {
            "algorithm_version": self.algorithm_version,
            "beacon": None if self.beacon is None else self.beacon.to_json(),
            "exclusions_hash": self.exclusions_hash,
            "pool_hash": self.pool_hash,
            "request_hash": self.request_hash,
            "seed_hash": self.seed_hash,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.header_json(),
            "record_hash": self.record_hash,
            "request": self.request.to_json(),
            "candidates": [list(ids) for ids in self.candidates],
            "exclusions": [x.to_json() for x in self.exclusions],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DrawRecord:
        """Read a published record as it is, without recomputing anything (``verify_draw``
        checks it)."""
        beacon = data["beacon"]
        return cls(
            algorithm_version=data["algorithm_version"],
            request=DrawRequest.from_json(data["request"]),
            candidates=tuple(tuple(ids) for ids in data["candidates"]),
            exclusions=tuple(Exclusion.from_json(x) for x in data["exclusions"]),
            seed_hash=data["seed_hash"],
            beacon=None if beacon is None else BeaconRef.from_json(beacon),
            request_hash=data["request_hash"],
            pool_hash=data["pool_hash"],
            exclusions_hash=data["exclusions_hash"],
            record_hash=data["record_hash"],
        )


@dataclass(frozen=True, slots=True)
class LineDraw:
    """The drawn order of one request line: ``order[:count]`` is the panel, the rest the
    replacement order (候补顺序), fixed before anyone is called."""

    line: int
    code: SpecialtyCode
    count: int
    order: tuple[str, ...]

    @property
    def panel(self) -> tuple[str, ...]:
        return self.order[: self.count]

    @property
    def reserves(self) -> tuple[str, ...]:
        return self.order[self.count :]

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "code": self.code.code,
            "count": self.count,
            "order": list(self.order),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LineDraw:
        return cls(data["line"], SpecialtyCode(data["code"]), data["count"], tuple(data["order"]))


@dataclass(frozen=True, slots=True)
class DrawResult:
    """The outcome of ``run_draw``: one ``LineDraw`` per request line, in line order."""

    record_hash: str
    algorithm_version: str
    beacon_value_hex: str | None
    lines: tuple[LineDraw, ...]

    @property
    def panel_ids(self) -> tuple[str, ...]:
        """Every line's panel, line by line."""
        return tuple(x for ld in self.lines for x in ld.panel)

    def to_json(self) -> dict[str, Any]:
        return {
            "record_hash": self.record_hash,
            "algorithm_version": self.algorithm_version,
            "beacon_value": self.beacon_value_hex,
            "lines": [ld.to_json() for ld in self.lines],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DrawResult:
        return cls(
            data["record_hash"],
            data["algorithm_version"],
            data["beacon_value"],
            tuple(LineDraw.from_json(ld) for ld in data["lines"]),
        )


class DifferenceKind(Enum):
    """Where a verification found the published draw and its re-run to disagree."""

    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    HASH_MISMATCH = "hash_mismatch"  # a committed hash does not match the record's content
    PUBLISHED_HASH_MISMATCH = "published_hash_mismatch"  # not the record published before
    SEED_MISMATCH = "seed_mismatch"  # the revealed seed does not hash to the commitment
    BEACON_MISSING = "beacon_missing"
    BEACON_MISMATCH = "beacon_mismatch"
    BEACON_UNEXPECTED = "beacon_unexpected"
    RESULT_FOR_OTHER_RECORD = "result_for_other_record"
    CANDIDATES_MALFORMED = "candidates_malformed"  # unsorted, repeated, or not aligned
    EXCLUDED_CANDIDATE = "excluded_candidate"  # an excluded expert is among the candidates
    RERUN_FAILED = "rerun_failed"  # the record's own content cannot be drawn from
    LINE_COUNT = "line_count"
    LINE_HEADER = "line_header"  # a line's code or count differs
    LENGTH = "length"  # a line's order has a different length
    POSITION = "position"  # a line's order differs at a position
    CALL_ORDER = "call_order"  # someone was called who is not next in the drawn order
    RECORD_UNREADABLE = "record_unreadable"  # the stored record cannot even be parsed


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement: ``line`` and ``position`` are 0-based; ``expected`` is what the
    re-run gives, ``claimed`` what the published result says."""

    kind: DifferenceKind
    message_en: str
    message_zh: str
    line: int | None = None
    code: str | None = None
    position: int | None = None
    expected: str | None = None
    claimed: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "message_en": self.message_en,
            "message_zh": self.message_zh,
            "line": self.line,
            "code": self.code,
            "position": self.position,
            "expected": self.expected,
            "claimed": self.claimed,
        }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """``ok`` when the record is intact, the seed matches its commitment and the re-run
    gives exactly the claimed panels and replacement orders."""

    record_hash: str
    differences: tuple[Difference, ...]
    expected: DrawResult | None  # the re-run, when it could be made

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "record_hash": self.record_hash,
            "differences": [d.to_json() for d in self.differences],
            "expected": None if self.expected is None else self.expected.to_json(),
        }
