"""The in-memory ledger's state and core: accounts, the journal and linked chains of
transfers, command ids, projects and deposits, and the reports read from them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from ..errors import LedgerReason
from ..model import (
    SYSTEM_ACCOUNTS,
    Account,
    AccountKind,
    AccountResult,
    BankMovement,
    BankNotification,
    CollusionAlert,
    Deposit,
    DepositEvent,
    DepositPolicy,
    DepositState,
    DepositTerms,
    NotificationOutcome,
    NotificationVerdict,
    Payout,
    Recorded,
    SuspenseItem,
    Transfer,
    TransferFlags,
    TransferOutcome,
    TransferResult,
    TrialBalance,
    WorkCalendar,
    deposit_account_id,
)
from ..rules.lifecycle import next_deposit_state
from ..rules.payers import detect_collusion
from ..rules.subaccounts import sub_account_number
from ..rules.terms import check_deposit_terms
from ..rules.transfers import apply_transfer, trial_balance, validate_account, validate_transfer
from ..rules.values import is_valid_id, reason_for_result

__all__ = ["COMMAND_ID_MAX_LEN", "LedgerCore"]

COMMAND_ID_MAX_LEN = 100
"""Leaves room for the suffixes that name a command's transfers (``<command>/payout``)."""


_BANK = SYSTEM_ACCOUNTS[AccountKind.BANK]
_SUSPENSE = SYSTEM_ACCOUNTS[AccountKind.SUSPENSE]
_PAYABLE = SYSTEM_ACCOUNTS[AccountKind.REFUNDS_PAYABLE]
_FORFEITED = SYSTEM_ACCOUNTS[AccountKind.FORFEITED]
_PRICE = SYSTEM_ACCOUNTS[AccountKind.PRICE_RECEIVABLE]
_INTEREST = SYSTEM_ACCOUNTS[AccountKind.INTEREST_EXPENSE]

_LINKED = TransferFlags.LINKED
_R = TransferResult
_V = NotificationVerdict

_Key = tuple[str, str]  # (project_id, bidder_id)


def _lookup(table: dict[str, Any], key: object) -> Any:
    return table.get(key) if isinstance(key, str) else None


def _chain(transfers: Sequence[Transfer]) -> list[Transfer]:
    """Link every transfer to the next: the last one closes the chain."""
    last = len(transfers) - 1
    return [replace(t, flags=t.flags | _LINKED) if i < last else t for i, t in enumerate(transfers)]


