"""What the deposit ledger (保证金账簿) is: accounts, transfers, deposits, bank messages.

The model follows TigerBeetle's (https://docs.tigerbeetle.com/reference/):

- An ``Account`` carries four running sums, ``debits_pending``, ``debits_posted``,
  ``credits_pending``, ``credits_posted``, all in integer fen. Its ``kind`` fixes its
  ``flags`` (``DEBITS_MUST_NOT_EXCEED_CREDITS`` on a liability such as a deposit held), so
  a kind and its balance limits can never disagree.
- A ``Transfer`` moves ``amount_fen`` from one account (debited) to another (credited).
  Its ``id`` is chosen by the client and is the idempotency key: the same id with the same
  content returns the first result; the same id with other content is refused.
  A transfer flagged ``PENDING`` reserves the amount; a later transfer flagged
  ``POST_PENDING`` or ``VOID_PENDING`` naming it in ``pending_id`` settles it, exactly once.
  ``LINKED`` chains a transfer to the next one in the same batch: all or none.
- ``TransferResult`` lists the codes in their order of precedence: when several apply, the
  first in declaration order is the one returned.

Nothing is updated or deleted: a correction is a new transfer. Amounts are ``int`` fen
everywhere; a ``bool`` is not an amount. Deposits (``Deposit``) are the per-(bidder,
project) aggregate whose lifecycle (``DepositState``) the rules drive; their money lives in
their own ``DEPOSIT_HELD`` account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum, Flag, auto

__all__ = [
    "AMOUNT_MAX_FEN",
    "BALANCE_MAX_FEN",
    "CHINA_TZ",
    "CNY",
    "ID_MAX_LEN",
    "REFERENCE_MAX_LEN",
    "SYSTEM_ACCOUNTS",
    "Account",
    "AccountFlags",
    "AccountKind",
    "AccountResult",
    "BankMovement",
    "BankNotification",
    "CollusionAlert",
    "Deposit",
    "DepositEvent",
    "DepositForm",
    "DepositPolicy",
    "DepositState",
    "DepositTerms",
    "ForfeitCause",
    "ForfeitRequest",
    "Guarantee",
    "NotificationKind",
    "NotificationOutcome",
    "NotificationVerdict",
    "Payout",
    "PayoutPurpose",
    "PayoutResult",
    "PayoutState",
    "ProjectKind",
    "Recorded",
    "RefundCause",
    "SuspenseItem",
    "SuspenseReason",
    "SuspenseState",
    "Transfer",
    "TransferCode",
    "TransferFlags",
    "TransferOutcome",
    "TransferResult",
    "TrialBalance",
    "TrialBalanceRow",
    "WorkCalendar",
    "deposit_account_id",
]

# -- limits ---------------------------------------------------------------------------------

AMOUNT_MAX_FEN = 10**15
"""Largest amount of one transfer: 10 trillion yuan. A business cap far above any deposit,
far below what a PostgreSQL ``bigint`` holds, so sums of many transfers cannot overflow."""

BALANCE_MAX_FEN = 2**63 - 1
"""Largest running sum an account may reach (PostgreSQL ``bigint``)."""

ID_MAX_LEN = 128
REFERENCE_MAX_LEN = 256

CHINA_TZ = timezone(timedelta(hours=8), "CST")
"""China Standard Time, no daylight saving: dates of value, refunds and interest are China's."""


# -- accounts -------------------------------------------------------------------------------


class AccountKind(Enum):
    """The ledger's chart of accounts."""

    BANK = "bank"
    """The centre's deposit bank account (an asset: debited when money comes in)."""
    DEPOSIT_HELD = "deposit_held"
    """One per (bidder, project): the deposit the centre holds for that bidder (a liability)."""
    REFUNDS_PAYABLE = "refunds_payable"
    """Money decided to go back and not yet paid out by the bank (a liability)."""
    FORFEITED = "forfeited"
    """Deposits forfeited (没收), income of the tenderee or the state."""
    PRICE_RECEIVABLE = "price_receivable"
    """Price of an auction sale (成交价款): a winner's converted deposit is credited here."""
    INTEREST_EXPENSE = "interest_expense"
    """Interest paid on refunded tender deposits (银行同期存款利息)."""
    SUSPENSE = "suspense"
    """Money received that matches no deposit, held until it is returned or reversed."""


class AccountFlags(Flag):
    NONE = 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = auto()
    """Pending plus posted debits may never exceed posted credits (cannot go negative)."""
    CREDITS_MUST_NOT_EXCEED_DEBITS = auto()


_KIND_FLAGS: dict[AccountKind, AccountFlags] = {
    # The bank account is not limited here: the real balance is the bank's, reconciled daily,
    # and interest on refunds is paid out of the centre's own money in that account.
    AccountKind.BANK: AccountFlags.NONE,
    AccountKind.DEPOSIT_HELD: AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    AccountKind.REFUNDS_PAYABLE: AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    AccountKind.FORFEITED: AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    AccountKind.PRICE_RECEIVABLE: AccountFlags.NONE,
    AccountKind.INTEREST_EXPENSE: AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
    AccountKind.SUSPENSE: AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
}

