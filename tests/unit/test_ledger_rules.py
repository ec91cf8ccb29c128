"""The deposit ledger's rules (RULES.md T14, D1–D9, A7), against the pure functions and the
in-memory reference ledger."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.signing import generate_signing_key, public_key_bytes
from tests.ledger_reference import ReferenceLedger
from trading.ledger.errors import LedgerReason, LedgerRejected
from trading.ledger.model import (
    AMOUNT_MAX_FEN,
    CHINA_TZ,
    Account,
    AccountKind,
    BankNotification,
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
    PayoutResult,
    PayoutState,
    ProjectKind,
    RefundCause,
    SuspenseReason,
    SuspenseState,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferResult,
    WorkCalendar,
    deposit_account_id,
)
from trading.ledger.rules.dates import add_working_days, days_held, interest_fen, is_working_day
from trading.ledger.rules.lifecycle import DEPOSIT_TRANSITIONS, next_deposit_state
from trading.ledger.rules.notifications import classify_credit, notification_message
from trading.ledger.rules.payers import detect_collusion, seal_payer
from trading.ledger.rules.refunds import refund_due_on
from trading.ledger.rules.subaccounts import (
    is_valid_sub_account,
    parse_sub_account,
    sub_account_number,
)
from trading.ledger.rules.terms import check_land_deposit_floor, check_tender_deposit_cap
from trading.ledger.rules.transfers import validate_transfer
from trading.ledger.rules.values import amount_problem

R = TransferResult
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BANK_KEY = generate_signing_key()
BANK_PUB = public_key_bytes(BANK_KEY)
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in China
DEADLINE = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)  # Friday 10:00 in China
POLICY = DepositPolicy()


def sign(n: BankNotification) -> bytes:
    return BANK_KEY.sign(notification_message(n))


def tender(project_id: str = "P1", project_no: int = 1, **kw: object) -> DepositTerms:
    base: dict[str, object] = dict(
        project_id=project_id,
        project_no=project_no,
        kind=ProjectKind.TENDER,
        required_fen=1_000_000,
        deadline_at=DEADLINE,
        interest_rate_bp=150,
        estimate_fen=100_000_000,
    )
    base.update(kw)
    return DepositTerms(**base)  # type: ignore[arg-type]


def auction(project_id: str = "L1", project_no: int = 2, **kw: object) -> DepositTerms:
    base: dict[str, object] = dict(
        project_id=project_id,
        project_no=project_no,
        kind=ProjectKind.AUCTION,
        required_fen=20_000_000,
        deadline_at=DEADLINE,
        land=True,
        starting_price_fen=100_000_000,
        accept_guarantees=False,
    )
    base.update(kw)
    return DepositTerms(**base)  # type: ignore[arg-type]


class Bank:
    """A bank that numbers its messages."""

    def __init__(self) -> None:
        self.seq = 0

    def credit(
        self,
        ref: str,
        sub_account: str,
        amount_fen: int,
        value_at: datetime = T0,
        payer: str = "6222000011112222",
    ) -> BankNotification:
        self.seq += 1
        return BankNotification(
            self.seq,
            ref,
            NotificationKind.CREDIT,
            sub_account,
            amount_fen,
            value_at,
            payer,
            f"payer of {payer}",
        )

    def reversal(self, ref: str, original: BankNotification) -> BankNotification:
        self.seq += 1
        return replace(
            original,
            seq=self.seq,
            bank_ref=ref,
            kind=NotificationKind.REVERSAL,
            reverses_ref=original.bank_ref,
        )


def ledger_with(*terms: DepositTerms, calendar: WorkCalendar | None = None) -> ReferenceLedger:
    ledger = ReferenceLedger(bank_public_key=BANK_PUB, calendar=calendar)
    for t in terms:
        ledger.register_project(t)
    return ledger


def confirmed(
    ledger: ReferenceLedger, bank: Bank, project_id: str, bidder_id: str, bidder_no: int, **kw: object
) -> Deposit:
    d = ledger.open_deposit(project_id, bidder_id, bidder_no)
    terms = ledger.terms(project_id)
    n = bank.credit(f"CR{bank.seq + 1}", d.sub_account, terms.required_fen, **kw)  # type: ignore[arg-type]
    outcome = ledger.receive_notification(n, sign(n), T0)
    assert outcome.verdict is NotificationVerdict.CONFIRM
    return ledger.deposit(project_id, bidder_id)


# == amounts and transfer results =============================================================


@SETTINGS
@given(
    st.one_of(
        st.booleans(),
        st.floats(allow_nan=True),
        st.text(max_size=5),
        st.decimals(allow_nan=False, places=2),
        st.none(),
    )
)
def test_amount_must_be_an_integer_of_fen(value: object) -> None:
    """Money is integer fen, never a bool, float or decimal (D8; house rule)."""
    assert amount_problem(value) is R.AMOUNT_NOT_INTEGER


@SETTINGS
@given(st.integers(max_value=0))
def test_amount_must_be_positive(value: int) -> None:
    """A transfer of zero or less is refused with its own code (D8)."""
    assert amount_problem(value) is R.AMOUNT_NOT_POSITIVE


@SETTINGS
@given(st.integers(min_value=AMOUNT_MAX_FEN + 1, max_value=2**200))
def test_amount_above_the_maximum_is_refused(value: int) -> None:
    """An amount above AMOUNT_MAX_FEN is refused before it can overflow a sum (D8)."""
    assert amount_problem(value) is R.AMOUNT_TOO_LARGE
    assert amount_problem(AMOUNT_MAX_FEN) is None


def _accounts() -> tuple[Account, Account, Account]:
    held = Account("deposit:P:B", AccountKind.DEPOSIT_HELD, "P", "B", credits_posted=500)
    payable = Account("refunds_payable", AccountKind.REFUNDS_PAYABLE)
    bank = Account("bank", AccountKind.BANK)
    return held, payable, bank


FAULTS = {
    "id": R.ID_INVALID,
    "flags": R.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
    "pending_id": R.PENDING_ID_MUST_BE_EMPTY,
    "amount": R.AMOUNT_NOT_POSITIVE,
    "reference": R.REFERENCE_INVALID,
    "debit_missing": R.DEBIT_ACCOUNT_NOT_FOUND,
    "credit_missing": R.CREDIT_ACCOUNT_NOT_FOUND,
    "code_kind": R.CODE_NOT_ALLOWED_FOR_ACCOUNTS,
    "exceeds": R.EXCEEDS_CREDITS,
}


@SETTINGS
@given(st.sets(st.sampled_from(sorted(FAULTS))))
def test_result_codes_follow_their_order_of_precedence(faults: set[str]) -> None:
    """With several faults, the one listed first in TransferResult is returned, as in
    TigerBeetle's create_transfers (D8)."""
    held, payable, _ = _accounts()
    t = Transfer("t1", held.id, payable.id, 100, TransferCode.REFUND)
    if "id" in faults:
        t = replace(t, id="")
    if "flags" in faults:
        t = replace(t, flags=TransferFlags.PENDING | TransferFlags.VOID_PENDING, pending_id="p")
    if "pending_id" in faults and "flags" not in faults:
        t = replace(t, pending_id="p0")
    if "amount" in faults:
        t = replace(t, amount_fen=0)
    elif "exceeds" in faults:
        t = replace(t, amount_fen=501)
    if "reference" in faults:
        t = replace(t, reference="x" * 257)
    if "code_kind" in faults:
        t = replace(t, code=TransferCode.CONVERSION)
    result = validate_transfer(
        t,
        prior=None,
        debit=None if "debit_missing" in faults else held,
        credit=None if "credit_missing" in faults else payable,
    )
    expected = min((FAULTS[f] for f in faults), key=lambda r: r.precedence, default=R.OK)
    assert result is expected


