"""Panel draws as use cases: request (commit), run, summon, answer, replace, fix, verify.

Theory of operation
-------------------
1. ``request_draw`` (staff): the request names the tender by a reference string and the
   tenderee, bidders and supervising departments by their platform organisation ids; they
   become organisation codes (unified social credit codes), the same codes experts declare
   their employer and ties with. The request is checked (T15 composition, E2 known codes),
   eligibility and every exclusion with its reason are computed on the pool as of one pool
   version (E3), a 32-byte secret seed is made (``secrets.token_bytes``) and only its hash
   enters the record; ``experts.draw.commit`` fixes the record and its hashes, which are
   stored and written to the audit log (``experts.draw.commit``) — all before anything is
   drawn. The seed is stored sealed (``PoolKeys.seal_seed``).
2. ``run_draw`` (the same staff member): with the beacon value when the record names a
   beacon round, the draw runs (E1: only the stream chooses) and the whole order, panel and
   replacements, is stored; the panel is summoned at once.
3. Summons (``panel.plan_calls``): each call adds a member row, a message to the outbox
   (delivered after commit by ``experts.outbox``), a notice to the expert's user, and a
   timed event ``experts.summons_timeout`` at the answer deadline. A decline, a timeout or a
   recusal calls the next expert of the same line's order (E5). When a line's order is used
   up the draw is ``short``: the staff member is told which specialty is short and by how
   many (a notice and a supervision alert).
4. Secrecy (E4): until the result is fixed, the list (panel, order, record) is shown only to
   the staff member who requested the draw and to supervisors; anyone else gets 403
   ``panel_secret`` (the web layer audits every 403). Experts see only their own summons.
5. ``fix_result`` (from ``full``): the seed is revealed (stored in clear and in the audit
   log); the record bundle is published; ``verify`` re-runs the draw from it (E7) and also
   checks that the experts actually called are the drawn order, in order.
6. A panel for a sealed tender (``web.panels``): the request is built from the tender — its
   lines, its registered bidders, tenderee and supervising departments — and the draw row
   names the tender (``tender_id``; ``tender:<id>`` in the record). Its result is fixed only
   through the tender, once the tender's evaluation is concluded (``fix_result(...,
   for_tender=True)``): the list stays secret while the panel evaluates (E4).

The pool index (``ExpertPool``) is expensive to build (~0.2 s for 100,000 experts), so a
``PoolCache`` keeps the one built for the current pool version; the web layer holds it in
an ``AppKey``. A draw reads the version ``FOR SHARE`` first, so the pool cannot change
under it and the cached index is exactly that version.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from crypto.signing import canonical_json, sha256_hex
from experts import store
from experts.bundle import make_bundle, record_text, verify_stored
from experts.draw import commit, seed_hash_of
from experts.draw import run_draw as run_pure
from experts.errors import ExpertReason, reject_all
from experts.model.pool import ExpertPool
from experts.model.record import BeaconRef, DrawRecord, DrawResult
from experts.model.request import DrawRequest, ExtraExclusion, SpecialtyDemand
from experts.model.specialties import SpecialtyCode
from experts.notify import Summons, render
from experts.panel import (
    DrawCommand,
    DrawStatus,
    LineState,
    MemberCommand,
    MemberStatus,
    Seat,
    decide_draw,
    decide_member,
    panel_status,
    plan_calls,
)
from experts.rules import check_request, compute_eligibility
from experts.settings import ExpertSettings
from experts.vault import PoolKeys
from trading.audit import AuditLog
from trading.calendar import EventContext, cancel, schedule
from trading.context import Actor, Role
from trading.errors import Rejected
from trading.notices import add_notice
from trading.supervision import overdue, raise_alert

__all__ = [
    "TIMEOUT_EVENT",
    "DrawInput",
    "PoolCache",
    "answer_by_token",
    "answer_as_expert",
    "draw_view",
    "fix_result",
    "get_draw",
    "list_draws",
    "my_summons",
    "on_summons_timeout",
    "panel",
    "published_bundle",
    "recuse_seat",
    "request_draw",
    "run_draw",
    "summons_by_token",
    "verify",
]

TIMEOUT_EVENT = "experts.summons_timeout"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# --- the pool index, one per pool version -------------------------------------------------


class PoolCache:
    """The ``ExpertPool`` built for the latest pool version seen (one at a time)."""

    def __init__(self) -> None:
        self._version = -1
        self._pool: ExpertPool | None = None
        self._lock = asyncio.Lock()
        self.builds = 0

    async def get(self, conn: asyncpg.Connection, version: int) -> ExpertPool:
        """The index of ``version``; the caller holds the version row ``FOR SHARE``."""
        pool = self._pool
        if pool is not None and self._version == version:
            return pool
        async with self._lock:
            if self._pool is not None and self._version == version:
                return self._pool
            # ~100,000 long-lived objects at once: the cyclic collector would scan them over
            # and over while they are made (it doubles the time); nothing here makes cycles
            collecting = gc.isenabled()
            gc.disable()
            try:
                experts = await store.load_pool(conn)
                built = await asyncio.to_thread(ExpertPool, experts)
            finally:
                if collecting:
                    gc.enable()
            self.builds += 1
            if version >= self._version:
                self._version, self._pool = version, built
            return built


# --- the request --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DrawInput:
    """What staff ask for (organisations by their platform ids)."""

    tender_ref: str
    tenderee_org_id: int
    demands: tuple[SpecialtyDemand, ...]
    evaluation_date: date
    evaluation_time: time
    evaluation_place: str
    bidder_org_ids: tuple[int, ...] = ()
    supervising_org_ids: tuple[int, ...] = ()
    tender_region: str | None = None
    evaluation_days: int = 1
    extra_exclusions: tuple[ExtraExclusion, ...] = ()
    tenderee_representatives: int = 0
    min_members: int = 5
    cooldown_days: int = 0
    yearly_cap: int | None = None
    relation_lookback_years: int = 3
    beacon: BeaconRef | None = None
    answer_within_s: int | None = None
    tender_id: int | None = None
    """The bidding tender the panel is drawn for (``web.panels``), or None for a draw by a
    free reference; ``tender_ref`` is then ``tender:<id>``."""


def _today(now: datetime, settings: ExpertSettings) -> date:
    return now.astimezone(settings.tz).date()


def _not_found(draw_id: int) -> Rejected:
    return Rejected(
        ExpertReason.DRAW_NOT_FOUND,
        f"draw {draw_id}",
        f"抽取 {draw_id}",
        details={"draw_id": draw_id},
    )


async def _load_draw(
    conn: asyncpg.Connection, draw_id: int, *, for_update: bool = False
) -> asyncpg.Record:
    d = await store.get_draw(conn, draw_id, for_update=for_update)
    if d is None:
        raise _not_found(draw_id)
    return d


def _require_owner(actor: Actor, d: asyncpg.Record) -> None:
    if actor.user_id != d["requested_by"]:
        raise Rejected(ExpertReason.NOT_DRAW_OWNER, f"draw {d['id']}", details={"draw_id": d["id"]})


def may_see_list(actor: Actor, d: asyncpg.Record) -> bool:
    """E4: before the result is fixed, only the requesting staff member and supervisors."""
    if d["status"] == DrawStatus.FIXED.value:
        return actor.role not in (Role.ANONYMOUS, Role.SYSTEM)
    return actor.role is Role.SUPERVISOR or (
        actor.role in (Role.STAFF, Role.ADMIN) and actor.user_id == d["requested_by"]
    )


def _require_list_access(actor: Actor, d: asyncpg.Record) -> None:
    if not may_see_list(actor, d):
        raise Rejected(ExpertReason.PANEL_SECRET, f"draw {d['id']}", details={"draw_id": d["id"]})


async def request_draw(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    keys: PoolKeys,
    cache: PoolCache,
    settings: ExpertSettings,
    data: DrawInput,
) -> dict[str, Any]:
    """Commit a draw (E7 step 1): check, compute eligibility, commit and audit the record."""
    assert actor.user_id is not None, "a draw is requested by a logged-in staff member"
    async with conn.transaction():
        org_ids = {data.tenderee_org_id, *data.bidder_org_ids, *data.supervising_org_ids}
        orgs = await store.organisations(conn, sorted(org_ids))
        missing = sorted(org_ids - set(orgs))
        if missing:
            raise Rejected(
                ExpertReason.UNKNOWN_ORGANISATION,
                f"no organisation {', '.join(map(str, missing))}",
                f"无单位 {', '.join(map(str, missing))}",
                details={"org_ids": missing},
            )
        tenderee = orgs[data.tenderee_org_id]
        region = data.tender_region or tenderee["region"]
        draw_id = await store.next_draw_id(conn)
        request = DrawRequest(
            request_id=f"DRAW-{draw_id}",
            tender_id=data.tender_ref,
            tenderee_org_id=tenderee["credit_code"],
            tender_region=region,
            demands=data.demands,
            evaluation_date=data.evaluation_date,
            evaluation_time=data.evaluation_time,
            evaluation_place=data.evaluation_place,
            evaluation_days=data.evaluation_days,
            bidder_org_ids=frozenset(orgs[i]["credit_code"] for i in data.bidder_org_ids),
            supervising_org_ids=frozenset(orgs[i]["credit_code"] for i in data.supervising_org_ids),
            extra_exclusions=data.extra_exclusions,
            tenderee_representatives=data.tenderee_representatives,
            min_members=data.min_members,
            cooldown_days=data.cooldown_days,
            yearly_cap=data.yearly_cap,
            relation_lookback_years=data.relation_lookback_years,
        )
        today = _today(now, settings)
        classification = {SpecialtyCode(c) for c in await store.known_codes(conn)}
        problems = check_request(request, classification=classification, today=today)
        if problems:
            reject_all(problems)
        version = await store.pool_version(conn, share=True)
        pool = await cache.get(conn, version)
        since = min(date(today.year, 1, 1), today - timedelta(days=max(request.cooldown_days, 0)))
        history = await store.history(conn, since)
        eligibility = compute_eligibility(pool, request, history, today)
        seed = secrets.token_bytes(32)
        record = commit(
            request, eligibility.candidates, eligibility.exclusions, seed_hash_of(seed), data.beacon
        )
        text = record_text(record)
        lines = [
            {"line": i, "code": d.code.code, "count": d.count, "reserve": d.reserve_count,
             "region_rule": d.region_rule.to_json(), "candidates": len(record.candidates[i])}
            for i, d in enumerate(request.demands)
        ]  # fmt: skip
        answer_within = data.answer_within_s or settings.answer_within_s
        await store.insert_draw(
            conn,
            id=draw_id,
            request_id=request.request_id,
            tender_ref=data.tender_ref,
            tenderee_org_id=data.tenderee_org_id,
            bidder_org_ids=sorted(set(data.bidder_org_ids)),
            supervising_org_ids=sorted(set(data.supervising_org_ids)),
            requested_by=actor.user_id,
            status=DrawStatus.COMMITTED.value,
            pool_version=version,
            evaluation_date=request.evaluation_date,
            evaluation_time=request.evaluation_time.strftime("%H:%M"),
            evaluation_place=request.evaluation_place,
            evaluation_days=request.evaluation_days,
            lines=lines,
            exclusion_count=len(record.exclusions),
            record_json=text,
            record_hash=record.record_hash,
            seed_enc=keys.seal_seed(draw_id, record.record_hash, seed),
            beacon_source=None if data.beacon is None else data.beacon.source,
            beacon_round=None if data.beacon is None else data.beacon.round,
            answer_within_s=answer_within,
            committed_at=now,
            tender_id=data.tender_id,
        )
        await audit.append(
            conn,
            actor=actor,
            action="experts.draw.commit",
            object_type="expert_draw",
            object_id=draw_id,
            at=now,
            payload=text.encode(),
            detail={
                **record.header_json(),
                "record_hash": record.record_hash,
                "tender_ref": data.tender_ref,
                "tender_id": data.tender_id,
                "pool_version": version,
                "candidates": [len(c) for c in record.candidates],
                "exclusions": len(record.exclusions),
            },
        )
        d = await _load_draw(conn, draw_id)
        return draw_view(d, [])


# --- run, summon, answer, replace ---------------------------------------------------------


def _seats(members: Sequence[asyncpg.Record]) -> list[Seat]:
    return [
        Seat(m["line"], m["position"], m["expert_id"], MemberStatus(m["status"])) for m in members
    ]


def _result_of(d: asyncpg.Record) -> DrawResult:
    return DrawResult.from_json(d["result"])


async def _summon(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    settings: ExpertSettings,
    d: asyncpg.Record,
    tenderee_code: str,
    line: int,
    position: int,
    expert_id: str,
) -> int:
    due = now + timedelta(seconds=d["answer_within_s"])
    member_id = await store.insert_member(
        conn, draw_id=d["id"], line=line, position=position, expert_id=expert_id, now=now, due_at=due,
        tenderee_code=tenderee_code, drawn_on=_today(now, settings),
    )  # fmt: skip
    params = {
        "evaluation_date": d["evaluation_date"].isoformat(),
        "evaluation_time": d["evaluation_time"],
        "evaluation_days": d["evaluation_days"],
        "place": d["evaluation_place"],
        "answer_by": due.isoformat(),
    }
    await store.insert_message(conn, member_id, params, now)
    await schedule(conn, kind=TIMEOUT_EVENT, ref=f"member:{member_id}", due_at=due, now=now,
                   payload={"draw_id": d["id"], "member_id": member_id})  # fmt: skip
    expert = await store.get_expert(conn, expert_id)
    if expert is not None and expert["user_id"] is not None:
        summons = _summons_of(expert, params, f"{settings.public_url}/api/v1/me/summons", settings)
        subject, body = render(summons, settings.tz)
        await add_notice(conn, now, subject=subject, body=body, user_id=expert["user_id"],
                         object_type="expert_summons", object_id=str(member_id))  # fmt: skip
    await audit.append(
        conn, actor=actor, action="experts.summons.call", object_type="expert_summons", object_id=member_id, at=now,
        payload=params, detail={"draw_id": d["id"], "line": line, "position": position, "expert_id": expert_id},
    )  # fmt: skip
    return member_id


def _summons_of(
    expert: Any, params: dict[str, Any], link: str, settings: ExpertSettings
) -> Summons:
    return Summons(
        expert_name=expert["name"],
        phone=expert["phone"],
        email=expert["email"],
        language=expert["language"],
        evaluation_date=date.fromisoformat(params["evaluation_date"]),
        evaluation_time=time.fromisoformat(params["evaluation_time"]),
        evaluation_days=params["evaluation_days"],
        place=params["place"],
        answer_by=datetime.fromisoformat(params["answer_by"]),
        link=link,
        centre=settings.centre_name,
    )


async def _tenderee_code(conn: asyncpg.Connection, d: asyncpg.Record) -> str:
    orgs = await store.organisations(conn, [d["tenderee_org_id"]])
    return str(orgs[d["tenderee_org_id"]]["credit_code"])


def _short_json(lines: Sequence[LineState]) -> list[dict[str, Any]]:
    return [s.to_json() for s in lines if s.short_by > 0]


async def _replan(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    settings: ExpertSettings,
    d: asyncpg.Record,
    command: DrawCommand,
    result: DrawResult,
) -> DrawStatus:
    """Call whoever the plan says, then set the draw's status (E5)."""
    seats = _seats(await store.members_of(conn, d["id"]))
    plan = plan_calls(result, seats)
    if plan.calls:
        tenderee_code = await _tenderee_code(conn, d)
        for c in plan.calls:
            await _summon(
                conn, audit, actor, now, settings, d, tenderee_code, c.line, c.position, c.expert_id
            )
    current = DrawStatus(d["status"])
    if command is DrawCommand.RUN:
        current = DrawStatus.COMMITTED
    new = decide_draw(
        current,
        command,
        panel_status(plan.lines) if current is not DrawStatus.SHORT else DrawStatus.SHORT,
    )
    await store.set_status(conn, d["id"], new.value, _short_json(plan.lines))
    if new is DrawStatus.SHORT and current is not DrawStatus.SHORT:
        await _report_short(conn, audit, actor, now, d, plan.short_lines)
    if new is DrawStatus.FULL and current is not DrawStatus.FULL:
        await add_notice(conn, now, subject="评标专家已全部确认 / Panel confirmed",
                         body=f"抽取 {d['request_id']} 的评标专家已全部确认参加，可确定结果。"
                              f" All members of draw {d['request_id']} have confirmed.",
                         user_id=d["requested_by"], object_type="expert_draw", object_id=str(d["id"]))  # fmt: skip
        await audit.append(conn, actor=actor, action="experts.draw.full", object_type="expert_draw",
                           object_id=d["id"], at=now)  # fmt: skip
    return new


