"""Submitting, replacing and withdrawing sealed bids (T2, T3, T5, T6), each with a signed
receipt; and, after the deadline, a bidder's proof that its bid is in the frozen set.

An upload never keeps a transaction open, nor holds a pooled connection, while it waits for
the client. Three steps:

1. Before a byte is read: state, deadline, registration, deposit, signing key and declared
   size are checked; one batch of abandoned staged uploads is swept; a ``bid_uploads`` row
   is made.
2. While the envelope streams in, each piece goes through ``crypto``'s
   ``EnvelopeInspector`` (structure, header, tender and bidder ids, recipient key, bidder
   signature, size limit) and then into the staging area, one chunk row committed at a
   time (:class:`bidding.vault.StagedUpload`).
3. Once the last byte is in and the inspector has verified the whole envelope, one short
   transaction locks the upload row, moves its chunks into the vault and deletes them from
   staging; then locks the tender row (``FOR SHARE``; the deadline's freeze takes it
   ``FOR UPDATE``), reads the clock, and compares with the deadline: a bid whose upload is
   not complete at the deadline is not submitted (T6), and a bid committed at deadline −
   1 ms is (T2). The receipt time is that reading of the clock, taken under the lock right
   before the commit.

A refusal, an error, a cut connection or a cancellation rolls step 3 back and deletes the
staged rows at once: no bid, nothing stored half. The rows of an upload abandoned by a crash
are swept once idle for ``upload_idle_max_s`` (at start, and on each new upload).
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

import asyncpg

from bidding import rules, store
from bidding.errors import BidReason, BidRejected, envelope_rejected
from bidding.model import (
    BiddingSettings,
    BidStatus,
    ReceiptAction,
    Tender,
    envelope_bidder_id,
    envelope_tender_id,
)
from bidding.records import Signed, receipt_document
from bidding.service import deposits
from bidding.service.common import (
    canonical_text,
    load_tender,
    refusals_audited,
    sign,
    signed_from_row,
)
from bidding.vault import StagedUpload, peek_signer_key_id, sweep_abandoned_uploads
from crypto.envelope import EnvelopeInfo, EnvelopeInspector
from crypto.envelope.format import MAX_HEADER_SIZE, PREAMBLE_SIZE
from crypto.errors import EnvelopeError
from crypto.keys import key_id
from crypto.merkle import inclusion_proof
from trading import admission
from trading.audit import AuditLog
from trading.clock import Clock, iso_ms
from trading.context import Actor
from trading.parties import service as parties
from trading.parties.model import PartyKey

__all__ = ["bid_status", "proof_of_inclusion", "submit_bid", "withdraw_bid"]

_PEEK_LIMIT = PREAMBLE_SIZE + MAX_HEADER_SIZE


async def _admitted(conn: asyncpg.Connection, actor: Actor, tender: Tender) -> list[PartyKey]:
    """Registered, deposit confirmed (when the tender asks for one), a signing key: the
    bidder's registered Ed25519 keys."""
    if actor.org_id is None:
        raise BidRejected(BidReason.NOT_A_BIDDER)
    if await store.get_registration(conn, tender.id, actor.org_id) is None:
        raise BidRejected(BidReason.NOT_REGISTERED)
    if tender.deposit_fen > 0 and not await admission.is_deposit_confirmed(
        conn, org_id=actor.org_id, project_ref=tender.project_ref
    ):
        raise BidRejected(BidReason.DEPOSIT_NOT_CONFIRMED, tender.project_ref)
    keys = await parties.active_keys(conn, org_id=actor.org_id, algorithm="ed25519")
    if not keys:
        raise BidRejected(BidReason.NO_SIGNING_KEY)
    return keys


def _pick_key(keys: list[PartyKey], prefix: bytes) -> PartyKey:
    wanted = peek_signer_key_id(prefix)
    if isinstance(wanted, str):
        for key in keys:
            if key_id(key.public_key) == wanted:
                return key
        raise BidRejected(
            BidReason.BAD_SIGNATURE,
            "the envelope names a signing key not registered to your organisation",
            "信封中的签名密钥未登记在贵单位名下",
        )
    return keys[-1]  # not an envelope header: the inspector will say exactly why


