"""Each ledger operation's decision: a pure function over the rows its use case loaded under
lock, returning the ``Effects`` to write — or ``LedgerRejected``, having decided nothing.

A use case (``trading.ledger.service``) loads, decides here, and writes the effects in its
transaction; the tests' reference ledger (``tests/ledger_reference.py``) keeps the same rows
in dictionaries and applies the same effects to them. The checks run in the order the
refusals are documented; ids of the transfers derive from the command (``<command>/refund``)
so that a replayed command finds what it wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..errors import LedgerReason
from ..model import (
    SYSTEM_ACCOUNTS,
    AccountKind,
    BankMovement,
    BankNotification,
    Deposit,
    DepositEvent,
    DepositForm,
    DepositTerms,
    ForfeitCause,
    ForfeitRequest,
    Guarantee,
    NotificationOutcome,
    NotificationVerdict,
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
    WorkCalendar,
    deposit_account_id,
)
from .dates import china_date
from .lifecycle import (
    check_conversion,
    check_forfeit,
    check_guarantee,
    check_refund,
    check_second_approver,
    next_deposit_state,
)
from .notifications import classify_credit, classify_reversal
from .refunds import refund_due_on, refund_plan, suspense_return_plan
from .subaccounts import sub_account_number
from .transfers import post_of, void_of
from .values import is_valid_id

__all__ = [
    "Effects",
    "advance",
    "decide_approve_forfeit",
    "decide_conversion",
    "decide_credit",
    "decide_guarantee",
    "decide_new_deposit",
    "decide_payout_result",
    "decide_refund",
    "decide_reissue",
    "decide_reject_forfeit",
    "decide_request_forfeit",
    "decide_reversal",
    "decide_suspense_return",
    "decide_unmatched_credit",
]

_BANK = SYSTEM_ACCOUNTS[AccountKind.BANK]
_SUSPENSE = SYSTEM_ACCOUNTS[AccountKind.SUSPENSE]
_FORFEITED = SYSTEM_ACCOUNTS[AccountKind.FORFEITED]
_PRICE = SYSTEM_ACCOUNTS[AccountKind.PRICE_RECEIVABLE]
_V = NotificationVerdict


@dataclass(frozen=True, slots=True)
class Effects:
    """What one operation changes. Written in this order, all in one transaction: the
    transfers (one linked chain), the bank movement, the new or answered payout, the suspense
    item, the deposit's next version, the guarantee."""

    transfers: tuple[Transfer, ...] = ()
    movement: BankMovement | None = None
    payout: Payout | None = None
    """A new pending payout."""
    settled: Payout | None = None
    """A payout the bank answered (posted or voided)."""
    suspense: SuspenseItem | None = None
    """A new item in suspense."""
    suspense_update: SuspenseItem | None = None
    """An item's next state."""
    deposit: Deposit | None = None
    """The deposit's next version (saved only over the version it was decided on)."""
    guarantee: Guarantee | None = None
    """A guarantee now standing for ``deposit``."""


def advance(deposit: Deposit, event: DepositEvent | None = None, **changes: Any) -> Deposit:
    """The deposit's next version: the state after ``event`` (the table refuses a move it
    lacks), the fields changed, the version incremented."""
    state = next_deposit_state(deposit.state, event) if event else deposit.state
    return replace(deposit, state=state, version=deposit.version + 1, **changes)


# == money in ===================================================================================


def decide_new_deposit(
    terms: DepositTerms,
    bidder_id: str,
    bidder_no: int,
    *,
    known: Deposit | None,
    owner: str | None,
    prefix: str,
) -> tuple[Deposit, bool]:
    """The bidder's deposit in the project with its virtual sub-account, and whether it is
    new (idempotent; ``owner`` is who holds ``bidder_no`` in the project already)."""
    if not is_valid_id(bidder_id):
        raise LedgerReason.ID_INVALID.reject("bidder_id", field="bidder_id")
    if known is not None:
        if known.bidder_no != bidder_no:
            raise LedgerReason.DEPOSIT_CONFLICT.reject(f"bidder_no {bidder_no}")
        return known, False
    if owner not in (None, bidder_id):
        raise LedgerReason.DEPOSIT_CONFLICT.reject(f"bidder_no {bidder_no} is taken")
    number = sub_account_number(terms.project_no, bidder_no, prefix=prefix)
    account_id = deposit_account_id(terms.project_id, bidder_id)
    if not is_valid_id(account_id):
        raise LedgerReason.ID_INVALID.reject("project_id and bidder_id are too long")
    return Deposit(terms.project_id, bidder_id, bidder_no, number, account_id), True