async def _report_short(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    d: asyncpg.Record,
    short: Sequence[LineState],
) -> None:
    """Tell the staff member exactly which specialty is short, by how many; alert supervision."""
    en = "; ".join(
        f"line {s.line} ({s.code}): {s.short_by} of {s.count} seats cannot be filled, all {s.order_length} in the order called"
        for s in short
    )
    zh = "；".join(
        f"第{s.line}行（{s.code}）：{s.count}个席位中{s.short_by}个无法补足，抽取顺序中{s.order_length}人均已通知"
        for s in short
    )
    detail = {"draw_id": d["id"], "short_lines": [s.to_json() for s in short]}
    await add_notice(conn, now, subject="评标专家不足 / Panel short",
                     body=f"抽取 {d['request_id']}：{zh}。需重新抽取。 Draw {d['request_id']}: {en}. A new draw is needed.",
                     user_id=d["requested_by"], object_type="expert_draw", object_id=str(d["id"]))  # fmt: skip
    await raise_alert(conn, now, kind="experts.panel_short", severity="warning", object_type="expert_draw",
                      object_id=str(d["id"]), message_en=f"Draw {d['request_id']} is short: {en}",
                      message_zh=f"抽取 {d['request_id']} 专家不足：{zh}", detail=detail,
                      dedup_key=f"experts.panel_short:{d['id']}")  # fmt: skip
    await audit.append(conn, actor=actor, action="experts.draw.short", object_type="expert_draw", object_id=d["id"],
                       at=now, detail=detail)  # fmt: skip


