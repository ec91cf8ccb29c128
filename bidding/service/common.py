"""What the use cases of sealed tendering share: loading a tender, signing documents,
recording refusals in the audit log, notifying registered bidders."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from bidding import store
from bidding.errors import BidRejected, not_found
from bidding.model import Tender
from bidding.records import Signed, sign_document
from crypto.signing import canonical_json
from trading.audit import AuditLog
from trading.context import Actor
from trading.notices import add_notice
from trading.supervision import raise_alert

SCHEDULER = Actor.system("scheduler")


async def load_tender(
    conn: asyncpg.Connection, tender_id: int, *, lock: str | None = None
) -> Tender:
    tender = await store.get_tender(conn, tender_id, lock=lock)
    if tender is None:
        raise not_found("tender", "招标项目", tender_id, "tender_not_found")
    return tender


def sign(audit: AuditLog, document: Mapping[str, Any]) -> Signed:
    """The server's signature over a document (receipts, tree heads, records)."""
    return sign_document(document, audit.sign, audit.key_id)


def canonical_text(document: Mapping[str, Any]) -> str:
    return canonical_json(document).decode("utf-8")


def signed_from_row(document: str, signature: bytes, key_id: str) -> Signed:
    return Signed(json.loads(document), bytes(signature), key_id)


async def record_refusal(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    action: str,
    tender_id: int,
    err: BidRejected,
    outcome: str = "denied",
    alert: bool = False,
) -> None:
    """Put a refused attempt in the audit log (RULES T12), in its own transaction, since the
    use case's transaction rolled back. 401/403 are recorded by the web edge already."""
    async with conn.transaction():
        await audit.append(
            conn,
            actor=actor,
            action=action,
            object_type="tender",
            object_id=tender_id,
            at=now,
            outcome=outcome,
            detail={"code": err.code},
        )
        if alert:
            await raise_alert(
                conn,
                now,
                kind="bidding." + err.code,
                severity="warning",
                object_type="tender",
                object_id=str(tender_id),
                message_en=f"{actor.username}: {err.message_en}",
                message_zh=f"{actor.username}：{err.message_zh}",
                detail={"user_id": actor.user_id, "code": err.code},
            )


@asynccontextmanager
async def refusals_audited(
    db: asyncpg.Connection | asyncpg.Pool,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    action: str,
    tender_id: int,
    alert_codes: frozenset[str] = frozenset(),
) -> AsyncIterator[None]:
    """Run a use case; if a rule refuses it (other than 401/403), record the refusal — on
    ``db`` itself, or on a connection acquired for it when ``db`` is a pool."""
    try:
        yield
    except BidRejected as err:
        if err.status_hint not in (401, 403):
            failed = err.code in alert_codes
            async with _connection(db) as conn:
                await record_refusal(
                    conn,
                    audit,
                    actor,
                    now,
                    action=action,
                    tender_id=tender_id,
                    err=err,
                    outcome="failed" if failed else "denied",
                    alert=failed,
                )
        raise


@asynccontextmanager
async def _connection(db: asyncpg.Connection | asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


async def notify_registered(
    conn: asyncpg.Connection, tender: Tender, now: datetime, *, subject: str, body: str
) -> int:
    """A notice to every organisation registered for the tender; returns how many."""
    registrations = await store.list_registrations(conn, tender.id)
    for reg in registrations:
        await add_notice(
            conn,
            now,
            subject=subject,
            body=body,
            org_id=reg.org_id,
            object_type="tender",
            object_id=str(tender.id),
        )
    return len(registrations)
