"""Use cases of a tender's life before the deadline: create, attach documents, publish
(make the opening key and split it among the custodians), change dates, cancel,
re-tender, register bidders.

Each runs in one transaction, applies ``bidding.rules``, appends to the audit log and
(re)schedules the timed events (the deadline, the opening)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Callable
from datetime import datetime
from typing import Any

import asyncpg

from bidding import rules, store
from bidding.errors import BidReason, BidRejected
from bidding.evaluation import rules as evaluation_rules
from bidding.model import (
    BiddingSettings,
    Registration,
    Tender,
    TenderDocument,
    TenderDraft,
    TenderState,
    share_context,
)
from bidding.service import deposits
from bidding.service import public as public_notices
from bidding.service.common import load_tender, notify_registered, refusals_audited
from bidding.vault import BlobWriter
from crypto.keys import b64url_encode, generate_x25519, key_id
from crypto.sealedbox import seal_to
from crypto.shamir import split
from trading.audit import AuditLog
from trading.calendar import events as calendar
from trading.clock import iso_ms
from trading.context import Actor
from trading.parties import service as parties
from trading.parties.model import OrgKind

__all__ = [
    "add_document",
    "cancel_tender",
    "change_dates",
    "create_tender",
    "publish_tender",
    "register_bidder",
    "retender",
]

MAX_DOCUMENT_NAME_CHARS = 200


async def _apply_timers(
    conn: asyncpg.Connection, tender_id: int, decision: rules.Decision, now: datetime
) -> None:
    for kind in decision.cancel_timers:
        await calendar.cancel(conn, kind=kind, ref=tender_id)
    for timer in decision.timers:
        await calendar.schedule(conn, kind=timer.kind, ref=tender_id, due_at=timer.due_at, now=now)


async def _check_custodians(conn: asyncpg.Connection, user_ids: tuple[int, ...]) -> None:
    bad = await parties.not_custodians(conn, user_ids)
    if bad:
        raise BidRejected(
            BidReason.CUSTODIAN_USER_INVALID,
            f"users {bad}",
            f"用户 {bad}",
            details={"user_ids": bad},
        )


async def create_tender(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    draft: TenderDraft,
    settings: BiddingSettings,
) -> Tender:
    """Create a draft tender (staff). Refuses a deposit over 2 % of the estimate (T14), an
    opening before the deadline, fewer than 2 custodians or k out of range (T9), …"""
    min_period_days = rules.require_valid_draft(draft, now, settings)
    evaluation_rules.require_valid_method(draft.evaluation)  # T16: criteria sum to 100, …
    async with conn.transaction():
        await _check_custodians(conn, draft.custodian_user_ids)
        if draft.retender_of is not None:
            old = await load_tender(conn, draft.retender_of)
            if old.state not in (TenderState.FAILED, TenderState.CANCELLED):
                raise BidRejected(BidReason.RETENDER_NEEDS_FAILED_TENDER, f"it is {old.state}")
        try:
            async with conn.transaction():  # a savepoint: the unique code may clash
                tender = await store.insert_tender(
                    conn, draft, min_period_days=min_period_days, created_by=actor.user_id, now=now
                )
        except asyncpg.UniqueViolationError:
            raise BidRejected(BidReason.TENDER_CODE_TAKEN, draft.code) from None
        for position, uid in enumerate(draft.custodian_user_ids, start=1):
            await store.insert_custodian(conn, tender.id, uid, position)
        await audit.append(
            conn,
            actor=actor,
            action="tender.create",
            object_type="tender",
            object_id=tender.id,
            at=now,
            payload={
                "code": draft.code,
                "estimated_price_fen": draft.estimated_price_fen,
                "deposit_fen": draft.deposit_fen,
                "bid_deadline_at": iso_ms(draft.bid_deadline_at),
                "opening_at": iso_ms(draft.opening_at),
                "custodians": list(draft.custodian_user_ids),
                "threshold_k": draft.threshold_k,
            },
            detail={"code": draft.code, "retender_of": draft.retender_of},
        )
    return tender


def check_document_name(name: str) -> str:
    name = name.strip()
    if (
        not 1 <= len(name) <= MAX_DOCUMENT_NAME_CHARS
        or any(ch in "/\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)
        or name in (".", "..")
    ):
        raise BidRejected(BidReason.BAD_DOCUMENT_NAME, repr(name)[:80])
    return name


async def add_document(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    tender_id: int,
    name: str,
    source: AsyncIterable[bytes],
    content_length: int | None,
    settings: BiddingSettings,
) -> TenderDocument:
    """Attach a tender document to a draft, streamed into the vault with its SHA-256."""
    name = check_document_name(name)
    tender = await load_tender(conn, tender_id)
    if tender.state is not TenderState.DRAFT:
        raise BidRejected(BidReason.TENDER_NOT_DRAFT, "documents are fixed at publication")
    limit = settings.max_document_bytes
    if content_length is not None and content_length > limit:
        raise BidRejected(BidReason.DOCUMENT_TOO_LARGE, f"{content_length} > {limit} bytes")
    if await store.document_name_taken(conn, tender_id, name):
        raise BidRejected(BidReason.DOCUMENT_NAME_TAKEN, name)
    async with conn.transaction():
        writer = await BlobWriter.start(conn, settings.store_chunk_bytes, hash_content=True)
        async for piece in source:
            if writer.size_bytes + len(piece) > limit:
                raise BidRejected(BidReason.DOCUMENT_TOO_LARGE, f"over {limit} bytes")
            await writer.write(piece)
        tender = await load_tender(conn, tender_id, lock="update")
        if tender.state is not TenderState.DRAFT:
            raise BidRejected(BidReason.TENDER_NOT_DRAFT, "documents are fixed at publication")
        blob = await writer.close(kind="tender_document", now=now)
        doc = await store.insert_document(
            conn,
            tender_id=tender_id,
            name=name,
            blob_id=blob.blob_id,
            sha256=blob.sha256,
            size_bytes=blob.size_bytes,
            uploaded_by=actor.user_id,
            now=now,
        )
        if doc is None:
            raise BidRejected(BidReason.DOCUMENT_NAME_TAKEN, name)
        await audit.append(
            conn,
            actor=actor,
            action="tender.document_add",
            object_type="tender",
            object_id=tender_id,
            at=now,
            detail={"name": name, "sha256": blob.sha256, "size_bytes": blob.size_bytes},
        )
    return doc


async def publish_tender(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    *,
    randbytes: Callable[[int], bytes] = os.urandom,
) -> Tender:
    """Publish (T1: at least ``min_period_days`` before the deadline).

    Makes the tender's opening key pair (X25519), splits the private key k of n with
    Shamir, seals each share to its custodian's registered X25519 key, and keeps only the
    public key, the sealed shares and a commitment to each share. The private key is never
    written anywhere; it goes out of scope here (Python cannot promise to wipe it from
    memory: see docs/bidding.md)."""
    async with (
        refusals_audited(conn, audit, actor, now, action="tender.publish", tender_id=tender_id),
        conn.transaction(),
    ):
        tender = await load_tender(conn, tender_id, lock="update")
        decision = rules.decide(tender, rules.Publish(), now)
        if not await store.list_documents(conn, tender_id):
            raise BidRejected(BidReason.NO_TENDER_DOCUMENTS)
        custodians = await store.list_custodians(conn, tender_id)
        found = await parties.x25519_keys(conn, [c.user_id for c in custodians])
        missing = [c.username for c in custodians if c.user_id not in found]
        if missing:
            raise BidRejected(
                BidReason.CUSTODIAN_WITHOUT_KEY, ", ".join(missing), details={"custodians": missing}
            )
        private, public = generate_x25519(randbytes)
        shares = split(private, tender.threshold_k, len(custodians), randbytes)
        del private  # never stored, never logged; only its shares leave, sealed
        context = share_context(tender.id)
        for custodian, share in zip(custodians, shares, strict=True):
            assert share.x == custodian.position
            custodian_key = found[custodian.user_id]
            blob = share.to_bytes()
            await store.set_custodian_share(
                conn,
                tender.id,
                custodian.user_id,
                key_id=key_id(custodian_key),
                public_key=custodian_key,
                sealed_share=seal_to(custodian_key, blob, context, randbytes=randbytes),
                share_commitment=rules.share_commitment(tender.id, blob),
            )
        del shares
        tender = await store.update_tender(
            conn,
            tender,
            state=decision.state,
            published_at=now,
            opening_public_key=public,
        )
        await _apply_timers(conn, tender.id, decision, now)
        await deposits.register_terms(conn, audit, actor, now, tender)
        await public_notices.announce_tender(conn, audit, actor, now, tender)
        await audit.append(
            conn,
            actor=actor,
            action="tender.publish",
            object_type="tender",
            object_id=tender.id,
            at=now,
            detail={
                "opening_public_key": b64url_encode(public),
                "opening_key_id": key_id(public),
                "threshold_k": tender.threshold_k,
                "custodians": [c.username for c in custodians],
                "bid_deadline_at": iso_ms(tender.bid_deadline_at),
                "opening_at": iso_ms(tender.opening_at),
            },
        )
    return tender


async def change_dates(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    *,
    bid_deadline_at: datetime,
    opening_at: datetime,
    reason: str,
    public_notice: bool = True,
) -> Tender:
    """T4 (A4(c)): staff change the dates, only before the deadline; each change is kept,
    audited, notified to every registered bidder, and the timed events move with it. T1: the
    new deadline is still at least the minimum period after the publication. A published
    tender's change is a public amendment notice (``public_notice=False``: the caller
    publishes its own, as a clarification does)."""
    async with (
        refusals_audited(
            conn, audit, actor, now, action="tender.dates_change", tender_id=tender_id
        ),
        conn.transaction(),
    ):
        tender = await load_tender(conn, tender_id, lock="update")
        decision = rules.decide(tender, rules.ChangeDates(bid_deadline_at, opening_at), now)
        await store.insert_date_change(
            conn,
            tender,
            new_deadline_at=bid_deadline_at,
            new_opening_at=opening_at,
            reason=reason,
            changed_by=actor.user_id,
            now=now,
        )
        old = tender
        tender = await store.update_tender(
            conn, tender, bid_deadline_at=bid_deadline_at, opening_at=opening_at
        )
        await _apply_timers(conn, tender.id, decision, now)
        await deposits.move_dates(conn, audit, actor, now, tender)
        notified = 0
        if tender.state is TenderState.PUBLISHED:
            notified = await notify_registered(
                conn,
                tender,
                now,
                subject=f"Dates changed / 时间变更: {tender.code}",
                body=(
                    f"Bid deadline {iso_ms(old.bid_deadline_at)} → {iso_ms(bid_deadline_at)}; "
                    f"opening {iso_ms(old.opening_at)} → {iso_ms(opening_at)}. Reason: {reason}\n"
                    f"投标截止时间 {iso_ms(old.bid_deadline_at)} → {iso_ms(bid_deadline_at)}；"
                    f"开标时间 {iso_ms(old.opening_at)} → {iso_ms(opening_at)}。原因：{reason}"
                ),
            )
            if public_notice:
                await public_notices.announce_dates(conn, audit, actor, now, old, tender, reason)
        await audit.append(
            conn,
            actor=actor,
            action="tender.dates_change",
            object_type="tender",
            object_id=tender.id,
            at=now,
            payload={"reason": reason},
            detail={
                "old_deadline_at": iso_ms(old.bid_deadline_at),
                "new_deadline_at": iso_ms(bid_deadline_at),
                "old_opening_at": iso_ms(old.opening_at),
                "new_opening_at": iso_ms(opening_at),
                "notified": notified,
            },
        )
    return tender


async def cancel_tender(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    *,
    reason: str,
) -> Tender:
    """Cancel a draft, or a published tender before its deadline; registered bidders are
    told."""
    async with (
        refusals_audited(conn, audit, actor, now, action="tender.cancel", tender_id=tender_id),
        conn.transaction(),
    ):
        tender = await load_tender(conn, tender_id, lock="update")
        decision = rules.decide(tender, rules.Cancel(), now)
        was_published = tender.state is TenderState.PUBLISHED
        tender = await store.update_tender(
            conn, tender, state=decision.state, cancelled_at=now, failure_reason=reason
        )
        await _apply_timers(conn, tender.id, decision, now)
        if was_published:
            await notify_registered(
                conn,
                tender,
                now,
                subject=f"Tender cancelled / 招标终止: {tender.code}",
                body=f"{reason}",
            )
        await audit.append(
            conn,
            actor=actor,
            action="tender.cancel",
            object_type="tender",
            object_id=tender.id,
            at=now,
            payload={"reason": reason},
        )
    return tender


async def retender(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    *,
    code: str,
    bid_deadline_at: datetime,
    opening_at: datetime,
    settings: BiddingSettings,
) -> Tender:
    """T7 (BL 28, IR 44): a failed tender may be tendered again — a new draft with the same
    terms and custodians, new code and dates, linked to the old one."""
    old = await load_tender(conn, tender_id)
    if old.state not in (TenderState.FAILED, TenderState.CANCELLED):
        raise BidRejected(BidReason.RETENDER_NEEDS_FAILED_TENDER, f"it is {old.state}")
    custodians = await store.list_custodians(conn, tender_id)
    draft = TenderDraft(
        code=code,
        project_name=old.project_name,
        category=old.category,
        procedure=old.procedure,
        lots=old.lots,
        estimated_price_fen=old.estimated_price_fen,
        deposit_fen=old.deposit_fen,
        bid_deadline_at=bid_deadline_at,
        opening_at=opening_at,
        place=old.place,
        custodian_user_ids=tuple(c.user_id for c in custodians),
        threshold_k=old.threshold_k,
        max_bid_bytes=old.max_bid_bytes,
        min_bidders=old.min_bidders,
        min_period_days=old.min_period_days,
        opening_mode=old.opening_mode,
        retender_of=old.id,
        evaluation=old.method_spec,
        deposit_interest_rate_bp=old.deposit_interest_rate_bp,
    )
    return await create_tender(conn, audit, actor, now, draft, settings)


async def register_bidder(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
) -> tuple[Registration, bool]:
    """A bidder's organisation registers for a tender (until the deadline). T13 (EM 23):
    the platform operator and its affiliates may not. Idempotent: returns the registration
    and whether it is new."""
    if actor.org_id is None:
        raise BidRejected(BidReason.NOT_A_BIDDER)
    org = await parties.get_organisation(conn, actor.org_id)
    if org.platform_affiliate or org.kind is OrgKind.CENTRE:
        raise BidRejected(BidReason.PLATFORM_AFFILIATE, org.name, org.name)
    assert actor.user_id is not None
    async with conn.transaction():
        tender = await load_tender(conn, tender_id, lock="share")
        rules.decide(tender, rules.Register(), now)
        registration = await store.insert_registration(conn, tender_id, org.id, actor.user_id, now)
        await deposits.open_for(conn, audit, actor, now, tender, org.id)
        if registration is None:
            existing = await store.get_registration(conn, tender_id, org.id)
            assert existing is not None
            return existing, False
        await audit.append(
            conn,
            actor=actor,
            action="tender.register",
            object_type="tender",
            object_id=tender_id,
            at=now,
            detail={"org_id": org.id},
        )
    return registration, True


def tender_summary(tender: Tender) -> dict[str, Any]:
    """A tender as JSON-able values (datetimes stay datetimes)."""
    out = {k: v for k, v in tender.__dict__.items() if k not in ("opening_public_key",)}
    out["lots"] = list(tender.lots)
    out["opening_public_key"] = (
        b64url_encode(tender.opening_public_key) if tender.opening_public_key else None
    )
    out["opening_key_id"] = key_id(tender.opening_public_key) if tender.opening_public_key else None
    out["project_ref"] = tender.project_ref
    out["criteria"] = [c.as_json() for c in tender.criteria]
    out["points_per_percent"] = f"{tender.points_per_percent:.2f}"
    return out
