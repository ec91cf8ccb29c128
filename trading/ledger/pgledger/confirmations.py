"""Money in: the bank's signed notifications (a credit confirms a deposit or goes to
suspense, a reversal takes one back), checked against the trusted bank keys, and guarantees
that confirm without cash (D7)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from crypto.signing import verify

from .. import store
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
)
from ..rules.notifications import notification_message as _message
from .core import _BANK, _SUSPENSE, _V, LedgerCore

__all__ = ["Confirmations", "verify_with_any"]


def verify_with_any(n: BankNotification, signature: bytes, keys: Iterable[bytes]) -> bool:
    """True when one of the bank's active keys signed ``notification_message(n)``."""
    if not isinstance(signature, bytes | bytearray):
        return False
    try:
        message = _message(n)
    except (TypeError, ValueError):
        return False
    return any(verify(k, bytes(signature), message) for k in keys)


class Confirmations(LedgerCore):
    """Confirming deposits: bank notifications and guarantees."""

    # == bank notifications ===================================================================

    async def bank_keys(self) -> list[bytes]:
        if self._bank_keys is None:
            self._bank_keys = await store.bank_keys(self.conn)
        return self._bank_keys

    async def receive_notification(
        self, n: BankNotification, signature: bytes, at: datetime
    ) -> NotificationOutcome:
        """A bank message, checked in this order: signature, form, duplicate (the first
        outcome again), sequence; then a credit confirms or goes to suspense, a reversal takes
        back the credit it names."""
        keys = await self.bank_keys()
        if not keys:
            raise LedgerReason.NOTIFICATION_BAD_SIGNATURE.reject(
                "no bank key is trusted yet: set SUNLIT_BANK_PUBLIC_KEY or POST /api/v1/ledger/bank-keys",
                "尚未登记银行公钥：请设置 SUNLIT_BANK_PUBLIC_KEY 或调用 POST /api/v1/ledger/bank-keys",
            )
        if not verify_with_any(n, signature, keys):
            raise LedgerReason.NOTIFICATION_BAD_SIGNATURE.reject(str(n.bank_ref))
        problems = notification_problems(n)
        if problems:
            raise LedgerReason.NOTIFICATION_MALFORMED.reject("; ".join(problems), errors=problems)
        async with self.conn.transaction():
            last = await store.lock_last_seq(self.conn)
            seen = await store.get_notification(self.conn, n.bank_ref)
            if seen is not None:
                verdict, _ = classify_notification(n, seen=seen[0], terms=None, deposit=None)
                assert verdict is _V.DUPLICATE
                if n.seq == last + 1:
                    await store.set_last_seq(self.conn, n.seq)
                return replace(seen[1], replayed=True)
            refused = check_sequence(last, n.seq)
            if refused is not None:
                raise refused.reject(f"seq {n.seq} after {last}", last_seq=last)
            if n.kind is NotificationKind.CREDIT:
                outcome = await self._credit(n, at)
            else:
                outcome = await self._reversal(n, at)
            await store.insert_notification(self.conn, n, bytes(signature), outcome, at)
            await store.set_last_seq(self.conn, n.seq)
        return outcome

    async def _credit(self, n: BankNotification, at: datetime) -> NotificationOutcome:
        transfer_id = f"bn:{n.bank_ref}"
        held = await store.get_suspense(self.conn, n.bank_ref, for_update=True)
        if held is not None:
            # Reconciliation already put this movement in suspense from the bank's statement:
            # the money is in the ledger once; staff return or apply it.
            return NotificationOutcome(
                n.bank_ref,
                _V.SUSPENSE,
                held.reason,
                transfer_id=None
                if held.reason is SuspenseReason.CURRENCY_NOT_CNY
                else f"st:{n.bank_ref}",
                detail="already in suspense from the bank statement",
            )
        deposit = await self.deposit_by_sub_account(n.sub_account, for_update=True)
        terms = await store.get_project(self.conn, deposit.project_id) if deposit else None
        verdict, reason = classify_notification(n, seen=None, terms=terms, deposit=deposit)
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
            await self._commit([t], at)
            await self._save(
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
            await store.insert_suspense(
                self.conn,
                SuspenseItem(
                    n.bank_ref,
                    reason,
                    n.amount_fen,
                    n.sub_account,
                    n.payer_account,
                    n.payer_name,
                    n.value_at,
                ),
                at,
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
            await self._commit([t], at)
            await store.insert_suspense(
                self.conn,
                SuspenseItem(
                    n.bank_ref,
                    reason,
                    n.amount_fen,
                    n.sub_account,
                    n.payer_account,
                    n.payer_name,
                    n.value_at,
                ),
                at,
            )
        await store.insert_movement(
            self.conn, BankMovement(transfer_id, n.bank_ref, n.amount_fen, china_date(n.value_at))
        )
        return NotificationOutcome(
            n.bank_ref,
            verdict,
            reason,
            deposit.project_id if deposit else None,
            deposit.bidder_id if deposit else None,
            transfer_id,
        )

    async def _reversal(self, n: BankNotification, at: datetime) -> NotificationOutcome:
        assert n.reverses_ref is not None
        seen = await store.get_notification(self.conn, n.reverses_ref)
        original = seen[0] if seen else None
        deposit = (
            await self.deposit_by_sub_account(original.sub_account, for_update=True)
            if original
            else None
        )
        suspense = await store.get_suspense(self.conn, n.reverses_ref, for_update=True)
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
            await self._commit([t], at)
            await self._save(
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
            await self._commit([t], at)
            await store.update_suspense(self.conn, replace(suspense, state=SuspenseState.REVERSED))
        else:
            return NotificationOutcome(n.bank_ref, verdict, detail=detail)
        await store.insert_movement(
            self.conn, BankMovement(transfer_id, n.bank_ref, -n.amount_fen, china_date(n.value_at))
        )
        return NotificationOutcome(
            n.bank_ref,
            verdict,
            project_id=deposit.project_id if deposit and verdict is _V.REVERSE_DEPOSIT else None,
            bidder_id=deposit.bidder_id if deposit and verdict is _V.REVERSE_DEPOSIT else None,
            transfer_id=transfer_id,
        )

    async def notification(self, bank_ref: str) -> NotificationOutcome | None:
        seen = await store.get_notification(self.conn, bank_ref)
        return seen[1] if seen else None

    async def last_seq(self) -> int:
        return await store.last_seq(self.conn)

    # == guarantees ===========================================================================

    async def confirm_guarantee(
        self, project_id: str, bidder_id: str, guarantee: Guarantee, at: datetime
    ) -> Deposit:
        """D7: the guarantee confirms the deposit; no money moves (idempotent)."""
        async with self.conn.transaction():
            deposit = await self.deposit(project_id, bidder_id, for_update=True)
            if deposit.form is DepositForm.GUARANTEE and deposit.guarantee == guarantee:
                return deposit
            check_guarantee(await self.terms(project_id), guarantee, at)
            if await store.guarantee_owner(self.conn, guarantee.ref) is not None:
                raise LedgerReason.GUARANTEE_IN_USE.reject(guarantee.ref)
            new = await self._save(
                deposit,
                DepositEvent.CONFIRM,
                form=DepositForm.GUARANTEE,
                amount_fen=guarantee.amount_fen,
                guarantee=guarantee,
            )
            await store.insert_guarantee(self.conn, guarantee.ref, project_id, bidder_id)
        return new
