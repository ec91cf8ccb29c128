"""Money out and money aside: the bank's answer to a payout (paid or rejected), a payout
reissued after a rejection, money in suspense returned to its payer, and a statement's
credit that no notification told put in suspense (D9). The edges — batches, the bank's
answer files, audit — are ``trading.ledger.settlement`` and ``trading.ledger.reconciling``."""

from __future__ import annotations

from datetime import datetime

from .. import store
from ..errors import LedgerReason
from ..model import Deposit, Payout, PayoutPurpose, PayoutResult, SuspenseItem
from ..rules.decisions import (
    decide_payout_result,
    decide_reissue,
    decide_suspense_return,
    decide_unmatched_credit,
)
from .context import Ledger, command, load_deposit, remember
from .transfers import write

__all__ = [
    "confirm_payout",
    "load_payout",
    "record_unmatched_credit",
    "reissue_payout",
    "return_suspense",
]


async def load_payout(lg: Ledger, payout_id: str, *, for_update: bool = False) -> Payout:
    payout = (
        await store.get_payout(lg.conn, payout_id, for_update=for_update)
        if isinstance(payout_id, str)
        else None
    )
    if payout is None:
        raise LedgerReason.PAYOUT_NOT_FOUND.reject(str(payout_id))
    return payout


async def _what_it_pays(lg: Ledger, payout: Payout) -> tuple[Deposit | None, SuspenseItem | None]:
    """The deposit or the suspense item a payout pays back, locked."""
    if payout.purpose is PayoutPurpose.DEPOSIT_REFUND:
        assert payout.project_id is not None and payout.bidder_id is not None
        return await load_deposit(lg, payout.project_id, payout.bidder_id, for_update=True), None
    assert payout.source_ref is not None
    return None, await store.get_suspense(lg.conn, payout.source_ref, for_update=True)


async def confirm_payout(lg: Ledger, result: PayoutResult, at: datetime) -> Payout:
    """The bank paid (post) or rejected (void) a payout; the same answer twice changes
    nothing; another answer to a settled payout is refused."""
    async with lg.conn.transaction():
        payout = await load_payout(lg, result.payout_id, for_update=True)
        deposit, item = await _what_it_pays(lg, payout)
        pending = await store.get_transfer(lg.conn, payout.id)
        assert pending is not None
        effects = decide_payout_result(payout, result, pending=pending, deposit=deposit, item=item)
        await write(lg, effects, at, was=deposit)
    return effects.settled or payout


async def reissue_payout(
    lg: Ledger,
    command_id: str,
    payout_id: str,
    at: datetime,
    *,
    payee_account: str | None = None,
    payee_name: str | None = None,
) -> Payout:
    """A new pending payout for one the bank rejected (the rejected one stays voided)."""
    fingerprint = ("reissue", payout_id, payee_account, payee_name)
    async with lg.conn.transaction():
        done, answer = await command(lg, command_id, fingerprint)
        if done:
            return answer  # type: ignore[no-any-return]
        old = await load_payout(lg, payout_id, for_update=True)
        deposit, item = await _what_it_pays(lg, old)
        pending = await store.get_transfer(lg.conn, old.id)
        assert pending is not None
        effects = decide_reissue(
            command_id,
            old,
            pending=pending,
            deposit=deposit,
            item=item,
            payee_account=payee_account,
            payee_name=payee_name,
        )
        await write(lg, effects, at, was=deposit)
        return await remember(lg, command_id, fingerprint, effects.payout)  # type: ignore[no-any-return]


async def return_suspense(lg: Ledger, command_id: str, bank_ref: str, at: datetime) -> Payout:
    """Send money that matched nothing back to its payer within 5 days."""
    fingerprint = ("return_suspense", bank_ref)
    async with lg.conn.transaction():
        done, answer = await command(lg, command_id, fingerprint)
        if done:
            return answer  # type: ignore[no-any-return]
        item = (
            await store.get_suspense(lg.conn, bank_ref, for_update=True)
            if isinstance(bank_ref, str)
            else None
        )
        effects = decide_suspense_return(command_id, bank_ref, item, at)
        await write(lg, effects, at)
        return await remember(lg, command_id, fingerprint, effects.payout)  # type: ignore[no-any-return]


async def record_unmatched_credit(
    lg: Ledger,
    bank_ref: str,
    amount_fen: int,
    value_at: datetime,
    payer_account: str,
    payer_name: str,
    at: datetime,
    *,
    in_cny: bool = True,
) -> SuspenseItem | None:
    """D9: money on the bank's statement that no notification told: into suspense, once.
    None when the reference is already known (a notification or an earlier import).
    Money in another currency (``in_cny`` false) is held aside with its reason and never
    booked: no transfer, no bank movement."""
    conn = lg.conn
    async with conn.transaction():
        await store.lock_last_seq(conn)  # one writer of bank movements at a time
        if await store.get_notification(conn, bank_ref) is not None:
            return None
        if await store.get_suspense(conn, bank_ref) is not None:
            return None
        effects = decide_unmatched_credit(
            bank_ref, amount_fen, value_at, payer_account, payer_name, in_cny=in_cny
        )
        await write(lg, effects, at)
    return effects.suspense