garbage = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=140),
    st.sampled_from(["bank", "suspense", "refunds_payable", "forfeited", "p-1", ""]),
    st.lists(st.integers(), max_size=2),
    st.sampled_from(list(TransferCode) + list(TransferFlags)),
)


@SETTINGS
@given(
    st.lists(
        st.tuples(garbage, garbage, garbage, garbage, garbage, garbage, garbage, garbage),
        max_size=6,
    )
)
def test_any_input_yields_a_result_code_and_a_failure_changes_nothing(
    rows: list[tuple[object, ...]],
) -> None:
    """Bad input of any type gets a result code, never an exception, and only accepted
    transfers change the ledger (D8)."""
    ledger = ledger_with()
    ledger.create_transfers(
        [Transfer("seed", "bank", "suspense", 50, TransferCode.SUSPENSE_RECEIVED)], T0
    )
    transfers = [Transfer(*row) for row in rows]  # type: ignore[arg-type]
    before = len(ledger.journal())
    outcomes = ledger.create_transfers(transfers, T0)
    assert len(outcomes) == len(transfers)
    assert all(isinstance(o.result, TransferResult) for o in outcomes)
    assert len(ledger.journal()) == before + sum(o.ok and not o.replayed for o in outcomes)
    assert ledger.trial_balance().balanced


def test_debits_must_not_exceed_credits_counts_pending_debits() -> None:
    """A deposit held cannot go negative, and a reservation (pending debit) counts (D8)."""
    held, payable, _ = _accounts()
    reserved = replace(held, debits_pending=400)
    t = Transfer("t1", held.id, payable.id, 101, TransferCode.REFUND)
    assert validate_transfer(t, prior=None, debit=reserved, credit=payable) is R.EXCEEDS_CREDITS
    assert (
        validate_transfer(replace(t, amount_fen=100), prior=None, debit=reserved, credit=payable)
        is R.OK
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("flags", TransferFlags.PENDING, R.EXISTS_WITH_DIFFERENT_FLAGS),
        ("debit_account_id", "interest_expense", R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT),
        ("credit_account_id", "forfeited", R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT),
        ("amount_fen", 99, R.EXISTS_WITH_DIFFERENT_AMOUNT),
        ("amount_fen", True, R.EXISTS_WITH_DIFFERENT_AMOUNT),
        ("reference", "other", R.EXISTS_WITH_DIFFERENT_REFERENCE),
        ("code", TransferCode.SUSPENSE_RETURN, R.EXISTS_WITH_DIFFERENT_CODE),
    ],
)
def test_same_id_with_other_content_is_refused(field: str, value: object, expected: R) -> None:
    """A client-chosen id is an idempotency key: other content under it is refused (D8)."""
    ledger = ledger_with()
    t = Transfer("adj-1", "suspense", "bank", 1, TransferCode.ADJUSTMENT, reference="r")
    fund = Transfer("fund", "bank", "suspense", 100, TransferCode.SUSPENSE_RECEIVED)
    assert [o.result for o in ledger.create_transfers([fund, t], T0)] == [R.OK, R.OK]
    if field == "amount_fen" and value is True:
        t = replace(t, amount_fen=1)
    before = ledger.trial_balance()
    [outcome] = ledger.create_transfers([replace(t, **{field: value})], T0)
    assert outcome.result is expected and not outcome.replayed
    assert ledger.trial_balance() == before


