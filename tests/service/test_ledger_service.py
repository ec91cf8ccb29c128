"""The deposit ledger's use cases against PostgreSQL with a fake clock: terms (T14, A7),
sub-accounts and sealed payers (D1), bank notifications (D2; signatures, duplicates, replays,
gaps), admission, collusion (D3), refunds on time or an alert (D4, D5, A7), forfeiture with
two staff members (D6), guarantees (D7), conversion (A7), the batch file and the bank's answers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from crypto.signing import generate_signing_key, public_key_bytes
from tests.helpers import make_org
from tests.ledger_reference import ReferenceLedger
from trading import admission
from trading.audit import AuditLog
from trading.calendar import EventRegistry, Scheduler
from trading.clock import FakeClock
from trading.context import Actor, Role
from trading.ledger import bank, service, settlement, store
from trading.ledger.errors import LedgerReason, LedgerRejected
from trading.ledger.model import (
    AccountKind,
    BankNotification,
    DepositState,
    ForfeitCause,
    Guarantee,
    NotificationKind,
    NotificationVerdict,
    PayoutResult,
    ProjectKind,
    RefundCause,
    SuspenseReason,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferResult,
)
from trading.ledger.reconcile import parse_payout_results_csv
from trading.ledger.service.context import Ledger
from trading.ledger.service.transfers import create_transfers

BANK = generate_signing_key()
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # the fake clock's start: Monday 09:00 in China


@dataclass
class World:
    pool: asyncpg.Pool
    audit: AuditLog
    clock: FakeClock
    staff1: Actor
    staff2: Actor
    orgs: list[int]
    seq: int = 0

    @property
    def now(self) -> datetime:
        return self.clock.now()

    async def call(self, fn: Any, *args: Any, actor: Actor | None = None, **kwargs: Any) -> Any:
        async with self.pool.acquire() as conn:
            return await fn(conn, self.audit, actor or self.staff1, self.now, *args, **kwargs)

    async def q(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async with self.pool.acquire() as conn:
            return await fn(conn, *args, **kwargs)

    def credit(
        self,
        sub_account: str,
        amount_fen: int,
        *,
        ref: str | None = None,
        value_at: datetime | None = None,
        payer: str = "6222 0000 0000 0001",
    ) -> BankNotification:
        self.seq += 1
        return BankNotification(
            self.seq,
            ref or f"REF{self.seq:04d}",
            NotificationKind.CREDIT,
            sub_account,
            amount_fen,
            value_at or self.now,
            payer,
            "payer",
        )

    async def notify(self, n: BankNotification, key: Any = BANK) -> Any:
        signature = bank.decode_signature(bank.sign_notification(n, key)["signature"])
        return await self.call(
            service.receive_notification, n, signature, actor=Actor.system("bank")
        )

    async def pay(self, project: str, org: int, amount_fen: int | None = None, **kw: Any) -> Any:
        d = await self.call(service.open_deposit, project, org)
        terms = await self.q(service.get_terms, project)
        return await self.notify(self.credit(d.sub_account, amount_fen or terms.required_fen, **kw))

    async def snapshot(self) -> tuple[Any, ...]:
        async with self.pool.acquire() as conn:
            return (
                await store.trial_balance(conn),
                await store.journal(conn),
                await store.list_deposits(conn),
                await store.list_suspense(conn),
                await store.last_seq(conn),
            )


@pytest.fixture
async def w(pool: asyncpg.Pool, audit: AuditLog, clock: FakeClock) -> World:
    async with pool.acquire() as conn:
        await audit.register_key(conn, clock.now())
        orgs = [await make_org(conn, audit, clock) for _ in range(4)]
        # staff need no password here: the audit log names them by id and username
        s1, s2 = (
            Actor(9001, "staff.wang", Role.STAFF, None),
            Actor(9002, "staff.li", Role.STAFF, None),
        )
        await service.register_bank_key(conn, audit, s1, clock.now(), public_key_bytes(BANK))
    world = World(pool, audit, clock, s1, s2, orgs)
    deadline = clock.now() + timedelta(days=20)
    await world.call(
        service.register_project,
        project_ref="tender:1",
        kind=ProjectKind.TENDER,
        required_fen=1_000_000,
        deadline_at=deadline,
        interest_rate_bp=150,
        estimate_fen=100_000_000,
    )
    await world.call(
        service.register_project,
        project_ref="lot:1",
        kind=ProjectKind.AUCTION,
        required_fen=20_000_000,
        deadline_at=deadline,
        land=True,
        starting_price_fen=100_000_000,
    )
    return world


# == terms ======================================================================================


async def test_a_tender_deposit_above_two_percent_of_the_estimate_is_refused(w: World) -> None:
    """T14 (IR 26): 2.01 % refused, 2 % accepted; works capped at 800,000 yuan."""
    kw = dict(
        kind=ProjectKind.TENDER, deadline_at=w.now + timedelta(days=20), estimate_fen=100_000_000
    )
    with pytest.raises(LedgerRejected) as e:
        await w.call(service.register_project, project_ref="tender:2", required_fen=2_010_000, **kw)
    assert e.value.reason is LedgerReason.DEPOSIT_ABOVE_CAP
    await w.call(service.register_project, project_ref="tender:2", required_fen=2_000_000, **kw)
    with pytest.raises(LedgerRejected) as e:
        await w.call(
            service.register_project,
            project_ref="tender:3",
            kind=ProjectKind.TENDER,
            works=True,
            deadline_at=w.now + timedelta(days=20),
            estimate_fen=10_000_000_000,
            required_fen=80_000_001,
        )
    assert e.value.reason is LedgerReason.DEPOSIT_ABOVE_CAP


async def test_a_land_deposit_below_twenty_percent_is_refused_and_terms_are_not_changed_silently(
    w: World,
) -> None:
    """A7: ≥ 20 % of the starting price; registering other terms for a project is a conflict."""
    with pytest.raises(LedgerRejected) as e:
        await w.call(
            service.register_project,
            project_ref="lot:2",
            kind=ProjectKind.AUCTION,
            land=True,
            required_fen=19_999_999,
            starting_price_fen=100_000_000,
            deadline_at=w.now + timedelta(days=9),
        )
    assert e.value.reason is LedgerReason.DEPOSIT_BELOW_FLOOR
    terms = await w.q(service.get_terms, "lot:1")
    again = await w.call(
        service.register_project,
        project_ref="lot:1",
        kind=ProjectKind.AUCTION,
        required_fen=20_000_000,
        deadline_at=terms.deadline_at,
        land=True,
        starting_price_fen=100_000_000,
    )
    assert again == terms
    with pytest.raises(LedgerRejected) as e:
        await w.call(
            service.register_project,
            project_ref="lot:1",
            kind=ProjectKind.AUCTION,
            required_fen=30_000_000,
            deadline_at=terms.deadline_at,
            land=True,
            starting_price_fen=100_000_000,
        )
    assert e.value.reason is LedgerReason.PROJECT_CONFLICT


# == sub-accounts, notifications, admission =====================================================


async def test_each_bidder_gets_one_sub_account_per_project(w: World) -> None:
    """D1: a virtual sub-account unique to (bidder, project), the same on every call."""
    a1 = await w.call(service.open_deposit, "tender:1", w.orgs[0])
    assert (await w.call(service.open_deposit, "tender:1", w.orgs[0])).sub_account == a1.sub_account
    b1 = await w.call(service.open_deposit, "tender:1", w.orgs[1])
    a2 = await w.call(service.open_deposit, "lot:1", w.orgs[0])
    assert len({a1.sub_account, b1.sub_account, a2.sub_account}) == 3
    assert a1.sub_account.startswith("3305") and a1.state is DepositState.AWAITING
    with pytest.raises(LedgerRejected) as e:
        await w.call(service.open_deposit, "tender:404", w.orgs[0])
    assert e.value.reason is LedgerReason.PROJECT_NOT_FOUND


async def test_a_deposit_received_before_the_deadline_admits_the_bidder(w: World) -> None:
    """D2 (IR 26), A6: confirmed by the bank's value time before the deadline → admitted."""
    org = w.orgs[0]
    assert not await w.q(admission.is_deposit_confirmed, org_id=org, project_ref="tender:1")
    outcome = await w.pay("tender:1", org)
    assert outcome.verdict is NotificationVerdict.CONFIRM
    assert await w.q(admission.is_deposit_confirmed, org_id=org, project_ref="tender:1")
    assert not await w.q(admission.is_deposit_confirmed, org_id=org, project_ref="lot:1")
    tb = await w.q(service.trial_balance)
    assert tb.balanced and tb.by_kind()[tb.rows[0].kind] == 1_000_000  # the bank account holds it


