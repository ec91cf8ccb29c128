"""Reconciliation with the bank (D9) and the bank's file formats. Pure: text in, values out.

Theory of operation
===================

Each day the bank sends a statement of the centre's deposit account (``parse_statement_csv``).
``reconcile`` matches every statement line against the ledger's posted bank movements
(``BankMovement``: signed fen, positive into the account):

1. By bank reference: a line and a movement with the same reference are a pair. Equal
   amounts match; unequal amounts are a ``Difference`` (reported, never silently matched).
2. Then by amount and value date: what is left pairs by equal signed amount and value dates
   at most ``date_tolerance_days`` apart, the nearest date first (earlier on a tie). Two
   different non-empty references never pair: they are two different movements.
3. A line in another currency than CNY (the statement's ``currency`` column) is never matched
   nor counted: it is ``not_in_cny``, for suspense with the reason ``currency_not_cny``.
4. What remains is missing on one side: ``missing_in_ledger`` (the bank moved money the
   ledger does not know: it belongs in suspense or needs a correction) and
   ``missing_in_bank`` (the ledger expects a movement the bank did not make).

Every step is deterministic (ties broken by line number and transfer id) and runs in
O(n · tolerance) with dictionaries, for 100,000-line statements.

Money in the files is yuan with at most two decimals (``parse_yuan``/``format_fen``); it is
never a float. Refund instructions go to the bank as a CSV batch (``render_refund_batch``);
the bank answers line by line (``parse_payout_results_csv``).
"""

from __future__ import annotations

import csv
import io
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum

from .errors import LedgerReason, LedgerRejected
from .model import AMOUNT_MAX_FEN, CNY, BankMovement, Payout, PayoutResult
from .rules.values import is_valid_id

__all__ = [
    "BATCH_COLUMNS",
    "PAYOUT_RESULT_COLUMNS",
    "STATEMENT_COLUMNS",
    "STATEMENT_MAX_LINES",
    "Difference",
    "Match",
    "MatchKind",
    "ReconciliationReport",
    "StatementLine",
    "format_fen",
    "parse_payout_results_csv",
    "parse_statement_csv",
    "parse_yuan",
    "reconcile",
    "render_refund_batch",
]

STATEMENT_MAX_LINES = 1_000_000
DATE_TOLERANCE_MAX_DAYS = 31


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One line of the bank's statement: ``amount_fen`` signed, positive for a credit to the
    centre's account (money in), negative for a debit (money out)."""

    line_no: int
    bank_ref: str
    amount_fen: int
    value_on: date
    counterparty_account: str = ""
    counterparty_name: str = ""
    memo: str = ""
    currency: str = CNY
    """ISO 4217; an empty cell is CNY. Only CNY lines are matched against the ledger."""


class MatchKind(Enum):
    BY_REF = "by_ref"
    BY_AMOUNT_DATE = "by_amount_date"


@dataclass(frozen=True, slots=True)
class Match:
    line: StatementLine
    movement: BankMovement
    kind: MatchKind


@dataclass(frozen=True, slots=True)
class Difference:
    """Same reference, different amounts."""

    line: StatementLine
    movement: BankMovement

    @property
    def difference_fen(self) -> int:
        """Statement less ledger."""
        return self.line.amount_fen - self.movement.amount_fen


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    matched: tuple[Match, ...]
    differences: tuple[Difference, ...]
    missing_in_ledger: tuple[StatementLine, ...]
    """On the statement, not in the ledger."""
    missing_in_bank: tuple[BankMovement, ...]
    """In the ledger, not on the statement."""
    statement_net_fen: int
    """Of the CNY lines."""
    ledger_net_fen: int
    not_in_cny: tuple[StatementLine, ...] = ()
    """Lines in another currency: never matched, never counted as CNY."""

    @property
    def clean(self) -> bool:
        return not (
            self.differences or self.missing_in_ledger or self.missing_in_bank or self.not_in_cny
        )


