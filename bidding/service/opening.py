"""The deadline and the opening (T7–T11): freeze the set of bids and sign its Merkle root;
start the opening session at the opening time; take the custodians' key shares; once k
valid shares are in, rebuild the opening key in memory, open every frozen bid, and sign
and publish the opening record.

Where secrets live:
- a handed-in share is checked against the commitment made at publication, so a share that
  does not fit is refused (and recorded) at once;
- at most k − 1 handed-in shares are ever written (k − 1 shares say nothing about the key);
  the k-th is combined in memory in the same request and never written, and the stored
  ones are wiped when the opening completes;
- the rebuilt private key and every bid's plaintext exist only in this process's memory,
  during the opening: ``open_envelope`` writes into a :class:`~bidding.package.PackageParser`
  that keeps the price schedule (small) and a hash per document, never document bytes.
  The record stores the declared fields only.

Decryption runs in a worker thread (``run_in_executor``) reading the vault through the
event loop, so the server keeps serving while a large tender opens.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from typing import Any

import asyncpg

from bidding import rules, store
from bidding.errors import BidReason, BidRejected
from bidding.model import (
    Bid,
    BiddingSettings,
    BidOutcome,
    Custodian,
    FailureCause,
    Tender,
    TenderState,
    envelope_bidder_id,
    envelope_tender_id,
    share_context,
)
from bidding.package import PackageError, PackageParser, parse_price_schedule
from bidding.records import (
    Signed,
    failed_record,
    opening_record,
    public_view,
    tree_head_document,
)
from bidding.service import public as public_notices
from bidding.service.common import (
    SCHEDULER,
    canonical_text,
    load_tender,
    notify_registered,
    refusals_audited,
    sign,
    signed_from_row,
)
from bidding.vault import EvaluationKeys, ThreadBlobReader
from crypto.envelope import open_envelope
from crypto.errors import EnvelopeError, KeyFormatError, ShamirError
from crypto.keys import b64url_encode
from crypto.merkle import merkle_root
from crypto.shamir import Share, rebuild_x25519
from trading.audit import AuditLog
from trading.calendar import events as calendar
from trading.clock import iso_ms
from trading.context import Actor
from trading.notices import add_notice
from trading.parties import service as parties
from trading.supervision import raise_alert

__all__ = [
    "freeze_bids",
    "get_opening_record",
    "get_tree_head",
    "hand_in_share",
    "opening_status",
    "sealed_share",
    "start_opening",
]

_BEFORE_OPENING = (TenderState.DRAFT, TenderState.PUBLISHED, TenderState.CLOSED)


# ---------------------------------------------------------------------------- the deadline


async def freeze_bids(
    conn: asyncpg.Connection, audit: AuditLog, now: datetime, tender_id: int
) -> Tender:
    """The deadline (timed event, inside its transaction): freeze the current bids in
    receipt order, sign the Merkle root with the tree size, publish it. Fewer than
    ``min_bidders``: the tender fails (流标, T7) and a signed record says so."""
    tender = await load_tender(conn, tender_id, lock="update")
    if tender.state is not TenderState.PUBLISHED:
        return tender  # cancelled, or frozen already
    bids = rules.frozen_order(await store.current_bids(conn, tender_id))
    try:
        decision = rules.decide(tender, rules.Freeze(len(bids)), now)
    except BidRejected as err:
        if err.reason is BidReason.NOT_DUE:
            return tender  # the deadline moved later; its new event will come
        raise
    for index, bid in enumerate(bids):
        await store.set_leaf_index(conn, bid.id, index)
    root = merkle_root([bytes.fromhex(b.envelope_sha256) for b in bids])
    head = tree_head_document(
        tender_id=tender.id,
        tender_code=tender.code,
        tree_size=len(bids),
        root_hex=root.hex(),
        frozen_at=now,
    )
    signed = sign(audit, head)
    await store.insert_tree_head(
        conn,
        tender_id=tender.id,
        tree_size=len(bids),
        root=root,
        document=canonical_text(head),
        signature=signed.signature,
        key_id=signed.key_id,
        now=now,
    )
    for kind in decision.cancel_timers:
        await calendar.cancel(conn, kind=kind, ref=tender.id)
    if decision.state is TenderState.FAILED:
        tender = await store.update_tender(
            conn,
            tender,
            state=decision.state,
            closed_at=now,
            failed_at=now,
            failure_reason="too_few_bids",
        )
        record = failed_record(
            tender_id=tender.id,
            tender_code=tender.code,
            project_name=tender.project_name,
            failed_at=now,
            bid_count=len(bids),
            min_bidders=tender.min_bidders,
            tree_root_hex=root.hex(),
        )
        await _store_record(conn, audit, tender.id, "failed", record, now)
        await public_notices.announce_failed(conn, audit, now, tender, len(bids))
        await notify_registered(
            conn,
            tender,
            now,
            subject=f"Tender failed / 流标: {tender.code}",
            body=(
                f"{len(bids)} bid(s) at the deadline, {tender.min_bidders} needed: no opening; "
                f"the tender may be re-tendered.\n截止时投标 {len(bids)} 份，"
                f"不足 {tender.min_bidders} 份，不予开标，可重新招标。"
            ),
        )
    else:
        tender = await store.update_tender(conn, tender, state=decision.state, closed_at=now)
        await notify_registered(
            conn,
            tender,
            now,
            subject=f"Bids frozen / 投标截止: {tender.code}",
            body=(
                f"The set of {len(bids)} bids is frozen; root {root.hex()}. Fetch the proof that "
                f"your bid is in it.\n投标文件集合已冻结，共 {len(bids)} 份，根哈希 {root.hex()}。"
            ),
        )
    await audit.append(
        conn,
        actor=SCHEDULER,
        action="tender.failed" if decision.state is TenderState.FAILED else "tender.close",
        object_type="tender",
        object_id=tender.id,
        at=now,
        payload=head,
        detail={
            "tree_size": len(bids),
            "root": root.hex(),
            "deadline": iso_ms(tender.bid_deadline_at),
            "late_ms": int((now - tender.bid_deadline_at).total_seconds() * 1000),
        },
    )
    return tender


async def start_opening(
    conn: asyncpg.Connection, audit: AuditLog, now: datetime, tender_id: int
) -> Tender:
    """The opening time (timed event; after downtime, at once on return with the real time —
    T8): the opening session starts and custodians are asked for their shares."""
    tender = await load_tender(conn, tender_id, lock="update")
    if tender.state is TenderState.PUBLISHED:  # the deadline has not been frozen: do it first
        tender = await freeze_bids(conn, audit, now, tender_id)
    if tender.state is not TenderState.CLOSED:
        return tender
    decision = rules.decide(tender, rules.StartOpening(), now)
    tender = await store.update_tender(conn, tender, state=decision.state, opening_started_at=now)
    for custodian in await store.list_custodians(conn, tender_id):
        await add_notice(
            conn,
            now,
            subject=f"Opening started / 开标开始: {tender.code}",
            body=(
                "Hand in your key share: sunlit bid share --tender-id "
                f"{tender.id} …\n请提交您的密钥份额。"
            ),
            user_id=custodian.user_id,
            object_type="tender",
            object_id=str(tender.id),
        )
    await audit.append(
        conn,
        actor=SCHEDULER,
        action="tender.opening_start",
        object_type="tender",
        object_id=tender.id,
        at=now,
        detail={
            "scheduled_at": iso_ms(tender.opening_at),
            "started_at": iso_ms(now),
            "late_ms": int((now - tender.opening_at).total_seconds() * 1000),
        },
    )
    return tender


# ---------------------------------------------------------------------------- shares


def _state_refusal(tender: Tender) -> BidRejected | None:
    if tender.state in _BEFORE_OPENING:
        return BidRejected(
            BidReason.OPENING_NOT_STARTED,
            f"the opening is at {iso_ms(tender.opening_at)}",
            f"开标时间为 {iso_ms(tender.opening_at)}",
        )
    if tender.state is TenderState.OPENED:
        return BidRejected(BidReason.OPENING_COMPLETED)
    if tender.state is TenderState.FAILED:
        return BidRejected(BidReason.TENDER_FAILED)
    if tender.state is TenderState.CANCELLED:
        return BidRejected(BidReason.TENDER_CANCELLED)
    return None


async def _custodian_of(conn: asyncpg.Connection, tender: Tender, actor: Actor) -> Custodian:
    custodian = (
        await store.get_custodian(conn, tender.id, actor.user_id)
        if actor.user_id is not None
        else None
    )
    if custodian is None:
        raise BidRejected(BidReason.NOT_A_CUSTODIAN)
    return custodian


async def sealed_share(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender_id: int
) -> dict[str, Any]:
    """A custodian fetches its sealed share — only once the opening session has started.
    Every fetch, and every attempt before the time, is in the audit log (T12)."""
    async with refusals_audited(
        conn, audit, actor, now, action="tender.share_fetch", tender_id=tender_id
    ):
        tender = await load_tender(conn, tender_id)
        custodian = await _custodian_of(conn, tender, actor)
        refusal = _state_refusal(tender)
        if refusal is not None:
            raise refusal
        assert custodian.sealed_share is not None and tender.opening_public_key is not None
        async with conn.transaction():
            await audit.append(
                conn,
                actor=actor,
                action="tender.share_fetch",
                object_type="tender",
                object_id=tender_id,
                at=now,
                detail={"position": custodian.position},
            )
    return {
        "tender_id": tender.id,
        "position": custodian.position,
        "threshold_k": tender.threshold_k,
        "custodian_count": tender.custodian_count,
        "custodian_key_id": custodian.key_id,
        "sealed_share": b64url_encode(custodian.sealed_share),
        "context": share_context(tender.id).decode(),
        "opening_public_key": b64url_encode(tender.opening_public_key),
    }


def parse_share(text: str) -> Share:
    """``S1-<k>-<x>-<hex>`` or the share's bytes as unpadded base64url."""
    try:
        return Share.parse(text)
    except (ShamirError, KeyFormatError):
        raise BidRejected(BidReason.MALFORMED_SHARE) from None