async def run_draw(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    keys: PoolKeys,
    settings: ExpertSettings,
    draw_id: int,
    beacon_value: bytes | None = None,
) -> dict[str, Any]:
    """Draw (E7 step 2) and summon the panel. Only the staff member who requested it."""
    async with conn.transaction():
        d = await _load_draw(conn, draw_id, for_update=True)
        _require_owner(actor, d)
        if d["status"] != DrawStatus.COMMITTED.value:
            raise Rejected(ExpertReason.WRONG_DRAW_STATE, f"the draw is already {d['status']}",
                           f"抽取状态已为 {d['status']}", details={"draw_status": d["status"]})  # fmt: skip
        sec = await store.draw_secrets(conn, draw_id)
        assert sec is not None
        record = DrawRecord.from_json(json.loads(sec["record_json"]))
        seed = keys.open_seed(draw_id, d["record_hash"], sec["seed_enc"])
        result = run_pure(record, seed, beacon_value)
        result_json = result.to_json()
        await store.set_drawn(conn, draw_id, result=result_json, beacon_value=beacon_value, now=now)
        await audit.append(
            conn, actor=actor, action="experts.draw.run", object_type="expert_draw", object_id=draw_id, at=now,
            payload=result_json,
            detail={"record_hash": d["record_hash"], "result_hash": sha256_hex(canonical_json(result_json)),
                    "beacon_value": None if beacon_value is None else beacon_value.hex()},
        )  # fmt: skip
        d = await _load_draw(conn, draw_id)
        await _replan(conn, audit, actor, now, settings, d, DrawCommand.RUN, result)
        d = await _load_draw(conn, draw_id)
        return draw_view(d, await store.members_of(conn, draw_id))