async def test_late_short_or_unknown_money_goes_to_suspense_and_does_not_admit(w: World) -> None:
    """D2: a value time at the deadline, a short amount or an unknown sub-account → suspense
    with the reason; the bidder is not admitted."""
    terms = await w.q(service.get_terms, "tender:1")
    late = await w.pay("tender:1", w.orgs[0], value_at=terms.deadline_at)
    short = await w.pay("tender:1", w.orgs[1], amount_fen=999_999)
    unknown = await w.notify(w.credit("330500000100999900", 5_000))
    assert [o.suspense_reason for o in (late, short, unknown)] == [
        SuspenseReason.AFTER_DEADLINE,
        SuspenseReason.AMOUNT_INSUFFICIENT,
        SuspenseReason.UNKNOWN_SUB_ACCOUNT,
    ]
    for org in w.orgs[:2]:
        assert not await w.q(admission.is_deposit_confirmed, org_id=org, project_ref="tender:1")
    items = await w.q(store.list_suspense)
    assert sum(i.amount_fen for i in items) == 1_000_000 + 999_999 + 5_000


async def test_the_same_notification_twice_changes_nothing(w: World) -> None:
    """D8: the same bank movement again answers its first outcome and changes nothing."""
    d = await w.call(service.open_deposit, "tender:1", w.orgs[0])
    n = w.credit(d.sub_account, 1_000_000)
    first = await w.notify(n)
    before = await w.snapshot()
    again = await w.notify(n)
    assert again == replace(first, replayed=True)
    assert await w.snapshot() == before


