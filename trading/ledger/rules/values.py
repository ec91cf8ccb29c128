"""Ids and amounts of fen: what is well-formed, and the ``LedgerReason`` a failed transfer
is refused with."""

from __future__ import annotations

import re

from ..errors import LedgerReason
from ..model import AMOUNT_MAX_FEN, ID_MAX_LEN, TransferResult

__all__ = [
    "amount_problem",
    "is_valid_id",
    "reason_for_result",
    "require_amount",
]

R = TransferResult

_ID_RE = re.compile(rf"[A-Za-z0-9._:/\-]{{1,{ID_MAX_LEN}}}")


def is_valid_id(value: object) -> bool:
    """1–128 characters of ``A-Z a-z 0-9 . _ : / -``: safe in a file name, a URL and a CSV."""
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def amount_problem(value: object) -> TransferResult | None:
    """Why ``value`` is not an amount of fen, or None. A ``bool`` is not an amount."""
    if isinstance(value, bool) or not isinstance(value, int):
        return R.AMOUNT_NOT_INTEGER
    if value <= 0:
        return R.AMOUNT_NOT_POSITIVE
    if value > AMOUNT_MAX_FEN:
        return R.AMOUNT_TOO_LARGE
    return None


def require_amount(value: object, what: str = "amount") -> int:
    """``value`` as an amount of fen, or ``LedgerRejected`` with the code for its fault."""
    problem = amount_problem(value)
    if problem is not None:
        raise reason_for_result(problem).reject(f"{what}={value!r}", field=what)
    assert isinstance(value, int)
    return value


def reason_for_result(result: TransferResult) -> LedgerReason:
    """The ``LedgerReason`` a use case raises when one of its transfers fails."""
    return _RESULT_REASON.get(result, LedgerReason.TRANSFER_REFUSED)


_RESULT_REASON: dict[TransferResult, LedgerReason] = {
    R.ID_INVALID: LedgerReason.ID_INVALID,
    R.AMOUNT_NOT_INTEGER: LedgerReason.AMOUNT_NOT_INTEGER,
    R.AMOUNT_NOT_POSITIVE: LedgerReason.AMOUNT_NOT_POSITIVE,
    R.AMOUNT_TOO_LARGE: LedgerReason.AMOUNT_TOO_LARGE,
    R.DEBIT_ACCOUNT_NOT_FOUND: LedgerReason.ACCOUNT_NOT_FOUND,
    R.CREDIT_ACCOUNT_NOT_FOUND: LedgerReason.ACCOUNT_NOT_FOUND,
    R.PENDING_TRANSFER_ALREADY_POSTED: LedgerReason.PENDING_ALREADY_RESOLVED,
    R.PENDING_TRANSFER_ALREADY_VOIDED: LedgerReason.PENDING_ALREADY_RESOLVED,
    R.EXCEEDS_CREDITS: LedgerReason.INSUFFICIENT_HELD,
    R.EXCEEDS_DEBITS: LedgerReason.INSUFFICIENT_HELD,
    **{r: LedgerReason.ID_REUSED for r in R if r.name.startswith("EXISTS_WITH_DIFFERENT_")},
}
