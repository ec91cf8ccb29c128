"""The request for a panel: its lines (specialty, count, region rule, reserves), the
sitting, the parties and the exclusions the tender adds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from enum import Enum
from typing import Any

from .specialties import SpecialtyCode

__all__ = [
    "DrawRequest",
    "ExtraExclusion",
    "RegionRule",
    "RegionScope",
    "SpecialtyDemand",
]

DEFAULT_RESERVE_FACTOR = 2  # replacements kept in order per line, per seat, by default


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
