"""D8: the PostgreSQL ledger answers exactly as the in-memory reference ledger, and its
invariants hold after every step.

A hypothesis state machine drives the PostgreSQL ledger (``tests/ledger_driver.py``) (a fresh database cloned from the migrated
template per example) and ``ReferenceLedger`` with the same commands: deposits paid on time,
late, short or to unknown sub-accounts, duplicate, forged, replayed and out-of-order bank
notifications, reversals, guarantees, refunds and the bank's answers, reissues, forfeitures
with and without a second approver, conversions, suspense returns, raw batches of transfers
(linked chains, pending, post, void, overdrafts) and replays of everything. Every answer must
be the same — the same value, or a refusal with the same reason — and so must the whole state
(accounts, journal, deposits, suspense, payouts, the bank's message counter). After every step
it checks in PostgreSQL that every transfer balances and the journal explains every balance,
the ledger sums to zero, no account is below what its kind allows, and each deposit is
resolved at most once.

Sources: RULES.md D8 (TigerBeetle, Formance), D2, D3, D6, D7, D9; A7.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from crypto.signing import generate_signing_key, public_key_bytes
from tests.conftest import TEMPLATE, with_database
from tests.ledger_driver import PgLedgerDriver
from tests.ledger_reference import ReferenceLedger
from trading.db import connect
from trading.ledger.errors import LedgerRejected
from trading.ledger.model import (
    AMOUNT_MAX_FEN,
    Account,
    AccountFlags,
    BankNotification,
    DepositState,
    DepositTerms,
    ForfeitCause,
    Guarantee,
    NotificationKind,
    PayoutResult,
    ProjectKind,
    RefundCause,
    Transfer,
    TransferCode,
    TransferFlags,
    WorkCalendar,
)
from trading.ledger.rules.notifications import notification_message
from trading.ledger.rules.transfers import apply_transfer

T = TypeVar("T")
BANK_KEY = generate_signing_key()
OTHER_KEY = generate_signing_key()
PUB = public_key_bytes(BANK_KEY)
PREFIX = "3305"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)
PROJECTS = {
    "tender:1": DepositTerms(
        "tender:1",
        1,
        ProjectKind.TENDER,
        1_000,
        DEADLINE,
        interest_rate_bp=150,
        estimate_fen=100_000,
    ),
    "lot:2": DepositTerms(
        "lot:2",
        2,
        ProjectKind.AUCTION,
        2_000,
        DEADLINE,
        land=True,
        starting_price_fen=10_000,
        accept_guarantees=False,
    ),
}
BIDDERS = ("11", "12", "13")
PAYERS = ("6222-0001", "6222 0002")
STAFF = ("staff1", "staff2")
SYSTEM = ("forfeited", "price_receivable", "interest_expense", "suspense", "refunds_payable")
_db_counter = itertools.count(1)


def sign(n: BankNotification, key: Any = BANK_KEY) -> bytes:
    return key.sign(notification_message(n))


class PgMatchesMemory(RuleBasedStateMachine):
    server_dsn: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dbname = f"ledger_model_{os.getpid()}_{next(_db_counter)}"
        self.conn: asyncpg.Connection = self.run(self._open())
        self.mem = ReferenceLedger(bank_public_key=PUB, sub_account_prefix=PREFIX)
        self.pg = PgLedgerDriver(
            self.conn, now=T0, bank_keys=[PUB], calendar=WorkCalendar(), sub_account_prefix=PREFIX
        )
        self.run(self.pg.install())
        self.now = T0
        self.seq = 0
        self.refs = 0
        self.cmd = 0
        self.notes: list[BankNotification] = []
        self.raw: list[Transfer] = []
        self.pendings: list[Transfer] = []
        self.commands: list[tuple[str, tuple[Any, ...]]] = []
        # A centre in business: both projects registered, every bidder's deposit opened, the
        # first two bidders' deposits paid (from one account for two bidders of the tender).
        for terms in PROJECTS.values():
            self.both("register_project", terms)
            for i, bidder in enumerate(BIDDERS):
                d = self.both("open_deposit", terms.project_id, bidder, i + 1)
                if i < 2:
                    self.credit(d.sub_account, terms.required_fen, PAYERS[0])

    async def _open(self) -> asyncpg.Connection:
        admin = await asyncpg.connect(self.server_dsn)
        try:
            await admin.execute(f"CREATE DATABASE {self.dbname} TEMPLATE {TEMPLATE}")
        finally:
            await admin.close()
        return await connect(with_database(self.server_dsn, self.dbname))

    async def _close(self) -> None:
        await self.conn.close()
        admin = await asyncpg.connect(self.server_dsn)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE)")
        finally:
            await admin.close()

    def teardown(self) -> None:
        self.run(self._close())
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    # -- the side-by-side call --

    def both(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` on both ledgers: the same answer, or the same refusal."""
        try:
            expected: Any = ("ok", getattr(self.mem, method)(*args, **kwargs))
        except LedgerRejected as e:
            expected = ("refused", e.reason)
        try:
            got: Any = ("ok", self.run(getattr(self.pg, method)(*args, **kwargs)))
        except LedgerRejected as e:
            got = ("refused", e.reason)
        assert got == expected, f"{method}{args}: memory {expected} but PostgreSQL {got}"
        return expected[1]

    def credit(self, sub_account: str, amount_fen: int, payer: str, shift_h: int = 0) -> None:
        self.seq += 1
        n = BankNotification(
            self.seq,
            self.next_ref(),
            NotificationKind.CREDIT,
            sub_account,
            amount_fen,
            self.now + timedelta(hours=shift_h),
            payer,
            f"name {payer}",
        )
        self.both("receive_notification", n, sign(n), self.now)
        self.notes.append(n)

    def next_ref(self) -> str:
        self.refs += 1
        return f"BR{self.refs:05d}"

    def next_cmd(self) -> str:
        self.cmd += 1
        return f"cmd-{self.cmd}"

    def deposit_keys(self, *states: DepositState) -> list[tuple[str, str]]:
        return sorted(
            (d.project_id, d.bidder_id)
            for d in self.mem.deposits()
            if not states or d.state in states
        )

    def command(self, method: str, *args: Any) -> Any:
        self.commands.append((method, args))
        return self.both(method, *args)

    # -- time --

    @rule(hours=st.sampled_from([1, 24, 24 * 10]))
    def advance(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    # -- deposits and notifications --

    @rule(
        project=st.sampled_from(sorted(PROJECTS)),
        bidder=st.integers(0, len(BIDDERS) - 1),
        other_no=st.booleans(),
    )
    def open_deposit(self, project: str, bidder: int, other_no: bool) -> None:
        self.both(
            "open_deposit", project, BIDDERS[bidder], bidder + 1 + (len(BIDDERS) if other_no else 0)
        )

    @rule(
        data=st.data(),
        known=st.booleans(),
        delta=st.sampled_from([0, 0, 1, -1]),
        shift_h=st.sampled_from([0, -30, 1]),
        payer=st.sampled_from(PAYERS),
    )
    def pay(self, data: st.DataObject, known: bool, delta: int, shift_h: int, payer: str) -> None:
        deposits = self.mem.deposits()
        awaiting = [d for d in deposits if d.state is DepositState.AWAITING]
        if known and deposits:
            d = data.draw(st.sampled_from(awaiting or deposits))
            sub, required = d.sub_account, PROJECTS[d.project_id].required_fen
        else:
            sub, required = "000000000000", 1_000
        self.credit(sub, max(1, required + delta), payer, shift_h)

    @precondition(lambda self: self.notes)
    @rule(data=st.data(), renumber=st.booleans())
    def duplicate_notification(self, data: st.DataObject, renumber: bool) -> None:
        n = data.draw(st.sampled_from(self.notes))
        if renumber:
            self.seq += 1
            n = replace(n, seq=self.seq)
        self.both("receive_notification", n, sign(n), self.now)

    @precondition(lambda self: self.notes)
    @rule(
        data=st.data(),
        fault=st.sampled_from(["signature", "replayed", "gap", "conflict", "amount"]),
    )
    def bad_notification(self, data: st.DataObject, fault: str) -> None:
        n = data.draw(st.sampled_from(self.notes))
        fresh = replace(
            n,
            seq=self.seq + 1,
            bank_ref=self.next_ref(),
            kind=NotificationKind.CREDIT,
            reverses_ref=None,
        )
        key = BANK_KEY
        if fault == "signature":
            key = OTHER_KEY
        elif fault == "replayed":
            fresh = replace(fresh, seq=max(1, self.seq))
        elif fault == "gap":
            fresh = replace(fresh, seq=self.seq + 2)
        elif fault == "conflict":
            fresh = replace(n, amount_fen=n.amount_fen + 1)
        else:
            fresh = replace(
                fresh, amount_fen=data.draw(st.sampled_from([0, -5, AMOUNT_MAX_FEN + 1]))
            )
        self.both("receive_notification", fresh, sign(fresh, key), self.now)

    @precondition(lambda self: self.notes)
    @rule(data=st.data())
    def reversal(self, data: st.DataObject) -> None:
        n = data.draw(st.sampled_from([n for n in self.notes if n.kind is NotificationKind.CREDIT]))
        self.seq += 1
        rev = replace(
            n,
            seq=self.seq,
            bank_ref=self.next_ref(),
            kind=NotificationKind.REVERSAL,
            reverses_ref=n.bank_ref,
        )
        self.both("receive_notification", rev, sign(rev), self.now)
        self.notes.append(rev)

    @rule(data=st.data(), valid=st.booleans())
    def guarantee(self, data: st.DataObject, valid: bool) -> None:
        keys = self.deposit_keys()
        if not keys:
            return
        project, bidder = data.draw(st.sampled_from(keys))
        amount = PROJECTS[project].required_fen - (0 if valid else 1)
        g = Guarantee(f"G-{self.next_ref()}", "Bank", amount, DEADLINE + timedelta(days=60))
        self.both("confirm_guarantee", project, bidder, g, self.now)

    # -- refunds, payouts --

    @rule(data=st.data(), cause=st.sampled_from(RefundCause), reuse_id=st.booleans())
    def refund(self, data: st.DataObject, cause: RefundCause, reuse_id: bool) -> None:
        keys = self.deposit_keys()
        if not keys:
            return
        project, bidder = data.draw(st.sampled_from(keys))
        command_id = f"cmd-{self.cmd}" if reuse_id and self.cmd else self.next_cmd()
        self.command("request_refund", command_id, project, bidder, cause, self.now, self.now)

    @rule(data=st.data(), paid=st.booleans(), again=st.sampled_from(["no", "same", "other"]))
    def bank_answers_payout(self, data: st.DataObject, paid: bool, again: str) -> None:
        payouts = self.mem.payouts()
        if not payouts:
            return
        payout = data.draw(st.sampled_from(payouts))
        result = PayoutResult(payout.id, paid, self.next_ref(), self.now)
        self.both("confirm_payout", result, self.now)
        if again == "same":
            self.both("confirm_payout", result, self.now)
        elif again == "other":
            self.both("confirm_payout", replace(result, ok=not paid), self.now)

    @rule(data=st.data())
    def reissue(self, data: st.DataObject) -> None:
        payouts = self.mem.payouts()
        if not payouts:
            return
        payout = data.draw(st.sampled_from(payouts))
        self.command("reissue_payout", self.next_cmd(), payout.id, self.now)

    # -- forfeiture, conversion, suspense --

    @rule(
        data=st.data(),
        cause=st.sampled_from(ForfeitCause),
        staff=st.sampled_from(STAFF),
        note=st.sampled_from(["", "refused to sign"]),
    )
    def request_forfeit(
        self, data: st.DataObject, cause: ForfeitCause, staff: str, note: str
    ) -> None:
        keys = self.deposit_keys()
        if not keys:
            return
        project, bidder = data.draw(st.sampled_from(keys))
        self.command(
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

    @rule(data=st.data(), approver=st.sampled_from(STAFF), approve=st.booleans())
    def decide_forfeit(self, data: st.DataObject, approver: str, approve: bool) -> None:
        keys = self.deposit_keys(DepositState.FORFEIT_PENDING) or self.deposit_keys()
        if not keys:
            return
        project, bidder = data.draw(st.sampled_from(keys))
        method = "approve_forfeit" if approve else "reject_forfeit"
        self.command(method, self.next_cmd(), project, bidder, approver, self.now)

    @rule(data=st.data())
    def convert(self, data: st.DataObject) -> None:
        keys = self.deposit_keys()
        if not keys:
            return
        project, bidder = data.draw(st.sampled_from(keys))
        self.command("convert", self.next_cmd(), project, bidder, self.now)

    @rule(data=st.data())
    def return_suspense(self, data: st.DataObject) -> None:
        items = self.mem.suspense_items()
        ref = data.draw(st.sampled_from([i.bank_ref for i in items])) if items else "BR-none"
        self.command("return_suspense", self.next_cmd(), ref, self.now)

    @precondition(lambda self: self.commands)
    @rule(data=st.data())
    def replay_command(self, data: st.DataObject) -> None:
        method, args = data.draw(st.sampled_from(self.commands))
        self.both(method, *args)

    # -- raw transfers --

    @rule(data=st.data(), size=st.integers(1, 4), linked=st.booleans())
    def raw_batch(self, data: st.DataObject, size: int, linked: bool) -> None:
        accounts = [a.id for a in self.mem.accounts()]
        batch = []
        for i in range(size):
            kind = data.draw(
                st.sampled_from(["adjust", "pending", "settle", "garbage", "overdraw"])
            )
            tid = f"raw-{self.next_ref()}"
            flags = TransferFlags.LINKED if linked and i < size - 1 else TransferFlags.NONE
            if kind == "settle" and self.pendings:
                p = data.draw(st.sampled_from(self.pendings))
                how = data.draw(
                    st.sampled_from([TransferFlags.POST_PENDING, TransferFlags.VOID_PENDING])
                )
                t = replace(p, id=tid, flags=flags | how, pending_id=p.id, reference="settle")
            elif kind == "garbage":
                t = Transfer(
                    tid,
                    data.draw(st.sampled_from([*accounts, "nope"])),
                    data.draw(st.sampled_from([*accounts, "nope"])),
                    data.draw(st.sampled_from([0, -1, AMOUNT_MAX_FEN + 1, 5])),
                    data.draw(st.sampled_from(list(TransferCode))),
                    flags,
                )
            elif kind == "overdraw":
                debit = data.draw(st.sampled_from(["suspense", "refunds_payable", "forfeited"]))
                acct = self.mem.account(debit)
                assert acct is not None
                t = Transfer(
                    tid,
                    debit,
                    "price_receivable",
                    acct.available_fen + 1,
                    TransferCode.ADJUSTMENT,
                    flags,
                )
            else:
                debit, credit = data.draw(
                    st.sampled_from(
                        [
                            ("interest_expense", "forfeited"),
                            ("price_receivable", "interest_expense"),
                            ("forfeited", "price_receivable"),
                            ("bank", "suspense"),
                        ]
                    )
                )
                extra = TransferFlags.PENDING if kind == "pending" else TransferFlags.NONE
                t = Transfer(
                    tid,
                    debit,
                    credit,
                    data.draw(st.integers(1, 3_000)),
                    TransferCode.ADJUSTMENT,
                    flags | extra,
                )
            batch.append(t)
        outcomes = self.both("create_transfers", batch, self.now)
        for t, o in zip(batch, outcomes, strict=True):
            self.raw.append(t)
            if o.ok and TransferFlags.PENDING in t.flags:
                self.pendings.append(t)

    @precondition(lambda self: self.raw)
    @rule(data=st.data(), change=st.sampled_from(["none", "amount", "reference"]))
    def replay_transfer(self, data: st.DataObject, change: str) -> None:
        t = data.draw(st.sampled_from(self.raw))
        if change == "amount" and isinstance(t.amount_fen, int):
            t = replace(t, amount_fen=t.amount_fen + 1)
        elif change == "reference":
            t = replace(t, reference="changed")
        self.both(
            "create_transfers",
            [
                replace(t, flags=t.flags & ~TransferFlags.LINKED)
                if TransferFlags.LINKED in t.flags
                else t
            ],
            self.now,
        )

    # -- the same state, and the invariants, in PostgreSQL --

    @invariant()
    def the_same_state(self) -> None:
        pg, mem = self.pg, self.mem
        assert self.run(pg.last_seq()) == mem.last_seq
        assert sorted(self.run(pg.accounts()), key=lambda a: a.id) == sorted(
            mem.accounts(), key=lambda a: a.id
        )
        assert self.run(pg.journal()) == [r.transfer for r in mem.journal()]
        key = lambda d: (d.project_id, d.bidder_id)  # noqa: E731
        assert sorted(self.run(pg.deposits()), key=key) == sorted(mem.deposits(), key=key)
        assert sorted(self.run(pg.suspense_items()), key=lambda s: s.bank_ref) == sorted(
            mem.suspense_items(), key=lambda s: s.bank_ref
        )
        assert sorted(self.run(pg.payouts()), key=lambda p: p.id) == sorted(
            mem.payouts(), key=lambda p: p.id
        )
        assert sorted(self.run(pg.bank_movements()), key=lambda m: m.transfer_id) == sorted(
            mem.bank_movements(), key=lambda m: m.transfer_id
        )
        assert self.run(pg.collusion_alerts()) == mem.collusion_alerts()

    @invariant()
    def every_transfer_balances_and_the_ledger_sums_to_zero(self) -> None:
        accounts = self.run(self.pg.accounts())
        rebuilt = {a.id: Account(a.id, a.kind, a.project_id, a.bidder_id) for a in accounts}
        by_id: dict[str, Transfer] = {}
        for t in self.run(self.pg.journal()):
            assert 0 < t.amount_fen <= AMOUNT_MAX_FEN and t.debit_account_id != t.credit_account_id
            pending = by_id.get(t.pending_id) if t.pending_id else None
            rebuilt[t.debit_account_id], rebuilt[t.credit_account_id] = apply_transfer(
                t, rebuilt[t.debit_account_id], rebuilt[t.credit_account_id], pending
            )
            by_id[t.id] = t
        assert rebuilt == {a.id: a for a in accounts}
        tb = self.run(self.pg.trial_balance())
        assert tb.balanced and tb.net_fen == 0

    @invariant()
    def no_forbidden_negative_balance_and_each_deposit_resolved_at_most_once(self) -> None:
        for a in self.run(self.pg.accounts()):
            assert min(a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted) >= 0
            if AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS in a.flags:
                assert a.debits_pending + a.debits_posted <= a.credits_posted
            if AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS in a.flags:
                assert a.credits_pending + a.credits_posted <= a.debits_posted
        journal = self.run(self.pg.journal())
        for d in self.run(self.pg.deposits()):
            ends = [
                t
                for t in journal
                if t.debit_account_id == d.account_id
                and (
                    t.code in (TransferCode.REFUND, TransferCode.CONVERSION)
                    or (t.code is TransferCode.FORFEIT and TransferFlags.POST_PENDING in t.flags)
                )
            ]
            assert len(ends) <= 1


def test_postgres_ledger_matches_the_reference_and_keeps_its_invariants(
    pg_server_dsn: str, template_dsn: str
) -> None:
    """D8: same commands, same answers, same state; invariants after every step (TigerBeetle,
    Formance)."""
    PgMatchesMemory.server_dsn = pg_server_dsn
    run_state_machine_as_test(
        PgMatchesMemory,
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