class LedgerCore:
    """The state of the in-memory ledger and what every operation builds on: the
    double-entry core, command ids, projects and deposits, the reports."""

    def __init__(
        self,
        *,
        bank_public_key: bytes,
        calendar: WorkCalendar | None = None,
        policy: DepositPolicy | None = None,
        sub_account_prefix: str = "",
        last_seq: int = 0,
    ) -> None:
        self.bank_public_key = bank_public_key
        self.calendar = calendar or WorkCalendar()
        self.policy = policy or DepositPolicy()
        self.sub_account_prefix = sub_account_prefix
        # the double-entry core
        self._accounts: dict[str, Account] = {}
        self._journal: list[Recorded] = []
        self._by_id: dict[str, Recorded] = {}
        self._failed: dict[str, tuple[Transfer, TransferResult]] = {}
        self._resolution: dict[str, Transfer] = {}
        # deposits
        self._projects: dict[str, DepositTerms] = {}
        self._project_nos: dict[int, str] = {}
        self._deposits: dict[_Key, Deposit] = {}
        self._bidder_nos: dict[tuple[str, int], str] = {}
        self._by_sub_account: dict[str, _Key] = {}
        self._guarantees: dict[str, _Key] = {}
        # bank
        self._last_seq = last_seq
        self._notifications: dict[str, tuple[BankNotification, NotificationOutcome]] = {}
        self._suspense: dict[str, SuspenseItem] = {}
        self._payouts: dict[str, Payout] = {}
        self._movements: list[BankMovement] = []
        self._commands: dict[str, tuple[tuple[Any, ...], Any]] = {}
        results = self.create_accounts([Account(i, k) for k, i in SYSTEM_ACCOUNTS.items()])
        assert all(r is AccountResult.OK for r in results)

    # == the double-entry core ===============================================================

    def create_accounts(self, accounts: Iterable[Account]) -> list[AccountResult]:
        out = []
        for a in accounts:
            result = validate_account(a, _lookup(self._accounts, a.id))
            if result is AccountResult.OK:
                self._accounts[a.id] = a
            out.append(result)
        return out

    def create_transfers(
        self, transfers: Sequence[Transfer], at: datetime
    ) -> list[TransferOutcome]:
        """One outcome per transfer, in order. A chain of ``LINKED`` transfers (closed by one
        without the flag) is applied whole or not at all: on a failure, the failing transfer
        gets its code and the others ``LINKED_EVENT_FAILED``. A transfer whose id is known
        with the same content answers its first result (``replayed``) and changes nothing."""
        n = len(transfers)
        out: list[TransferOutcome | None] = [None] * n
        i = 0
        while i < n:
            j = i
            while j < n and self._is_linked(transfers[j]):
                j += 1
            if j == n:  # the last transfer is linked: the chain is never closed
                for k in range(i, n):
                    out[k] = TransferOutcome(str(transfers[k].id), _R.LINKED_EVENT_FAILED)
                out[n - 1] = TransferOutcome(str(transfers[n - 1].id), _R.LINKED_EVENT_CHAIN_OPEN)
                break
            undo: list[tuple[str, str, Any]] = []
            failed_at = None
            for k in range(i, j + 1):
                outcome = self._create_one(transfers[k], at, undo)
                out[k] = outcome
                if not outcome.ok:
                    failed_at = k
                    break
            if failed_at is not None:
                self._undo(undo)
                for k in range(i, j + 1):
                    if k != failed_at:
                        out[k] = TransferOutcome(str(transfers[k].id), _R.LINKED_EVENT_FAILED)
                failed = out[failed_at]
                assert failed is not None
                if failed.result.is_transient and not failed.replayed:
                    self._failed[transfers[failed_at].id] = (transfers[failed_at], failed.result)
            i = j + 1
        return [o for o in out if o is not None]

    @staticmethod
    def _is_linked(t: Transfer) -> bool:
        return isinstance(t.flags, TransferFlags) and _LINKED in t.flags

    def _create_one(
        self, t: Transfer, at: datetime, undo: list[tuple[str, str, Any]]
    ) -> TransferOutcome:
        recorded = _lookup(self._by_id, t.id)
        failed = _lookup(self._failed, t.id)
        prior = recorded.transfer if recorded else (failed[0] if failed else None)
        pending_rec = _lookup(self._by_id, t.pending_id)
        debit = _lookup(self._accounts, t.debit_account_id)
        credit = _lookup(self._accounts, t.credit_account_id)
        result = validate_transfer(
            t,
            prior=prior,
            debit=debit,
            credit=credit,
            pending=pending_rec.transfer if pending_rec else None,
            pending_resolution=_lookup(self._resolution, t.pending_id),
        )
        if result is _R.EXISTS:
            first = _R.OK if recorded else failed[1]
            return TransferOutcome(t.id, first, replayed=True)
        if result is not _R.OK:
            return TransferOutcome(str(t.id), result)
        new_debit, new_credit = apply_transfer(
            t, debit, credit, pending_rec.transfer if pending_rec else None
        )
        undo.append(("account", debit.id, debit))
        undo.append(("account", credit.id, credit))
        self._accounts[debit.id] = new_debit
        self._accounts[credit.id] = new_credit
        rec = Recorded(t, len(self._journal) + 1, at)
        self._journal.append(rec)
        self._by_id[t.id] = rec
        undo.append(("journal", t.id, None))
        if t.pending_id is not None:
            self._resolution[t.pending_id] = t
            undo.append(("resolution", t.pending_id, None))
        return TransferOutcome(t.id, _R.OK)

    def _undo(self, undo: list[tuple[str, str, Any]]) -> None:
        for what, key, old in reversed(undo):
            if what == "account":
                self._accounts[key] = old
            elif what == "journal":
                rec = self._journal.pop()
                assert rec.transfer.id == key
                del self._by_id[key]
            else:
                del self._resolution[key]

    def _commit(self, transfers: Sequence[Transfer], at: datetime) -> None:
        """Apply a use case's transfers as one chain, or raise having changed nothing."""
        if not transfers:
            return
        outcomes = self.create_transfers(_chain(transfers), at)
        for o in outcomes:
            if not o.ok and o.result is not _R.LINKED_EVENT_FAILED:
                raise reason_for_result(o.result).reject(
                    f"transfer {o.id}: {o.result.value}", transfer_id=o.id, result=o.result.value
                )
        assert all(o.ok for o in outcomes)

    # -- reads --

    def account(self, account_id: str) -> Account | None:
        return _lookup(self._accounts, account_id)

    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def transfer(self, transfer_id: str) -> Recorded | None:
        return _lookup(self._by_id, transfer_id)

    def journal(self) -> list[Recorded]:
        """Every accepted transfer in commit order."""
        return list(self._journal)

    def first_result(self, transfer_id: str) -> TransferResult | None:
        """What the id answered first: OK, a recorded failure, or None if never seen."""
        if transfer_id in self._by_id:
            return _R.OK
        failed = self._failed.get(transfer_id)
        return failed[1] if failed else None

    def resolution(self, pending_id: str) -> Transfer | None:
        """The post or void of a pending transfer, if any."""
        return self._resolution.get(pending_id)

    def trial_balance(self) -> TrialBalance:
        return trial_balance(self._accounts.values())

    # == deposits =============================================================================

    def _command(self, command_id: str, fingerprint: tuple[Any, ...]) -> tuple[bool, Any]:
        """(True, first answer) when this command ran before; refuses a reused id."""
        if not is_valid_id(command_id) or len(command_id) > COMMAND_ID_MAX_LEN:
            raise LedgerReason.ID_INVALID.reject("command_id", field="command_id")
        seen = self._commands.get(command_id)
        if seen is None:
            return False, None
        if seen[0] != fingerprint:
            raise LedgerReason.COMMAND_ID_REUSED.reject(command_id, command_id=command_id)
        return True, seen[1]

    def _remember(self, command_id: str, fingerprint: tuple[Any, ...], answer: Any) -> Any:
        self._commands[command_id] = (fingerprint, answer)
        return answer

    def register_project(self, terms: DepositTerms) -> DepositTerms:
        """Record a project's deposit terms (idempotent; other values are refused)."""
        check_deposit_terms(terms, self.policy)
        known = self._projects.get(terms.project_id)
        if known is not None:
            if known != terms:
                raise LedgerReason.PROJECT_CONFLICT.reject(terms.project_id)
            return known
        if terms.project_no in self._project_nos:
            raise LedgerReason.PROJECT_CONFLICT.reject(
                f"project_no {terms.project_no} is taken", project_no=terms.project_no
            )
        self._projects[terms.project_id] = terms
        self._project_nos[terms.project_no] = terms.project_id
        return terms

    def terms(self, project_id: str) -> DepositTerms:
        terms = _lookup(self._projects, project_id)
        if terms is None:
            raise LedgerReason.PROJECT_NOT_FOUND.reject(str(project_id))
        return terms

    def open_deposit(self, project_id: str, bidder_id: str, bidder_no: int) -> Deposit:
        """The bidder's deposit in the project, awaiting money, with its sub-account
        (idempotent; ``bidder_no`` is unique within the project)."""
        terms = self.terms(project_id)
        if not is_valid_id(bidder_id):
            raise LedgerReason.ID_INVALID.reject("bidder_id", field="bidder_id")
        key = (project_id, bidder_id)
        known = self._deposits.get(key)
        if known is not None:
            if known.bidder_no != bidder_no:
                raise LedgerReason.DEPOSIT_CONFLICT.reject(f"bidder_no {bidder_no}")
            return known
        if self._bidder_nos.get((project_id, bidder_no)) not in (None, bidder_id):
            raise LedgerReason.DEPOSIT_CONFLICT.reject(f"bidder_no {bidder_no} is taken")
        number = sub_account_number(terms.project_no, bidder_no, prefix=self.sub_account_prefix)
        account_id = deposit_account_id(project_id, bidder_id)
        if not is_valid_id(account_id):
            raise LedgerReason.ID_INVALID.reject("project_id and bidder_id are too long")
        assert number not in self._by_sub_account, "sub-account numbers are injective"
        [result] = self.create_accounts(
            [Account(account_id, AccountKind.DEPOSIT_HELD, project_id, bidder_id)]
        )
        assert result is AccountResult.OK, result
        deposit = Deposit(project_id, bidder_id, bidder_no, number, account_id)
        self._deposits[key] = deposit
        self._bidder_nos[(project_id, bidder_no)] = bidder_id
        self._by_sub_account[number] = key
        return deposit

    def deposit(self, project_id: str, bidder_id: str) -> Deposit:
        deposit = self._deposits.get((project_id, bidder_id))
        if deposit is None:
            raise LedgerReason.DEPOSIT_NOT_FOUND.reject(f"{bidder_id} in {project_id}")
        return deposit

    def deposits(self, project_id: str | None = None) -> list[Deposit]:
        return [d for d in self._deposits.values() if project_id in (None, d.project_id)]

    def deposit_by_sub_account(self, sub_account: str) -> Deposit | None:
        key = _lookup(self._by_sub_account, sub_account)
        return self._deposits[key] if key else None

    def is_admitted(self, project_id: str, bidder_id: str) -> bool:
        """A6: a bidder may bid only with a confirmed deposit."""
        deposit = self._deposits.get((project_id, bidder_id))
        return deposit is not None and deposit.state is DepositState.CONFIRMED

    def _save(self, deposit: Deposit, event: DepositEvent | None = None, **changes: Any) -> Deposit:
        state = next_deposit_state(deposit.state, event) if event else deposit.state
        new = replace(deposit, state=state, version=deposit.version + 1, **changes)
        self._deposits[(deposit.project_id, deposit.bidder_id)] = new
        return new

    # -- reports --

    def bank_movements(self) -> list[BankMovement]:
        """Every posted movement of the bank account, for reconciliation."""
        return list(self._movements)

    def collusion_alerts(self, *, across_projects: bool = False) -> list[CollusionAlert]:
        return detect_collusion(self._deposits.values(), across_projects=across_projects)

    def refunds_due(self, on: date) -> list[Deposit]:
        """Deposits whose refund is still unpaid and due on or before ``on``."""
        return [
            d
            for d in self._deposits.values()
            if d.state is DepositState.REFUND_PENDING
            and d.refund_due_on is not None
            and d.refund_due_on <= on
        ]