@pytest.mark.parametrize("fault", ["signature", "replayed", "gap", "malformed", "conflict"])
async def test_bad_notifications_are_refused_and_write_nothing(w: World, fault: str) -> None:
    """Bad signature, replayed or out-of-order sequence, malformed amount, a bank reference
    reused with other content: each a clear error; nothing is written."""
    d = await w.call(service.open_deposit, "tender:1", w.orgs[0])
    await w.notify(w.credit(d.sub_account, 1_000_000, ref="FIRST"))
    before = await w.snapshot()
    n = w.credit(d.sub_account, 1_000_000)
    key = BANK
    expected = {
        "signature": LedgerReason.NOTIFICATION_BAD_SIGNATURE,
        "replayed": LedgerReason.NOTIFICATION_REPLAYED,
        "gap": LedgerReason.NOTIFICATION_OUT_OF_ORDER,
        "malformed": LedgerReason.NOTIFICATION_MALFORMED,
        "conflict": LedgerReason.NOTIFICATION_CONFLICT,
    }[fault]
    if fault == "signature":
        key = generate_signing_key()
    elif fault == "replayed":
        n = replace(n, seq=1)
    elif fault == "gap":
        n = replace(n, seq=n.seq + 1)
    elif fault == "malformed":
        n = replace(n, amount_fen=-5)
    else:
        n = replace(n, bank_ref="FIRST", amount_fen=2_000_000)
    with pytest.raises(LedgerRejected) as e:
        await w.notify(n, key)
    assert e.value.reason is expected
    assert await w.snapshot() == before


async def test_the_payer_stays_sealed_until_the_tender_opening(w: World) -> None:
    """D1: staff and supervisors see "sealed" until the opening; the bidder sees its own."""
    org = w.orgs[0]
    await w.pay("tender:1", org, payer="6222 1111")
    d = await w.q(service.get_deposit, "tender:1", org)
    terms = await w.q(service.get_terms, "tender:1")
    supervisor = Actor(99, "sup", Role.SUPERVISOR, None)
    bidder = Actor(98, "b", Role.BIDDER, org)
    assert service.visible_deposit(d, terms, supervisor, w.now).payer_account is None
    assert service.visible_deposit(d, terms, w.staff1, w.now).payer_name is None
    assert service.visible_deposit(d, terms, bidder, w.now).payer_account == "6222 1111"
    opened = terms.deadline_at
    assert service.visible_deposit(d, terms, supervisor, opened).payer_account == "6222 1111"
    lot = await w.q(service.get_terms, "lot:1")
    assert (
        service.visible_deposit(
            replace(d, project_id="lot:1"), lot, supervisor, w.now
        ).payer_account
        == "6222 1111"
    )