def test_retry_with_the_same_id_returns_the_first_result() -> None:
    """The same transfer again answers its first result and changes nothing (D8)."""
    ledger = ledger_with()
    t = Transfer("in-1", "bank", "suspense", 100, TransferCode.SUSPENSE_RECEIVED)
    [first] = ledger.create_transfers([t], T0)
    [again] = ledger.create_transfers([t], T0 + timedelta(days=1))
    assert first.result is R.OK and not first.replayed
    assert again.result is R.OK and again.replayed
    assert ledger.account("suspense").credits_posted == 100  # type: ignore[union-attr]
    assert len(ledger.journal()) == 1


def test_a_failure_against_the_state_is_replayed_too() -> None:
    """A transfer that failed for lack of funds fails again on retry, even once funds exist:
    the first result stands (D8, TigerBeetle's id_already_failed)."""
    ledger = ledger_with()
    out = Transfer("out-1", "suspense", "refunds_payable", 100, TransferCode.SUSPENSE_RETURN)
    assert ledger.create_transfers([out], T0)[0].result is R.EXCEEDS_CREDITS
    fund = Transfer("in-1", "bank", "suspense", 100, TransferCode.SUSPENSE_RECEIVED)
    ledger.create_transfers([fund], T0)
    [again] = ledger.create_transfers([out], T0)
    assert again.result is R.EXCEEDS_CREDITS and again.replayed
    assert ledger.account("suspense").held_fen == 100  # type: ignore[union-attr]


def test_pending_transfer_is_posted_or_voided_exactly_once() -> None:
    """Pending → posted or voided, once; a second post or a void after it is refused (D8)."""
    ledger = ledger_with()
    fund = Transfer("in-1", "bank", "suspense", 100, TransferCode.SUSPENSE_RECEIVED)
    ret = Transfer("ret-1", "suspense", "refunds_payable", 100, TransferCode.SUSPENSE_RETURN)
    pay = Transfer(
        "pay-1", "refunds_payable", "bank", 100, TransferCode.PAYOUT, TransferFlags.PENDING
    )
    assert all(o.ok for o in ledger.create_transfers([fund, ret, pay], T0))
    payable = ledger.account("refunds_payable")
    assert payable is not None and payable.debits_pending == 100 and payable.available_fen == 0
    post = replace(pay, id="pay-1/post", flags=TransferFlags.POST_PENDING, pending_id="pay-1")
    void = replace(post, id="pay-1/void", flags=TransferFlags.VOID_PENDING)
    post2 = replace(post, id="pay-1/post2")
    outcomes = ledger.create_transfers([post, post2, void], T0)
    assert [o.result for o in outcomes] == [
        R.OK,
        R.PENDING_TRANSFER_ALREADY_POSTED,
        R.PENDING_TRANSFER_ALREADY_POSTED,
    ]
    payable = ledger.account("refunds_payable")
    assert payable is not None and payable.debits_pending == 0 and payable.held_fen == 0
    assert ledger.trial_balance().balanced


def test_linked_transfers_apply_all_or_nothing() -> None:
    """A linked chain fails whole: nothing of it stays (D8)."""
    ledger = ledger_with()
    a = Transfer("a", "bank", "suspense", 100, TransferCode.SUSPENSE_RECEIVED, TransferFlags.LINKED)
    b = Transfer("b", "suspense", "refunds_payable", 101, TransferCode.SUSPENSE_RETURN)
    outcomes = ledger.create_transfers([a, b], T0)
    assert [o.result for o in outcomes] == [R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS]
    assert ledger.journal() == [] and ledger.trial_balance().debits_posted == 0
    open_chain = ledger.create_transfers([replace(a, id="c")], T0)
    assert [o.result for o in open_chain] == [R.LINKED_EVENT_CHAIN_OPEN]
    assert ledger.journal() == []


def test_corrections_never_touch_a_bidders_deposit() -> None:
    """Nothing is edited: a correction is a new ADJUSTMENT transfer between system accounts,
    and deposits move only through their lifecycle (D8)."""
    ledger = ledger_with(tender())
    d = ledger.open_deposit("P1", "B1", 1)
    t = Transfer("adj", "bank", d.account_id, 5, TransferCode.ADJUSTMENT)
    assert ledger.create_transfers([t], T0)[0].result is R.CODE_NOT_ALLOWED_FOR_ACCOUNTS


# == lifecycle ===============================================================================


@SETTINGS
@given(st.sampled_from(DepositState), st.sampled_from(DepositEvent))
def test_deposit_lifecycle_is_a_closed_table(state: DepositState, event: DepositEvent) -> None:
    """Only the listed transitions exist; anything else is refused (D4–D6, A7)."""
    if (state, event) in DEPOSIT_TRANSITIONS:
        assert next_deposit_state(state, event) is DEPOSIT_TRANSITIONS[(state, event)]
    else:
        with pytest.raises(LedgerRejected):
            next_deposit_state(state, event)


def test_a_resolved_deposit_has_no_way_out() -> None:
    """Refunded, forfeited and converted are ends: a deposit is resolved once (D8)."""
    ends = {DepositState.REFUNDED, DepositState.FORFEITED, DepositState.CONVERTED}
    assert not [k for k in DEPOSIT_TRANSITIONS if k[0] in ends]


# == sub-accounts ===========================================================================

nos = st.integers(min_value=0, max_value=999_999)


@SETTINGS
@given(nos, nos, nos, nos)
def test_sub_account_is_unique_to_bidder_and_project(p1: int, b1: int, p2: int, b2: int) -> None:
    """Each (bidder, project) has its own virtual sub-account number (D1)."""
    a = sub_account_number(p1, b1, prefix="8801")
    b = sub_account_number(p2, b2, prefix="8801")
    assert (a == b) == ((p1, b1) == (p2, b2))
    assert parse_sub_account(a, prefix="8801") == (p1, b1)


