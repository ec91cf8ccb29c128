"""The PostgreSQL ledger's core: setup, accounts and batches of transfers, command ids,
projects and deposits, and the reports read from them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import asyncpg

from .. import store
from ..batch import BATCH_MAX, LedgerView, execute_batch, ids_to_load, split_at_chains
from ..errors import LedgerReason
from ..memory.core import COMMAND_ID_MAX_LEN
from ..model import (
    SYSTEM_ACCOUNTS,
    Account,
    AccountKind,
    AccountResult,
    BankMovement,
    CollusionAlert,
    Deposit,
    DepositEvent,
    DepositPolicy,
    DepositState,
    DepositTerms,
    NotificationVerdict,
    Transfer,
    TransferFlags,
    TransferOutcome,
    TransferResult,
    TrialBalance,
    WorkCalendar,
    deposit_account_id,
)
from ..rules.lifecycle import next_deposit_state
from ..rules.payers import detect_collusion, normalize_bank_account
from ..rules.subaccounts import sub_account_number
from ..rules.terms import check_deposit_terms
from ..rules.transfers import validate_account
from ..rules.values import is_valid_id, reason_for_result

__all__ = ["DEFAULT_SUB_ACCOUNT_PREFIX", "LedgerCore"]

DEFAULT_SUB_ACCOUNT_PREFIX = "3305"
"""The centre's digits in front of every virtual sub-account number (Huzhou's area code)."""

_BANK = SYSTEM_ACCOUNTS[AccountKind.BANK]
_SUSPENSE = SYSTEM_ACCOUNTS[AccountKind.SUSPENSE]
_PAYABLE = SYSTEM_ACCOUNTS[AccountKind.REFUNDS_PAYABLE]
_FORFEITED = SYSTEM_ACCOUNTS[AccountKind.FORFEITED]
_PRICE = SYSTEM_ACCOUNTS[AccountKind.PRICE_RECEIVABLE]
_INTEREST = SYSTEM_ACCOUNTS[AccountKind.INTEREST_EXPENSE]
_LINKED = TransferFlags.LINKED
_R = TransferResult
_V = NotificationVerdict
_RETRIES = 3
_PART = 500
"""Transfers decided while the previous part is written."""


def _chain(transfers: Sequence[Transfer]) -> list[Transfer]:
    last = len(transfers) - 1
    return [replace(t, flags=t.flags | _LINKED) if i < last else t for i, t in enumerate(transfers)]


class LedgerCore:
    """The connection and what every operation builds on: setup, the double-entry core,
    command ids, projects and deposits, the reports."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        *,
        now: datetime,
        calendar: WorkCalendar | None = None,
        policy: DepositPolicy | None = None,
        sub_account_prefix: str = DEFAULT_SUB_ACCOUNT_PREFIX,
        bank_keys: Sequence[bytes] | None = None,
    ) -> None:
        self.conn = conn
        self.now = now
        self._calendar = calendar
        self.policy = policy or DepositPolicy()
        self.sub_account_prefix = sub_account_prefix
        self._bank_keys = list(bank_keys) if bank_keys is not None else None

    # == setup ================================================================================

    async def install(self) -> None:
        """Create the system accounts (idempotent)."""
        results = await self.create_accounts([Account(i, k) for k, i in SYSTEM_ACCOUNTS.items()])
        assert all(r in (AccountResult.OK, AccountResult.EXISTS) for r in results), results

    async def calendar(self) -> WorkCalendar:
        if self._calendar is None:
            self._calendar = await store.work_calendar(self.conn)
        return self._calendar

    # == the double-entry core ===============================================================

    async def create_accounts(self, accounts: Iterable[Account]) -> list[AccountResult]:
        out = []
        async with self.conn.transaction():
            for a in accounts:
                result = validate_account(a, None)
                if result is AccountResult.OK:
                    existing = await store.get_account(self.conn, a.id)
                    result = validate_account(a, existing)
                    if result is AccountResult.OK:
                        await store.insert_accounts(self.conn, [a], self.now)
                out.append(result)
        return out

    async def create_transfers(
        self, transfers: Sequence[Transfer], at: datetime
    ) -> list[TransferOutcome]:
        """One outcome per transfer, as ``MemoryLedger.create_transfers`` answers."""
        if len(transfers) > BATCH_MAX:
            raise LedgerReason.INVALID_INPUT.reject(f"at most {BATCH_MAX} transfers in a batch")
        for attempt in range(_RETRIES):
            try:
                async with self.conn.transaction():
                    return await self._create_transfers(transfers, at)
            except asyncpg.UniqueViolationError:
                # Another transaction recorded one of these ids (on other accounts) meanwhile:
                # decide again, seeing it.
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    async def _create_transfers(
        self, transfers: Sequence[Transfer], at: datetime
    ) -> list[TransferOutcome]:
        # Two round trips to read (the accounts locked, then what the ids name); the writes of
        # one part go to the server while the next part is decided (the two run in parallel).
        account_ids, ids, pending_ids = ids_to_load(transfers)
        conn = self.conn
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

    async def _commit(self, transfers: Sequence[Transfer], at: datetime) -> None:
        """A use case's transfers as one chain, or ``LedgerRejected``."""
        if not transfers:
            return
        outcomes = await self.create_transfers(_chain(transfers), at)
        for o in outcomes:
            if not o.ok and o.result is not _R.LINKED_EVENT_FAILED:
                raise reason_for_result(o.result).reject(
                    f"transfer {o.id}: {o.result.value}", transfer_id=o.id, result=o.result.value
                )
        assert all(o.ok for o in outcomes)

    # -- reads --

    async def account(self, account_id: str) -> Account | None:
        if not isinstance(account_id, str):
            return None
        return await store.get_account(self.conn, account_id)

    async def accounts(self) -> list[Account]:
        return await store.list_accounts(self.conn, limit=10**9)

    async def transfer(self, transfer_id: str) -> Transfer | None:
        return await store.get_transfer(self.conn, transfer_id)

    async def journal(self) -> list[Transfer]:
        return await store.journal(self.conn)

    async def first_result(self, transfer_id: str) -> TransferResult | None:
        if await store.get_transfer(self.conn, transfer_id) is not None:
            return _R.OK
        return await store.first_failure(self.conn, transfer_id)

    async def resolution(self, pending_id: str) -> Transfer | None:
        return await store.resolution(self.conn, pending_id)

    async def trial_balance(self) -> TrialBalance:
        return await store.trial_balance(self.conn)

    # == commands =============================================================================

    async def _command(self, command_id: str, fingerprint: tuple[Any, ...]) -> tuple[bool, Any]:
        """Inside the use case's transaction: (True, first answer) when this command ran."""
        if not is_valid_id(command_id) or len(command_id) > COMMAND_ID_MAX_LEN:
            raise LedgerReason.ID_INVALID.reject("command_id", field="command_id")
        await store.lock_command(self.conn, command_id)
        seen = await store.get_command(self.conn, command_id)
        if seen is None:
            return False, None
        if seen[0] != store.fingerprint(fingerprint):
            raise LedgerReason.COMMAND_ID_REUSED.reject(command_id, command_id=command_id)
        return True, store.answer_from_json(seen[1])

    async def _remember(self, command_id: str, fingerprint: tuple[Any, ...], answer: Any) -> Any:
        await store.insert_command(
            self.conn,
            command_id,
            store.fingerprint(fingerprint),
            store.answer_json(answer),
            self.now,
        )
        return answer

    # == deposits =============================================================================

    async def register_project(self, terms: DepositTerms) -> DepositTerms:
        """Record a project's deposit terms (idempotent; other values are refused)."""
        check_deposit_terms(terms, self.policy)
        async with self.conn.transaction():
            await store.lock_command(self.conn, f"project:{terms.project_id}")
            known = await store.get_project(self.conn, terms.project_id)
            if known is not None:
                if known != terms:
                    raise LedgerReason.PROJECT_CONFLICT.reject(terms.project_id)
                return known
            if await store.project_no_taken(self.conn, terms.project_no):
                raise LedgerReason.PROJECT_CONFLICT.reject(
                    f"project_no {terms.project_no} is taken", project_no=terms.project_no
                )
            await store.insert_project(self.conn, terms, self.now)
        return terms

    async def terms(self, project_id: str, *, for_update: bool = False) -> DepositTerms:
        terms = (
            await store.get_project(self.conn, project_id, for_update=for_update)
            if isinstance(project_id, str)
            else None
        )
        if terms is None:
            raise LedgerReason.PROJECT_NOT_FOUND.reject(str(project_id))
        return terms

    async def open_deposit(self, project_id: str, bidder_id: str, bidder_no: int) -> Deposit:
        """The bidder's deposit in the project, awaiting money, with its sub-account
        (idempotent; ``bidder_no`` is unique within the project)."""
        async with self.conn.transaction():
            terms = await self.terms(project_id, for_update=True)
            if not is_valid_id(bidder_id):
                raise LedgerReason.ID_INVALID.reject("bidder_id", field="bidder_id")
            known = await store.get_deposit(self.conn, project_id, bidder_id)
            if known is not None:
                if known.bidder_no != bidder_no:
                    raise LedgerReason.DEPOSIT_CONFLICT.reject(f"bidder_no {bidder_no}")
                return known
            owner = (
                await store.bidder_no_owner(self.conn, project_id, bidder_no)
                if isinstance(bidder_no, int) and not isinstance(bidder_no, bool)
                else None
            )
            if owner not in (None, bidder_id):
                raise LedgerReason.DEPOSIT_CONFLICT.reject(f"bidder_no {bidder_no} is taken")
            number = sub_account_number(terms.project_no, bidder_no, prefix=self.sub_account_prefix)
            account_id = deposit_account_id(project_id, bidder_id)
            if not is_valid_id(account_id):
                raise LedgerReason.ID_INVALID.reject("project_id and bidder_id are too long")
            [result] = await self.create_accounts(
                [Account(account_id, AccountKind.DEPOSIT_HELD, project_id, bidder_id)]
            )
            assert result is AccountResult.OK, result
            deposit = Deposit(project_id, bidder_id, bidder_no, number, account_id)
            await store.insert_deposit(self.conn, deposit, self.now)
        return deposit

    async def deposit(
        self, project_id: str, bidder_id: str, *, for_update: bool = False
    ) -> Deposit:
        deposit = None
        if isinstance(project_id, str) and isinstance(bidder_id, str):
            deposit = await store.get_deposit(
                self.conn, project_id, bidder_id, for_update=for_update
            )
        if deposit is None:
            raise LedgerReason.DEPOSIT_NOT_FOUND.reject(f"{bidder_id} in {project_id}")
        return deposit

    async def deposits(self, project_id: str | None = None) -> list[Deposit]:
        return await store.list_deposits(self.conn, project_id=project_id)

    async def deposit_by_sub_account(
        self, sub_account: str, *, for_update: bool = False
    ) -> Deposit | None:
        if not isinstance(sub_account, str):
            return None
        return await store.get_deposit_by_sub_account(self.conn, sub_account, for_update=for_update)

    async def is_admitted(self, project_id: str, bidder_id: str) -> bool:
        """A6: a bidder may bid only with a confirmed deposit."""
        return await store.deposit_confirmed(self.conn, project_id, bidder_id)

    async def _save(
        self, deposit: Deposit, event: DepositEvent | None = None, **changes: Any
    ) -> Deposit:
        state = next_deposit_state(deposit.state, event) if event else deposit.state
        new = replace(deposit, state=state, version=deposit.version + 1, **changes)
        norm = normalize_bank_account(new.payer_account) if new.payer_account else None
        await store.save_deposit(
            self.conn,
            new,
            expected_version=deposit.version,
            at=self.now,
            payer_account_norm=norm or None,
        )
        return new

    # == reports ==============================================================================

    async def bank_movements(
        self, *, from_on: date | None = None, to_on: date | None = None
    ) -> list[BankMovement]:
        return await store.movements(self.conn, from_on=from_on, to_on=to_on)

    async def collusion_alerts(self, *, across_projects: bool = False) -> list[CollusionAlert]:
        return detect_collusion(
            await store.list_deposits(self.conn), across_projects=across_projects
        )

    async def refunds_due(self, on: date) -> list[Deposit]:
        """Deposits whose refund is still unpaid and due on or before ``on``."""
        return [
            d
            for d in await store.list_deposits(self.conn, state=DepositState.REFUND_PENDING.value)
            if d.refund_due_on is not None and d.refund_due_on <= on
        ]