async def test_deposits_of_different_bidders_from_one_account_raise_a_collusion_alert(
    w: World,
) -> None:
    """D3 (IR 40(6)): raised when the second such deposit is confirmed; named for an auction,
    sealed for a tender until its opening, then named by the unseal event."""
    await w.pay("lot:1", w.orgs[0], payer="6222-3333")
    async with w.pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM alerts WHERE kind = 'ledger.collusion'") == 0
        )
    await w.pay("lot:1", w.orgs[1], payer="6222 3333")
    await w.pay("tender:1", w.orgs[0], payer="6222 4444")
    await w.pay("tender:1", w.orgs[2], payer="62224444")
    async with w.pool.acquire() as conn:
        alerts = await conn.fetch(
            "SELECT * FROM alerts WHERE kind = 'ledger.collusion' ORDER BY id"
        )
    assert [a["object_id"] for a in alerts] == ["lot:1", "tender:1"]
    assert sorted(alerts[0]["detail"]["org_ids"]) == sorted(w.orgs[:2])
    assert "org_ids" not in alerts[1]["detail"] and alerts[1]["detail"]["sealed_until"]
    terms = await w.q(service.get_terms, "tender:1")
    w.clock.set(terms.deadline_at)
    registry = EventRegistry()
    registry.register(service.UNSEAL, service.on_unseal)
    await Scheduler(w.pool, w.clock, registry).run_due()
    async with w.pool.acquire() as conn:
        named = await conn.fetch(
            "SELECT * FROM alerts WHERE kind = 'ledger.collusion' AND object_id = 'tender:1' "
            "ORDER BY id"
        )
    assert sorted(named[-1]["detail"]["org_ids"]) == sorted([w.orgs[0], w.orgs[2]])


# == refunds ====================================================================================


def registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(service.REFUND_DUE, service.on_refund_due)
    reg.register(service.UNSEAL, service.on_unseal)
    return reg


async def test_auction_losers_are_refunded_within_five_working_days_or_an_alert_is_raised(
    w: World,
) -> None:
    """A7: losers within 5 working days of the result; the winner converts (part of the price);
    a refund not paid by its due day raises one supervision alert."""
    for org in w.orgs[:3]:
        await w.pay("lot:1", org)
    result_at = datetime(2026, 1, 9, 7, 0, tzinfo=UTC)  # Friday 15:00 in China
    w.clock.set(result_at)
    done = await w.call(
        service.refund_all,
        project_ref="lot:1",
        cause=RefundCause.LOST,
        cause_at=result_at,
        command_id="lot1-result",
        exclude_org_ids=[w.orgs[0]],
    )
    assert {d.bidder_id for d in done["refunded"]} == {str(o) for o in w.orgs[1:3]}
    assert all(
        d.refund_due_on == date(2026, 1, 16) and d.interest_fen == 0 for d in done["refunded"]
    )
    won = await w.call(
        service.convert, project_ref="lot:1", org_id=w.orgs[0], command_id="lot1-convert"
    )
    assert won.state is DepositState.CONVERTED
    tb = await w.q(service.trial_balance)
    assert (
        tb.balanced
        and {r.account_id: r.net_debit_fen for r in tb.rows}["price_receivable"] == -20_000_000
    )
    # the same request again changes nothing
    again = await w.call(
        service.refund_all,
        project_ref="lot:1",
        cause=RefundCause.LOST,
        cause_at=result_at,
        command_id="lot1-result",
        exclude_org_ids=[w.orgs[0]],
    )
    assert again["refunded"] == done["refunded"]
    # pay one; leave the other unpaid past its due day
    batch = await w.call(settlement.create_refund_batch)
    assert batch is not None and len(batch.payouts) == 2
    paid = batch.payouts[0]
    await w.call(settlement.confirm_payouts, [PayoutResult(paid.id, True, "PAY1", w.now)])
    sched = Scheduler(w.pool, w.clock, registry())
    w.clock.set(datetime(2026, 1, 16, 15, 59, tzinfo=UTC))  # 23:59 in China on the due day
    assert not [e for e in await sched.run_due() if e.kind == service.REFUND_DUE]
    w.clock.advance(minutes=1)
    ran = [e for e in await sched.run_due() if e.kind == service.REFUND_DUE]
    assert len(ran) == 2
    async with w.pool.acquire() as conn:
        alerts = await conn.fetch("SELECT * FROM alerts WHERE kind = 'ledger.refund_overdue'")
    assert [a["detail"]["payout_id"] for a in alerts] == [batch.payouts[1].id]


