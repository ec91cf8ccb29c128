"""The use cases after the evaluation report, one transaction each: start the procedure,
publish the candidates, objections, complaints and the supervisor's acts, award (W8, W9),
decline, contract (W10, W11) with the refund of every deposit (D5), the failed tender and
its re-tender draft (W7), and the timed events' handlers (T18, W10, W12).

Two crossings are passed in, never imported, because they belong to other packages:

- the concluded evaluation result (``bidding.evaluation``'s ``concluded_result``) — the web
  layer reads it and passes it here (converted by :func:`bidding.award.model.result_from`);
- the deposit ledger (``trading.ledger``): a :class:`Deposits` port, implemented in
  ``web/award.py`` with the ledger's own use cases, called *inside* the contract's (or the
  decline's) transaction, so the contract and its refunds commit together or not at all.

Public notices (F's ``bidding.service.public.publish_notice``) are written in the same
transaction as the step they announce.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg

from bidding import store as bidding_store
from bidding.award import rules, store
from bidding.award.errors import AwardReason, AwardRejected
from bidding.award.model import (
    AwardDecision,
    AwardProcedure,
    AwardSettings,
    AwardState,
    Complaint,
    ComplaintOutcome,
    ComplaintState,
    Contract,
    Objection,
    PassReason,
    Result,
)
from bidding.model import BiddingSettings, Tender, TenderState
from bidding.records import Signed
from bidding.service import tenders
from bidding.service.common import (
    SCHEDULER,
    canonical_text,
    load_tender,
    notify_registered,
    refusals_audited,
    sign,
    signed_from_row,
)
from trading.audit import AuditLog
from trading.calendar import events as calendar
from trading.clock import iso_ms
from trading.context import Actor
from trading.errors import NotFound
from trading.ledger import store as ledger_store
from trading.ledger.model import WorkCalendar
from trading.notices import add_notice
from trading.parties import service as parties
from trading.supervision import overdue, step_done

__all__ = [
    "AWARD_NOTICE_TYPE",
    "Deposits",
    "accept_complaint",
    "answer_objection",
    "approve_forfeit",
    "award",
    "complain",
    "decide_complaint",
    "declare_failed",
    "decline_award",
    "object_to_candidates",
    "on_complaint_accept_due",
    "on_complaint_decide_due",
    "on_contract_due",
    "on_objection_due",
    "on_publicity_due",
    "publish_candidates",
    "record_contract",
    "refuse_complaint",
    "start_procedure",
    "status",
    "watch",
]

AWARD_NOTICE_TYPE = "sunlit/award-notice/v1"

Concluded = Callable[[asyncpg.Connection, int], Awaitable[Result | None]]


class Deposits(Protocol):
    """What the award asks of the deposit ledger (implemented in ``web/award.py``)."""

    async def refund_after_contract(
        self, conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, *,
        tender: Tender, signed_at: datetime,
    ) -> dict[str, Any]:
        """D5 (IR 57): refund every confirmed deposit of the tender, with interest."""
        ...

    async def request_forfeit(
        self, conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, *,
        tender: Tender, org_id: int, note: str,
    ) -> bool:
        """D6 (IR 74): the winner refused to sign — ask to forfeit its deposit (a second
        staff member approves). ``False`` when there is no confirmed deposit to forfeit."""
        ...

    async def approve_forfeit(
        self, conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, *,
        tender: Tender, org_id: int,
    ) -> dict[str, Any]:
        ...


# ---------------------------------------------------------------------------- helpers


async def _procedure(
    conn: asyncpg.Connection, tender_id: int, *, lock: bool = False
) -> AwardProcedure:
    proc = await store.get_procedure(conn, tender_id, lock=lock)
    if proc is None:
        raise AwardRejected(AwardReason.NO_CONCLUDED_REPORT, f"tender {tender_id}", f"招标项目 {tender_id}")
    return proc


async def _timers(
    conn: asyncpg.Connection, ref: int, decision: rules.Decision, now: datetime
) -> None:
    for kind in decision.cancel_timers:
        await calendar.cancel(conn, kind=kind, ref=ref)
    for timer in decision.timers:
        await calendar.schedule(conn, kind=timer.kind, ref=ref, due_at=timer.due_at, now=now)


async def _public_notice(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    kind: str,
    tender_id: int,
    title_zh: str,
    title_en: str,
    data: dict[str, Any],
) -> int | None:
    """A public notice (F's ``publish_notice``) in the caller's transaction; ``None`` on a
    build without the public notices."""
    try:
        from bidding.public import NoticeKind
        from bidding.service.public import publish_notice
    except ImportError:
        return None
    return await publish_notice(
        conn, audit, actor, now, kind=NoticeKind(kind), tender_id=tender_id,
        title_zh=title_zh, title_en=title_en, data=data,
    )


async def _org_name(conn: asyncpg.Connection, org_id: int) -> str:
    try:
        return (await parties.get_organisation(conn, org_id)).name
    except NotFound:
        return f"org {org_id}"


async def _bidder_of(conn: asyncpg.Connection, tender_id: int, actor: Actor) -> int:
    org_ids = await store.bidder_org_ids(conn, tender_id)
    if actor.org_id is None or actor.org_id not in org_ids or actor.user_id is None:
        raise AwardRejected(AwardReason.NOT_A_BIDDER_OF_TENDER)
    return actor.org_id


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


# ---------------------------------------------------------------------------- start


async def start_procedure(
    conn: asyncpg.Connection, audit: AuditLog, now: datetime, result: Result, settings: AwardSettings
) -> AwardProcedure:
    """The report is concluded: the procedure starts with its candidates, budget and control
    price (for the savings rate), and the publication deadline is armed (T18). Idempotent."""
    async with conn.transaction():
        existing = await store.get_procedure(conn, result.tender_id, lock=True)
        if existing is not None:
            return existing
        state, due, timers = rules.start(result, settings)
        budget, control = await store.tender_money(conn, result.tender_id)
        await store.insert_procedure(
            conn, result, state=state, publicity_due_at=due, budget_fen=budget,
            control_price_fen=control, now=now,
        )
        for timer in timers:
            await calendar.schedule(conn, kind=timer.kind, ref=result.tender_id, due_at=timer.due_at, now=now)
        await audit.append(
            conn,
            actor=SCHEDULER,
            action="award.start",
            object_type="tender",
            object_id=result.tender_id,
            at=now,
            detail={
                "report_id": result.report_id,
                "failed": result.failed,
                "candidates": len(result.candidates),
                "publicity_due_at": iso_ms(due),
            },
        )
        return await _procedure(conn, result.tender_id)


async def _ensure_started(
    conn: asyncpg.Connection,
    audit: AuditLog,
    now: datetime,
    tender: Tender,
    result: Result | None,
    settings: AwardSettings,
) -> AwardProcedure:
    proc = await store.get_procedure(conn, tender.id, lock=True)
    if proc is not None:
        return proc
    if result is None and tender.state is TenderState.FAILED and tender.failed_at is not None:
        # failed at the freeze (T7): no report, no candidates
        result = Result(tender.id, None, tender.failed_at, True, ())
    if result is None:
        raise AwardRejected(AwardReason.NO_CONCLUDED_REPORT)
    await start_procedure(conn, audit, now, result, settings)
    return await _procedure(conn, tender.id, lock=True)


async def watch(
    conn: asyncpg.Connection,
    audit: AuditLog,
    now: datetime,
    settings: AwardSettings,
    concluded: Concluded,
) -> list[int]:
    """The award watch (timed event ``award.sweep``): start the procedure of every opened
    tender whose report has concluded, arming its publication deadline (T18). Returns the
    tenders started. (A tender failed at the freeze starts its procedure when staff declare
    the failure: it has no deadline to watch.)"""
    started: list[int] = []
    for tender_id in await store.tenders_awaiting_procedure(conn):
        result = await concluded(conn, tender_id)
        if result is None:
            continue
        await start_procedure(conn, audit, now, result, settings)
        started.append(tender_id)
    return started


# ---------------------------------------------------------------------------- T18 publicity


async def publish_candidates(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    result: Result | None,
    settings: AwardSettings,
) -> AwardProcedure:
    """Staff publish the ranked candidates (中标候选人公示) for ``publicity_days`` (T18)."""
    async with refusals_audited(
        conn, audit, actor, now, action="award.publicity", tender_id=tender_id
    ), conn.transaction():
        tender = await load_tender(conn, tender_id, lock="update")
        proc = await _ensure_started(conn, audit, now, tender, result, settings)
        decision = rules.decide(proc, rules.PublishCandidates(), now, settings)
        names = {c.org_id: await _org_name(conn, c.org_id) for c in proc.candidates}
        ends = decision.changes["publicity_ends_at"]
        data = {
            "tender_code": tender.code,
            "report_id": proc.report_id,
            "publicity_starts_at": iso_ms(now),
            "publicity_ends_at": iso_ms(ends),
            "candidates": [
                {"rank": c.rank, "bidder_name": names[c.org_id], "price_fen": c.price_fen,
                 "score": str(c.score) if c.score is not None else None}
                for c in proc.candidates
            ],
            "objections_to": f"/api/v1/tenders/{tender.id}/award/objections",
        }
        notice_id = await _public_notice(
            conn, audit, actor, now, kind="candidates", tender_id=tender.id,
            title_zh=f"{tender.project_name} 中标候选人公示", title_en=f"Candidates: {tender.code}",
            data=data,
        )
        proc = await store.update_procedure(
            conn, proc, state=decision.state, publicity_notice_id=notice_id, **decision.changes
        )
        await _timers(conn, tender.id, decision, now)
        await step_done(conn, audit, now, kind="award.publicity_overdue", ref=tender.id)
        await notify_registered(
            conn, tender, now,
            subject=f"中标候选人公示 Candidates published: {tender.code}",
            body="\n".join(
                f"{c.rank}. {names[c.org_id]} {_yuan(c.price_fen)} 元" for c in proc.candidates
            ) + f"\n公示至 until {iso_ms(ends)}；异议 objections: POST /api/v1/tenders/{tender.id}/award/objections",
        )
        await audit.append(
            conn, actor=actor, action="award.publicity", object_type="tender", object_id=tender.id,
            at=now, payload=data,
            detail={"late": decision.late, "due_at": iso_ms(proc.publicity_due_at), "notice_id": notice_id},
        )
    return proc


async def on_publicity_due(conn: asyncpg.Connection, now: datetime, tender_id: int) -> None:
    """T18: the report is 3 days old and the candidates are not published → one alert."""
    proc = await store.get_procedure(conn, tender_id)
    if proc is None or proc.state is not AwardState.CONCLUDED or not proc.candidates:
        return
    await overdue(
        conn, now, kind="award.publicity_overdue", ref=tender_id, object_id=tender_id,
        due_at=proc.publicity_due_at,
        message_en=f"Tender {tender_id}: the candidates were not published within 3 days of the report "
        f"(due {iso_ms(proc.publicity_due_at)}; IR 54)",
        message_zh=f"招标项目 {tender_id}：未在收到评标报告之日起 3 日内公示中标候选人（应于 "
        f"{iso_ms(proc.publicity_due_at)} 前；实施条例第五十四条）",
        detail={"due_at": iso_ms(proc.publicity_due_at), "report_id": proc.report_id},
    )


# ---------------------------------------------------------------------------- objections


async def object_to_candidates(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    text: str,
    settings: AwardSettings,
) -> Objection:
    """A bidder of the tender objects to the candidates during the publicity (T18, IR 54);
    the award waits for the written answer, due in 3 days (a timed event alerts)."""
    async with refusals_audited(
        conn, audit, actor, now, action="award.objection", tender_id=tender_id
    ), conn.transaction():
        proc = await _procedure(conn, tender_id, lock=True)
        org_id = await _bidder_of(conn, tender_id, actor)
        rules.check_objection_window(proc, now)
        assert actor.user_id is not None
        objection = await store.insert_objection(
            conn, tender_id=tender_id, org_id=org_id, submitted_by=actor.user_id, text=text,
            now=now, answer_due_at=rules.objection_answer_due_at(now, settings),
        )
        await calendar.schedule(
            conn, kind=rules.OBJECTION_DUE, ref=objection.id, due_at=objection.answer_due_at, now=now,
            payload={"tender_id": tender_id},
        )
        await audit.append(
            conn, actor=actor, action="award.objection", object_type="tender", object_id=tender_id,
            at=now, payload={"objection_id": objection.id, "text": text},
            detail={"answer_due_at": iso_ms(objection.answer_due_at)},
        )
    return objection


async def answer_objection(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    objection_id: int,
    answer: str,
) -> Objection:
    """Staff answer an objection in writing; the objector is told."""
    async with refusals_audited(
        conn, audit, actor, now, action="award.objection_answer", tender_id=tender_id
    ), conn.transaction():
        await _procedure(conn, tender_id, lock=True)
        objection = await store.get_objection(conn, objection_id, lock=True)
        if objection is None or objection.tender_id != tender_id:
            raise NotFound(
                f"objection {objection_id} not found", f"异议 {objection_id} 不存在", code="objection_not_found"
            )
        if not objection.open:
            raise AwardRejected(AwardReason.OBJECTION_ANSWERED)
        objection = await store.answer_objection(conn, objection_id, answer, actor.user_id, now)
        await calendar.cancel(conn, kind=rules.OBJECTION_DUE, ref=objection_id)
        await step_done(conn, audit, now, kind="award.objection_overdue", ref=objection_id)
        await add_notice(
            conn, now, org_id=objection.org_id, object_type="tender", object_id=str(tender_id),
            subject=f"异议答复 Answer to your objection #{objection_id}", body=answer,
        )
        await audit.append(
            conn, actor=actor, action="award.objection_answer", object_type="tender",
            object_id=tender_id, at=now, payload={"objection_id": objection_id, "answer": answer},
            detail={"late": now > objection.answer_due_at},
        )
    return objection


async def on_objection_due(conn: asyncpg.Connection, now: datetime, objection_id: int) -> None:
    objection = await store.get_objection(conn, objection_id)
    if objection is None or not objection.open:
        return
    await overdue(
        conn, now, kind="award.objection_overdue", ref=objection_id, object_id=objection.tender_id,
        due_at=objection.answer_due_at,
        message_en=f"Objection #{objection_id} to the candidates of tender {objection.tender_id} was not "
        "answered within 3 days (IR 54); the award stays suspended",
        message_zh=f"对招标项目 {objection.tender_id} 中标候选人的异议 #{objection_id} 未在 3 日内答复"
        "（实施条例第五十四条），定标继续暂停",
        detail={"objection_id": objection_id, "due_at": iso_ms(objection.answer_due_at)},
    )


# ---------------------------------------------------------------------------- W12 complaints


async def _calendar(conn: asyncpg.Connection) -> WorkCalendar:
    return await ledger_store.work_calendar(conn)


async def complain(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    text: str,
    known_at: datetime | None,
) -> Complaint:
    """A bidder complains to the supervisor within 10 days of knowing (W12, IR 60). Without
    ``known_at`` the bidder is taken to have known from the latest published step (the award
    notice, else the candidates' publicity), since that is when it should have known."""
    async with refusals_audited(
        conn, audit, actor, now, action="award.complaint", tender_id=tender_id
    ), conn.transaction():
        proc = await _procedure(conn, tender_id, lock=True)
        org_id = await _bidder_of(conn, tender_id, actor)
        known = known_at or proc.awarded_at or proc.publicity_published_at or now
        rules.check_complaint_in_time(known, now)
        due = rules.complaint_accept_due_at(now, await _calendar(conn))
        assert actor.user_id is not None
        complaint = await store.insert_complaint(
            conn, tender_id=tender_id, org_id=org_id, submitted_by=actor.user_id, text=text,
            known_at=known, now=now, accept_due_at=due,
        )
        await calendar.schedule(
            conn, kind=rules.COMPLAINT_ACCEPT_DUE, ref=complaint.id, due_at=due, now=now,
            payload={"tender_id": tender_id},
        )
        await audit.append(
            conn, actor=actor, action="award.complaint", object_type="tender", object_id=tender_id,
            at=now, payload={"complaint_id": complaint.id, "text": text, "known_at": iso_ms(known)},
            detail={"accept_due_at": iso_ms(due)},
        )
    return complaint


async def _complaint_step(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    complaint_id: int,
    action: str,
    columns: Callable[[Complaint], Awaitable[dict[str, Any]]],
) -> Complaint:
    async with refusals_audited(
        conn, audit, actor, now, action=f"award.complaint_{action}", tender_id=tender_id
    ), conn.transaction():
        await _procedure(conn, tender_id, lock=True)
        complaint = await store.get_complaint(conn, complaint_id, lock=True)
        if complaint is None or complaint.tender_id != tender_id:
            raise NotFound(
                f"complaint {complaint_id} not found", f"投诉 {complaint_id} 不存在", code="complaint_not_found"
            )
        state = rules.decide_complaint(complaint.state, action)
        values = await columns(complaint)
        updated = await store.update_complaint(
            conn, complaint_id, state=state, acted_by=actor.user_id, **values
        )
        await calendar.cancel(
            conn,
            kind=rules.COMPLAINT_ACCEPT_DUE if action in ("accept", "refuse") else rules.COMPLAINT_DECIDE_DUE,
            ref=complaint_id,
        )
        await step_done(conn, audit, now, ref=complaint_id, kind="award.complaint_accept_overdue"
                        if action in ("accept", "refuse") else "award.complaint_decide_overdue")  # fmt: skip
        if updated.decide_due_at is not None and state is ComplaintState.ACCEPTED:
            await calendar.schedule(
                conn, kind=rules.COMPLAINT_DECIDE_DUE, ref=complaint_id, due_at=updated.decide_due_at,
                now=now, payload={"tender_id": tender_id},
            )
        await add_notice(
            conn, now, org_id=complaint.org_id, object_type="tender", object_id=str(tender_id),
            subject=f"投诉 #{complaint_id}: {state.value}",
            body=(updated.note or "")
            + ("\n招标投标活动暂停 The award is suspended." if updated.suspends_award and state is ComplaintState.ACCEPTED else ""),
        )
        await audit.append(
            conn, actor=actor, action=f"award.complaint_{action}", object_type="tender",
            object_id=tender_id, at=now,
            payload={"complaint_id": complaint_id, **{k: _plain(v) for k, v in values.items()}},
        )
    return updated


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_ms(value)
    return getattr(value, "value", value)


async def accept_complaint(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    complaint_id: int,
    *,
    suspend_award: bool,
    note: str,
) -> Complaint:
    """The supervisor accepts a complaint (W12, IR 61) and may suspend the award (IR 62);
    the decision is due within 30 working days."""
    cal = await _calendar(conn)

    async def columns(_: Complaint) -> dict[str, Any]:
        return {
            "accepted_at": now,
            "suspends_award": suspend_award,
            "decide_due_at": rules.complaint_decide_due_at(now, cal),
            "note": note,
        }

    return await _complaint_step(conn, audit, actor, now, tender_id, complaint_id, "accept", columns)


async def refuse_complaint(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    complaint_id: int,
    *,
    reason: str,
) -> Complaint:
    async def columns(_: Complaint) -> dict[str, Any]:
        return {"refused_at": now, "note": reason}

    return await _complaint_step(conn, audit, actor, now, tender_id, complaint_id, "refuse", columns)


async def decide_complaint(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    complaint_id: int,
    *,
    outcome: ComplaintOutcome,
    decision: str,
) -> Complaint:
    """The supervisor's written decision (W12, IR 61); a suspension ends with it."""
    async def columns(_: Complaint) -> dict[str, Any]:
        return {"decided_at": now, "outcome": outcome, "note": decision}

    return await _complaint_step(conn, audit, actor, now, tender_id, complaint_id, "decide", columns)


async def _complaint_overdue(
    conn: asyncpg.Connection, now: datetime, complaint_id: int, *, waiting: ComplaintState, what: str
) -> None:
    complaint = await store.get_complaint(conn, complaint_id)
    if complaint is None or complaint.state is not waiting:
        return
    due = complaint.accept_due_at if waiting is ComplaintState.RECEIVED else complaint.decide_due_at
    assert due is not None
    en, zh = {
        "accept": ("accepted or refused within 3 working days", "在 3 个工作日内决定是否受理"),
        "decide": ("decided within 30 working days", "在 30 个工作日内作出处理决定"),
    }[what]
    await overdue(
        conn, now, kind=f"award.complaint_{what}_overdue", ref=complaint_id, object_id=complaint.tender_id,
        due_at=due,
        message_en=f"Complaint #{complaint_id} on tender {complaint.tender_id} was not {en} (IR 61)",
        message_zh=f"招标项目 {complaint.tender_id} 的投诉 #{complaint_id} 未{zh}（实施条例第六十一条）",
        detail={"complaint_id": complaint_id, "due_at": iso_ms(due)},
    )


async def on_complaint_accept_due(conn: asyncpg.Connection, now: datetime, complaint_id: int) -> None:
    await _complaint_overdue(conn, now, complaint_id, waiting=ComplaintState.RECEIVED, what="accept")


async def on_complaint_decide_due(conn: asyncpg.Connection, now: datetime, complaint_id: int) -> None:
    await _complaint_overdue(conn, now, complaint_id, waiting=ComplaintState.ACCEPTED, what="decide")


# ---------------------------------------------------------------------------- W8, W9 award


def award_notice_document(
    *, tender: Tender, proc: AwardProcedure, rank: int, winner_name: str,
    others: list[int], passed: list[dict[str, Any]], now: datetime, contract_due_at: datetime,
) -> dict[str, Any]:
    """The award notice (中标通知书, BL 45), signed by the server; it names who else is told."""
    winner = proc.candidate(rank)
    assert winner is not None
    return {
        "type": AWARD_NOTICE_TYPE,
        "tender_id": tender.id,
        "tender_code": tender.code,
        "project_name": tender.project_name,
        "report_id": proc.report_id,
        "rank": rank,
        "bid_id": winner.bid_id,
        "winner_org_id": winner.org_id,
        "winner_name": winner_name,
        "price_fen": winner.price_fen,
        "awarded_at": iso_ms(now),
        "contract_due_at": iso_ms(contract_due_at),
        "passed_over": passed,
        "result_notices_to": others,
    }


async def award(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    *,
    rank: int,
    reason: PassReason | None,
    note: str,
    settings: AwardSettings,
) -> AwardDecision:
    """W8 (IR 55): award to the first candidate, or a lower one with a recorded reason; not
    before the publicity ends, nor while an objection is open or an accepted complaint
    suspends. W9 (BL 45): the signed award notice to the winner, a result notice to every
    other bidder and the public AWARD_RESULT notice, all in this one transaction."""
    async with refusals_audited(
        conn, audit, actor, now, action="award.award", tender_id=tender_id
    ), conn.transaction():
        tender = await load_tender(conn, tender_id, lock="update")
        proc = await _procedure(conn, tender_id, lock=True)
        decision = rules.decide(proc, rules.Award(rank, reason, note), now, settings)
        winner = proc.candidate(rank)
        assert winner is not None
        winner_name = await _org_name(conn, winner.org_id)
        passed: list[dict[str, Any]] = []
        for passed_rank, passed_reason in decision.passed:
            skipped = proc.candidate(passed_rank)
            assert skipped is not None
            await store.insert_passed_over(
                conn, tender_id, passed_rank, skipped.org_id, passed_reason, note, actor.user_id, now
            )
            passed.append({"rank": passed_rank, "org_id": skipped.org_id, "reason": passed_reason.value})
        others = [o for o in await store.bidder_org_ids(conn, tender_id) if o != winner.org_id]
        due = decision.changes["contract_due_at"]
        document = award_notice_document(
            tender=tender, proc=proc, rank=rank, winner_name=winner_name, others=others,
            passed=passed, now=now, contract_due_at=due,
        )
        signed = sign(audit, document)
        award_id = await store.insert_decision(
            conn, tender_id=tender_id, candidate=winner, reason=reason if passed else None,
            note=note, awarded_by=actor.user_id, now=now, document=canonical_text(document),
            signature=signed.signature, key_id=signed.key_id,
        )
        await add_notice(
            conn, now, org_id=winner.org_id, object_type="tender", object_id=str(tender_id),
            subject=f"中标通知书 Award notice: {tender.code}",
            body=(
                f"贵单位中标，中标价 {_yuan(winner.price_fen)} 元；请于 {iso_ms(due)} 前签订合同。\n"
                f"You are awarded the tender at {_yuan(winner.price_fen)} yuan; sign the contract by "
                f"{iso_ms(due)}.\nGET /api/v1/tenders/{tender_id}/award/notice"
            ),
        )
        for org_id in others:
            await add_notice(
                conn, now, org_id=org_id, object_type="tender", object_id=str(tender_id),
                subject=f"中标结果通知书 Result notice: {tender.code}",
                body=(
                    f"本项目中标人为 {winner_name}，中标价 {_yuan(winner.price_fen)} 元。\n"
                    f"The tender is awarded to {winner_name} at {_yuan(winner.price_fen)} yuan."
                ),
            )
        notice_id = await _public_notice(
            conn, audit, actor, now, kind="award_result", tender_id=tender_id,
            title_zh=f"{tender.project_name} 中标结果公告", title_en=f"Award result: {tender.code}",
            data={
                "tender_code": tender.code,
                "winner_name": winner_name,
                "price_fen": winner.price_fen,
                "rank": rank,
                "awarded_at": iso_ms(now),
                "passed_over": [{"rank": p["rank"], "reason": p["reason"]} for p in passed],
            },
        )
        await store.set_decision_notice(conn, award_id, notice_id)
        proc = await store.update_procedure(
            conn, proc, state=decision.state, award_id=award_id, **decision.changes
        )
        await _timers(conn, tender_id, decision, now)
        await audit.append(
            conn, actor=actor, action="award.award", object_type="tender", object_id=tender_id,
            at=now, payload=document,
            detail={"award_id": award_id, "notice_id": notice_id, "result_notices": len(others)},
        )
        made = await store.get_decision(conn, award_id)
        assert made is not None
    return made


async def award_notice(conn: asyncpg.Connection, tender_id: int) -> Signed:
    """The signed award notice of the live (or last) award."""
    decisions = await store.list_decisions(conn, tender_id)
    if not decisions:
        raise NotFound(
            f"tender {tender_id} has no award", f"招标项目 {tender_id} 尚未定标", code="award_not_found"
        )
    row = await store.get_signed_decision(conn, decisions[-1].id)
    assert row is not None
    return signed_from_row(row["document"], row["signature"], row["key_id"])


async def decline_award(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    *,
    reason: PassReason,
    note: str,
    forfeit_deposit: bool,
    deposits: Deposits,
    settings: AwardSettings,
) -> AwardProcedure:
    """The winner gave up (refusing to sign is giving up), cannot perform, or is found
    ineligible: the award lapses, the candidate is passed over with the reason, and the next
    may be awarded (W8). With ``forfeit_deposit`` (refusal to sign, IR 74) the forfeiture of
    its deposit is asked in the same transaction; a second staff member approves it (D6)."""
    async with refusals_audited(
        conn, audit, actor, now, action="award.decline", tender_id=tender_id
    ), conn.transaction():
        tender = await load_tender(conn, tender_id, lock="update")
        proc = await _procedure(conn, tender_id, lock=True)
        decision = rules.decide(proc, rules.Decline(reason, note), now, settings)
        winner = proc.winner
        assert winner is not None and proc.award_id is not None
        requested = False
        if forfeit_deposit:
            requested = await deposits.request_forfeit(
                conn, audit, actor, now, tender=tender, org_id=winner.org_id, note=note
            )
        await store.decline_decision(conn, proc.award_id, reason, note, requested, now)
        await store.insert_passed_over(
            conn, tender_id, winner.rank, winner.org_id, reason, note, actor.user_id, now
        )
        proc = await store.update_procedure(conn, proc, state=decision.state, **decision.changes)
        await _timers(conn, tender_id, decision, now)
        await audit.append(
            conn, actor=actor, action="award.decline", object_type="tender", object_id=tender_id,
            at=now, payload={"rank": winner.rank, "org_id": winner.org_id, "reason": reason.value, "note": note},
            detail={"forfeit_requested": requested},
        )
    return proc


async def approve_forfeit(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    *,
    deposits: Deposits,
) -> dict[str, Any]:
    """D6: the second staff member approves the forfeiture asked when the winner declined
    (the ledger refuses the one who asked)."""
    async with refusals_audited(
        conn, audit, actor, now, action="award.forfeit_approve", tender_id=tender_id
    ), conn.transaction():
        tender = await load_tender(conn, tender_id)
        pending = [d for d in await store.list_decisions(conn, tender_id) if d.forfeit_requested]
        if not pending:
            raise AwardRejected(AwardReason.NO_DECLINED_DEPOSIT)
        return await deposits.approve_forfeit(
            conn, audit, actor, now, tender=tender, org_id=pending[-1].org_id
        )


# ---------------------------------------------------------------------------- W10, W11, D5


async def record_contract(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    *,
    amount_fen: int,
    bond_fen: int,
    signed_at: datetime | None,
    deposits: Deposits,
    settings: AwardSettings,
) -> tuple[Contract, dict[str, Any]]:
    """W10: the contract, for exactly the winning price (30 days after the award; later is
    recorded as late — the alert went on day 31); W11: bond ≤ 10 %. Recording it refunds
    every confirmed deposit with interest (D5) in the same transaction."""
    signed = signed_at or now
    async with refusals_audited(
        conn, audit, actor, now, action="award.contract", tender_id=tender_id
    ), conn.transaction():
        tender = await load_tender(conn, tender_id, lock="update")
        proc = await _procedure(conn, tender_id, lock=True)
        if signed > now or (proc.awarded_at is not None and signed < proc.awarded_at):
            raise AwardRejected(
                AwardReason.WRONG_AWARD_STATE,
                "signed_at must lie between the award and now",
                "合同签订时间须在定标之后、当前时间之前",
            )
        decision = rules.decide(proc, rules.RecordContract(amount_fen, bond_fen), signed, settings)
        winner = proc.winner
        assert winner is not None and proc.award_id is not None
        contract = Contract(
            tender_id=tender_id, award_id=proc.award_id, org_id=winner.org_id, amount_fen=amount_fen,
            bond_fen=bond_fen, signed_at=signed, recorded_by=actor.user_id, recorded_at=now,
            late=decision.late,
        )
        await store.insert_contract(conn, contract)
        await step_done(conn, audit, now, kind="award.contract_overdue", ref=f"{tender_id}:{proc.award_id}")
        proc = await store.update_procedure(conn, proc, state=decision.state, **decision.changes)
        await _timers(conn, tender_id, decision, now)
        refunds = await deposits.refund_after_contract(
            conn, audit, actor, now, tender=tender, signed_at=signed
        )
        await audit.append(
            conn, actor=actor, action="award.contract", object_type="tender", object_id=tender_id,
            at=now,
            payload={"award_id": proc.award_id, "org_id": winner.org_id, "amount_fen": amount_fen,
                     "bond_fen": bond_fen, "signed_at": iso_ms(signed)},
            detail={"late": decision.late, "refunds": refunds},
        )
    return contract, refunds


async def on_contract_due(conn: asyncpg.Connection, now: datetime, tender_id: int) -> None:
    """W10: day 31 after the award without a contract → one alert."""
    proc = await store.get_procedure(conn, tender_id)
    if proc is None or proc.state is not AwardState.AWARDED:
        return
    await overdue(
        conn, now, kind="award.contract_overdue", ref=f"{tender_id}:{proc.award_id}", object_id=tender_id,
        due_at=proc.contract_due_at,
        message_en=f"Tender {tender_id}: no contract within 30 days of the award (BL 46)",
        message_zh=f"招标项目 {tender_id}：自中标通知书发出之日起 30 日内未订立合同（招标投标法第四十六条）",
        detail={"award_id": proc.award_id, "due_at": iso_ms(proc.contract_due_at) if proc.contract_due_at else None},
    )


# ---------------------------------------------------------------------------- W7 failure


async def declare_failed(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    *,
    result: Result | None,
    retender_code: str | None,
    bid_deadline_at: datetime | None,
    opening_at: datetime | None,
    settings: AwardSettings,
    bidding_settings: BiddingSettings,
) -> tuple[AwardProcedure, Tender]:
    """W7 (BL 42): no valid candidate (or too few bids at the freeze, T7): the tender fails,
    a re-tender draft with the same terms is linked to it, and the FAILED and RE_TENDER
    notices are published — one transaction. The draft's dates default to the statutory
    period from now (staff change them before publishing)."""
    async with refusals_audited(
        conn, audit, actor, now, action="award.failed", tender_id=tender_id
    ), conn.transaction():
        tender = await load_tender(conn, tender_id, lock="update")
        proc = await _ensure_started(conn, audit, now, tender, result, settings)
        failed_in_evaluation = tender.state is TenderState.OPENED
        reason = "evaluation_failed" if failed_in_evaluation else (tender.failure_reason or "failed")
        decision = rules.decide(proc, rules.Fail(reason), now, settings)
        if failed_in_evaluation:
            # the evaluation rejected every bid, or left too few to compete (BL 42)
            tender = await bidding_store.update_tender(
                conn, tender, state=TenderState.FAILED, failed_at=now, failure_reason=reason
            )
        deadline = bid_deadline_at or now + timedelta(days=tender.min_period_days + 1)
        opening = opening_at or deadline
        code = retender_code or await _retender_code(conn, tender)
        draft = await tenders.retender(
            conn, audit, actor, now, tender_id, code=code, bid_deadline_at=deadline,
            opening_at=opening, settings=bidding_settings,
        )
        proc = await store.update_procedure(
            conn, proc, state=decision.state, retender_id=draft.id, **decision.changes
        )
        await _timers(conn, tender_id, decision, now)
        rejected = [{"bid_id": b, "cause": c} for b, c in (result.rejected if result else ())]
        failed_id = None
        if failed_in_evaluation:  # a failure at the freeze was announced by the freeze itself
            failed_id = await _public_notice(
                conn, audit, actor, now, kind="failed", tender_id=tender_id,
                title_zh=f"{tender.project_name} 流标公告", title_en=f"Tender failed: {tender.code}",
                data={"tender_code": tender.code, "cause": reason, "rejected": rejected,
                      "failed_at": iso_ms(now), "retender_id": draft.id},
            )
        retender_id = await _public_notice(
            conn, audit, actor, now, kind="re_tender", tender_id=tender_id,
            title_zh=f"{tender.project_name} 重新招标", title_en=f"Re-tender of {tender.code}: {draft.code}",
            data={"tender_code": tender.code, "retender_id": draft.id, "retender_code": draft.code},
        )
        await notify_registered(
            conn, tender, now,
            subject=f"流标 Tender failed: {tender.code}",
            body=f"{reason}; 将重新招标 to be re-tendered as {draft.code}.",
        )
        await audit.append(
            conn, actor=actor, action="award.failed", object_type="tender", object_id=tender_id,
            at=now, payload={"reason": reason, "retender_id": draft.id, "rejected": rejected},
            detail={"notices": [failed_id, retender_id]},
        )
    return proc, draft


async def _retender_code(conn: asyncpg.Connection, tender: Tender) -> str:
    n = await conn.fetchval("SELECT count(*) FROM tenders WHERE retender_of = $1", tender.id)
    return f"{tender.code[:55]}-R{n + 1}"


# ---------------------------------------------------------------------------- reads


async def status(
    conn: asyncpg.Connection, tender_id: int, *, org_id: int | None = None, full: bool = True
) -> dict[str, Any]:
    """The procedure as JSON-able values: candidates, publicity, objections and complaints
    (a bidder sees its own only), awards, contract and the savings rate."""
    await load_tender(conn, tender_id)  # an unknown tender is a 404, not "no report yet"
    proc = await _procedure(conn, tender_id)
    see = None if full else (org_id if org_id is not None else -1)
    contract = await store.get_contract(conn, tender_id)
    rate = rules.savings_rate(proc.budget_fen, proc.award_fen if proc.state is AwardState.CONTRACTED
                              or proc.state is AwardState.AWARDED else None)
    return {
        "tender_id": tender_id,
        "state": proc.state,
        "report_id": proc.report_id,
        "concluded_at": proc.concluded_at,
        "candidates": [c.as_json() for c in proc.candidates],
        "publicity": {
            "due_at": proc.publicity_due_at,
            "published_at": proc.publicity_published_at,
            "ends_at": proc.publicity_ends_at,
            "notice_id": proc.publicity_notice_id,
        },
        "passed_over": [{"rank": r, "reason": why} for r, why in proc.passed_over],
        "open_objections": proc.open_objections,
        "suspending_complaints": proc.suspending_complaints,
        "objections": [o.__dict__ for o in await store.list_objections(conn, tender_id, org_id=see)],
        "complaints": [c.__dict__ for c in await store.list_complaints(conn, tender_id, org_id=see)],
        "awards": [
            {k: v for k, v in d.__dict__.items() if k != "notice_document"}
            for d in await store.list_decisions(conn, tender_id)
        ],
        "award_id": proc.award_id,
        "awarded_rank": proc.awarded_rank,
        "awarded_at": proc.awarded_at,
        "contract_due_at": proc.contract_due_at,
        "contract": contract.__dict__ if contract else None,
        "savings": {
            "budget_fen": proc.budget_fen,
            "control_price_fen": proc.control_price_fen,
            "award_fen": proc.award_fen,
            "rate": f"{rate.numerator}/{rate.denominator}" if rate is not None else None,
            "rate_percent": str(rules.savings_rate_percent(rate)) if rate is not None else None,
        },
        "failed_at": proc.failed_at,
        "failure_reason": proc.failure_reason,
        "retender_id": proc.retender_id,
    }