def decide_guarantee(
    deposit: Deposit, terms: DepositTerms, guarantee: Guarantee, at: datetime, *, in_use: bool
) -> Effects:
    """D7: the guarantee confirms the deposit, no money moves; the same guarantee again
    changes nothing (no effects); one already standing for another deposit is refused."""
    if deposit.form is DepositForm.GUARANTEE and deposit.guarantee == guarantee:
        return Effects()
    check_guarantee(terms, guarantee, at)
    if in_use:
        raise LedgerReason.GUARANTEE_IN_USE.reject(guarantee.ref)
    new = advance(
        deposit,
        DepositEvent.CONFIRM,
        form=DepositForm.GUARANTEE,
        amount_fen=guarantee.amount_fen,
        guarantee=guarantee,
    )
    return Effects(deposit=new, guarantee=guarantee)


def _suspense_item(n: BankNotification, reason: SuspenseReason) -> SuspenseItem:
    return SuspenseItem(
        n.bank_ref, reason, n.amount_fen, n.sub_account, n.payer_account, n.payer_name, n.value_at
    )


def decide_credit(
    n: BankNotification,
    *,
    deposit: Deposit | None,
    terms: DepositTerms | None,
    held: SuspenseItem | None = None,
) -> tuple[Effects, NotificationOutcome]:
    """A new credit (D2, D9): it confirms ``deposit`` (found by its sub-account) or goes to
    suspense with its reason. ``held`` is the statement's suspense item under the same bank
    reference, if reconciliation met the money first: then it is in the books once already."""
    transfer_id = f"bn:{n.bank_ref}"
    if held is not None:
        return Effects(), NotificationOutcome(
            n.bank_ref,
            _V.SUSPENSE,
            held.reason,
            transfer_id=None
            if held.reason is SuspenseReason.CURRENCY_NOT_CNY
            else f"st:{n.bank_ref}",
            detail="already in suspense from the bank statement",
        )
    verdict, reason = classify_credit(n, terms, deposit)
    project_id = deposit.project_id if deposit else None
    bidder_id = deposit.bidder_id if deposit else None
    if reason is SuspenseReason.CURRENCY_NOT_CNY:
        # Never booked: no CNY transfer, no bank movement; held aside for staff.
        return Effects(suspense=_suspense_item(n, reason)), NotificationOutcome(
            n.bank_ref,
            verdict,
            reason,
            project_id,
            bidder_id,
            None,
            f"{n.currency} {n.amount_fen} minor units held aside, not booked",
        )
    movement = BankMovement(transfer_id, n.bank_ref, n.amount_fen, china_date(n.value_at))
    if verdict is _V.CONFIRM:
        assert deposit is not None
        effects = Effects(
            transfers=(
                Transfer(
                    transfer_id,
                    _BANK,
                    deposit.account_id,
                    n.amount_fen,
                    TransferCode.DEPOSIT_RECEIVED,
                    reference=n.bank_ref,
                ),
            ),
            movement=movement,
            deposit=advance(
                deposit,
                DepositEvent.CONFIRM,
                form=DepositForm.CASH,
                amount_fen=n.amount_fen,
                bank_ref=n.bank_ref,
                payer_account=n.payer_account,
                payer_name=n.payer_name,
                received_at=n.value_at,
            ),
        )
    else:
        assert verdict is _V.SUSPENSE and reason is not None
        effects = Effects(
            transfers=(
                Transfer(
                    transfer_id,
                    _BANK,
                    _SUSPENSE,
                    n.amount_fen,
                    TransferCode.SUSPENSE_RECEIVED,
                    reference=n.bank_ref,
                ),
            ),
            movement=movement,
            suspense=_suspense_item(n, reason),
        )
    return effects, NotificationOutcome(
        n.bank_ref, verdict, reason, project_id, bidder_id, transfer_id
    )