async def test_tender_refunds_after_the_contract_carry_interest(w: World) -> None:
    """D5 (IR 57): within 5 days of the contract, with interest for the days held, in fen."""
    await w.pay("tender:1", w.orgs[0])
    w.clock.advance(days=73)
    contract_at = w.now
    d = await w.call(
        service.request_refund,
        project_ref="tender:1",
        org_id=w.orgs[0],
        cause=RefundCause.CONTRACT_SIGNED,
        cause_at=contract_at,
        command_id="r1",
    )
    # 1,000,000 fen × 150 bp × 73 days / (10,000 × 365) = 3,000 fen
    assert d.interest_fen == 3_000 and d.refund_due_on == (
        contract_at + timedelta(hours=8)
    ).date() + timedelta(days=5)
    payouts = await w.q(store.list_payouts)
    assert payouts[0]["amount_fen"] == 1_003_000


async def test_a_batch_longer_than_a_part_answers_as_the_reference_ledger(pool) -> None:
    """D8: a batch of 1,300 transfers is decided and written in parts of 500; a linked chain
    across a part's end stays whole — the one that overdraws suspense fails whole — and every
    answer, the journal and the sums are the reference ledger's."""
    batch: list[Transfer] = []
    for i in range(430):  # chains of three: bank -> suspense -> forfeited, back to the bank
        amount = 10 if i != 166 else 11  # chain 166 (transfers 498-500) overdraws suspense
        batch += [
            Transfer(
                f"c{i}/a", "bank", "suspense", 10, TransferCode.ADJUSTMENT, TransferFlags.LINKED
            ),
            Transfer(
                f"c{i}/b",
                "suspense",
                "forfeited",
                amount,
                TransferCode.ADJUSTMENT,
                TransferFlags.LINKED,
            ),
            Transfer(f"c{i}/c", "forfeited", "bank", amount, TransferCode.ADJUSTMENT),
        ]
    batch += [Transfer(f"p{i}", "bank", "suspense", 1, TransferCode.ADJUSTMENT) for i in range(10)]
    reference = ReferenceLedger(bank_public_key=public_key_bytes(BANK))
    expected = reference.create_transfers(batch, T0)
    assert [o.result for o in expected[498:501]] == [
        TransferResult.LINKED_EVENT_FAILED,
        TransferResult.EXCEEDS_CREDITS,
        TransferResult.LINKED_EVENT_FAILED,
    ]
    async with pool.acquire() as conn:
        assert await create_transfers(Ledger(conn, T0), batch, T0) == expected
        assert await store.journal(conn) == [r.transfer for r in reference.journal()]
        sums = {a.id: a for a in await store.list_accounts(conn)}
        assert all(sums[a.id] == a for a in reference.accounts())
        assert (await store.trial_balance(conn)).balanced


async def test_a_second_refund_and_a_refund_of_more_than_is_held_are_refused(w: World) -> None:
    """D8: a deposit is refunded once; no transfer may take more than an account holds."""
    await w.pay("tender:1", w.orgs[0])
    withdrawn_at = w.now + timedelta(days=1)
    w.clock.set(withdrawn_at)
    d = await w.call(
        service.request_refund,
        project_ref="tender:1",
        org_id=w.orgs[0],
        cause=RefundCause.WITHDRAWN_BEFORE_DEADLINE,
        cause_at=withdrawn_at,
        command_id="w1",
    )
    assert d.state is DepositState.REFUND_PENDING
    assert (
        await w.call(
            service.request_refund,
            project_ref="tender:1",
            org_id=w.orgs[0],
            cause=RefundCause.WITHDRAWN_BEFORE_DEADLINE,
            cause_at=withdrawn_at,
            command_id="w1",
        )
        == d
    )
    with pytest.raises(LedgerRejected) as e:
        await w.call(
            service.request_refund,
            project_ref="tender:1",
            org_id=w.orgs[0],
            cause=RefundCause.WITHDRAWN_BEFORE_DEADLINE,
            cause_at=withdrawn_at,
            command_id="w2",
        )
    assert e.value.reason is LedgerReason.DEPOSIT_ALREADY_RESOLVED
    await w.pay("tender:1", w.orgs[1])
    held = await w.q(service.get_deposit, "tender:1", w.orgs[1])
    async with w.pool.acquire() as conn:
        [o] = await create_transfers(
            Ledger(conn, w.now),
            [
                Transfer(
                    "too-much", held.account_id, "refunds_payable", 1_000_001, TransferCode.REFUND
                )
            ],
            w.now,
        )
        assert o.result is TransferResult.EXCEEDS_CREDITS
        [o] = await create_transfers(
            Ledger(conn, w.now),
            [
                Transfer(
                    "too-much", held.account_id, "refunds_payable", 1_000_001, TransferCode.REFUND
                )
            ],
            w.now,
        )
        assert o.result is TransferResult.EXCEEDS_CREDITS and o.replayed
        for bad in (0, -1, 10**15 + 1):
            [o] = await create_transfers(
                Ledger(conn, w.now),
                [
                    Transfer(
                        f"bad{bad}", held.account_id, "refunds_payable", bad, TransferCode.REFUND
                    )
                ],
                w.now,
            )
            assert not o.ok
    tb = await w.q(service.trial_balance)
    assert tb.balanced


