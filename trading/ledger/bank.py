"""The bank's side of the channel: the wire format of its signed messages, and a small bank
simulator for the demo, the CLI and the tests. Pure: values and bytes in and out, no I/O
except the key file helpers at the bottom.

A notification travels as JSON::

    {"notification": {"seq": 7, "bank_ref": "ICBC20260302000123", "kind": "credit",
                      "sub_account": "3305000001000001xx", "amount_fen": 20000000,
                      "value_at": "2026-03-02T01:00:00.000Z", "payer_account": "6222…",
                      "payer_name": "…", "reverses_ref": null},
     "signature": "<Ed25519 signature, hex or base64url>"}

The bank signs ``rules.notifications.notification_message`` (canonical JSON of every field,
``value_at`` in UTC to the millisecond with a ``Z``); the ledger trusts the public keys
registered in ``ledger_bank_keys``. Answers to a refund batch travel the same way, signed over
``payout_results_message``.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from crypto.signing import (
    SigningKey,
    canonical_json,
    generate_signing_key,
    load_signing_key,
    private_key_bytes,
)

from .model import BankMovement, BankNotification, NotificationKind, PayoutResult
from .reconcile import STATEMENT_COLUMNS, format_fen
from .rules.notifications import notification_fields, notification_message

__all__ = [
    "decode_signature",
    "load_or_create_key",
    "notification_from_json",
    "notification_json",
    "payout_results_from_json",
    "payout_results_json",
    "payout_results_message",
    "sign_notification",
    "sign_payout_results",
    "statement_csv",
]


def notification_json(n: BankNotification) -> dict[str, Any]:
    return notification_fields(n)


def _datetime_or_raw(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed if parsed.tzinfo is not None else value


def notification_from_json(d: dict[str, Any]) -> BankNotification:
    """A notification as received: values the ledger cannot use are kept as they came, so that
    the signature is checked over what the bank sent and the form check names the fault."""
    kind: Any = d.get("kind")
    try:
        kind = NotificationKind(kind)
    except ValueError:
        pass
    return BankNotification(
        seq=d.get("seq"),  # type: ignore[arg-type]
        bank_ref=d.get("bank_ref"),  # type: ignore[arg-type]
        kind=kind,
        sub_account=d.get("sub_account"),  # type: ignore[arg-type]
        amount_fen=d.get("amount_fen"),  # type: ignore[arg-type]
        value_at=_datetime_or_raw(d.get("value_at")),
        payer_account=d.get("payer_account", ""),
        payer_name=d.get("payer_name", ""),
        reverses_ref=d.get("reverses_ref"),
        currency=d.get("currency"),
    )


def sign_notification(n: BankNotification, key: SigningKey) -> dict[str, Any]:
    """The request body the bank sends for ``n``."""
    return {
        "notification": notification_json(n),
        "signature": key.sign(notification_message(n)).hex(),
    }


def decode_signature(text: str) -> bytes:
    """A 64-byte signature given as hex or base64url; anything else decodes to ``b""`` (which
    never verifies)."""
    text = text.strip()
    try:
        if len(text) == 128:
            return bytes.fromhex(text)
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        return b""
    return raw if len(raw) == 64 else b""


def payout_results_json(results: Sequence[PayoutResult]) -> list[dict[str, Any]]:
    return [
        {
            "payout_id": r.payout_id,
            "status": "paid" if r.ok else "rejected",
            "bank_ref": r.bank_ref,
            "value_time": r.value_at.isoformat(),
            "failure": r.failure,
        }
        for r in results
    ]


def payout_results_message(results: list[dict[str, Any]]) -> bytes:
    """What the bank signs for its answers to a batch: canonical JSON of the list as sent."""
    return canonical_json({"payout_results": results})


def sign_payout_results(results: Sequence[PayoutResult], key: SigningKey) -> dict[str, Any]:
    body = payout_results_json(results)
    return {"results": body, "signature": key.sign(payout_results_message(body)).hex()}


def payout_results_from_json(items: list[dict[str, Any]]) -> tuple[list[PayoutResult], list[str]]:
    """The bank's signed answers, with every problem found (``item N: …``)."""
    out: list[PayoutResult] = []
    problems: list[str] = []
    for i, item in enumerate(items, start=1):
        status = item.get("status")
        when = _datetime_or_raw(item.get("value_time"))
        if status not in ("paid", "rejected"):
            problems.append(f"item {i}: status must be paid or rejected")
        if not isinstance(when, datetime):
            problems.append(f"item {i}: value_time must be ISO 8601 with a UTC offset")
        if not isinstance(item.get("payout_id"), str) or not isinstance(item.get("bank_ref"), str):
            problems.append(f"item {i}: payout_id and bank_ref are text")
        if problems:
            continue
        out.append(
            PayoutResult(
                item["payout_id"],
                status == "paid",
                item["bank_ref"],
                when,
                str(item.get("failure") or ""),
            )
        )
    return out, problems


def statement_csv(
    movements: Iterable[BankMovement], *, extra: Iterable[tuple[str, int, str, str]] = ()
) -> str:
    """A bank statement as the bank would send it for ``movements`` (the bank simulator),
    plus ``extra`` lines (bank_ref, signed fen, value date ISO, counterparty account)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(STATEMENT_COLUMNS)
    rows = [(m.bank_ref, m.amount_fen, m.value_on.isoformat(), "") for m in movements] + list(extra)
    for ref, amount, day, account in rows:
        credit = format_fen(amount) if amount > 0 else ""
        debit = format_fen(-amount) if amount < 0 else ""
        writer.writerow([ref, day, credit, debit, account, "", "", "CNY"])
    return out.getvalue()


def load_or_create_key(path: Path) -> SigningKey:
    """The bank's Ed25519 private key (raw 32 bytes, hex in the file), made once, 0600."""
    if path.exists():
        return load_signing_key(bytes.fromhex(path.read_text().strip()))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_signing_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(private_key_bytes(key).hex() + "\n")
    return key
