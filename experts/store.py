"""Every SQL statement of the expert package (asyncpg, ``$n`` parameters).

Tables (experts/migrations): ``expert_specialty_codes``, ``expert_pool_version``,
``experts``, ``expert_draws``, ``expert_draw_members``, ``expert_messages``. Functions take
a connection and run inside the caller's transaction; none commits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from experts.model.pool import Expert, PastDraw
from experts.model.specialties import SpecialtyCode
from experts.pool import expert_from_row

# --- classification -------------------------------------------------------------------------


async def known_codes(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT code FROM expert_specialty_codes")
    return {r["code"] for r in rows}


async def list_codes(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT code, name_zh, name_en FROM expert_specialty_codes ORDER BY code"
    )
    return [dict(r) for r in rows]


async def upsert_codes(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, str]]) -> int:
    await conn.executemany(
        "INSERT INTO expert_specialty_codes (code, name_zh, name_en) VALUES ($1, $2, $3) "
        "ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en",
        rows,
    )
    return len(rows)


# --- pool version ---------------------------------------------------------------------------


async def bump_pool_version(conn: asyncpg.Connection, now: datetime) -> int:
    """Take the pool's row lock and move to the next version (first thing in a change)."""
    v: int = await conn.fetchval(
        "UPDATE expert_pool_version SET version = version + 1, changed_at = $1 RETURNING version",
        now,
    )
    return v


async def pool_version(conn: asyncpg.Connection, *, share: bool = False) -> int:
    """The current version; ``share`` holds writers off until this transaction ends."""
    sql = "SELECT version FROM expert_pool_version" + (" FOR SHARE" if share else "")
    v: int = await conn.fetchval(sql)
    return v


# --- experts --------------------------------------------------------------------------------

EXPERT_COLUMNS = (
    "expert_id",
    "name",
    "id_number_enc",
    "id_number_index",
    "id_number_masked",
    "employer_code",
    "employer_name",
    "specialties",
    "region",
    "title",
    "experience_years",
    "status",
    "suspended_until",
    "unavailable_dates",
    "relations",
    "sanctions",
    "phone",
    "email",
    "language",
    "user_id",
    "created_at",
    "updated_at",
)

_INSERT = (
    f"INSERT INTO experts ({', '.join(EXPERT_COLUMNS)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(EXPERT_COLUMNS) + 1))})"
)


async def insert_expert(conn: asyncpg.Connection, row: Sequence[Any]) -> None:
    """``row`` in ``EXPERT_COLUMNS`` order (relations and sanctions as Python lists)."""
    await conn.execute(_INSERT, *row)


async def copy_experts(conn: asyncpg.Connection, rows: Sequence[Sequence[Any]]) -> int:
    """Bulk insert with COPY (relations and sanctions as JSON text): asyncpg's binary COPY
    has no jsonb encoder, so the rows go through a temporary table with text columns."""
    plain = [c for c in EXPERT_COLUMNS if c not in ("relations", "sanctions")]
    await conn.execute(
        f"CREATE TEMP TABLE expert_import_rows ON COMMIT DROP AS SELECT {', '.join(plain)}, "
        "relations::text AS relations, sanctions::text AS sanctions FROM experts WITH NO DATA"
    )
    await conn.copy_records_to_table(
        "expert_import_rows", records=rows, columns=list(EXPERT_COLUMNS)
    )
    cols = ", ".join(EXPERT_COLUMNS)
    select = ", ".join(
        f"{c}::jsonb" if c in ("relations", "sanctions") else c for c in EXPERT_COLUMNS
    )
    await conn.execute(f"INSERT INTO experts ({cols}) SELECT {select} FROM expert_import_rows")
    await conn.execute("DROP TABLE expert_import_rows")
    return len(rows)


async def next_expert_numbers(conn: asyncpg.Connection, n: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT nextval('expert_number_seq') AS n FROM generate_series(1, $1)", n
    )
    return [r["n"] for r in rows]


async def existing_expert_ids(conn: asyncpg.Connection, ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT expert_id FROM experts WHERE expert_id = ANY($1::text[])", list(ids)
    )
    return {r["expert_id"] for r in rows}


async def existing_id_indexes(
    conn: asyncpg.Connection, indexes: Sequence[bytes]
) -> dict[bytes, str]:
    rows = await conn.fetch(
        "SELECT id_number_index, expert_id FROM experts WHERE id_number_index = ANY($1::bytea[])",
        list(indexes),
    )
    return {bytes(r["id_number_index"]): r["expert_id"] for r in rows}


_ENTRY_COLUMNS = (
    "expert_id, name, id_number_masked, employer_code, employer_name, specialties, region, title, "
    "experience_years, status, suspended_until, unavailable_dates, relations, sanctions, phone, email, "
    "language, user_id, version, created_at, updated_at"
)