def decide_reversal(
    n: BankNotification,
    *,
    original: BankNotification | None,
    deposit: Deposit | None,
    suspense: SuspenseItem | None,
) -> tuple[Effects, NotificationOutcome]:
    """The bank took back the credit ``original``: out of the deposit (awaiting again) or out
    of suspense; one the ledger cannot apply is recorded as ``UNAPPLIED``, never refused."""
    verdict, detail = classify_reversal(n, original=original, deposit=deposit, suspense=suspense)
    transfer_id = f"bn:{n.bank_ref}"
    if verdict is _V.REVERSE_DEPOSIT:
        assert deposit is not None
        debit = deposit.account_id
        changes = Effects(
            deposit=advance(
                deposit,
                DepositEvent.REVERSE,
                form=None,
                amount_fen=0,
                bank_ref=None,
                payer_account=None,
                payer_name=None,
                received_at=None,
            )
        )
    elif verdict is _V.REVERSE_SUSPENSE:
        assert suspense is not None
        debit = _SUSPENSE
        changes = Effects(suspense_update=replace(suspense, state=SuspenseState.REVERSED))
    else:
        return Effects(), NotificationOutcome(n.bank_ref, verdict, detail=detail)
    effects = replace(
        changes,
        transfers=(
            Transfer(
                transfer_id,
                debit,
                _BANK,
                n.amount_fen,
                TransferCode.BANK_REVERSAL,
                reference=n.bank_ref,
            ),
        ),
        movement=BankMovement(transfer_id, n.bank_ref, -n.amount_fen, china_date(n.value_at)),
    )
    of_deposit = deposit if verdict is _V.REVERSE_DEPOSIT else None
    return effects, NotificationOutcome(
        n.bank_ref,
        verdict,
        project_id=of_deposit.project_id if of_deposit else None,
        bidder_id=of_deposit.bidder_id if of_deposit else None,
        transfer_id=transfer_id,
    )


def decide_unmatched_credit(
    bank_ref: str,
    amount_fen: int,
    value_at: datetime,
    payer_account: str,
    payer_name: str,
    *,
    in_cny: bool,
) -> Effects:
    """D9: money on the bank's statement that no notification told goes to suspense (a
    currency other than CNY is held aside, never booked)."""
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
        return Effects(suspense=item)
    transfer_id = f"st:{bank_ref}"
    item = SuspenseItem(
        bank_ref,
        SuspenseReason.STATEMENT_UNMATCHED,
        amount_fen,
        "",
        payer_account,
        payer_name,
        value_at,
    )
    return Effects(
        transfers=(
            Transfer(
                transfer_id,
                _BANK,
                _SUSPENSE,
                amount_fen,
                TransferCode.SUSPENSE_RECEIVED,
                reference=bank_ref,
            ),
        ),
        movement=BankMovement(transfer_id, bank_ref, amount_fen, china_date(value_at)),
        suspense=item,
    )


# == money out ==================================================================================


def decide_refund(
    command_id: str,
    deposit: Deposit,
    terms: DepositTerms,
    cause: RefundCause,
    cause_at: datetime,
    at: datetime,
    calendar: WorkCalendar,
) -> Effects:
    """D4, D5, A7: a confirmed deposit refunded. Cash goes to refunds payable (with interest
    when the cause carries it, D5) and one pending payout to the payer's account; a guarantee
    is released. Due on the cause's day (``refund_due_on``)."""
    guarantee = deposit.form is DepositForm.GUARANTEE
    event = DepositEvent.RELEASE if guarantee else DepositEvent.REQUEST_REFUND
    next_deposit_state(deposit.state, event)
    check_refund(terms, cause, cause_at)
    due_on = refund_due_on(cause, cause_at, calendar)
    if guarantee:
        return Effects(deposit=advance(deposit, event, refund_cause=cause, refund_due_on=due_on))
    assert deposit.payer_account is not None
    transfers, interest = refund_plan(command_id, deposit, terms, cause, at)
    payout_id = transfers[-1].id
    payout = Payout(
        payout_id,
        PayoutPurpose.DEPOSIT_REFUND,
        deposit.payer_account,
        deposit.payer_name or "",
        deposit.amount_fen + interest,
        due_on,
        project_id=deposit.project_id,
        bidder_id=deposit.bidder_id,
    )
    new = advance(
        deposit,
        event,
        refund_cause=cause,
        refund_due_on=due_on,
        interest_fen=interest,
        payout_id=payout_id,
    )
    return Effects(transfers=transfers, payout=payout, deposit=new)


