"""The deposit ledger's rules: pure functions, no I/O, no clock, no randomness.

Theory of operation
===================

Money. Every amount is an ``int`` of fen, ``0 < amount_fen <= AMOUNT_MAX_FEN``; a ``bool``,
a float or a decimal is refused with its own code (``amount_problem``). Every transfer moves
one amount from one account to another, so every transfer balances and the whole ledger
sums to zero (``trial_balance``).

Transfers (TigerBeetle's model). ``validate_transfer`` decides one transfer against exactly
what a store has to load for it, under lock:

- ``prior``: what was recorded before under the same id (accepted, or a state-dependent
  failure). Same content → ``EXISTS`` (the caller answers the first result); other
  content → ``EXISTS_WITH_DIFFERENT_*``.
- ``debit``/``credit``: the two accounts with their running sums.
- ``pending`` and ``pending_resolution``: for a post or void, the pending transfer and the
  post or void already recorded against it, if any — at most one ever exists, so a pending
  transfer is posted or voided exactly once (a store enforces it with a unique index on
  ``pending_id``).

It returns the first ``TransferResult`` that applies, in the declared order of precedence;
``apply_transfer`` then computes the two accounts' new sums. Balance limits come from the
account's kind: a deposit held, refunds payable, suspense and forfeited may never be
debited beyond their posted credits (pending debits count: a reservation is a promise).

Deposits (保证金). A ``Deposit`` moves through ``DEPOSIT_TRANSITIONS``::

    awaiting    --confirm-->          confirmed      (cash credit in time, or a guarantee)
    confirmed   --reverse-->          awaiting       (the bank took the credit back)
    confirmed   --request_refund-->   refund_pending (cash to refunds payable, payout pending)
    confirmed   --release-->          refunded       (a guarantee handed back)
    refund_pending --payout_voided / payout_reissued--> refund_pending
    refund_pending --payout_posted--> refunded       (the bank paid)
    confirmed   --request_forfeit-->  forfeit_pending (cash reserved, waiting for approval)
    forfeit_pending --approve_forfeit--> forfeited   (a second staff member)
    forfeit_pending --reject_forfeit-->  confirmed
    confirmed   --convert-->          converted      (auction winner: part of the price)

``next_deposit_state`` is a table lookup; a missing entry raises and changes nothing. The
three ends (refunded, forfeited, converted) have no way out: a deposit is resolved once.

Bank notifications. A credit is matched to a deposit by its virtual sub-account number
(``sub_account_number``: the project and bidder numbers plus ISO 7064 MOD 97-10 check
digits, so a mistyped number is caught). It confirms the deposit when the sub-account is
known, the bank's value time is strictly before the deadline (IR 26), the deposit is still
awaiting and the amount suffices; otherwise the money goes to suspense with the first
reason that applies, in that order (``classify_credit``). The bank numbers its messages;
``check_sequence`` refuses a gap or a number already used.

Dates. Refund deadlines and interest are counted on China dates (UTC+8). Interest is simple
interest on a 365-day year, rounded half-up to the fen (``interest_fen``); days held count
the day of value and not the day of refund (算头不算尾). "Within 5 working days" counts
Monday to Friday less holidays plus adjusted working days (``add_working_days``).

Sources: IR 26 (cap 2 %, value time), IR 35 (withdrawal), IR 40(6) (same payer account),
IR 57 (refund with interest within 5 days of the contract), IR 74 (forfeiture); O39 and land
practice (A7: ≥ 20 %, winner's deposit into the price, losers within 5 working days).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from crypto.signing import canonical_json, verify
from trading.clock import iso_ms

from .errors import LedgerReason, LedgerRejected
from .model import (
    AMOUNT_MAX_FEN,
    BALANCE_MAX_FEN,
    CHINA_TZ,
    ID_MAX_LEN,
    REFERENCE_MAX_LEN,
    SYSTEM_ACCOUNTS,
    Account,
    AccountFlags,
    AccountKind,
    AccountResult,
    BankNotification,
    CollusionAlert,
    Deposit,
    DepositEvent,
    DepositForm,
    DepositPolicy,
    DepositState,
    DepositTerms,
    ForfeitCause,
    Guarantee,
    NotificationKind,
    NotificationVerdict,
    Payout,
    PayoutPurpose,
    ProjectKind,
    RefundCause,
    SuspenseItem,
    SuspenseReason,
    SuspenseState,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferResult,
    TrialBalance,
    TrialBalanceRow,
    WorkCalendar,
)

__all__ = [
    "CODE_ACCOUNTS",
    "DEPOSIT_TRANSITIONS",
    "REFUND_TERMS",
    "RESOLVED_STATES",
    "add_working_days",
    "amount_problem",
    "apply_transfer",
    "check_conversion",
    "check_deposit_terms",
    "check_forfeit",
    "check_guarantee",
    "check_land_deposit_floor",
    "check_refund",
    "check_second_approver",
    "check_sequence",
    "check_tender_deposit_cap",
    "china_date",
    "classify_credit",
    "classify_notification",
    "classify_reversal",
    "days_held",
    "deposit_terms_problems",
    "detect_collusion",
    "interest_fen",
    "is_valid_id",
    "is_valid_sub_account",
    "is_working_day",
    "mod97_check_digits",
    "next_deposit_state",
    "normalize_bank_account",
    "notification_fields",
    "notification_message",
    "notification_problems",
    "parse_sub_account",
    "post_of",
    "reason_for_result",
    "refund_due_on",
    "refund_plan",
    "suspense_return_plan",
    "SUSPENSE_RETURN_DAYS",
    "require_amount",
    "same_notification",
    "seal_payer",
    "sub_account_number",
    "trial_balance",
    "validate_account",
    "validate_transfer",
    "verify_notification",
    "void_of",
]

R = TransferResult

# -- ids and amounts ------------------------------------------------------------------------

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

# -- transfers ------------------------------------------------------------------------------

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

_PHASE_FLAGS = (TransferFlags.PENDING, TransferFlags.POST_PENDING, TransferFlags.VOID_PENDING)
_SETTLE = TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING


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
    debit: Account | None,
    credit: Account | None,
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
    if sum(1 for f in _PHASE_FLAGS if f in flags) > 1:
        return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    if not is_valid_id(t.debit_account_id):
        return R.DEBIT_ACCOUNT_ID_INVALID
    if not is_valid_id(t.credit_account_id):
        return R.CREDIT_ACCOUNT_ID_INVALID
    if t.debit_account_id == t.credit_account_id:
        return R.ACCOUNTS_MUST_BE_DIFFERENT
    settle = bool(flags & _SETTLE)
    if not settle and t.pending_id is not None:
        return R.PENDING_ID_MUST_BE_EMPTY
    if settle and not is_valid_id(t.pending_id):
        return R.PENDING_ID_MUST_NOT_BE_EMPTY
    if settle and t.pending_id == t.id:
        return R.PENDING_ID_MUST_BE_DIFFERENT
    problem = amount_problem(t.amount_fen)
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
    debit_kinds, credit_kinds = CODE_ACCOUNTS[t.code]
    if debit.kind not in debit_kinds or credit.kind not in credit_kinds:
        return R.CODE_NOT_ALLOWED_FOR_ACCOUNTS
    amount = t.amount_fen

    if settle:
        if pending is None:
            return R.PENDING_TRANSFER_NOT_FOUND
        assert pending.id == t.pending_id, "wrong pending transfer"
        if TransferFlags.PENDING not in pending.flags:
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
            if TransferFlags.POST_PENDING in pending_resolution.flags:
                return R.PENDING_TRANSFER_ALREADY_POSTED
            return R.PENDING_TRANSFER_ALREADY_VOIDED
        # Posting or voiding moves a reservation already counted: no new limit applies.
        return R.OK

    if debit.debits_pending + debit.debits_posted + amount > BALANCE_MAX_FEN:
        return R.OVERFLOWS_DEBITS
    if credit.credits_pending + credit.credits_posted + amount > BALANCE_MAX_FEN:
        return R.OVERFLOWS_CREDITS
    if AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS in debit.flags and (
        debit.debits_pending + debit.debits_posted + amount > debit.credits_posted
    ):
        return R.EXCEEDS_CREDITS
    if AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS in credit.flags and (
        credit.credits_pending + credit.credits_posted + amount > credit.debits_posted
    ):
        return R.EXCEEDS_DEBITS
    return R.OK


def apply_transfer(
    t: Transfer, debit: Account, credit: Account, pending: Transfer | None = None
) -> tuple[Account, Account]:
    """The two accounts after an accepted ``t`` (``validate_transfer`` returned OK)."""
    amount = t.amount_fen
    if TransferFlags.PENDING in t.flags:
        return (
            replace(debit, debits_pending=debit.debits_pending + amount),
            replace(credit, credits_pending=credit.credits_pending + amount),
        )
    if t.flags & _SETTLE:
        assert pending is not None and pending.amount_fen == amount, "settles its pending"
        posted = amount if TransferFlags.POST_PENDING in t.flags else 0
        return (
            replace(
                debit,
                debits_pending=debit.debits_pending - amount,
                debits_posted=debit.debits_posted + posted,
            ),
            replace(
                credit,
                credits_pending=credit.credits_pending - amount,
                credits_posted=credit.credits_posted + posted,
            ),
        )
    return (
        replace(debit, debits_posted=debit.debits_posted + amount),
        replace(credit, credits_posted=credit.credits_posted + amount),
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


# -- the deposit lifecycle ------------------------------------------------------------------

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


# -- virtual sub-account numbers ------------------------------------------------------------


def mod97_check_digits(payload: str) -> str:
    """ISO 7064 MOD 97-10 check digits (as in IBAN) for a string of decimal digits: two
    digits ``cc`` such that ``int(payload + cc) % 97 == 1``. Detects every single-digit
    error and every transposition of two adjacent digits."""
    if not payload.isdigit() or not payload.isascii():
        raise ValueError("payload must be decimal digits")
    return f"{98 - int(payload + '00') % 97:02d}"


def sub_account_number(
    project_no: int,
    bidder_no: int,
    *,
    prefix: str = "",
    project_width: int = 6,
    bidder_width: int = 6,
) -> str:
    """The virtual sub-account (虚拟子账号) of (bidder, project): ``prefix`` (the centre's
    digits at the bank) + project number + bidder number, zero-padded to fixed widths, +
    two MOD 97-10 check digits. Deterministic, and injective for a fixed prefix and widths:
    two different (project, bidder) pairs never share a number."""
    for name, value, width in (
        ("project_no", project_no, project_width),
        ("bidder_no", bidder_no, bidder_width),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise LedgerReason.INVALID_INPUT.reject(f"{name}={value!r}", field=name)
        if value >= 10**width:
            raise LedgerReason.INVALID_INPUT.reject(
                f"{name}={value} needs more than {width} digits", field=name
            )
    if prefix and not (prefix.isdigit() and prefix.isascii()):
        raise LedgerReason.INVALID_INPUT.reject("prefix must be digits", field="prefix")
    payload = f"{prefix}{project_no:0{project_width}d}{bidder_no:0{bidder_width}d}"
    return payload + mod97_check_digits(payload)


def is_valid_sub_account(number: object) -> bool:
    """True when ``number`` is all digits and its MOD 97-10 check holds."""
    return (
        isinstance(number, str)
        and 3 <= len(number) <= 34
        and number.isascii()
        and number.isdigit()
        and int(number) % 97 == 1
    )


def parse_sub_account(
    number: str, *, prefix: str = "", project_width: int = 6, bidder_width: int = 6
) -> tuple[int, int] | None:
    """(project_no, bidder_no) of a well-formed number, or None (wrong length, prefix or
    check digits)."""
    if not is_valid_sub_account(number):
        return None
    if len(number) != len(prefix) + project_width + bidder_width + 2:
        return None
    if not number.startswith(prefix):
        return None
    body = number[len(prefix) : -2]
    return int(body[:project_width]), int(body[project_width:])


# -- dates, working days, interest -----------------------------------------------------------


def china_date(when: datetime) -> date:
    """The calendar date in China (UTC+8) of an aware datetime."""
    if when.tzinfo is None:
        raise LedgerReason.INVALID_INPUT.reject("a datetime must carry its timezone")
    return when.astimezone(CHINA_TZ).date()


def is_working_day(day: date, calendar: WorkCalendar) -> bool:
    if day in calendar.workdays:
        return True
    return day.weekday() < 5 and day not in calendar.holidays


_WORKING_DAY_SEARCH_MAX = 3_660


def add_working_days(start: date, days: int, calendar: WorkCalendar) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself is not counted):
    "within 5 working days" of a Friday result means by the next Friday, holidays aside."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise LedgerReason.INVALID_INPUT.reject(f"days={days!r}", field="days")
    day, left, steps = start, days, 0
    while left:
        day += timedelta(days=1)
        steps += 1
        if steps > _WORKING_DAY_SEARCH_MAX:
            raise LedgerReason.INVALID_INPUT.reject("the calendar has no working days")
        if is_working_day(day, calendar):
            left -= 1
    return day


def days_held(received_at: datetime, refunded_at: datetime) -> int:
    """Days money was held: from the China date of value, counted, to the China date of the
    refund, not counted (算头不算尾). Never negative."""
    return max(0, (china_date(refunded_at) - china_date(received_at)).days)


_DAYS_PER_YEAR = 365
_BP_PER_UNIT = 10_000
INTEREST_RATE_MAX_BP = 10_000


def interest_fen(principal_fen: int, rate_bp: int, days: int) -> int:
    """Simple interest on ``principal_fen`` for ``days`` at ``rate_bp`` a year (basis points),
    on a 365-day year, rounded half-up to the fen. Integer arithmetic only::

        principal × rate_bp × days / (10 000 × 365), half-up
    """
    for name, value in (("principal_fen", principal_fen), ("rate_bp", rate_bp), ("days", days)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise LedgerReason.INVALID_INPUT.reject(f"{name}={value!r}", field=name)
    if principal_fen > AMOUNT_MAX_FEN or rate_bp > INTEREST_RATE_MAX_BP:
        raise LedgerReason.INVALID_INPUT.reject("principal or rate out of range")
    numerator = principal_fen * rate_bp * days
    denominator = _BP_PER_UNIT * _DAYS_PER_YEAR
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if 2 * remainder >= denominator else 0)


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


# -- deposit terms: caps and floors ----------------------------------------------------------


def check_tender_deposit_cap(
    deposit_fen: int, estimate_fen: int, *, works: bool = False, policy: DepositPolicy
) -> None:
    """T14 (IR 26): a bid deposit may not exceed 2 % of the estimate, nor, for works, the
    absolute cap (800,000 yuan by default). Exact in integers: 2.01 % is refused."""
    require_amount(deposit_fen, "deposit_fen")
    require_amount(estimate_fen, "estimate_fen")
    if deposit_fen * _BP_PER_UNIT > estimate_fen * policy.tender_cap_bp:
        raise LedgerReason.DEPOSIT_ABOVE_CAP.reject(
            f"{deposit_fen} fen > {policy.tender_cap_bp} bp of {estimate_fen} fen",
            deposit_fen=deposit_fen,
            estimate_fen=estimate_fen,
        )
    if works and deposit_fen > policy.works_cap_fen:
        raise LedgerReason.DEPOSIT_ABOVE_CAP.reject(
            f"{deposit_fen} fen > works cap {policy.works_cap_fen} fen",
            deposit_fen=deposit_fen,
            cap_fen=policy.works_cap_fen,
        )


def check_land_deposit_floor(
    deposit_fen: int, starting_price_fen: int, *, policy: DepositPolicy
) -> None:
    """A7: a land deposit is at least 20 % (cfg) of the starting price."""
    require_amount(deposit_fen, "deposit_fen")
    require_amount(starting_price_fen, "starting_price_fen")
    if deposit_fen * _BP_PER_UNIT < starting_price_fen * policy.land_floor_bp:
        raise LedgerReason.DEPOSIT_BELOW_FLOOR.reject(
            f"{deposit_fen} fen < {policy.land_floor_bp} bp of {starting_price_fen} fen",
            deposit_fen=deposit_fen,
            starting_price_fen=starting_price_fen,
        )


def deposit_terms_problems(terms: DepositTerms, policy: DepositPolicy) -> list[LedgerRejected]:
    """Every problem with a project's deposit terms (empty when they are acceptable)."""
    problems: list[LedgerRejected] = []

    def check(fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except LedgerRejected as e:
            problems.append(e)

    if not is_valid_id(terms.project_id):
        problems.append(LedgerReason.ID_INVALID.reject("project_id", field="project_id"))
    n = terms.project_no
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        problems.append(LedgerReason.INVALID_INPUT.reject("project_no", field="project_no"))
    if not isinstance(terms.kind, ProjectKind):
        problems.append(LedgerReason.INVALID_INPUT.reject("kind", field="kind"))
    check(require_amount, terms.required_fen, "required_fen")
    if not isinstance(terms.deadline_at, datetime) or terms.deadline_at.tzinfo is None:
        problems.append(LedgerReason.INVALID_INPUT.reject("deadline_at", field="deadline_at"))
    opening = terms.opening_at
    if opening is not None and (
        not isinstance(opening, datetime)
        or opening.tzinfo is None
        or (
            isinstance(terms.deadline_at, datetime)
            and terms.deadline_at.tzinfo is not None
            and opening < terms.deadline_at
        )
    ):
        problems.append(
            LedgerReason.INVALID_INPUT.reject(
                "opening_at must be at or after the deadline", field="opening_at"
            )
        )
    rate = terms.interest_rate_bp
    if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate <= 10_000:
        problems.append(
            LedgerReason.INVALID_INPUT.reject("interest_rate_bp", field="interest_rate_bp")
        )
    if problems:
        return problems
    if terms.kind is ProjectKind.TENDER:
        if terms.estimate_fen is None:
            problems.append(
                LedgerReason.INVALID_INPUT.reject(
                    "a tender needs estimate_fen", field="estimate_fen"
                )
            )
        else:
            check(
                check_tender_deposit_cap,
                terms.required_fen,
                terms.estimate_fen,
                works=terms.works,
                policy=policy,
            )
    if terms.kind is ProjectKind.AUCTION and terms.land:
        if terms.starting_price_fen is None:
            problems.append(
                LedgerReason.INVALID_INPUT.reject(
                    "a land sale needs starting_price_fen", field="starting_price_fen"
                )
            )
        else:
            check(
                check_land_deposit_floor,
                terms.required_fen,
                terms.starting_price_fen,
                policy=policy,
            )
    return problems


def check_deposit_terms(terms: DepositTerms, policy: DepositPolicy) -> None:
    """Raise the first problem, with every problem's code in ``details['errors']``."""
    problems = deposit_terms_problems(terms, policy)
    if problems:
        first = problems[0]
        raise LedgerRejected(
            first.reason,
            first.message_en.partition(": ")[2],
            details={"errors": [{"code": p.code, "message": p.message_en} for p in problems]},
        )


# -- bank notifications ----------------------------------------------------------------------

_SUB_ACCOUNT_RE = re.compile(r"[0-9]{1,34}")
_NAME_MAX_LEN = 200
_BANK_ACCOUNT_MAX_LEN = 64
BANK_REF_MAX_LEN = 96
"""Leaves room in a 128-character transfer id for the ledger's own prefixes."""


def notification_fields(n: BankNotification) -> dict[str, Any]:
    """A notification as JSON values: what travels on the wire and what the bank signs."""
    return {
        "seq": n.seq,
        "bank_ref": n.bank_ref,
        "kind": n.kind.value if isinstance(n.kind, NotificationKind) else n.kind,
        "sub_account": n.sub_account,
        "amount_fen": n.amount_fen,
        "value_at": iso_ms(n.value_at) if isinstance(n.value_at, datetime) else n.value_at,
        "payer_account": n.payer_account,
        "payer_name": n.payer_name,
        "reverses_ref": n.reverses_ref,
    }


def notification_message(n: BankNotification) -> bytes:
    """The exact bytes the bank signs: canonical JSON of every field, the sequence included
    (so a replay cannot be renumbered)."""
    return canonical_json(notification_fields(n))


def verify_notification(n: BankNotification, signature: bytes, bank_public_key: bytes) -> bool:
    """True when ``signature`` is the bank's Ed25519 signature of ``notification_message``."""
    if not isinstance(signature, bytes | bytearray):
        return False
    try:
        message = notification_message(n)
    except (TypeError, ValueError):
        return False
    return verify(bank_public_key, bytes(signature), message)


def notification_problems(n: BankNotification) -> list[str]:
    """Every way ``n`` is malformed (empty when well-formed)."""
    problems: list[str] = []
    if isinstance(n.seq, bool) or not isinstance(n.seq, int) or n.seq < 1:
        problems.append("seq must be a positive integer")
    if not is_valid_id(n.bank_ref) or len(n.bank_ref) > BANK_REF_MAX_LEN:
        problems.append(f"bank_ref must be a valid id of at most {BANK_REF_MAX_LEN} characters")
    if not isinstance(n.kind, NotificationKind):
        problems.append("kind must be credit or reversal")
    if not isinstance(n.sub_account, str) or not _SUB_ACCOUNT_RE.fullmatch(n.sub_account):
        problems.append("sub_account must be 1 to 34 digits")
    amount = amount_problem(n.amount_fen)
    if amount is not None:
        problems.append(f"amount_fen: {amount.value}")
    if not isinstance(n.value_at, datetime) or n.value_at.tzinfo is None:
        problems.append("value_at must be a datetime with a timezone")
    if not isinstance(n.payer_account, str) or len(n.payer_account) > _BANK_ACCOUNT_MAX_LEN:
        problems.append("payer_account must be text of at most 64 characters")
    if not isinstance(n.payer_name, str) or len(n.payer_name) > _NAME_MAX_LEN:
        problems.append("payer_name must be text of at most 200 characters")
    if n.kind is NotificationKind.REVERSAL:
        if not is_valid_id(n.reverses_ref) or n.reverses_ref == n.bank_ref:
            problems.append("a reversal names the bank_ref it reverses")
    elif n.reverses_ref is not None:
        problems.append("only a reversal names reverses_ref")
    return problems


def same_notification(a: BankNotification, b: BankNotification) -> bool:
    """The same movement told twice: every field equal except the message's ``seq``."""
    return replace(a, seq=0) == replace(b, seq=0)


def check_sequence(last_seq: int, seq: int) -> LedgerReason | None:
    """None when ``seq`` is the next message; else why it is refused (nothing changes):
    a number already used is a replay, a gap means messages are missing."""
    if seq <= last_seq:
        return LedgerReason.NOTIFICATION_REPLAYED
    if seq > last_seq + 1:
        return LedgerReason.NOTIFICATION_OUT_OF_ORDER
    return None


def classify_credit(
    n: BankNotification, terms: DepositTerms | None, deposit: Deposit | None
) -> tuple[NotificationVerdict, SuspenseReason | None]:
    """Where a credit goes: the deposit it confirms, or suspense with the first reason that
    applies (unknown sub-account, value time at or after the deadline (IR 26), deposit not
    awaiting money, amount short of what is required)."""
    if deposit is None or terms is None:
        return NotificationVerdict.SUSPENSE, SuspenseReason.UNKNOWN_SUB_ACCOUNT
    assert deposit.project_id == terms.project_id, "deposit and terms of one project"
    if n.value_at >= terms.deadline_at:
        return NotificationVerdict.SUSPENSE, SuspenseReason.AFTER_DEADLINE
    if deposit.state is not DepositState.AWAITING:
        return NotificationVerdict.SUSPENSE, SuspenseReason.DEPOSIT_NOT_AWAITING
    if n.amount_fen < terms.required_fen:
        return NotificationVerdict.SUSPENSE, SuspenseReason.AMOUNT_INSUFFICIENT
    return NotificationVerdict.CONFIRM, None


def classify_notification(
    n: BankNotification,
    *,
    seen: BankNotification | None,
    terms: DepositTerms | None,
    deposit: Deposit | None,
) -> tuple[NotificationVerdict, SuspenseReason | None]:
    """A credit's verdict, duplicates first: ``seen`` is the notification already processed
    under ``n.bank_ref``, if any. The same movement again is ``DUPLICATE`` (nothing
    changes); the same reference with other content is refused."""
    if seen is not None:
        if same_notification(seen, n):
            return NotificationVerdict.DUPLICATE, None
        raise LedgerReason.NOTIFICATION_CONFLICT.reject(n.bank_ref, bank_ref=n.bank_ref)
    return classify_credit(n, terms, deposit)


def classify_reversal(
    n: BankNotification,
    *,
    original: BankNotification | None,
    deposit: Deposit | None,
    suspense: SuspenseItem | None,
) -> tuple[NotificationVerdict, str]:
    """What a bank reversal (冲正) of ``original`` does. The bank has already taken the
    money back, so a reversal is never refused; one the ledger cannot apply is recorded as
    ``UNAPPLIED`` and shows up in reconciliation for staff to correct."""
    if original is None or original.kind is not NotificationKind.CREDIT:
        return NotificationVerdict.UNAPPLIED, "reverses no known credit"
    if original.amount_fen != n.amount_fen or original.sub_account != n.sub_account:
        return NotificationVerdict.UNAPPLIED, "amount or sub-account differs from the credit"
    if suspense is not None and suspense.bank_ref == original.bank_ref:
        if suspense.state is SuspenseState.OPEN:
            return NotificationVerdict.REVERSE_SUSPENSE, ""
        return NotificationVerdict.UNAPPLIED, f"suspense item is {suspense.state.value}"
    if deposit is not None and deposit.bank_ref == original.bank_ref:
        if deposit.state is DepositState.CONFIRMED and deposit.form is DepositForm.CASH:
            return NotificationVerdict.REVERSE_DEPOSIT, ""
        return NotificationVerdict.UNAPPLIED, f"deposit is {deposit.state.value}"
    return NotificationVerdict.UNAPPLIED, "the credit is no longer held"


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


# -- payer secrecy and collusion --------------------------------------------------------------


def seal_payer(deposit: Deposit, *, now: datetime, opening_at: datetime) -> Deposit:
    """D1: who paid stays sealed until the opening: before it, the payer is blanked."""
    if now >= opening_at:
        return deposit
    return replace(deposit, payer_account=None, payer_name=None)


def normalize_bank_account(account: str) -> str:
    """Compare account numbers without spaces, dashes or letter case."""
    return "".join(ch for ch in account.upper() if ch.isalnum())


def detect_collusion(
    deposits: Iterable[Deposit], *, across_projects: bool = False
) -> list[CollusionAlert]:
    """D3 (IR 40(6)): cash deposits of different bidders paid from one bank account. Counts
    every deposit that was confirmed by a payment (refunded or not: the fact stays), grouped
    per project unless ``across_projects``. Alerts sorted by project and account."""
    groups: dict[tuple[str | None, str], list[Deposit]] = {}
    for d in deposits:
        if d.form is not DepositForm.CASH or not d.payer_account:
            continue
        account = normalize_bank_account(d.payer_account)
        if not account:
            continue
        key = (None if across_projects else d.project_id, account)
        groups.setdefault(key, []).append(d)
    alerts = []
    for (project_id, account), members in groups.items():
        bidders = sorted({d.bidder_id for d in members})
        if len(bidders) > 1:
            refs = tuple(sorted(d.bank_ref for d in members if d.bank_ref))
            alerts.append(CollusionAlert(project_id, account, tuple(bidders), refs))
    alerts.sort(key=lambda a: (a.project_id or "", a.payer_account))
    return alerts