async def submit_bid(
    pool: asyncpg.Pool,
    audit: AuditLog,
    actor: Actor,
    clock: Clock,
    *,
    tender_id: int,
    source: AsyncIterable[bytes],
    content_length: int | None,
    settings: BiddingSettings,
) -> Signed:
    """Submit a sealed bid, or replace the current one; returns the signed receipt.

    ``pool`` rather than a connection: a connection is held only while a statement runs,
    never while the client is awaited. ``clock`` rather than ``now``: the receipt time is
    read after the upload is complete, under the tender lock.
    """
    started = clock.now()
    async with refusals_audited(
        pool, audit, actor, started, action="bid.submit", tender_id=tender_id
    ):
        async with pool.acquire() as conn:
            tender = await load_tender(conn, tender_id)
            rules.decide(tender, rules.SubmitBid(), started)
            keys = await _admitted(conn, actor, tender)
            assert actor.org_id is not None and actor.user_id is not None
            assert tender.opening_public_key is not None
            if content_length is not None and content_length > tender.max_bid_bytes:
                raise BidRejected(
                    BidReason.BID_TOO_LARGE,
                    f"{content_length} > {tender.max_bid_bytes} bytes",
                    f"{content_length} > {tender.max_bid_bytes} 字节",
                )
            await sweep_abandoned_uploads(conn, started, settings.upload_idle_max_s, batches=1)
            upload = await StagedUpload.start(
                pool,
                conn,
                clock,
                tender_id=tender_id,
                org_id=actor.org_id,
                submitted_by=actor.user_id,
                chunk_bytes=settings.store_chunk_bytes,
                now=started,
            )
        try:
            key, info = await _receive(upload, source, keys, tender, actor.org_id)
            return await _commit(pool, audit, actor, clock, tender_id, upload, key, info, settings)
        except BaseException:  # refused, cut off, cancelled: nothing of the upload stays
            await upload.discard()
            raise


async def _receive(
    upload: StagedUpload,
    source: AsyncIterable[bytes],
    keys: list[PartyKey],
    tender: Tender,
    org_id: int,
) -> tuple[PartyKey, EnvelopeInfo]:
    """Stream the envelope through the inspector (form, bidder signature, tender and bidder
    ids, recipient key, size limit) into the staging area; each piece is inspected before it
    is staged. Returns the signing key and the inspector's verdict on the whole envelope."""
    inspector: EnvelopeInspector | None = None
    head = bytearray()
    key: PartyKey | None = None
    try:
        async for piece in source:
            if inspector is None:
                head += piece
                if (
                    peek_signer_key_id(bytes(head[:_PEEK_LIMIT])) is False
                    and len(head) < _PEEK_LIMIT
                ):
                    continue
                key = _pick_key(keys, bytes(head[:_PEEK_LIMIT]))
                inspector = _inspector(tender, org_id, key)
                piece = bytes(head)
                head.clear()
            inspector.feed(piece)
            await upload.write(piece)
        if inspector is None:  # the upload ended inside the header
            key = _pick_key(keys, bytes(head))
            inspector = _inspector(tender, org_id, key)
            inspector.feed(bytes(head))
            await upload.write(bytes(head))
        info = inspector.finish()
    except EnvelopeError as exc:
        raise envelope_rejected(exc) from None
    await upload.flush()
    assert key is not None
    return key, info