async def _answer(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    settings: ExpertSettings,
    member_id: int,
    command: MemberCommand,
    reason: str,
    *,
    by_token: bool = False,
) -> dict[str, Any]:
    """Apply one member command and re-plan (inside the caller's transaction)."""
    m = await store.get_member(conn, member_id)
    if m is None:
        raise Rejected(ExpertReason.SUMMONS_NOT_FOUND)
    d = await _load_draw(
        conn, m["draw_id"], for_update=True
    )  # draw first, then member: one lock order
    m = await store.get_member(conn, member_id, for_update=True)
    assert m is not None
    if d["status"] == DrawStatus.FIXED.value:
        raise Rejected(ExpertReason.SUMMONS_CLOSED, "the result is fixed", "结果已确定")
    new = decide_member(MemberStatus(m["status"]), command)
    await store.set_member_status(
        conn, member_id, new.value, now, reason=reason, token_used=by_token
    )
    if m["status"] == MemberStatus.SUMMONED.value:
        await cancel(conn, kind=TIMEOUT_EVENT, ref=f"member:{member_id}")
    await audit.append(
        conn, actor=actor, action=f"experts.summons.{command.value}", object_type="expert_summons",
        object_id=member_id, at=now, payload={"reason": reason},
        detail={"draw_id": d["id"], "line": m["line"], "position": m["position"], "status": new.value,
                "by_token": by_token, "reason": reason[:200]},
    )  # fmt: skip
    await _replan(conn, audit, actor, now, settings, d, DrawCommand.ANSWER, _result_of(d))
    m2 = await store.get_member(conn, member_id)
    assert m2 is not None
    return _summons_json(m2, d)


