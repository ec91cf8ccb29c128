"""The panel a tender asks for, and reading the opened bids during the evaluation (issue 12,
items 3–4; docs/bidding.md, "Reading the bids during evaluation").

Theory of operation
-------------------
*Panel requirements.* A tender states the committee it needs (O12 9, RULES T15): the
tenderee organisation, the competent and supervising departments, its specialty lines
(code, count, region rule, reserve) and the tenderee's own representatives. Staff set them
(``set_panel_requirements``); the web layer (``web.panels``) validates the lines against
the expert classification and the composition rule and refuses a change once a panel was
requested. ``panel_context`` gives the web layer what a draw needs: the tender, its
requirements and every registered bidder's organisation (the exclusions are computed from
them, never typed in).

*Reading.* After the opening nothing of a bid's documents is kept in clear; the vault holds
the sealed envelope, the opening record the declared fields. At the opening the rebuilt
opening key is wrapped under the evaluation key-encryption key (``bidding.vault.
EvaluationKeys``, outside the database) and stored (``tender_evaluation_keys``). While the
evaluation is open, a seated member (the web layer decides who: ``experts.seating``, and
whether the evaluation is open) lists the opened bids with their price schedules
(``list_opened_bids``, from the signed opening record) and reads a document
(``read_document``): the key is unwrapped in memory, the envelope opened again in a worker
thread, the one document kept in memory, checked against the hash in the opening record,
and returned — never written. Every read is in the audit log. When the evaluation closes,
``close_evaluation_access`` wipes the wrapped key: after that nobody can read a bid again
without a new quorum of custodians.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bidding import store
from bidding.model import BidOutcome, Tender, TenderState, envelope_bidder_id, envelope_tender_id
from bidding.package import MAGIC
from bidding.service.common import load_tender
from bidding.vault import EvaluationKeys, ThreadBlobReader
from crypto.envelope import open_envelope
from crypto.errors import EnvelopeError
from trading.audit import AuditLog
from trading.context import Actor
from trading.errors import NotFound, Reason, Rejected

__all__ = [
    "PanelContext",
    "ReadingReason",
    "close_evaluation_access",
    "get_panel_requirements",
    "list_opened_bids",
    "panel_context",
    "read_document",
    "set_panel_requirements",
]


class ReadingReason(Reason):
    """Refusals of the panel requirements and of reading the bids. Closed set."""

    REQUIREMENTS_MISSING = (
        "panel_requirements_missing",
        409,
        "The tender states no panel requirements yet (PUT …/panel-requirements first)",
        "招标项目尚未设定评标委员会组成要求（请先 PUT …/panel-requirements）",
    )
    REQUIREMENTS_FIXED = (
        "panel_requirements_fixed",
        409,
        "A panel was already requested for this tender: its requirements are fixed",
        "该项目已申请抽取评标专家，组成要求不得再修改",
    )
    TENDER_NOT_OPEN_FOR_PANEL = (
        "tender_not_ready_for_panel",
        409,
        "A panel is drawn for a published tender that has not failed or been cancelled",
        "只能为已发布且未流标、未终止的招标项目抽取评标专家",
    )
    PANEL_EXISTS = (
        "panel_exists",
        409,
        "The tender already has a panel; a new draw only when the last one is short",
        "该项目已有评标委员会；仅当上次抽取人数不足时可重新抽取",
    )
    NO_PANEL = ("no_panel", 404, "No panel was drawn for this tender", "该项目尚未抽取评标专家")
    NOT_SEATED = (
        "not_seated",
        403,
        "Only the sitting members of the tender's panel read its bids",
        "只有该项目评标委员会的在任成员可以查阅投标文件",
    )
    EVALUATION_NOT_OPEN = (
        "evaluation_not_open",
        403,
        "The bids are read only while the evaluation is open",
        "只有在评标期间可以查阅投标文件",
    )
    EVALUATION_NOT_CONCLUDED = (
        "evaluation_not_concluded",
        409,
        "The panel list stays secret until the evaluation result is fixed (BL 37)",
        "评标结果确定前，评标委员会名单保密（招标投标法第三十七条）",
    )
    EVALUATION_KEY_GONE = (
        "evaluation_key_gone",
        409,
        "The bids of this tender can no longer be opened (the evaluation key was wiped or never kept)",
        "该项目的投标文件已无法开启（评标密钥已销毁或未保存）",
    )
    DOCUMENT_UNREADABLE = (
        "document_unreadable",
        409,
        "The document could not be read back as it was at the opening",
        "该文件无法按开标时的内容读出",
    )


# ---------------------------------------------------------------------------- requirements


async def get_panel_requirements(conn: asyncpg.Connection, tender_id: int) -> dict[str, Any]:
    await load_tender(conn, tender_id)
    row = await store.get_panel_requirements(conn, tender_id)
    if row is None:
        raise Rejected(ReadingReason.REQUIREMENTS_MISSING, details={"tender_id": tender_id})
    return _requirements_json(row)


def _requirements_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "tender_id": row["tender_id"],
        "tenderee_org_id": row["tenderee_org_id"],
        "supervising_org_ids": list(row["supervising_org_ids"]),
        "lines": row["lines"],
        "tenderee_representatives": row["tenderee_representatives"],
        "min_members": row["min_members"],
        "set_by": row["set_by"],
        "set_at": row["set_at"],
        "version": row["version"],
    }


async def set_panel_requirements(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender_id: int,
    *,
    tenderee_org_id: int,
    supervising_org_ids: list[int],
    lines: list[dict[str, Any]],
    tenderee_representatives: int,
    min_members: int,
) -> dict[str, Any]:
    """Record (or replace) what the tender asks of its panel. The caller has checked the
    lines (classification, T15) and that no panel was requested yet."""
    assert actor.user_id is not None
    async with conn.transaction():
        tender = await load_tender(conn, tender_id, lock="update")
        if tender.state in (TenderState.FAILED, TenderState.CANCELLED):
            raise Rejected(ReadingReason.TENDER_NOT_OPEN_FOR_PANEL, f"it is {tender.state.value}")
        known = await conn.fetch(
            "SELECT id FROM organisations WHERE id = ANY($1::bigint[])",
            [tenderee_org_id, *supervising_org_ids],
        )
        missing = sorted({tenderee_org_id, *supervising_org_ids} - {r["id"] for r in known})
        if missing:
            raise NotFound(
                f"organisation {', '.join(map(str, missing))} not found",
                f"单位 {', '.join(map(str, missing))} 不存在",
                code="organisation_not_found",
            )
        await store.put_panel_requirements(
            conn, tender_id, tenderee_org_id=tenderee_org_id,
            supervising_org_ids=sorted(set(supervising_org_ids)), lines=lines,
            tenderee_representatives=tenderee_representatives, min_members=min_members,
            set_by=actor.user_id, now=now,
        )  # fmt: skip
        row = await store.get_panel_requirements(conn, tender_id)
        assert row is not None
        out = _requirements_json(row)
        await audit.append(
            conn, actor=actor, action="tender.panel_requirements", object_type="tender",
            object_id=tender_id, at=now, payload=json.loads(json.dumps(out, default=str)),
            detail={"lines": lines, "tenderee_org_id": tenderee_org_id,
                    "representatives": tenderee_representatives, "version": row["version"]},
        )  # fmt: skip
        return out


@dataclass(frozen=True)
class PanelContext:
    """What a draw for ``tender`` needs from the bidding package."""

    tender: Tender
    requirements: dict[str, Any]
    bidder_org_ids: tuple[int, ...]  # every registered bidder's organisation


async def panel_context(conn: asyncpg.Connection, tender_id: int) -> PanelContext:
    tender = await load_tender(conn, tender_id)
    if tender.state in (TenderState.DRAFT, TenderState.FAILED, TenderState.CANCELLED):
        raise Rejected(ReadingReason.TENDER_NOT_OPEN_FOR_PANEL, f"it is {tender.state.value}")
    row = await store.get_panel_requirements(conn, tender_id)
    if row is None:
        raise Rejected(ReadingReason.REQUIREMENTS_MISSING, details={"tender_id": tender_id})
    return PanelContext(
        tender, _requirements_json(row), tuple(await store.registered_org_ids(conn, tender_id))
    )


# ---------------------------------------------------------------------------- reading


async def _opened_entries(conn: asyncpg.Connection, tender: Tender) -> list[dict[str, Any]]:
    row = await store.get_record(conn, tender.id)
    if tender.state is not TenderState.OPENED or row is None or row["status"] != "opened":
        raise Rejected(ReadingReason.EVALUATION_NOT_OPEN, "the bids are not opened")
    record = json.loads(row["document"])
    return [e for e in record["entries"] if e["outcome"] == BidOutcome.OPENED.value]


async def list_opened_bids(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender_id: int
) -> list[dict[str, Any]]:
    """The opened bids with their price schedules (declared and confidential items) and the
    list of their documents, as the signed opening record holds them. Audited. The caller
    has checked that ``actor`` sits on the panel while the evaluation is open."""
    tender = await load_tender(conn, tender_id)
    entries = await _opened_entries(conn, tender)
    out = [
        {
            "bid_id": e["bid_id"],
            "bidder_org_id": e["bidder_org_id"],
            "bidder_name": e["bidder_name"],
            "envelope_sha256": e["envelope_sha256"],
            "amount_fen": e["amount_fen"],
            "duration_days": e["duration_days"],
            "declared_items": e["declared_items"],
            "confidential_items": e["confidential_items"],
            "documents": e["documents"],
        }
        for e in entries
    ]
    async with conn.transaction():
        await audit.append(
            conn, actor=actor, action="tender.evaluation_list", object_type="tender",
            object_id=tender_id, at=now, detail={"bids": [e["bid_id"] for e in out]},
        )  # fmt: skip
    return out


async def read_document(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    tender_id: int,
    bid_id: int,
    name: str,
    keys: EvaluationKeys,
) -> bytes:
    """One document of one opened bid, opened again in memory (never written). Audited. The
    caller has checked that ``actor`` sits on the panel while the evaluation is open."""
    tender = await load_tender(conn, tender_id)
    entries = await _opened_entries(conn, tender)
    entry = next((e for e in entries if e["bid_id"] == bid_id), None)
    if entry is None:
        raise NotFound(
            f"no opened bid {bid_id} in tender {tender_id}",
            f"项目 {tender_id} 中无已开启的投标 {bid_id}",
            code="bid_not_found",
        )
    doc = next((d for d in entry["documents"] if d["name"] == name), None)
    if doc is None:
        raise NotFound(
            f"bid {bid_id} has no document {name!r}",
            f"投标 {bid_id} 中无文件 {name!r}",
            code="document_not_found",
        )
    row = await store.get_evaluation_key(conn, tender_id)
    if row is None or row["wrapped_key"] is None or row["kek_id"] != keys.kek_id:
        raise Rejected(ReadingReason.EVALUATION_KEY_GONE, details={"tender_id": tender_id})
    assert tender.opening_public_key is not None
    bid = next(b for b in await store.frozen_bids(conn, tender_id) if b.id == bid_id)
    count = await store.blob_chunk_count(conn, bid.blob_id) or 0
    lock = asyncio.Lock()

    async def fetch(seq: int) -> bytes | None:
        async with lock:
            return await store.fetch_chunk(conn, bid.blob_id, seq)

    loop = asyncio.get_running_loop()
    reader = ThreadBlobReader(loop, fetch, count)
    tap = DocumentTap(name, doc["size_bytes"])
    private = keys.unwrap(tender_id, tender.opening_public_key, bytes(row["wrapped_key"]))

    def work() -> None:
        try:
            open_envelope(
                reader,
                tap,
                recipient_private=private,
                expected_tender_id=envelope_tender_id(tender_id),
                expected_bidder_id=envelope_bidder_id(bid.org_id),
                bidder_public=bid.signer_public_key,
            )
        finally:
            reader.drain()

    try:
        await loop.run_in_executor(None, work)
    except EnvelopeError as exc:
        raise Rejected(ReadingReason.DOCUMENT_UNREADABLE, exc.code.code) from None
    data = tap.data()
    if data is None or hashlib.sha256(data).hexdigest() != doc["sha256"]:
        raise Rejected(ReadingReason.DOCUMENT_UNREADABLE, "it differs from the opening record")
    async with conn.transaction():
        await audit.append(
            conn, actor=actor, action="tender.evaluation_read", object_type="bid", object_id=bid_id,
            at=now, detail={"tender_id": tender_id, "document": name, "sha256": doc["sha256"],
                            "size_bytes": doc["size_bytes"]},
        )  # fmt: skip
    return data


async def close_evaluation_access(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender_id: int
) -> bool:
    """The evaluation is over: wipe the wrapped key (idempotent; True when it wiped)."""
    async with conn.transaction():
        wiped = await store.wipe_evaluation_key(conn, tender_id, now)
        if wiped:
            await audit.append(
                conn, actor=actor, action="tender.evaluation_key_wipe", object_type="tender",
                object_id=tender_id, at=now,
            )  # fmt: skip
    return wiped


_HEAD = struct.Struct(">10sBH")
_NAME_LEN = struct.Struct(">H")
_SIZE = struct.Struct(">Q")


class DocumentTap:
    """A writer for ``open_envelope`` that walks the bid package (``bidding.package``) and
    keeps the bytes of the one entry named ``name`` (at most ``size_bytes``), nothing else.
    The caller keeps the result only if the envelope opened without error."""

    def __init__(self, name: str, size_bytes: int) -> None:
        self._want = name.encode("utf-8")
        self._max = size_bytes
        self._buf = bytearray()
        self._need = _HEAD.size
        self._state = "head"
        self._left = 0
        self._count = 0
        self._seen = 0
        self._name = b""
        self._kept: bytearray | None = None
        self._keeping = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        pos, end = 0, len(view)
        while pos < end:
            if self._state == "done":
                break
            if self._state == "data":
                take = min(self._left, end - pos)
                if self._keeping and self._kept is not None:
                    self._kept += view[pos : pos + take]
                pos += take
                self._left -= take
                if self._left == 0:
                    self._end_entry()
                continue
            take = min(self._need - len(self._buf), end - pos)
            self._buf += view[pos : pos + take]
            pos += take
            if len(self._buf) == self._need:
                piece = bytes(self._buf)
                self._buf.clear()
                self._on_piece(piece)
        return len(view)

    def _on_piece(self, piece: bytes) -> None:
        if self._state == "head":
            magic, _version, count = _HEAD.unpack(piece)
            if magic != MAGIC:
                raise ValueError("not a bid package")
            self._count = count
            self._state, self._need = "name_len", _NAME_LEN.size
        elif self._state == "name_len":
            (self._need,) = _NAME_LEN.unpack(piece)
            self._state = "name"
        elif self._state == "name":
            self._name = piece
            self._state, self._need = "size", _SIZE.size
        elif self._state == "size":
            (size,) = _SIZE.unpack(piece)
            self._keeping = self._name == self._want and size <= self._max
            if self._keeping:
                self._kept = bytearray()
            self._left = size
            self._state = "data"
            if size == 0:
                self._end_entry()

    def _end_entry(self) -> None:
        self._keeping = False
        self._seen += 1
        if self._seen == self._count:
            self._state = "done"
        else:
            self._state, self._need = "name_len", _NAME_LEN.size

    def data(self) -> bytes | None:
        return None if self._kept is None else bytes(self._kept)
