"""Transfers (TigerBeetle's model): which accounts each code may move money between,
validation in the order of precedence, applying an accepted transfer, posting and voiding
a pending one, creating accounts, the trial balance."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol

from ..model import (
    AMOUNT_MAX_FEN,
    BALANCE_MAX_FEN,
    REFERENCE_MAX_LEN,
    Account,
    AccountFlags,
    AccountKind,
    AccountResult,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferResult,
    TrialBalance,
    TrialBalanceRow,
)
from .values import R, amount_problem, is_valid_id

__all__ = [
    "CODE_ACCOUNTS",
    "AccountSums",
    "apply_transfer",
    "post_of",
    "sum_changes",
    "trial_balance",
    "validate_account",
    "validate_transfer",
    "void_of",
]


_K = AccountKind
_SYSTEM_KINDS = frozenset(k for k in AccountKind if k is not AccountKind.DEPOSIT_HELD)

CODE_ACCOUNTS: dict[TransferCode, tuple[frozenset[AccountKind], frozenset[AccountKind]]] = {
    TransferCode.DEPOSIT_RECEIVED: (frozenset({_K.BANK}), frozenset({_K.DEPOSIT_HELD})),
    TransferCode.SUSPENSE_RECEIVED: (frozenset({_K.BANK}), frozenset({_K.SUSPENSE})),
    TransferCode.BANK_REVERSAL: (frozenset({_K.DEPOSIT_HELD, _K.SUSPENSE}), frozenset({_K.BANK})),
    TransferCode.REFUND: (frozenset({_K.DEPOSIT_HELD}), frozenset({_K.REFUNDS_PAYABLE})),
    TransferCode.INTEREST: (frozenset({_K.INTEREST_EXPENSE}), frozenset({_K.REFUNDS_PAYABLE})),
    TransferCode.SUSPENSE_RETURN: (frozenset({_K.SUSPENSE}), frozenset({_K.REFUNDS_PAYABLE})),
    TransferCode.PAYOUT: (frozenset({_K.REFUNDS_PAYABLE}), frozenset({_K.BANK})),
    TransferCode.FORFEIT: (frozenset({_K.DEPOSIT_HELD}), frozenset({_K.FORFEITED})),
    TransferCode.CONVERSION: (frozenset({_K.DEPOSIT_HELD}), frozenset({_K.PRICE_RECEIVABLE})),
    # Corrections never touch a bidder's deposit: those move only through the lifecycle.
    TransferCode.ADJUSTMENT: (_SYSTEM_KINDS, _SYSTEM_KINDS),
}
"""Which account kinds each code may debit and credit."""

# The hot path reads flags as bits (``Flag.__contains__`` is a Python call per test).
_PENDING = TransferFlags.PENDING.value
_POST = TransferFlags.POST_PENDING.value
_SETTLE = TransferFlags.POST_PENDING.value | TransferFlags.VOID_PENDING.value
_PHASES = _PENDING | _SETTLE
# Tuples, not sets: ``in`` compares members by identity first, where a set hashes an Enum
# with a Python call.
_DEBIT_LIMITED = tuple(
    k for k in AccountKind if AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS in Account("x", k).flags
)
_CREDIT_LIMITED = tuple(
    k for k in AccountKind if AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS in Account("x", k).flags
)
_CODE_KINDS = {code.value: (tuple(d), tuple(c)) for code, (d, c) in CODE_ACCOUNTS.items()}


class AccountSums(Protocol):
    """What ``validate_transfer`` reads of an account: an ``Account``, or the working copy a
    batch keeps of one while it decides (``batch``: one object per account, not one per
    transfer)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> AccountKind: ...
    @property
    def debits_pending(self) -> int: ...
    @property
    def debits_posted(self) -> int: ...
    @property
    def credits_pending(self) -> int: ...
    @property
    def credits_posted(self) -> int: ...


def _same(a: object, b: object) -> bool:
    # ``True == 1``: compare types too, so a bool never passes for an amount already used.
    return type(a) is type(b) and a == b