async def answer_by_token(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    settings: ExpertSettings,
    token: str,
    command: MemberCommand,
    reason: str = "",
) -> dict[str, Any]:
    """An expert answers through the one-time link (confirm or decline)."""
    assert command in (MemberCommand.CONFIRM, MemberCommand.DECLINE)
    async with conn.transaction():
        m = await store.member_by_token(conn, token_hash(token))
        if m is None:
            raise Rejected(ExpertReason.SUMMONS_NOT_FOUND)
        if m["token_used_at"] is not None:
            raise Rejected(ExpertReason.TOKEN_USED, details={"answered": m["status"]})
        return await _answer(
            conn, audit, actor, now, settings, m["id"], command, reason, by_token=True
        )


async def answer_as_expert(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    settings: ExpertSettings,
    member_id: int,
    command: MemberCommand,
    reason: str = "",
) -> dict[str, Any]:
    """The logged-in expert answers their own summons (confirm, decline, or recuse after
    confirming). Someone who was not summoned: ``not_summoned`` (403)."""
    async with conn.transaction():
        me = None if actor.user_id is None else await store.expert_of_user(conn, actor.user_id)
        if me is None:
            raise Rejected(ExpertReason.NOT_IN_POOL)
        m = await store.get_member(conn, member_id)
        if m is None:
            raise Rejected(ExpertReason.SUMMONS_NOT_FOUND)
        if m["expert_id"] != me["expert_id"]:
            raise Rejected(ExpertReason.NOT_SUMMONED, details={"summons_id": member_id})
        return await _answer(conn, audit, actor, now, settings, member_id, command, reason)