@SETTINGS
@given(nos, nos, st.data())
def test_a_mistyped_sub_account_is_caught(
    project_no: int, bidder_no: int, data: st.DataObject
) -> None:
    """The MOD 97-10 check digits catch any one wrong digit and any swap of two neighbours."""
    number = sub_account_number(project_no, bidder_no, prefix="8801")
    assert is_valid_sub_account(number)
    i = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != number[i]]))
    assert not is_valid_sub_account(number[:i] + digit + number[i + 1 :])
    j = data.draw(st.integers(min_value=0, max_value=len(number) - 2))
    if number[j] != number[j + 1]:
        swapped = number[:j] + number[j + 1] + number[j] + number[j + 2 :]
        assert not is_valid_sub_account(swapped)


# == interest and days =======================================================================


@SETTINGS
@given(
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=3_650),
)
def test_interest_is_rounded_half_up_to_the_fen(principal: int, rate_bp: int, days: int) -> None:
    """D5 (IR 57): interest in fen = principal × rate × days / 365, half-up to the fen."""
    exact = Fraction(principal * rate_bp * days, 10_000 * 365)
    got = interest_fen(principal, rate_bp, days)
    assert isinstance(got, int)
    assert got - Fraction(1, 2) <= exact < got + Fraction(1, 2)


def test_interest_examples() -> None:
    """D5: one year at 1.50 % on 10,000 yuan is 150 yuan; half a fen rounds up."""
    assert interest_fen(1_000_000, 150, 365) == 15_000
    assert interest_fen(73, 5_000, 5) == 1  # 0.5 fen → 1
    assert interest_fen(72, 5_000, 5) == 0  # 0.49… fen → 0
    for bad in (-1, True, 1.5):
        with pytest.raises(LedgerRejected):
            interest_fen(bad, 150, 1)  # type: ignore[arg-type]


def test_days_held_count_the_first_day_not_the_last_in_china_time() -> None:
    """D5: days from the China date of value to the China date of refund (算头不算尾)."""
    value = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 2 March 00:30 in China
    assert days_held(value, datetime(2026, 3, 2, 15, 59, tzinfo=UTC)) == 0
    assert days_held(value, datetime(2026, 3, 2, 16, 0, tzinfo=UTC)) == 1


NATIONAL_DAY = WorkCalendar(
    holidays=frozenset(date(2025, 10, d) for d in range(1, 9)),
    workdays=frozenset({date(2025, 9, 28), date(2025, 10, 11)}),
)


def test_five_working_days_skip_weekends_holidays_and_count_adjusted_workdays() -> None:
    """A7: losers are refunded within 5 working days of the result; holidays do not count,
    weekend days made working days (调休) do."""
    friday = date(2026, 3, 6)
    assert add_working_days(friday, 5, WorkCalendar()) == date(2026, 3, 13)
    # Result on Fri 26 Sep 2025: Sun 28, Mon 29, Tue 30 Sep work; 1–8 Oct are off; Thu 9
    # and Fri 10 Oct work. From Tue 30 Sep: 9, 10, Sat 11 (adjusted), 13, 14 Oct.
    assert add_working_days(date(2025, 9, 26), 5, NATIONAL_DAY) == date(2025, 10, 10)
    assert add_working_days(date(2025, 9, 30), 5, NATIONAL_DAY) == date(2025, 10, 14)
    at = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # Fri 23:00 in China
    assert refund_due_on(RefundCause.LOST, at, WorkCalendar()) == date(2026, 3, 13)
    assert refund_due_on(RefundCause.CONTRACT_SIGNED, at, WorkCalendar()) == date(2026, 3, 11)


@SETTINGS
@given(st.dates(min_value=date(2025, 9, 1), max_value=date(2025, 11, 30)), st.integers(0, 20))
def test_add_working_days_lands_on_the_nth_working_day(start: date, n: int) -> None:
    """A7: the due day is a working day with exactly n working days after the start."""
    due = add_working_days(start, n, NATIONAL_DAY)
    between = [start + timedelta(days=k) for k in range(1, (due - start).days + 1)]
    assert sum(is_working_day(d, NATIONAL_DAY) for d in between) == n
    assert n == 0 or is_working_day(due, NATIONAL_DAY)


# == caps and floors =========================================================================


def test_bid_deposit_above_two_percent_of_the_estimate_is_refused() -> None:
    """T14 (IR 26): ≤ 2 % of the estimate; 2.01 % is refused; works capped at 800,000 yuan."""
    check_tender_deposit_cap(200, 10_000, policy=POLICY)
    with pytest.raises(LedgerRejected) as e:
        check_tender_deposit_cap(201, 10_000, policy=POLICY)
    assert e.value.reason is LedgerReason.DEPOSIT_ABOVE_CAP
    check_tender_deposit_cap(80_000_000, 10**10, works=True, policy=POLICY)
    with pytest.raises(LedgerRejected):
        check_tender_deposit_cap(80_000_001, 10**10, works=True, policy=POLICY)
    check_tender_deposit_cap(80_000_001, 10**10, works=False, policy=POLICY)
    with pytest.raises(LedgerRejected) as e:
        ledger_with(tender(required_fen=2_010_000))
    assert e.value.reason is LedgerReason.DEPOSIT_ABOVE_CAP


@SETTINGS
@given(st.integers(1, 10**13), st.integers(1, 10**13))
def test_bid_deposit_cap_is_exact(deposit: int, estimate: int) -> None:
    """T14: the cap is decided in integers, with no rounding either way."""
    allowed = Fraction(deposit, estimate) <= Fraction(2, 100)
    try:
        check_tender_deposit_cap(deposit, estimate, policy=POLICY)
    except LedgerRejected:
        assert not allowed
    else:
        assert allowed


