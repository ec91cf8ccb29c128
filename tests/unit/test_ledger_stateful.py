"""D8: the deposit ledger's invariants hold after every step of random use.

A hypothesis state machine drives the in-memory reference ledger with deposits paid (on
time, late, short, to unknown sub-accounts, from shared payer accounts), duplicate and bad
bank notifications, reversals, refunds and the bank's answers, forfeitures with and without
a second approver, conversions, suspense returns, raw transfers (valid, invalid, overdrawing)
and replays of everything. After every step it checks, from the journal alone, that every
transfer balances, the ledger sums to zero, no account is below what its kind allows, each
deposit is resolved at most once and agrees with its money, and that replays answer their
first result while the same id with other content is refused.

Sources: RULES.md D8 (TigerBeetle, Formance), D2, D3, D6, D9; A7.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from crypto.signing import generate_signing_key, public_key_bytes
from tests.ledger_reference import ReferenceLedger
from trading.ledger.errors import LedgerReason, LedgerRejected
from trading.ledger.model import (
    AMOUNT_MAX_FEN,
    SYSTEM_ACCOUNTS,
    Account,
    AccountFlags,
    AccountKind,
    BankNotification,
    DepositForm,
    DepositState,
    DepositTerms,
    ForfeitCause,
    Guarantee,
    NotificationKind,
    NotificationVerdict,
    PayoutPurpose,
    PayoutResult,
    PayoutState,
    ProjectKind,
    RefundCause,
    SuspenseState,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferResult,
)
from trading.ledger.rules.lifecycle import RESOLVED_STATES
from trading.ledger.rules.notifications import notification_message
from trading.ledger.rules.payers import normalize_bank_account
from trading.ledger.rules.transfers import apply_transfer

BANK_KEY = generate_signing_key()
OTHER_KEY = generate_signing_key()
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)
PROJECTS = {
    "P1": DepositTerms(
        "P1",
        1,
        ProjectKind.TENDER,
        1_000,
        DEADLINE,
        interest_rate_bp=150,
        estimate_fen=100_000,
    ),
    "L1": DepositTerms(
        "L1",
        2,
        ProjectKind.AUCTION,
        2_000,
        DEADLINE,
        land=True,
        starting_price_fen=10_000,
        accept_guarantees=False,
    ),
}
BIDDERS = ("A", "B", "C", "D")
PAYERS = ("6222-0001", "6222 0002", "62220003")
STAFF = ("s1", "s2", "s3")
TERMINAL = {DepositState.REFUNDED, DepositState.FORFEITED, DepositState.CONVERTED}
RAW_ACCOUNTS = ("forfeited", "price_receivable", "interest_expense")
R = TransferResult


def sign(n: BankNotification, key: Any = BANK_KEY) -> bytes:
    return key.sign(notification_message(n))


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = ReferenceLedger(bank_public_key=public_key_bytes(BANK_KEY))
        for terms in PROJECTS.values():
            self.ledger.register_project(terms)
        self.now = T0
        self.seq = 0
        self.refs = 0
        self.notes: list[tuple[BankNotification, Any]] = []  # (notification, first outcome)
        self.raw: list[tuple[Transfer, R]] = []  # raw transfers and their first result
        self.commands: list[tuple[str, tuple[Any, ...], Any]] = []  # (method, args, answer)
        self.ended: dict[tuple[str, str], DepositState] = {}
        self.cmd_no = 0

    # -- helpers --

    def snapshot(self, *, with_seq: bool = True) -> tuple[Any, ...]:
        led = self.ledger
        return (
            led.last_seq if with_seq else None,
            sorted(led.accounts(), key=lambda a: a.id),
            len(led.journal()),
            sorted(led.deposits(), key=lambda d: (d.project_id, d.bidder_id)),
            led.suspense_items(),
            led.payouts(),
            len(led.bank_movements()),
        )

    def next_ref(self) -> str:
        self.refs += 1
        return f"BR{self.refs:05d}"

    def next_cmd(self) -> str:
        self.cmd_no += 1
        return f"cmd-{self.cmd_no}"

    def command(self, method: str, *args: Any) -> Any:
        """Run a use case; a refusal must change nothing."""
        before = self.snapshot()
        try:
            answer = getattr(self.ledger, method)(*args)
        except LedgerRejected as e:
            assert self.snapshot() == before, f"{method} refused ({e.code}) but changed state"
            return e
        self.commands.append((method, args, answer))
        return answer

    def deposits_in(self, *states: DepositState) -> list[tuple[str, str]]:
        return sorted(
            (d.project_id, d.bidder_id) for d in self.ledger.deposits() if d.state in states
        )

    # -- time --

    @rule(hours=st.sampled_from([1, 6, 24, 24 * 10]))
    def advance(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    # -- deposits and bank notifications --

    @rule(project=st.sampled_from(sorted(PROJECTS)), bidder=st.integers(0, len(BIDDERS) - 1))
    def open_deposit(self, project: str, bidder: int) -> None:
        d = self.ledger.open_deposit(project, BIDDERS[bidder], bidder + 1)
        assert (
            d.sub_account
            == self.ledger.open_deposit(project, BIDDERS[bidder], bidder + 1).sub_account
        )

    @precondition(lambda self: self.now < DEADLINE)
    @rule(
        project=st.sampled_from(sorted(PROJECTS)),
        bidder=st.integers(0, len(BIDDERS) - 1),
        payer=st.sampled_from(PAYERS),
    )
    def deposit_paid_on_time(self, project: str, bidder: int, payer: str) -> None:
        d = self.ledger.open_deposit(project, BIDDERS[bidder], bidder + 1)
        self.seq += 1
        n = BankNotification(
            self.seq,
            self.next_ref(),
            NotificationKind.CREDIT,
            d.sub_account,
            PROJECTS[project].required_fen,
            self.now,
            payer,
            f"name {payer}",
        )
        outcome = self.ledger.receive_notification(n, sign(n), self.now)
        self.notes.append((n, outcome))
        expected = NotificationVerdict.CONFIRM
        if d.state is not DepositState.AWAITING:
            expected = NotificationVerdict.SUSPENSE
        assert outcome.verdict is expected

    @rule(
        data=st.data(),
        known=st.booleans(),
        amount_delta=st.sampled_from([0, 0, 0, 1, 500, -1, -999]),
        value_shift_h=st.sampled_from([0, -1, -30, 1]),
        payer=st.sampled_from(PAYERS),
    )
    def pay(
        self, data: st.DataObject, known: bool, amount_delta: int, value_shift_h: int, payer: str
    ) -> None:
        deposits = self.ledger.deposits()
        awaiting = [d for d in deposits if d.state is DepositState.AWAITING]
        if known and deposits:
            d = data.draw(st.sampled_from(awaiting or deposits))
            sub_account = d.sub_account
            required = PROJECTS[d.project_id].required_fen
        else:
            sub_account = data.draw(st.sampled_from(["000000000000", "123", "880100000100000107"]))
            required = 1_000
        self.seq += 1
        value_at = self.now + timedelta(hours=value_shift_h)
        n = BankNotification(
            self.seq,
            self.next_ref(),
            NotificationKind.CREDIT,
            sub_account,
            max(1, required + amount_delta),
            value_at,
            payer,
            f"name {payer}",
        )
        before = self.ledger.deposit_by_sub_account(sub_account)
        outcome = self.ledger.receive_notification(n, sign(n), self.now)
        self.notes.append((n, outcome))
        # D2: confirmed only when known, awaiting, enough, and valued before the deadline.
        expect_confirm = (
            before is not None
            and before.state is DepositState.AWAITING
            and n.amount_fen >= PROJECTS[before.project_id].required_fen
            and value_at < DEADLINE
        )
        assert (outcome.verdict is NotificationVerdict.CONFIRM) == expect_confirm
        if not expect_confirm:
            assert outcome.verdict is NotificationVerdict.SUSPENSE and outcome.suspense_reason

    @precondition(lambda self: self.notes)
    @rule(data=st.data(), renumber=st.booleans())
    def duplicate_notification(self, data: st.DataObject, renumber: bool) -> None:
        n, first = data.draw(st.sampled_from(self.notes))
        if renumber:
            self.seq += 1
            n = replace(n, seq=self.seq)
        before = self.snapshot(with_seq=False)  # the sequence may advance, nothing else
        again = self.ledger.receive_notification(n, sign(n), self.now)
        assert again == replace(first, replayed=True)
        assert self.snapshot(with_seq=False) == before
        assert self.ledger.last_seq == self.seq

    @precondition(lambda self: self.notes)
    @rule(
        data=st.data(),
        fault=st.sampled_from(["signature", "replayed", "gap", "conflict", "amount"]),
    )
    def bad_notification(self, data: st.DataObject, fault: str) -> None:
        n, _ = data.draw(st.sampled_from(self.notes))
        fresh = replace(
            n,
            seq=self.seq + 1,
            bank_ref=self.next_ref(),
            kind=NotificationKind.CREDIT,
            reverses_ref=None,
        )
        signature = None
        expected = {
            "signature": LedgerReason.NOTIFICATION_BAD_SIGNATURE,
            "replayed": LedgerReason.NOTIFICATION_REPLAYED,
            "gap": LedgerReason.NOTIFICATION_OUT_OF_ORDER,
            "conflict": LedgerReason.NOTIFICATION_CONFLICT,
            "amount": LedgerReason.NOTIFICATION_MALFORMED,
        }[fault]
        if fault == "signature":
            signature = sign(fresh, OTHER_KEY)
        elif fault == "replayed":
            fresh = replace(fresh, seq=max(1, self.seq))
        elif fault == "gap":
            fresh = replace(fresh, seq=self.seq + 2)
        elif fault == "conflict":
            fresh = replace(n, amount_fen=n.amount_fen + 1)
        else:
            fresh = replace(
                fresh, amount_fen=data.draw(st.sampled_from([0, -5, True, AMOUNT_MAX_FEN + 1]))
            )
        before = self.snapshot()
        try:
            self.ledger.receive_notification(fresh, signature or sign(fresh), self.now)
        except LedgerRejected as e:
            assert e.reason is expected
        else:
            raise AssertionError(f"{fault} notification accepted")
        assert self.snapshot() == before

    @precondition(lambda self: self.notes)
    @rule(data=st.data())
    def bank_reversal(self, data: st.DataObject) -> None:
        credits = [(n, o) for n, o in self.notes if n.kind is NotificationKind.CREDIT]
        if not credits:
            return
        n, first = data.draw(st.sampled_from(credits))
        self.seq += 1
        rev = replace(
            n,
            seq=self.seq,
            bank_ref=self.next_ref(),
            kind=NotificationKind.REVERSAL,
            reverses_ref=n.bank_ref,
        )
        deposit = self.ledger.deposit_by_sub_account(n.sub_account)
        outcome = self.ledger.receive_notification(rev, sign(rev), self.now)
        self.notes.append((rev, outcome))
        if (
            first.verdict is NotificationVerdict.CONFIRM
            and deposit is not None
            and deposit.bank_ref == n.bank_ref
            and deposit.state is DepositState.CONFIRMED
        ):
            assert outcome.verdict is NotificationVerdict.REVERSE_DEPOSIT
            assert (
                self.ledger.deposit(deposit.project_id, deposit.bidder_id).state
                is DepositState.AWAITING
            )

    @rule(data=st.data(), valid=st.booleans())
    def guarantee(self, data: st.DataObject, valid: bool) -> None:
        awaiting = self.deposits_in(DepositState.AWAITING)
        if not awaiting:
            return
        project, bidder = data.draw(st.sampled_from(awaiting))
        amount = PROJECTS[project].required_fen - (0 if valid else 1)
        g = Guarantee(f"G-{self.next_ref()}", "Bank", amount, DEADLINE + timedelta(days=60))
        answer = self.command("confirm_guarantee", project, bidder, g, self.now)
        ok = valid and PROJECTS[project].accept_guarantees and self.now < DEADLINE
        assert isinstance(answer, LedgerRejected) != ok

    # -- refunds and payouts --

    @rule(data=st.data(), cause=st.sampled_from(RefundCause))
    def refund(self, data: st.DataObject, cause: RefundCause) -> None:
        candidates = sorted((d.project_id, d.bidder_id) for d in self.ledger.deposits())
        if not candidates:
            return
        project, bidder = data.draw(st.sampled_from(candidates))
        deposit = self.ledger.deposit(project, bidder)
        terms = PROJECTS[project]
        fits = {
            RefundCause.LOST: terms.kind is ProjectKind.AUCTION,
            RefundCause.CONTRACT_SIGNED: terms.kind is ProjectKind.TENDER,
            RefundCause.WITHDRAWN_BEFORE_DEADLINE: self.now < DEADLINE,
            RefundCause.TERMINATED: terms.kind is ProjectKind.TENDER,
        }[cause]
        answer = self.command(
            "request_refund", self.next_cmd(), project, bidder, cause, self.now, self.now
        )
        expect_ok = deposit.state is DepositState.CONFIRMED and fits
        assert isinstance(answer, LedgerRejected) != expect_ok, answer
        if isinstance(answer, LedgerRejected) and deposit.state in RESOLVED_STATES:
            assert answer.reason is LedgerReason.DEPOSIT_ALREADY_RESOLVED  # a second refund

    @rule(data=st.data(), paid=st.booleans())
    def bank_answers_payout(self, data: st.DataObject, paid: bool) -> None:
        pending = self.ledger.payouts(PayoutState.PENDING)
        if not pending:
            return
        payout = data.draw(st.sampled_from(pending))
        result = PayoutResult(payout.id, paid, self.next_ref(), self.now)
        settled = self.command("confirm_payout", result, self.now)
        assert settled.state is (PayoutState.POSTED if paid else PayoutState.VOIDED)
        # The same answer again changes nothing; another answer is refused.
        before = self.snapshot()
        assert self.ledger.confirm_payout(result, self.now) == settled
        refused = self.command("confirm_payout", replace(result, ok=not paid), self.now)
        assert isinstance(refused, LedgerRejected)
        assert self.snapshot() == before

    @rule(data=st.data())
    def reissue(self, data: st.DataObject) -> None:
        voided = self.ledger.payouts(PayoutState.VOIDED)
        if not voided:
            return
        payout = data.draw(st.sampled_from(voided))
        self.command("reissue_payout", self.next_cmd(), payout.id, self.now)

    # -- forfeiture and conversion --

    @rule(
        data=st.data(),
        cause=st.sampled_from(ForfeitCause),
        staff=st.sampled_from(STAFF),
        note=st.sampled_from(["", "refused to sign the contract"]),
    )
    def request_forfeit(
        self, data: st.DataObject, cause: ForfeitCause, staff: str, note: str
    ) -> None:
        confirmed = self.deposits_in(DepositState.CONFIRMED)
        if not confirmed:
            return
        project, bidder = data.draw(st.sampled_from(confirmed))
        answer = self.command(
            "request_forfeit",
            self.next_cmd(),
            project,
            bidder,
            cause,
            note,
            staff,
            self.now,
            self.now,
        )
        ok = bool(note) and (
            cause is not ForfeitCause.WITHDRAWN_AFTER_DEADLINE or self.now >= DEADLINE
        )
        assert isinstance(answer, LedgerRejected) != ok
        if ok:  # D6: the requester alone cannot approve
            alone = self.command(
                "approve_forfeit", self.next_cmd(), project, bidder, staff, self.now
            )
            assert alone.reason is LedgerReason.SECOND_APPROVER_REQUIRED
            if data.draw(st.integers(0, 2)) == 0:  # sometimes refused at once
                back = self.command(
                    "reject_forfeit", self.next_cmd(), project, bidder, "s3", self.now
                )
                assert back.state is DepositState.CONFIRMED

    @rule(data=st.data(), approver=st.sampled_from((*STAFF, "")), approve=st.booleans())
    def decide_forfeit(self, data: st.DataObject, approver: str, approve: bool) -> None:
        pending = self.deposits_in(DepositState.FORFEIT_PENDING)
        if not pending:
            return
        project, bidder = data.draw(st.sampled_from(pending))
        request = self.ledger.deposit(project, bidder).forfeit
        assert request is not None
        if approve:
            answer = self.command(
                "approve_forfeit", self.next_cmd(), project, bidder, approver, self.now
            )
            second = approver and approver != request.requested_by
            assert isinstance(answer, LedgerRejected) != bool(second)
            if not second:  # D6: one approver is not enough
                assert answer.reason is LedgerReason.SECOND_APPROVER_REQUIRED
        elif approver:
            answer = self.command(
                "reject_forfeit", self.next_cmd(), project, bidder, approver, self.now
            )
            assert answer.state is DepositState.CONFIRMED

    @rule(data=st.data())
    def convert(self, data: st.DataObject) -> None:
        candidates = sorted((d.project_id, d.bidder_id) for d in self.ledger.deposits())
        if not candidates:
            return
        project, bidder = data.draw(st.sampled_from(candidates))
        deposit = self.ledger.deposit(project, bidder)
        answer = self.command("convert", self.next_cmd(), project, bidder, self.now)
        ok = (
            deposit.state is DepositState.CONFIRMED
            and PROJECTS[project].kind is ProjectKind.AUCTION
            and deposit.form is DepositForm.CASH
        )
        assert isinstance(answer, LedgerRejected) != ok

    @rule(data=st.data())
    def return_suspense(self, data: st.DataObject) -> None:
        items = self.ledger.suspense_items()
        if not items:
            return
        item = data.draw(st.sampled_from(items))
        answer = self.command("return_suspense", self.next_cmd(), item.bank_ref, self.now)
        assert isinstance(answer, LedgerRejected) != (item.state is SuspenseState.OPEN)

    # -- raw transfers and replays --

    @rule(
        debit=st.sampled_from(RAW_ACCOUNTS + ("suspense", "refunds_payable", "deposit")),
        credit=st.sampled_from(RAW_ACCOUNTS),
        amount=st.one_of(
            st.integers(1, 3_000), st.sampled_from([0, -1, True, 1.0, AMOUNT_MAX_FEN + 1, "5"])
        ),
        linked_to_bad=st.booleans(),
        data=st.data(),
    )
    def raw_transfer(
        self, debit: str, credit: str, amount: Any, linked_to_bad: bool, data: st.DataObject
    ) -> None:
        code = TransferCode.ADJUSTMENT
        if debit == "deposit":
            deposits = self.ledger.deposits()
            if not deposits:
                return
            d = data.draw(st.sampled_from(deposits))
            debit, credit, code = d.account_id, "refunds_payable", TransferCode.REFUND
            account = self.ledger.account(debit)
            assert account is not None
            amount = account.available_fen + data.draw(st.integers(1, 5))  # always overdraws
        elif debit in ("suspense", "refunds_payable"):
            account = self.ledger.account(debit)
            assert account is not None
            amount = account.available_fen + 1  # always overdraws
        t = Transfer(f"raw-{self.next_ref()}", debit, credit, amount, code)
        batch = [t]
        if linked_to_bad:  # a good transfer linked to one that fails: neither applies
            good = Transfer(
                f"raw-{self.next_ref()}",
                "interest_expense",
                "forfeited",
                1,
                TransferCode.ADJUSTMENT,
                TransferFlags.LINKED,
            )
            bad = Transfer(
                f"raw-{self.next_ref()}",
                "forfeited",
                "price_receivable",
                AMOUNT_MAX_FEN,
                TransferCode.ADJUSTMENT,
            )
            batch = [good, bad, t]
        before = self.snapshot()
        outcomes = self.ledger.create_transfers(batch, self.now)
        if linked_to_bad:
            assert outcomes[0].result is R.LINKED_EVENT_FAILED
            assert outcomes[1].result is R.EXCEEDS_CREDITS
            outcomes = outcomes[2:]
        [outcome] = outcomes
        if code is TransferCode.REFUND or debit in ("suspense", "refunds_payable"):
            assert outcome.result is R.EXCEEDS_CREDITS  # refunds of more than is held
        if not outcome.ok:
            after = self.snapshot()
            assert after == before
        self.raw.append((t, outcome.result))

    @precondition(lambda self: self.raw)
    @rule(data=st.data())
    def replay_transfer(self, data: st.DataObject) -> None:
        t, first = data.draw(st.sampled_from(self.raw))
        before = self.snapshot()
        [again] = self.ledger.create_transfers([t], self.now)
        assert again.result is first
        assert again.replayed == (first is R.OK or first.is_transient)
        assert self.snapshot() == before

    @precondition(lambda self: any(r is R.OK or r.is_transient for _, r in self.raw))
    @rule(data=st.data(), field=st.sampled_from(["amount_fen", "reference", "credit_account_id"]))
    def same_id_other_content(self, data: st.DataObject, field: str) -> None:
        t, _ = data.draw(
            st.sampled_from([(t, r) for t, r in self.raw if r is R.OK or r.is_transient])
        )
        changed = {
            "amount_fen": replace(t, amount_fen=7 if t.amount_fen != 7 else 8),
            "reference": replace(t, reference="changed"),
            "credit_account_id": replace(t, credit_account_id="suspense"),
        }[field]
        before = self.snapshot()
        [outcome] = self.ledger.create_transfers([changed], self.now)
        assert outcome.result.name.startswith("EXISTS_WITH_DIFFERENT_")
        assert self.snapshot() == before

    @precondition(lambda self: self.commands)
    @rule(data=st.data())
    def replay_command(self, data: st.DataObject) -> None:
        method, args, answer = data.draw(st.sampled_from(self.commands))
        if method in ("confirm_guarantee", "confirm_payout"):
            return  # not keyed by a command id (idempotent by content, checked above)
        before = self.snapshot()
        assert getattr(self.ledger, method)(*args) == answer
        assert self.snapshot() == before

    # -- invariants --

    @invariant()
    def every_transfer_balances_and_the_journal_explains_every_balance(self) -> None:
        rebuilt = {
            a.id: Account(a.id, a.kind, a.project_id, a.bidder_id) for a in self.ledger.accounts()
        }
        by_id: dict[str, Transfer] = {}
        for rec in self.ledger.journal():
            t = rec.transfer
            assert type(t.amount_fen) is int and 0 < t.amount_fen <= AMOUNT_MAX_FEN
            assert t.debit_account_id != t.credit_account_id
            pending = by_id.get(t.pending_id) if t.pending_id else None
            rebuilt[t.debit_account_id], rebuilt[t.credit_account_id] = apply_transfer(
                t, rebuilt[t.debit_account_id], rebuilt[t.credit_account_id], pending
            )
            by_id[t.id] = t
        assert rebuilt == {a.id: a for a in self.ledger.accounts()}

    @invariant()
    def the_ledger_sums_to_zero(self) -> None:
        tb = self.ledger.trial_balance()
        assert tb.balanced and tb.net_fen == 0
        assert sum(r.net_debit_fen for r in tb.rows) == 0

    @invariant()
    def no_forbidden_negative_balance(self) -> None:
        for a in self.ledger.accounts():
            assert min(a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted) >= 0
            if AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS in a.flags:
                assert a.debits_pending + a.debits_posted <= a.credits_posted, a
            if AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS in a.flags:
                assert a.credits_pending + a.credits_posted <= a.debits_posted, a

    @invariant()
    def each_deposit_is_resolved_at_most_once_and_agrees_with_its_money(self) -> None:
        journal = self.ledger.journal()
        for d in self.ledger.deposits():
            key = (d.project_id, d.bidder_id)
            if key in self.ended:
                assert d.state is self.ended[key], "a resolved deposit changed"
            elif d.state in TERMINAL:
                self.ended[key] = d.state
            resolutions = [
                r.transfer
                for r in journal
                if r.transfer.debit_account_id == d.account_id
                and (
                    r.transfer.code in (TransferCode.REFUND, TransferCode.CONVERSION)
                    or (
                        r.transfer.code is TransferCode.FORFEIT
                        and TransferFlags.POST_PENDING in r.transfer.flags
                    )
                )
            ]
            assert len(resolutions) <= 1
            account = self.ledger.account(d.account_id)
            assert account is not None
            cash = d.form is DepositForm.CASH
            held = account.held_fen
            if d.state is DepositState.CONFIRMED:
                assert held == (d.amount_fen if cash else 0) and account.debits_pending == 0
            elif d.state is DepositState.FORFEIT_PENDING:
                assert held == (d.amount_fen if cash else 0) and account.available_fen == 0
            else:
                assert held == 0 and account.debits_pending == 0
            assert self.ledger.is_admitted(*key) == (d.state is DepositState.CONFIRMED)

    @invariant()
    def suspense_and_payouts_agree_with_their_accounts(self) -> None:
        led = self.ledger
        suspense = led.account(SYSTEM_ACCOUNTS[AccountKind.SUSPENSE])
        payable = led.account(SYSTEM_ACCOUNTS[AccountKind.REFUNDS_PAYABLE])
        assert suspense is not None and payable is not None
        open_items = led.suspense_items(SuspenseState.OPEN)
        assert suspense.held_fen == sum(i.amount_fen for i in open_items)
        current = {d.payout_id for d in led.deposits()} | {
            i.payout_id for i in led.suspense_items()
        }
        waiting = [p for p in led.payouts(PayoutState.VOIDED) if p.id in current]
        assert payable.available_fen == sum(p.amount_fen for p in waiting)
        for p in led.payouts():
            resolution = led.resolution(p.id)
            if p.state is PayoutState.PENDING:
                assert resolution is None
            else:
                posted = (
                    PayoutState.POSTED
                    if TransferFlags.POST_PENDING in resolution.flags
                    else PayoutState.VOIDED
                )  # type: ignore[union-attr]
                assert p.state is posted
            if p.purpose is PayoutPurpose.DEPOSIT_REFUND and p.state is PayoutState.POSTED:
                assert led.deposit(p.project_id, p.bidder_id).state is DepositState.REFUNDED  # type: ignore[arg-type]
        bank = led.account("bank")
        assert bank is not None
        assert bank.debits_posted - bank.credits_posted == sum(
            m.amount_fen for m in led.bank_movements()
        )

    @invariant()
    def one_payer_account_for_different_bidders_is_always_alerted(self) -> None:
        alerted = {
            (a.project_id, a.payer_account, b)
            for a in self.ledger.collusion_alerts()
            for b in a.bidder_ids
        }
        paid = [d for d in self.ledger.deposits() if d.form is DepositForm.CASH and d.payer_account]
        for x in paid:
            for y in paid:
                same = normalize_bank_account(x.payer_account) == normalize_bank_account(
                    y.payer_account
                )  # type: ignore[arg-type]
                if x.project_id == y.project_id and x.bidder_id != y.bidder_id and same:
                    assert (
                        x.project_id,
                        normalize_bank_account(x.payer_account),
                        x.bidder_id,
                    ) in alerted  # type: ignore[arg-type]


LedgerMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_deposit_ledger_invariants_hold_after_every_step = LedgerMachine.TestCase