async def recuse_seat(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    settings: ExpertSettings,
    draw_id: int,
    line: int,
    position: int,
    reason: str,
) -> dict[str, Any]:
    """The staff member who ran the draw takes the member at a seat off the panel (a
    conflict found late, IR 48); the next in the order is called (E5) and the member's
    status becomes ``replaced`` (T19: their scores are void). The seat is named by its
    place in the drawn order, never by an expert."""
    async with conn.transaction():
        d = await _load_draw(conn, draw_id, for_update=True)
        _require_owner(actor, d)
        m = await store.member_at(conn, draw_id, line, position)
        if m is None:
            raise Rejected(ExpertReason.SEAT_NOT_FOUND, f"line {line}, position {position}",
                           f"第{line}行第{position}位", details={"line": line, "position": position})  # fmt: skip
        await _answer(conn, audit, actor, now, settings, m["id"], MemberCommand.RECUSE, reason)
        d = await _load_draw(conn, draw_id)
        return draw_view(d, await store.members_of(conn, draw_id))


async def on_summons_timeout(ctx: EventContext, audit: AuditLog, settings: ExpertSettings) -> None:
    """Timed event ``experts.summons_timeout``: no answer in time counts as a decline."""
    member_id = int(ctx.event.payload["member_id"])
    m = await store.get_member(ctx.conn, member_id)
    if m is None or m["status"] != MemberStatus.SUMMONED.value:
        return
    d = await store.get_draw(ctx.conn, m["draw_id"])
    if d is None or d["status"] == DrawStatus.FIXED.value:
        return
    await _answer(ctx.conn, audit, Actor.system("summons-timeout"), ctx.now, settings, member_id,
                  MemberCommand.TIMEOUT, "no answer in time")  # fmt: skip
    await overdue(ctx.conn, ctx.now, kind="experts.summons_unanswered", ref=f"member:{member_id}",
                  object_id=m["draw_id"], due_at=ctx.event.due_at,
                  message_en=f"Draw {d['request_id']}: a summoned expert did not answer in time; counted as a "
                  "decline, the next in the drawn order is called (E5)",
                  message_zh=f"抽取 {d['request_id']}：被通知的专家未在规定时间内答复，视为拒绝，按抽取顺序递补（E5）",
                  detail={"draw_id": m["draw_id"], "member_id": member_id})  # fmt: skip


