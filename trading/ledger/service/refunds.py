"""Refunds: one deposit (D4 withdrawal before the deadline, D5 after the contract — with
interest, A7 the auction lost), every deposit of a project, and the alert when a refund or a
suspense return is still unpaid at the end of its due day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from trading.audit import AuditLog
from trading.calendar.events import EventContext, schedule
from trading.context import Actor
from trading.notices import add_notice
from trading.supervision import overdue

from .. import store
from ..errors import LedgerReason
from ..model import Deposit, DepositForm, DepositState, RefundCause, SuspenseState
from ..reconcile import format_fen
from ..rules.decisions import Effects, decide_refund
from ..rules.refunds import SUSPENSE_RETURN_DAYS
from .context import (
    REFUND_DUE,
    Ledger,
    bidder_id,
    end_of_china_day,
    get_terms,
    load_terms,
)
from .transfers import deposit_command

__all__ = ["on_refund_due", "refund", "refund_all", "request_refund"]


async def refund(
    lg: Ledger,
    command_id: str,
    project_id: str,
    bidder_id: str,
    cause: RefundCause,
    cause_at: datetime,
    at: datetime,
) -> Deposit:
    """The ledger's part of a refund (``decide_refund``): cash to refunds payable and a
    pending payout, or a guarantee released. The same command again answers the first
    answer; a second refund of the deposit is refused (deposit_already_resolved)."""
    fingerprint = ("refund", project_id, bidder_id, cause, cause_at)

    async def decide(deposit: Deposit) -> Effects:
        terms = await load_terms(lg, project_id)
        return decide_refund(
            command_id, deposit, terms, cause, cause_at, at, await lg.work_calendar()
        )

    return await deposit_command(lg, command_id, fingerprint, project_id, bidder_id, at, decide)


async def request_refund(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    project_ref: str,
    org_id: int,
    cause: RefundCause,
    cause_at: datetime,
    command_id: str,
) -> Deposit:
    """Refund one confirmed deposit (D4 withdrawal before the deadline, D5 contract signed —
    with interest, A7 auction lost). A repeat of the same command answers the first answer;
    a second refund of the deposit is refused (deposit_already_resolved)."""
    async with conn.transaction():
        replayed = (
            await store.get_command(conn, command_id) is not None
            if isinstance(command_id, str)
            else False
        )
        d = await refund(
            Ledger(conn, now), command_id, project_ref, bidder_id(org_id), cause, cause_at, now
        )
        if not replayed:
            await _after_refund(conn, audit, actor, now, d)
    return d


async def _after_refund(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, d: Deposit
) -> None:
    await audit.append(
        conn,
        actor=actor,
        action="ledger.deposit.refund",
        object_type="deposit",
        object_id=d.account_id,
        at=now,
        payload={
            "cause": d.refund_cause.value if d.refund_cause else None,
            "payout_id": d.payout_id,
        },
        detail={
            "interest_fen": d.interest_fen,
            "due_on": d.refund_due_on.isoformat() if d.refund_due_on else None,
        },
    )
    if d.state is DepositState.REFUND_PENDING and d.refund_due_on is not None:
        await schedule(
            conn,
            kind=REFUND_DUE,
            ref=d.account_id,
            due_at=end_of_china_day(d.refund_due_on),
            now=now,
            payload={"project_ref": d.project_id, "org_id": int(d.bidder_id)},
        )
    what = (
        "保函已退还 guarantee released"
        if d.form is DepositForm.GUARANTEE
        else (
            f"{format_fen(d.amount_fen + d.interest_fen)} 元（含利息 {format_fen(d.interest_fen)} 元）将于 "
            f"{d.refund_due_on} 前退回 {format_fen(d.amount_fen + d.interest_fen)} yuan "
            f"(interest {format_fen(d.interest_fen)}) to be refunded by {d.refund_due_on}"
        )
    )
    await add_notice(
        conn,
        now,
        org_id=int(d.bidder_id),
        object_type="project",
        object_id=d.project_id,
        subject=f"保证金退还 Deposit refund ({d.project_id})",
        body=what,
    )


async def refund_all(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    project_ref: str,
    cause: RefundCause,
    cause_at: datetime,
    command_id: str,
    exclude_org_ids: Sequence[int] = (),
) -> dict[str, list[Deposit]]:
    """Refund every confirmed deposit of the project except ``exclude_org_ids`` (the
    auction's winner): A7 losers within 5 working days; D5 everyone after the contract.
    Returns the deposits refunded and those left as they were (not confirmed, or excluded)."""
    if not isinstance(command_id, str) or len(command_id) > 80:
        raise LedgerReason.ID_INVALID.reject("command_id", field="command_id")
    excluded = {bidder_id(o) for o in exclude_org_ids}
    refunded: list[Deposit] = []
    left: list[Deposit] = []
    async with conn.transaction():
        await get_terms(conn, project_ref)
        for d in await store.lock_project_deposits(conn, project_ref):
            sub_command = f"{command_id}/{d.bidder_no}"
            already = await store.get_command(conn, sub_command) is not None
            if d.bidder_id in excluded or (d.state is not DepositState.CONFIRMED and not already):
                left.append(d)
                continue
            new = await refund(
                Ledger(conn, now), sub_command, project_ref, d.bidder_id, cause, cause_at, now
            )
            if not already:
                await _after_refund(conn, audit, actor, now, new)
            refunded.append(new)
    return {"refunded": refunded, "left": left}


async def on_refund_due(ctx: EventContext) -> None:
    """``ledger.refund_due``: a refund (or a suspense return) still unpaid at the end of its
    due day raises a supervision alert (once)."""
    ref = ctx.event.ref
    conn = ctx.conn
    if ref.startswith("suspense:"):
        bank_ref = ref.removeprefix("suspense:")
        item = await store.get_suspense(conn, bank_ref)
        if item is None or item.state in (SuspenseState.RETURNED, SuspenseState.REVERSED):
            return
        await overdue(
            conn,
            ctx.now,
            kind="ledger.refund_overdue",
            ref=ref,
            object_type="suspense",
            object_id=bank_ref,
            due_at=ctx.event.due_at,
            message_en=f"Money in suspense ({bank_ref}, {format_fen(item.amount_fen)} yuan) was not returned in "
            f"{SUSPENSE_RETURN_DAYS} days",
            message_zh=f"挂账款项（{bank_ref}，{format_fen(item.amount_fen)} 元）未在 {SUSPENSE_RETURN_DAYS} 日内退回",
            detail={"state": item.state.value, "amount_fen": item.amount_fen},
        )
        return
    project_ref = ctx.event.payload.get("project_ref")
    org_id = ctx.event.payload.get("org_id")
    if not isinstance(project_ref, str) or not isinstance(org_id, int):
        return
    d = await store.get_deposit(conn, project_ref, bidder_id(org_id))
    if d is None or d.state is not DepositState.REFUND_PENDING:
        return
    await overdue(
        conn,
        ctx.now,
        kind="ledger.refund_overdue",
        ref=f"deposit:{project_ref}:{org_id}",
        object_id=d.account_id,
        due_at=ctx.event.due_at,
        message_en=f"The deposit refund of organisation {org_id} in {project_ref} was due on {d.refund_due_on} and is "
        "not paid",
        message_zh=f"{project_ref} 中机构 {org_id} 的保证金应于 {d.refund_due_on} 前退还，至今未退",
        detail={
            "project_ref": project_ref,
            "org_id": org_id,
            "due_on": str(d.refund_due_on),
            "payout_id": d.payout_id,
            "cause": d.refund_cause.value if d.refund_cause else None,
        },
    )
