"""Quota sessions' use cases (额度拍卖, RULES A9): create, apply (报名), admit through the
ledger in chunks, record the close, settle the deposits in chunks, export the signed log.

- **Create.** Staff give the quota, warning price, floor, ceiling, step, window, revisions
  and the two halves' lengths. The session's deposit terms are registered in the ledger
  (project ``quota_session:<id>``: cash only, due before the start), and three timed events
  are scheduled: ``quota.admit`` at the start (the last admission sweep), ``quota.close`` at
  the end (a backstop to the engine's own timer).
- **Apply.** A bidder applies: its row in ``quota_bidders`` and its deposit's sub-account in
  the ledger. It is admitted — a paddle (竞买号, eight random digits) — only once the ledger
  says its deposit is confirmed (the bank's notification), never by a staff flag: applying
  again after paying admits at once, and the ``quota.admit`` sweep admits whoever paid.
- **Admission sweep** (``admit_chunk``): ``admit_chunk_size`` applicants at a time in org id
  order, one transaction each; the timed event runs one chunk and schedules the next.
- **Close.** The engine logs ``quota_closed`` at the end; ``record_close`` writes the result
  (winners with price and time, the cutoff 最低成交价, the average price), an audit entry, and
  schedules ``quota.settle``.
- **Settlement** (``settle_chunk``): ``settle_chunk_size`` bidders per transaction in org id
  order from the session's ``settle_cursor``: a winner's confirmed deposit converts into the
  price (A7), a loser's is refunded (cause ``lost``, within 5 working days), anything else
  is left as it is and said so. The cursor moves in the same transaction as the chunk's
  ledger writes, and every ledger command has its own id
  (``quota<id>-convert/<org>``, ``quota<id>-refund/<org>``): a crash at any chunk loses and
  doubles nothing; the next run starts at the cursor.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import asyncpg

from auction import quota_store as store
from auction.quota import QuotaBook, QuotaConfig, quota_config_from_dict, quota_config_to_dict
from auction.verify import QUOTA_LOG_FORMAT, log_digest, quota_result, signed_export
from crypto.signing import canonical_json
from trading import calendar
from trading.audit import AuditLog
from trading.context import Actor
from trading.errors import Conflict, NotFound
from trading.ledger import service as ledger
from trading.ledger import store as ledger_store
from trading.ledger.model import DepositState, ProjectKind, RefundCause

__all__ = [
    "ADMIT_EVENT",
    "CLOSE_EVENT",
    "SETTLE_EVENT",
    "admit_chunk",
    "apply",
    "create_session",
    "deposit_ref",
    "export_log",
    "get_session",
    "record_close",
    "settle_chunk",
]

ADMIT_EVENT = "quota.admit"
CLOSE_EVENT = "quota.close"
SETTLE_EVENT = "quota.settle"
ADMIT_CHUNK = 500
SETTLE_CHUNK = 500
PADDLE_DIGITS = 8


def deposit_ref(session_id: int) -> str:
    return f"quota_session:{session_id}"


def _not_found(session_id: int) -> NotFound:
    return NotFound(
        f"quota session {session_id} not found",
        f"额度拍卖场次 {session_id} 不存在",
        code="quota_session_not_found",
    )


def draw_paddle() -> str:
    return f"{secrets.randbelow(10**PADDLE_DIGITS):0{PADDLE_DIGITS}d}"


# -- create -------------------------------------------------------------------------------------


async def create_session(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    title: str,
    quota: int,
    warning_price_fen: int,
    starts_at: datetime,
    deposit_fen: int,
    first_half_s: int = 1800,
    second_half_s: int = 1800,
    step_fen: int = 10_000,
    window_fen: int = 30_000,
    max_revisions: int = 2,
    min_price_fen: int = 10_000,
    max_price_fen: int | None = None,
) -> dict[str, Any]:
    """A new session (see the module docstring). ``ValidationFailed`` lists every problem."""
    options: dict[str, Any] = {
        "quota": quota,
        "warning_price_fen": warning_price_fen,
        "first_half_s": first_half_s,
        "second_half_s": second_half_s,
        "step_fen": step_fen,
        "window_fen": window_fen,
        "max_revisions": max_revisions,
        "min_price_fen": min_price_fen,
        "max_price_fen": max_price_fen,
    }
    QuotaConfig(session_id="new", starts_at=starts_at, **options)  # every problem, before writing
    if starts_at <= now:
        raise Conflict(
            "the session must start in the future", "场次开始时间须晚于当前时间", code="quota_starts_in_past"
        )
    async with conn.transaction():
        session_id = await store.insert_session(
            conn, title=title, config={}, deposit_fen=deposit_fen, created_by=actor.user_id, now=now
        )
        config = QuotaConfig(session_id=str(session_id), starts_at=starts_at, **options)
        await store.set_config(conn, session_id, quota_config_to_dict(config))
        if deposit_fen > 0:
            await ledger.register_project(
                conn,
                audit,
                actor,
                now,
                project_ref=deposit_ref(session_id),
                kind=ProjectKind.AUCTION,
                required_fen=deposit_fen,
                deadline_at=starts_at,
                accept_guarantees=False,
            )
        await calendar.schedule(conn, kind=ADMIT_EVENT, ref=session_id, due_at=starts_at, now=now)
        await calendar.schedule(conn, kind=CLOSE_EVENT, ref=session_id, due_at=config.ends_at, now=now)
        await audit.append(
            conn,
            actor=actor,
            action="auction.quota.create",
            object_type="quota_session",
            object_id=session_id,
            at=now,
            payload={"title": title, "config": quota_config_to_dict(config), "deposit_fen": deposit_fen},
        )
    return await get_session(conn, session_id)


async def get_session(conn: asyncpg.Connection, session_id: int) -> dict[str, Any]:
    row = await store.get_session(conn, session_id)
    if row is None:
        raise _not_found(session_id)
    config = row["config"]
    return {
        "id": row["id"],
        "title": row["title"],
        "config": config,
        "deposit_fen": row["deposit_fen"],
        "deposit_ref": deposit_ref(row["id"]) if row["deposit_fen"] > 0 else None,
        "created_at": row["created_at"],
        "closed_at": row["closed_at"],
        "settled_at": row["settled_at"],
        "counts": await store.counts(conn, session_id),
    }


async def list_sessions(conn: asyncpg.Connection, *, limit: int = 100) -> list[dict[str, Any]]:
    return [
        {
            "id": r["id"],
            "title": r["title"],
            "config": r["config"],
            "deposit_fen": r["deposit_fen"],
            "closed_at": r["closed_at"],
            "settled_at": r["settled_at"],
        }
        for r in await store.list_sessions(conn, limit=limit)
    ]


# -- apply and admit ----------------------------------------------------------------------------


async def _confirmed(conn: asyncpg.Connection, session_id: int, org_id: int) -> bool:
    d = await ledger_store.get_deposit(conn, deposit_ref(session_id), ledger.bidder_id(org_id))
    return d is not None and d.state is DepositState.CONFIRMED


async def _give_paddles(
    conn: asyncpg.Connection, session_id: int, org_ids: list[int], now: datetime
) -> list[tuple[int, str]]:
    given: list[tuple[int, str]] = []
    wanted = list(org_ids)
    for _ in range(20):  # a collision of eight random digits is rare; draw again
        if not wanted:
            break
        done = await store.set_paddles(conn, session_id, [(o, draw_paddle()) for o in wanted], now)
        given.extend(done)
        got = {o for o, _ in done}
        wanted = [o for o in wanted if o not in got]
    return given


async def apply(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    session_id: int,
    org_id: int,
) -> dict[str, Any]:
    """报名: the applicant's row and its deposit sub-account; admitted with a paddle once the
    ledger confirms the deposit (idempotent: apply again after paying)."""
    async with conn.transaction():
        row = await store.get_session(conn, session_id)
        if row is None:
            raise _not_found(session_id)
        if row["closed_at"] is not None or now >= quota_config_from_dict(dict(row["config"])).ends_at:
            raise Conflict("the session has ended", "场次已结束", code="quota_session_ended")
        applicant = await store.upsert_applicant(conn, session_id, org_id, now)
        deposit = None
        if row["deposit_fen"] > 0:
            existing = await ledger_store.get_deposit(conn, deposit_ref(session_id), ledger.bidder_id(org_id))
            d = existing or await ledger.open_deposit(conn, audit, actor, now, deposit_ref(session_id), org_id)
            deposit = {"sub_account": d.sub_account, "state": d.state.value, "amount_fen": row["deposit_fen"]}
        paddle = applicant["paddle"]
        if paddle is None and (row["deposit_fen"] == 0 or await _confirmed(conn, session_id, org_id)):
            given = await _give_paddles(conn, session_id, [org_id], now)
            paddle = given[0][1] if given else None
            if paddle is not None:
                await audit.append(
                    conn,
                    actor=actor,
                    action="auction.quota.admit",
                    object_type="quota_session",
                    object_id=session_id,
                    at=now,
                    payload={"org_id": org_id},
                )
    return {"session_id": session_id, "org_id": org_id, "paddle": paddle, "deposit": deposit}


async def admit_chunk(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    session_id: int,
    after_org_id: int = 0,
    limit: int | None = None,
) -> tuple[list[tuple[int, str]], int | None]:
    """Admit the next ``limit`` waiting applicants whose deposit the ledger confirms: the
    (org id, paddle) admitted, and the cursor to go on from (None: done)."""
    limit = limit or ADMIT_CHUNK
    async with conn.transaction():
        waiting = await store.waiting_applicants(conn, session_id, after_org_id=after_org_id, limit=limit)
        confirmed = [o for o in waiting if await _confirmed(conn, session_id, o)]
        given = await _give_paddles(conn, session_id, confirmed, now)
        if given:
            await audit.append(
                conn,
                actor=actor,
                action="auction.quota.admit",
                object_type="quota_session",
                object_id=session_id,
                at=now,
                payload={"org_ids": [o for o, _ in given]},
            )
    return given, (waiting[-1] if len(waiting) == limit else None)


async def paddle_of(conn: asyncpg.Connection, session_id: int, org_id: int) -> str | None:
    return await store.paddle_of(conn, session_id, org_id)


# -- the close -----------------------------------------------------------------------------------


async def record_close(
    conn: asyncpg.Connection, audit: AuditLog, now: datetime, *, session_id: int, book: QuotaBook
) -> bool:
    """Write the result of a closed session and schedule its settlement (once: False if it
    was recorded already)."""
    assert book.closed is not None
    async with conn.transaction():
        row = await store.get_session(conn, session_id, lock=True)
        if row is None or row["result"] is not None:
            return False
        events = await store.events(conn, session_id)
        result = {
            **quota_result(book),
            "session_id": session_id,
            "title": row["title"],
            "log_seq": events[-1]["seq"] if events else 0,
            "log_sha256": log_digest(events),
        }
        await store.record_result(conn, session_id, result, book.closed.at)
        await audit.append(
            conn,
            actor=Actor.system("auction"),
            action="auction.quota.closed",
            object_type="quota_session",
            object_id=session_id,
            at=now,
            payload={k: result[k] for k in ("cutoff_fen", "average_fen", "winner_count", "bid_count", "log_sha256")},
        )
        await calendar.schedule(conn, kind=SETTLE_EVENT, ref=session_id, due_at=now, now=now)
    return True


async def signed_result(conn: asyncpg.Connection, audit: AuditLog, session_id: int) -> dict[str, Any]:
    row = await store.get_session(conn, session_id)
    if row is None:
        raise _not_found(session_id)
    if row["result"] is None:
        raise Conflict("the session has not ended", "场次尚未结束", code="quota_session_not_ended")
    result = row["result"]
    return {
        "result": result,
        "signature": audit.sign(canonical_json(result)).hex(),
        "key_id": audit.key_id,
        "public_key": audit.public_key.hex(),
        "signed": "Ed25519 over the canonical JSON (sorted keys, no spaces, UTF-8) of 'result'",
    }


async def export_log(conn: asyncpg.Connection, audit: AuditLog, now: datetime, *, session_id: int) -> dict[str, Any]:
    """The session's whole log with its configuration and result, signed, once it has ended:
    what ``sunlit verify-auction`` replays (``auction.verify.verify_quota``)."""
    row = await store.get_session(conn, session_id)
    if row is None:
        raise _not_found(session_id)
    if row["result"] is None:
        raise Conflict("the session has not ended", "场次尚未结束", code="quota_session_not_ended")
    events = await store.events(conn, session_id)
    document = {
        "type": QUOTA_LOG_FORMAT,
        "session_id": session_id,
        "title": row["title"],
        "config": row["config"],
        "events": events,
        "log_seq": events[-1]["seq"] if events else 0,
        "log_sha256": log_digest(events),
        "result": row["result"],
        "exported_at": now.isoformat(),
    }
    return signed_export(document, audit)


# -- settlement ----------------------------------------------------------------------------------


async def settle_chunk(
    conn: asyncpg.Connection,
    audit: AuditLog,
    now: datetime,
    *,
    session_id: int,
    limit: int | None = None,
) -> tuple[list[tuple[int, str]], bool]:
    """Settle the next ``limit`` bidders' deposits from the session's cursor, in one
    transaction: (org id, settlement) of each, and whether the settlement is complete."""
    actor = Actor.system("auction")
    limit = limit or SETTLE_CHUNK
    async with conn.transaction():
        row = await store.get_session(conn, session_id, lock=True)
        if row is None:
            raise _not_found(session_id)
        if row["result"] is None:
            raise Conflict("the session has not ended", "场次尚未结束", code="quota_session_not_ended")
        if row["settled_at"] is not None:
            return [], True
        winners = {w["paddle"] for w in row["result"]["winners"]}
        ref = deposit_ref(session_id)
        in_ledger = row["deposit_fen"] > 0
        chunk = await store.settle_chunk(conn, session_id, after_org_id=row["settle_cursor"], limit=limit)
        outcomes: list[tuple[int, str]] = []
        for bidder in chunk:
            org_id = bidder["org_id"]
            won = bidder["paddle"] is not None and bidder["paddle"] in winners
            d = await ledger_store.get_deposit(conn, ref, ledger.bidder_id(org_id)) if in_ledger else None
            if d is None or d.state is DepositState.AWAITING:
                outcome = "unpaid" if in_ledger else "held"
            elif d.state is not DepositState.CONFIRMED:
                outcome = {DepositState.CONVERTED: "converted", DepositState.REFUND_PENDING: "refund_due"}.get(
                    d.state, "held"
                )
            elif won:
                await ledger.convert(
                    conn, audit, actor, now, project_ref=ref, org_id=org_id,
                    command_id=f"quota{session_id}-convert/{org_id}",
                )
                outcome = "converted"
            else:
                await ledger.request_refund(
                    conn, audit, actor, now, project_ref=ref, org_id=org_id,
                    cause=RefundCause.LOST, cause_at=row["closed_at"],
                    command_id=f"quota{session_id}-refund/{org_id}",
                )
                outcome = "refund_due"
            outcomes.append((org_id, outcome))
        await store.mark_settled(conn, session_id, outcomes)
        done = len(chunk) < limit
        cursor = chunk[-1]["org_id"] if chunk else row["settle_cursor"]
        await store.advance_cursor(conn, session_id, cursor, now if done else None)
        if done:
            await audit.append(
                conn,
                actor=actor,
                action="auction.quota.deposits_settled",
                object_type="quota_session",
                object_id=session_id,
                at=now,
                payload=await store.counts(conn, session_id),
            )
        else:
            await calendar.schedule(conn, kind=SETTLE_EVENT, ref=session_id, due_at=now, now=now)
    return outcomes, done