def _compare_with_prior(t: Transfer, prior: Transfer) -> TransferResult:
    if not _same(t.flags, prior.flags):
        return R.EXISTS_WITH_DIFFERENT_FLAGS
    if not _same(t.pending_id, prior.pending_id):
        return R.EXISTS_WITH_DIFFERENT_PENDING_ID
    if not _same(t.debit_account_id, prior.debit_account_id):
        return R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT
    if not _same(t.credit_account_id, prior.credit_account_id):
        return R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT
    if not _same(t.amount_fen, prior.amount_fen):
        return R.EXISTS_WITH_DIFFERENT_AMOUNT
    if not _same(t.reference, prior.reference):
        return R.EXISTS_WITH_DIFFERENT_REFERENCE
    if not _same(t.code, prior.code):
        return R.EXISTS_WITH_DIFFERENT_CODE
    return R.EXISTS


def validate_transfer(
    t: Transfer,
    *,
    prior: Transfer | None,
    debit: AccountSums | None,
    credit: AccountSums | None,
    pending: Transfer | None = None,
    pending_resolution: Transfer | None = None,
) -> TransferResult:
    """The first ``TransferResult`` that applies to ``t``, in order of precedence.

    ``prior`` is the transfer recorded under ``t.id`` (accepted or failed transiently);
    ``debit``/``credit`` the accounts named by ``t`` (None if absent); for a post or void,
    ``pending`` is the accepted transfer named by ``t.pending_id`` and
    ``pending_resolution`` the post or void already recorded against it."""
    if not is_valid_id(t.id):
        return R.ID_INVALID
    if prior is not None:
        return _compare_with_prior(t, prior)

    flags = t.flags
    if not isinstance(flags, TransferFlags):
        return R.FLAGS_INVALID
    bits = flags._value_
    phase = bits & _PHASES
    if phase & (phase - 1):  # more than one of pending, post, void
        return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    # An account found under the id proves the id well-formed (a store holds no other).
    if debit is None and not is_valid_id(t.debit_account_id):
        return R.DEBIT_ACCOUNT_ID_INVALID
    if credit is None and not is_valid_id(t.credit_account_id):
        return R.CREDIT_ACCOUNT_ID_INVALID
    if t.debit_account_id == t.credit_account_id:
        return R.ACCOUNTS_MUST_BE_DIFFERENT
    settle = bool(bits & _SETTLE)
    if not settle and t.pending_id is not None:
        return R.PENDING_ID_MUST_BE_EMPTY
    if settle and not is_valid_id(t.pending_id):
        return R.PENDING_ID_MUST_NOT_BE_EMPTY
    if settle and t.pending_id == t.id:
        return R.PENDING_ID_MUST_BE_DIFFERENT
    amount = t.amount_fen
    if type(amount) is not int or not 0 < amount <= AMOUNT_MAX_FEN:  # else no call: hot path
        problem = amount_problem(amount)
        if problem is not None:
            return problem
    if not isinstance(t.code, TransferCode):
        return R.CODE_INVALID
    if not isinstance(t.reference, str) or len(t.reference) > REFERENCE_MAX_LEN:
        return R.REFERENCE_INVALID

    # -- against the ledger's state --
    if debit is None:
        return R.DEBIT_ACCOUNT_NOT_FOUND
    if credit is None:
        return R.CREDIT_ACCOUNT_NOT_FOUND
    assert debit.id == t.debit_account_id and credit.id == t.credit_account_id, "wrong accounts"
    debit_kinds, credit_kinds = _CODE_KINDS[t.code._value_]
    if debit.kind not in debit_kinds or credit.kind not in credit_kinds:
        return R.CODE_NOT_ALLOWED_FOR_ACCOUNTS

    if settle:
        if pending is None:
            return R.PENDING_TRANSFER_NOT_FOUND
        assert pending.id == t.pending_id, "wrong pending transfer"
        if not pending.flags._value_ & _PENDING:
            return R.PENDING_TRANSFER_NOT_PENDING
        if pending.debit_account_id != t.debit_account_id:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT
        if pending.credit_account_id != t.credit_account_id:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT
        if pending.code is not t.code:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_CODE
        if pending.amount_fen != amount:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
        if pending_resolution is not None:
            if pending_resolution.flags._value_ & _POST:
                return R.PENDING_TRANSFER_ALREADY_POSTED
            return R.PENDING_TRANSFER_ALREADY_VOIDED
        # Posting or voiding moves a reservation already counted: no new limit applies.
        return R.OK

    if debit.debits_pending + debit.debits_posted + amount > BALANCE_MAX_FEN:
        return R.OVERFLOWS_DEBITS
    if credit.credits_pending + credit.credits_posted + amount > BALANCE_MAX_FEN:
        return R.OVERFLOWS_CREDITS
    if debit.kind in _DEBIT_LIMITED and (
        debit.debits_pending + debit.debits_posted + amount > debit.credits_posted
    ):
        return R.EXCEEDS_CREDITS
    if credit.kind in _CREDIT_LIMITED and (
        credit.credits_pending + credit.credits_posted + amount > credit.debits_posted
    ):
        return R.EXCEEDS_DEBITS
    return R.OK