def decide_payout_result(
    payout: Payout,
    result: PayoutResult,
    *,
    pending: Transfer,
    deposit: Deposit | None,
    item: SuspenseItem | None,
) -> Effects:
    """The bank paid (post) or rejected (void) ``payout``. The same answer twice changes
    nothing (no effects); another answer to a settled payout is refused. ``pending`` is the
    payout's pending transfer; ``deposit`` or ``item`` what it pays back."""
    if not is_valid_id(result.bank_ref) or not isinstance(result.value_at, datetime):
        raise LedgerReason.INVALID_INPUT.reject("bank_ref or value_at", field="bank_ref")
    value_on = china_date(result.value_at)
    if payout.state is not PayoutState.PENDING:
        same = (payout.state is PayoutState.POSTED) == bool(result.ok)
        if same and payout.bank_ref == result.bank_ref:
            return Effects()
        raise LedgerReason.PAYOUT_ALREADY_SETTLED.reject(payout.id, state=payout.state.value)
    if result.ok:
        settle = post_of(pending, f"{payout.id}/post", result.bank_ref)
        settled = replace(payout, state=PayoutState.POSTED, bank_ref=result.bank_ref)
        movement = BankMovement(settle.id, result.bank_ref, -payout.amount_fen, value_on)
    else:
        settle = void_of(pending, f"{payout.id}/void", result.bank_ref)
        settled = replace(payout, state=PayoutState.VOIDED, bank_ref=result.bank_ref)
        movement = None
    effects = Effects(transfers=(settle,), movement=movement, settled=settled)
    if deposit is not None:
        event = DepositEvent.PAYOUT_POSTED if result.ok else DepositEvent.PAYOUT_VOIDED
        return replace(effects, deposit=advance(deposit, event))
    if result.ok:
        assert item is not None
        return replace(effects, suspense_update=replace(item, state=SuspenseState.RETURNED))
    return effects


def decide_reissue(
    command_id: str,
    old: Payout,
    *,
    pending: Transfer,
    deposit: Deposit | None,
    item: SuspenseItem | None,
    payee_account: str | None,
    payee_name: str | None,
) -> Effects:
    """A new pending payout for one the bank rejected (the rejected one stays voided), to the
    same payee or a corrected one."""
    if old.state is not PayoutState.VOIDED:
        raise LedgerReason.PAYOUT_NOT_VOIDED.reject(old.id, state=old.state.value)
    current = deposit.payout_id if deposit is not None else item.payout_id if item else None
    if current != old.id:
        raise LedgerReason.PAYOUT_ALREADY_SETTLED.reject(f"{old.id} was reissued")
    if payee_account is not None and (
        not isinstance(payee_account, str) or not payee_account.strip()
    ):
        raise LedgerReason.INVALID_INPUT.reject("payee_account", field="payee_account")
    new_id = f"{command_id}/payout"
    new = replace(
        old,
        id=new_id,
        state=PayoutState.PENDING,
        bank_ref=None,
        payee_account=payee_account or old.payee_account,
        payee_name=payee_name if payee_name is not None else old.payee_name,
    )
    transfer = replace(pending, id=new_id, flags=TransferFlags.PENDING, reference=command_id)
    effects = Effects(transfers=(transfer,), payout=new)
    if deposit is not None:
        return replace(
            effects, deposit=advance(deposit, DepositEvent.PAYOUT_REISSUED, payout_id=new_id)
        )
    assert item is not None
    return replace(effects, suspense_update=replace(item, payout_id=new_id))


