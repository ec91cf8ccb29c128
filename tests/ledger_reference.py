"""The reference ledger the tests compare PostgreSQL against: rows in plain dictionaries.

Each operation loads from the dictionaries what the PostgreSQL use case loads under lock,
decides with the same pure function (``trading.ledger.rules.decisions``) and applies the
``Effects`` to the dictionaries. Transfers are decided here one at a time, with an undo list
for a linked chain — independently of ``trading.ledger.batch``, which decides a whole batch
on a loaded view and is held to this (``tests/unit/test_ledger_batch.py``). Not thread-safe;
one instance per test. Why the reference is this small: see ``trading.ledger``'s docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from trading.ledger.errors import LedgerReason
from trading.ledger.model import (
    SYSTEM_ACCOUNTS,
    Account,
    AccountKind,
    AccountResult,
    BankMovement,
    BankNotification,
    CollusionAlert,
    Deposit,
    DepositPolicy,
    DepositState,
    DepositTerms,
    ForfeitCause,
    Guarantee,
    NotificationKind,
    NotificationOutcome,
    NotificationVerdict,
    Payout,
    PayoutResult,
    PayoutState,
    Recorded,
    RefundCause,
    SuspenseItem,
    SuspenseState,
    Transfer,
    TransferFlags,
    TransferOutcome,
    TransferResult,
    TrialBalance,
    WorkCalendar,
)
from trading.ledger.rules import decisions as decide
from trading.ledger.rules.decisions import Effects
from trading.ledger.rules.notifications import (
    check_sequence,
    classify_notification,
    notification_problems,
    verify_notification,
)
from trading.ledger.rules.payers import detect_collusion
from trading.ledger.rules.terms import check_deposit_terms
from trading.ledger.rules.transfers import (
    apply_transfer,
    trial_balance,
    validate_account,
    validate_transfer,
)
from trading.ledger.rules.values import is_valid_id, reason_for_result
from trading.ledger.service.context import COMMAND_ID_MAX_LEN

_R = TransferResult
_LINKED = TransferFlags.LINKED


def _get(table: dict[Any, Any], key: object) -> Any:
    return table.get(key) if isinstance(key, str) else None


class ReferenceLedger:
    """Every ledger operation of ``trading.ledger.service`` (the ledger's part, without audit),
    synchronous, on dictionaries."""

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
        self.last_seq = last_seq
        self._accounts: dict[str, Account] = {}
        self._journal: list[Recorded] = []
        self._by_id: dict[str, Recorded] = {}
        self._failed: dict[str, tuple[Transfer, TransferResult]] = {}
        self._resolution: dict[str, Transfer] = {}
        self._projects: dict[str, DepositTerms] = {}
        self._deposits: dict[tuple[str, str], Deposit] = {}
        self._guarantees: dict[str, tuple[str, str]] = {}
        self._notifications: dict[str, tuple[BankNotification, NotificationOutcome]] = {}
        self._suspense: dict[str, SuspenseItem] = {}
        self._payouts: dict[str, Payout] = {}
        self._movements: list[BankMovement] = []
        self._commands: dict[str, tuple[tuple[Any, ...], Any]] = {}
        results = self.create_accounts([Account(i, k) for k, i in SYSTEM_ACCOUNTS.items()])
        assert all(r is AccountResult.OK for r in results)

    # == accounts and transfers ===============================================================

    def create_accounts(self, accounts: Iterable[Account]) -> list[AccountResult]:
        out = []
        for a in accounts:
            result = validate_account(a, _get(self._accounts, a.id))
            if result is AccountResult.OK:
                self._accounts[a.id] = a
            out.append(result)
        return out

    def create_transfers(
        self, transfers: Sequence[Transfer], at: datetime
    ) -> list[TransferOutcome]:
        """One outcome per transfer, in order; a ``LINKED`` chain all or nothing; a known id
        with the same content answers its first result (``replayed``)."""
        n = len(transfers)
        out: list[TransferOutcome | None] = [None] * n
        i = 0
        while i < n:
            j = i
            while (
                j < n
                and isinstance(transfers[j].flags, TransferFlags)
                and (_LINKED in transfers[j].flags)
            ):
                j += 1
            if j == n:  # the last transfer is linked: the chain is never closed
                for k in range(i, n):
                    out[k] = TransferOutcome(str(transfers[k].id), _R.LINKED_EVENT_FAILED)
                out[n - 1] = TransferOutcome(str(transfers[n - 1].id), _R.LINKED_EVENT_CHAIN_OPEN)
                break
            undo: list[tuple[str, str, Any]] = []
            failed_at = None
            for k in range(i, j + 1):
                out[k] = self._create_one(transfers[k], at, undo)
                if not out[k].ok:  # type: ignore[union-attr]
                    failed_at = k
                    break
            if failed_at is not None:
                for what, key, old in reversed(undo):
                    if what == "account":
                        self._accounts[key] = old
                    elif what == "journal":
                        del self._by_id[self._journal.pop().transfer.id]
                    else:
                        del self._resolution[key]
                for k in range(i, j + 1):
                    if k != failed_at:
                        out[k] = TransferOutcome(str(transfers[k].id), _R.LINKED_EVENT_FAILED)
                bad = out[failed_at]
                assert bad is not None
                if bad.result.is_transient and not bad.replayed:
                    self._failed[transfers[failed_at].id] = (transfers[failed_at], bad.result)
            i = j + 1
        return [o for o in out if o is not None]

    def _create_one(
        self, t: Transfer, at: datetime, undo: list[tuple[str, str, Any]]
    ) -> TransferOutcome:
        recorded = _get(self._by_id, t.id)
        failed = _get(self._failed, t.id)
        pending = _get(self._by_id, t.pending_id)
        debit = _get(self._accounts, t.debit_account_id)
        credit = _get(self._accounts, t.credit_account_id)
        result = validate_transfer(
            t,
            prior=recorded.transfer if recorded else (failed[0] if failed else None),
            debit=debit,
            credit=credit,
            pending=pending.transfer if pending else None,
            pending_resolution=_get(self._resolution, t.pending_id),
        )
        if result is _R.EXISTS:
            return TransferOutcome(t.id, _R.OK if recorded else failed[1], replayed=True)
        if result is not _R.OK:
            return TransferOutcome(str(t.id), result)
        undo += [("account", debit.id, debit), ("account", credit.id, credit)]
        self._accounts[debit.id], self._accounts[credit.id] = apply_transfer(
            t, debit, credit, pending.transfer if pending else None
        )
        rec = Recorded(t, len(self._journal) + 1, at)
        self._journal.append(rec)
        self._by_id[t.id] = rec
        undo.append(("journal", t.id, None))
        if t.pending_id is not None:
            self._resolution[t.pending_id] = t
            undo.append(("resolution", t.pending_id, None))
        return TransferOutcome(t.id, _R.OK)

    def account(self, account_id: str) -> Account | None:
        return _get(self._accounts, account_id)

    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def transfer(self, transfer_id: str) -> Recorded | None:
        return _get(self._by_id, transfer_id)

    def journal(self) -> list[Recorded]:
        return list(self._journal)

    def resolution(self, pending_id: str) -> Transfer | None:
        return self._resolution.get(pending_id)

    def trial_balance(self) -> TrialBalance:
        return trial_balance(self._accounts.values())

    # == writing effects, command ids =========================================================

    def _write(self, effects: Effects, at: datetime) -> None:
        if effects.transfers:
            last = len(effects.transfers) - 1
            chain = [
                replace(t, flags=t.flags | _LINKED) if k < last else t
                for k, t in enumerate(effects.transfers)
            ]
            for o in self.create_transfers(chain, at):
                if not o.ok and o.result is not _R.LINKED_EVENT_FAILED:
                    raise reason_for_result(o.result).reject(
                        f"transfer {o.id}: {o.result.value}",
                        transfer_id=o.id,
                        result=o.result.value,
                    )
        if effects.movement is not None:
            self._movements.append(effects.movement)
        for p in (effects.payout, effects.settled):
            if p is not None:
                self._payouts[p.id] = p
        for s in (effects.suspense, effects.suspense_update):
            if s is not None:
                self._suspense[s.bank_ref] = s
        d = effects.deposit
        if d is not None:
            key = (d.project_id, d.bidder_id)
            assert self._deposits[key].version == d.version - 1, "a lost update"
            self._deposits[key] = d
            if effects.guarantee is not None:
                self._guarantees[effects.guarantee.ref] = key

    def _command(self, command_id: str, fingerprint: tuple[Any, ...]) -> tuple[bool, Any]:
        if not is_valid_id(command_id) or len(command_id) > COMMAND_ID_MAX_LEN:
            raise LedgerReason.ID_INVALID.reject("command_id", field="command_id")
        seen = self._commands.get(command_id)
        if seen is None:
            return False, None
        if seen[0] != fingerprint:
            raise LedgerReason.COMMAND_ID_REUSED.reject(command_id, command_id=command_id)
        return True, seen[1]

    def _run(
        self, command_id: str, fingerprint: tuple[Any, ...], at: datetime, decided: Any, answer: Any
    ) -> Any:
        """A command: the first answer again, or decide (``decided()``), write, remember."""
        done, first = self._command(command_id, fingerprint)
        if done:
            return first
        effects = decided()
        self._write(effects, at)
        self._commands[command_id] = (fingerprint, answer(effects))
        return self._commands[command_id][1]

    # == projects and deposits ================================================================

    def register_project(self, terms: DepositTerms) -> DepositTerms:
        check_deposit_terms(terms, self.policy)
        known = self._projects.get(terms.project_id)
        if known is not None:
            if known != terms:
                raise LedgerReason.PROJECT_CONFLICT.reject(terms.project_id)
            return known
        if any(t.project_no == terms.project_no for t in self._projects.values()):
            raise LedgerReason.PROJECT_CONFLICT.reject(f"project_no {terms.project_no} is taken")
        self._projects[terms.project_id] = terms
        return terms

    def terms(self, project_id: str) -> DepositTerms:
        terms = _get(self._projects, project_id)
        if terms is None:
            raise LedgerReason.PROJECT_NOT_FOUND.reject(str(project_id))
        return terms

    def open_deposit(self, project_id: str, bidder_id: str, bidder_no: int) -> Deposit:
        terms = self.terms(project_id)
        owner = None
        if isinstance(bidder_no, int) and not isinstance(bidder_no, bool):
            owner = next(
                (d.bidder_id for d in self.deposits(project_id) if d.bidder_no == bidder_no), None
            )
        deposit, new = decide.decide_new_deposit(
            terms,
            bidder_id,
            bidder_no,
            known=self._deposits.get((project_id, bidder_id)),
            owner=owner,
            prefix=self.sub_account_prefix,
        )
        if new:
            assert self.deposit_by_sub_account(deposit.sub_account) is None, "injective numbers"
            account = Account(deposit.account_id, AccountKind.DEPOSIT_HELD, project_id, bidder_id)
            [result] = self.create_accounts([account])
            assert result is AccountResult.OK, result
            self._deposits[(project_id, bidder_id)] = deposit
        return deposit

    def deposit(self, project_id: str, bidder_id: str) -> Deposit:
        deposit = None
        if isinstance(project_id, str) and isinstance(bidder_id, str):
            deposit = self._deposits.get((project_id, bidder_id))
        if deposit is None:
            raise LedgerReason.DEPOSIT_NOT_FOUND.reject(f"{bidder_id} in {project_id}")
        return deposit

    def deposits(self, project_id: str | None = None) -> list[Deposit]:
        return [d for d in self._deposits.values() if project_id in (None, d.project_id)]

    def deposit_by_sub_account(self, sub_account: str) -> Deposit | None:
        return next((d for d in self._deposits.values() if d.sub_account == sub_account), None)

    def is_admitted(self, project_id: str, bidder_id: str) -> bool:
        deposit = self._deposits.get((project_id, bidder_id))
        return deposit is not None and deposit.state is DepositState.CONFIRMED

    def bank_movements(self) -> list[BankMovement]:
        return list(self._movements)

    def collusion_alerts(self, *, across_projects: bool = False) -> list[CollusionAlert]:
        return detect_collusion(self._deposits.values(), across_projects=across_projects)

    def refunds_due(self, on: date) -> list[Deposit]:
        return [
            d
            for d in self._deposits.values()
            if d.state is DepositState.REFUND_PENDING
            and d.refund_due_on is not None
            and d.refund_due_on <= on
        ]

    def confirm_guarantee(
        self, project_id: str, bidder_id: str, guarantee: Guarantee, at: datetime
    ) -> Deposit:
        deposit = self.deposit(project_id, bidder_id)
        in_use = _get(self._guarantees, getattr(guarantee, "ref", None)) is not None
        effects = decide.decide_guarantee(
            deposit, self.terms(project_id), guarantee, at, in_use=in_use
        )
        self._write(effects, at)
        return effects.deposit or deposit

    # == bank notifications ===================================================================

    def receive_notification(
        self, n: BankNotification, signature: bytes, at: datetime
    ) -> NotificationOutcome:
        if not verify_notification(n, signature, self.bank_public_key):
            raise LedgerReason.NOTIFICATION_BAD_SIGNATURE.reject(str(n.bank_ref))
        problems = notification_problems(n)
        if problems:
            raise LedgerReason.NOTIFICATION_MALFORMED.reject("; ".join(problems), errors=problems)
        seen = self._notifications.get(n.bank_ref)
        if seen is not None:
            verdict, _ = classify_notification(n, seen=seen[0], terms=None, deposit=None)
            assert verdict is NotificationVerdict.DUPLICATE
            if n.seq == self.last_seq + 1:
                self.last_seq = n.seq
            return replace(seen[1], replayed=True)
        refused = check_sequence(self.last_seq, n.seq)
        if refused is not None:
            raise refused.reject(f"seq {n.seq} after {self.last_seq}", last_seq=self.last_seq)
        if n.kind is NotificationKind.CREDIT:
            deposit = self.deposit_by_sub_account(n.sub_account)
            terms = self._projects.get(deposit.project_id) if deposit else None
            held = self._suspense.get(n.bank_ref)
            effects, outcome = decide.decide_credit(n, deposit=deposit, terms=terms, held=held)
        else:
            was = self._notifications.get(n.reverses_ref)  # type: ignore[arg-type]
            original = was[0] if was else None
            effects, outcome = decide.decide_reversal(
                n,
                original=original,
                deposit=self.deposit_by_sub_account(original.sub_account) if original else None,
                suspense=self._suspense.get(n.reverses_ref),  # type: ignore[arg-type]
            )
        self._write(effects, at)
        self._notifications[n.bank_ref] = (n, outcome)
        self.last_seq = n.seq
        return outcome

    def notification(self, bank_ref: str) -> NotificationOutcome | None:
        seen = self._notifications.get(bank_ref)
        return seen[1] if seen else None

    # == refunds, payouts, suspense ===========================================================

    def request_refund(
        self,
        command_id: str,
        project_id: str,
        bidder_id: str,
        cause: RefundCause,
        cause_at: datetime,
        at: datetime,
    ) -> Deposit:
        return self._run(  # type: ignore[no-any-return]
            command_id,
            ("refund", project_id, bidder_id, cause, cause_at),
            at,
            lambda: decide.decide_refund(
                command_id,
                self.deposit(project_id, bidder_id),
                self.terms(project_id),
                cause,
                cause_at,
                at,
                self.calendar,
            ),
            lambda e: e.deposit,
        )

    def payout(self, payout_id: str) -> Payout:
        payout = _get(self._payouts, payout_id)
        if payout is None:
            raise LedgerReason.PAYOUT_NOT_FOUND.reject(str(payout_id))
        return payout

    def payouts(self, state: PayoutState | None = None) -> list[Payout]:
        return [p for p in self._payouts.values() if state in (None, p.state)]

    def _paid_back(self, payout: Payout) -> tuple[Deposit | None, SuspenseItem | None]:
        if payout.project_id is not None and payout.bidder_id is not None:
            return self.deposit(payout.project_id, payout.bidder_id), None
        return None, self._suspense.get(payout.source_ref)  # type: ignore[arg-type]

    def confirm_payout(self, result: PayoutResult, at: datetime) -> Payout:
        payout = self.payout(result.payout_id)
        deposit, item = self._paid_back(payout)
        effects = decide.decide_payout_result(
            payout, result, pending=self._by_id[payout.id].transfer, deposit=deposit, item=item
        )
        self._write(effects, at)
        return effects.settled or payout

    def reissue_payout(
        self,
        command_id: str,
        payout_id: str,
        at: datetime,
        *,
        payee_account: str | None = None,
        payee_name: str | None = None,
    ) -> Payout:

        def decided() -> Effects:
            old = self.payout(payout_id)
            deposit, item = self._paid_back(old)
            return decide.decide_reissue(
                command_id,
                old,
                pending=self._by_id[old.id].transfer,
                deposit=deposit,
                item=item,
                payee_account=payee_account,
                payee_name=payee_name,
            )

        fingerprint = ("reissue", payout_id, payee_account, payee_name)
        return self._run(command_id, fingerprint, at, decided, lambda e: e.payout)  # type: ignore[no-any-return]

    def suspense_items(self, state: SuspenseState | None = None) -> list[SuspenseItem]:
        return [s for s in self._suspense.values() if state in (None, s.state)]

    def return_suspense(self, command_id: str, bank_ref: str, at: datetime) -> Payout:
        return self._run(  # type: ignore[no-any-return]
            command_id,
            ("return_suspense", bank_ref),
            at,
            lambda: decide.decide_suspense_return(
                command_id, bank_ref, _get(self._suspense, bank_ref), at
            ),
            lambda e: e.payout,
        )

    # == forfeiture and conversion ============================================================

    def _reservation(self, project_id: str, bidder_id: str) -> Transfer | None:
        d = self._deposits.get((project_id, bidder_id))
        tid = d.forfeit.transfer_id if d and d.forfeit else None
        return self._by_id[tid].transfer if tid else None

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
        return self._run(  # type: ignore[no-any-return]
            command_id,
            ("forfeit", project_id, bidder_id, cause, note, requested_by, cause_at),
            at,
            lambda: decide.decide_request_forfeit(
                command_id,
                self.deposit(project_id, bidder_id),
                self.terms(project_id),
                cause,
                note,
                requested_by,
                cause_at,
                at,
            ),
            lambda e: e.deposit,
        )

    def _settle_forfeit(
        self,
        kind: str,
        decide_it: Callable[..., Effects],
        command_id: str,
        project_id: str,
        bidder_id: str,
        staff: str,
        at: datetime,
    ) -> Deposit:
        return self._run(  # type: ignore[no-any-return]
            command_id,
            (kind, project_id, bidder_id, staff),
            at,
            lambda: decide_it(
                command_id,
                self.deposit(project_id, bidder_id),
                staff,
                pending=self._reservation(project_id, bidder_id),
            ),
            lambda e: e.deposit,
        )

    def approve_forfeit(
        self, command_id: str, project_id: str, bidder_id: str, approved_by: str, at: datetime
    ) -> Deposit:
        return self._settle_forfeit(
            "approve_forfeit", decide.decide_approve_forfeit,
            command_id, project_id, bidder_id, approved_by, at,
        )

    def reject_forfeit(
        self, command_id: str, project_id: str, bidder_id: str, rejected_by: str, at: datetime
    ) -> Deposit:
        return self._settle_forfeit(
            "reject_forfeit", decide.decide_reject_forfeit,
            command_id, project_id, bidder_id, rejected_by, at,
        )

    def convert(self, command_id: str, project_id: str, bidder_id: str, at: datetime) -> Deposit:
        return self._run(  # type: ignore[no-any-return]
            command_id,
            ("convert", project_id, bidder_id),
            at,
            lambda: decide.decide_conversion(
                command_id, self.deposit(project_id, bidder_id), self.terms(project_id)
            ),
            lambda e: e.deposit,
        )