def test_land_deposit_below_twenty_percent_is_refused() -> None:
    """A7: a land deposit is at least 20 % (cfg) of the starting price."""
    check_land_deposit_floor(20_000, 100_000, policy=POLICY)
    with pytest.raises(LedgerRejected) as e:
        check_land_deposit_floor(19_999, 100_000, policy=POLICY)
    assert e.value.reason is LedgerReason.DEPOSIT_BELOW_FLOOR
    check_land_deposit_floor(19_999, 100_000, policy=DepositPolicy(land_floor_bp=1_000))


def test_terms_report_every_problem() -> None:
    """Bad terms are refused with all their problems listed."""
    with pytest.raises(LedgerRejected) as e:
        ledger_with(tender(required_fen=0, interest_rate_bp=-1, deadline_at=datetime(2026, 1, 1)))
    codes = [p["code"] for p in e.value.details["errors"]]
    assert codes == ["amount_not_positive", "invalid_input", "invalid_input"]


# == notifications ===========================================================================


def test_credit_confirms_only_by_value_time_before_the_deadline() -> None:
    """D2 (IR 26): the bank's value time decides, not when the message arrives; the
    deadline instant itself is too late."""
    ledger = ledger_with(tender())
    bank = Bank()
    a = ledger.open_deposit("P1", "A", 1)
    b = ledger.open_deposit("P1", "B", 2)
    on_time = bank.credit("R1", a.sub_account, 1_000_000, DEADLINE - timedelta(milliseconds=1))
    late = bank.credit("R2", b.sub_account, 1_000_000, DEADLINE)
    after = DEADLINE + timedelta(hours=3)
    assert (
        ledger.receive_notification(on_time, sign(on_time), after).verdict
        is NotificationVerdict.CONFIRM
    )
    outcome = ledger.receive_notification(late, sign(late), after)
    assert outcome.verdict is NotificationVerdict.SUSPENSE
    assert outcome.suspense_reason is SuspenseReason.AFTER_DEADLINE
    assert ledger.is_admitted("P1", "A") and not ledger.is_admitted("P1", "B")


def test_unmatched_money_goes_to_suspense_with_its_reason() -> None:
    """D9: money that matches nothing is held in suspense with the reason: unknown
    sub-account (a mistyped one included), short amount, deposit already paid."""
    ledger = ledger_with(tender())
    bank = Bank()
    d = ledger.open_deposit("P1", "A", 1)
    typo = d.sub_account[:-3] + str((int(d.sub_account[-3]) + 1) % 10) + d.sub_account[-2:]
    cases = [
        (bank.credit("R1", typo, 1_000_000), SuspenseReason.UNKNOWN_SUB_ACCOUNT),
        (bank.credit("R2", d.sub_account, 999_999), SuspenseReason.AMOUNT_INSUFFICIENT),
        (bank.credit("R3", d.sub_account, 1_000_000), None),
        (bank.credit("R4", d.sub_account, 1_000_000), SuspenseReason.DEPOSIT_NOT_AWAITING),
    ]
    for n, reason in cases:
        outcome = ledger.receive_notification(n, sign(n), T0)
        assert outcome.suspense_reason is reason
    assert ledger.account("suspense").held_fen == 2_999_999  # type: ignore[union-attr]
    assert ledger.deposit("P1", "A").amount_fen == 1_000_000
    assert ledger.trial_balance().balanced


def test_classification_precedence() -> None:
    """Unknown sub-account, then after the deadline, then not awaiting, then short."""
    terms = tender()
    d = Deposit("P1", "A", 1, "x", "acct", state=DepositState.CONFIRMED)
    n = BankNotification(1, "R", NotificationKind.CREDIT, "x", 1, DEADLINE)
    assert classify_credit(n, None, None)[1] is SuspenseReason.UNKNOWN_SUB_ACCOUNT
    assert classify_credit(n, terms, d)[1] is SuspenseReason.AFTER_DEADLINE
    n = replace(n, value_at=T0)
    assert classify_credit(n, terms, d)[1] is SuspenseReason.DEPOSIT_NOT_AWAITING
    d = replace(d, state=DepositState.AWAITING)
    assert classify_credit(n, terms, d)[1] is SuspenseReason.AMOUNT_INSUFFICIENT
    assert classify_credit(replace(n, amount_fen=10**7), terms, d)[0] is NotificationVerdict.CONFIRM


def test_the_same_notification_twice_changes_nothing() -> None:
    """D8: a bank notification repeated (even renumbered) answers its first outcome."""
    ledger = ledger_with(tender())
    bank = Bank()
    d = ledger.open_deposit("P1", "A", 1)
    n = bank.credit("R1", d.sub_account, 1_000_000)
    first = ledger.receive_notification(n, sign(n), T0)
    before = (ledger.trial_balance(), ledger.deposit("P1", "A"), len(ledger.journal()))
    again = ledger.receive_notification(n, sign(n), T0)
    bank.seq += 1
    renumbered = replace(n, seq=bank.seq)
    third = ledger.receive_notification(renumbered, sign(renumbered), T0)
    assert again == third == replace(first, replayed=True)
    assert (ledger.trial_balance(), ledger.deposit("P1", "A"), len(ledger.journal())) == before
    assert ledger.last_seq == 2


