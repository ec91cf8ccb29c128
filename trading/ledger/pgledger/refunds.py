"""Money out: refunds (with interest), the bank's answers to payouts, reissued payouts,
money in suspense returned to its payer, and unmatched statement credits put in suspense
(D9)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from .. import store
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
    Transfer,
    TransferCode,
    TransferFlags,
)
from ..rules.dates import china_date
from ..rules.lifecycle import check_refund, next_deposit_state
from ..rules.refunds import refund_due_on, refund_plan, suspense_return_plan
from ..rules.transfers import post_of, void_of
from ..rules.values import is_valid_id
from .core import _BANK, _SUSPENSE, LedgerCore

__all__ = ["Refunds"]


class Refunds(LedgerCore):
    """Refunds, payouts and suspense."""

    # == refunds and payouts ==================================================================

    async def request_refund(
        self,
        command_id: str,
        project_id: str,
        bidder_id: str,
        cause: RefundCause,
        cause_at: datetime,
        at: datetime,
    ) -> Deposit:
        """Refund a confirmed deposit (D4, D5, A7): as ``MemoryLedger.request_refund``."""
        fingerprint = ("refund", project_id, bidder_id, cause, cause_at)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            deposit = await self.deposit(project_id, bidder_id, for_update=True)
            terms = await self.terms(project_id)
            event = (
                DepositEvent.RELEASE
                if deposit.form is DepositForm.GUARANTEE
                else DepositEvent.REQUEST_REFUND
            )
            next_deposit_state(deposit.state, event)
            check_refund(terms, cause, cause_at)
            due_on = refund_due_on(cause, cause_at, await self.calendar())
            if deposit.form is DepositForm.GUARANTEE:
                new = await self._save(deposit, event, refund_cause=cause, refund_due_on=due_on)
                return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]
            assert deposit.payer_account is not None
            transfers, interest = refund_plan(command_id, deposit, terms, cause, at)
            payout_id = transfers[-1].id
            await self._commit(transfers, at)
            await store.insert_payout(
                self.conn,
                Payout(
                    payout_id,
                    PayoutPurpose.DEPOSIT_REFUND,
                    deposit.payer_account,
                    deposit.payer_name or "",
                    deposit.amount_fen + interest,
                    due_on,
                    project_id=project_id,
                    bidder_id=bidder_id,
                ),
                at,
            )
            new = await self._save(
                deposit,
                event,
                refund_cause=cause,
                refund_due_on=due_on,
                interest_fen=interest,
                payout_id=payout_id,
            )
            return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]

    async def payout(self, payout_id: str, *, for_update: bool = False) -> Payout:
        payout = (
            await store.get_payout(self.conn, payout_id, for_update=for_update)
            if isinstance(payout_id, str)
            else None
        )
        if payout is None:
            raise LedgerReason.PAYOUT_NOT_FOUND.reject(str(payout_id))
        return payout

    async def payouts(self, state: PayoutState | None = None) -> list[Payout]:
        rows = await store.list_payouts(self.conn, state=state.value if state else None)
        return [store.payout_from_row(r) for r in rows]

    async def confirm_payout(self, result: PayoutResult, at: datetime) -> Payout:
        """The bank paid (post) or rejected (void) a payout; the same answer twice changes
        nothing; another answer to a settled payout is refused."""
        async with self.conn.transaction():
            payout = await self.payout(result.payout_id, for_update=True)
            if not is_valid_id(result.bank_ref) or not isinstance(result.value_at, datetime):
                raise LedgerReason.INVALID_INPUT.reject("bank_ref or value_at", field="bank_ref")
            china_date(result.value_at)
            if payout.state is not PayoutState.PENDING:
                same = (payout.state is PayoutState.POSTED) == bool(
                    result.ok
                ) and payout.bank_ref == result.bank_ref
                if same:
                    return payout
                raise LedgerReason.PAYOUT_ALREADY_SETTLED.reject(
                    payout.id, state=payout.state.value
                )
            deposit = item = None
            if payout.purpose is PayoutPurpose.DEPOSIT_REFUND:
                assert payout.project_id is not None and payout.bidder_id is not None
                deposit = await self.deposit(payout.project_id, payout.bidder_id, for_update=True)
            else:
                assert payout.source_ref is not None
                item = await store.get_suspense(self.conn, payout.source_ref, for_update=True)
            pending = await store.get_transfer(self.conn, payout.id)
            assert pending is not None
            if result.ok:
                await self._commit([post_of(pending, f"{payout.id}/post", result.bank_ref)], at)
                new = replace(payout, state=PayoutState.POSTED, bank_ref=result.bank_ref)
                await store.insert_movement(
                    self.conn,
                    BankMovement(
                        f"{payout.id}/post",
                        result.bank_ref,
                        -payout.amount_fen,
                        china_date(result.value_at),
                    ),
                )
            else:
                await self._commit([void_of(pending, f"{payout.id}/void", result.bank_ref)], at)
                new = replace(payout, state=PayoutState.VOIDED, bank_ref=result.bank_ref)
            await store.settle_payout(self.conn, new, at)
            if deposit is not None:
                await self._save(
                    deposit, DepositEvent.PAYOUT_POSTED if result.ok else DepositEvent.PAYOUT_VOIDED
                )
            elif result.ok:
                assert item is not None
                await store.update_suspense(self.conn, replace(item, state=SuspenseState.RETURNED))
        return new

    async def reissue_payout(
        self,
        command_id: str,
        payout_id: str,
        at: datetime,
        *,
        payee_account: str | None = None,
        payee_name: str | None = None,
    ) -> Payout:
        """A new pending payout for one the bank rejected (the rejected one stays voided)."""
        fingerprint = ("reissue", payout_id, payee_account, payee_name)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            old = await self.payout(payout_id, for_update=True)
            if old.state is not PayoutState.VOIDED:
                raise LedgerReason.PAYOUT_NOT_VOIDED.reject(payout_id, state=old.state.value)
            deposit = item = None
            if old.purpose is PayoutPurpose.DEPOSIT_REFUND:
                assert old.project_id is not None and old.bidder_id is not None
                deposit = await self.deposit(old.project_id, old.bidder_id, for_update=True)
                current = deposit.payout_id
            else:
                assert old.source_ref is not None
                item = await store.get_suspense(self.conn, old.source_ref, for_update=True)
                assert item is not None
                current = item.payout_id
            if current != payout_id:
                raise LedgerReason.PAYOUT_ALREADY_SETTLED.reject(f"{payout_id} was reissued")
            if payee_account is not None and (
                not isinstance(payee_account, str) or not payee_account.strip()
            ):
                raise LedgerReason.INVALID_INPUT.reject("payee_account", field="payee_account")
            new_id = f"{command_id}/payout"
            pending = await store.get_transfer(self.conn, payout_id)
            assert pending is not None
            await self._commit(
                [replace(pending, id=new_id, flags=TransferFlags.PENDING, reference=command_id)], at
            )
            new = replace(
                old,
                id=new_id,
                state=PayoutState.PENDING,
                bank_ref=None,
                payee_account=payee_account or old.payee_account,
                payee_name=payee_name if payee_name is not None else old.payee_name,
            )
            await store.insert_payout(self.conn, new, at)
            if deposit is not None:
                await self._save(deposit, DepositEvent.PAYOUT_REISSUED, payout_id=new_id)
            else:
                assert item is not None
                await store.update_suspense(self.conn, replace(item, payout_id=new_id))
            return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]


    # == suspense =============================================================================

    async def suspense_items(self, state: SuspenseState | None = None) -> list[SuspenseItem]:
        return await store.list_suspense(self.conn, state=state.value if state else None)

    async def return_suspense(self, command_id: str, bank_ref: str, at: datetime) -> Payout:
        """Send money that matched nothing back to its payer within 5 days."""
        fingerprint = ("return_suspense", bank_ref)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            item = (
                await store.get_suspense(self.conn, bank_ref, for_update=True)
                if isinstance(bank_ref, str)
                else None
            )
            if item is None or item.state is not SuspenseState.OPEN:
                raise LedgerReason.SUSPENSE_ITEM_NOT_FOUND.reject(str(bank_ref))
            if item.reason is SuspenseReason.CURRENCY_NOT_CNY:
                raise LedgerReason.SUSPENSE_NOT_IN_CNY.reject(bank_ref, bank_ref=bank_ref)
            transfers, payout = suspense_return_plan(command_id, item, at)
            payout_id = payout.id
            await self._commit(transfers, at)
            await store.insert_payout(self.conn, payout, at)
            await store.update_suspense(
                self.conn, replace(item, state=SuspenseState.RETURN_PENDING, payout_id=payout_id)
            )
            return await self._remember(command_id, fingerprint, payout)  # type: ignore[no-any-return]

    async def record_unmatched_credit(
        self,
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
        async with self.conn.transaction():
            await store.lock_last_seq(self.conn)  # one writer of bank movements at a time
            if await store.get_notification(self.conn, bank_ref) is not None:
                return None
            if await store.get_suspense(self.conn, bank_ref) is not None:
                return None
            if not in_cny:
                item = SuspenseItem(
                    bank_ref,
                    SuspenseReason.CURRENCY_NOT_CNY,
                    amount_fen,
                    "",
                    payer_account,
                    payer_name,
                    value_at,
                )
                await store.insert_suspense(self.conn, item, at)
                return item
            transfer_id = f"st:{bank_ref}"
            await self._commit(
                [
                    Transfer(
                        transfer_id,
                        _BANK,
                        _SUSPENSE,
                        amount_fen,
                        TransferCode.SUSPENSE_RECEIVED,
                        reference=bank_ref,
                    )
                ],
                at,
            )
            item = SuspenseItem(
                bank_ref,
                SuspenseReason.STATEMENT_UNMATCHED,
                amount_fen,
                "",
                payer_account,
                payer_name,
                value_at,
            )
            await store.insert_suspense(self.conn, item, at)
            await store.insert_movement(
                self.conn, BankMovement(transfer_id, bank_ref, amount_fen, china_date(value_at))
            )
        return item