async def get_expert(
    conn: asyncpg.Connection, expert_id: str, *, for_update: bool = False
) -> asyncpg.Record | None:
    sql = f"SELECT {_ENTRY_COLUMNS} FROM experts WHERE expert_id = $1" + (
        " FOR UPDATE" if for_update else ""
    )
    return await conn.fetchrow(sql, expert_id)


async def get_id_number_enc(conn: asyncpg.Connection, expert_id: str) -> bytes | None:
    v: bytes | None = await conn.fetchval(
        "SELECT id_number_enc FROM experts WHERE expert_id = $1", expert_id
    )
    return v


async def expert_of_user(conn: asyncpg.Connection, user_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_ENTRY_COLUMNS} FROM experts WHERE user_id = $1", user_id)


async def list_experts(
    conn: asyncpg.Connection,
    *,
    code_prefix: str | None,
    region: str | None,
    status: str | None,
    name: str | None,
    after: str | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Paged by expert id; ``code_prefix`` matches a code and its descendants (E2)."""
    return await conn.fetch(
        f"SELECT {_ENTRY_COLUMNS} FROM experts "
        "WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM unnest(specialties) c WHERE c LIKE $1 || '%')) "
        "AND ($2::text IS NULL OR region = $2) AND ($3::text IS NULL OR status = $3) "
        "AND ($4::text IS NULL OR strpos(name, $4) > 0) AND ($5::text IS NULL OR expert_id > $5) "
        "ORDER BY expert_id LIMIT $6",
        code_prefix,
        region,
        status,
        name,
        after,
        limit,
    )


async def update_expert(
    conn: asyncpg.Connection, expert_id: str, version: int, changes: dict[str, Any], now: datetime
) -> bool:
    """Apply ``changes`` (column → value) when the row is still at ``version``."""
    cols = list(changes)
    assert cols and all(c in EXPERT_COLUMNS for c in cols), cols
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(cols, start=3))
    status = await conn.execute(
        f"UPDATE experts SET {sets}, version = version + 1, updated_at = ${len(cols) + 3} "
        "WHERE expert_id = $1 AND version = $2",
        expert_id,
        version,
        *changes.values(),
        now,
    )
    return status != "UPDATE 0"


async def load_pool(conn: asyncpg.Connection) -> list[Expert]:
    """Every expert, as the pure core sees them (one query; JSON parsed only when present)."""
    rows = await conn.fetch(
        "SELECT expert_id, name, id_number_masked, employer_code, specialties, region, title, "
        "experience_years, status, suspended_until, unavailable_dates, relations::text AS rel, "
        "sanctions::text AS san FROM experts"
    )
    out: list[Expert] = []
    empty = "[]"
    codes: dict[str, SpecialtyCode] = {}
    for r in rows:
        rel = r["rel"]
        san = r["san"]
        out.append(
            expert_from_row(
                r["expert_id"],
                r["name"],
                r["id_number_masked"],
                r["employer_code"],
                r["specialties"],
                r["region"],
                r["title"],
                r["experience_years"],
                r["status"],
                r["suspended_until"],
                r["unavailable_dates"] or (),
                () if rel == empty else json.loads(rel),
                () if san == empty else json.loads(san),
                codes,
            )
        )
    return out


# --- organisations (read-only: the core owns them) ------------------------------------------


async def organisations(
    conn: asyncpg.Connection, org_ids: Sequence[int]
) -> dict[int, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT id, credit_code, region, name FROM organisations WHERE id = ANY($1::bigint[])",
        list(org_ids),
    )
    return {r["id"]: r for r in rows}


async def user_role(conn: asyncpg.Connection, user_id: int) -> str | None:
    v: str | None = await conn.fetchval("SELECT role FROM users WHERE id = $1", user_id)
    return v


# --- draws ----------------------------------------------------------------------------------

_DRAW_SUMMARY = (
    "id, request_id, tender_ref, tenderee_org_id, bidder_org_ids, supervising_org_ids, requested_by, "
    "status, pool_version, evaluation_date, evaluation_time, evaluation_place, evaluation_days, lines, "
    "exclusion_count, record_hash, beacon_source, beacon_round, beacon_value, result, short_lines, "
    "answer_within_s, committed_at, drawn_at, fixed_at, seed_revealed, version, tender_id"
)


async def next_draw_id(conn: asyncpg.Connection) -> int:
    v: int = await conn.fetchval("SELECT nextval('expert_draw_id_seq')")
    return v


async def insert_draw(conn: asyncpg.Connection, **f: Any) -> None:
    cols = list(f)
    await conn.execute(
        f"INSERT INTO expert_draws ({', '.join(cols)}) VALUES ({', '.join(f'${i}' for i in range(1, len(cols) + 1))})",
        *f.values(),
    )


async def get_draw(
    conn: asyncpg.Connection, draw_id: int, *, for_update: bool = False
) -> asyncpg.Record | None:
    sql = f"SELECT {_DRAW_SUMMARY} FROM expert_draws WHERE id = $1" + (
        " FOR UPDATE" if for_update else ""
    )
    return await conn.fetchrow(sql, draw_id)


async def latest_draw_for_tender(
    conn: asyncpg.Connection, tender_id: int
) -> asyncpg.Record | None:
    """The tender's panel: its latest draw (a short draw is followed by a new one)."""
    return await conn.fetchrow(
        f"SELECT {_DRAW_SUMMARY} FROM expert_draws WHERE tender_id = $1 ORDER BY id DESC LIMIT 1",
        tender_id,
    )


async def seated_rows(conn: asyncpg.Connection, draw_id: int) -> list[asyncpg.Record]:
    """Everyone who sat (confirmed, or replaced after being called), with the expert's name
    and login and their ``seat``: the rank of their call among every call of the draw."""
    return await conn.fetch(
        "SELECT s.seat, s.line, s.expert_id, s.status, e.name, e.user_id FROM ("
        "  SELECT row_number() OVER (ORDER BY id) AS seat, line, expert_id, status"
        "  FROM expert_draw_members WHERE draw_id = $1) s "
        "JOIN experts e ON e.expert_id = s.expert_id "
        "WHERE s.status IN ('confirmed', 'replaced') ORDER BY s.seat",
        draw_id,
    )


async def draw_secrets(conn: asyncpg.Connection, draw_id: int) -> asyncpg.Record | None:
    """The committed record (canonical JSON text) and the sealed seed."""
    return await conn.fetchrow(
        "SELECT record_json, seed_enc FROM expert_draws WHERE id = $1", draw_id
    )


async def list_draws(
    conn: asyncpg.Connection,
    *,
    tender_ref: str | None,
    status: str | None,
    before: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_DRAW_SUMMARY} FROM expert_draws WHERE ($1::text IS NULL OR tender_ref = $1) "
        "AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        tender_ref,
        status,
        before,
        limit,
    )


