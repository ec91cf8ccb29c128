"""A deposit kept rather than returned: forfeiture, requested by one staff member and
approved or rejected by a second (D6), and conversion into an auction's price (A7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

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
