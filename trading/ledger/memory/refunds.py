"""Money out: refunds (with interest), the bank's answers to payouts, reissued payouts,
and money in suspense returned to its payer."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..errors import LedgerReason
from ..model import (
    BankMovement,
    Deposit,
    DepositEvent,
    DepositForm,
    Payout,
    PayoutPurpose,
    PayoutResult,
    PayoutState,
    RefundCause,
    SuspenseItem,
    SuspenseReason,
    SuspenseState,
    TransferFlags,
)
from ..rules.dates import china_date
from ..rules.lifecycle import check_refund, next_deposit_state
from ..rules.refunds import refund_due_on, refund_plan, suspense_return_plan
from ..rules.transfers import post_of, void_of
from ..rules.values import is_valid_id
from .core import LedgerCore, _lookup

__all__ = ["Refunds"]


class Refunds(LedgerCore):
    """Refunds, payouts and suspense returns."""

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
        if item.reason is SuspenseReason.CURRENCY_NOT_CNY:
            raise LedgerReason.SUSPENSE_NOT_IN_CNY.reject(bank_ref, bank_ref=bank_ref)
        transfers, payout = suspense_return_plan(command_id, item, at)
        payout_id = payout.id
        self._commit(transfers, at)
        self._payouts[payout_id] = payout
        self._suspense[bank_ref] = replace(
            item, state=SuspenseState.RETURN_PENDING, payout_id=payout_id
        )
        return self._remember(command_id, fingerprint, payout)