async def test_a_rejected_refund_is_reissued_and_the_bank_file_round_trips(w: World) -> None:
    """The batch file goes to the bank; its answers post (paid) or void (rejected) each line;
    a rejected one is issued again, to a corrected account."""
    await w.pay("tender:1", w.orgs[0])
    await w.call(
        service.request_refund,
        project_ref="tender:1",
        org_id=w.orgs[0],
        cause=RefundCause.CONTRACT_SIGNED,
        cause_at=w.now,
        command_id="c1",
    )
    batch = await w.call(settlement.create_refund_batch)
    assert batch is not None and await w.call(settlement.create_refund_batch) is None
    text = await w.q(settlement.refund_batch_csv, batch.id)
    assert text.splitlines()[0].startswith("batch_id,payout_id") and "c1/payout" in text
    answer = f"payout_id,status,bank_ref,value_time,failure\r\nc1/payout,rejected,RJ1,{w.now.isoformat()},closed\r\n"
    [p] = await w.call(settlement.confirm_payouts_csv, answer)
    assert p.state.value == "voided"
    new = await w.call(
        settlement.reissue_payout, payout_id=p.id, command_id="re1", payee_account="6222 9999"
    )
    batch2 = await w.call(settlement.create_refund_batch)
    assert batch2 is not None and [x.id for x in batch2.payouts] == [new.id]
    results, _ = parse_payout_results_csv(
        f"payout_id,status,bank_ref,value_time\n{new.id},paid,PD1,{w.now.isoformat()}\n"
    )
    await w.call(settlement.confirm_payouts, results)
    d = await w.q(service.get_deposit, "tender:1", w.orgs[0])
    assert d.state is DepositState.REFUNDED
    with pytest.raises(Exception) as bad:
        await w.call(
            settlement.confirm_payouts_csv, "payout_id,status,bank_ref,value_time\nx,maybe,R,nope\n"
        )
    assert getattr(bad.value, "code", "") == "payout_results_invalid"


# == forfeiture, guarantees =====================================================================


async def test_a_forfeiture_needs_a_reason_and_a_second_staff_member(w: World) -> None:
    """D6 (IR 35, 74): one approver is not enough; until approved, the money is reserved and
    the bidder is not admitted; a reason is required."""
    await w.pay("tender:1", w.orgs[0])
    deadline = (await w.q(service.get_terms, "tender:1")).deadline_at
    w.clock.set(deadline + timedelta(hours=1))
    kw = dict(
        project_ref="tender:1", org_id=w.orgs[0], cause=ForfeitCause.REFUSED_TO_SIGN, cause_at=w.now
    )
    with pytest.raises(LedgerRejected) as e:
        await w.call(service.request_forfeit, note=" ", command_id="f0", **kw)
    assert e.value.reason is LedgerReason.FORFEIT_REASON_REQUIRED
    d = await w.call(
        service.request_forfeit, note="refused to sign the contract", command_id="f1", **kw
    )
    assert d.state is DepositState.FORFEIT_PENDING
    assert not await w.q(admission.is_deposit_confirmed, org_id=w.orgs[0], project_ref="tender:1")
    with pytest.raises(LedgerRejected) as e:
        await w.call(
            service.approve_forfeit, project_ref="tender:1", org_id=w.orgs[0], command_id="a1"
        )
    assert e.value.reason is LedgerReason.SECOND_APPROVER_REQUIRED
    with pytest.raises(LedgerRejected) as e:
        await w.call(
            service.request_refund,
            project_ref="tender:1",
            org_id=w.orgs[0],
            cause=RefundCause.CONTRACT_SIGNED,
            cause_at=w.now,
            command_id="r9",
        )
    assert e.value.reason is LedgerReason.DEPOSIT_ALREADY_RESOLVED
    done = await w.call(
        service.approve_forfeit,
        project_ref="tender:1",
        org_id=w.orgs[0],
        command_id="a2",
        actor=w.staff2,
    )
    assert done.state is DepositState.FORFEITED and done.forfeit is not None
    assert done.forfeit.approved_by == w.staff2.username != done.forfeit.requested_by
    tb = await w.q(service.trial_balance)
    assert {r.account_id: r.net_debit_fen for r in tb.rows}[
        "forfeited"
    ] == -1_000_000 and tb.balanced


