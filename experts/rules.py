"""Who may sit on an evaluation committee: composition and eligibility, as pure functions.

Theory of operation
-------------------
A draw request (``DrawRequest``) asks, line by line, for ``count`` experts of a specialty
code (the code or any of its descendants, rule E2) admitted by a region rule, plus a
number of reserves kept in order as replacements. Before anything is drawn:

1. ``check_request`` validates the request and returns *every* problem, not the first:
   the committee's composition (T15: BL 37, O12 9 — an odd number of members, at least
   ``min_members`` (default 5), drawn experts at least two thirds of the members when the
   tenderee seats its own representatives), well-formed ids and numbers, consistent
   region rules, no line twice, and — given the classification — no unknown code.
2. ``compute_eligibility(pool, request, history, today)``: an expert *matches* a line
   when one of their specialty codes falls under the line's code and the line's region
   rule admits their region. Each matching expert is then either eligible for every line
   they match, or excluded, with one ``Exclusion`` row per reason (E3: O12 12, GPR 9,
   IR 46). Experts who match no line are neither: they are not part of this draw at all
   and are not listed. The pool is an ``ExpertPool`` index, so only the few experts who
   could have a reason to be excluded are examined one by one; a property test checks the
   result equals the rules applied expert by expert.
3. ``check_feasibility(request, candidates)`` refuses a request that could run short of
   experts for some seed (``not_enough_eligible``, naming the line and the shortfall).

Dates
-----
``today`` is the draw date. Suspensions and sanctions exclude when they are in force on
any day from ``today`` to the last day of the sitting. Labour, director and control
relations exclude when they held on any day of the look-back period: they ended on or
after ``today`` minus ``relation_lookback_years`` years (default 3) — or never ended.
Relatives and economic interests exclude while they last. Unavailability is checked for
every day of the sitting. The cooldown counts days from a past draw to ``today``
(excluded while fewer than ``cooldown_days`` have passed); the yearly cap counts past
draws in ``today``'s calendar year.

Nothing here reads the clock or draws a random number; ``experts.draw`` does the drawing.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import filterfalse
from operator import attrgetter, itemgetter

from experts.errors import ExpertReason, Problem
from experts.model.exclusions import Exclusion, ExclusionReason
from experts.model.ids import is_valid_id
from experts.model.pool import (
    Expert,
    ExpertPool,
    ExpertStatus,
    PastDraw,
    RelationKind,
    SanctionKind,
)
from experts.model.request import DrawRequest, RegionScope, SpecialtyDemand
from experts.model.specialties import SpecialtyCode

__all__ = [
    "Eligibility",
    "check_composition",
    "check_feasibility",
    "check_request",
    "compute_eligibility",
    "demand_label",
    "exclusions_for",
    "expert_matches",
    "specialty_matches",
    "years_before",
]

MAX_LINES = 50
MAX_COUNT_PER_LINE = 99
MAX_RESERVE_PER_LINE = 999
MAX_EVALUATION_DAYS = 31
MAX_TEXT_CHARS = 500


# --- specialties ------------------------------------------------------------------------


def specialty_matches(requested: SpecialtyCode, expert_codes: Iterable[SpecialtyCode]) -> bool:
    """E2: an expert matches a requested code when one of their codes is that code or one
    of its descendants (a request for ``A08`` matches ``A08``, ``A0803`` and ``A080301``,
    not ``A09``; a request for ``A080301`` does not match an expert coded only ``A08``)."""
    prefix = requested.code
    return any(c.code.startswith(prefix) for c in expert_codes)


def expert_matches(expert: Expert, demand: SpecialtyDemand, home_region: str) -> bool:
    """True when ``expert`` matches the line by specialty and region (before exclusions)."""
    return demand.region_rule.admits(expert.region, home_region) and specialty_matches(
        demand.code, expert.specialties
    )


def demand_label(request: DrawRequest, line: int) -> str:
    """A short name for a line in messages: ``line 1 (A0803, local)``."""
    d = request.demands[line]
    return f"line {line} ({d.code.code}, {d.region_rule.scope.value})"


# --- composition and request validation ------------------------------------------------


def check_composition(
    expert_count: int, representatives: int = 0, min_members: int = 5
) -> list[Problem]:
    """T15 (BL 37, O12 9): every problem with a committee of ``expert_count`` drawn experts
    and ``representatives`` of the tenderee's own: the total must be odd and at least
    ``min_members``; experts must be at least two thirds of it."""
    members = expert_count + representatives
    out: list[Problem] = []
    if members % 2 == 0:
        out.append(
            Problem(
                ExpertReason.COMMITTEE_EVEN,
                f"{members} members",
                f"共{members}人",
                {"members": members},
            )
        )
    if members < min_members:
        out.append(
            Problem(
                ExpertReason.COMMITTEE_TOO_SMALL,
                f"{members} members, at least {min_members} needed",
                f"共{members}人，至少需要{min_members}人",
                {"members": members, "min_members": min_members},
            )
        )
    if 3 * expert_count < 2 * members:
        out.append(
            Problem(
                ExpertReason.EXPERTS_BELOW_TWO_THIRDS,
                f"{expert_count} experts of {members} members",
                f"{members}名成员中专家{expert_count}名",
                {"experts": expert_count, "members": members},
            )
        )
    return out


def _invalid(en: str, zh: str, **data: object) -> Problem:
    return Problem(ExpertReason.INVALID_REQUEST, en, zh, dict(data))


def check_request(
    request: DrawRequest,
    *,
    classification: Set[SpecialtyCode] | None = None,
    today: date | None = None,
) -> list[Problem]:
    """Every problem with ``request``; empty when it may go on to eligibility.

    With ``classification`` (the set of codes of the national classification), a line
    whose code is not in it is ``unknown_specialty``. With ``today``, a sitting that starts
    before ``today`` is refused.
    """
    out: list[Problem] = []
    for name in ("request_id", "tender_id", "tenderee_org_id"):
        value = getattr(request, name)
        if not is_valid_id(value):
            out.append(
                Problem(
                    ExpertReason.INVALID_EXPERT_ID,
                    f"{name} = {value!r}",
                    f"{name} = {value!r}",
                    {"field": name},
                )
            )
    for name in ("bidder_org_ids", "supervising_org_ids"):
        for value in sorted(map(str, getattr(request, name))):
            if not is_valid_id(value):
                out.append(
                    Problem(
                        ExpertReason.INVALID_EXPERT_ID,
                        f"{name}: {value!r}",
                        f"{name}：{value!r}",
                        {"field": name},
                    )
                )
    for x in request.extra_exclusions:
        if not is_valid_id(x.expert_id):
            out.append(
                Problem(
                    ExpertReason.INVALID_EXPERT_ID,
                    f"extra exclusion {x.expert_id!r}",
                    f"另行回避 {x.expert_id!r}",
                    {"field": "extra_exclusions"},
                )
            )
        if len(x.detail) > MAX_TEXT_CHARS:
            out.append(_invalid("an extra exclusion's detail is too long", "另行回避说明过长"))
    if not request.tender_region:
        out.append(_invalid("the tender's region is missing", "缺少项目所在地区"))
    if not request.evaluation_place.strip() or len(request.evaluation_place) > MAX_TEXT_CHARS:
        out.append(_invalid("the evaluation place is missing or too long", "评标地点缺失或过长"))
    if not 1 <= request.evaluation_days <= MAX_EVALUATION_DAYS:
        out.append(
            _invalid(
                f"evaluation_days must be 1 to {MAX_EVALUATION_DAYS}",
                f"评标天数应为1至{MAX_EVALUATION_DAYS}",
                field="evaluation_days",
            )
        )
    if today is not None and request.evaluation_date < today:
        out.append(
            _invalid(
                f"the sitting ({request.evaluation_date}) is before today ({today})",
                f"评标日期（{request.evaluation_date}）早于今日（{today}）",
                field="evaluation_date",
            )
        )
    if request.tenderee_representatives < 0:
        out.append(
            _invalid(
                "tenderee_representatives must not be negative",
                "招标人代表人数不得为负",
                field="tenderee_representatives",
            )
        )
    if request.min_members < 1:
        out.append(_invalid("min_members must be positive", "最少人数须为正数"))
    if request.cooldown_days < 0:
        out.append(_invalid("cooldown_days must not be negative", "间隔天数不得为负"))
    if request.yearly_cap is not None and request.yearly_cap < 1:
        out.append(_invalid("yearly_cap must be at least 1", "年度抽取上限至少为1"))
    if not 0 <= request.relation_lookback_years <= 10:
        out.append(_invalid("relation_lookback_years must be 0 to 10", "关系回溯年限应为0至10"))

    if not request.demands:
        out.append(_invalid("no specialty is requested", "未申请任何专业", field="demands"))
    if len(request.demands) > MAX_LINES:
        out.append(_invalid(f"at most {MAX_LINES} lines", f"最多{MAX_LINES}行"))
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    for i, d in enumerate(request.demands):
        label = demand_label(request, i)
        if not 1 <= d.count <= MAX_COUNT_PER_LINE:
            out.append(
                _invalid(
                    f"{label}: count must be 1 to {MAX_COUNT_PER_LINE}",
                    f"{label}：人数应为1至{MAX_COUNT_PER_LINE}",
                    line=i,
                )
            )
        if not 0 <= d.reserve_count <= MAX_RESERVE_PER_LINE:
            out.append(
                _invalid(
                    f"{label}: reserve must be 0 to {MAX_RESERVE_PER_LINE}",
                    f"{label}：候补人数应为0至{MAX_RESERVE_PER_LINE}",
                    line=i,
                )
            )
        key = (d.code.code, *d.region_rule.sort_key())
        if key in seen:
            out.append(
                Problem(
                    ExpertReason.DUPLICATE_DEMAND,
                    label,
                    label,
                    {"line": i, "specialty": d.code.code},
                )
            )
        seen.add(key)
        for issue in d.region_rule.problems(request.tender_region):
            out.append(
                Problem(
                    ExpertReason.INVALID_REGION_RULE,
                    f"{label}: {issue}",
                    f"{label}：{issue}",
                    {"line": i},
                )
            )
        if classification is not None and d.code not in classification:
            out.append(
                Problem(
                    ExpertReason.UNKNOWN_SPECIALTY,
                    d.code.code,
                    d.code.code,
                    {"line": i, "specialty": d.code.code},
                )
            )
    out.extend(
        check_composition(
            request.expert_count, request.tenderee_representatives, request.min_members
        )
    )
    return out


# --- eligibility -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Eligibility:
    """``candidates[i]``: sorted ids of the eligible experts matching ``request.demands[i]``
    (an expert may appear under several lines); ``exclusions``: sorted, one row per
    (expert, reason, detail), for experts who match at least one line."""

    candidates: tuple[tuple[str, ...], ...]
    exclusions: tuple[Exclusion, ...]

    @property
    def excluded_ids(self) -> frozenset[str]:
        return frozenset(x.expert_id for x in self.exclusions)


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


_EXCLUSION_KEY = attrgetter("expert_id", "reason_code", "detail")

_RELATION_REASON = {
    RelationKind.EMPLOYMENT: ExclusionReason.LABOUR_RELATION,
    RelationKind.DIRECTOR: ExclusionReason.DIRECTOR_RELATION,
    RelationKind.CONTROL: ExclusionReason.CONTROL_RELATION,
}


class _Context:
    """Everything the per-expert check needs, computed once per request."""

    __slots__ = (
        "bidders",
        "conflicted",
        "cooldown_from",
        "cap",
        "eval_dates",
        "extra",
        "last_day",
        "lookback_from",
        "past_for_tenderee",
        "past_this_year",
        "supervising",
        "tenderee",
        "today",
    )

    def __init__(self, request: DrawRequest, history: Iterable[PastDraw], today: date) -> None:
        self.today = today
        self.eval_dates = request.evaluation_dates
        self.last_day = max(self.eval_dates[-1], today)
        self.tenderee = request.tenderee_org_id
        self.bidders = request.bidder_org_ids
        self.conflicted = request.bidder_org_ids | {request.tenderee_org_id}
        self.supervising = request.supervising_org_ids
        self.lookback_from = years_before(today, request.relation_lookback_years)
        self.extra: dict[str, list[str]] = {}
        for x in request.extra_exclusions:
            self.extra.setdefault(x.expert_id, []).append(x.detail)
        self.cap = request.yearly_cap
        cooldown = request.cooldown_days
        self.cooldown_from = today - timedelta(days=cooldown - 1) if cooldown > 0 else None
        self.past_for_tenderee: dict[str, date] = {}
        self.past_this_year: dict[str, int] = {}
        for p in history:
            if p.drawn_on > today:
                continue
            if p.drawn_on.year == today.year:
                self.past_this_year[p.expert_id] = self.past_this_year.get(p.expert_id, 0) + 1
            if (
                self.cooldown_from is not None
                and p.tenderee_org_id == self.tenderee
                and p.drawn_on >= self.cooldown_from
            ):
                last = self.past_for_tenderee.get(p.expert_id)
                if last is None or p.drawn_on > last:
                    self.past_for_tenderee[p.expert_id] = p.drawn_on


def _exclusions_of(e: Expert, ctx: _Context) -> list[tuple[ExclusionReason, str]]:
    """Every reason to leave ``e`` out of this draw, with a short detail."""
    out: list[tuple[ExclusionReason, str]] = []
    today = ctx.today
    if e.status is not ExpertStatus.ACTIVE:
        if e.status is ExpertStatus.RETIRED:
            out.append((ExclusionReason.RETIRED, ""))
        elif e.suspended_until is None:
            out.append((ExclusionReason.SUSPENDED, "until=indefinite"))
        elif e.suspended_until >= today:
            out.append((ExclusionReason.SUSPENDED, f"until={e.suspended_until.isoformat()}"))
    emp = e.employer_org_id
    if emp is not None:
        if emp == ctx.tenderee:
            out.append((ExclusionReason.TENDEREE_STAFF, f"org={emp}"))
        if emp in ctx.bidders:
            out.append((ExclusionReason.BIDDER_STAFF, f"org={emp}"))
        if emp in ctx.supervising:
            out.append((ExclusionReason.SUPERVISING_STAFF, f"org={emp}"))
    for r in e.relations:
        org = r.org_id
        kind = r.kind
        if org in ctx.conflicted:
            if kind is RelationKind.RELATIVE:
                if (r.end is None or r.end >= today) and (
                    r.start is None or r.start <= ctx.last_day
                ):
                    reason = (
                        ExclusionReason.TENDEREE_RELATIVE
                        if org == ctx.tenderee
                        else ExclusionReason.BIDDER_RELATIVE
                    )
                    out.append((reason, f"org={org}"))
            elif kind is RelationKind.ECONOMIC_INTEREST:
                if (r.end is None or r.end >= today) and (
                    r.start is None or r.start <= ctx.last_day
                ):
                    out.append((ExclusionReason.ECONOMIC_INTEREST, f"org={org}"))
            elif (r.end is None or r.end >= ctx.lookback_from) and (
                r.start is None or r.start <= today
            ):
                until = "present" if r.end is None else r.end.isoformat()
                out.append((_RELATION_REASON[kind], f"org={org} until={until}"))
        if (
            org in ctx.supervising
            and kind is RelationKind.EMPLOYMENT
            and (r.end is None or r.end >= today)
            and (r.start is None or r.start <= ctx.last_day)
        ):
            out.append((ExclusionReason.SUPERVISING_STAFF, f"org={org}"))
    for s in e.sanctions:
        if s.start <= ctx.last_day and (s.end is None or s.end >= today):
            reason = (
                ExclusionReason.JUDGMENT_DEFAULTER
                if s.kind is SanctionKind.JUDGMENT_DEFAULTER
                else ExclusionReason.SANCTIONED
            )
            until = "indefinite" if s.end is None else s.end.isoformat()
            out.append((reason, f"kind={s.kind.value} until={until}"))
    if e.unavailable_dates:
        for d in ctx.eval_dates:
            if d in e.unavailable_dates:
                out.append((ExclusionReason.UNAVAILABLE, f"date={d.isoformat()}"))
    eid = e.expert_id
    last = ctx.past_for_tenderee.get(eid)
    if last is not None:
        out.append(
            (
                ExclusionReason.SAME_TENDEREE_COOLDOWN,
                f"org={ctx.tenderee} last={last.isoformat()}",
            )
        )
    if ctx.cap is not None:
        n = ctx.past_this_year.get(eid, 0)
        if n >= ctx.cap:
            out.append((ExclusionReason.YEARLY_CAP, f"year={today.year} draws={n} cap={ctx.cap}"))
    for detail in ctx.extra.get(eid, ()):
        out.append((ExclusionReason.TENDER_SPECIFIC, detail))
    return out


def exclusions_for(
    expert: Expert, request: DrawRequest, history: Iterable[PastDraw], today: date
) -> tuple[Exclusion, ...]:
    """Every reason ``expert`` would be left out of ``request`` (whether or not they match
    one of its lines), sorted; empty when none applies. For "why was I not drawn?" views
    and for checking one expert; ``compute_eligibility`` does the whole pool at once."""
    ctx = _Context(request, history, today)
    rows = {Exclusion(expert.expert_id, r.code, d) for r, d in _exclusions_of(expert, ctx)}
    return tuple(sorted(rows, key=_EXCLUSION_KEY))


def compute_eligibility(
    pool: ExpertPool | Iterable[Expert],
    request: DrawRequest,
    history: Iterable[PastDraw],
    today: date,
) -> Eligibility:
    """E2 and E3: the eligible experts of every line and every exclusion with its reason.

    ``pool`` is an ``ExpertPool`` (indexed; build it once and reuse it) or any iterable of
    experts (indexed here). Pure: the same pool, request, history and ``today`` always give
    the same result, in canonical (sorted) order.
    """
    if not isinstance(pool, ExpertPool):
        pool = ExpertPool(pool)
    ctx = _Context(request, history, today)
    home = request.tender_region
    regions = pool.regions

    line_ranks: list[list[int]] = []
    for d in request.demands:
        ranks = pool.ranks_under(d.code)
        rule = d.region_rule
        if rule.scope is not RegionScope.ANY:
            admitted = [g for g in regions if rule.admits(g, home)]
            if len(admitted) != len(regions):
                allowed = pool.ranks_in_regions(admitted)
                ranks = [r for r in ranks if r in allowed]
        line_ranks.append(ranks)

    # Only these experts can have a reason to be excluded (see ExpertPool); everyone else
    # matching a line is eligible without being looked at.
    suspects: set[int] = set(pool.irregular_ranks)
    for org in ctx.conflicted | ctx.supervising:
        suspects.update(pool.ranks_tied_to(org))
    for day in ctx.eval_dates:
        suspects.update(pool.ranks_unavailable_on(day))
    flagged_ids = set(ctx.past_for_tenderee) | set(ctx.extra)
    if ctx.cap is not None:
        flagged_ids |= {x for x, n in ctx.past_this_year.items() if n >= ctx.cap}
    for expert_id in flagged_ids:
        r = pool.rank_of(expert_id)
        if r is not None:
            suspects.add(r)

    # Suspects are visited in rank order, which is expert-id order, so the rows come out
    # in canonical order without a global sort.
    rows: list[Exclusion] = []
    excluded_ranks: set[int] = set()
    for r in sorted(suspects):
        if not any(_sorted_has(ranks, r) for ranks in line_ranks):
            continue  # matches no line: not part of this draw
        e = pool.expert_at(r)
        reasons = _exclusions_of(e, ctx)
        if reasons:
            excluded_ranks.add(r)
            eid = e.expert_id
            for code, detail in sorted({(reason.code, detail) for reason, detail in reasons}):
                rows.append(Exclusion(eid, code, detail))
    ids = pool.ids
    candidates = tuple(
        _pick(ids, filterfalse(excluded_ranks.__contains__, ranks) if excluded_ranks else ranks)
        for ranks in line_ranks
    )
    return Eligibility(candidates, tuple(rows))


def _sorted_has(ranks: list[int], r: int) -> bool:
    i = bisect_left(ranks, r)
    return i < len(ranks) and ranks[i] == r


def _pick(ids: tuple[str, ...], ranks: Iterable[int]) -> tuple[str, ...]:
    """``tuple(ids[r] for r in ranks)``, at C speed."""
    chosen = list(ranks)
    if len(chosen) < 2:
        return tuple(ids[r] for r in chosen)
    return itemgetter(*chosen)(ids)  # type: ignore[no-any-return]


# --- feasibility -----------------------------------------------------------------------


def check_feasibility(request: DrawRequest, candidates: Sequence[Sequence[str]]) -> list[Problem]:
    """Every line that could run short of experts for some seed.

    Lines are drawn in order and an expert placed on an earlier line is not available to a
    later one, so line ``i`` can lose at most ``min(Σ_{j<i} min(count_j, |C_i ∩ C_j|),
    |C_i ∩ ⋃_{j<i} C_j|)`` of its candidates to earlier panels. A line whose candidates
    minus that bound are fewer than its count is ``not_enough_eligible``, with the line,
    its code, what is needed, what is eligible and the shortfall. When this list is empty,
    no seed can make the draw run short.
    """
    out: list[Problem] = []
    for i, d in enumerate(request.demands):
        eligible = len(candidates[i])
        contested = 0
        if i > 0:
            mine = set(candidates[i])
            shared = [mine.intersection(candidates[j]) for j in range(i)]
            overlap_sum = sum(min(request.demands[j].count, len(s)) for j, s in enumerate(shared))
            union_overlap = len(set().union(*shared))
            contested = min(overlap_sum, union_overlap)
        available = eligible - contested
        if available < d.count:
            label = demand_label(request, i)
            short = d.count - available
            extra_en = (
                f", up to {contested} of them may be drawn for earlier lines" if contested else ""
            )
            extra_zh = f"，其中至多{contested}人可能已被前序行抽中" if contested else ""
            out.append(
                Problem(
                    ExpertReason.NOT_ENOUGH_ELIGIBLE,
                    f"{label}: needs {d.count}, {eligible} eligible{extra_en}; short by {short}",
                    f"{label}：需要{d.count}人，符合条件{eligible}人{extra_zh}；缺{short}人",
                    {
                        "line": i,
                        "specialty": d.code.code,
                        "needed": d.count,
                        "eligible": eligible,
                        "contested": contested,
                        "short_by": short,
                    },
                )
            )
    return out