async def set_drawn(
    conn: asyncpg.Connection,
    draw_id: int,
    *,
    result: dict[str, Any],
    beacon_value: bytes | None,
    now: datetime,
) -> None:
    await conn.execute(
        "UPDATE expert_draws SET status = 'drawn', result = $2, beacon_value = $3, drawn_at = $4, "
        "version = version + 1 WHERE id = $1",
        draw_id,
        result,
        beacon_value,
        now,
    )


async def set_status(
    conn: asyncpg.Connection, draw_id: int, status: str, short_lines: list[dict[str, Any]]
) -> None:
    await conn.execute(
        "UPDATE expert_draws SET status = $2, short_lines = $3, version = version + 1 WHERE id = $1",
        draw_id,
        status,
        short_lines,
    )


async def set_fixed(conn: asyncpg.Connection, draw_id: int, seed: bytes, now: datetime) -> None:
    await conn.execute(
        "UPDATE expert_draws SET status = 'fixed', seed_revealed = $2, fixed_at = $3, version = version + 1 "
        "WHERE id = $1",
        draw_id,
        seed,
        now,
    )


async def published_record_hash(conn: asyncpg.Connection, draw_id: int) -> str | None:
    """The record hash written to the (append-only) audit log when the draw was committed."""
    v: str | None = await conn.fetchval(
        "SELECT detail->>'record_hash' FROM audit_log WHERE object_type = 'expert_draw' AND object_id = $1 "
        "AND action = 'experts.draw.commit' ORDER BY seq LIMIT 1",
        str(draw_id),
    )
    return v


async def history(conn: asyncpg.Connection, since: date) -> list[PastDraw]:
    """Seats held (summoned or confirmed) since ``since``: for the cooldown and the yearly cap."""
    rows = await conn.fetch(
        "SELECT expert_id, tenderee_code, drawn_on FROM expert_draw_members "
        "WHERE drawn_on >= $1 AND status IN ('summoned', 'confirmed')",
        since,
    )
    return [PastDraw(r["expert_id"], r["tenderee_code"], r["drawn_on"]) for r in rows]


# --- members --------------------------------------------------------------------------------

_MEMBER = (
    "id, draw_id, line, position, expert_id, status, called_at, answer_due_at, answered_at, replaced_at, "
    "reason, token_used_at, tenderee_code, drawn_on"
)


async def insert_member(
    conn: asyncpg.Connection,
    *,
    draw_id: int,
    line: int,
    position: int,
    expert_id: str,
    now: datetime,
    due_at: datetime,
    tenderee_code: str,
    drawn_on: date,
) -> int:
    mid: int = await conn.fetchval(
        "INSERT INTO expert_draw_members (draw_id, line, position, expert_id, status, called_at, answer_due_at, "
        "tenderee_code, drawn_on) VALUES ($1, $2, $3, $4, 'summoned', $5, $6, $7, $8) RETURNING id",
        draw_id,
        line,
        position,
        expert_id,
        now,
        due_at,
        tenderee_code,
        drawn_on,
    )
    return mid


