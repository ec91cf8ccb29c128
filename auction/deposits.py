"""A land lot's bidding deposit (竞买保证金) lives in the deposit ledger (``trading.ledger``).
These calls run inside the auction's own use-case transactions:

- creating a land lot registers its deposit terms (A7: ≥ 20 % of the starting price; money
  must arrive before the listing ends), so bidders can open their virtual sub-accounts;
- settling a closed lot converts the winner's deposit into part of the price and makes every
  other confirmed deposit refundable within 5 working days (A7), once — the ledger's command
  ids make a repeat harmless.

Plate sessions share one deposit across their lots; settling those belongs to the session's
end and is not wired yet (staff use the ledger's API)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from trading.audit import AuditLog
from trading.context import Actor
from trading.ledger import service as ledger
from trading.ledger import store as ledger_store
from trading.ledger.model import DepositState, ProjectKind, RefundCause


async def register_land_terms(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    lot_id: int,
    deposit_fen: int,
    starting_price_fen: int,
    listing_ends_at: datetime,
) -> None:
    await ledger.register_project(
        conn,
        audit,
        actor,
        now,
        project_ref=f"lot:{lot_id}",
        kind=ProjectKind.AUCTION,
        required_fen=deposit_fen,
        deadline_at=listing_ends_at,
        starting_price_fen=starting_price_fen,
        land=True,
    )


async def settle_land_deposits(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    lot_id: int,
    winner_org_id: int | None,
    closed_at: datetime,
) -> None:
    ref = f"lot:{lot_id}"
    if await ledger_store.get_project(conn, ref) is None:
        return
    if winner_org_id is not None:
        won = await ledger_store.get_deposit(conn, ref, ledger.bidder_id(winner_org_id))
        if won is not None and won.state is DepositState.CONFIRMED:
            await ledger.convert(
                conn,
                audit,
                actor,
                now,
                project_ref=ref,
                org_id=winner_org_id,
                command_id=f"auction-lot{lot_id}-convert",
            )
    await ledger.refund_all(
        conn,
        audit,
        actor,
        now,
        project_ref=ref,
        cause=RefundCause.LOST,
        cause_at=closed_at,
        command_id=f"auction-lot{lot_id}-refund-losers",
        exclude_org_ids=[winner_org_id] if winner_org_id is not None else [],
    )
