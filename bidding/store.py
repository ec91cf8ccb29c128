"""Every SQL statement of sealed tendering (asyncpg, ``$n`` parameters).

Callers own the transaction. Locks are taken in one order — a staged upload's row, then the
tender row, then the registration row — so two use cases never wait on each other in a
cycle (the sweep of staged uploads skips rows that are locked rather than waiting).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from bidding.evaluation.model import Criterion, EvaluationMethod, MethodSpec, PriceBenchmark
from bidding.model import (
    Bid,
    BidOutcome,
    BidStatus,
    Category,
    Custodian,
    OpeningMode,
    Procedure,
    Registration,
    Tender,
    TenderDocument,
    TenderDraft,
    TenderState,
)

# ---------------------------------------------------------------------------- tenders


def _tender(r: asyncpg.Record) -> Tender:
    lots = r["lots"]
    if isinstance(lots, str):
        lots = json.loads(lots)
    return Tender(
        id=r["id"],
        code=r["code"],
        project_name=r["project_name"],
        category=Category(r["category"]),
        procedure=Procedure(r["procedure"]),
        lots=tuple(lots),
        estimated_price_fen=r["estimated_price_fen"],
        deposit_fen=r["deposit_fen"],
        bid_deadline_at=r["bid_deadline_at"],
        opening_at=r["opening_at"],
        place=r["place"],
        min_bidders=r["min_bidders"],
        min_period_days=r["min_period_days"],
        opening_mode=OpeningMode(r["opening_mode"]),
        threshold_k=r["threshold_k"],
        custodian_count=r["custodian_count"],
        max_bid_bytes=r["max_bid_bytes"],
        state=TenderState(r["state"]),
        version=r["version"],
        created_by=r["created_by"],
        created_at=r["created_at"],
        published_at=r["published_at"],
        closed_at=r["closed_at"],
        opening_started_at=r["opening_started_at"],
        opened_at=r["opened_at"],
        failed_at=r["failed_at"],
        cancelled_at=r["cancelled_at"],
        failure_reason=r["failure_reason"],
        retender_of=r["retender_of"],
        opening_public_key=bytes(r["opening_public_key"]) if r["opening_public_key"] else None,
        deposit_interest_rate_bp=r["deposit_interest_rate_bp"],
        **_evaluation_terms(r),
    )


def _evaluation_terms(r: asyncpg.Record) -> dict[str, Any]:
    """The evaluation columns of a tender row (bidding/migrations/0005_evaluation.sql)."""
    criteria = r["criteria"]
    if isinstance(criteria, str):
        criteria = json.loads(criteria)
    return {
        "evaluation_method": EvaluationMethod(r["evaluation_method"]),
        "criteria": tuple(Criterion(c["code"], c["name"], c["max_points"]) for c in criteria),
        "price_benchmark": PriceBenchmark(r["price_benchmark"]),
        "points_per_percent": r["points_per_percent"],
        "control_price_fen": r["control_price_fen"],
        "budget_fen": r["budget_fen"],
        "trim_extremes": r["trim_extremes"],
    }


def evaluation_columns(spec: MethodSpec) -> dict[str, Any]:
    """The evaluation terms as ``tenders`` columns (for ``update_tender`` on a draft)."""
    return {
        "evaluation_method": spec.method.value,
        "criteria": [c.as_json() for c in spec.criteria],
        "price_benchmark": spec.price_benchmark.value,
        "points_per_percent": spec.points_per_percent,
        "control_price_fen": spec.control_price_fen,
        "budget_fen": spec.budget_fen,
        "trim_extremes": spec.trim_extremes,
    }


async def insert_tender(
    conn: asyncpg.Connection,
    draft: TenderDraft,
    *,
    min_period_days: int,
    created_by: int | None,
    now: datetime,
) -> Tender:
    r = await conn.fetchrow(
        """INSERT INTO tenders (code, project_name, category, procedure, lots, estimated_price_fen,
               deposit_fen, bid_deadline_at, opening_at, place, min_bidders, min_period_days,
               opening_mode, threshold_k, custodian_count, max_bid_bytes, state, retender_of,
               created_by, created_at, evaluation_method, criteria, price_benchmark,
               points_per_percent, control_price_fen, budget_fen, trim_extremes,
               deposit_interest_rate_bp)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   'draft', $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)
           RETURNING *""",
        draft.code,
        draft.project_name,
        draft.category.value,
        draft.procedure.value,
        [lot.strip() for lot in draft.lots],
        draft.estimated_price_fen,
        draft.deposit_fen,
        draft.bid_deadline_at,
        draft.opening_at,
        draft.place,
        draft.min_bidders,
        min_period_days,
        draft.opening_mode.value,
        draft.threshold_k,
        len(draft.custodian_user_ids),
        draft.max_bid_bytes,
        draft.retender_of,
        created_by,
        now,
        *evaluation_columns(draft.evaluation).values(),
        draft.deposit_interest_rate_bp,
    )
    return _tender(r)


async def get_tender(
    conn: asyncpg.Connection, tender_id: int, *, lock: str | None = None
) -> Tender | None:
    """``lock``: ``"update"`` (lifecycle changes) or ``"share"`` (a bid's commit)."""
    suffix = {None: "", "update": " FOR UPDATE", "share": " FOR SHARE"}[lock]
    r = await conn.fetchrow("SELECT * FROM tenders WHERE id = $1" + suffix, tender_id)
    return _tender(r) if r is not None else None


async def list_tenders(
    conn: asyncpg.Connection,
    *,
    states: Sequence[str] | None,
    after_id: int = 0,
    limit: int = 100,
) -> list[Tender]:
    rows = await conn.fetch(
        "SELECT * FROM tenders WHERE id > $1 AND ($2::text[] IS NULL OR state = ANY($2)) "
        "ORDER BY id LIMIT $3",
        after_id,
        list(states) if states is not None else None,
        limit,
    )
    return [_tender(r) for r in rows]


async def update_tender(conn: asyncpg.Connection, tender: Tender, **columns: Any) -> Tender:
    """Set columns on the tender if its version is still ``tender.version``; bump it."""
    names = list(columns)
    sets = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
    values = [v.value if isinstance(v, TenderState) else v for v in columns.values()]
    r = await conn.fetchrow(
        f"UPDATE tenders SET {sets}, version = version + 1 WHERE id = $1 AND version = $2 "
        "RETURNING *",
        tender.id,
        tender.version,
        *values,
    )
    assert r is not None, "the tender row is locked by the caller; its version cannot move"
    return _tender(r)


async def insert_date_change(
    conn: asyncpg.Connection,
    tender: Tender,
    *,
    new_deadline_at: datetime,
    new_opening_at: datetime,
    reason: str,
    changed_by: int | None,
    now: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO tender_date_changes (tender_id, old_deadline_at, new_deadline_at,
               old_opening_at, new_opening_at, reason, changed_by, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        tender.id,
        tender.bid_deadline_at,
        new_deadline_at,
        tender.opening_at,
        new_opening_at,
        reason,
        changed_by,
        now,
    )


async def date_changes(conn: asyncpg.Connection, tender_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM tender_date_changes WHERE tender_id = $1 ORDER BY id", tender_id
    )
    return [dict(r) for r in rows]


# ---------------------------------------------------------------------------- custodians

_CUSTODIAN_SELECT = """
    SELECT c.*, u.username, s.handed_in_at
      FROM tender_custodians c
      JOIN users u ON u.id = c.user_id
      LEFT JOIN opening_shares s ON s.tender_id = c.tender_id AND s.user_id = c.user_id
"""


def _custodian(r: asyncpg.Record) -> Custodian:
    return Custodian(
        tender_id=r["tender_id"],
        user_id=r["user_id"],
        username=r["username"],
        position=r["position"],
        key_id=r["key_id"],
        public_key=bytes(r["public_key"]) if r["public_key"] is not None else None,
        sealed_share=bytes(r["sealed_share"]) if r["sealed_share"] is not None else None,
        share_commitment=bytes(r["share_commitment"])
        if r["share_commitment"] is not None
        else None,
        handed_in_at=r["handed_in_at"],
    )


async def insert_custodian(
    conn: asyncpg.Connection, tender_id: int, user_id: int, position: int
) -> None:
    await conn.execute(
        "INSERT INTO tender_custodians (tender_id, user_id, position) VALUES ($1, $2, $3)",
        tender_id,
        user_id,
        position,
    )


async def list_custodians(conn: asyncpg.Connection, tender_id: int) -> list[Custodian]:
    rows = await conn.fetch(
        _CUSTODIAN_SELECT + " WHERE c.tender_id = $1 ORDER BY c.position", tender_id
    )
    return [_custodian(r) for r in rows]


async def get_custodian(conn: asyncpg.Connection, tender_id: int, user_id: int) -> Custodian | None:
    r = await conn.fetchrow(
        _CUSTODIAN_SELECT + " WHERE c.tender_id = $1 AND c.user_id = $2", tender_id, user_id
    )
    return _custodian(r) if r is not None else None


async def set_custodian_share(
    conn: asyncpg.Connection,
    tender_id: int,
    user_id: int,
    *,
    key_id: str,
    public_key: bytes,
    sealed_share: bytes,
    share_commitment: bytes,
) -> None:
    await conn.execute(
        """UPDATE tender_custodians SET key_id = $3, public_key = $4, sealed_share = $5,
               share_commitment = $6
           WHERE tender_id = $1 AND user_id = $2""",
        tender_id,
        user_id,
        key_id,
        public_key,
        sealed_share,
        share_commitment,
    )


# ---------------------------------------------------------------------------- the vault


async def new_blob_id(conn: asyncpg.Connection) -> int:
    blob_id: int = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('blobs', 'id'))")
    return blob_id


async def insert_chunk(conn: asyncpg.Connection, blob_id: int, seq: int, data: bytes) -> None:
    await conn.execute(
        "INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)", blob_id, seq, data
    )


async def insert_blob(
    conn: asyncpg.Connection,
    blob_id: int,
    *,
    kind: str,
    size_bytes: int,
    sha256: str,
    chunk_bytes: int,
    chunk_count: int,
    now: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO blobs (id, kind, size_bytes, sha256, chunk_bytes, chunk_count, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        blob_id,
        kind,
        size_bytes,
        sha256,
        chunk_bytes,
        chunk_count,
        now,
    )


async def blob_chunk_count(conn: asyncpg.Connection, blob_id: int) -> int | None:
    count: int | None = await conn.fetchval("SELECT chunk_count FROM blobs WHERE id = $1", blob_id)
    return count


async def fetch_chunk(conn: asyncpg.Connection, blob_id: int, seq: int) -> bytes | None:
    data: bytes | None = await conn.fetchval(
        "SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq = $2", blob_id, seq
    )
    return data


# ---------------------------------------------------------------------------- staged uploads
#
# A bid upload's chunks, each committed on its own while the envelope streams in; moved into
# the vault by the upload's one short transaction at the end (``bid_uploads``,
# ``bid_upload_chunks``; migration 0002). Lock order: the upload row first, then the tender.


async def insert_upload(
    conn: asyncpg.Connection, *, tender_id: int, org_id: int, submitted_by: int, now: datetime
) -> int:
    upload_id: int = await conn.fetchval(
        """INSERT INTO bid_uploads (tender_id, org_id, submitted_by, started_at, touched_at)
           VALUES ($1, $2, $3, $4, $4) RETURNING id""",
        tender_id,
        org_id,
        submitted_by,
        now,
    )
    return upload_id


async def stage_chunk(
    conn: asyncpg.Connection, upload_id: int, seq: int, data: bytes, now: datetime
) -> bool:
    """Append chunk ``seq`` to the upload and mark it touched, in one statement (one commit
    when the caller holds no transaction). ``False``: the upload is gone (swept)."""
    staged: int | None = await conn.fetchval(
        """WITH upload AS (
               UPDATE bid_uploads
                  SET touched_at = $4, size_bytes = size_bytes + length($3::bytea),
                      chunk_count = chunk_count + 1
                WHERE id = $1 AND chunk_count = $2::integer
            RETURNING id)
           INSERT INTO bid_upload_chunks (upload_id, seq, data)
           SELECT id, $2::integer, $3::bytea FROM upload
           RETURNING seq""",
        upload_id,
        seq,
        data,
        now,
    )
    return staged is not None


async def lock_upload(conn: asyncpg.Connection, upload_id: int) -> asyncpg.Record | None:
    """The upload's row, locked against the sweep until the caller's transaction ends."""
    return await conn.fetchrow("SELECT * FROM bid_uploads WHERE id = $1 FOR UPDATE", upload_id)


async def move_upload_to_blob(conn: asyncpg.Connection, upload_id: int, blob_id: int) -> int:
    """Copy the upload's chunks into the vault as blob ``blob_id`` (same seq, same bytes);
    returns how many. The ``blobs`` row is the caller's, before the commit."""
    status: str = await conn.execute(
        """INSERT INTO blob_chunks (blob_id, seq, data)
           SELECT $2, seq, data FROM bid_upload_chunks WHERE upload_id = $1 ORDER BY seq""",
        upload_id,
        blob_id,
    )
    return int(status.rsplit(" ", 1)[1])


async def delete_upload(conn: asyncpg.Connection, upload_id: int) -> bool:
    """Delete the upload and (cascade) its chunks; ``False`` if it was already gone."""
    status: str = await conn.execute("DELETE FROM bid_uploads WHERE id = $1", upload_id)
    return status != "DELETE 0"


async def sweep_uploads(conn: asyncpg.Connection, *, idle_since: datetime, limit: int) -> int:
    """Delete up to ``limit`` uploads untouched since before ``idle_since`` (and their chunks);
    an upload whose row another transaction holds (its commit under way) is skipped."""
    status: str = await conn.execute(
        """DELETE FROM bid_uploads WHERE id IN (
               SELECT id FROM bid_uploads WHERE touched_at < $1
                ORDER BY touched_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
        idle_since,
        limit,
    )
    return int(status.rsplit(" ", 1)[1])


# ---------------------------------------------------------------------------- documents


def _document(r: asyncpg.Record) -> TenderDocument:
    return TenderDocument(
        r["id"],
        r["tender_id"],
        r["name"],
        r["sha256"],
        r["size_bytes"],
        r["blob_id"],
        r["uploaded_at"],
    )


async def insert_document(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    name: str,
    blob_id: int,
    sha256: str,
    size_bytes: int,
    uploaded_by: int | None,
    now: datetime,
) -> TenderDocument | None:
    """``None`` when the tender already has a document of this name."""
    r = await conn.fetchrow(
        """INSERT INTO tender_documents (tender_id, name, blob_id, sha256, size_bytes,
               uploaded_by, uploaded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (tender_id, name) DO NOTHING RETURNING *""",
        tender_id,
        name,
        blob_id,
        sha256,
        size_bytes,
        uploaded_by,
        now,
    )
    return _document(r) if r is not None else None


async def document_name_taken(conn: asyncpg.Connection, tender_id: int, name: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM tender_documents WHERE tender_id = $1 AND name = $2", tender_id, name
        )
    )


async def list_documents(conn: asyncpg.Connection, tender_id: int) -> list[TenderDocument]:
    rows = await conn.fetch(
        "SELECT * FROM tender_documents WHERE tender_id = $1 ORDER BY id", tender_id
    )
    return [_document(r) for r in rows]


async def get_document(
    conn: asyncpg.Connection, tender_id: int, document_id: int
) -> TenderDocument | None:
    r = await conn.fetchrow(
        "SELECT * FROM tender_documents WHERE tender_id = $1 AND id = $2", tender_id, document_id
    )
    return _document(r) if r is not None else None


# ---------------------------------------------------------------------------- registrations


def _registration(r: asyncpg.Record) -> Registration:
    return Registration(r["tender_id"], r["org_id"], r["registered_by"], r["registered_at"])


async def insert_registration(
    conn: asyncpg.Connection, tender_id: int, org_id: int, user_id: int, now: datetime
) -> Registration | None:
    """``None`` if the organisation was already registered."""
    r = await conn.fetchrow(
        """INSERT INTO tender_registrations (tender_id, org_id, registered_by, registered_at)
           VALUES ($1, $2, $3, $4) ON CONFLICT (tender_id, org_id) DO NOTHING RETURNING *""",
        tender_id,
        org_id,
        user_id,
        now,
    )
    return _registration(r) if r is not None else None


async def get_registration(
    conn: asyncpg.Connection, tender_id: int, org_id: int, *, lock: bool = False
) -> Registration | None:
    r = await conn.fetchrow(
        "SELECT * FROM tender_registrations WHERE tender_id = $1 AND org_id = $2"
        + (" FOR UPDATE" if lock else ""),
        tender_id,
        org_id,
    )
    return _registration(r) if r is not None else None


async def list_registrations(conn: asyncpg.Connection, tender_id: int) -> list[Registration]:
    rows = await conn.fetch(
        "SELECT * FROM tender_registrations WHERE tender_id = $1 ORDER BY registered_at, org_id",
        tender_id,
    )
    return [_registration(r) for r in rows]


# ---------------------------------------------------------------------------- bids


def _bid(r: asyncpg.Record) -> Bid:
    return Bid(
        id=r["id"],
        tender_id=r["tender_id"],
        org_id=r["org_id"],
        submitted_by=r["submitted_by"],
        blob_id=r["blob_id"],
        envelope_sha256=r["envelope_sha256"],
        envelope_size_bytes=r["envelope_size_bytes"],
        signer_key_id=r["signer_key_id"],
        signer_public_key=bytes(r["signer_public_key"]),
        status=BidStatus(r["status"]),
        received_at=r["received_at"],
        ended_at=r["ended_at"],
        receipt_id=r["receipt_id"],
        leaf_index=r["leaf_index"],
        outcome=BidOutcome(r["outcome"]) if r["outcome"] else None,
    )


async def current_bid(conn: asyncpg.Connection, tender_id: int, org_id: int) -> Bid | None:
    r = await conn.fetchrow(
        "SELECT * FROM bids WHERE tender_id = $1 AND org_id = $2 AND status = 'current'",
        tender_id,
        org_id,
    )
    return _bid(r) if r is not None else None


async def insert_bid(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    org_id: int,
    submitted_by: int,
    blob_id: int,
    envelope_sha256: str,
    envelope_size_bytes: int,
    signer_key_id: str,
    signer_public_key: bytes,
    received_at: datetime,
    receipt_id: int,
) -> Bid:
    r = await conn.fetchrow(
        """INSERT INTO bids (tender_id, org_id, submitted_by, blob_id, envelope_sha256,
               envelope_size_bytes, signer_key_id, signer_public_key, status, received_at,
               receipt_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'current', $9, $10) RETURNING *""",
        tender_id,
        org_id,
        submitted_by,
        blob_id,
        envelope_sha256,
        envelope_size_bytes,
        signer_key_id,
        signer_public_key,
        received_at,
        receipt_id,
    )
    return _bid(r)


async def end_bid(conn: asyncpg.Connection, bid_id: int, status: BidStatus, now: datetime) -> None:
    await conn.execute(
        "UPDATE bids SET status = $2, ended_at = $3 WHERE id = $1 AND status = 'current'",
        bid_id,
        status.value,
        now,
    )


async def bids_of(conn: asyncpg.Connection, tender_id: int, org_id: int) -> list[Bid]:
    rows = await conn.fetch(
        "SELECT * FROM bids WHERE tender_id = $1 AND org_id = $2 ORDER BY id", tender_id, org_id
    )
    return [_bid(r) for r in rows]


async def current_bids(conn: asyncpg.Connection, tender_id: int) -> list[Bid]:
    rows = await conn.fetch(
        "SELECT * FROM bids WHERE tender_id = $1 AND status = 'current' ORDER BY receipt_id, id",
        tender_id,
    )
    return [_bid(r) for r in rows]


async def frozen_bids(conn: asyncpg.Connection, tender_id: int) -> list[Bid]:
    rows = await conn.fetch(
        "SELECT * FROM bids WHERE tender_id = $1 AND leaf_index IS NOT NULL ORDER BY leaf_index",
        tender_id,
    )
    return [_bid(r) for r in rows]


async def set_leaf_index(conn: asyncpg.Connection, bid_id: int, leaf_index: int) -> None:
    await conn.execute("UPDATE bids SET leaf_index = $2 WHERE id = $1", bid_id, leaf_index)


async def set_outcome(
    conn: asyncpg.Connection, bid_id: int, outcome: BidOutcome, detail: dict[str, Any]
) -> None:
    await conn.execute(
        "UPDATE bids SET outcome = $2, outcome_detail = $3 WHERE id = $1",
        bid_id,
        outcome.value,
        detail,
    )


# ---------------------------------------------------------------------------- receipts


async def next_receipt_id(conn: asyncpg.Connection) -> int:
    rid: int = await conn.fetchval("SELECT nextval('bid_receipt_seq')")
    return rid


async def insert_receipt(
    conn: asyncpg.Connection,
    *,
    receipt_id: int,
    tender_id: int,
    org_id: int,
    bid_id: int,
    action: str,
    document: str,
    signature: bytes,
    key_id: str,
    now: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO bid_receipts (id, tender_id, org_id, bid_id, action, document, signature,
               key_id, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        receipt_id,
        tender_id,
        org_id,
        bid_id,
        action,
        document,
        signature,
        key_id,
        now,
    )


async def receipts_of(
    conn: asyncpg.Connection, tender_id: int, org_id: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM bid_receipts WHERE tender_id = $1 AND org_id = $2 ORDER BY id",
        tender_id,
        org_id,
    )


async def receipt(conn: asyncpg.Connection, receipt_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM bid_receipts WHERE id = $1", receipt_id)


# ---------------------------------------------------------------------------- frozen set


async def insert_tree_head(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    tree_size: int,
    root: bytes,
    document: str,
    signature: bytes,
    key_id: str,
    now: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO bid_tree_heads (tender_id, tree_size, root, document, signature, key_id,
               created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        tender_id,
        tree_size,
        root,
        document,
        signature,
        key_id,
        now,
    )


async def get_tree_head(conn: asyncpg.Connection, tender_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM bid_tree_heads WHERE tender_id = $1", tender_id)


# ---------------------------------------------------------------------------- shares


async def insert_share(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    user_id: int,
    position: int,
    share: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO opening_shares (tender_id, user_id, position, share, handed_in_at)
           VALUES ($1, $2, $3, $4, $5)""",
        tender_id,
        user_id,
        position,
        share,
        now,
    )


async def stored_shares(conn: asyncpg.Connection, tender_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT user_id, position, share FROM opening_shares "
        "WHERE tender_id = $1 AND share IS NOT NULL ORDER BY position",
        tender_id,
    )


async def wipe_shares(conn: asyncpg.Connection, tender_id: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE opening_shares SET share = NULL, wiped_at = $2 "
        "WHERE tender_id = $1 AND share IS NOT NULL",
        tender_id,
        now,
    )


# ---------------------------------------------------------------------------- records


async def insert_record(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    status: str,
    document: str,
    signature: bytes,
    public_document: str,
    public_signature: bytes,
    key_id: str,
    now: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO opening_records (tender_id, status, document, signature, public_document,
               public_signature, key_id, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        tender_id,
        status,
        document,
        signature,
        public_document,
        public_signature,
        key_id,
        now,
    )


async def get_record(conn: asyncpg.Connection, tender_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM opening_records WHERE tender_id = $1", tender_id)


# ---------------------------------------------------------------------------- evaluation access
# (the panel the tender asks for; the wrapped evaluation key — bidding/service/reading.py)


async def get_panel_requirements(
    conn: asyncpg.Connection, tender_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT tender_id, tenderee_org_id, supervising_org_ids, lines, tenderee_representatives, "
        "min_members, set_by, set_at, version FROM tender_panel_requirements WHERE tender_id = $1",
        tender_id,
    )


async def put_panel_requirements(
    conn: asyncpg.Connection,
    tender_id: int,
    *,
    tenderee_org_id: int,
    supervising_org_ids: list[int],
    lines: list[dict[str, Any]],
    tenderee_representatives: int,
    min_members: int,
    set_by: int,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO tender_panel_requirements (tender_id, tenderee_org_id, supervising_org_ids, "
        "lines, tenderee_representatives, min_members, set_by, set_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tender_id) DO UPDATE SET "
        "tenderee_org_id = $2, supervising_org_ids = $3, lines = $4, tenderee_representatives = $5, "
        "min_members = $6, set_by = $7, set_at = $8, "
        "version = tender_panel_requirements.version + 1",
        tender_id, tenderee_org_id, supervising_org_ids, lines, tenderee_representatives,
        min_members, set_by, now,
    )  # fmt: skip


async def registered_org_ids(conn: asyncpg.Connection, tender_id: int) -> list[int]:
    """Every organisation registered for the tender (whether or not it bid)."""
    rows = await conn.fetch(
        "SELECT org_id FROM tender_registrations WHERE tender_id = $1 ORDER BY org_id", tender_id
    )
    return [r["org_id"] for r in rows]


async def insert_evaluation_key(
    conn: asyncpg.Connection, tender_id: int, *, kek_id: str, wrapped_key: bytes, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO tender_evaluation_keys (tender_id, kek_id, wrapped_key, created_at) "
        "VALUES ($1, $2, $3, $4)",
        tender_id, kek_id, wrapped_key, now,
    )  # fmt: skip


async def get_evaluation_key(conn: asyncpg.Connection, tender_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT tender_id, kek_id, wrapped_key, created_at, wiped_at FROM tender_evaluation_keys "
        "WHERE tender_id = $1",
        tender_id,
    )


async def wipe_evaluation_key(conn: asyncpg.Connection, tender_id: int, now: datetime) -> bool:
    """Forget the wrapped key (the evaluation is over); True if it was still there."""
    done = await conn.execute(
        "UPDATE tender_evaluation_keys SET wrapped_key = NULL, wiped_at = $2 "
        "WHERE tender_id = $1 AND wrapped_key IS NOT NULL",
        tender_id, now,
    )  # fmt: skip
    return str(done).endswith(" 1")
