"""A deposit kept rather than returned: forfeiture, requested by one staff member and
approved or rejected by a second (D6), and conversion into an auction's price (A7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from .. import store
from ..errors import LedgerReason
from ..model import (
    Deposit,
    DepositEvent,
    DepositForm,
    ForfeitCause,
    ForfeitRequest,
    Transfer,
    TransferCode,
    TransferFlags,
)
from ..rules.lifecycle import (
    check_conversion,
    check_forfeit,
    check_second_approver,
    next_deposit_state,
)
from ..rules.transfers import post_of, void_of
from ..rules.values import is_valid_id
from .core import _FORFEITED, _PRICE, LedgerCore

__all__ = ["Forfeits"]


class Forfeits(LedgerCore):
    """Forfeiture and conversion."""

    # == forfeiture ===========================================================================

    async def request_forfeit(
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
        """D6: one staff member asks; the held cash is reserved by a pending FORFEIT transfer."""
        fingerprint = ("forfeit", project_id, bidder_id, cause, note, requested_by, cause_at)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            deposit = await self.deposit(project_id, bidder_id, for_update=True)
            next_deposit_state(deposit.state, DepositEvent.REQUEST_FORFEIT)
            check_forfeit(await self.terms(project_id), cause, note, cause_at)
            if not is_valid_id(requested_by):
                raise LedgerReason.ID_INVALID.reject("requested_by", field="requested_by")
            transfer_id = None
            if deposit.form is DepositForm.CASH:
                transfer_id = f"{command_id}/forfeit"
                await self._commit(
                    [
                        Transfer(
                            transfer_id,
                            deposit.account_id,
                            _FORFEITED,
                            deposit.amount_fen,
                            TransferCode.FORFEIT,
                            TransferFlags.PENDING,
                            reference=command_id,
                        )
                    ],
                    at,
                )
            request = ForfeitRequest(command_id, cause, note, requested_by, at, transfer_id)
            new = await self._save(deposit, DepositEvent.REQUEST_FORFEIT, forfeit=request)
            return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]

    async def approve_forfeit(
        self, command_id: str, project_id: str, bidder_id: str, approved_by: str, at: datetime
    ) -> Deposit:
        """D6: a second staff member approves; the forfeiture is posted."""
        fingerprint = ("approve_forfeit", project_id, bidder_id, approved_by)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            deposit = await self.deposit(project_id, bidder_id, for_update=True)
            next_deposit_state(deposit.state, DepositEvent.APPROVE_FORFEIT)
            request = deposit.forfeit
            assert request is not None
            check_second_approver(request.requested_by, approved_by)
            if request.transfer_id is not None:
                pending = await store.get_transfer(self.conn, request.transfer_id)
                assert pending is not None
                await self._commit(
                    [post_of(pending, f"{request.transfer_id}/post", command_id)], at
                )
            new = await self._save(
                deposit,
                DepositEvent.APPROVE_FORFEIT,
                forfeit=replace(request, approved_by=approved_by),
            )
            return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]

    async def reject_forfeit(
        self, command_id: str, project_id: str, bidder_id: str, rejected_by: str, at: datetime
    ) -> Deposit:
        """Not approved: the reservation is voided, the deposit confirmed again."""
        fingerprint = ("reject_forfeit", project_id, bidder_id, rejected_by)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            deposit = await self.deposit(project_id, bidder_id, for_update=True)
            next_deposit_state(deposit.state, DepositEvent.REJECT_FORFEIT)
            if not is_valid_id(rejected_by):
                raise LedgerReason.ID_INVALID.reject("rejected_by", field="rejected_by")
            request = deposit.forfeit
            assert request is not None
            if request.transfer_id is not None:
                pending = await store.get_transfer(self.conn, request.transfer_id)
                assert pending is not None
                await self._commit(
                    [void_of(pending, f"{request.transfer_id}/void", command_id)], at
                )
            new = await self._save(deposit, DepositEvent.REJECT_FORFEIT, forfeit=None)
            return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]

    # == conversion ===========================================================================

    async def convert(
        self, command_id: str, project_id: str, bidder_id: str, at: datetime
    ) -> Deposit:
        """A7: the auction winner's deposit becomes part of the price."""
        fingerprint = ("convert", project_id, bidder_id)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            deposit = await self.deposit(project_id, bidder_id, for_update=True)
            next_deposit_state(deposit.state, DepositEvent.CONVERT)
            check_conversion(await self.terms(project_id), deposit)
            await self._commit(
                [
                    Transfer(
                        f"{command_id}/conversion",
                        deposit.account_id,
                        _PRICE,
                        deposit.amount_fen,
                        TransferCode.CONVERSION,
                        reference=command_id,
                    )
                ],
                at,
            )
            new = await self._save(deposit, DepositEvent.CONVERT)
            return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]