def reconcile(
    lines: Iterable[StatementLine],
    movements: Iterable[BankMovement],
    *,
    date_tolerance_days: int = 1,
) -> ReconciliationReport:
    """Match a statement against the ledger's bank movements (see the module docstring)."""
    if (
        isinstance(date_tolerance_days, bool)
        or not isinstance(date_tolerance_days, int)
        or not 0 <= date_tolerance_days <= DATE_TOLERANCE_MAX_DAYS
    ):
        raise LedgerReason.INVALID_INPUT.reject("date_tolerance_days", field="date_tolerance_days")
    all_lines = sorted(lines, key=lambda s: s.line_no)
    not_in_cny = tuple(s for s in all_lines if s.currency != CNY)
    lines = [s for s in all_lines if s.currency == CNY]
    movements = sorted(movements, key=lambda m: m.transfer_id)
    matched: list[Match] = []
    differences: list[Difference] = []

    # 1. by reference
    by_ref: dict[str, list[BankMovement]] = {}
    for m in movements:
        if m.bank_ref:
            by_ref.setdefault(m.bank_ref, []).append(m)
    used: set[str] = set()
    rest_lines: list[StatementLine] = []
    for line in lines:
        candidates = [m for m in by_ref.get(line.bank_ref, ()) if m.transfer_id not in used]
        if not line.bank_ref or not candidates:
            rest_lines.append(line)
            continue
        same = [m for m in candidates if m.amount_fen == line.amount_fen]
        if same:
            used.add(same[0].transfer_id)
            matched.append(Match(line, same[0], MatchKind.BY_REF))
        else:
            used.add(candidates[0].transfer_id)
            differences.append(Difference(line, candidates[0]))

    # 2. by amount and value date; a movement is in exactly one of the two indexes
    without_ref: dict[tuple[int, date], deque[BankMovement]] = {}
    with_ref: dict[tuple[int, date], deque[BankMovement]] = {}
    for m in movements:
        if m.transfer_id in used:
            continue
        index = with_ref if m.bank_ref else without_ref
        index.setdefault((m.amount_fen, m.value_on), deque()).append(m)
    offsets = [0]
    for k in range(1, date_tolerance_days + 1):
        offsets += [-k, k]
    missing_in_ledger: list[StatementLine] = []
    for line in sorted(rest_lines, key=lambda s: (s.value_on, s.line_no)):
        # A line with its own reference may pair only with a movement that has none.
        indexes = (without_ref,) if line.bank_ref else (without_ref, with_ref)
        found = None
        for offset in offsets:
            day = line.value_on + timedelta(days=offset)
            heads = [q[0] for index in indexes if (q := index.get((line.amount_fen, day)))]
            if heads:
                found = min(heads, key=lambda m: m.transfer_id)
                (with_ref if found.bank_ref else without_ref)[(found.amount_fen, day)].popleft()
                break
        if found is None:
            missing_in_ledger.append(line)
        else:
            used.add(found.transfer_id)
            matched.append(Match(line, found, MatchKind.BY_AMOUNT_DATE))

    missing_in_bank = tuple(m for m in movements if m.transfer_id not in used)
    matched.sort(key=lambda x: x.line.line_no)
    missing_in_ledger.sort(key=lambda s: s.line_no)
    return ReconciliationReport(
        matched=tuple(matched),
        differences=tuple(differences),
        missing_in_ledger=tuple(missing_in_ledger),
        missing_in_bank=missing_in_bank,
        statement_net_fen=sum(s.amount_fen for s in lines),
        ledger_net_fen=sum(m.amount_fen for m in movements),
        not_in_cny=not_in_cny,
    )


# -- money in files ---------------------------------------------------------------------------

_YUAN_RE = re.compile(r"(-?)([0-9]{1,16})(?:\.([0-9]{1,2}))?")


def parse_yuan(text: str) -> int:
    """``"1234.5"`` → ``123450`` fen. Digits, an optional minus and at most two decimals;
    no exponent, no separators, never through a float. ``LedgerRejected`` otherwise."""
    if not isinstance(text, str):
        raise LedgerReason.INVALID_INPUT.reject("amount must be text", field="amount")
    m = _YUAN_RE.fullmatch(text.strip())
    if m is None:
        raise LedgerReason.INVALID_INPUT.reject(f"amount {text!r}", field="amount")
    sign, whole, frac = m.groups()
    fen = int(whole) * 100 + int((frac or "").ljust(2, "0"))
    if fen > AMOUNT_MAX_FEN:
        raise LedgerReason.AMOUNT_TOO_LARGE.reject(text, field="amount")
    return -fen if sign else fen