async def hand_in_share(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    share_text: str,
    settings: BiddingSettings,
    evaluation_keys: EvaluationKeys | None = None,
) -> dict[str, Any]:
    """A custodian hands in its opened share (T9). The same custodian twice counts once; a
    share that does not fit is refused and recorded (with a supervision alert); with k
    valid shares the opening runs at once and its record is returned. With
    ``evaluation_keys`` the rebuilt opening key is kept wrapped for the panel's reading
    (``bidding.service.reading``); without, the bids cannot be read after the opening."""
    async with (
        refusals_audited(
            conn,
            audit,
            actor,
            now,
            action="tender.share_hand_in",
            tender_id=tender_id,
            alert_codes=frozenset({BidReason.SHARE_DOES_NOT_FIT.code}),
        ),
        conn.transaction(),
    ):
        tender = await load_tender(conn, tender_id, lock="update")
        custodian = await _custodian_of(conn, tender, actor)
        refusal = _state_refusal(tender)
        if refusal is not None:
            raise refusal
        share = parse_share(share_text.strip())
        if (
            share.x != custodian.position
            or share.k != tender.threshold_k
            or custodian.share_commitment is None
            or rules.share_commitment(tender.id, share.to_bytes()) != custodian.share_commitment
        ):
            raise BidRejected(
                BidReason.SHARE_DOES_NOT_FIT,
                f"share x={share.x}, k={share.k}; yours is x={custodian.position}, "
                f"k={tender.threshold_k}",
            )
        if custodian.handed_in_at is not None:
            await audit.append(
                conn,
                actor=actor,
                action="tender.share_repeat",
                object_type="tender",
                object_id=tender_id,
                at=now,
                detail={"position": custodian.position},
            )
            return {**await _status(conn, tender), "counted": False}
        stored = await store.stored_shares(conn, tender_id)
        quorum = len(stored) + 1 >= tender.threshold_k
        await store.insert_share(
            conn,
            tender_id=tender_id,
            user_id=custodian.user_id,
            position=custodian.position,
            share=None if quorum else share.encode(),  # the k-th share is never written
            now=now,
        )
        await audit.append(
            conn,
            actor=actor,
            action="tender.share_hand_in",
            object_type="tender",
            object_id=tender_id,
            at=now,
            detail={
                "position": custodian.position,
                "received": len(stored) + 1,
                "threshold_k": tender.threshold_k,
            },
        )
        if not quorum:
            return {**await _status(conn, tender), "counted": True}
        shares = [Share.decode(r["share"]) for r in stored] + [share]
        tender, signed = await _open(conn, audit, now, tender, shares, settings, evaluation_keys)
        return {**await _status(conn, tender), "counted": True, "record": signed.as_json()}


