"""Use cases of public notices and of the tender documents after publication: publish a
notice (in the caller's transaction), read the public list, record a download, stage a new
document version, questions, clarifications and amendments (W1), objections (W2).

Each use case runs in one transaction (``publish_notice`` in its caller's), applies
``bidding.public`` and ``bidding.rules``, appends to the audit log and (re)schedules timed
events. Who asked a question or raised an objection is for staff and supervisors only.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from bidding import public_store as pstore
from bidding import store
from bidding.errors import BidReason, BidRejected, not_found
from bidding.model import BiddingSettings, Tender, TenderDocument
from bidding.public import (
    OBJECTION_DUE_EVENT,
    ClarificationKind,
    NoticeKind,
    PublicSettings,
    check_objection_window,
    check_open_for_documents,
    clarification_dates,
    confidential_keys,
    notice_url,
    objection_answer_due,
    question_view,
)
from bidding.service.common import SCHEDULER, load_tender, refusals_audited
from bidding.vault import BlobWriter
from trading.audit import AuditLog
from trading.calendar import events as calendar
from trading.clock import iso_ms
from trading.context import Actor, Role
from trading.notices import add_notice
from trading.supervision import overdue, step_done

__all__ = [
    "answer_objection",
    "ask_question",
    "get_public_notice",
    "list_public_notices",
    "objection_due",
    "publish_clarification",
    "publish_notice",
    "raise_objection",
    "record_download",
    "stage_document_version",
]

SEES_ASKERS = frozenset({Role.STAFF, Role.ADMIN, Role.SUPERVISOR})


# ---------------------------------------------------------------------------- notices


async def publish_notice(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    kind: NoticeKind,
    tender_id: int | None,
    title_zh: str,
    title_en: str,
    data: dict[str, Any],
) -> int:
    """Insert one public notice in the caller's transaction and return its id; its stable
    URL is ``/api/v1/public/notices/{notice_id}``. Category and region are the tender's.
    A notice that would carry a confidential field is a bug: ``ValueError``, nothing
    written."""
    leaked = confidential_keys(kind, data)
    if leaked:
        raise ValueError(f"a {kind} notice may not carry {', '.join(leaked)}")
    title_zh, title_en = title_zh.strip()[:300], title_en.strip()[:300]
    # Lock order: the audit log's lock (taken by its append) before the notice counter's
    # row, in every transaction that publishes — two publishers never wait on each other in
    # a cycle, and the counter follows the commit order.
    notice_id = await pstore.reserve_notice_id(conn)
    await audit.append(
        conn,
        actor=actor,
        action="notice.publish",
        object_type="public_notice",
        object_id=notice_id,
        at=now,
        detail={"kind": kind.value, "tender_id": tender_id, "title_en": title_en},
    )
    await pstore.insert_notice(
        conn,
        notice_id=notice_id,
        kind=kind,
        tender_id=tender_id,
        title_zh=title_zh,
        title_en=title_en,
        data=data,
        published_by=actor.user_id,
        now=now,
    )
    return notice_id


def notice_summary(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "seq": r["seq"],
        "kind": r["kind"],
        "tender_id": r["tender_id"],
        "category": r["category"],
        "region": r["region"],
        "title_zh": r["title_zh"],
        "title_en": r["title_en"],
        "published_at": r["published_at"],
        "url": notice_url(r["id"]),
    }


async def list_public_notices(
    conn: asyncpg.Connection,
    f: pstore.NoticeFilter,
    *,
    cursor: int | None,
    limit: int,
) -> dict[str, Any]:
    """A page of the public list, newest first: ``seq < cursor``; ``next`` is the cursor of
    the following page (``None`` on the last)."""
    rows = await pstore.list_notices(conn, f, before_seq=cursor, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [notice_summary(r) for r in rows],
        "next": rows[-1]["seq"] if more else None,
    }


async def get_public_notice(conn: asyncpg.Connection, notice_id: int) -> dict[str, Any]:
    r = await pstore.get_notice(conn, notice_id)
    if r is None:
        raise not_found("notice", "公告", notice_id, "notice_not_found")
    return {**notice_summary(r), "data": r["data"]}


def _documents_json(docs: Sequence[TenderDocument]) -> list[dict[str, Any]]:
    return [{"name": d.name, "sha256": d.sha256, "size_bytes": d.size_bytes} for d in docs]


async def announce_tender(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender: Tender
) -> int:
    """The tender notice (招标公告), at publication; a re-tender is announced as one."""
    docs = await store.list_documents(conn, tender.id)
    kind = NoticeKind.RE_TENDER if tender.retender_of is not None else NoticeKind.TENDER
    zh, en = ("重新招标公告", "Re-tender notice") if tender.retender_of else ("招标公告", "Tender notice")
    return await publish_notice(
        conn,
        audit,
        actor,
        now,
        kind=kind,
        tender_id=tender.id,
        title_zh=f"{tender.project_name} {zh}（{tender.code}）",
        title_en=f"{en}: {tender.project_name} ({tender.code})",
        data={
            "code": tender.code,
            "project_name": tender.project_name,
            "category": tender.category.value,
            "procedure": tender.procedure.value,
            "lots": list(tender.lots),
            "deposit_fen": tender.deposit_fen,
            "bid_deadline_at": iso_ms(tender.bid_deadline_at),
            "opening_at": iso_ms(tender.opening_at),
            "place": tender.place,
            "retender_of": tender.retender_of,
            "documents": _documents_json(docs),
            "tender_url": f"/api/v1/tenders/{tender.id}",
        },
    )


async def announce_dates(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    old: Tender,
    tender: Tender,
    reason: str,
) -> int:
    """An amendment notice (变更公告) for a date change of a published tender."""
    return await publish_notice(
        conn,
        audit,
        actor,
        now,
        kind=NoticeKind.AMENDMENT,
        tender_id=tender.id,
        title_zh=f"{tender.project_name} 变更公告（{tender.code}）：时间变更",
        title_en=f"Amendment: {tender.project_name} ({tender.code}): dates changed",
        data={
            "code": tender.code,
            "old_bid_deadline_at": iso_ms(old.bid_deadline_at),
            "bid_deadline_at": iso_ms(tender.bid_deadline_at),
            "old_opening_at": iso_ms(old.opening_at),
            "opening_at": iso_ms(tender.opening_at),
            "reason": reason,
        },
    )


async def announce_opening_record(
    conn: asyncpg.Connection,
    audit: AuditLog,
    now: datetime,
    tender: Tender,
    signed_public_view: Mapping[str, Any],
) -> int:
    """The opening record's signed public view (T11: no confidential fields), as
    ``GET …/opening-record/public`` serves it."""
    return await publish_notice(
        conn,
        audit,
        SCHEDULER,
        now,
        kind=NoticeKind.OPENING_RECORD,
        tender_id=tender.id,
        title_zh=f"{tender.project_name} 开标记录（{tender.code}）",
        title_en=f"Opening record: {tender.project_name} ({tender.code})",
        data={
            "code": tender.code,
            "record": dict(signed_public_view),
            "record_url": f"/api/v1/tenders/{tender.id}/opening-record/public",
        },
    )


async def announce_failed(
    conn: asyncpg.Connection, audit: AuditLog, now: datetime, tender: Tender, bid_count: int
) -> int:
    """A failed tender (流标, T7): too few bids at the deadline; nobody named."""
    return await publish_notice(
        conn,
        audit,
        SCHEDULER,
        now,
        kind=NoticeKind.FAILED,
        tender_id=tender.id,
        title_zh=f"{tender.project_name} 流标公告（{tender.code}）",
        title_en=f"Tender failed: {tender.project_name} ({tender.code})",
        data={
            "code": tender.code,
            "cause": "too_few_bids",
            "bid_count": bid_count,
            "min_bidders": tender.min_bidders,
            "failed_at": iso_ms(now),
        },
    )


# ---------------------------------------------------------------------------- documents


async def record_download(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    tender_id: int,
    document_id: int,
) -> tuple[TenderDocument, int]:
    """Record that ``actor`` is downloading the current version of a document (who, which
    version and its hash, when) before a byte is sent; returns the document and its
    version. The caller has checked that the actor may read it."""
    async with conn.transaction():
        row = await pstore.current_document(conn, tender_id, document_id)
        if row is None:
            raise not_found("document", "文件", document_id, "document_not_found")
        await pstore.insert_download(
            conn,
            tender_id=tender_id,
            document_id=document_id,
            version=row["version"],
            sha256=row["sha256"],
            user_id=actor.user_id,
            org_id=actor.org_id,
            role=actor.role.value,
            now=now,
        )
        await audit.append(
            conn,
            actor=actor,
            action="tender.document_download",
            object_type="tender",
            object_id=tender_id,
            at=now,
            detail={"document_id": document_id, "version": row["version"], "sha256": row["sha256"]},
        )
    doc = TenderDocument(
        row["id"],
        row["tender_id"],
        row["name"],
        row["sha256"],
        row["size_bytes"],
        row["blob_id"],
        row["uploaded_at"],
    )
    return doc, row["version"]


async def stage_document_version(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    tender_id: int,
    document_id: int,
    source: AsyncIterable[bytes],
    content_length: int | None,
    settings: BiddingSettings,
) -> dict[str, Any]:
    """Upload a new version of a published tender's document. It stays staged — no bidder
    sees it — until an amendment publishes it (W1)."""
    limit = settings.max_document_bytes
    if content_length is not None and content_length > limit:
        raise BidRejected(BidReason.DOCUMENT_TOO_LARGE, f"{content_length} > {limit} bytes")
    async with conn.transaction():
        tender = await load_tender(conn, tender_id)
        check_open_for_documents(tender, now)
        if await pstore.current_document(conn, tender_id, document_id) is None:
            raise not_found("document", "文件", document_id, "document_not_found")
        writer = await BlobWriter.start(conn, settings.store_chunk_bytes, hash_content=True)
        async for piece in source:
            if writer.size_bytes + len(piece) > limit:
                raise BidRejected(BidReason.DOCUMENT_TOO_LARGE, f"over {limit} bytes")
            await writer.write(piece)
        blob = await writer.close(kind="tender_document", now=now)
        row = await pstore.insert_staged_version(
            conn,
            document_id=document_id,
            tender_id=tender_id,
            blob_id=blob.blob_id,
            sha256=blob.sha256,
            size_bytes=blob.size_bytes,
            uploaded_by=actor.user_id,
            now=now,
        )
        await audit.append(
            conn,
            actor=actor,
            action="tender.document_version_stage",
            object_type="tender",
            object_id=tender_id,
            at=now,
            detail={"document_id": document_id, "version_id": row["id"], "sha256": blob.sha256},
        )
    return {
        "version_id": row["id"],
        "document_id": document_id,
        "sha256": row["sha256"],
        "size_bytes": row["size_bytes"],
        "staged": True,
    }


async def list_downloads(conn: asyncpg.Connection, tender_id: int) -> list[dict[str, Any]]:
    """Every download (staff, supervisors)."""
    await load_tender(conn, tender_id)
    return await pstore.downloads(conn, tender_id)


# ---------------------------------------------------------------------------- questions


async def _registered_org(conn: asyncpg.Connection, actor: Actor, tender_id: int) -> int:
    if actor.role is not Role.BIDDER or actor.org_id is None:
        raise BidRejected(BidReason.NOT_A_BIDDER)
    if await store.get_registration(conn, tender_id, actor.org_id) is None:
        raise BidRejected(BidReason.NOT_REGISTERED)
    return actor.org_id


async def _tell_staff(
    conn: asyncpg.Connection, tender: Tender, now: datetime, subject: str, body: str
) -> None:
    if tender.created_by is not None:
        await add_notice(
            conn,
            now,
            subject=subject,
            body=body,
            user_id=tender.created_by,
            object_type="tender",
            object_id=str(tender.id),
        )


async def ask_question(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    tender_id: int,
    text: str,
) -> dict[str, Any]:
    """A registered bidder asks about the documents (before the deadline). Who asked is for
    staff only; other bidders see the text once a clarification answers it."""
    async with (
        refusals_audited(conn, audit, actor, now, action="tender.question", tender_id=tender_id),
        conn.transaction(),
    ):
        tender = await load_tender(conn, tender_id, lock="share")
        org_id = await _registered_org(conn, actor, tender_id)
        check_open_for_documents(tender, now)
        assert actor.user_id is not None
        row = await pstore.insert_question(
            conn, tender_id=tender_id, user_id=actor.user_id, org_id=org_id, text=text, now=now
        )
        await _tell_staff(
            conn,
            tender,
            now,
            f"Question / 投标人提问: {tender.code}",
            f"GET /api/v1/tenders/{tender.id}/questions (#{row['id']})",
        )
        await audit.append(
            conn,
            actor=actor,
            action="tender.question",
            object_type="tender",
            object_id=tender_id,
            at=now,
            detail={"question_id": row["id"]},
        )
    return {"id": row["id"], "tender_id": tender_id, "text": row["text"], "asked_at": now,
            "answered": False, "mine": True}


async def list_questions(
    conn: asyncpg.Connection, actor: Actor, tender_id: int
) -> list[dict[str, Any]]:
    rows = await pstore.questions(conn, tender_id)
    sees = actor.role in SEES_ASKERS
    own = actor.org_id if actor.role is Role.BIDDER else None
    views = (question_view(dict(r), sees_askers=sees, own_org=own) for r in rows)
    return [v for v in views if v is not None]


# ---------------------------------------------------------------------------- clarifications


async def publish_clarification(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    tender_id: int,
    kind: ClarificationKind,
    text: str,
    question_ids: Sequence[int] = (),
    version_ids: Sequence[int] = (),
    bid_deadline_at: datetime | None = None,
    opening_at: datetime | None = None,
    settings: PublicSettings,
) -> dict[str, Any]:
    """Staff publish a clarification or an amendment (W1, BL 23): it answers the named
    questions, publishes the named staged document versions, moves the dates if asked —
    or by itself when fewer than ``clarification_min_days`` remain — and reaches every
    organisation that downloaded the documents (one notice each) and the public (one
    public notice). Every date change re-checks T1."""
    from bidding.service import tenders  # tenders announces through this module

    async with (
        refusals_audited(
            conn, audit, actor, now, action="tender.clarification", tender_id=tender_id
        ),
        conn.transaction(),
    ):
        tender = await load_tender(conn, tender_id, lock="update")
        check_open_for_documents(tender, now)
        questions = await pstore.questions_for_answer(conn, tender_id, sorted(set(question_ids)))
        missing = sorted(set(question_ids) - {q["id"] for q in questions})
        if missing:
            raise not_found("question", "问题", ", ".join(map(str, missing)), "question_not_found")
        if any(q["clarification_id"] is not None for q in questions):
            raise BidRejected(
                BidReason.QUESTION_ALREADY_ANSWERED,
                details={"question_ids": [q["id"] for q in questions if q["clarification_id"]]},
            )
        staged = await pstore.staged_versions(conn, tender_id, sorted(set(version_ids)))
        if len(staged) != len(set(version_ids)):
            raise BidRejected(
                BidReason.DOCUMENT_VERSION_NOT_STAGED,
                details={"version_ids": sorted(set(version_ids) - {v["id"] for v in staged})},
            )
        dates = clarification_dates(
            now=now,
            bid_deadline_at=tender.bid_deadline_at,
            opening_at=tender.opening_at,
            min_days=settings.clarification_min_days,
            new_deadline_at=bid_deadline_at,
            new_opening_at=opening_at,
        )
        no = await pstore.next_clarification_no(conn, tender_id)
        old = tender
        if dates.moved:
            tender = await tenders.change_dates(
                conn,
                audit,
                actor,
                now,
                tender_id,
                bid_deadline_at=dates.bid_deadline_at,
                opening_at=dates.opening_at,
                reason=f"{kind} no. {no}" + (" (W1: moved automatically)" if dates.automatic else ""),
                public_notice=False,
            )
        published: list[dict[str, Any]] = []
        zh_kind, en_kind = ("修改", "Amendment") if kind is ClarificationKind.AMENDMENT else ("澄清", "Clarification")
        notice_kind = (
            NoticeKind.AMENDMENT if kind is ClarificationKind.AMENDMENT else NoticeKind.CLARIFICATION
        )
        doc_names = {d.id: d.name for d in await store.list_documents(conn, tender_id)}
        data: dict[str, Any] = {
            "code": tender.code,
            "no": no,
            "kind": kind.value,
            "text": text,
            "questions": [{"text": q["text"]} for q in questions],
            "documents": published,
            "bid_deadline_at": iso_ms(tender.bid_deadline_at),
            "opening_at": iso_ms(tender.opening_at),
            "deadline_moved": dates.moved,
            "moved_automatically": dates.automatic,
            "old_bid_deadline_at": iso_ms(old.bid_deadline_at),
        }
        for v in staged:
            published.append(
                {"document_id": v["document_id"], "name": doc_names.get(v["document_id"]),
                 "sha256": v["sha256"], "size_bytes": v["size_bytes"]}
            )
        notice_id = await publish_notice(
            conn,
            audit,
            actor,
            now,
            kind=notice_kind,
            tender_id=tender_id,
            title_zh=f"{tender.project_name} 招标文件{zh_kind}（第 {no} 号，{tender.code}）",
            title_en=f"{en_kind} no. {no}: {tender.project_name} ({tender.code})",
            data=data,
        )
        orgs = await pstore.downloading_orgs(conn, tender_id)
        clar = await pstore.insert_clarification(
            conn,
            tender_id=tender_id,
            no=no,
            kind=kind.value,
            text=text,
            old_deadline_at=old.bid_deadline_at,
            new_deadline_at=tender.bid_deadline_at,
            old_opening_at=old.opening_at,
            new_opening_at=tender.opening_at,
            deadline_moved=dates.moved,
            notice_id=notice_id,
            notified_orgs=len(orgs),
            published_by=actor.user_id,
            published_at=now,
        )
        versions = []
        for v in staged:
            doc = await pstore.publish_version(conn, v, clar["id"])
            versions.append({"document_id": doc["id"], "version": doc["version"], "sha256": doc["sha256"]})
        if questions:
            await pstore.answer_questions(conn, [q["id"] for q in questions], clar["id"])
        moved = (
            f"\nBid deadline {iso_ms(old.bid_deadline_at)} → {iso_ms(tender.bid_deadline_at)}; "
            f"opening {iso_ms(tender.opening_at)}.\n投标截止时间顺延至 {iso_ms(tender.bid_deadline_at)}，"
            f"开标时间 {iso_ms(tender.opening_at)}。"
            if dates.moved
            else ""
        )
        for org_id in orgs:  # W1: everyone who obtained the documents
            await add_notice(
                conn,
                now,
                subject=f"{en_kind} no. {no} / 招标文件{zh_kind}（第 {no} 号）: {tender.code}",
                body=f"{text}{moved}\nGET {notice_url(notice_id)}",
                org_id=org_id,
                object_type="tender",
                object_id=str(tender_id),
            )
        await audit.append(
            conn,
            actor=actor,
            action="tender.clarification",
            object_type="tender",
            object_id=tender_id,
            at=now,
            payload={"no": no, "kind": kind.value, "text": text},
            detail={
                "clarification_id": clar["id"],
                "notice_id": notice_id,
                "questions": [q["id"] for q in questions],
                "versions": versions,
                "deadline_moved": dates.moved,
                "moved_automatically": dates.automatic,
                "notified_orgs": len(orgs),
            },
        )
    return {
        "id": clar["id"],
        "tender_id": tender_id,
        "no": no,
        "kind": kind.value,
        "text": text,
        "notice_id": notice_id,
        "notice_url": notice_url(notice_id),
        "answered_questions": [q["id"] for q in questions],
        "documents": versions,
        "bid_deadline_at": tender.bid_deadline_at,
        "opening_at": tender.opening_at,
        "deadline_moved": dates.moved,
        "moved_automatically": dates.automatic,
        "notified_orgs": len(orgs),
    }


async def list_clarifications(conn: asyncpg.Connection, tender_id: int) -> list[dict[str, Any]]:
    rows = await pstore.clarifications(conn, tender_id)
    return [
        {
            "id": r["id"],
            "no": r["no"],
            "kind": r["kind"],
            "text": r["text"],
            "bid_deadline_at": r["new_deadline_at"],
            "opening_at": r["new_opening_at"],
            "deadline_moved": r["deadline_moved"],
            "notice_url": notice_url(r["notice_id"]),
            "published_at": r["published_at"],
        }
        for r in rows
    ]


# ---------------------------------------------------------------------------- objections


def _objection_json(r: Mapping[str, Any], *, sees_askers: bool) -> dict[str, Any]:
    out = {
        "id": r["id"],
        "tender_id": r["tender_id"],
        "text": r["text"],
        "raised_at": r["raised_at"],
        "answer_due_at": r["answer_due_at"],
        "answer": r["answer"],
        "answered_at": r["answered_at"],
    }
    if sees_askers:
        out["raised_by"] = {"user_id": r["raised_by"], "org_id": r["org_id"]}
    return out


async def raise_objection(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    tender_id: int,
    text: str,
    settings: PublicSettings,
) -> dict[str, Any]:
    """W2 (IR 22): a registered bidder objects to the documents at least
    ``objection_min_days`` before the deadline; the answer is due within
    ``objection_answer_days`` (a timed event checks it)."""
    async with (
        refusals_audited(conn, audit, actor, now, action="tender.objection", tender_id=tender_id),
        conn.transaction(),
    ):
        tender = await load_tender(conn, tender_id, lock="share")
        org_id = await _registered_org(conn, actor, tender_id)
        check_open_for_documents(tender, now)
        check_objection_window(
            now=now, bid_deadline_at=tender.bid_deadline_at, min_days=settings.objection_min_days
        )
        assert actor.user_id is not None
        due = objection_answer_due(now, settings.objection_answer_days)
        row = await pstore.insert_objection(
            conn,
            tender_id=tender_id,
            user_id=actor.user_id,
            org_id=org_id,
            text=text,
            now=now,
            answer_due_at=due,
        )
        await calendar.schedule(conn, kind=OBJECTION_DUE_EVENT, ref=row["id"], due_at=due, now=now)
        await _tell_staff(
            conn,
            tender,
            now,
            f"Objection to the documents / 招标文件异议: {tender.code}",
            f"Answer by {iso_ms(due)} / 请于 {iso_ms(due)} 前答复: "
            f"POST /api/v1/tenders/{tender.id}/objections/{row['id']}/answer",
        )
        await audit.append(
            conn,
            actor=actor,
            action="tender.objection",
            object_type="tender",
            object_id=tender_id,
            at=now,
            detail={"objection_id": row["id"], "answer_due_at": iso_ms(due)},
        )
    return _objection_json(row, sees_askers=False)


async def answer_objection(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    tender_id: int,
    objection_id: int,
    answer: str,
) -> dict[str, Any]:
    """Staff answer an objection (recorded with its time, late or not); the objector is told."""
    async with (
        refusals_audited(
            conn, audit, actor, now, action="tender.objection_answer", tender_id=tender_id
        ),
        conn.transaction(),
    ):
        row = await pstore.get_objection(conn, objection_id, lock=True)
        if row is None or row["tender_id"] != tender_id:
            raise not_found("objection", "异议", objection_id, "objection_not_found")
        if row["answered_at"] is not None:
            raise BidRejected(BidReason.OBJECTION_ALREADY_ANSWERED)
        row = await pstore.answer_objection(
            conn, objection_id, answer=answer, user_id=actor.user_id, now=now
        )
        await calendar.cancel(conn, kind=OBJECTION_DUE_EVENT, ref=objection_id)
        await step_done(conn, audit, now, kind="bidding.objection_unanswered", ref=objection_id)
        await add_notice(
            conn,
            now,
            subject=f"Objection answered / 异议答复 #{objection_id}",
            body=answer,
            org_id=row["org_id"],
            object_type="tender",
            object_id=str(tender_id),
        )
        late = now >= row["answer_due_at"]  # the alert falls due at that moment
        await audit.append(
            conn,
            actor=actor,
            action="tender.objection_answer",
            object_type="tender",
            object_id=tender_id,
            at=now,
            detail={"objection_id": objection_id, "late": late},
        )
    return {**_objection_json(row, sees_askers=True), "late": late}


async def objection_due(conn: asyncpg.Connection, now: datetime, objection_id: int) -> int | None:
    """The timed event at an objection's answer time (W2): unanswered → one supervision
    alert (raised once, whatever the retries). Returns the alert id, if raised."""
    row = await pstore.get_objection(conn, objection_id)
    if row is None or row["answered_at"] is not None:
        return None
    return await overdue(
        conn,
        now,
        kind="bidding.objection_unanswered",
        ref=objection_id,
        object_id=row["tender_id"],
        due_at=row["answer_due_at"],
        message_en=f"objection {objection_id} to the tender documents unanswered since "
        f"{iso_ms(row['answer_due_at'])} (IR 22: answer within 3 days)",
        message_zh=f"对招标文件的异议 {objection_id} 逾期未答复（应于 {iso_ms(row['answer_due_at'])} 前答复，"
        "实施条例第二十二条）",
        detail={"objection_id": objection_id, "answer_due_at": iso_ms(row["answer_due_at"])},
    )


async def list_objections(
    conn: asyncpg.Connection, actor: Actor, tender_id: int
) -> list[dict[str, Any]]:
    """Staff and supervisors see every objection and who raised it; a bidder its own."""
    await load_tender(conn, tender_id)
    rows = await pstore.objections(conn, tender_id)
    if actor.role in SEES_ASKERS:
        return [_objection_json(r, sees_askers=True) for r in rows]
    return [
        _objection_json(r, sees_askers=False)
        for r in rows
        if actor.role is Role.BIDDER and r["org_id"] == actor.org_id
    ]
