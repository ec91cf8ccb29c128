"""A deposit kept rather than returned: forfeiture, requested by one staff member and
approved or rejected by a second (D6, IR 35, IR 74), and conversion into an auction's price
(A7)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg

from trading.audit import AuditLog
from trading.context import Actor
from trading.notices import add_notice

from .. import store
from ..model import Deposit, ForfeitCause, Transfer
from ..reconcile import format_fen
from ..rules.decisions import (
    Effects,
    decide_approve_forfeit,
    decide_conversion,
    decide_reject_forfeit,
    decide_request_forfeit,
)
from .context import Ledger, bidder_id, load_terms
from .transfers import deposit_command

__all__ = [
    "approve_forfeit",
    "convert",
    "convert_deposit",
    "post_forfeit",
    "reject_forfeit",
    "request_forfeit",
    "reserve_forfeit",
    "void_forfeit",
]


# == the ledger's part ==========================================================================


async def reserve_forfeit(
    lg: Ledger,
    command_id: str,
    project_id: str,
    bidder_id: str,
    cause: ForfeitCause,
    note: str,
    requested_by: str,
    cause_at: datetime,
    at: datetime,
) -> Deposit:
    """D6: one staff member asks; the held cash is reserved by a pending FORFEIT transfer."""
    fingerprint = ("forfeit", project_id, bidder_id, cause, note, requested_by, cause_at)

    async def decide(deposit: Deposit) -> Effects:
        terms = await load_terms(lg, project_id)
        return decide_request_forfeit(
            command_id, deposit, terms, cause, note, requested_by, cause_at, at
        )

    return await deposit_command(lg, command_id, fingerprint, project_id, bidder_id, at, decide)


async def _reservation(lg: Ledger, deposit: Deposit) -> Transfer | None:
    """The pending transfer a forfeiture request reserved the cash with, if any."""
    request = deposit.forfeit
    if request is None or request.transfer_id is None:
        return None
    return await store.get_transfer(lg.conn, request.transfer_id)


async def _settle_forfeit(
    lg: Ledger,
    command_id: str,
    project_id: str,
    bidder_id: str,
    staff: str,
    at: datetime,
    *,
    kind: str,
    decide: Callable[..., Effects],
) -> Deposit:
    """The second staff member's answer to a forfeiture request: ``decide`` posts or voids the
    reservation; ``kind`` names the command in its idempotency fingerprint."""

    async def decide_it(deposit: Deposit) -> Effects:
        return decide(command_id, deposit, staff, pending=await _reservation(lg, deposit))

    fingerprint = (kind, project_id, bidder_id, staff)
    return await deposit_command(lg, command_id, fingerprint, project_id, bidder_id, at, decide_it)


async def post_forfeit(
    lg: Ledger, command_id: str, project_id: str, bidder_id: str, approved_by: str, at: datetime
) -> Deposit:
    """D6: a second staff member approves; the forfeiture is posted."""
    return await _settle_forfeit(
        lg, command_id, project_id, bidder_id, approved_by, at,
        kind="approve_forfeit", decide=decide_approve_forfeit,
    )


async def void_forfeit(
    lg: Ledger, command_id: str, project_id: str, bidder_id: str, rejected_by: str, at: datetime
) -> Deposit:
    """Not approved: the reservation is voided, the deposit confirmed again."""
    return await _settle_forfeit(
        lg, command_id, project_id, bidder_id, rejected_by, at,
        kind="reject_forfeit", decide=decide_reject_forfeit,
    )


async def convert_deposit(
    lg: Ledger, command_id: str, project_id: str, bidder_id: str, at: datetime
) -> Deposit:
    """A7: the auction winner's deposit becomes part of the price."""

    async def decide(deposit: Deposit) -> Effects:
        return decide_conversion(command_id, deposit, await load_terms(lg, project_id))

    fingerprint = ("convert", project_id, bidder_id)
    return await deposit_command(lg, command_id, fingerprint, project_id, bidder_id, at, decide)


# == the use cases at the edge ==================================================================


async def request_forfeit(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    project_ref: str,
    org_id: int,
    cause: ForfeitCause,
    note: str,
    cause_at: datetime,
    command_id: str,
) -> Deposit:
    """D6: a staff member asks for a forfeiture with its cause and a written reason; the cash is
    reserved until a second staff member approves or rejects it."""
    async with conn.transaction():
        d = await reserve_forfeit(
            Ledger(conn, now),
            command_id,
            project_ref,
            bidder_id(org_id),
            cause,
            note,
            actor.username,
            cause_at,
            now,
        )
        await audit.append(
            conn,
            actor=actor,
            action="ledger.deposit.forfeit_request",
            object_type="deposit",
            object_id=d.account_id,
            at=now,
            payload={"cause": cause.value, "note": note},
        )
        await add_notice(
            conn,
            now,
            org_id=org_id,
            object_type="project",
            object_id=project_ref,
            subject=f"拟没收保证金 Forfeiture proposed ({project_ref})",
            body=f"事由 cause: {cause.value}。{note}",
        )
    return d


async def _answer_forfeit(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    project_ref: str,
    org_id: int,
    command_id: str,
    approve: bool,
) -> Deposit:
    """The second staff member approves (posted, audited with the requester, the bidder told)
    or rejects (voided, audited) a forfeiture request, in one transaction."""
    settle = post_forfeit if approve else void_forfeit
    async with conn.transaction():
        d = await settle(
            Ledger(conn, now), command_id, project_ref, bidder_id(org_id), actor.username, now
        )
        await audit.append(
            conn,
            actor=actor,
            action="ledger.deposit.forfeit_approve" if approve else "ledger.deposit.forfeit_reject",
            object_type="deposit",
            object_id=d.account_id,
            at=now,
            payload={"requested_by": d.forfeit.requested_by if d.forfeit else None}
            if approve
            else None,
        )
        if approve:
            await add_notice(
                conn,
                now,
                org_id=org_id,
                object_type="project",
                object_id=project_ref,
                subject=f"保证金已没收 Deposit forfeited ({project_ref})",
                body=f"{format_fen(d.amount_fen)} 元 yuan; {d.forfeit.cause.value if d.forfeit else ''}",
            )
    return d


async def approve_forfeit(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    project_ref: str,
    org_id: int,
    command_id: str,
) -> Deposit:
    """D6: the second staff member's approval posts the forfeiture; the requester cannot approve."""
    return await _answer_forfeit(
        conn, audit, actor, now,
        project_ref=project_ref, org_id=org_id, command_id=command_id, approve=True,
    )


async def reject_forfeit(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    project_ref: str,
    org_id: int,
    command_id: str,
) -> Deposit:
    """D6: the second staff member rejects; the reservation is voided."""
    return await _answer_forfeit(
        conn, audit, actor, now,
        project_ref=project_ref, org_id=org_id, command_id=command_id, approve=False,
    )


async def convert(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    project_ref: str,
    org_id: int,
    command_id: str,
) -> Deposit:
    """A7: the auction winner's deposit becomes part of the price."""
    async with conn.transaction():
        d = await convert_deposit(
            Ledger(conn, now), command_id, project_ref, bidder_id(org_id), now
        )
        await audit.append(
            conn,
            actor=actor,
            action="ledger.deposit.convert",
            object_type="deposit",
            object_id=d.account_id,
            at=now,
            payload={"amount_fen": d.amount_fen},
        )
    return d
