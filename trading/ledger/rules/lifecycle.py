"""The deposit lifecycle: the transition table, and the checks a command passes before it
moves a deposit (refund cause, forfeiture reason, second approver, conversion, guarantee)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from trading.clock import iso_ms

from ..errors import LedgerReason
from ..model import (
    Deposit,
    DepositEvent,
    DepositForm,
    DepositState,
    DepositTerms,
    ForfeitCause,
    Guarantee,
    ProjectKind,
    RefundCause,
)
from .values import is_valid_id, require_amount

__all__ = [
    "DEPOSIT_TRANSITIONS",
    "RESOLVED_STATES",
    "check_conversion",
    "check_forfeit",
    "check_guarantee",
    "check_refund",
    "check_second_approver",
    "next_deposit_state",
]

_S = DepositState
_E = DepositEvent

DEPOSIT_TRANSITIONS: Mapping[tuple[DepositState, DepositEvent], DepositState] = {
    (_S.AWAITING, _E.CONFIRM): _S.CONFIRMED,
    (_S.CONFIRMED, _E.REVERSE): _S.AWAITING,
    (_S.CONFIRMED, _E.REQUEST_REFUND): _S.REFUND_PENDING,
    (_S.CONFIRMED, _E.RELEASE): _S.REFUNDED,
    (_S.REFUND_PENDING, _E.PAYOUT_POSTED): _S.REFUNDED,
    (_S.REFUND_PENDING, _E.PAYOUT_VOIDED): _S.REFUND_PENDING,
    (_S.REFUND_PENDING, _E.PAYOUT_REISSUED): _S.REFUND_PENDING,
    (_S.CONFIRMED, _E.REQUEST_FORFEIT): _S.FORFEIT_PENDING,
    (_S.FORFEIT_PENDING, _E.APPROVE_FORFEIT): _S.FORFEITED,
    (_S.FORFEIT_PENDING, _E.REJECT_FORFEIT): _S.CONFIRMED,
    (_S.CONFIRMED, _E.CONVERT): _S.CONVERTED,
}

RESOLVED_STATES = frozenset(
    {_S.REFUND_PENDING, _S.REFUNDED, _S.FORFEIT_PENDING, _S.FORFEITED, _S.CONVERTED}
)
"""States in which the deposit's money is being, or has been, given its one destination."""


def next_deposit_state(state: DepositState, event: DepositEvent) -> DepositState:
    """The state after ``event``, or ``LedgerRejected`` (nothing changes)."""
    try:
        return DEPOSIT_TRANSITIONS[(state, event)]
    except KeyError:
        pass
    detail = f"{event.value} in state {state.value}"
    if state is _S.AWAITING:
        raise LedgerReason.DEPOSIT_NOT_CONFIRMED.reject(detail, state=state.value)
    if state in RESOLVED_STATES and event in (
        _E.REQUEST_REFUND,
        _E.RELEASE,
        _E.REQUEST_FORFEIT,
        _E.CONVERT,
    ):
        raise LedgerReason.DEPOSIT_ALREADY_RESOLVED.reject(detail, state=state.value)
    raise LedgerReason.DEPOSIT_TRANSITION_NOT_ALLOWED.reject(detail, state=state.value)


# -- refunds, forfeits, conversion, guarantees ------------------------------------------------


def check_refund(terms: DepositTerms, cause: RefundCause, cause_at: datetime) -> None:
    """The cause must fit the project: losers of an auction; the contract of a tender; a
    withdrawal strictly before the deadline."""
    if not isinstance(cause, RefundCause):
        raise LedgerReason.INVALID_INPUT.reject("cause", field="cause")
    if not isinstance(cause_at, datetime) or cause_at.tzinfo is None:
        raise LedgerReason.INVALID_INPUT.reject("cause_at", field="cause_at")
    fits = {
        RefundCause.LOST: terms.kind is ProjectKind.AUCTION,
        RefundCause.CONTRACT_SIGNED: terms.kind is ProjectKind.TENDER,
        RefundCause.WITHDRAWN_BEFORE_DEADLINE: cause_at < terms.deadline_at,
        RefundCause.TERMINATED: terms.kind is ProjectKind.TENDER,
    }[cause]
    if not fits:
        raise LedgerReason.REFUND_CAUSE_NOT_APPLICABLE.reject(
            f"{cause.value} for a {terms.kind.value}", cause=cause.value
        )


_NOTE_MAX_LEN = 2_000


def check_forfeit(terms: DepositTerms, cause: ForfeitCause, note: str, cause_at: datetime) -> None:
    """D6: a forfeiture states its cause and a written reason; withdrawal counts only at or
    after the deadline (before it, the deposit is refunded)."""
    if not isinstance(cause, ForfeitCause):
        raise LedgerReason.FORFEIT_REASON_REQUIRED.reject("cause", field="cause")
    if not isinstance(note, str) or not note.strip() or len(note) > _NOTE_MAX_LEN:
        raise LedgerReason.FORFEIT_REASON_REQUIRED.reject("note", field="note")
    if not isinstance(cause_at, datetime) or cause_at.tzinfo is None:
        raise LedgerReason.INVALID_INPUT.reject("cause_at", field="cause_at")
    if cause is ForfeitCause.WITHDRAWN_AFTER_DEADLINE and cause_at < terms.deadline_at:
        raise LedgerReason.FORFEIT_CAUSE_NOT_APPLICABLE.reject(
            "withdrawn before the deadline: refund instead", cause=cause.value
        )


def check_second_approver(requested_by: str, approved_by: str | None) -> None:
    """D6: the approver is a second staff member, not the one who asked."""
    if not is_valid_id(approved_by) or approved_by == requested_by:
        raise LedgerReason.SECOND_APPROVER_REQUIRED.reject(
            "the approver must differ from the requester", requested_by=requested_by
        )


def check_conversion(terms: DepositTerms, deposit: Deposit) -> None:
    """A7: only an auction winner's cash deposit becomes part of the price."""
    if terms.kind is not ProjectKind.AUCTION or deposit.form is not DepositForm.CASH:
        raise LedgerReason.CONVERSION_NOT_APPLICABLE.reject(
            f"{terms.kind.value}, {deposit.form.value if deposit.form else 'no deposit'}"
        )


def check_guarantee(terms: DepositTerms, guarantee: Guarantee, at: datetime) -> None:
    """D7: a guarantee confirms a deposit without cash when the project accepts them, it is
    lodged before the deadline, covers the amount and is valid at least until the deadline."""
    if not terms.accept_guarantees:
        raise LedgerReason.GUARANTEE_NOT_ACCEPTED.reject(terms.project_id)
    if not is_valid_id(guarantee.ref) or not isinstance(guarantee.issuer, str):
        raise LedgerReason.INVALID_INPUT.reject("guarantee ref or issuer", field="guarantee")
    require_amount(guarantee.amount_fen, "guarantee.amount_fen")
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise LedgerReason.INVALID_INPUT.reject("at", field="at")
    if at >= terms.deadline_at:
        raise LedgerReason.AFTER_DEADLINE.reject(iso_ms(terms.deadline_at))
    valid_until = guarantee.valid_until
    if not isinstance(valid_until, datetime) or valid_until.tzinfo is None:
        raise LedgerReason.INVALID_INPUT.reject("valid_until", field="valid_until")
    if guarantee.amount_fen < terms.required_fen or valid_until < terms.deadline_at:
        raise LedgerReason.GUARANTEE_INSUFFICIENT.reject(
            f"{guarantee.amount_fen} of {terms.required_fen} fen, valid until {iso_ms(valid_until)}"
        )