async def _status(conn: asyncpg.Connection, tender: Tender) -> dict[str, Any]:
    custodians = await store.list_custodians(conn, tender.id)
    received = [c for c in custodians if c.handed_in_at is not None]
    missing = [c for c in custodians if c.handed_in_at is None]
    return {
        "tender_id": tender.id,
        "state": tender.state,
        "opening_at": tender.opening_at,
        "opening_started_at": tender.opening_started_at,
        "opened_at": tender.opened_at,
        "threshold_k": tender.threshold_k,
        "custodian_count": tender.custodian_count,
        "shares_received": len(received),
        "shares_needed": max(0, tender.threshold_k - len(received))
        if tender.state is not TenderState.OPENED
        else 0,
        "custodians": [
            {
                "user_id": c.user_id,
                "username": c.username,
                "position": c.position,
                "handed_in": c.handed_in_at is not None,
                "handed_in_at": c.handed_in_at,
            }
            for c in custodians
        ],
        "missing": [c.username for c in missing],
    }


async def opening_status(conn: asyncpg.Connection, tender_id: int) -> dict[str, Any]:
    """T9: whose share is missing while the opening waits."""
    return await _status(conn, await load_tender(conn, tender_id))


# ---------------------------------------------------------------------------- the opening


async def _open(
    conn: asyncpg.Connection,
    audit: AuditLog,
    now: datetime,
    tender: Tender,
    shares: list[Share],
    settings: BiddingSettings,
    evaluation_keys: EvaluationKeys | None = None,
) -> tuple[Tender, Signed]:
    private = rebuild_x25519(shares, tender.opening_public_key)
    if private is None:
        raise BidRejected(BidReason.SHARE_DOES_NOT_FIT, "the shares do not rebuild the opening key")
    decision = rules.decide(tender, rules.CompleteOpening(), now)
    loop = asyncio.get_running_loop()
    entries: list[dict[str, Any]] = []
    frozen = await store.frozen_bids(conn, tender.id)
    vault = _SharedVault(conn)
    workers = asyncio.Semaphore(settings.opening_workers)

    async def one(bid: Bid, key: bytes) -> tuple[dict[str, Any], BidOutcome, FailureCause | None]:
        async with workers:
            return await _open_bid(vault, loop, tender, bid, key, settings)

    # Bids open side by side in worker threads (hashing and AES release the GIL); their
    # reads share the transaction's connection, one query at a time.
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(bid, private)) for bid in frozen]
    if evaluation_keys is not None:  # for the panel: wrapped outside the database's reach
        assert tender.opening_public_key is not None
        await store.insert_evaluation_key(
            conn,
            tender.id,
            kek_id=evaluation_keys.kek_id,
            wrapped_key=evaluation_keys.wrap(tender.id, tender.opening_public_key, private),
            now=now,
        )
    del private
    names: dict[int, str] = {}
    for bid, task in zip(frozen, tasks, strict=True):
        entry, outcome, cause = task.result()
        if bid.org_id not in names:
            names[bid.org_id] = (await parties.get_organisation(conn, bid.org_id)).name
        entry = {
            "leaf_index": bid.leaf_index,
            "bid_id": bid.id,
            "bidder_org_id": bid.org_id,
            "bidder_name": names[bid.org_id],
            "envelope_sha256": bid.envelope_sha256,
            "outcome": outcome.value,
            **entry,
        }
        entries.append(entry)
        await store.set_outcome(conn, bid.id, outcome, entry.get("failure", {}))
        if cause is FailureCause.OTHER:
            await raise_alert(
                conn,
                now,
                kind="bidding.opening_incident",
                severity="critical",
                object_type="tender",
                object_id=str(tender.id),
                message_en=f"bid {bid.id} could not be opened ({entry['failure']['code']}): "
                "treated as withdrawn; investigate",
                message_zh=f"投标 {bid.id} 无法开启（{entry['failure']['code']}），按撤回处理，请调查",
                detail={"bid_id": bid.id, "org_id": bid.org_id, **entry["failure"]},
                dedup_key=f"opening-incident:{bid.id}",
            )
    handed_in = [
        c.username
        for c in await store.list_custodians(conn, tender.id)
        if c.handed_in_at is not None
    ]
    head = await store.get_tree_head(conn, tender.id)
    assert head is not None and tender.opening_started_at is not None
    record = opening_record(
        tender_id=tender.id,
        tender_code=tender.code,
        project_name=tender.project_name,
        opening_at=tender.opening_at,
        opening_started_at=tender.opening_started_at,
        opened_at=now,
        tree_root_hex=bytes(head["root"]).hex(),
        tree_size=head["tree_size"],
        custodians=handed_in,
        entries=entries,
    )
    signed = await _store_record(conn, audit, tender.id, "opened", record, now)
    await public_notices.announce_opening_record(  # T11: the signed public view only
        conn, audit, now, tender, sign(audit, public_view(record)).as_json()
    )
    await store.wipe_shares(conn, tender.id, now)
    tender = await store.update_tender(conn, tender, state=decision.state, opened_at=now)
    await notify_registered(
        conn,
        tender,
        now,
        subject=f"Opening record published / 开标记录已公布: {tender.code}",
        body=f"GET /api/v1/tenders/{tender.id}/opening-record/public",
    )
    await audit.append(
        conn,
        actor=SCHEDULER,
        action="tender.open",
        object_type="tender",
        object_id=tender.id,
        at=now,
        payload=record,
        detail={
            "bids": len(entries),
            "opened": sum(1 for e in entries if e["outcome"] == BidOutcome.OPENED.value),
            "revoked": sum(1 for e in entries if e["outcome"] == BidOutcome.REVOKED.value),
            "withdrawn": sum(1 for e in entries if e["outcome"] == BidOutcome.WITHDRAWN.value),
        },
    )
    return tender, signed


