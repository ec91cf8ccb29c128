"""The deposit ledger's use cases, as the web layer, the CLI, ``bidding`` and ``auction`` call
them: ``(conn, audit, actor, now, ...)``, one transaction each — the ledger's writes, the audit
entry, notices, supervision alerts and timed events commit together or not at all.

Names at this edge: a project is its reference (``"tender:12"``, ``"lot:7"``), a bidder its
organisation id; inside the ledger the bidder id is ``str(org_id)``. Money is integer fen.

=============================  ==============================================================
use case                       what else happens
=============================  ==============================================================
register_project               audit
amend_project_dates            only before the current deadline (T4)
open_deposit                   a notice with the sub-account number to the bidder
receive_notification           confirm → notice, collusion check (D3); suspense → notice,
                               a return-due event; reversal → notice and an alert
confirm_guarantee              D7
request_refund / refund_all    a ``ledger.refund_due`` event at the end of the due day
request_/approve_/reject_forfeit   D6 (two staff members), notices
convert                        A7
=============================  ==============================================================

The bank batch and the bank's answers are in ``settlement``; the statement in ``reconciling``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from trading.audit import AuditLog
from trading.calendar.events import EventContext, schedule
from trading.clock import iso_ms
from trading.context import Actor, Role
from trading.errors import NotFound, ValidationFailed
from trading.notices import add_notice
from trading.supervision import overdue, raise_alert

from . import store
from .errors import LedgerReason
from .memory import SUSPENSE_RETURN_DAYS
from .model import (
    CHINA_TZ,
    BankNotification,
    Deposit,
    DepositForm,
    DepositPolicy,
    DepositState,
    DepositTerms,
    ForfeitCause,
    Guarantee,
    NotificationOutcome,
    NotificationVerdict,
    ProjectKind,
    RefundCause,
    SuspenseReason,
    SuspenseState,
    TrialBalance,
)
from .pgledger import PgLedger
from .reconcile import (
    format_fen,
)
from .rules.payers import detect_collusion, normalize_bank_account, seal_payer
from .rules.terms import check_deposit_terms

__all__ = [
    "REFUND_DUE",
    "SEALED",
    "UNSEAL",
    "amend_project_dates",
    "approve_forfeit",
    "confirm_guarantee",
    "convert",
    "get_deposit",
    "end_of_china_day",
    "get_terms",
    "on_refund_due",
    "on_unseal",
    "open_deposit",
    "receive_notification",
    "refund_all",
    "register_bank_key",
    "register_project",
    "reject_forfeit",
    "request_forfeit",
    "request_refund",
    "set_calendar_day",
    "trial_balance",
    "visible_deposit",
]

REFUND_DUE = "ledger.refund_due"
"""Timed event: the end of the day a refund (or a suspense return) is due (D4, D5, A7)."""
UNSEAL = "ledger.unseal"
"""Timed event: a tender's opening, when payers become visible and collusion can be named."""
SEALED = "sealed"

_REF = re.compile(r"^[a-z_]+:[0-9]{1,18}$")


def ledger(conn: asyncpg.Connection, now: datetime) -> PgLedger:
    return PgLedger(conn, now=now)


def bidder_id(org_id: int) -> str:
    return str(org_id)


def _check_ref(project_ref: str) -> None:
    if not isinstance(project_ref, str) or not _REF.match(project_ref):
        raise ValidationFailed(
            f"project_ref must look like 'tender:12' or 'lot:7' (got {project_ref!r})",
            f"project_ref 须形如 'tender:12' 或 'lot:7'（收到 {project_ref!r}）",
            code="invalid_project_ref",
        )


def end_of_china_day(day: date) -> datetime:
    """The instant a China date ends: when something due "on" that day is late."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=CHINA_TZ).astimezone(UTC)


async def get_terms(conn: asyncpg.Connection, project_ref: str) -> DepositTerms:
    terms = await store.get_project(conn, project_ref)
    if terms is None:
        raise LedgerReason.PROJECT_NOT_FOUND.reject(project_ref)
    return terms


async def get_deposit(conn: asyncpg.Connection, project_ref: str, org_id: int) -> Deposit:
    d = await store.get_deposit(conn, project_ref, bidder_id(org_id))
    if d is None:
        raise LedgerReason.DEPOSIT_NOT_FOUND.reject(f"organisation {org_id} in {project_ref}")
    return d


def is_sealed(terms: DepositTerms, now: datetime) -> bool:
    """D1: a tender's payers stay sealed until its opening."""
    unsealed_at = terms.unsealed_at
    return unsealed_at is not None and now < unsealed_at


