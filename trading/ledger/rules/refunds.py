"""Refunds and suspense returns: when each refund cause is due, and the transfers that pay
a deposit (with its interest) or a suspense item back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from ..model import (
    SYSTEM_ACCOUNTS,
    AccountKind,
    Deposit,
    DepositTerms,
    Payout,
    PayoutPurpose,
    RefundCause,
    SuspenseItem,
    Transfer,
    TransferCode,
    TransferFlags,
    WorkCalendar,
)
from .dates import add_working_days, china_date, days_held, interest_fen

__all__ = [
    "REFUND_TERMS",
    "refund_due_on",
    "refund_plan",
    "suspense_return_plan",
    "SUSPENSE_RETURN_DAYS",
]

REFUND_TERMS: Mapping[RefundCause, tuple[int, bool, bool]] = {
    RefundCause.LOST: (5, True, False),
    RefundCause.WITHDRAWN_BEFORE_DEADLINE: (5, False, False),
    RefundCause.CONTRACT_SIGNED: (5, False, True),
    RefundCause.TERMINATED: (5, False, True),
}
"""Per cause: (days, counted in working days?, with interest?). Losers of an auction within
5 working days of the result (land practice); a withdrawal before the deadline within 5
days (IR 35); everyone after the contract within 5 days, with interest (IR 57); everyone of a
terminated or failed tender promptly (5 days, cfg), with interest (IR 31)."""


def refund_due_on(cause: RefundCause, cause_at: datetime, calendar: WorkCalendar) -> date:
    """The last day on which the refund must be paid."""
    days, working, _ = REFUND_TERMS[cause]
    start = china_date(cause_at)
    if working:
        return add_working_days(start, days, calendar)
    return start + timedelta(days=days)


def refund_plan(
    command_id: str, deposit: Deposit, terms: DepositTerms, cause: RefundCause, at: datetime
) -> tuple[tuple[Transfer, ...], int]:
    """The transfers that refund a confirmed cash deposit, and the interest in fen: the held
    amount to refunds payable, the interest (D5: for the days held, value date to ``at``) from
    interest expense, and one pending payout of both to the bank — ``<command_id>/payout``,
    posted when the bank pays. Ids derive from the command, so a replay is idempotent."""
    assert deposit.received_at is not None
    _, _, with_interest = REFUND_TERMS[cause]
    interest = (
        interest_fen(deposit.amount_fen, terms.interest_rate_bp, days_held(deposit.received_at, at))
        if with_interest
        else 0
    )
    payable = SYSTEM_ACCOUNTS[AccountKind.REFUNDS_PAYABLE]
    transfers = [
        Transfer(
            f"{command_id}/refund",
            deposit.account_id,
            payable,
            deposit.amount_fen,
            TransferCode.REFUND,
            reference=command_id,
        )
    ]
    if interest:
        transfers.append(
            Transfer(
                f"{command_id}/interest",
                SYSTEM_ACCOUNTS[AccountKind.INTEREST_EXPENSE],
                payable,
                interest,
                TransferCode.INTEREST,
                reference=command_id,
            )
        )
    transfers.append(
        Transfer(
            f"{command_id}/payout",
            payable,
            SYSTEM_ACCOUNTS[AccountKind.BANK],
            deposit.amount_fen + interest,
            TransferCode.PAYOUT,
            TransferFlags.PENDING,
            reference=command_id,
        )
    )
    return tuple(transfers), interest


SUSPENSE_RETURN_DAYS = 5
"""Money that matched nothing goes back to its payer within this many days (practice)."""


def suspense_return_plan(
    command_id: str, item: SuspenseItem, at: datetime
) -> tuple[tuple[Transfer, ...], Payout]:
    """Return money held in suspense to its payer: suspense to refunds payable, and one
    pending payout to the bank (``<command_id>/payout``), due within SUSPENSE_RETURN_DAYS."""
    payable = SYSTEM_ACCOUNTS[AccountKind.REFUNDS_PAYABLE]
    payout_id = f"{command_id}/payout"
    transfers = (
        Transfer(
            f"{command_id}/return",
            SYSTEM_ACCOUNTS[AccountKind.SUSPENSE],
            payable,
            item.amount_fen,
            TransferCode.SUSPENSE_RETURN,
            reference=item.bank_ref,
        ),
        Transfer(
            payout_id,
            payable,
            SYSTEM_ACCOUNTS[AccountKind.BANK],
            item.amount_fen,
            TransferCode.PAYOUT,
            TransferFlags.PENDING,
            reference=item.bank_ref,
        ),
    )
    payout = Payout(
        payout_id,
        PayoutPurpose.SUSPENSE_RETURN,
        item.payer_account,
        item.payer_name,
        item.amount_fen,
        china_date(at) + timedelta(days=SUSPENSE_RETURN_DAYS),
        source_ref=item.bank_ref,
    )
    return transfers, payout