async def test_a_guarantee_confirms_without_cash(w: World) -> None:
    """D7: an accepted guarantee confirms the deposit; no money moves."""
    await w.call(service.open_deposit, "tender:1", w.orgs[3])
    terms = await w.q(service.get_terms, "tender:1")
    g = Guarantee("EG-001", "ICBC e-guarantee", 1_000_000, terms.deadline_at + timedelta(days=90))
    d = await w.call(
        service.confirm_guarantee, project_ref="tender:1", org_id=w.orgs[3], guarantee=g
    )
    assert d.state is DepositState.CONFIRMED and d.form.value == "guarantee"  # type: ignore[union-attr]
    assert await w.q(admission.is_deposit_confirmed, org_id=w.orgs[3], project_ref="tender:1")
    assert (await w.q(service.trial_balance)).debits_posted == 0


async def test_dates_move_only_before_the_deadline(w: World) -> None:
    """T4: the deposit deadline follows the project's calendar, but not once it has passed."""
    terms = await w.q(service.get_terms, "tender:1")
    later = terms.deadline_at + timedelta(days=3)
    moved = await w.call(service.amend_project_dates, project_ref="tender:1", deadline_at=later)
    assert (
        moved.deadline_at == later
        and (await w.q(service.get_terms, "tender:1")).deadline_at == later
    )
    w.clock.set(later)
    with pytest.raises(LedgerRejected) as e:
        await w.call(
            service.amend_project_dates,
            project_ref="tender:1",
            deadline_at=later + timedelta(days=1),
        )
    assert e.value.reason is LedgerReason.AFTER_DEADLINE
    with pytest.raises(LedgerRejected) as e:
        await w.call(service.open_deposit, "tender:1", w.orgs[0])
    assert e.value.reason is LedgerReason.AFTER_DEADLINE


async def test_a_failed_tender_refunds_everyone_with_interest(w: World) -> None:
    """IR 31: a tender terminated or failed (流标, T7) returns every deposit promptly, with
    interest; the cause does not fit an auction."""
    for org in w.orgs[:2]:
        await w.pay("tender:1", org)
    await w.pay("lot:1", w.orgs[0])
    w.clock.advance(days=365)
    done = await w.call(
        service.refund_all,
        project_ref="tender:1",
        cause=RefundCause.TERMINATED,
        cause_at=w.now,
        command_id="t1-failed",
    )
    assert [d.interest_fen for d in done["refunded"]] == [
        15_000,
        15_000,
    ]  # 1.5 % of 10,000 yuan for a year
    await w.pay("lot:1", w.orgs[0])
    with pytest.raises(LedgerRejected) as e:
        await w.call(
            service.request_refund,
            project_ref="lot:1",
            org_id=w.orgs[0],
            cause=RefundCause.TERMINATED,
            cause_at=w.now,
            command_id="l1-t",
        )
    assert e.value.reason is LedgerReason.REFUND_CAUSE_NOT_APPLICABLE


async def test_without_a_trusted_bank_key_every_notification_is_refused(pool, audit, clock) -> None:
    """No key, no money: a notification cannot be trusted before the bank's key is."""
    n = BankNotification(1, "R1", NotificationKind.CREDIT, "999", 100, clock.now(), "6222", "p")
    async with pool.acquire() as conn:
        with pytest.raises(LedgerRejected) as e:
            await service.receive_notification(
                conn, audit, Actor.system("bank"), clock.now(), n, BANK.sign(b"x")
            )
        assert await store.last_seq(conn) == 0
    assert (
        e.value.reason is LedgerReason.NOTIFICATION_BAD_SIGNATURE
        and "no bank key" in e.value.message_en
    )