def visible_deposit(d: Deposit, terms: DepositTerms, actor: Actor, now: datetime) -> Deposit:
    """What ``actor`` may see of ``d``: the bidder itself sees all; anyone else sees a
    tender's payer blanked until the opening (D1)."""
    if (
        actor.org_id is not None
        and bidder_id(actor.org_id) == d.bidder_id
        and actor.role is Role.BIDDER
    ):
        return d
    unsealed_at = terms.unsealed_at
    if unsealed_at is None:
        return d
    return seal_payer(d, now=now, opening_at=unsealed_at)


# == projects ===================================================================================


async def register_project(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    project_ref: str,
    kind: ProjectKind,
    required_fen: int,
    deadline_at: datetime,
    opening_at: datetime | None = None,
    interest_rate_bp: int = 0,
    accept_guarantees: bool = True,
    estimate_fen: int | None = None,
    works: bool = False,
    starting_price_fen: int | None = None,
    land: bool = False,
) -> DepositTerms:
    """Record a project's deposit terms (T14: a tender's ≤ 2 % of the estimate and the works
    cap; A7: a land sale's ≥ 20 % of the starting price). The same terms again are a no-op;
    other terms for a registered project are refused (amend the dates instead)."""
    _check_ref(project_ref)
    async with conn.transaction():
        await store.lock_command(conn, f"project:{project_ref}")
        known = await store.get_project(conn, project_ref)
        terms = DepositTerms(
            project_id=project_ref,
            project_no=known.project_no if known else 0,
            kind=kind,
            required_fen=required_fen,
            deadline_at=deadline_at,
            interest_rate_bp=interest_rate_bp,
            accept_guarantees=accept_guarantees,
            estimate_fen=estimate_fen,
            works=works,
            starting_price_fen=starting_price_fen,
            land=land,
            opening_at=opening_at,
        )
        if known is not None:
            if known != terms:
                raise LedgerReason.PROJECT_CONFLICT.reject(project_ref)
            return known
        terms = replace(terms, project_no=await store.next_project_no(conn))
        terms = await ledger(conn, now).register_project(terms)
        await audit.append(
            conn,
            actor=actor,
            action="ledger.project.register",
            object_type="project",
            object_id=project_ref,
            at=now,
            payload=_terms_json(terms),
        )
    return terms


def _terms_json(t: DepositTerms) -> dict[str, Any]:
    return {
        "project_ref": t.project_id,
        "project_no": t.project_no,
        "kind": t.kind.value,
        "required_fen": t.required_fen,
        "deadline_at": iso_ms(t.deadline_at),
        "opening_at": iso_ms(t.opening_at) if t.opening_at else None,
        "interest_rate_bp": t.interest_rate_bp,
        "accept_guarantees": t.accept_guarantees,
        "estimate_fen": t.estimate_fen,
        "works": t.works,
        "starting_price_fen": t.starting_price_fen,
        "land": t.land,
    }


async def amend_project_dates(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    project_ref: str,
    deadline_at: datetime,
    opening_at: datetime | None = None,
) -> DepositTerms:
    """Move the deadline (and the opening) with the project's calendar — only while the
    current deadline has not passed (T4)."""
    async with conn.transaction():
        terms = await store.get_project(conn, project_ref, for_update=True)
        if terms is None:
            raise LedgerReason.PROJECT_NOT_FOUND.reject(project_ref)
        if now >= terms.deadline_at:
            raise LedgerReason.AFTER_DEADLINE.reject(
                f"the deadline {iso_ms(terms.deadline_at)} has passed"
            )
        new = replace(terms, deadline_at=deadline_at, opening_at=opening_at)
        check_deposit_terms(new, DepositPolicy())
        await store.update_project_dates(conn, project_ref, deadline_at, opening_at)
        await audit.append(
            conn,
            actor=actor,
            action="ledger.project.amend_dates",
            object_type="project",
            object_id=project_ref,
            at=now,
            payload={
                "deadline_at": iso_ms(deadline_at),
                "opening_at": iso_ms(opening_at) if opening_at else None,
            },
        )
    return new


# == deposits ===================================================================================