async def fix_result(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    keys: PoolKeys,
    draw_id: int,
    for_tender: bool = False,
) -> dict[str, Any]:
    """The result is fixed: the list stops being secret and the seed is revealed (E7 step 3).

    A panel drawn for a tender is fixed only through the tender (``for_tender``: the web
    layer checks that the tender's evaluation result is fixed first — E4)."""
    async with conn.transaction():
        d = await _load_draw(conn, draw_id, for_update=True)
        _require_owner(actor, d)
        if d["tender_id"] is not None and not for_tender:
            raise Rejected(
                ExpertReason.WRONG_DRAW_STATE,
                f"the panel of tender {d['tender_id']} is fixed with "
                f"POST /api/v1/tenders/{d['tender_id']}/panel/fix once its evaluation is concluded",
                f"招标项目 {d['tender_id']} 的评标委员会须在评标结束后通过 "
                f"POST /api/v1/tenders/{d['tender_id']}/panel/fix 确定",
                details={"tender_id": d["tender_id"]},
            )
        decide_draw(DrawStatus(d["status"]), DrawCommand.FIX, DrawStatus.FIXED)
        sec = await store.draw_secrets(conn, draw_id)
        assert sec is not None
        seed = keys.open_seed(draw_id, d["record_hash"], sec["seed_enc"])
        await store.set_fixed(conn, draw_id, seed, now)
        await audit.append(
            conn, actor=actor, action="experts.draw.fix", object_type="expert_draw", object_id=draw_id, at=now,
            detail={"record_hash": d["record_hash"], "seed": seed.hex(),
                    "result_hash": sha256_hex(canonical_json(d["result"]))},
        )  # fmt: skip
        d = await _load_draw(conn, draw_id)
        return draw_view(d, await store.members_of(conn, draw_id))


# --- reading ------------------------------------------------------------------------------


def _summons_json(m: asyncpg.Record, d: asyncpg.Record) -> dict[str, Any]:
    """What an expert sees of their own summons: time and place, never the project (E6)."""
    return {
        "summons_id": m["id"],
        "status": m["status"],
        "evaluation_date": d["evaluation_date"],
        "evaluation_time": d["evaluation_time"],
        "evaluation_days": d["evaluation_days"],
        "place": d["evaluation_place"],
        "called_at": m["called_at"],
        "answer_due_at": m["answer_due_at"],
        "answered_at": m["answered_at"],
    }


def draw_view(d: asyncpg.Record, members: Sequence[asyncpg.Record]) -> dict[str, Any]:
    """The draw as staff and supervisors see it: status and counts, no names."""
    counts: dict[int, dict[str, int]] = {}
    for m in members:
        c = counts.setdefault(m["line"], {})
        c[m["status"]] = c.get(m["status"], 0) + 1
    return {
        "id": d["id"],
        "request_id": d["request_id"],
        "tender_ref": d["tender_ref"],
        "tender_id": d["tender_id"],
        "tenderee_org_id": d["tenderee_org_id"],
        "bidder_org_ids": list(d["bidder_org_ids"]),
        "supervising_org_ids": list(d["supervising_org_ids"]),
        "requested_by": d["requested_by"],
        "status": d["status"],
        "pool_version": d["pool_version"],
        "evaluation": {
            "date": d["evaluation_date"],
            "time": d["evaluation_time"],
            "place": d["evaluation_place"],
            "days": d["evaluation_days"],
        },
        "lines": [{**ln, "called": counts.get(ln["line"], {})} for ln in d["lines"]],
        "exclusion_count": d["exclusion_count"],
        "record_hash": d["record_hash"],
        "beacon": None
        if d["beacon_source"] is None
        else {"source": d["beacon_source"], "round": d["beacon_round"]},
        "beacon_value": None if d["beacon_value"] is None else bytes(d["beacon_value"]).hex(),
        "short_lines": d["short_lines"],
        "answer_within_s": d["answer_within_s"],
        "committed_at": d["committed_at"],
        "drawn_at": d["drawn_at"],
        "fixed_at": d["fixed_at"],
        "seed": None if d["seed_revealed"] is None else bytes(d["seed_revealed"]).hex(),
    }


async def get_draw(conn: asyncpg.Connection, draw_id: int) -> dict[str, Any]:
    d = await _load_draw(conn, draw_id)
    return draw_view(d, await store.members_of(conn, draw_id))