def sum_changes(t: Transfer) -> tuple[int, int, int, int]:
    """What an accepted ``t`` adds to (the debit account's ``debits_pending``, its
    ``debits_posted``, the credit account's ``credits_pending``, its ``credits_posted``): a
    pending transfer reserves, a post moves its reservation to posted, a void releases it."""
    amount = t.amount_fen
    bits = t.flags._value_
    if bits & _PENDING:
        return amount, 0, amount, 0
    if bits & _SETTLE:
        posted = amount if bits & _POST else 0
        return -amount, posted, -amount, posted
    return 0, amount, 0, amount


def apply_transfer(
    t: Transfer, debit: Account, credit: Account, pending: Transfer | None = None
) -> tuple[Account, Account]:
    """The two accounts after an accepted ``t`` (``validate_transfer`` returned OK)."""
    assert not t.flags._value_ & _SETTLE or (
        pending is not None and pending.amount_fen == t.amount_fen
    ), "settles its pending"
    dp, dq, cp, cq = sum_changes(t)
    d, c = debit, credit
    return (
        Account(
            d.id,
            d.kind,
            d.project_id,
            d.bidder_id,
            d.debits_pending + dp,
            d.debits_posted + dq,
            d.credits_pending,
            d.credits_posted,
        ),
        Account(
            c.id,
            c.kind,
            c.project_id,
            c.bidder_id,
            c.debits_pending,
            c.debits_posted,
            c.credits_pending + cp,
            c.credits_posted + cq,
        ),
    )


def post_of(pending: Transfer, id: str, reference: str = "") -> Transfer:
    """The transfer that posts ``pending`` in full."""
    return replace(
        pending,
        id=id,
        flags=TransferFlags.POST_PENDING,
        pending_id=pending.id,
        reference=reference,
    )


def void_of(pending: Transfer, id: str, reference: str = "") -> Transfer:
    """The transfer that voids ``pending``: the reservation is released."""
    return replace(
        pending,
        id=id,
        flags=TransferFlags.VOID_PENDING,
        pending_id=pending.id,
        reference=reference,
    )


def validate_account(a: Account, existing: Account | None) -> AccountResult:
    """Creating ``a``: idempotent by id; a new account starts with zero sums."""
    if not is_valid_id(a.id):
        return AccountResult.ID_INVALID
    if a.debits_pending or a.debits_posted or a.credits_pending or a.credits_posted:
        return AccountResult.BALANCES_MUST_BE_ZERO
    if a.kind is AccountKind.DEPOSIT_HELD and not (a.project_id and a.bidder_id):
        return AccountResult.DEPOSIT_ACCOUNT_NEEDS_OWNER
    if existing is None:
        return AccountResult.OK
    if existing.kind is not a.kind:
        return AccountResult.EXISTS_WITH_DIFFERENT_KIND
    if (existing.project_id, existing.bidder_id) != (a.project_id, a.bidder_id):
        return AccountResult.EXISTS_WITH_DIFFERENT_OWNER
    return AccountResult.EXISTS


def trial_balance(accounts: Iterable[Account]) -> TrialBalance:
    """Every account's sums and the totals. Balanced iff the ledger sums to zero."""
    rows = tuple(
        TrialBalanceRow(
            a.id, a.kind, a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending
        )
        for a in sorted(accounts, key=lambda a: a.id)
    )
    return TrialBalance(
        rows=rows,
        debits_posted=sum(r.debits_posted for r in rows),
        credits_posted=sum(r.credits_posted for r in rows),
        debits_pending=sum(r.debits_pending for r in rows),
        credits_pending=sum(r.credits_pending for r in rows),
    )