async def open_deposit(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    project_ref: str,
    org_id: int,
) -> Deposit:
    """The bidder's deposit for the project with its virtual sub-account (D1): idempotent —
    the same organisation gets the same number every time. New deposits only before the
    deadline."""
    _check_ref(project_ref)
    async with conn.transaction():
        terms = await store.get_project(
            conn, project_ref, for_update=True
        )  # serialises bidder numbers
        if terms is None:
            raise LedgerReason.PROJECT_NOT_FOUND.reject(project_ref)
        known = await store.get_deposit(conn, project_ref, bidder_id(org_id))
        if known is not None:
            return known
        if now >= terms.deadline_at:
            raise LedgerReason.AFTER_DEADLINE.reject(iso_ms(terms.deadline_at))
        if not await store.organisation_exists(conn, org_id):
            raise NotFound(
                f"organisation {org_id} not found",
                f"机构 {org_id} 不存在",
                code="organisation_not_found",
            )
        number = await store.next_bidder_no(conn, project_ref)
        deposit = await ledger(conn, now).open_deposit(project_ref, bidder_id(org_id), number)
        await audit.append(
            conn,
            actor=actor,
            action="ledger.deposit.open",
            object_type="deposit",
            object_id=deposit.account_id,
            at=now,
            payload={
                "project_ref": project_ref,
                "org_id": org_id,
                "sub_account": deposit.sub_account,
            },
        )
        await add_notice(
            conn,
            now,
            org_id=org_id,
            object_type="deposit",
            object_id=deposit.account_id,
            subject=f"保证金子账号 Deposit sub-account for {project_ref}",
            body=(
                f"请于 {iso_ms(terms.deadline_at)} 前将保证金 {format_fen(terms.required_fen)} 元缴入虚拟子账号 "
                f"{deposit.sub_account}（以银行到账时间为准）。\n"
                f"Pay the deposit of {format_fen(terms.required_fen)} yuan into virtual sub-account "
                f"{deposit.sub_account} before {iso_ms(terms.deadline_at)} (the bank's value time counts)."
            ),
        )
    return deposit


async def confirm_guarantee(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    project_ref: str,
    org_id: int,
    guarantee: Guarantee,
) -> Deposit:
    """D7: a bank guarantee or e-guarantee confirms the deposit without cash."""
    async with conn.transaction():
        d = await ledger(conn, now).confirm_guarantee(
            project_ref, bidder_id(org_id), guarantee, now
        )
        await audit.append(
            conn,
            actor=actor,
            action="ledger.deposit.guarantee",
            object_type="deposit",
            object_id=d.account_id,
            at=now,
            payload={
                "ref": guarantee.ref,
                "issuer": guarantee.issuer,
                "amount_fen": guarantee.amount_fen,
            },
        )
    return d


# == bank notifications =========================================================================


async def receive_notification(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    notification: BankNotification,
    signature: bytes,
) -> NotificationOutcome:
    """A signed message from the bank (D1, D2, D3): see ``PgLedger.receive_notification``.
    A repeat answers the first outcome and changes nothing."""
    async with conn.transaction():
        outcome = await ledger(conn, now).receive_notification(notification, signature, now)
        if outcome.replayed:
            return outcome
        n = notification
        await audit.append(
            conn,
            actor=actor,
            action="ledger.bank.notification",
            object_type="bank_movement",
            object_id=n.bank_ref,
            at=now,
            payload={"seq": n.seq, "sub_account": n.sub_account, "amount_fen": n.amount_fen},
            detail={
                "verdict": outcome.verdict.value,
                "suspense_reason": outcome.suspense_reason.value
                if outcome.suspense_reason
                else None,
            },
        )
        verdict = outcome.verdict
        if verdict is NotificationVerdict.CONFIRM:
            assert outcome.project_id is not None and outcome.bidder_id is not None
            await _after_confirm(conn, now, outcome.project_id, outcome.bidder_id, n)
        elif verdict is NotificationVerdict.SUSPENSE:
            await _after_suspense(conn, now, n, outcome)
        elif verdict is NotificationVerdict.REVERSE_DEPOSIT:
            assert outcome.project_id is not None and outcome.bidder_id is not None
            await add_notice(
                conn,
                now,
                org_id=int(outcome.bidder_id),
                object_type="project",
                object_id=outcome.project_id,
                subject=f"保证金被银行冲正 Deposit reversed by the bank ({outcome.project_id})",
                body=f"银行冲正了流水 {n.reverses_ref}，保证金恢复为未到账。The bank reversed {n.reverses_ref}: "
                "the deposit is no longer confirmed.",
            )
            await raise_alert(
                conn,
                now,
                kind="ledger.reversal",
                severity="warning",
                object_type="project",
                object_id=outcome.project_id,
                message_en=f"The bank reversed a confirmed deposit in {outcome.project_id} ({n.reverses_ref})",
                message_zh=f"银行冲正了 {outcome.project_id} 的一笔已确认保证金（{n.reverses_ref}）",
                detail={"bank_ref": n.bank_ref, "reverses_ref": n.reverses_ref},
                dedup_key=f"ledger.reversal:{n.bank_ref}",
            )
        elif verdict is NotificationVerdict.UNAPPLIED:
            await raise_alert(
                conn,
                now,
                kind="ledger.unapplied_reversal",
                severity="warning",
                object_type="bank_movement",
                object_id=n.bank_ref,
                message_en=f"A bank reversal could not be applied: {outcome.detail}",
                message_zh=f"银行冲正无法入账：{outcome.detail}",
                detail={"reverses_ref": n.reverses_ref},
                dedup_key=f"ledger.unapplied:{n.bank_ref}",
            )
    return outcome