def test_bad_notifications_are_refused_and_change_nothing() -> None:
    """Bad signature, malformed, replayed sequence, a gap, and a known reference with other
    content are all refused; nothing changes."""
    ledger = ledger_with(tender())
    bank = Bank()
    d = ledger.open_deposit("P1", "A", 1)
    n1 = bank.credit("R1", d.sub_account, 1_000_000)
    ledger.receive_notification(n1, sign(n1), T0)
    before = (ledger.trial_balance(), ledger.last_seq)

    def refused(n: BankNotification, signature: bytes | None = None) -> LedgerReason:
        with pytest.raises(LedgerRejected) as e:
            ledger.receive_notification(n, sign(n) if signature is None else signature, T0)
        assert (ledger.trial_balance(), ledger.last_seq) == before
        return e.value.reason  # type: ignore[return-value]

    n2 = bank.credit("R2", d.sub_account, 1_000_000)
    assert refused(n2, sign(n1)) is LedgerReason.NOTIFICATION_BAD_SIGNATURE
    assert refused(replace(n2, amount_fen=5), sign(n2)) is LedgerReason.NOTIFICATION_BAD_SIGNATURE
    for amount in (0, -1, True, 1.5, AMOUNT_MAX_FEN + 1):
        assert refused(replace(n2, amount_fen=amount)) is LedgerReason.NOTIFICATION_MALFORMED
    assert (
        refused(replace(n2, value_at=datetime(2026, 3, 2))) is LedgerReason.NOTIFICATION_MALFORMED
    )
    assert refused(replace(n2, seq=1)) is LedgerReason.NOTIFICATION_REPLAYED
    assert refused(replace(n2, seq=3)) is LedgerReason.NOTIFICATION_OUT_OF_ORDER
    assert refused(replace(n1, seq=2, amount_fen=2)) is LedgerReason.NOTIFICATION_CONFLICT
    assert ledger.receive_notification(n2, sign(n2), T0).verdict is NotificationVerdict.SUSPENSE


def test_a_bank_reversal_takes_back_the_credit() -> None:
    """A reversal (冲正) of a confirming credit un-confirms the deposit with a new transfer;
    one the ledger cannot apply is recorded as unapplied for staff (D8, D9)."""
    ledger = ledger_with(tender())
    bank = Bank()
    d = ledger.open_deposit("P1", "A", 1)
    n = bank.credit("R1", d.sub_account, 1_000_000)
    ledger.receive_notification(n, sign(n), T0)
    rev = bank.reversal("R2", n)
    outcome = ledger.receive_notification(rev, sign(rev), T0)
    assert outcome.verdict is NotificationVerdict.REVERSE_DEPOSIT
    assert ledger.deposit("P1", "A").state is DepositState.AWAITING
    assert not ledger.is_admitted("P1", "A")
    assert ledger.account(d.account_id).held_fen == 0  # type: ignore[union-attr]
    again = bank.reversal("R3", n)
    assert (
        ledger.receive_notification(again, sign(again), T0).verdict is NotificationVerdict.UNAPPLIED
    )
    assert [m.amount_fen for m in ledger.bank_movements()] == [1_000_000, -1_000_000]


# == collusion and secrecy ===================================================================


def test_deposits_of_different_bidders_from_one_account_raise_an_alert() -> None:
    """D3 (IR 40(6)): one payer account funding two bidders of a project is an alert."""
    ledger = ledger_with(tender(), tender("P2", 3))
    bank = Bank()
    confirmed(ledger, bank, "P1", "A", 1, payer="6222 0000 1111")
    confirmed(ledger, bank, "P1", "B", 2, payer="6222-0000-1111")
    confirmed(ledger, bank, "P1", "C", 3, payer="6222000099")
    confirmed(ledger, bank, "P2", "C", 1, payer="62220000 1111")
    [alert] = ledger.collusion_alerts()
    assert (alert.project_id, alert.payer_account, alert.bidder_ids) == (
        "P1",
        "622200001111",
        ("A", "B"),
    )
    [across] = ledger.collusion_alerts(across_projects=True)
    assert across.bidder_ids == ("A", "B", "C")
    same_bidder = [ledger.deposit("P1", "A"), replace(ledger.deposit("P1", "A"), project_id="P1")]
    assert detect_collusion(same_bidder) == []


def test_payer_is_sealed_until_the_opening() -> None:
    """D1: who paid stays sealed until the opening."""
    d = Deposit("P", "A", 1, "1", "a", payer_account="6222", payer_name="X")
    opening = DEADLINE
    assert (
        seal_payer(d, now=opening - timedelta(milliseconds=1), opening_at=opening).payer_account
        is None
    )
    assert seal_payer(d, now=opening, opening_at=opening).payer_name == "X"


# == refunds, forfeits, conversion ===========================================================


def test_withdrawal_before_the_deadline_is_refunded_within_five_days() -> None:
    """D4 (IR 35): withdrawn before the deadline → refund due within 5 days, no interest."""
    ledger = ledger_with(tender())
    bank = Bank()
    confirmed(ledger, bank, "P1", "A", 1)
    withdrawn = DEADLINE - timedelta(days=2)
    d = ledger.request_refund(
        "c1", "P1", "A", RefundCause.WITHDRAWN_BEFORE_DEADLINE, withdrawn, withdrawn
    )
    assert d.state is DepositState.REFUND_PENDING and d.interest_fen == 0
    assert d.refund_due_on == date(2026, 3, 23)
    [payout] = ledger.payouts(PayoutState.PENDING)
    assert (payout.amount_fen, payout.payee_account) == (1_000_000, "6222000011112222")
    assert ledger.refunds_due(date(2026, 3, 23)) == [d]
    with pytest.raises(LedgerRejected) as e:
        ledger.request_refund(
            "c2", "P1", "A", RefundCause.WITHDRAWN_BEFORE_DEADLINE, withdrawn, withdrawn
        )
    assert e.value.reason is LedgerReason.DEPOSIT_ALREADY_RESOLVED


