"""Every SQL statement of public notices, document downloads and versions, questions,
clarifications and objections (asyncpg, ``$n`` parameters). Callers own the transaction.

Lock order, after ``bidding.store``'s (the tender row first): the audit log's lock (its
append, which ``publish_notice`` makes before the insert), then the notice counter row — held
from the notice's insert to the commit, which is what makes ``seq`` follow the commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bidding.public import NoticeKind, like_pattern

# ---------------------------------------------------------------------------- notices

NOTICE_LIST_COLUMNS = (
    "id, seq, kind, tender_id, category, region, title_zh, title_en, published_at"
)


@dataclass(frozen=True)
class NoticeFilter:
    kind: NoticeKind | None = None
    category: str | None = None
    region: str | None = None
    published_from: datetime | None = None
    published_to: datetime | None = None
    """Exclusive."""
    q: str | None = None
    tender_id: int | None = None


async def reserve_notice_id(conn: asyncpg.Connection) -> int:
    """A notice id, taken before the notice is written (the audit entry names it first)."""
    nid: int = await conn.fetchval(
        "SELECT nextval(pg_get_serial_sequence('public_notices', 'id'))"
    )
    return nid


async def insert_notice(
    conn: asyncpg.Connection,
    *,
    notice_id: int,
    kind: NoticeKind,
    tender_id: int | None,
    title_zh: str,
    title_en: str,
    data: dict[str, Any],
    published_by: int | None,
    now: datetime,
) -> int:
    """One notice (its id reserved by :func:`reserve_notice_id`), its ``seq`` the next of the
    counter (locked until the caller commits); category and region come from the tender
    (region: its creator's organisation)."""
    seq = await conn.fetchval(
        "UPDATE public_notice_counter SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq"
    )
    nid: int = await conn.fetchval(
        """INSERT INTO public_notices (id, seq, kind, tender_id, category, region, title_zh,
               title_en, data, published_at, published_by)
           OVERRIDING SYSTEM VALUE
           SELECT $9, $1, $2, $3, t.category, COALESCE(o.region, ''), $4, $5, $6, $7, $8
             FROM (SELECT $3::bigint AS id) k
             LEFT JOIN tenders t ON t.id = k.id
             LEFT JOIN users u ON u.id = t.created_by
             LEFT JOIN organisations o ON o.id = u.org_id
           RETURNING id""",
        seq,
        kind.value,
        tender_id,
        title_zh,
        title_en,
        data,
        now,
        published_by,
        notice_id,
    )
    assert nid == notice_id
    return nid


def _where(f: NoticeFilter, before_seq: int | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []

    def add(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.replace("?", f"${len(args)}"))

    if before_seq is not None:
        add("seq < ?", before_seq)
    if f.kind is not None:
        add("kind = ?", f.kind.value)
    if f.category is not None:
        add("category = ?", f.category)
    if f.region is not None:
        add("region = ?", f.region)
    if f.published_from is not None:
        add("published_at >= ?", f.published_from)
    if f.published_to is not None:
        add("published_at < ?", f.published_to)
    if f.tender_id is not None:
        add("tender_id = ?", f.tender_id)
    if f.q:
        add("search_text LIKE ?", like_pattern(f.q))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def page_sql(f: NoticeFilter, before_seq: int | None, limit: int) -> tuple[str, list[Any]]:
    """The page query: newest first, ``seq < before_seq``, ``limit`` rows (the benchmark runs
    this very statement as its baseline)."""
    where, args = _where(f, before_seq)
    args.append(limit)
    sql = (
        f"SELECT {NOTICE_LIST_COLUMNS} FROM public_notices{where} "
        f"ORDER BY seq DESC LIMIT ${len(args)}"
    )
    return sql, args


async def list_notices(
    conn: asyncpg.Connection, f: NoticeFilter, *, before_seq: int | None, limit: int
) -> list[asyncpg.Record]:
    sql, args = page_sql(f, before_seq, limit)
    return await conn.fetch(sql, *args)


async def get_notice(conn: asyncpg.Connection, notice_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM public_notices WHERE id = $1", notice_id)


# ---------------------------------------------------------------------------- downloads


async def current_document(
    conn: asyncpg.Connection, tender_id: int, document_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM tender_documents WHERE tender_id = $1 AND id = $2", tender_id, document_id
    )


async def insert_download(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    document_id: int,
    version: int,
    sha256: str,
    user_id: int | None,
    org_id: int | None,
    role: str,
    now: datetime,
) -> int:
    did: int = await conn.fetchval(
        """INSERT INTO tender_document_downloads (tender_id, document_id, version, sha256,
               user_id, org_id, role, downloaded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
        tender_id,
        document_id,
        version,
        sha256,
        user_id,
        org_id,
        role,
        now,
    )
    return did


async def downloads(conn: asyncpg.Connection, tender_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT d.*, u.username, o.name AS org_name, td.name AS document_name
             FROM tender_document_downloads d
             JOIN tender_documents td ON td.id = d.document_id
             LEFT JOIN users u ON u.id = d.user_id
             LEFT JOIN organisations o ON o.id = d.org_id
            WHERE d.tender_id = $1 ORDER BY d.id""",
        tender_id,
    )
    return [dict(r) for r in rows]


async def downloading_orgs(conn: asyncpg.Connection, tender_id: int) -> list[int]:
    """Every bidder organisation that has downloaded a document of the tender (W1)."""
    rows = await conn.fetch(
        "SELECT DISTINCT org_id FROM tender_document_downloads "
        "WHERE tender_id = $1 AND role = 'bidder' AND org_id IS NOT NULL ORDER BY org_id",
        tender_id,
    )
    return [r["org_id"] for r in rows]


# ---------------------------------------------------------------------------- versions


async def insert_staged_version(
    conn: asyncpg.Connection,
    *,
    document_id: int,
    tender_id: int,
    blob_id: int,
    sha256: str,
    size_bytes: int,
    uploaded_by: int | None,
    now: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO tender_document_versions (document_id, tender_id, version, blob_id,
               sha256, size_bytes, uploaded_by, uploaded_at)
           VALUES ($1, $2, NULL, $3, $4, $5, $6, $7) RETURNING *""",
        document_id,
        tender_id,
        blob_id,
        sha256,
        size_bytes,
        uploaded_by,
        now,
    )


async def staged_versions(
    conn: asyncpg.Connection, tender_id: int, version_ids: Sequence[int]
) -> list[asyncpg.Record]:
    """The named versions that are staged (unpublished) for this tender, locked."""
    return await conn.fetch(
        "SELECT * FROM tender_document_versions WHERE tender_id = $1 AND id = ANY($2::bigint[]) "
        "AND version IS NULL ORDER BY id FOR UPDATE",
        tender_id,
        list(version_ids),
    )


async def publish_version(
    conn: asyncpg.Connection, staged: asyncpg.Record, clarification_id: int
) -> asyncpg.Record:
    """Make a staged version the document's current one. The version it replaces is kept in
    ``tender_document_versions`` (recorded there the first time it is replaced)."""
    doc = await conn.fetchrow(
        "SELECT * FROM tender_documents WHERE id = $1 FOR UPDATE", staged["document_id"]
    )
    await conn.execute(
        """INSERT INTO tender_document_versions (document_id, tender_id, version, blob_id,
               sha256, size_bytes, uploaded_by, uploaded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
        doc["id"],
        doc["tender_id"],
        doc["version"],
        doc["blob_id"],
        doc["sha256"],
        doc["size_bytes"],
        doc["uploaded_by"],
        doc["uploaded_at"],
    )
    version = doc["version"] + 1
    await conn.execute(
        "UPDATE tender_document_versions SET version = $2, clarification_id = $3 WHERE id = $1",
        staged["id"],
        version,
        clarification_id,
    )
    return await conn.fetchrow(
        """UPDATE tender_documents SET blob_id = $2, sha256 = $3, size_bytes = $4, version = $5,
               uploaded_by = $6, uploaded_at = $7
            WHERE id = $1 RETURNING *""",
        doc["id"],
        staged["blob_id"],
        staged["sha256"],
        staged["size_bytes"],
        version,
        staged["uploaded_by"],
        staged["uploaded_at"],
    )


# ---------------------------------------------------------------------------- questions


async def insert_question(
    conn: asyncpg.Connection, *, tender_id: int, user_id: int, org_id: int, text: str, now: datetime
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO tender_questions (tender_id, asked_by, org_id, text, asked_at)
           VALUES ($1, $2, $3, $4, $5) RETURNING *""",
        tender_id,
        user_id,
        org_id,
        text,
        now,
    )


async def questions(conn: asyncpg.Connection, tender_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT q.*, u.username AS asked_by_username, o.name AS org_name, c.no AS clarification_no
             FROM tender_questions q
             JOIN users u ON u.id = q.asked_by
             JOIN organisations o ON o.id = q.org_id
             LEFT JOIN tender_clarifications c ON c.id = q.clarification_id
            WHERE q.tender_id = $1 ORDER BY q.id""",
        tender_id,
    )


async def questions_for_answer(
    conn: asyncpg.Connection, tender_id: int, ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM tender_questions WHERE tender_id = $1 AND id = ANY($2::bigint[]) "
        "ORDER BY id FOR UPDATE",
        tender_id,
        list(ids),
    )


async def answer_questions(
    conn: asyncpg.Connection, ids: Sequence[int], clarification_id: int
) -> None:
    await conn.execute(
        "UPDATE tender_questions SET clarification_id = $2 WHERE id = ANY($1::bigint[])",
        list(ids),
        clarification_id,
    )


# ---------------------------------------------------------------------------- clarifications


async def next_clarification_no(conn: asyncpg.Connection, tender_id: int) -> int:
    n: int = await conn.fetchval(
        "SELECT COALESCE(max(no), 0) + 1 FROM tender_clarifications WHERE tender_id = $1",
        tender_id,
    )
    return n


async def insert_clarification(conn: asyncpg.Connection, **values: Any) -> asyncpg.Record:
    names = list(values)
    placeholders = ", ".join(f"${i + 1}" for i in range(len(names)))
    return await conn.fetchrow(
        f"INSERT INTO tender_clarifications ({', '.join(names)}) VALUES ({placeholders}) "
        "RETURNING *",
        *values.values(),
    )


async def clarifications(conn: asyncpg.Connection, tender_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM tender_clarifications WHERE tender_id = $1 ORDER BY no", tender_id
    )


# ---------------------------------------------------------------------------- objections


async def insert_objection(
    conn: asyncpg.Connection,
    *,
    tender_id: int,
    user_id: int,
    org_id: int,
    text: str,
    now: datetime,
    answer_due_at: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO tender_document_objections (tender_id, raised_by, org_id, text, raised_at,
               answer_due_at)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
        tender_id,
        user_id,
        org_id,
        text,
        now,
        answer_due_at,
    )


async def get_objection(
    conn: asyncpg.Connection, objection_id: int, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM tender_document_objections WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        objection_id,
    )


async def answer_objection(
    conn: asyncpg.Connection, objection_id: int, *, answer: str, user_id: int | None, now: datetime
) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE tender_document_objections SET answer = $2, answered_by = $3, answered_at = $4
            WHERE id = $1 RETURNING *""",
        objection_id,
        answer,
        user_id,
        now,
    )


async def objections(conn: asyncpg.Connection, tender_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM tender_document_objections WHERE tender_id = $1 ORDER BY id", tender_id
    )
