"""The tender's watched steps (RULES S4), for ``trading.supervision``'s watch: how to tell
each step is done, and the scans for the steps no domain event of its own watches.

- an opening not held at its announced time plus the grace period (T8, T9): the scheduler
  starts the opening at its time, but the custodians' quorum opens it — if they never come,
  the tender sits in ``opening``;
- a change to the documents that stands less than 15 days before the deadline (W1): a
  clarification moves the deadline by itself, but the deadline may be moved back later.

A scan looks at the deadlines that fell in ``(since, until]`` (the watch keeps ``since``, so
after downtime it catches up on everything missed) and answers the steps not done.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from bidding import public_store
from bidding.award import store as award_store
from bidding.award.model import AwardState, ComplaintState
from trading.clock import iso_ms
from trading.supervision.model import SupervisionSettings
from trading.supervision.service import IsDone, Overdue, Scan

__all__ = ["DONE", "SCANS", "scan_late_changes", "scan_openings"]

_NOT_OPENED = ("published", "closed", "opening")


async def scan_openings(
    conn: asyncpg.Connection, since: datetime | None, until: datetime, settings: SupervisionSettings
) -> list[Overdue]:
    """Tenders whose opening time plus the grace fell in ``(since, until]`` and not opened."""
    grace = timedelta(seconds=settings.opening_grace_s)
    rows = await conn.fetch(
        "SELECT id, code, state, opening_at FROM tenders WHERE state = ANY($1::text[]) "
        "AND opening_at <= $2 AND ($3::timestamptz IS NULL OR opening_at > $3) ORDER BY opening_at, id",
        list(_NOT_OPENED), until - grace, since - grace if since is not None else None,
    )
    return [
        Overdue(
            kind="bidding.opening_overdue", ref=str(r["id"]), object_id=str(r["id"]), due_at=r["opening_at"] + grace,
            message_en=f"Tender {r['code']}: the opening announced for {iso_ms(r['opening_at'])} was not held "
            f"(state {r['state']}; T8, BL 34)",
            message_zh=f"招标项目 {r['code']}：未按公告时间 {iso_ms(r['opening_at'])} 开标（当前状态 {r['state']}；"
            "招标投标法第三十四条）",
            detail={"opening_at": iso_ms(r["opening_at"]), "state": r["state"], "grace_s": settings.opening_grace_s},
        )
        for r in rows
    ]


async def scan_late_changes(
    conn: asyncpg.Connection, since: datetime | None, until: datetime, settings: SupervisionSettings
) -> list[Overdue]:
    """Tenders whose deadline fell in ``(since, until]`` with a clarification or amendment
    published less than ``change_min_days`` before it (W1, BL 23)."""
    rows = await conn.fetch(
        "SELECT t.id, t.code, t.bid_deadline_at, max(c.published_at) AS changed_at, max(c.no) AS no "
        "FROM tenders t JOIN tender_clarifications c ON c.tender_id = t.id "
        "WHERE t.state NOT IN ('draft', 'cancelled') AND t.bid_deadline_at <= $1 "
        "AND ($2::timestamptz IS NULL OR t.bid_deadline_at > $2) "
        "AND c.published_at > t.bid_deadline_at - make_interval(days => $3) "
        "GROUP BY t.id ORDER BY t.bid_deadline_at, t.id",
        until, since, settings.change_min_days,
    )
    return [
        Overdue(
            kind="bidding.late_change", ref=str(r["id"]), object_id=str(r["id"]), due_at=r["bid_deadline_at"],
            message_en=f"Tender {r['code']}: the documents were changed on {iso_ms(r['changed_at'])}, less than "
            f"{settings.change_min_days} days before the deadline {iso_ms(r['bid_deadline_at'])}, and the deadline "
            "stood (W1, BL 23)",
            message_zh=f"招标项目 {r['code']}：招标文件于 {iso_ms(r['changed_at'])} 澄清或修改，距投标截止时间 "
            f"{iso_ms(r['bid_deadline_at'])} 不足 {settings.change_min_days} 日，且未顺延（招标投标法第二十三条）",
            detail={"changed_at": iso_ms(r["changed_at"]), "bid_deadline_at": iso_ms(r["bid_deadline_at"]),
                    "clarification_no": r["no"]},  # fmt: skip
        )
        for r in rows
    ]


async def _opened(conn: asyncpg.Connection, ref: str) -> bool:
    state = await conn.fetchval("SELECT state FROM tenders WHERE id = $1", int(ref))
    return state is None or state not in _NOT_OPENED


async def _document_objection_answered(conn: asyncpg.Connection, ref: str) -> bool:
    row = await public_store.get_objection(conn, int(ref))
    return row is None or row["answered_at"] is not None


async def _published(conn: asyncpg.Connection, ref: str) -> bool:
    proc = await award_store.get_procedure(conn, int(ref))
    return proc is None or proc.state is not AwardState.CONCLUDED


async def _candidate_objection_answered(conn: asyncpg.Connection, ref: str) -> bool:
    objection = await award_store.get_objection(conn, int(ref))
    return objection is None or not objection.open


async def _complaint_accepted(conn: asyncpg.Connection, ref: str) -> bool:
    complaint = await award_store.get_complaint(conn, int(ref))
    return complaint is None or complaint.state is not ComplaintState.RECEIVED


async def _complaint_decided(conn: asyncpg.Connection, ref: str) -> bool:
    complaint = await award_store.get_complaint(conn, int(ref))
    return complaint is None or complaint.state is not ComplaintState.ACCEPTED


async def _contract_recorded(conn: asyncpg.Connection, ref: str) -> bool:
    tender_id, _, award_id = ref.partition(":")
    proc = await award_store.get_procedure(conn, int(tender_id))
    return proc is None or proc.state is not AwardState.AWARDED or str(proc.award_id) != award_id


DONE: dict[str, IsDone] = {
    "bidding.objection_unanswered": _document_objection_answered,
    "bidding.opening_overdue": _opened,
    "award.publicity_overdue": _published,
    "award.objection_overdue": _candidate_objection_answered,
    "award.complaint_accept_overdue": _complaint_accepted,
    "award.complaint_decide_overdue": _complaint_decided,
    "award.contract_overdue": _contract_recorded,
}
"""How to tell each of the tender's watched steps is done, by the alert's ``watch_ref``."""

SCANS: dict[str, Scan] = {
    "bidding.opening": scan_openings,
    "bidding.late_change": scan_late_changes,
}
