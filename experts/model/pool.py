"""The pool: experts, their declared ties and sanctions, past draws, and ``ExpertPool``, the
indexed snapshot a draw reads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import Enum

from experts.errors import ExpertReason
from trading.errors import Rejected

from .specialties import SpecialtyCode

__all__ = [
    "Expert",
    "ExpertPool",
    "ExpertStatus",
    "PastDraw",
    "Relation",
    "RelationKind",
    "Sanction",
    "SanctionKind",
]


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
