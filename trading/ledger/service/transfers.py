"""The double-entry core: accounts, batches of transfers (TigerBeetle's model, decided by
``batch.execute_batch`` against the rows locked for them), a use case's chain of transfers,
and writing a decision's ``Effects``; the calendar and the trial balance at the edge."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime

import asyncpg

from trading.audit import AuditLog
from trading.context import Actor

from .. import store
from ..batch import BATCH_MAX, LedgerView, execute_batch, ids_to_load, split_at_chains
from ..errors import LedgerReason
from ..model import (
    SYSTEM_ACCOUNTS,
    Account,
    AccountResult,
    Deposit,
    Transfer,
    TransferFlags,
    TransferOutcome,
    TransferResult,
    TrialBalance,
)
from ..rules.decisions import Effects
from ..rules.payers import normalize_bank_account
from ..rules.transfers import validate_account
from ..rules.values import reason_for_result
from .context import Ledger, command, load_deposit, remember

__all__ = [
    "commit",
    "create_accounts",
    "create_transfers",
    "deposit_command",
    "install",
    "set_calendar_day",
    "trial_balance",
    "write",
]

_LINKED = TransferFlags.LINKED
_R = TransferResult
_RETRIES = 3
_PART = 500
"""Transfers decided while the previous part of the batch is written."""


async def install(lg: Ledger) -> None:
    """Create the system accounts (idempotent)."""
    results = await create_accounts(lg, [Account(i, k) for k, i in SYSTEM_ACCOUNTS.items()])
    assert all(r in (AccountResult.OK, AccountResult.EXISTS) for r in results), results


async def create_accounts(lg: Ledger, accounts: Iterable[Account]) -> list[AccountResult]:
    """One result per account, by id, idempotently."""
    out = []
    async with lg.conn.transaction():
        for a in accounts:
            result = validate_account(a, None)
            if result is AccountResult.OK:
                existing = await store.get_account(lg.conn, a.id)
                result = validate_account(a, existing)
                if result is AccountResult.OK:
                    await store.insert_accounts(lg.conn, [a], lg.now)
            out.append(result)
    return out


async def create_transfers(
    lg: Ledger, transfers: Sequence[Transfer], at: datetime
) -> list[TransferOutcome]:
    """One ``TransferOutcome`` per transfer, in order (see ``trading.ledger.batch``); one
    transaction (a savepoint inside the caller's)."""
    if len(transfers) > BATCH_MAX:
        raise LedgerReason.INVALID_INPUT.reject(f"at most {BATCH_MAX} transfers in a batch")
    for attempt in range(_RETRIES):
        try:
            async with lg.conn.transaction():
                return await _create_transfers(lg.conn, transfers, at)
        except asyncpg.UniqueViolationError:
            # Another transaction recorded one of these ids (on other accounts) meanwhile:
            # decide again, seeing it.
            if attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")


async def _create_transfers(
    conn: asyncpg.Connection, transfers: Sequence[Transfer], at: datetime
) -> list[TransferOutcome]:
    # Two round trips to read (the accounts locked, then what the ids name); the writes of
    # one part go to the server while the next part is decided (the two run in parallel).
    account_ids, ids, pending_ids = ids_to_load(transfers)
    accounts = await store.lock_accounts(conn, account_ids)
    view = LedgerView(accounts, *await store.load_for_batch(conn, ids, pending_ids))
    outcomes: list[TransferOutcome] = []
    changed: dict[str, Account] = {}
    parts = split_at_chains(transfers, _PART)
    writing: asyncio.Future[None] | None = None
    try:
        for i, part in enumerate(parts):
            result = execute_batch(part, view)
            view = result.after
            outcomes += result.outcomes
            changed.update(result.accounts)
            last = i == len(parts) - 1
            if writing is not None:
                await writing
                writing = None
            if result.accepted or result.failures or (last and changed):
                writing = asyncio.ensure_future(
                    store.write_batch(
                        conn,
                        list(changed.values()) if last else [],
                        result.accepted,
                        result.failures,
                        at,
                    )
                )
                await asyncio.sleep(0)  # let the write leave before the next part
        if writing is not None:
            await writing
            writing = None
    finally:
        if writing is not None:  # only when deciding raised: let the write end first
            await asyncio.gather(writing, return_exceptions=True)
    return outcomes


async def commit(lg: Ledger, transfers: Sequence[Transfer], at: datetime) -> None:
    """A use case's transfers as one linked chain, or ``LedgerRejected`` (nothing written)."""
    if not transfers:
        return
    last = len(transfers) - 1
    chain = [
        replace(t, flags=t.flags | _LINKED) if i < last else t for i, t in enumerate(transfers)
    ]
    for o in await create_transfers(lg, chain, at):
        if not o.ok and o.result is not _R.LINKED_EVENT_FAILED:
            raise reason_for_result(o.result).reject(
                f"transfer {o.id}: {o.result.value}", transfer_id=o.id, result=o.result.value
            )


async def write(lg: Ledger, effects: Effects, at: datetime, *, was: Deposit | None = None) -> None:
    """Write what a decision changed, in ``Effects``' order. ``was`` is the deposit as the
    decision read it: its next version is saved only over that version."""
    conn = lg.conn
    await commit(lg, effects.transfers, at)
    if effects.movement is not None:
        await store.insert_movement(conn, effects.movement)
    if effects.payout is not None:
        await store.insert_payout(conn, effects.payout, at)
    if effects.settled is not None:
        await store.settle_payout(conn, effects.settled, at)
    if effects.suspense is not None:
        await store.insert_suspense(conn, effects.suspense, at)
    if effects.suspense_update is not None:
        await store.update_suspense(conn, effects.suspense_update)
    new = effects.deposit
    if new is not None:
        assert was is not None and new.version == was.version + 1
        norm = normalize_bank_account(new.payer_account) if new.payer_account else None
        await store.save_deposit(
            conn, new, expected_version=was.version, at=lg.now, payer_account_norm=norm or None
        )
        if effects.guarantee is not None:
            await store.insert_guarantee(conn, effects.guarantee.ref, new.project_id, new.bidder_id)


async def deposit_command(
    lg: Ledger,
    command_id: str,
    fingerprint: tuple[object, ...],
    project_id: str,
    bidder_id: str,
    at: datetime,
    decide: Callable[[Deposit], Awaitable[Effects]],
) -> Deposit:
    """One idempotent command on one deposit, in one transaction: the first answer again when
    ``command_id`` ran before, else the deposit locked, ``decide``d, written and remembered."""
    async with lg.conn.transaction():
        done, answer = await command(lg, command_id, fingerprint)
        if done:
            return answer  # type: ignore[no-any-return]
        deposit = await load_deposit(lg, project_id, bidder_id, for_update=True)
        effects = await decide(deposit)
        await write(lg, effects, at, was=deposit)
        return await remember(lg, command_id, fingerprint, effects.deposit)  # type: ignore[no-any-return]


# == at the edge ================================================================================


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
