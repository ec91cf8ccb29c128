"""Bank notifications: their fields and signed bytes, well-formedness, the message
sequence, and where a credit or a reversal goes."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from crypto.signing import canonical_json, verify
from trading.clock import iso_ms

from ..errors import LedgerReason
from ..model import (
    CNY,
    BankNotification,
    Deposit,
    DepositForm,
    DepositState,
    DepositTerms,
    NotificationKind,
    NotificationVerdict,
    SuspenseItem,
    SuspenseReason,
    SuspenseState,
)
from .values import amount_problem, is_valid_id

__all__ = [
    "check_sequence",
    "classify_credit",
    "classify_notification",
    "classify_reversal",
    "is_cny",
    "notification_fields",
    "notification_message",
    "notification_problems",
    "same_notification",
    "verify_notification",
]

_SUB_ACCOUNT_RE = re.compile(r"[0-9]{1,34}")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_NAME_MAX_LEN = 200
_BANK_ACCOUNT_MAX_LEN = 64
BANK_REF_MAX_LEN = 96
"""Leaves room in a 128-character transfer id for the ledger's own prefixes."""


def notification_fields(n: BankNotification) -> dict[str, Any]:
    """A notification as JSON values: what travels on the wire and what the bank signs.
    ``currency`` is there only when the bank sent it (a message without it is CNY), so the
    signed bytes of a message without a currency are what they always were."""
    fields: dict[str, Any] = {
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
    if n.currency is not None:
        fields["currency"] = n.currency
    return fields


def is_cny(currency: str | None) -> bool:
    """True for money the ledger books: CNY, or no currency named (the bank's default)."""
    return currency is None or currency == CNY


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
    if n.currency is not None and (
        not isinstance(n.currency, str) or not _CURRENCY_RE.fullmatch(n.currency)
    ):
        problems.append("currency must be an ISO 4217 code of three capital letters")
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
    applies (a currency other than CNY, unknown sub-account, value time at or after the
    deadline (IR 26), deposit not awaiting money, amount short of what is required)."""
    if not is_cny(n.currency):
        return NotificationVerdict.SUSPENSE, SuspenseReason.CURRENCY_NOT_CNY
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
    if not is_cny(original.currency) or not is_cny(n.currency):
        # A credit in another currency was never booked: nothing in the books to take back.
        return NotificationVerdict.UNAPPLIED, "the credit is not in CNY and was never booked"
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