def test_refund_after_the_contract_carries_interest_for_the_days_held() -> None:
    """D5 (IR 57): refund within 5 days of the contract with interest at the configured
    rate for the days held, in fen, half-up."""
    ledger = ledger_with(tender(interest_rate_bp=150))
    bank = Bank()
    confirmed(ledger, bank, "P1", "A", 1)  # value 2 March (China)
    contract = datetime(2026, 4, 30, 2, 0, tzinfo=UTC)
    refund_at = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)  # 60 days after 2 March
    d = ledger.request_refund("c1", "P1", "A", RefundCause.CONTRACT_SIGNED, contract, refund_at)
    assert d.interest_fen == interest_fen(1_000_000, 150, 60) == 2_466
    assert d.refund_due_on == date(2026, 5, 5)
    assert ledger.payout(d.payout_id).amount_fen == 1_002_466  # type: ignore[arg-type]
    assert ledger.account("interest_expense").debits_posted == 2_466  # type: ignore[union-attr]
    assert ledger.trial_balance().balanced


def test_bank_confirmation_posts_the_refund_and_a_rejection_voids_it() -> None:
    """Refund instructions are posted by the bank's confirmation; a rejected one is voided
    and issued again; the same answer twice changes nothing."""
    ledger = ledger_with(auction())
    bank = Bank()
    confirmed(ledger, bank, "L1", "A", 1)
    result_at = datetime(2026, 3, 27, 7, 0, tzinfo=UTC)  # Friday
    d = ledger.request_refund("c1", "L1", "A", RefundCause.LOST, result_at, result_at)
    assert d.refund_due_on == date(2026, 4, 3)  # A7: 5 working days
    no = PayoutResult(d.payout_id, False, "BK1", result_at, "account closed")  # type: ignore[arg-type]
    assert ledger.confirm_payout(no, result_at).state is PayoutState.VOIDED
    assert ledger.confirm_payout(no, result_at).state is PayoutState.VOIDED
    assert ledger.account("refunds_payable").available_fen == 20_000_000  # type: ignore[union-attr]
    new = ledger.reissue_payout("c2", d.payout_id, result_at, payee_account="6222999")  # type: ignore[arg-type]
    with pytest.raises(LedgerRejected) as e:
        ledger.reissue_payout("c3", d.payout_id, result_at)  # type: ignore[arg-type]
    assert e.value.reason is LedgerReason.PAYOUT_ALREADY_SETTLED
    ok = PayoutResult(new.id, True, "BK2", result_at)
    ledger.confirm_payout(ok, result_at)
    assert ledger.deposit("L1", "A").state is DepositState.REFUNDED
    with pytest.raises(LedgerRejected) as e:
        ledger.confirm_payout(replace(ok, ok=False), result_at)
    assert e.value.reason is LedgerReason.PAYOUT_ALREADY_SETTLED
    assert ledger.account("bank").held_fen == 0  # type: ignore[union-attr]
    assert ledger.trial_balance().balanced


def test_refund_of_more_than_is_held_is_refused() -> None:
    """A deposit account cannot pay out more than it holds (D8)."""
    ledger = ledger_with(tender())
    d = confirmed(ledger, Bank(), "P1", "A", 1)
    t = Transfer("x", d.account_id, "refunds_payable", 1_000_001, TransferCode.REFUND)
    assert ledger.create_transfers([t], T0)[0].result is R.EXCEEDS_CREDITS


def test_forfeiture_needs_a_reason_and_a_second_approver() -> None:
    """D6 (IR 35, 74): forfeiture on withdrawal after the deadline, with a written reason,
    posted only on a second staff member's approval."""
    ledger = ledger_with(tender())
    confirmed(ledger, Bank(), "P1", "A", 1)
    after = DEADLINE + timedelta(hours=1)
    cause = ForfeitCause.WITHDRAWN_AFTER_DEADLINE
    with pytest.raises(LedgerRejected) as e:
        ledger.request_forfeit("f0", "P1", "A", cause, "  ", "staff1", after, after)
    assert e.value.reason is LedgerReason.FORFEIT_REASON_REQUIRED
    with pytest.raises(LedgerRejected) as e:
        ledger.request_forfeit(
            "f0", "P1", "A", cause, "withdrew", "staff1", DEADLINE - timedelta(seconds=1), after
        )
    assert e.value.reason is LedgerReason.FORFEIT_CAUSE_NOT_APPLICABLE
    d = ledger.request_forfeit(
        "f1", "P1", "A", cause, "withdrew after the deadline", "staff1", after, after
    )
    assert d.state is DepositState.FORFEIT_PENDING and not ledger.is_admitted("P1", "A")
    with pytest.raises(LedgerRejected) as e:
        ledger.request_refund("r1", "P1", "A", RefundCause.CONTRACT_SIGNED, after, after)
    assert e.value.reason is LedgerReason.DEPOSIT_ALREADY_RESOLVED
    for approver in ("staff1", ""):
        with pytest.raises(LedgerRejected) as e:
            ledger.approve_forfeit("a1", "P1", "A", approver, after)
        assert e.value.reason is LedgerReason.SECOND_APPROVER_REQUIRED
    assert ledger.account("forfeited").credits_posted == 0  # type: ignore[union-attr]
    d = ledger.approve_forfeit("a2", "P1", "A", "staff2", after)
    assert d.state is DepositState.FORFEITED and d.forfeit.approved_by == "staff2"  # type: ignore[union-attr]
    assert ledger.account("forfeited").credits_posted == 1_000_000  # type: ignore[union-attr]