# == issue 16 item 6: money in another currency is never booked as CNY ==========================


async def test_a_notification_in_another_currency_is_never_booked_as_cny(w: World) -> None:
    """Issue 16 item 6 (D2): a credit in USD to a bidder's sub-account, for the full amount,
    does not confirm the deposit; it is held in suspense with ``currency_not_cny``, no CNY
    transfer is posted, staff are alerted, and a CNY return of it is refused. The same
    message again changes nothing; a reversal of it has nothing in the books to take back."""
    org = w.orgs[0]
    d = await w.call(service.open_deposit, "tender:1", org)
    before = await w.q(service.trial_balance)
    n = replace(w.credit(d.sub_account, 1_000_000), currency="USD")
    outcome = await w.notify(n)
    assert outcome.verdict is NotificationVerdict.SUSPENSE
    assert outcome.suspense_reason is SuspenseReason.CURRENCY_NOT_CNY
    assert outcome.transfer_id is None
    assert not await w.q(admission.is_deposit_confirmed, org_id=org, project_ref="tender:1")
    assert await w.q(service.trial_balance) == before  # nothing booked
    [item] = await w.q(store.list_suspense)
    assert (item.bank_ref, item.reason) == (n.bank_ref, SuspenseReason.CURRENCY_NOT_CNY)
    async with w.pool.acquire() as conn:
        alerts = await conn.fetchval(
            "SELECT count(*) FROM alerts WHERE kind = 'ledger.currency_not_cny'"
        )
        due = await conn.fetchval(
            "SELECT count(*) FROM timed_events WHERE ref = $1", f"suspense:{n.bank_ref}"
        )
    assert alerts == 1 and due == 0
    snapshot = await w.snapshot()
    again = await w.notify(replace(n, seq=w.seq + 1))
    w.seq += 1
    assert again == replace(outcome, replayed=True)
    assert (await w.snapshot())[:4] == snapshot[:4]
    with pytest.raises(LedgerRejected) as e:
        await w.call(settlement.return_suspense, bank_ref=n.bank_ref, command_id="ret-usd")
    assert e.value.reason is LedgerReason.SUSPENSE_NOT_IN_CNY
    w.seq += 1
    reversal = BankNotification(
        w.seq,
        "REV-USD",
        NotificationKind.REVERSAL,
        d.sub_account,
        1_000_000,
        w.now,
        reverses_ref=n.bank_ref,
        currency="USD",
    )
    assert (await w.notify(reversal)).verdict is NotificationVerdict.UNAPPLIED
    assert await w.q(service.trial_balance) == before


async def test_a_statement_line_in_another_currency_goes_to_suspense_unbooked(w: World) -> None:
    """Issue 16 item 6 (D9): a statement's USD credit is held in suspense with
    ``currency_not_cny`` and no CNY transfer; a CNY line beside it is put in suspense as
    before; importing the statement again holds nothing twice."""
    from trading.ledger import reconciling

    before = await w.q(service.trial_balance)
    text = (
        "bank_ref,value_date,credit,debit,counterparty_account,counterparty_name,memo,currency\r\n"
        "ST-USD,2026-01-05,100.00,,6222 9,Payer,,USD\r\n"
        "ST-CNY,2026-01-05,3.00,,6222 8,Payer,,CNY\r\n"
    )
    first = await w.call(reconciling.reconcile_statement, text)
    assert first["to_suspense_fen"] == 300 and not first["clean"]
    [held] = first["details"]["not_in_cny"]
    assert (held["bank_ref"], held["currency"], held["to_suspense"]) == ("ST-USD", "USD", "ST-USD")
    items = {i.bank_ref: i for i in await w.q(store.list_suspense)}
    assert items["ST-USD"].reason is SuspenseReason.CURRENCY_NOT_CNY
    assert items["ST-CNY"].reason is SuspenseReason.STATEMENT_UNMATCHED
    after = await w.q(service.trial_balance)
    bank_fen = AccountKind.BANK
    assert after.balanced
    assert after.by_kind().get(bank_fen, 0) - before.by_kind().get(bank_fen, 0) == 300  # CNY only
    again = await w.call(reconciling.reconcile_statement, text)
    assert (
        again["to_suspense_fen"] == 0 and again["details"]["not_in_cny"][0]["to_suspense"] is None
    )
    assert len(await w.q(store.list_suspense)) == 2
    assert await w.q(service.trial_balance) == after