class _SharedVault:
    """The vault read through the opening's connection by several bids at once: one query
    at a time."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    async def chunk_count(self, blob_id: int) -> int:
        async with self._lock:
            return await store.blob_chunk_count(self._conn, blob_id) or 0

    async def fetch(self, blob_id: int, seq: int) -> bytes | None:
        async with self._lock:
            return await store.fetch_chunk(self._conn, blob_id, seq)

    def reader(self, loop: asyncio.AbstractEventLoop, blob_id: int, count: int) -> ThreadBlobReader:
        return ThreadBlobReader(loop, lambda seq: self.fetch(blob_id, seq), count)


async def _open_bid(
    vault: _SharedVault,
    loop: asyncio.AbstractEventLoop,
    tender: Tender,
    bid: Bid,
    private: bytes,
    settings: BiddingSettings,
) -> tuple[dict[str, Any], BidOutcome, FailureCause | None]:
    """Decrypt one bid in a worker thread, check it against its receipt hash and the
    bidder's signature, parse its package and price schedule. Never raises for the bid's
    own problems: they become the entry's ``failure``."""
    count = await vault.chunk_count(bid.blob_id)
    reader = vault.reader(loop, bid.blob_id, count)
    parser = PackageParser(settings.price_schedule_max_bytes, defer_errors=True)

    def work() -> str | None:
        try:
            result = open_envelope(
                reader,
                parser,
                recipient_private=private,
                expected_tender_id=envelope_tender_id(tender.id),
                expected_bidder_id=envelope_bidder_id(bid.org_id),
                bidder_public=bid.signer_public_key,
            )
            return result.envelope_sha256
        finally:
            reader.drain()

    code: str
    try:
        digest = await loop.run_in_executor(None, work)
        if digest != bid.envelope_sha256:
            code, detail = "receipt_mismatch", f"envelope hashes to {digest}"
        else:
            try:
                package = parser.finish()
                schedule = parse_price_schedule(package.price_schedule)
            except PackageError as exc:
                cause, outcome = rules.classify_failure(exc.code.value, stored_bytes_intact=True)
                return _failure(cause, exc.code.value, exc.detail), outcome, cause
            return (
                {
                    "amount_fen": schedule.amount_fen,
                    "duration_days": schedule.duration_days,
                    "declared_items": dict(schedule.declared_items),
                    "confidential_items": dict(schedule.confidential_items),
                    "documents": [
                        {"name": d.name, "size_bytes": d.size_bytes, "sha256": d.sha256}
                        for d in package.documents
                    ],
                },
                BidOutcome.OPENED,
                None,
            )
    except EnvelopeError as exc:  # discard whatever the parser saw
        code, detail = exc.code.code, exc.detail
    intact = await _stored_sha256(vault, loop, bid, count) == bid.envelope_sha256
    cause, outcome = rules.classify_failure(code, stored_bytes_intact=intact)
    if not intact:
        detail = f"{detail}; the stored envelope no longer matches its receipt".lstrip("; ")
    return _failure(cause, code, detail), outcome, cause