SYSTEM_ACCOUNTS: dict[AccountKind, str] = {
    AccountKind.BANK: "bank",
    AccountKind.REFUNDS_PAYABLE: "refunds_payable",
    AccountKind.FORFEITED: "forfeited",
    AccountKind.PRICE_RECEIVABLE: "price_receivable",
    AccountKind.INTEREST_EXPENSE: "interest_expense",
    AccountKind.SUSPENSE: "suspense",
}
"""The one account of each kind other than ``DEPOSIT_HELD``, by id."""


def deposit_account_id(project_id: str, bidder_id: str) -> str:
    """The id of the ``DEPOSIT_HELD`` account of (bidder, project)."""
    return f"deposit:{project_id}:{bidder_id}"


@dataclass(frozen=True, slots=True)
class Account:
    """A ledger account with its running sums (fen). Replaced, never mutated."""

    id: str
    kind: AccountKind
    project_id: str | None = None
    bidder_id: str | None = None
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    @property
    def flags(self) -> AccountFlags:
        return _KIND_FLAGS[self.kind]

    @property
    def held_fen(self) -> int:
        """Posted credits less posted debits: what a liability account holds."""
        return self.credits_posted - self.debits_posted

    @property
    def available_fen(self) -> int:
        """What may still be debited: held less pending debits (reserved)."""
        return self.credits_posted - self.debits_posted - self.debits_pending


class AccountResult(Enum):
    """Result of creating an account, in order of precedence."""

    OK = "ok"
    ID_INVALID = "id_invalid"
    BALANCES_MUST_BE_ZERO = "balances_must_be_zero"
    DEPOSIT_ACCOUNT_NEEDS_OWNER = "deposit_account_needs_owner"
    EXISTS_WITH_DIFFERENT_KIND = "exists_with_different_kind"
    EXISTS_WITH_DIFFERENT_OWNER = "exists_with_different_owner"
    EXISTS = "exists"


# -- transfers ------------------------------------------------------------------------------


class TransferFlags(Flag):
    NONE = 0
    LINKED = auto()
    """This transfer succeeds or fails with the next one in the batch."""
    PENDING = auto()
    """Reserve the amount; a later post or void settles it."""
    POST_PENDING = auto()
    """Post the pending transfer named in ``pending_id``."""
    VOID_PENDING = auto()
    """Void the pending transfer named in ``pending_id``."""


class TransferCode(Enum):
    """What a transfer is for; each code may move money only between certain account kinds
    (``rules.transfers.CODE_ACCOUNTS``)."""

    DEPOSIT_RECEIVED = "deposit_received"  # bank → deposit held
    SUSPENSE_RECEIVED = "suspense_received"  # bank → suspense
    BANK_REVERSAL = "bank_reversal"  # deposit held / suspense → bank (冲正)
    REFUND = "refund"  # deposit held → refunds payable
    INTEREST = "interest"  # interest expense → refunds payable
    SUSPENSE_RETURN = "suspense_return"  # suspense → refunds payable
    PAYOUT = "payout"  # refunds payable → bank, pending until the bank confirms
    FORFEIT = "forfeit"  # deposit held → forfeited, pending until a second approver
    CONVERSION = "conversion"  # deposit held → price receivable
    ADJUSTMENT = "adjustment"  # a correction between system accounts