def test_a_rejected_forfeiture_leaves_the_deposit_confirmed() -> None:
    """D6: without approval nothing is forfeited; the reservation is voided."""
    ledger = ledger_with(tender())
    d = confirmed(ledger, Bank(), "P1", "A", 1)
    after = DEADLINE + timedelta(hours=1)
    ledger.request_forfeit(
        "f1", "P1", "A", ForfeitCause.REFUSED_TO_SIGN, "did not sign", "s1", after, after
    )
    assert ledger.account(d.account_id).available_fen == 0  # type: ignore[union-attr]
    d = ledger.reject_forfeit("x1", "P1", "A", "s2", after)
    assert d.state is DepositState.CONFIRMED and d.forfeit is None
    assert ledger.account(d.account_id).available_fen == 1_000_000  # type: ignore[union-attr]


def test_the_auction_winners_deposit_becomes_part_of_the_price() -> None:
    """A7: the winner's deposit is converted into part of the price; a tender's is not."""
    ledger = ledger_with(auction(), tender())
    bank = Bank()
    confirmed(ledger, bank, "L1", "W", 1)
    confirmed(ledger, bank, "P1", "W", 1)
    d = ledger.convert("v1", "L1", "W", DEADLINE)
    assert d.state is DepositState.CONVERTED
    assert ledger.account("price_receivable").credits_posted == 20_000_000  # type: ignore[union-attr]
    assert ledger.convert("v1", "L1", "W", DEADLINE) == d  # the same command again
    with pytest.raises(LedgerRejected) as e:
        ledger.convert("v1", "L1", "X", DEADLINE)
    assert e.value.reason is LedgerReason.COMMAND_ID_REUSED
    with pytest.raises(LedgerRejected) as e:
        ledger.convert("v2", "P1", "W", DEADLINE)
    assert e.value.reason is LedgerReason.CONVERSION_NOT_APPLICABLE


def test_a_guarantee_confirms_without_cash() -> None:
    """D7: a bank guarantee or e-guarantee confirms the deposit where the project accepts
    them; its refund is a release, with no money moving."""
    ledger = ledger_with(tender(), auction())
    ledger.open_deposit("P1", "A", 1)
    ledger.open_deposit("L1", "A", 1)
    g = Guarantee("G-1", "Bank of X", 1_000_000, DEADLINE + timedelta(days=90))
    d = ledger.confirm_guarantee("P1", "A", g, T0)
    assert d.state is DepositState.CONFIRMED and d.form is DepositForm.GUARANTEE
    assert ledger.is_admitted("P1", "A") and ledger.journal() == []
    with pytest.raises(LedgerRejected) as e:
        ledger.confirm_guarantee("L1", "A", replace(g, ref="G-2"), T0)
    assert e.value.reason is LedgerReason.GUARANTEE_NOT_ACCEPTED
    ledger.open_deposit("P1", "B", 2)
    with pytest.raises(LedgerRejected) as e:
        ledger.confirm_guarantee("P1", "B", replace(g, amount_fen=999_999, ref="G-3"), T0)
    assert e.value.reason is LedgerReason.GUARANTEE_INSUFFICIENT
    d = ledger.request_refund("r1", "P1", "A", RefundCause.CONTRACT_SIGNED, DEADLINE, DEADLINE)
    assert d.state is DepositState.REFUNDED and ledger.journal() == []


def test_suspense_money_is_returned_to_its_payer() -> None:
    """D9: money in suspense goes back to the account it came from, through the batch."""
    ledger = ledger_with(tender())
    bank = Bank()
    n = bank.credit("R1", "12345", 700)
    ledger.receive_notification(n, sign(n), T0)
    payout = ledger.return_suspense("s1", "R1", T0)
    assert (payout.payee_account, payout.amount_fen) == (n.payer_account, 700)
    with pytest.raises(LedgerRejected):
        ledger.return_suspense("s2", "R1", T0)
    ledger.confirm_payout(PayoutResult(payout.id, True, "BK9", T0), T0)
    [item] = ledger.suspense_items()
    assert item.state is SuspenseState.RETURNED
    assert ledger.account("suspense").held_fen == 0  # type: ignore[union-attr]
    assert ledger.account("bank").held_fen == 0  # type: ignore[union-attr]


def test_an_unknown_or_foreign_deposit_is_refused() -> None:
    """Commands on deposits that do not exist, or with a reused bidder number, are refused."""
    ledger = ledger_with(tender())
    with pytest.raises(LedgerRejected) as e:
        ledger.request_refund("c1", "P1", "nobody", RefundCause.LOST, T0, T0)
    assert e.value.reason is LedgerReason.DEPOSIT_NOT_FOUND
    ledger.open_deposit("P1", "A", 1)
    with pytest.raises(LedgerRejected) as e:
        ledger.open_deposit("P1", "B", 1)
    assert e.value.reason is LedgerReason.DEPOSIT_CONFLICT
    assert ledger.open_deposit("P1", "A", 1).account_id == deposit_account_id("P1", "A")
    with pytest.raises(LedgerRejected) as e:
        ledger.request_refund("c1", "P1", "A", RefundCause.LOST, T0, T0)
    assert e.value.reason is LedgerReason.DEPOSIT_NOT_CONFIRMED


def test_china_dates_are_used_for_refund_days() -> None:
    """Dates are China's: 23:30 UTC is already the next day in China."""
    at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert at.astimezone(CHINA_TZ).date() == date(2026, 3, 2)
    assert refund_due_on(RefundCause.WITHDRAWN_BEFORE_DEADLINE, at, WorkCalendar()) == date(
        2026, 3, 7
    )


def test_decimal_amounts_are_never_money() -> None:
    """A Decimal is not an amount of fen, even a whole one (house rule)."""
    assert amount_problem(Decimal(5)) is R.AMOUNT_NOT_INTEGER