def _failure(cause: FailureCause, code: str, detail: str) -> dict[str, Any]:
    return {"failure": {"cause": cause.value, "code": code, "detail": detail[:300]}}


async def _stored_sha256(
    vault: _SharedVault, loop: asyncio.AbstractEventLoop, bid: Bid, count: int
) -> str:
    reader = vault.reader(loop, bid.blob_id, count)

    def work() -> str:
        digest = hashlib.sha256()
        buf = memoryview(bytearray(1024 * 1024))
        try:
            while n := reader.readinto(buf):
                digest.update(buf[:n])
        finally:
            reader.drain()
        return digest.hexdigest()

    return await loop.run_in_executor(None, work)


# ---------------------------------------------------------------------------- records


async def _store_record(
    conn: asyncpg.Connection,
    audit: AuditLog,
    tender_id: int,
    status: str,
    record: dict[str, Any],
    now: datetime,
) -> Signed:
    signed = sign(audit, record)
    public = public_view(record)
    public_signed = sign(audit, public)
    await store.insert_record(
        conn,
        tender_id=tender_id,
        status=status,
        document=canonical_text(record),
        signature=signed.signature,
        public_document=canonical_text(public),
        public_signature=public_signed.signature,
        key_id=signed.key_id,
        now=now,
    )
    return signed


async def get_opening_record(conn: asyncpg.Connection, tender_id: int, *, public: bool) -> Signed:
    """The signed opening record (staff, supervisors) or its signed public view (T11)."""
    await load_tender(conn, tender_id)
    row = await store.get_record(conn, tender_id)
    if row is None:
        raise BidRejected(BidReason.RECORD_NOT_READY)
    if public:
        return signed_from_row(row["public_document"], row["public_signature"], row["key_id"])
    return signed_from_row(row["document"], row["signature"], row["key_id"])


async def get_tree_head(conn: asyncpg.Connection, tender_id: int) -> Signed:
    await load_tender(conn, tender_id)
    head = await store.get_tree_head(conn, tender_id)
    if head is None:
        raise BidRejected(BidReason.BIDS_NOT_FROZEN)
    return signed_from_row(head["document"], head["signature"], head["key_id"])
