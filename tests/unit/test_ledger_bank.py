"""The bank channel's wire format (``trading.ledger.bank``): what the bank signs is what the
ledger checks, whatever form the time arrives in; a signature in hex or base64url; anything
that is not a signature never verifies; the bank simulator's statement parses back exactly."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.signing import generate_signing_key, public_key_bytes
from trading.ledger import bank
from trading.ledger.model import BankMovement, BankNotification, NotificationKind, PayoutResult
from trading.ledger.reconcile import parse_statement_csv
from trading.ledger.rules.notifications import notification_problems, verify_notification

KEY = generate_signing_key()
PUB = public_key_bytes(KEY)
N = BankNotification(
    3,
    "ICBC0003",
    NotificationKind.CREDIT,
    "330500000100000325",
    200_000_000,
    datetime(2026, 3, 2, 1, 0, 0, 123_000, tzinfo=UTC),
    "6222 0200",
    "德清县交通工程有限公司",
)


def test_a_signed_notification_verifies_after_its_trip_over_the_wire() -> None:
    """D8: the ledger checks the signature over exactly what the bank signed."""
    body = bank.sign_notification(N, KEY)
    received = bank.notification_from_json(body["notification"])
    assert received == N
    assert verify_notification(received, bank.decode_signature(body["signature"]), PUB)


def test_the_value_time_may_arrive_with_any_offset_but_not_without_one() -> None:
    """The signed form is UTC with a Z; the same instant with +08:00 verifies; a time without a
    timezone is kept as it came and refused as malformed."""
    body = bank.sign_notification(N, KEY)
    china = N.value_at.astimezone(timezone(timedelta(hours=8))).isoformat()
    received = bank.notification_from_json(dict(body["notification"], value_at=china))
    assert verify_notification(received, bank.decode_signature(body["signature"]), PUB)
    naive = bank.notification_from_json(dict(body["notification"], value_at="2026-03-02T09:00:00"))
    assert naive.value_at == "2026-03-02T09:00:00"
    assert not verify_notification(naive, bank.decode_signature(body["signature"]), PUB)
    assert "value_at must be a datetime with a timezone" in notification_problems(naive)


def test_a_signature_is_read_as_hex_or_base64url() -> None:
    raw = KEY.sign(b"x")
    assert bank.decode_signature(raw.hex()) == raw
    assert bank.decode_signature(base64.urlsafe_b64encode(raw).rstrip(b"=").decode()) == raw


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_anything_else_is_no_signature(text: str) -> None:
    """Garbage decodes to nothing or to 64 bytes that do not verify; it never raises."""
    sig = bank.decode_signature(text)
    assert sig == b"" or len(sig) == 64
    assert not verify_notification(N, sig, PUB)


def test_the_bank_answers_sign_over_the_list_as_sent() -> None:
    results = [PayoutResult("c1/payout", True, "PAY1", datetime(2026, 3, 3, 6, 0, tzinfo=UTC))]
    body = bank.sign_payout_results(results, KEY)
    parsed, problems = bank.payout_results_from_json(body["results"])
    assert parsed == results and not problems
    _, problems = bank.payout_results_from_json(
        [dict(body["results"][0], status="maybe", value_time="noon")]
    )
    assert len(problems) == 2


def test_the_simulated_statement_parses_back_to_the_movements() -> None:
    """D9: the simulator writes what ``parse_statement_csv`` reads, signs and all."""
    movements = [
        BankMovement("bn:A", "A", 12_345, date(2026, 3, 2)),
        BankMovement("p/post", "B", -100, date(2026, 3, 3)),
    ]
    lines, problems = parse_statement_csv(
        bank.statement_csv(movements, extra=[("C", 1, "2026-03-04", "6222")])
    )
    assert not problems
    assert [(s.bank_ref, s.amount_fen, s.value_on) for s in lines] == [
        ("A", 12_345, date(2026, 3, 2)),
        ("B", -100, date(2026, 3, 3)),
        ("C", 1, date(2026, 3, 4)),
    ]
