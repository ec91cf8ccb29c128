"""Money in: the bank's signed notifications (a credit confirms a deposit or goes to
suspense, a reversal takes one back) and guarantees that confirm without cash (D7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..errors import LedgerReason
from ..model import (
    BankMovement,
    BankNotification,
    Deposit,
    DepositEvent,
    DepositForm,
    Guarantee,
    NotificationKind,
    NotificationOutcome,
    SuspenseItem,
    SuspenseReason,
    SuspenseState,
    Transfer,
    TransferCode,
)
from ..rules.dates import china_date
from ..rules.lifecycle import check_guarantee
from ..rules.notifications import (
    check_sequence,
    classify_notification,
    classify_reversal,
    notification_problems,
    verify_notification,
)
from .core import _BANK, _SUSPENSE, _V, LedgerCore

__all__ = ["Confirmations"]


class Confirmations(LedgerCore):
    """Confirming deposits: bank notifications and guarantees."""

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
        elif reason is SuspenseReason.CURRENCY_NOT_CNY:
            # Never booked: no CNY transfer, no bank movement; held aside for staff.
            self._suspense[n.bank_ref] = SuspenseItem(
                n.bank_ref,
                reason,
                n.amount_fen,
                n.sub_account,
                n.payer_account,
                n.payer_name,
                n.value_at,
            )
            return NotificationOutcome(
                n.bank_ref,
                verdict,
                reason,
                deposit.project_id if deposit else None,
                deposit.bidder_id if deposit else None,
                None,
                f"{n.currency} {n.amount_fen} minor units held aside, not booked",
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
