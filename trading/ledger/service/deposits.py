"""Projects and deposits: a project's terms (T14, A7), a bidder's deposit with its virtual
sub-account (D1), a guarantee standing for the money (D7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg

from trading.audit import AuditLog
from trading.clock import iso_ms
from trading.context import Actor
from trading.errors import NotFound
from trading.notices import add_notice

from .. import store
from ..errors import LedgerReason
from ..model import (
    Account,
    AccountKind,
    AccountResult,
    Deposit,
    DepositPolicy,
    DepositTerms,
    Guarantee,
    ProjectKind,
)
from ..reconcile import format_fen
from ..rules.decisions import decide_guarantee, decide_new_deposit
from ..rules.terms import check_deposit_terms
from .context import Ledger, _check_ref, bidder_id, get_terms, load_deposit, load_terms
from .transfers import create_accounts, write

__all__ = [
    "accept_guarantee",
    "amend_project_dates",
    "confirm_guarantee",
    "open_deposit",
    "open_deposit_account",
    "record_terms",
    "register_project",
]


# == the ledger's part ==========================================================================


async def record_terms(lg: Ledger, terms: DepositTerms) -> DepositTerms:
    """Record a project's deposit terms (idempotent; other values are refused)."""
    check_deposit_terms(terms, lg.policy)
    async with lg.conn.transaction():
        await store.lock_command(lg.conn, f"project:{terms.project_id}")
        known = await store.get_project(lg.conn, terms.project_id)
        if known is not None:
            if known != terms:
                raise LedgerReason.PROJECT_CONFLICT.reject(terms.project_id)
            return known
        if await store.project_no_taken(lg.conn, terms.project_no):
            raise LedgerReason.PROJECT_CONFLICT.reject(
                f"project_no {terms.project_no} is taken", project_no=terms.project_no
            )
        await store.insert_project(lg.conn, terms, lg.now)
    return terms


async def open_deposit_account(
    lg: Ledger, project_id: str, bidder_id: str, bidder_no: int
) -> Deposit:
    """The bidder's deposit in the project, awaiting money, with its sub-account and its own
    account (idempotent; ``bidder_no`` is unique within the project)."""
    conn = lg.conn
    async with conn.transaction():
        terms = await load_terms(lg, project_id, for_update=True)  # serialises bidder numbers
        known = (
            await store.get_deposit(conn, project_id, bidder_id)
            if isinstance(bidder_id, str)
            else None
        )
        owner = (
            await store.bidder_no_owner(conn, project_id, bidder_no)
            if known is None and isinstance(bidder_no, int) and not isinstance(bidder_no, bool)
            else None
        )
        deposit, new = decide_new_deposit(
            terms, bidder_id, bidder_no, known=known, owner=owner, prefix=lg.sub_account_prefix
        )
        if new:
            account = Account(deposit.account_id, AccountKind.DEPOSIT_HELD, project_id, bidder_id)
            [result] = await create_accounts(lg, [account])
            assert result is AccountResult.OK, result
            await store.insert_deposit(conn, deposit, lg.now)
    return deposit


async def accept_guarantee(
    lg: Ledger, project_id: str, bidder_id: str, guarantee: Guarantee, at: datetime
) -> Deposit:
    """D7: the guarantee confirms the deposit; no money moves (idempotent)."""
    async with lg.conn.transaction():
        deposit = await load_deposit(lg, project_id, bidder_id, for_update=True)
        terms = await load_terms(lg, project_id)
        ref = guarantee.ref if isinstance(guarantee, Guarantee) else None
        in_use = isinstance(ref, str) and await store.guarantee_owner(lg.conn, ref) is not None
        effects = decide_guarantee(deposit, terms, guarantee, at, in_use=in_use)
        await write(lg, effects, at, was=deposit)
    return effects.deposit or deposit


# == the use cases at the edge ==================================================================


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
        terms = await record_terms(Ledger(conn, now), terms)
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
        terms = await get_terms(conn, project_ref, for_update=True)
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
        # the project's row lock serialises bidder numbers
        terms = await get_terms(conn, project_ref, for_update=True)
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
        deposit = await open_deposit_account(
            Ledger(conn, now), project_ref, bidder_id(org_id), number
        )
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
        d = await accept_guarantee(
            Ledger(conn, now), project_ref, bidder_id(org_id), guarantee, now
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