class TransferResult(Enum):
    """Result of creating one transfer. Declaration order is the order of precedence: when
    several codes apply, the first listed is returned (as in TigerBeetle)."""

    OK = "ok"
    LINKED_EVENT_FAILED = "linked_event_failed"
    LINKED_EVENT_CHAIN_OPEN = "linked_event_chain_open"
    ID_INVALID = "id_invalid"
    # The id is known: compare content (only fields a client sets).
    EXISTS_WITH_DIFFERENT_FLAGS = "exists_with_different_flags"
    EXISTS_WITH_DIFFERENT_PENDING_ID = "exists_with_different_pending_id"
    EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT = "exists_with_different_debit_account"
    EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT = "exists_with_different_credit_account"
    EXISTS_WITH_DIFFERENT_AMOUNT = "exists_with_different_amount"
    EXISTS_WITH_DIFFERENT_REFERENCE = "exists_with_different_reference"
    EXISTS_WITH_DIFFERENT_CODE = "exists_with_different_code"
    EXISTS = "exists"
    # The transfer on its own.
    FLAGS_INVALID = "flags_invalid"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"
    DEBIT_ACCOUNT_ID_INVALID = "debit_account_id_invalid"
    CREDIT_ACCOUNT_ID_INVALID = "credit_account_id_invalid"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts_must_be_different"
    PENDING_ID_MUST_BE_EMPTY = "pending_id_must_be_empty"
    PENDING_ID_MUST_NOT_BE_EMPTY = "pending_id_must_not_be_empty"
    PENDING_ID_MUST_BE_DIFFERENT = "pending_id_must_be_different"
    AMOUNT_NOT_INTEGER = "amount_not_integer"
    AMOUNT_NOT_POSITIVE = "amount_not_positive"
    AMOUNT_TOO_LARGE = "amount_too_large"
    CODE_INVALID = "code_invalid"
    REFERENCE_INVALID = "reference_invalid"
    # Against the ledger's state (recorded when they fail: a retry gets the same answer).
    DEBIT_ACCOUNT_NOT_FOUND = "debit_account_not_found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit_account_not_found"
    CODE_NOT_ALLOWED_FOR_ACCOUNTS = "code_not_allowed_for_accounts"
    PENDING_TRANSFER_NOT_FOUND = "pending_transfer_not_found"
    PENDING_TRANSFER_NOT_PENDING = "pending_transfer_not_pending"
    PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT = "pending_transfer_has_different_debit_account"
    PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT = "pending_transfer_has_different_credit_account"
    PENDING_TRANSFER_HAS_DIFFERENT_CODE = "pending_transfer_has_different_code"
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = "pending_transfer_has_different_amount"
    PENDING_TRANSFER_ALREADY_POSTED = "pending_transfer_already_posted"
    PENDING_TRANSFER_ALREADY_VOIDED = "pending_transfer_already_voided"
    OVERFLOWS_DEBITS = "overflows_debits"
    OVERFLOWS_CREDITS = "overflows_credits"
    EXCEEDS_CREDITS = "exceeds_credits"
    EXCEEDS_DEBITS = "exceeds_debits"

    @property
    def precedence(self) -> int:
        """0 for OK, then 1, 2, … in declaration order."""
        return _RESULT_ORDER[self]

    @property
    def is_transient(self) -> bool:
        """A failure that depends on the ledger's state, not on the transfer alone. These are
        recorded under the transfer's id so that a retry returns the same first result;
        failures of the transfer on its own need no record (they repeat by themselves)."""
        return self.precedence >= _RESULT_ORDER[TransferResult.DEBIT_ACCOUNT_NOT_FOUND]


_RESULT_ORDER: dict[TransferResult, int] = {r: i for i, r in enumerate(TransferResult)}


@dataclass(frozen=True, slots=True)
class Transfer:
    """One movement of money, as the client asks for it. Field values are checked by
    ``rules.transfers.validate_transfer`` (not here), so that a bad one yields a result code.

    For a post or void, ``debit_account_id``, ``credit_account_id``, ``amount_fen`` and
    ``code`` repeat those of the pending transfer (``rules.transfers.post_of``/``void_of``
    build it).
    """

    id: str
    debit_account_id: str
    credit_account_id: str
    amount_fen: int
    code: TransferCode
    flags: TransferFlags = TransferFlags.NONE
    pending_id: str | None = None
    reference: str = ""
    """Free text the client attaches: a bank reference, a deposit, a command id."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """A transfer the ledger accepted, with its commit order and time. The journal of these
    is append-only."""

    transfer: Transfer
    seq: int
    at: datetime


@dataclass(frozen=True, slots=True)
class TransferOutcome:
    """What ``create_transfers`` answers for one transfer. ``replayed`` is true when the id
    was already known with the same content: ``result`` is then the first result."""

    id: str
    result: TransferResult
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.result is TransferResult.OK


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    account_id: str
    kind: AccountKind
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int

    @property
    def net_debit_fen(self) -> int:
        return self.debits_posted - self.credits_posted


@dataclass(frozen=True, slots=True)
class TrialBalance:
    """All accounts' sums. ``balanced`` holds when debits equal credits, posted and pending:
    the net of every account sums to zero."""

    rows: tuple[TrialBalanceRow, ...]
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int

    @property
    def net_fen(self) -> int:
        return self.debits_posted - self.credits_posted

    @property
    def balanced(self) -> bool:
        return self.debits_posted == self.credits_posted and (
            self.debits_pending == self.credits_pending
        )

    def by_kind(self) -> dict[AccountKind, int]:
        """Net debit (fen) per account kind."""
        out: dict[AccountKind, int] = {}
        for row in self.rows:
            out[row.kind] = out.get(row.kind, 0) + row.net_debit_fen
        return out


# -- working days ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Which days are working days: Monday to Friday, less ``holidays``, plus ``workdays``
    (weekend days made working days by the State Council's adjustments, 调休)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


# Deposits, bank messages, payouts (a module of their own, read here like the rest).
from .deposits import (  # noqa: E402
    CNY,
    BankMovement,
    BankNotification,
    CollusionAlert,
    Deposit,
    DepositEvent,
    DepositForm,
    DepositPolicy,
    DepositState,
    DepositTerms,
    ForfeitCause,
    ForfeitRequest,
    Guarantee,
    NotificationKind,
    NotificationOutcome,
    NotificationVerdict,
    Payout,
    PayoutPurpose,
    PayoutResult,
    PayoutState,
    ProjectKind,
    RefundCause,
    SuspenseItem,
    SuspenseReason,
    SuspenseState,
)