async def list_draws(
    conn: asyncpg.Connection,
    *,
    tender_ref: str | None,
    status: str | None,
    before: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    rows = await store.list_draws(
        conn, tender_ref=tender_ref, status=status, before=before, limit=limit
    )
    return [draw_view(d, []) for d in rows]


async def panel(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, draw_id: int
) -> dict[str, Any]:
    """The list: everyone called, with their seat and status, and the drawn order (E4).

    Viewing the list before the result is fixed is itself audited."""
    async with conn.transaction():
        d = await _load_draw(conn, draw_id)
        _require_list_access(actor, d)
        members = await store.members_of(conn, draw_id)
        names: dict[str, str] = {}
        for m in members:
            e = await store.get_expert(conn, m["expert_id"])
            names[m["expert_id"]] = "" if e is None else e["name"]
        if d["status"] != DrawStatus.FIXED.value:
            await audit.append(conn, actor=actor, action="experts.panel.view", object_type="expert_draw",
                               object_id=draw_id, at=now, detail={"status": d["status"]})  # fmt: skip
        return {
            "draw_id": draw_id,
            "status": d["status"],
            "members": [
                {
                    "line": m["line"],
                    "position": m["position"],
                    "expert_id": m["expert_id"],
                    "name": names[m["expert_id"]],
                    "status": m["status"],
                    "seated": m["status"] == MemberStatus.CONFIRMED.value,
                    "scores_void": m["status"] == MemberStatus.REPLACED.value,
                    "called_at": m["called_at"],
                    "answered_at": m["answered_at"],
                    "reason": m["reason"],
                }
                for m in members
            ],
            "result": d["result"],
        }


async def published_bundle(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, draw_id: int
) -> dict[str, Any]:
    """The draw record as published (JSON): record, result, calls, and — once the result is
    fixed — the seed; signed with the server's key. Before fixing: the list-access rule."""
    d = await _load_draw(conn, draw_id)
    _require_list_access(actor, d)
    sec = await store.draw_secrets(conn, draw_id)
    assert sec is not None
    members = await store.members_of(conn, draw_id)
    return make_bundle(
        draw_id=draw_id,
        record_json=json.loads(sec["record_json"]),
        result_json=d["result"],
        calls=[(m["line"], m["position"], m["expert_id"], m["status"]) for m in members],
        seed=None if d["seed_revealed"] is None else bytes(d["seed_revealed"]),
        beacon_value=None if d["beacon_value"] is None else bytes(d["beacon_value"]),
        published_record_hash=await store.published_record_hash(conn, draw_id),
        sign=audit.sign,
        key_id=audit.key_id,
        public_key=audit.public_key,
    )


async def verify(conn: asyncpg.Connection, draw_id: int) -> dict[str, Any]:
    """E7: re-run a fixed draw from its published record and compare: the record's hashes,
    the hash published in the audit log before the draw, the seed against its commitment,
    every position of every order, and the calls actually made against the order."""
    d = await _load_draw(conn, draw_id)
    if d["status"] != DrawStatus.FIXED.value:
        raise Rejected(
            ExpertReason.DRAW_NOT_FIXED, f"the draw is {d['status']}", f"抽取状态为 {d['status']}"
        )
    sec = await store.draw_secrets(conn, draw_id)
    assert sec is not None
    published = await store.published_record_hash(conn, draw_id)
    members = await store.members_of(conn, draw_id)
    calls = [(m["line"], m["position"], m["expert_id"], m["status"]) for m in members]
    return verify_stored(
        draw_id=draw_id,
        record_text=sec["record_json"],
        result_json=d["result"],
        seed=bytes(d["seed_revealed"]),
        beacon_value=None if d["beacon_value"] is None else bytes(d["beacon_value"]),
        published_record_hash=published,
        calls=calls,
    )


async def my_summons(
    conn: asyncpg.Connection, actor: Actor, limit: int = 100
) -> list[dict[str, Any]]:
    """The logged-in expert's own summons (time and place only)."""
    me = None if actor.user_id is None else await store.expert_of_user(conn, actor.user_id)
    if me is None:
        raise Rejected(ExpertReason.NOT_IN_POOL)
    out: list[dict[str, Any]] = []
    for m in await store.members_of_expert(conn, me["expert_id"], limit):
        d = await store.get_draw(conn, m["draw_id"])
        assert d is not None
        out.append(_summons_json(m, d))
    return out


async def summons_by_token(conn: asyncpg.Connection, token: str) -> dict[str, Any]:
    """What the one-time link shows (it does not use the token up)."""
    m = await store.member_by_token(conn, token_hash(token))
    if m is None:
        raise Rejected(ExpertReason.SUMMONS_NOT_FOUND)
    d = await store.get_draw(conn, m["draw_id"])
    assert d is not None
    return _summons_json(m, d) | {"answerable": m["status"] == MemberStatus.SUMMONED.value
                                  and m["token_used_at"] is None and d["status"] != DrawStatus.FIXED.value}  # fmt: skip