async def _commit(
    pool: asyncpg.Pool,
    audit: AuditLog,
    actor: Actor,
    clock: Clock,
    tender_id: int,
    upload: StagedUpload,
    key: PartyKey,
    info: EnvelopeInfo,
    settings: BiddingSettings,
) -> Signed:
    """The upload's one short transaction, once every byte is in and inspected."""
    assert actor.org_id is not None and actor.user_id is not None
    async with pool.acquire() as conn, conn.transaction():
        # The upload row first (it fences off the sweep), then the tender: the store's order.
        staged = await store.lock_upload(conn, upload.upload_id)
        if staged is None or (staged["chunk_count"], staged["size_bytes"]) != (
            upload.chunk_count,
            upload.size_bytes,
        ):
            raise BidRejected(BidReason.UPLOAD_EXPIRED)
        blob_id = await store.new_blob_id(conn)
        moved = await store.move_upload_to_blob(conn, upload.upload_id, blob_id)
        assert moved == upload.chunk_count, "every chunk of the locked upload moves"
        await store.delete_upload(conn, upload.upload_id)
        # The envelope is in the vault: now, and only now, the receipt time (T2, T6).
        tender = await load_tender(conn, tender_id, lock="share")
        await store.get_registration(conn, tender_id, actor.org_id, lock=True)
        now = clock.now()
        rules.decide(tender, rules.SubmitBid(), now)
        await store.insert_blob(
            conn,
            blob_id,
            kind="bid_envelope",
            size_bytes=upload.size_bytes,
            sha256=info.envelope_sha256,
            chunk_bytes=settings.store_chunk_bytes,
            chunk_count=upload.chunk_count,
            now=now,
        )
        current = await store.current_bid(conn, tender_id, actor.org_id)
        action = ReceiptAction.REPLACE if current is not None else ReceiptAction.SUBMIT
        if current is not None:
            await store.end_bid(conn, current.id, BidStatus.SUPERSEDED, now)
        receipt_id = await store.next_receipt_id(conn)
        bid = await store.insert_bid(
            conn,
            tender_id=tender_id,
            org_id=actor.org_id,
            submitted_by=actor.user_id,
            blob_id=blob_id,
            envelope_sha256=info.envelope_sha256,
            envelope_size_bytes=info.envelope_size_bytes,
            signer_key_id=key_id(key.public_key),
            signer_public_key=key.public_key,
            received_at=now,
            receipt_id=receipt_id,
        )
        signed = await _receipt(
            conn,
            audit,
            tender,
            bid.id,
            actor.org_id,
            receipt_id,
            action,
            info.envelope_sha256,
            info.envelope_size_bytes,
            now,
        )
        await audit.append(
            conn,
            actor=actor,
            action=f"bid.{action.value}",
            object_type="tender",
            object_id=tender_id,
            at=now,
            payload=dict(signed.document),
            detail={
                "bid_id": bid.id,
                "receipt": receipt_id,
                "envelope_sha256": info.envelope_sha256,
                "replaced_bid_id": current.id if current is not None else None,
            },
        )
    return signed


def _inspector(tender: Tender, org_id: int, key: PartyKey) -> EnvelopeInspector:
    assert tender.opening_public_key is not None
    return EnvelopeInspector(
        bidder_public=key.public_key,
        expected_tender_id=envelope_tender_id(tender.id),
        expected_bidder_id=envelope_bidder_id(org_id),
        expected_recipient_public=tender.opening_public_key,
        max_envelope_bytes=tender.max_bid_bytes,
    )


async def _receipt(
    conn: asyncpg.Connection,
    audit: AuditLog,
    tender: Tender,
    bid_id: int,
    org_id: int,
    receipt_id: int,
    action: ReceiptAction,
    envelope_sha256: str,
    envelope_size_bytes: int,
    now: Any,
) -> Signed:
    document = receipt_document(
        action=action.value,
        sequence=receipt_id,
        tender_id=tender.id,
        tender_code=tender.code,
        bidder_org_id=org_id,
        bid_id=bid_id,
        envelope_sha256=envelope_sha256,
        envelope_size_bytes=envelope_size_bytes,
        received_at=now,
    )
    signed = sign(audit, document)
    await store.insert_receipt(
        conn,
        receipt_id=receipt_id,
        tender_id=tender.id,
        org_id=org_id,
        bid_id=bid_id,
        action=action.value,
        document=canonical_text(document),
        signature=signed.signature,
        key_id=signed.key_id,
        now=now,
    )
    return signed