async def _after_confirm(
    conn: asyncpg.Connection, now: datetime, project_ref: str, bidder: str, n: BankNotification
) -> None:
    await add_notice(
        conn,
        now,
        org_id=int(bidder),
        object_type="project",
        object_id=project_ref,
        subject=f"保证金已确认 Deposit confirmed ({project_ref})",
        body=f"已收到保证金 {format_fen(n.amount_fen)} 元（流水 {n.bank_ref}）。"
        f"Deposit of {format_fen(n.amount_fen)} yuan received (bank reference {n.bank_ref}).",
    )
    norm = normalize_bank_account(n.payer_account)
    if not norm:
        return
    same = await store.same_payer_deposits(conn, project_ref, norm)
    bidders = sorted({d.bidder_id for d in same})
    if len(bidders) < 2:
        return
    terms = await get_terms(conn, project_ref)
    sealed = is_sealed(terms, now)
    detail: dict[str, Any] = {"project_ref": project_ref, "bidders": len(bidders)}
    if sealed:
        detail["sealed_until"] = iso_ms(terms.unsealed_at)  # type: ignore[arg-type]
        assert terms.unsealed_at is not None
        await schedule(conn, kind=UNSEAL, ref=project_ref, due_at=terms.unsealed_at, now=now)
    else:
        detail |= {
            "payer_account": n.payer_account,
            "org_ids": [int(b) for b in bidders],
            "bank_refs": sorted(d.bank_ref for d in same if d.bank_ref),
        }
    await raise_alert(
        conn,
        now,
        kind="ledger.collusion",
        severity="warning",
        object_type="project",
        object_id=project_ref,
        message_en=f"Deposits of {len(bidders)} different bidders in {project_ref} were paid from one bank account "
        "(IR 40(6))" + (" — who, sealed until the opening" if sealed else ""),
        message_zh=f"{project_ref} 中 {len(bidders)} 个不同投标人的保证金从同一银行账户转出（实施条例第四十条第六项）"
        + ("——身份在开标前保密" if sealed else ""),
        detail=detail,
        dedup_key=f"ledger.collusion:{project_ref}:{norm}:{bidder}",
    )


async def _after_suspense(
    conn: asyncpg.Connection, now: datetime, n: BankNotification, outcome: NotificationOutcome
) -> None:
    if outcome.suspense_reason is SuspenseReason.CURRENCY_NOT_CNY and not outcome.transfer_id:
        if "statement" in outcome.detail:  # already held aside from a statement
            return
        # Never booked, so no CNY return is due: staff return it with the bank by hand.
        await raise_alert(
            conn,
            now,
            kind="ledger.currency_not_cny",
            severity="warning",
            object_type="bank_movement",
            object_id=n.bank_ref,
            message_en=f"The bank notified {n.bank_ref} in {n.currency}, not CNY: held aside, not booked; "
            "return it with the bank by hand",
            message_zh=f"银行通知的流水 {n.bank_ref} 币种为 {n.currency}，不是人民币：已挂账待处理，未入账；"
            "请与银行人工办理退回",
            detail={"currency": n.currency, "amount_minor": n.amount_fen},
            dedup_key=f"ledger.currency_not_cny:{n.bank_ref}",
        )
        return
    if outcome.detail:  # already in suspense from a statement: nothing new
        return
    await schedule(
        conn,
        kind=REFUND_DUE,
        ref=f"suspense:{n.bank_ref}",
        now=now,
        due_at=end_of_china_day(
            n.value_at.astimezone(CHINA_TZ).date() + timedelta(days=SUSPENSE_RETURN_DAYS)
        ),
        payload={"suspense": n.bank_ref},
    )
    if outcome.project_id and outcome.bidder_id:
        reason = outcome.suspense_reason.value if outcome.suspense_reason else ""
        await add_notice(
            conn,
            now,
            org_id=int(outcome.bidder_id),
            object_type="project",
            object_id=outcome.project_id,
            subject=f"保证金未能确认 Deposit not confirmed ({outcome.project_id})",
            body=f"流水 {n.bank_ref} 的 {format_fen(n.amount_fen)} 元未能确认为保证金（{reason}），将原路退回。"
            f"The {format_fen(n.amount_fen)} yuan of {n.bank_ref} could not confirm the deposit ({reason}); "
            "it will be returned to the payer.",
        )


