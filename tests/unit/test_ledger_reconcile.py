"""D9: daily reconciliation with the bank statement — generated statements with missing,
extra and differing lines — and the bank's file formats."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.signing import generate_signing_key, public_key_bytes
from tests.ledger_reference import ReferenceLedger
from trading.ledger.errors import LedgerRejected
from trading.ledger.model import (
    AMOUNT_MAX_FEN,
    BankMovement,
    BankNotification,
    DepositTerms,
    NotificationKind,
    NotificationVerdict,
    PayoutState,
    ProjectKind,
    RefundCause,
    SuspenseReason,
)
from trading.ledger.reconcile import (
    MatchKind,
    StatementLine,
    format_fen,
    parse_payout_results_csv,
    parse_statement_csv,
    parse_yuan,
    reconcile,
    render_refund_batch,
)
from trading.ledger.rules.notifications import (
    classify_credit,
    notification_message,
    notification_problems,
)

SETTINGS = settings(max_examples=100, deadline=None)
DAY0 = date(2026, 3, 2)


@st.composite
def statement_case(draw: st.DrawFn) -> dict[str, object]:
    """Ledger movements and a statement made from them: some lines kept, some dropped
    (missing in the bank), some with another amount (differences), some without the
    reference (matched by amount and date, ±1 day), plus extra lines (missing in the
    ledger). Amounts are all different, so the expected pairing is unique."""
    n = draw(st.integers(0, 30))
    amounts = draw(
        st.lists(st.integers(-(10**9), 10**9).filter(bool), min_size=n, max_size=n, unique_by=abs)
    )
    movements: list[BankMovement] = []
    lines: list[tuple[str, int, date]] = []
    expected: dict[str, set[str]] = {"matched": set(), "diff": set(), "bank": set()}
    for i in range(n):
        has_ref = draw(st.integers(0, 3)) > 0
        m = BankMovement(
            f"t{i:03d}",
            f"R{i:03d}" if has_ref else "",
            amounts[i],
            DAY0 + timedelta(days=draw(st.integers(0, 5))),
        )
        movements.append(m)
        fate = draw(st.sampled_from(["keep", "keep", "drop", "differ", "no_ref"]))
        shifted = m.value_on + timedelta(days=draw(st.integers(-1, 1)))
        if fate == "drop":
            expected["bank"].add(m.transfer_id)
        elif fate == "differ" and has_ref:
            delta = draw(st.sampled_from([-100, 1, 10**6]))
            lines.append((m.bank_ref, m.amount_fen + delta, m.value_on))
            expected["diff"].add(m.transfer_id)
        elif not has_ref:  # the ledger entry lacks the bank's reference; the line has one
            lines.append((f"S{i:03d}", m.amount_fen, shifted))
            expected["matched"].add(m.transfer_id)
        elif fate == "no_ref":
            lines.append(("", m.amount_fen, shifted))
            expected["matched"].add(m.transfer_id)
        else:
            lines.append((m.bank_ref, m.amount_fen, m.value_on))
            expected["matched"].add(m.transfer_id)
    extra_n = draw(st.integers(0, 8))
    for k in range(extra_n):  # amounts no movement has
        ref = draw(st.sampled_from([f"X{k:03d}", ""]))
        amount = draw(st.sampled_from([1, -1])) * (2 * 10**9 + k)
        lines.append((ref, amount, DAY0 + timedelta(days=draw(st.integers(0, 5)))))
    order = draw(st.permutations(range(len(lines))))
    statement = [
        StatementLine(pos + 2, lines[i][0], lines[i][1], lines[i][2]) for pos, i in enumerate(order)
    ]
    return {
        "movements": movements,
        "statement": statement,
        "expected": expected,
        "extra_count": extra_n,
    }


@SETTINGS
@given(statement_case())
def test_reconciliation_reports_missing_extra_and_differing_lines(case: dict) -> None:  # type: ignore[type-arg]
    """D9: every statement line is matched against the ledger; unmatched lines on both
    sides and differences are reported."""
    report = reconcile(case["statement"], case["movements"])
    expected = case["expected"]
    assert {m.movement.transfer_id for m in report.matched} == expected["matched"]
    assert {d.movement.transfer_id for d in report.differences} == expected["diff"]
    assert {m.transfer_id for m in report.missing_in_bank} == expected["bank"]
    assert len(report.missing_in_ledger) == case["extra_count"]
    assert all(d.difference_fen != 0 for d in report.differences)
    assert report.clean == (
        not expected["diff"] and not expected["bank"] and not case["extra_count"]
    )


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", "A", "B", "C"]),
            st.sampled_from([100, -100, 250]),
            st.integers(0, 4),
        ),
        max_size=25,
    ),
    st.lists(
        st.tuples(
            st.sampled_from(["", "A", "B", "D"]),
            st.sampled_from([100, -100, 250]),
            st.integers(0, 4),
        ),
        max_size=25,
    ),
    st.integers(0, 2),
)
def test_every_line_and_movement_is_accounted_for_exactly_once(
    raw_lines: list[tuple[str, int, int]], raw_moves: list[tuple[str, int, int]], tolerance: int
) -> None:
    """D9: with many equal amounts, each line and each movement ends in exactly one bucket,
    and every pair respects the matching rules."""
    lines = [
        StatementLine(
            i,
            ref if ref and ref not in [r for r, _, _ in raw_lines[:i]] else "",
            amt,
            DAY0 + timedelta(days=d),
        )
        for i, (ref, amt, d) in enumerate(raw_lines)
    ]
    moves = [
        BankMovement(f"t{i:02d}", ref, amt, DAY0 + timedelta(days=d))
        for i, (ref, amt, d) in enumerate(raw_moves)
    ]
    report = reconcile(lines, moves, date_tolerance_days=tolerance)
    line_ids = [m.line.line_no for m in report.matched] + [
        d.line.line_no for d in report.differences
    ]
    line_ids += [s.line_no for s in report.missing_in_ledger]
    move_ids = [m.movement.transfer_id for m in report.matched] + [
        d.movement.transfer_id for d in report.differences
    ]
    move_ids += [m.transfer_id for m in report.missing_in_bank]
    assert sorted(line_ids) == sorted(s.line_no for s in lines)
    assert sorted(move_ids) == sorted(m.transfer_id for m in moves)
    for m in report.matched:
        assert m.line.amount_fen == m.movement.amount_fen
        if m.kind is MatchKind.BY_REF:
            assert m.line.bank_ref == m.movement.bank_ref != ""
        else:
            assert abs((m.line.value_on - m.movement.value_on).days) <= tolerance
            assert not (m.line.bank_ref and m.movement.bank_ref)
    for d in report.differences:
        assert d.line.bank_ref == d.movement.bank_ref and d.difference_fen != 0
    assert report.statement_net_fen == sum(s.amount_fen for s in lines)


def test_two_different_references_never_pair_and_the_nearest_date_wins() -> None:
    """D9: a line with its own reference is another movement than a ledger entry with
    another reference, even for the same amount; among candidates, the nearest date wins."""
    far = BankMovement("t1", "", 500, DAY0)
    near = BankMovement("t2", "", 500, DAY0 + timedelta(days=2))
    other = BankMovement("t3", "Z9", 700, DAY0)
    lines = [
        StatementLine(2, "", 500, DAY0 + timedelta(days=2)),
        StatementLine(3, "Q1", 700, DAY0),
    ]
    report = reconcile(lines, [far, near, other], date_tolerance_days=2)
    assert [(m.line.line_no, m.movement.transfer_id) for m in report.matched] == [(2, "t2")]
    assert [s.line_no for s in report.missing_in_ledger] == [3]
    assert [m.transfer_id for m in report.missing_in_bank] == ["t1", "t3"]
    with pytest.raises(LedgerRejected):
        reconcile(lines, [], date_tolerance_days=-1)


# == file formats ============================================================================


@SETTINGS
@given(st.integers(-AMOUNT_MAX_FEN, AMOUNT_MAX_FEN))
def test_yuan_text_round_trips_to_fen(fen: int) -> None:
    """Money in files is yuan with two decimals, parsed to integer fen, never a float."""
    assert parse_yuan(format_fen(fen)) == fen


def test_bad_yuan_text_is_refused() -> None:
    for text in ("1e3", "1.234", "", "1,000.00", "¥5", " . ", "0x10", "nan", "10000000000000.01"):
        with pytest.raises(LedgerRejected):
            parse_yuan(text)
    assert parse_yuan(" 12.3 ") == 1_230 and parse_yuan("-0.05") == -5 and parse_yuan("7") == 700


def test_statement_csv_is_parsed_and_every_problem_reported() -> None:
    """D9: the statement import lists every bad line, not just the first."""
    text = (
        "\ufeffbank_ref,value_date,credit,debit,counterparty_account,counterparty_name,memo\r\n"
        "R1,2026-03-02,10000.00,,6222,Zhang San,deposit\r\n"
        "R2,2026-03-02,,250.5,,,refund\r\n"
        ",2026-03-03,1.00,,,,no reference\r\n"
        "R3,2026-13-01,1.00,,,,\r\n"
        "R4,2026-03-02,1.00,2.00,,,\r\n"
        "R5,2026-03-02,1e3,,,,\r\n"
        "R1,2026-03-02,1.00,,,,\r\n"
        "R 6,2026-03-02,-1.00,,,,\r\n"
    )
    lines, problems = parse_statement_csv(text)
    assert [(s.bank_ref, s.amount_fen, s.value_on) for s in lines] == [
        ("R1", 1_000_000, date(2026, 3, 2)),
        ("R2", -25_050, date(2026, 3, 2)),
        ("", 100, date(2026, 3, 3)),
    ]
    assert lines[0].counterparty_name == "Zhang San"
    assert [p.split(":")[0] for p in problems] == [
        "line 5",
        "line 6",
        "line 7",
        "line 8",
        "line 9",
        "line 9",
    ]
    assert parse_statement_csv("ref,date\r\n")[1] == [
        "header: missing column(s) bank_ref, value_date, credit, debit"
    ]


BANK_KEY = generate_signing_key()


def test_refund_batch_goes_out_and_the_banks_answers_post_it_then_the_statement_reconciles() -> (
    None
):
    """D9 end to end: deposits in, refund batch out, bank results posted, statement clean."""
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    ledger = ReferenceLedger(bank_public_key=public_key_bytes(BANK_KEY))
    ledger.register_project(
        DepositTerms("L1", 7, ProjectKind.AUCTION, 5_000_00, t0 + timedelta(days=10), land=False)
    )
    for no, bidder in enumerate(["A", "B", "C"], start=1):
        d = ledger.open_deposit("L1", bidder, no)
        n = BankNotification(
            no,
            f"IN{no}",
            NotificationKind.CREDIT,
            d.sub_account,
            5_000_00,
            t0,
            f"62{no}",
            f"Payer, {bidder}",
        )
        ledger.receive_notification(n, BANK_KEY.sign(notification_message(n)), t0)
    result_at = t0 + timedelta(days=11)
    for bidder in ("A", "B"):
        ledger.request_refund(
            f"refund-{bidder}", "L1", bidder, RefundCause.LOST, result_at, result_at
        )
    ledger.convert("win-C", "L1", "C", result_at)

    batch = render_refund_batch(ledger.payouts(PayoutState.PENDING), batch_id="B-20260313")
    rows = list(csv.DictReader(io.StringIO(batch)))
    assert [(r["payout_id"], r["amount"], r["payee_name"]) for r in rows] == [
        ("refund-A/payout", "5000.00", "Payer, A"),
        ("refund-B/payout", "5000.00", "Payer, B"),
    ]
    answers = (
        "payout_id,status,bank_ref,value_time,failure\n"
        "refund-A/payout,paid,OUT1,2026-03-13T10:00:00+08:00,\n"
        "refund-B/payout,rejected,OUT2,2026-03-13T10:00:00+08:00,account closed\n"
        "refund-X/payout,maybe,OUT3,yesterday,\n"
    )
    results, problems = parse_payout_results_csv(answers)
    assert len(problems) == 2 and all(p.startswith("line 4") for p in problems)
    for r in results:
        ledger.confirm_payout(r, result_at)
    assert ledger.deposit("L1", "A").state.value == "refunded"
    assert ledger.deposit("L1", "B").state.value == "refund_pending"

    statement = (
        "bank_ref,value_date,credit,debit\n"
        "IN1,2026-03-02,5000.00,\n"
        "IN2,2026-03-02,5000.00,\n"
        "IN3,2026-03-02,5000,\n"
        "OUT1,2026-03-13,,5000.00\n"
    )
    lines, problems = parse_statement_csv(statement)
    assert problems == []
    report = reconcile(lines, ledger.bank_movements())
    assert report.clean, report
    bank = ledger.account("bank")
    assert bank is not None
    assert report.statement_net_fen == report.ledger_net_fen == -bank.held_fen == 10_000_00

    short = replace(lines[1], amount_fen=4_999_00)
    report = reconcile([lines[0], short, lines[3]], ledger.bank_movements())
    assert [d.difference_fen for d in report.differences] == [-100]
    assert [m.bank_ref for m in report.missing_in_bank] == ["IN3"]


# == issue 16 item 6: the statement's currency column is honoured ===============================


def test_a_statement_line_in_another_currency_is_never_matched_as_cny() -> None:
    """Issue 16 item 6 (D9): a line in USD with the reference and amount of a CNY movement is
    not paired with it; it is ``not_in_cny``, outside the CNY net, and the report is not clean.
    An empty currency cell is CNY; a bad code is a problem of its line."""
    text = (
        "bank_ref,value_date,credit,debit,counterparty_account,counterparty_name,memo,currency\r\n"
        "R1,2026-03-02,100.00,,6222,Zhang San,deposit,USD\r\n"
        "R2,2026-03-02,50.00,,,,,\r\n"
        "R3,2026-03-02,50.00,,,,,cny\r\n"
        "R4,2026-03-02,1.00,,,,,US$\r\n"
    )
    lines, problems = parse_statement_csv(text)
    assert [(s.bank_ref, s.currency) for s in lines] == [("R1", "USD"), ("R2", "CNY"), ("R3", "CNY")]
    assert problems == ["line 5: currency 'US$' is not an ISO 4217 code"]
    movements = [
        BankMovement("t1", "R1", 10_000, DAY0),
        BankMovement("t2", "R2", 5_000, DAY0),
        BankMovement("t3", "R3", 5_000, DAY0),
    ]
    report = reconcile(lines, movements)
    assert [m.line.bank_ref for m in report.matched] == ["R2", "R3"]
    assert [s.bank_ref for s in report.not_in_cny] == ["R1"]
    assert [m.transfer_id for m in report.missing_in_bank] == ["t1"]
    assert report.statement_net_fen == 10_000 and not report.clean


def test_a_statement_without_a_currency_column_is_all_cny() -> None:
    """Issue 16 item 6: the column is optional; a statement without it reconciles as before."""
    lines, problems = parse_statement_csv("bank_ref,value_date,credit,debit\r\nR1,2026-03-02,1.00,\r\n")
    assert problems == [] and lines[0].currency == "CNY"
    assert reconcile(lines, [BankMovement("t1", "R1", 100, DAY0)]).clean


def test_a_notification_without_a_currency_signs_the_same_bytes_and_one_with_it_signs_it() -> None:
    """Issue 16 item 6 (D2): ``currency`` is signed when the bank sends it; a message without
    it keeps the bytes it always had; a bad code is a malformed message."""
    n = BankNotification(
        1, "R1", NotificationKind.CREDIT, "330500", 100, datetime(2026, 3, 2, tzinfo=UTC)
    )
    assert b"currency" not in notification_message(n)
    usd = replace(n, currency="USD")
    assert b'"currency":"USD"' in notification_message(usd)
    assert notification_problems(usd) == []
    assert notification_problems(replace(n, currency="usd")) == [
        "currency must be an ISO 4217 code of three capital letters"
    ]


def test_a_credit_in_another_currency_goes_to_suspense_before_any_other_reason() -> None:
    """Issue 16 item 6 (D2): a credit in USD never confirms a deposit, whatever its amount
    and sub-account: suspense with ``currency_not_cny``."""
    n = BankNotification(
        1, "R1", NotificationKind.CREDIT, "330500", 100, datetime(2026, 3, 2, tzinfo=UTC),
        currency="USD",
    )
    assert classify_credit(n, None, None) == (
        NotificationVerdict.SUSPENSE,
        SuspenseReason.CURRENCY_NOT_CNY,
    )