async def members_of(conn: asyncpg.Connection, draw_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_MEMBER} FROM expert_draw_members WHERE draw_id = $1 ORDER BY line, position",
        draw_id,
    )


async def get_member(
    conn: asyncpg.Connection, member_id: int, *, for_update: bool = False
) -> asyncpg.Record | None:
    sql = f"SELECT {_MEMBER} FROM expert_draw_members WHERE id = $1" + (
        " FOR UPDATE" if for_update else ""
    )
    return await conn.fetchrow(sql, member_id)


async def member_at(
    conn: asyncpg.Connection, draw_id: int, line: int, position: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_MEMBER} FROM expert_draw_members WHERE draw_id = $1 AND line = $2 AND position = $3",
        draw_id,
        line,
        position,
    )


async def member_by_token(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_MEMBER} FROM expert_draw_members WHERE token_hash = $1", token_hash
    )


async def members_of_expert(
    conn: asyncpg.Connection, expert_id: str, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_MEMBER} FROM expert_draw_members WHERE expert_id = $1 ORDER BY id DESC LIMIT $2",
        expert_id,
        limit,
    )


async def set_member_status(
    conn: asyncpg.Connection,
    member_id: int,
    status: str,
    now: datetime,
    *,
    reason: str = "",
    token_used: bool = False,
) -> None:
    await conn.execute(
        "UPDATE expert_draw_members SET status = $2, reason = $4, "
        "answered_at = CASE WHEN $2 IN ('confirmed', 'declined', 'timed_out') THEN $3 ELSE answered_at END, "
        "replaced_at = CASE WHEN $2 = 'replaced' THEN $3 ELSE replaced_at END, "
        "token_used_at = CASE WHEN $5 THEN $3 ELSE token_used_at END WHERE id = $1",
        member_id,
        status,
        now,
        reason,
        token_used,
    )


async def set_member_token(conn: asyncpg.Connection, member_id: int, token_hash: bytes) -> None:
    await conn.execute(
        "UPDATE expert_draw_members SET token_hash = $2 WHERE id = $1", member_id, token_hash
    )


# --- outbox ---------------------------------------------------------------------------------


async def insert_message(
    conn: asyncpg.Connection, member_id: int, params: dict[str, Any], now: datetime
) -> int:
    mid: int = await conn.fetchval(
        "INSERT INTO expert_messages (member_id, kind, params, created_at) VALUES ($1, 'summons', $2, $3) RETURNING id",
        member_id,
        params,
        now,
    )
    return mid


async def claim_messages(
    conn: asyncpg.Connection,
    now: datetime,
    stale_before: datetime,
    retry_before: datetime,
    limit: int,
) -> list[asyncpg.Record]:
    """Pending messages (a failed one again once ``retry_before`` has passed its last try;
    ones stuck in ``sending`` since ``stale_before``), with the member's contact details,
    locked and marked ``sending``."""
    return await conn.fetch(
        "WITH c AS (SELECT id FROM expert_messages WHERE (status = 'pending' AND (claimed_at IS NULL "
        "  OR claimed_at < $4)) OR (status = 'sending' AND claimed_at < $2) "
        "  ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) "
        "UPDATE expert_messages m SET status = 'sending', claimed_at = $1, attempts = m.attempts + 1 "
        "FROM c, expert_draw_members d, experts e "
        "WHERE m.id = c.id AND d.id = m.member_id AND e.expert_id = d.expert_id "
        "RETURNING m.id, m.member_id, m.params, m.attempts, d.status AS member_status, d.draw_id, "
        "e.expert_id, e.name, e.phone, e.email, e.language, e.user_id",
        now,
        stale_before,
        limit,
        retry_before,
    )


async def finish_message(
    conn: asyncpg.Connection,
    message_id: int,
    *,
    status: str,
    now: datetime,
    channel: str | None,
    provider_ref: str | None,
    error: str | None,
) -> None:
    await conn.execute(
        "UPDATE expert_messages SET status = $2, sent_at = CASE WHEN $2 = 'sent' THEN $3 ELSE sent_at END, "
        "channel = $4, provider_ref = $5, last_error = $6 WHERE id = $1",
        message_id,
        status,
        now,
        channel,
        provider_ref,
        error,
    )


async def messages_of_draw(conn: asyncpg.Connection, draw_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT m.id, m.member_id, m.status, m.attempts, m.channel, m.sent_at, m.last_error "
        "FROM expert_messages m JOIN expert_draw_members d ON d.id = m.member_id WHERE d.draw_id = $1 ORDER BY m.id",
        draw_id,
    )
