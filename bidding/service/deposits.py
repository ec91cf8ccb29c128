"""A tender's bid deposit (投标保证金) lives in the deposit ledger (``trading.ledger``): these
calls run inside the tender's own use-case transactions, so a tender is published with its
deposit terms or not at all, each registered bidder gets its own virtual sub-account (D1),
and the deposit deadline moves with the bid deadline (D2 judges value times against it).

A tender that asks no deposit (``deposit_fen == 0``) registers nothing in the ledger, and
admits its registered bidders without one."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from bidding.model import Category, Tender
from trading.audit import AuditLog
from trading.context import Actor
from trading.ledger import service as ledger
from trading.ledger import store as ledger_store
from trading.ledger.model import Deposit, DepositState, DepositTerms, ProjectKind, RefundCause


async def register_terms(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender: Tender
) -> None:
    if tender.deposit_fen == 0:
        return
    await ledger.register_project(
        conn,
        audit,
        actor,
        now,
        project_ref=tender.project_ref,
        kind=ProjectKind.TENDER,
        required_fen=tender.deposit_fen,
        deadline_at=tender.bid_deadline_at,
        opening_at=tender.opening_at,
        estimate_fen=tender.estimated_price_fen,
        works=tender.category is Category.WORKS,
        interest_rate_bp=tender.deposit_interest_rate_bp,
    )


async def move_dates(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender: Tender
) -> None:
    if await ledger_store.get_project(conn, tender.project_ref) is None:
        return
    await ledger.amend_project_dates(
        conn,
        audit,
        actor,
        now,
        project_ref=tender.project_ref,
        deadline_at=tender.bid_deadline_at,
        opening_at=tender.opening_at,
    )


async def open_for(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender: Tender,
    org_id: int,
) -> Deposit | None:
    """The bidder's deposit and its sub-account (idempotent), when the tender takes one."""
    if await ledger_store.get_project(conn, tender.project_ref) is None:
        return None
    return await ledger.open_deposit(conn, audit, actor, now, tender.project_ref, org_id)


async def terms_and_deposit(
    conn: asyncpg.Connection, tender: Tender, org_id: int
) -> tuple[DepositTerms, Deposit] | None:
    terms = await ledger_store.get_project(conn, tender.project_ref)
    if terms is None:
        return None
    deposit = await ledger_store.get_deposit(conn, tender.project_ref, ledger.bidder_id(org_id))
    return (terms, deposit) if deposit is not None else None


async def refund_on_withdrawal(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    tender: Tender,
    org_id: int,
    *,
    command_id: str,
) -> Deposit | None:
    """D4 (IR 35): withdrawing before the deadline refunds a confirmed cash deposit within 5
    days (the ledger schedules the due date and alerts when it is missed)."""
    found = await terms_and_deposit(conn, tender, org_id)
    if found is None or found[1].state is not DepositState.CONFIRMED:
        return None
    return await ledger.request_refund(
        conn,
        audit,
        actor,
        now,
        project_ref=tender.project_ref,
        org_id=org_id,
        cause=RefundCause.WITHDRAWN_BEFORE_DEADLINE,
        cause_at=now,
        command_id=command_id,
    )