def decide_suspense_return(
    command_id: str, bank_ref: str, item: SuspenseItem | None, at: datetime
) -> Effects:
    """Money that matched nothing goes back to its payer (a pending payout, due within
    ``SUSPENSE_RETURN_DAYS``); money never booked (not CNY) is returned by hand."""
    if item is None or item.state is not SuspenseState.OPEN:
        raise LedgerReason.SUSPENSE_ITEM_NOT_FOUND.reject(str(bank_ref))
    if item.reason is SuspenseReason.CURRENCY_NOT_CNY:
        raise LedgerReason.SUSPENSE_NOT_IN_CNY.reject(item.bank_ref, bank_ref=item.bank_ref)
    transfers, payout = suspense_return_plan(command_id, item, at)
    return Effects(
        transfers=transfers,
        payout=payout,
        suspense_update=replace(item, state=SuspenseState.RETURN_PENDING, payout_id=payout.id),
    )


def decide_request_forfeit(
    command_id: str,
    deposit: Deposit,
    terms: DepositTerms,
    cause: ForfeitCause,
    note: str,
    requested_by: str,
    cause_at: datetime,
    at: datetime,
) -> Effects:
    """D6: one staff member asks; held cash is reserved by a pending FORFEIT transfer."""
    next_deposit_state(deposit.state, DepositEvent.REQUEST_FORFEIT)
    check_forfeit(terms, cause, note, cause_at)
    if not is_valid_id(requested_by):
        raise LedgerReason.ID_INVALID.reject("requested_by", field="requested_by")
    transfers: tuple[Transfer, ...] = ()
    if deposit.form is DepositForm.CASH:
        transfers = (
            Transfer(
                f"{command_id}/forfeit",
                deposit.account_id,
                _FORFEITED,
                deposit.amount_fen,
                TransferCode.FORFEIT,
                TransferFlags.PENDING,
                reference=command_id,
            ),
        )
    request = ForfeitRequest(
        command_id, cause, note, requested_by, at, transfers[0].id if transfers else None
    )
    return Effects(
        transfers=transfers,
        deposit=advance(deposit, DepositEvent.REQUEST_FORFEIT, forfeit=request),
    )


def decide_approve_forfeit(
    command_id: str, deposit: Deposit, approved_by: str, *, pending: Transfer | None
) -> Effects:
    """D6: a second staff member approves; the reservation (``pending``) is posted."""
    next_deposit_state(deposit.state, DepositEvent.APPROVE_FORFEIT)
    request = deposit.forfeit
    assert request is not None
    check_second_approver(request.requested_by, approved_by)
    transfers: tuple[Transfer, ...] = ()
    if request.transfer_id is not None:
        assert pending is not None and pending.id == request.transfer_id
        transfers = (post_of(pending, f"{request.transfer_id}/post", command_id),)
    new = advance(
        deposit, DepositEvent.APPROVE_FORFEIT, forfeit=replace(request, approved_by=approved_by)
    )
    return Effects(transfers=transfers, deposit=new)


def decide_reject_forfeit(
    command_id: str, deposit: Deposit, rejected_by: str, *, pending: Transfer | None
) -> Effects:
    """Not approved: the reservation is voided, the deposit confirmed again."""
    next_deposit_state(deposit.state, DepositEvent.REJECT_FORFEIT)
    if not is_valid_id(rejected_by):
        raise LedgerReason.ID_INVALID.reject("rejected_by", field="rejected_by")
    request = deposit.forfeit
    assert request is not None
    transfers: tuple[Transfer, ...] = ()
    if request.transfer_id is not None:
        assert pending is not None and pending.id == request.transfer_id
        transfers = (void_of(pending, f"{request.transfer_id}/void", command_id),)
    return Effects(
        transfers=transfers,
        deposit=advance(deposit, DepositEvent.REJECT_FORFEIT, forfeit=None),
    )


def decide_conversion(command_id: str, deposit: Deposit, terms: DepositTerms) -> Effects:
    """A7: the auction winner's deposit becomes part of the price."""
    next_deposit_state(deposit.state, DepositEvent.CONVERT)
    check_conversion(terms, deposit)
    transfer = Transfer(
        f"{command_id}/conversion",
        deposit.account_id,
        _PRICE,
        deposit.amount_fen,
        TransferCode.CONVERSION,
        reference=command_id,
    )
    return Effects(transfers=(transfer,), deposit=advance(deposit, DepositEvent.CONVERT))