# == refunds ====================================================================================


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
        d = await ledger(conn, now).request_refund(
            command_id, project_ref, bidder_id(org_id), cause, cause_at, now
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
            new = await ledger(conn, now).request_refund(
                sub_command, project_ref, d.bidder_id, cause, cause_at, now
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


async def on_unseal(ctx: EventContext) -> None:
    """``ledger.unseal``: at a tender's opening, name the bidders whose deposits came from one
    account (D3), now that payers may be seen (D1)."""
    project_ref = ctx.event.ref
    deposits = await store.list_deposits(ctx.conn, project_id=project_ref)
    for alert in detect_collusion(deposits):
        await raise_alert(
            ctx.conn,
            ctx.now,
            kind="ledger.collusion",
            severity="warning",
            object_type="project",
            object_id=project_ref,
            message_en=f"At the opening of {project_ref}: organisations {', '.join(alert.bidder_ids)} paid their "
            f"deposits from one bank account (IR 40(6))",
            message_zh=f"{project_ref} 开标：机构 {'、'.join(alert.bidder_ids)} 的保证金从同一银行账户转出（实施条例第四十条第六项）",
            detail={
                "project_ref": project_ref,
                "payer_account": alert.payer_account,
                "org_ids": [int(b) for b in alert.bidder_ids],
                "bank_refs": list(alert.bank_refs),
            },
            dedup_key=f"ledger.collusion.unsealed:{project_ref}:{alert.payer_account}:{','.join(alert.bidder_ids)}",
        )


# == forfeiture and conversion ==================================================================


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
        d = await ledger(conn, now).request_forfeit(
            command_id, project_ref, bidder_id(org_id), cause, note, actor.username, cause_at, now
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
    async with conn.transaction():
        d = await ledger(conn, now).approve_forfeit(
            command_id, project_ref, bidder_id(org_id), actor.username, now
        )
        await audit.append(
            conn,
            actor=actor,
            action="ledger.deposit.forfeit_approve",
            object_type="deposit",
            object_id=d.account_id,
            at=now,
            payload={"requested_by": d.forfeit.requested_by if d.forfeit else None},
        )
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
    async with conn.transaction():
        d = await ledger(conn, now).reject_forfeit(
            command_id, project_ref, bidder_id(org_id), actor.username, now
        )
        await audit.append(
            conn,
            actor=actor,
            action="ledger.deposit.forfeit_reject",
            object_type="deposit",
            object_id=d.account_id,
            at=now,
        )
    return d


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
        d = await ledger(conn, now).convert(command_id, project_ref, bidder_id(org_id), now)
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


# == keys, calendar, reads ======================================================================


async def register_bank_key(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    public_key: bytes,
    label: str = "",
) -> str:
    """Trust ``public_key`` (Ed25519, 32 bytes) for the bank's signed messages. Idempotent."""
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        raise ValidationFailed(
            "the bank key must be 32 bytes (Ed25519)",
            "银行公钥须为 32 字节（Ed25519）",
            code="invalid_public_key",
        )
    key_id = "bank-" + hashlib.sha256(public_key).hexdigest()[:16]
    async with conn.transaction():
        if await store.insert_bank_key(conn, key_id, public_key, label, now):
            await audit.append(
                conn,
                actor=actor,
                action="ledger.bank_key.register",
                object_type="bank_key",
                object_id=key_id,
                at=now,
                payload={"public_key": public_key.hex(), "label": label},
            )
    return key_id


async def set_calendar_day(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    day: date,
    working: bool,
    note: str,
) -> None:
    """A public holiday (working=False) or an adjusted working day (调休, working=True)."""
    async with conn.transaction():
        await store.set_calendar_day(conn, day, working, note)
        await audit.append(
            conn,
            actor=actor,
            action="ledger.calendar.set",
            object_type="calendar_day",
            object_id=day.isoformat(),
            at=now,
            payload={"working": working, "note": note},
        )


async def trial_balance(conn: asyncpg.Connection) -> TrialBalance:
    return await store.trial_balance(conn)
