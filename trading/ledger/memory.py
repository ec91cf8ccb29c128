"""An in-memory deposit ledger: the reference implementation of every ledger operation.

A fake in the cosmicpython sense: it holds everything in dicts and lists, applies exactly
the rules of ``trading.ledger.rules``, and is what the PostgreSQL store is tested against
(a stateful test drives both with the same commands and compares them). It is also the
executable specification of the use cases the service will offer:

=========================  ==================================================================
operation                  effect
=========================  ==================================================================
create_accounts            accounts by id, idempotently
create_transfers           TigerBeetle-style batch: one ``TransferOutcome`` per transfer;
                           ``LINKED`` chains are all-or-nothing
register_project           deposit terms of a project (T14, A7 checked)
open_deposit               a bidder's deposit: its held account and virtual sub-account
receive_notification       a signed bank credit or reversal → confirm / suspense / reverse
confirm_guarantee          D7: a bank guarantee confirms without cash
request_refund             refund (+ interest) → a pending payout for the bank batch
confirm_payout             the bank paid (post) or rejected (void) a payout
reissue_payout             a new payout after the bank rejected one
request_forfeit            a pending forfeiture, waiting for a second approver
approve_forfeit            the second staff member posts it
reject_forfeit             the reservation is voided; the deposit is confirmed again
convert                    an auction winner's deposit becomes part of the price
return_suspense            money in suspense goes back to its payer
=========================  ==================================================================

Every use case is all-or-nothing: it checks, then commits one linked chain of transfers and
its state changes, or raises ``LedgerRejected`` having changed nothing. Use cases take a
client-chosen ``command_id``: the same command again returns the first answer; the same id
with other arguments is refused. Time comes in as ``at``; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from .errors import LedgerReason
from .model import (
    SYSTEM_ACCOUNTS,
    Account,
    AccountKind,
    AccountResult,
    BankMovement,
    BankNotification,
    CollusionAlert,
    Deposit,
    DepositEvent,
    DepositForm,
    DepositPolicy,
    DepositState,
    DepositTerms,
    ForfeitCause,
    ForfeitRequest,
    Guarantee,
    NotificationKind,
    NotificationOutcome,
    NotificationVerdict,
    Payout,
    PayoutPurpose,
    PayoutResult,
    PayoutState,
    Recorded,
    RefundCause,
    SuspenseItem,
    SuspenseState,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferOutcome,
    TransferResult,
    TrialBalance,
    WorkCalendar,
    deposit_account_id,
)
from .rules.dates import china_date
from .rules.lifecycle import (
    check_conversion,
    check_forfeit,
    check_guarantee,
    check_refund,
    check_second_approver,
    next_deposit_state,
)
from .rules.notifications import (
    check_sequence,
    classify_notification,
    classify_reversal,
    notification_problems,
    verify_notification,
)
from .rules.payers import detect_collusion
from .rules.refunds import SUSPENSE_RETURN_DAYS, refund_due_on, refund_plan, suspense_return_plan
from .rules.subaccounts import sub_account_number
from .rules.terms import check_deposit_terms
from .rules.transfers import (
    apply_transfer,
    post_of,
    trial_balance,
    validate_account,
    validate_transfer,
    void_of,
)
from .rules.values import is_valid_id, reason_for_result

__all__ = ["COMMAND_ID_MAX_LEN", "SUSPENSE_RETURN_DAYS", "MemoryLedger"]

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


class MemoryLedger:
    """The deposit ledger in memory. Not thread-safe; one instance per test or process."""

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

    # -- bank notifications --

    def receive_notification(
        self, n: BankNotification, signature: bytes, at: datetime
    ) -> NotificationOutcome:
        """A bank message about a sub-account, in this order: the signature verifies; it is
        well-formed; a movement already processed (same ``bank_ref``, same content) answers
        its first outcome (``replayed``) and changes nothing; its ``seq`` is the next one.
        Then a credit confirms a deposit or goes to suspense, and a reversal takes back
        the credit it names."""
        if not verify_notification(n, signature, self.bank_public_key):
            raise LedgerReason.NOTIFICATION_BAD_SIGNATURE.reject(str(n.bank_ref))
        problems = notification_problems(n)
        if problems:
            raise LedgerReason.NOTIFICATION_MALFORMED.reject("; ".join(problems), errors=problems)
        seen = self._notifications.get(n.bank_ref)
        if seen is not None:
            verdict, _ = classify_notification(n, seen=seen[0], terms=None, deposit=None)
            assert verdict is _V.DUPLICATE
            if n.seq == self._last_seq + 1:
                self._last_seq = n.seq  # the bank numbered this message: keep in step
            return replace(seen[1], replayed=True)
        refused = check_sequence(self._last_seq, n.seq)
        if refused is not None:
            raise refused.reject(f"seq {n.seq} after {self._last_seq}", last_seq=self._last_seq)
        if n.kind is NotificationKind.CREDIT:
            outcome = self._credit(n, at)
        else:
            outcome = self._reversal(n, at)
        self._notifications[n.bank_ref] = (n, outcome)
        self._last_seq = n.seq
        return outcome

    def _credit(self, n: BankNotification, at: datetime) -> NotificationOutcome:
        deposit = self.deposit_by_sub_account(n.sub_account)
        terms = self._projects.get(deposit.project_id) if deposit else None
        verdict, reason = classify_notification(n, seen=None, terms=terms, deposit=deposit)
        transfer_id = f"bn:{n.bank_ref}"
        if verdict is _V.CONFIRM:
            assert deposit is not None
            t = Transfer(
                transfer_id,
                _BANK,
                deposit.account_id,
                n.amount_fen,
                TransferCode.DEPOSIT_RECEIVED,
                reference=n.bank_ref,
            )
            self._commit([t], at)
            self._save(
                deposit,
                DepositEvent.CONFIRM,
                form=DepositForm.CASH,
                amount_fen=n.amount_fen,
                bank_ref=n.bank_ref,
                payer_account=n.payer_account,
                payer_name=n.payer_name,
                received_at=n.value_at,
            )
        else:
            assert verdict is _V.SUSPENSE and reason is not None
            t = Transfer(
                transfer_id,
                _BANK,
                _SUSPENSE,
                n.amount_fen,
                TransferCode.SUSPENSE_RECEIVED,
                reference=n.bank_ref,
            )
            self._commit([t], at)
            self._suspense[n.bank_ref] = SuspenseItem(
                n.bank_ref,
                reason,
                n.amount_fen,
                n.sub_account,
                n.payer_account,
                n.payer_name,
                n.value_at,
            )
        self._movements.append(
            BankMovement(transfer_id, n.bank_ref, n.amount_fen, china_date(n.value_at))
        )
        return NotificationOutcome(
            n.bank_ref,
            verdict,
            reason,
            deposit.project_id if deposit else None,
            deposit.bidder_id if deposit else None,
            transfer_id,
        )

    def _reversal(self, n: BankNotification, at: datetime) -> NotificationOutcome:
        assert n.reverses_ref is not None
        seen = self._notifications.get(n.reverses_ref)
        original = seen[0] if seen else None
        deposit = self.deposit_by_sub_account(original.sub_account) if original else None
        suspense = self._suspense.get(n.reverses_ref)
        verdict, detail = classify_reversal(
            n, original=original, deposit=deposit, suspense=suspense
        )
        transfer_id = f"bn:{n.bank_ref}"
        if verdict is _V.REVERSE_DEPOSIT:
            assert deposit is not None
            t = Transfer(
                transfer_id,
                deposit.account_id,
                _BANK,
                n.amount_fen,
                TransferCode.BANK_REVERSAL,
                reference=n.bank_ref,
            )
            self._commit([t], at)
            self._save(
                deposit,
                DepositEvent.REVERSE,
                form=None,
                amount_fen=0,
                bank_ref=None,
                payer_account=None,
                payer_name=None,
                received_at=None,
            )
        elif verdict is _V.REVERSE_SUSPENSE:
            assert suspense is not None
            t = Transfer(
                transfer_id,
                _SUSPENSE,
                _BANK,
                n.amount_fen,
                TransferCode.BANK_REVERSAL,
                reference=n.bank_ref,
            )
            self._commit([t], at)
            self._suspense[suspense.bank_ref] = replace(suspense, state=SuspenseState.REVERSED)
        else:
            return NotificationOutcome(n.bank_ref, verdict, detail=detail)
        self._movements.append(
            BankMovement(transfer_id, n.bank_ref, -n.amount_fen, china_date(n.value_at))
        )
        return NotificationOutcome(
            n.bank_ref,
            verdict,
            project_id=deposit.project_id if deposit and verdict is _V.REVERSE_DEPOSIT else None,
            bidder_id=deposit.bidder_id if deposit and verdict is _V.REVERSE_DEPOSIT else None,
            transfer_id=transfer_id,
        )

    def notification(self, bank_ref: str) -> NotificationOutcome | None:
        seen = self._notifications.get(bank_ref)
        return seen[1] if seen else None

    @property
    def last_seq(self) -> int:
        return self._last_seq

    # -- guarantees --

    def confirm_guarantee(
        self, project_id: str, bidder_id: str, guarantee: Guarantee, at: datetime
    ) -> Deposit:
        """D7: the guarantee confirms the deposit; no money moves (idempotent)."""
        deposit = self.deposit(project_id, bidder_id)
        if deposit.form is DepositForm.GUARANTEE and deposit.guarantee == guarantee:
            return deposit
        check_guarantee(self.terms(project_id), guarantee, at)
        if guarantee.ref in self._guarantees:
            raise LedgerReason.GUARANTEE_IN_USE.reject(guarantee.ref)
        new = self._save(
            deposit,
            DepositEvent.CONFIRM,
            form=DepositForm.GUARANTEE,
            amount_fen=guarantee.amount_fen,
            guarantee=guarantee,
        )
        self._guarantees[guarantee.ref] = (project_id, bidder_id)
        return new

    # -- refunds and payouts --

    def request_refund(
        self,
        command_id: str,
        project_id: str,
        bidder_id: str,
        cause: RefundCause,
        cause_at: datetime,
        at: datetime,
    ) -> Deposit:
        """Refund a confirmed deposit: D4 (withdrawn before the deadline), D5 (contract
        signed: with interest for the days held, from the value date of the deposit to the
        day of this decision, ``at``), A7 (auction lost). ``cause_at`` is when the cause
        happened (withdrawal, result, contract): the refund is due within the cause's days
        of it. Cash moves to refunds payable and a pending payout goes to the bank batch,
        to the account the deposit came from; a guarantee is released at once."""
        fingerprint = ("refund", project_id, bidder_id, cause, cause_at)
        done, answer = self._command(command_id, fingerprint)
        if done:
            return answer
        deposit = self.deposit(project_id, bidder_id)
        terms = self.terms(project_id)
        event = (
            DepositEvent.RELEASE
            if deposit.form is DepositForm.GUARANTEE
            else DepositEvent.REQUEST_REFUND
        )
        next_deposit_state(deposit.state, event)
        check_refund(terms, cause, cause_at)
        due_on = refund_due_on(cause, cause_at, self.calendar)
        if deposit.form is DepositForm.GUARANTEE:
            new = self._save(deposit, event, refund_cause=cause, refund_due_on=due_on)
            return self._remember(command_id, fingerprint, new)
        assert deposit.payer_account is not None
        transfers, interest = refund_plan(command_id, deposit, terms, cause, at)
        payout_id = transfers[-1].id
        self._commit(transfers, at)
        self._payouts[payout_id] = Payout(
            payout_id,
            PayoutPurpose.DEPOSIT_REFUND,
            deposit.payer_account,
            deposit.payer_name or "",
            deposit.amount_fen + interest,
            due_on,
            project_id=project_id,
            bidder_id=bidder_id,
        )
        new = self._save(
            deposit,
            event,
            refund_cause=cause,
            refund_due_on=due_on,
            interest_fen=interest,
            payout_id=payout_id,
        )
        return self._remember(command_id, fingerprint, new)

    def payout(self, payout_id: str) -> Payout:
        payout = _lookup(self._payouts, payout_id)
        if payout is None:
            raise LedgerReason.PAYOUT_NOT_FOUND.reject(str(payout_id))
        return payout

    def payouts(self, state: PayoutState | None = None) -> list[Payout]:
        """Payouts in the order they were made; ``PENDING`` ones make the next bank batch."""
        return [p for p in self._payouts.values() if state in (None, p.state)]

    def confirm_payout(self, result: PayoutResult, at: datetime) -> Payout:
        """The bank's answer to a payout: paid → the pending transfer is posted (the deposit
        is refunded, the suspense item returned); rejected → voided (the money is back in
        refunds payable, waiting for ``reissue_payout``). The same answer twice changes
        nothing; a different answer to a settled payout is refused."""
        payout = self.payout(result.payout_id)
        if not is_valid_id(result.bank_ref) or not isinstance(result.value_at, datetime):
            raise LedgerReason.INVALID_INPUT.reject("bank_ref or value_at", field="bank_ref")
        china_date(result.value_at)
        if payout.state is not PayoutState.PENDING:
            same = (payout.state is PayoutState.POSTED) == bool(result.ok) and (
                payout.bank_ref == result.bank_ref
            )
            if same:
                return payout
            raise LedgerReason.PAYOUT_ALREADY_SETTLED.reject(payout.id, state=payout.state.value)
        pending = self._by_id[payout.id].transfer
        if result.ok:
            self._commit([post_of(pending, f"{payout.id}/post", result.bank_ref)], at)
            new = replace(payout, state=PayoutState.POSTED, bank_ref=result.bank_ref)
            self._movements.append(
                BankMovement(
                    f"{payout.id}/post",
                    result.bank_ref,
                    -payout.amount_fen,
                    china_date(result.value_at),
                )
            )
        else:
            self._commit([void_of(pending, f"{payout.id}/void", result.bank_ref)], at)
            new = replace(payout, state=PayoutState.VOIDED, bank_ref=result.bank_ref)
        self._payouts[payout.id] = new
        self._after_payout(new, posted=bool(result.ok))
        return new

    def _after_payout(self, payout: Payout, *, posted: bool) -> None:
        if payout.purpose is PayoutPurpose.DEPOSIT_REFUND:
            assert payout.project_id is not None and payout.bidder_id is not None
            deposit = self.deposit(payout.project_id, payout.bidder_id)
            event = DepositEvent.PAYOUT_POSTED if posted else DepositEvent.PAYOUT_VOIDED
            self._save(deposit, event)
        elif posted:
            assert payout.source_ref is not None
            item = self._suspense[payout.source_ref]
            self._suspense[item.bank_ref] = replace(item, state=SuspenseState.RETURNED)

    def reissue_payout(
        self,
        command_id: str,
        payout_id: str,
        at: datetime,
        *,
        payee_account: str | None = None,
        payee_name: str | None = None,
    ) -> Payout:
        """A new pending payout for one the bank rejected, to the same payee unless a
        corrected account is given. The rejected one stays voided: the journal keeps both."""
        fingerprint = ("reissue", payout_id, payee_account, payee_name)
        done, answer = self._command(command_id, fingerprint)
        if done:
            return answer
        old = self.payout(payout_id)
        if old.state is not PayoutState.VOIDED:
            raise LedgerReason.PAYOUT_NOT_VOIDED.reject(payout_id, state=old.state.value)
        deposit = None
        if old.purpose is PayoutPurpose.DEPOSIT_REFUND:
            assert old.project_id is not None and old.bidder_id is not None
            deposit = self.deposit(old.project_id, old.bidder_id)
            current = deposit.payout_id
        else:
            assert old.source_ref is not None
            current = self._suspense[old.source_ref].payout_id
        if current != payout_id:
            raise LedgerReason.PAYOUT_ALREADY_SETTLED.reject(f"{payout_id} was reissued")
        if payee_account is not None and (
            not isinstance(payee_account, str) or not payee_account.strip()
        ):
            raise LedgerReason.INVALID_INPUT.reject("payee_account", field="payee_account")
        new_id = f"{command_id}/payout"
        pending = self._by_id[payout_id].transfer
        t = replace(pending, id=new_id, flags=TransferFlags.PENDING, reference=command_id)
        self._commit([t], at)
        new = replace(
            old,
            id=new_id,
            state=PayoutState.PENDING,
            bank_ref=None,
            payee_account=payee_account or old.payee_account,
            payee_name=payee_name if payee_name is not None else old.payee_name,
        )
        self._payouts[new_id] = new
        if deposit is not None:
            self._save(deposit, DepositEvent.PAYOUT_REISSUED, payout_id=new_id)
        else:
            assert old.source_ref is not None
            item = self._suspense[old.source_ref]
            self._suspense[item.bank_ref] = replace(item, payout_id=new_id)
        return self._remember(command_id, fingerprint, new)

    # -- forfeiture --

    def request_forfeit(
        self,
        command_id: str,
        project_id: str,
        bidder_id: str,
        cause: ForfeitCause,
        note: str,
        requested_by: str,
        cause_at: datetime,
        at: datetime,
    ) -> Deposit:
        """D6: one staff member asks, with the cause and a written reason. The held cash is
        reserved by a pending FORFEIT transfer, so nothing else can take it meanwhile."""
        fingerprint = ("forfeit", project_id, bidder_id, cause, note, requested_by, cause_at)
        done, answer = self._command(command_id, fingerprint)
        if done:
            return answer
        deposit = self.deposit(project_id, bidder_id)
        next_deposit_state(deposit.state, DepositEvent.REQUEST_FORFEIT)
        check_forfeit(self.terms(project_id), cause, note, cause_at)
        if not is_valid_id(requested_by):
            raise LedgerReason.ID_INVALID.reject("requested_by", field="requested_by")
        transfer_id = None
        if deposit.form is DepositForm.CASH:
            transfer_id = f"{command_id}/forfeit"
            t = Transfer(
                transfer_id,
                deposit.account_id,
                _FORFEITED,
                deposit.amount_fen,
                TransferCode.FORFEIT,
                TransferFlags.PENDING,
                reference=command_id,
            )
            self._commit([t], at)
        request = ForfeitRequest(command_id, cause, note, requested_by, at, transfer_id)
        new = self._save(deposit, DepositEvent.REQUEST_FORFEIT, forfeit=request)
        return self._remember(command_id, fingerprint, new)

    def approve_forfeit(
        self, command_id: str, project_id: str, bidder_id: str, approved_by: str, at: datetime
    ) -> Deposit:
        """D6: a second staff member approves; the forfeiture is posted. The requester's own
        approval, or none, is refused."""
        fingerprint = ("approve_forfeit", project_id, bidder_id, approved_by)
        done, answer = self._command(command_id, fingerprint)
        if done:
            return answer
        deposit = self.deposit(project_id, bidder_id)
        next_deposit_state(deposit.state, DepositEvent.APPROVE_FORFEIT)
        request = deposit.forfeit
        assert request is not None
        check_second_approver(request.requested_by, approved_by)
        if request.transfer_id is not None:
            pending = self._by_id[request.transfer_id].transfer
            self._commit([post_of(pending, f"{request.transfer_id}/post", command_id)], at)
        new = self._save(
            deposit,
            DepositEvent.APPROVE_FORFEIT,
            forfeit=replace(request, approved_by=approved_by),
        )
        return self._remember(command_id, fingerprint, new)

    def reject_forfeit(
        self, command_id: str, project_id: str, bidder_id: str, rejected_by: str, at: datetime
    ) -> Deposit:
        """The forfeiture is not approved: the reservation is voided, the deposit is
        confirmed again (and may be refunded)."""
        fingerprint = ("reject_forfeit", project_id, bidder_id, rejected_by)
        done, answer = self._command(command_id, fingerprint)
        if done:
            return answer
        deposit = self.deposit(project_id, bidder_id)
        next_deposit_state(deposit.state, DepositEvent.REJECT_FORFEIT)
        if not is_valid_id(rejected_by):
            raise LedgerReason.ID_INVALID.reject("rejected_by", field="rejected_by")
        request = deposit.forfeit
        assert request is not None
        if request.transfer_id is not None:
            pending = self._by_id[request.transfer_id].transfer
            self._commit([void_of(pending, f"{request.transfer_id}/void", command_id)], at)
        new = self._save(deposit, DepositEvent.REJECT_FORFEIT, forfeit=None)
        return self._remember(command_id, fingerprint, new)

    # -- conversion --

    def convert(self, command_id: str, project_id: str, bidder_id: str, at: datetime) -> Deposit:
        """A7: the auction winner's deposit becomes part of the price."""
        fingerprint = ("convert", project_id, bidder_id)
        done, answer = self._command(command_id, fingerprint)
        if done:
            return answer
        deposit = self.deposit(project_id, bidder_id)
        next_deposit_state(deposit.state, DepositEvent.CONVERT)
        check_conversion(self.terms(project_id), deposit)
        t = Transfer(
            f"{command_id}/conversion",
            deposit.account_id,
            _PRICE,
            deposit.amount_fen,
            TransferCode.CONVERSION,
            reference=command_id,
        )
        self._commit([t], at)
        new = self._save(deposit, DepositEvent.CONVERT)
        return self._remember(command_id, fingerprint, new)

    # -- suspense --

    def suspense_items(self, state: SuspenseState | None = None) -> list[SuspenseItem]:
        return [s for s in self._suspense.values() if state in (None, s.state)]

    def return_suspense(self, command_id: str, bank_ref: str, at: datetime) -> Payout:
        """Send money that matched nothing back to its payer within 5 days."""
        fingerprint = ("return_suspense", bank_ref)
        done, answer = self._command(command_id, fingerprint)
        if done:
            return answer
        item = _lookup(self._suspense, bank_ref)
        if item is None or item.state is not SuspenseState.OPEN:
            raise LedgerReason.SUSPENSE_ITEM_NOT_FOUND.reject(str(bank_ref))
        transfers, payout = suspense_return_plan(command_id, item, at)
        payout_id = payout.id
        self._commit(transfers, at)
        self._payouts[payout_id] = payout
        self._suspense[bank_ref] = replace(
            item, state=SuspenseState.RETURN_PENDING, payout_id=payout_id
        )
        return self._remember(command_id, fingerprint, payout)

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