async def withdraw_bid(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    clock: Clock,
    *,
    tender_id: int,
) -> Signed:
    """Withdraw the current bid before the deadline (BL 29, T5); returns the signed receipt
    naming the withdrawn bid. The row is kept, marked withdrawn."""
    started = clock.now()
    async with refusals_audited(
        conn, audit, actor, started, action="bid.withdraw", tender_id=tender_id
    ):
        if actor.org_id is None:
            raise BidRejected(BidReason.NOT_A_BIDDER)
        async with conn.transaction():
            tender = await load_tender(conn, tender_id, lock="share")
            if await store.get_registration(conn, tender_id, actor.org_id, lock=True) is None:
                raise BidRejected(BidReason.NOT_REGISTERED)
            now = clock.now()
            rules.decide(tender, rules.SubmitBid(), now)
            current = await store.current_bid(conn, tender_id, actor.org_id)
            if current is None:
                raise BidRejected(BidReason.NO_CURRENT_BID)
            await store.end_bid(conn, current.id, BidStatus.WITHDRAWN, now)
            receipt_id = await store.next_receipt_id(conn)
            signed = await _receipt(
                conn,
                audit,
                tender,
                current.id,
                actor.org_id,
                receipt_id,
                ReceiptAction.WITHDRAW,
                current.envelope_sha256,
                current.envelope_size_bytes,
                now,
            )
            await audit.append(
                conn,
                actor=actor,
                action="bid.withdraw",
                object_type="tender",
                object_id=tender_id,
                at=now,
                payload=dict(signed.document),
                detail={"bid_id": current.id, "receipt": receipt_id},
            )
            # D4 (IR 35): a bid withdrawn before the deadline has its deposit refunded.
            await deposits.refund_on_withdrawal(
                conn, audit, actor, now, tender, actor.org_id, command_id=f"withdraw-r{receipt_id}"
            )
    return signed


async def bid_status(conn: asyncpg.Connection, actor: Actor, tender_id: int) -> dict[str, Any]:
    """The bidder's own view: its current bid (if any), every bid it sent, every receipt."""
    if actor.org_id is None:
        raise BidRejected(BidReason.NOT_A_BIDDER)
    tender = await load_tender(conn, tender_id)
    bids = await store.bids_of(conn, tender_id, actor.org_id)
    receipts = await store.receipts_of(conn, tender_id, actor.org_id)
    current = next((b for b in bids if b.status is BidStatus.CURRENT), None)
    return {
        "tender_id": tender.id,
        "tender_state": tender.state,
        "bid_deadline_at": tender.bid_deadline_at,
        "registered": await store.get_registration(conn, tender_id, actor.org_id) is not None,
        "deposit_required": tender.deposit_fen > 0,
        "deposit_confirmed": await admission.is_deposit_confirmed(
            conn, org_id=actor.org_id, project_ref=tender.project_ref
        ),
        "current": _bid_json(current) if current else None,
        "bids": [_bid_json(b) for b in bids],
        "receipts": [
            signed_from_row(r["document"], r["signature"], r["key_id"]).as_json() for r in receipts
        ],
    }


def _bid_json(bid: Any) -> dict[str, Any]:
    return {
        "bid_id": bid.id,
        "status": bid.status,
        "envelope_sha256": bid.envelope_sha256,
        "envelope_size_bytes": bid.envelope_size_bytes,
        "received_at": bid.received_at,
        "ended_at": bid.ended_at,
        "receipt_sequence": bid.receipt_id,
        "leaf_index": bid.leaf_index,
        "outcome": bid.outcome,
    }


async def proof_of_inclusion(
    conn: asyncpg.Connection, actor: Actor, tender_id: int
) -> dict[str, Any]:
    """After the deadline: the signed tree head and the audit path of the bidder's bid."""
    if actor.org_id is None:
        raise BidRejected(BidReason.NOT_A_BIDDER)
    await load_tender(conn, tender_id)
    head = await store.get_tree_head(conn, tender_id)
    if head is None:
        raise BidRejected(BidReason.BIDS_NOT_FROZEN)
    frozen = await store.frozen_bids(conn, tender_id)
    mine = [b for b in frozen if b.org_id == actor.org_id]
    if not mine:
        raise BidRejected(BidReason.NOT_IN_FROZEN_SET)
    bid = mine[0]
    assert bid.leaf_index is not None
    leaves = [bytes.fromhex(b.envelope_sha256) for b in frozen]
    path = inclusion_proof(leaves, bid.leaf_index)
    return {
        "tender_id": tender_id,
        "envelope_sha256": bid.envelope_sha256,
        "leaf_index": bid.leaf_index,
        "tree_size": len(frozen),
        "proof": [p.hex() for p in path],
        "tree_head": signed_from_row(head["document"], head["signature"], head["key_id"]).as_json(),
        "frozen_at": iso_ms(head["created_at"]),
    }