def format_fen(amount_fen: int) -> str:
    """``123450`` → ``"1234.50"``."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise LedgerReason.AMOUNT_NOT_INTEGER.reject(repr(amount_fen))
    sign = "-" if amount_fen < 0 else ""
    whole, frac = divmod(abs(amount_fen), 100)
    return f"{sign}{whole}.{frac:02d}"


# -- the bank's statement ---------------------------------------------------------------------

STATEMENT_COLUMNS = (
    "bank_ref",
    "value_date",
    "credit",
    "debit",
    "counterparty_account",
    "counterparty_name",
    "memo",
    "currency",
)
"""The statement CSV: a header row with these names (any order; the last four optional).
``credit`` is money into the centre's account and ``debit`` money out, in yuan; exactly
one of them is filled on each line. ``currency`` is an ISO 4217 code (empty or absent: CNY);
a line in another currency is never booked as CNY (see ``reconcile``)."""

_CURRENCY_RE = re.compile(r"[A-Z]{3}")


def _reader(text: str) -> csv.DictReader[str]:
    return csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))


def parse_statement_csv(text: str) -> tuple[list[StatementLine], list[str]]:
    """The statement's lines and every problem found (``line N: …``); a line with a problem
    is left out, so reconcile only when the list of problems is empty."""
    reader = _reader(text)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in STATEMENT_COLUMNS[:4] if c not in header]
    if missing:
        return [], [f"header: missing column(s) {', '.join(missing)}"]
    reader.fieldnames = header
    lines: list[StatementLine] = []
    problems: list[str] = []
    seen_refs: set[str] = set()
    for row in reader:
        line_no = reader.line_num
        if len(lines) + len(problems) >= STATEMENT_MAX_LINES:
            problems.append(f"more than {STATEMENT_MAX_LINES} lines")
            break
        errors: list[str] = []
        ref = (row.get("bank_ref") or "").strip()
        if ref and not is_valid_id(ref):
            errors.append(f"bank_ref {ref!r} is not a valid reference")
        elif ref in seen_refs:
            errors.append(f"bank_ref {ref} appears twice")
        try:
            value_on = date.fromisoformat((row.get("value_date") or "").strip())
        except ValueError:
            errors.append(f"value_date {row.get('value_date')!r} is not YYYY-MM-DD")
            value_on = date.min
        credit, debit = (row.get("credit") or "").strip(), (row.get("debit") or "").strip()
        amount = 0
        if bool(credit) == bool(debit):
            errors.append("exactly one of credit and debit must be filled")
        else:
            try:
                amount = parse_yuan(credit or debit)
                if amount <= 0:
                    errors.append("amounts are positive; use the debit column for money out")
                elif debit:
                    amount = -amount
            except LedgerRejected as e:
                errors.append(str(e))
        currency = (row.get("currency") or "").strip().upper() or CNY
        if not _CURRENCY_RE.fullmatch(currency):
            errors.append(f"currency {row.get('currency')!r} is not an ISO 4217 code")
        if errors:
            problems.extend(f"line {line_no}: {e}" for e in errors)
            continue
        if ref:
            seen_refs.add(ref)
        lines.append(
            StatementLine(
                line_no,
                ref,
                amount,
                value_on,
                (row.get("counterparty_account") or "").strip(),
                (row.get("counterparty_name") or "").strip(),
                (row.get("memo") or "").strip(),
                currency,
            )
        )
    return lines, problems


# -- refund batches ---------------------------------------------------------------------------

BATCH_COLUMNS = (
    "batch_id",
    "payout_id",
    "payee_account",
    "payee_name",
    "amount",
    "currency",
    "purpose",
    "due_date",
)


def render_refund_batch(payouts: Sequence[Payout], *, batch_id: str) -> str:
    """The CSV the bank takes: one line per payout, in the order given. ``payout_id`` is our
    reference; the bank quotes it back in its results."""
    if not is_valid_id(batch_id):
        raise LedgerReason.ID_INVALID.reject("batch_id", field="batch_id")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(BATCH_COLUMNS)
    for p in payouts:
        writer.writerow(
            [
                batch_id,
                p.id,
                p.payee_account,
                p.payee_name,
                format_fen(p.amount_fen),
                "CNY",
                p.purpose.value,
                p.due_on.isoformat(),
            ]
        )
    return out.getvalue()


PAYOUT_RESULT_COLUMNS = ("payout_id", "status", "bank_ref", "value_time", "failure")
"""The bank's answer to a batch: ``status`` is ``paid`` or ``rejected``; ``value_time`` is
ISO 8601 with its UTC offset."""


def parse_payout_results_csv(text: str) -> tuple[list[PayoutResult], list[str]]:
    """The bank's results and every problem found (``line N: …``)."""
    reader = _reader(text)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in PAYOUT_RESULT_COLUMNS[:4] if c not in header]
    if missing:
        return [], [f"header: missing column(s) {', '.join(missing)}"]
    reader.fieldnames = header
    results: list[PayoutResult] = []
    problems: list[str] = []
    for row in reader:
        errors: list[str] = []
        payout_id = (row.get("payout_id") or "").strip()
        if not is_valid_id(payout_id):
            errors.append(f"payout_id {payout_id!r} is not valid")
        status = (row.get("status") or "").strip().lower()
        if status not in ("paid", "rejected"):
            errors.append(f"status {status!r} is neither paid nor rejected")
        bank_ref = (row.get("bank_ref") or "").strip()
        if not is_valid_id(bank_ref):
            errors.append(f"bank_ref {bank_ref!r} is not valid")
        value_at: datetime | None = None
        try:
            value_at = datetime.fromisoformat((row.get("value_time") or "").strip())
        except ValueError:
            pass
        if value_at is None or value_at.tzinfo is None:
            errors.append("value_time must be ISO 8601 with a UTC offset")
        if errors:
            problems.extend(f"line {reader.line_num}: {e}" for e in errors)
            continue
        assert value_at is not None
        results.append(
            PayoutResult(
                payout_id,
                status == "paid",
                bank_ref,
                value_at,
                (row.get("failure") or "").strip(),
            )
        )
    return results, problems
