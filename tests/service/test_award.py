"""After the report, against PostgreSQL with a fake clock: publicity, objections, complaints,
award, contract, refunds through the ledger, forfeiture, the failed tender.

Sources (RULES.md): T18 (IR 54), W7 (BL 42), W8 (IR 55), W9 (BL 45), W10 (BL 46, IR 57),
W11 (IR 58), W12 (IR 60–62), D5 (IR 57), D6 (IR 35, 74), S4 (an overdue step raises one
alert), S5 (savings rate).

The evaluation result is built here from the opened bids (rank by price), as the
evaluation's ``concluded_result`` would give it: the award takes it as a parameter.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from bidding.award import rules
from bidding.award import service as award
from bidding.award import store as award_store
from bidding.award.errors import AwardRejected
from bidding.award.model import (
    AwardSettings,
    AwardState,
    Candidate,
    ComplaintOutcome,
    PassReason,
    Result,
)
from bidding.model import TenderState
from bidding.records import verify_signed
from bidding.service.common import load_tender
from crypto.signing import generate_signing_key, public_key_bytes
from tests.service.test_bidding_support import (
    World,
    hand_in,
    make_world,
    registry_for,
    schedule_json,
    seal_for,
    submit,
    to_deadline,
    to_opening,
)
from trading.calendar import EventRegistry, Scheduler
from trading.context import Actor
from trading.ledger import bank
from trading.ledger import service as ledger
from trading.ledger import store as ledger_store
from trading.ledger.model import BankNotification, DepositState, NotificationKind
from trading.ledger.rules.dates import days_held, interest_fen
from trading.notices import list_notices
from trading.supervision import list_alerts
from web.award import LedgerDeposits

BANK = generate_signing_key()
SETTINGS = AwardSettings()
DEPOSITS = LedgerDeposits()
PRICES = (9_100_000, 8_900_000, 9_300_000, 9_000_000)
RATE_BP = 35  # the centre's current-account rate for deposits, 0.35 % a year


def award_registry(world: World) -> EventRegistry:
    registry = registry_for(world.audit)
    handlers: dict[str, Any] = {
        rules.PUBLICITY_DUE: award.on_publicity_due,
        rules.OBJECTION_DUE: award.on_objection_due,
        rules.COMPLAINT_ACCEPT_DUE: award.on_complaint_accept_due,
        rules.COMPLAINT_DECIDE_DUE: award.on_complaint_decide_due,
        rules.CONTRACT_DUE: award.on_contract_due,
    }
    for kind, fn in handlers.items():
        registry.register(kind, lambda ctx, fn=fn: fn(ctx.conn, ctx.now, int(ctx.event.ref)))
    registry.register(ledger.UNSEAL, ledger.on_unseal)
    registry.register(ledger.REFUND_DUE, ledger.on_refund_due)
    return registry


async def run_due(world: World) -> None:
    await Scheduler(world.pool, world.clock, award_registry(world)).run_due()


async def pay_deposits(world: World) -> None:
    """Every bidder pays its deposit into its sub-account, from its own bank account."""
    now, ref = world.clock.now(), world.tender.project_ref
    async with world.pool.acquire() as conn:
        await ledger.register_bank_key(conn, world.audit, world.staff.actor, now, public_key_bytes(BANK))
        # the centre's deposit rate (the tender registers its terms at publication)
        await conn.execute("UPDATE ledger_projects SET interest_rate_bp = $2 WHERE project_id = $1", ref, RATE_BP)
        for i, b in enumerate(world.bidders):
            d = await ledger.get_deposit(conn, ref, b.org_id)
            n = BankNotification(
                i + 1, f"REF{i + 1:04d}", NotificationKind.CREDIT, d.sub_account, world.tender.deposit_fen,
                now, f"6222 0000 0000 {i:04d}", f"payer {i}",
            )
            signature = bank.decode_signature(bank.sign_notification(n, BANK)["signature"])
            await ledger.receive_notification(conn, world.audit, Actor.system("bank"), now, n, signature)


async def opened_world(pool: asyncpg.Pool, audit: Any, clock: Any) -> tuple[World, Result]:
    """Four bidders paid and bid; the tender is opened; the report concludes the next day."""
    world = await make_world(pool, audit, clock, confirm=False)
    await pay_deposits(world)
    bids = {}
    for bidder, price in zip(world.bidders, PRICES, strict=True):
        await submit(world, bidder, seal_for(world, bidder, schedule_json(price)))
        bids[bidder.org_id] = price
    await to_deadline(world)
    await to_opening(world)
    await hand_in(world, world.custodians[0])
    await hand_in(world, world.custodians[1])
    await world.reload()
    assert world.tender.state is TenderState.OPENED
    world.clock.advance(days=1)
    async with pool.acquire() as conn:
        frozen = await conn.fetch(
            "SELECT id, org_id FROM bids WHERE tender_id = $1 AND leaf_index IS NOT NULL", world.tender_id
        )
    ranked = sorted((bids[r["org_id"]], r["id"], r["org_id"]) for r in frozen)[:3]
    result = Result(
        world.tender_id, 1, world.clock.now(), False,
        tuple(Candidate(i + 1, bid_id, org_id, price) for i, (price, bid_id, org_id) in enumerate(ranked)),
    )
    return world, result


@pytest.fixture
async def opened(pool, audit, clock) -> tuple[World, Result]:
    return await opened_world(pool, audit, clock)


def bidder_for(world: World, org_id: int) -> Any:
    return next(b for b in world.bidders if b.org_id == org_id)


async def call(world: World, fn: Any, *args: Any, actor: Actor | None = None, **kw: Any) -> Any:
    async with world.pool.acquire() as conn:
        return await fn(conn, world.audit, actor or world.staff.actor, world.clock.now(), *args, **kw)


async def refused(world: World, fn: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(AwardRejected) as info:
        await call(world, fn, *args, **kw)
    return info.value.code


async def started(world: World, result: Result) -> None:
    async with world.pool.acquire() as conn:
        await award.start_procedure(conn, world.audit, world.clock.now(), result, SETTINGS)


async def published(world: World, result: Result) -> None:
    await started(world, result)
    await call(world, award.publish_candidates, world.tender_id, result, SETTINGS)


async def snapshot(world: World) -> tuple[Any, ...]:
    async with world.pool.acquire() as conn:
        return (
            dict(await conn.fetchrow("SELECT * FROM award_procedures WHERE tender_id = $1", world.tender_id)),
            await conn.fetchval("SELECT count(*) FROM award_contracts"),
            await conn.fetchval("SELECT count(*) FROM notices"),
            await ledger_store.list_deposits(conn, project_id=world.tender.project_ref),
            await ledger_store.trial_balance(conn),
        )


async def public_kinds(conn: asyncpg.Connection, tender_id: int) -> list[str]:
    """The kinds of the public notices of the tender (F's ``public_notices``)."""
    return [r["kind"] for r in await conn.fetch(
        "SELECT kind FROM public_notices WHERE tender_id = $1 ORDER BY seq", tender_id
    )]


# ---------------------------------------------------------------------------- the chain


async def test_publicity_objection_award_contract_refunds_every_deposit_with_interest(
    opened: tuple[World, Result],
) -> None:
    """T18, W8, W9, W10, W11, D5 (IR 54, 55, 57, 58; BL 45, 46): the whole chain after the
    report; every deposit refunded with interest for the days held; the trial balance zero."""
    world, result = opened
    first, second, _third = result.candidates
    await published(world, result)
    objector = bidder_for(world, second.org_id)
    objection = await call(
        world, award.object_to_candidates, world.tender_id, "第一名业绩造假 The first's references are false",
        SETTINGS, actor=objector.party.actor,
    )
    world.clock.advance(days=3)  # the publicity has ended; the objection is still open
    assert await refused(world, award.award, world.tender_id, rank=1, reason=None, note="",
                         settings=SETTINGS) == "objection_open"
    await call(world, award.answer_objection, world.tender_id, objection.id, "经核查业绩属实 Checked: true")
    made = await call(world, award.award, world.tender_id, rank=1, reason=None, note="", settings=SETTINGS)
    assert made.org_id == first.org_id and made.price_fen == first.price_fen

    # W9: the signed notice to the winner, a result notice to each of the three others
    async with world.pool.acquire() as conn:
        signed = await award.award_notice(conn, world.tender_id)
        winner_notices = await list_notices(conn, org_id=first.org_id)
        others = [await list_notices(conn, org_id=b.org_id) for b in world.bidders if b.org_id != first.org_id]
    assert verify_signed(signed, world.audit.public_key, expected_type=award.AWARD_NOTICE_TYPE)
    assert sorted(signed.document["result_notices_to"]) == sorted(
        b.org_id for b in world.bidders if b.org_id != first.org_id
    )
    assert winner_notices[0]["subject"].startswith("中标通知书")
    assert all(n[0]["subject"].startswith("中标结果通知书") for n in others)

    # W10, W11: a wrong amount or a bond over 10 % leaves nothing written
    world.clock.advance(days=20)
    before = await snapshot(world)
    assert await refused(world, award.record_contract, world.tender_id, amount_fen=first.price_fen + 1,
                         bond_fen=0, signed_at=None, deposits=DEPOSITS, settings=SETTINGS) == "contract_amount_differs"
    assert await refused(world, award.record_contract, world.tender_id, amount_fen=first.price_fen,
                         bond_fen=first.price_fen // 10 + 1, signed_at=None, deposits=DEPOSITS,
                         settings=SETTINGS) == "bond_over_ten_percent"
    assert await snapshot(world) == before

    contract, refunds = await call(
        world, award.record_contract, world.tender_id, amount_fen=first.price_fen,
        bond_fen=first.price_fen // 10, signed_at=None, deposits=DEPOSITS, settings=SETTINGS,
    )
    assert not contract.late and len(refunds["refunded"]) == 4 and refunds["left"] == []
    async with world.pool.acquire() as conn:
        deposits = await ledger_store.list_deposits(conn, project_id=world.tender.project_ref)
        balance = await ledger_store.trial_balance(conn)
        proc = await award_store.get_procedure(conn, world.tender_id)
    for d in deposits:
        assert d.state is DepositState.REFUND_PENDING
        assert d.received_at is not None
        expected = interest_fen(d.amount_fen, RATE_BP, days_held(d.received_at, world.clock.now()))
        assert d.interest_fen == expected > 0
        assert d.refund_due_on == (world.clock.now() + timedelta(hours=8)).date() + timedelta(days=5)
    assert balance.balanced and balance.net_fen == 0
    # S5: the award amount is kept; the savings rate follows from the budget when there is one
    assert proc is not None and proc.state is AwardState.CONTRACTED and proc.award_fen == first.price_fen
    async with world.pool.acquire() as conn:
        kinds = await public_kinds(conn, world.tender_id)
    assert kinds.count("candidates") == 1 and kinds.count("award_result") == 1


async def test_day_31_without_contract_raises_alert(opened: tuple[World, Result]) -> None:
    """W10 (BL 46): 30 days after the award without a contract → one alert; a later
    contract is recorded late."""
    world, result = opened
    await published(world, result)
    world.clock.advance(days=3)
    made = await call(world, award.award, world.tender_id, rank=1, reason=None, note="", settings=SETTINGS)
    world.clock.set(made.awarded_at + timedelta(days=30) - timedelta(seconds=1))
    await run_due(world)
    async with world.pool.acquire() as conn:
        assert await list_alerts(conn, kind="award.contract_overdue") == []
    world.clock.set(made.awarded_at + timedelta(days=30))
    await run_due(world)
    await run_due(world)
    async with world.pool.acquire() as conn:
        alerts = await list_alerts(conn, kind="award.contract_overdue")
    assert len(alerts) == 1 and alerts[0]["object_id"] == str(world.tender_id)
    contract, _ = await call(
        world, award.record_contract, world.tender_id, amount_fen=made.price_fen, bond_fen=0,
        signed_at=None, deposits=DEPOSITS, settings=SETTINGS,
    )
    assert contract.late


async def test_candidates_not_published_in_three_days_raise_one_alert(opened: tuple[World, Result]) -> None:
    """T18 (IR 54), S4: the publication deadline is a timed event; overdue → one alert; it
    survives a restart (it lives in timed_events)."""
    world, result = opened
    await started(world, result)
    world.clock.advance(days=3, seconds=-1)
    await run_due(world)
    async with world.pool.acquire() as conn:
        assert await list_alerts(conn, kind="award.publicity_overdue") == []
    world.clock.advance(seconds=1)
    await run_due(world)  # a new Scheduler: as after a restart
    async with world.pool.acquire() as conn:
        assert len(await list_alerts(conn, kind="award.publicity_overdue")) == 1


async def test_late_objection_is_refused(opened: tuple[World, Result]) -> None:
    """T18 (IR 54): objections only during the publicity, only from the tender's bidders."""
    world, result = opened
    await started(world, result)
    bidder = world.bidders[0]
    assert await refused(world, award.object_to_candidates, world.tender_id, "x", SETTINGS,
                         actor=bidder.party.actor) == "objection_outside_window"
    await call(world, award.publish_candidates, world.tender_id, result, SETTINGS)
    assert await refused(world, award.object_to_candidates, world.tender_id, "x", SETTINGS,
                         actor=world.staff.actor) == "not_a_bidder_of_tender"
    world.clock.advance(days=3)
    assert await refused(world, award.object_to_candidates, world.tender_id, "x", SETTINGS,
                         actor=bidder.party.actor) == "objection_outside_window"


async def test_an_unanswered_objection_raises_one_alert_after_three_days(opened: tuple[World, Result]) -> None:
    """IR 54, S4: the answer is due in 3 days; overdue → one alert."""
    world, result = opened
    await published(world, result)
    await call(world, award.object_to_candidates, world.tender_id, "x", SETTINGS,
               actor=world.bidders[0].party.actor)
    world.clock.advance(days=3)
    await run_due(world)
    async with world.pool.acquire() as conn:
        assert len(await list_alerts(conn, kind="award.objection_overdue")) == 1


async def test_late_complaint_is_refused_and_an_accepted_one_suspends_the_award(
    opened: tuple[World, Result],
) -> None:
    """W12 (IR 60–62): 10 days from knowing; the supervisor accepts (and suspends) within 3
    working days and decides within 30; an overdue decision raises one alert."""
    world, result = opened
    await published(world, result)
    complainant = world.bidders[1].party.actor
    supervisor = replace(world.staff.actor, username="supervisor.zhao")
    assert await refused(world, award.complain, world.tender_id, "x",
                         world.clock.now() - timedelta(days=11), actor=complainant) == "complaint_late"
    c = await call(world, award.complain, world.tender_id, "评标不公 unfair", None, actor=complainant)
    assert c.known_at == c.received_at  # known from the publicity, published now
    world.clock.advance(days=3)
    c = await call(world, award.accept_complaint, world.tender_id, c.id, suspend_award=True,
                   note="受理 accepted", actor=supervisor)
    assert c.decide_due_at is not None
    assert await refused(world, award.award, world.tender_id, rank=1, reason=None, note="",
                         settings=SETTINGS) == "complaint_suspends_award"
    world.clock.set(c.decide_due_at)
    await run_due(world)
    async with world.pool.acquire() as conn:
        assert len(await list_alerts(conn, kind="award.complaint_decide_overdue")) == 1
        assert await list_alerts(conn, kind="award.complaint_accept_overdue") == []
    await call(world, award.decide_complaint, world.tender_id, c.id, outcome=ComplaintOutcome.DISMISSED,
               decision="驳回 dismissed", actor=supervisor)
    assert await refused(world, award.decide_complaint, world.tender_id, c.id,
                         outcome=ComplaintOutcome.UPHELD, decision="x", actor=supervisor) == "complaint_wrong_state"
    made = await call(world, award.award, world.tender_id, rank=1, reason=None, note="", settings=SETTINGS)
    assert made.rank == 1


async def test_a_winner_who_refuses_to_sign_forfeits_with_a_second_approver_and_the_next_is_awarded(
    opened: tuple[World, Result],
) -> None:
    """D6 (IR 74): forfeiture with a reason and a second approver; W8 (IR 55): the award
    passes to the next candidate, and the first cannot come back."""
    world, result = opened
    first, second, _ = result.candidates
    await published(world, result)
    world.clock.advance(days=3)
    assert await refused(world, award.award, world.tender_id, rank=2, reason=None, note="",
                         settings=SETTINGS) == "skip_without_reason"
    await call(world, award.award, world.tender_id, rank=1, reason=None, note="", settings=SETTINGS)
    await call(world, award.decline_award, world.tender_id, reason=PassReason.GAVE_UP,
               note="拒绝签订合同 refused to sign", forfeit_deposit=True, deposits=DEPOSITS, settings=SETTINGS)
    async with world.pool.acquire() as conn:
        d = await ledger.get_deposit(conn, world.tender.project_ref, first.org_id)
    assert d.state is DepositState.FORFEIT_PENDING
    with pytest.raises(Exception) as same:  # one approver is not enough (the ledger's D6 rule)
        await call(world, award.approve_forfeit, world.tender_id, deposits=DEPOSITS)
    assert getattr(same.value, "code", "") != ""
    second_staff = replace(world.staff.actor, user_id=None, username="staff.second")
    approved = await call(world, award.approve_forfeit, world.tender_id, deposits=DEPOSITS, actor=second_staff)
    assert approved["state"] == DepositState.FORFEITED.value
    assert await refused(world, award.award, world.tender_id, rank=1, reason=None, note="",
                         settings=SETTINGS) == "candidate_passed_over"
    made = await call(world, award.award, world.tender_id, rank=2, reason=None, note="", settings=SETTINGS)
    assert made.org_id == second.org_id
    _, refunds = await call(world, award.record_contract, world.tender_id, amount_fen=second.price_fen,
                            bond_fen=0, signed_at=None, deposits=DEPOSITS, settings=SETTINGS)
    assert len(refunds["refunded"]) == 3  # the forfeited deposit is not refunded
    async with world.pool.acquire() as conn:
        assert (await ledger_store.trial_balance(conn)).balanced


async def test_a_failed_evaluation_fails_the_tender_with_a_linked_retender_draft(
    opened: tuple[World, Result],
) -> None:
    """W7 (BL 42): no valid candidate → the tender fails; a re-tender draft linked to it."""
    world, result = opened
    failed = Result(world.tender_id, 1, result.concluded_at, True, (), ((1, "below_cost"),))
    assert await refused(world, award.publish_candidates, world.tender_id, failed, SETTINGS) == "evaluation_failed"
    proc, draft = await call(
        world, award.declare_failed, world.tender_id, result=failed, retender_code=None,
        bid_deadline_at=None, opening_at=None, settings=SETTINGS, bidding_settings=world.settings,
    )
    async with world.pool.acquire() as conn:
        tender = await load_tender(conn, world.tender_id)
    assert proc.state is AwardState.FAILED and proc.retender_id == draft.id
    assert tender.state is TenderState.FAILED and tender.failure_reason == "evaluation_failed"
    assert draft.retender_of == world.tender_id and draft.state is TenderState.DRAFT
    assert draft.code == f"{tender.code}-R1"
    async with world.pool.acquire() as conn:
        kinds = await public_kinds(conn, world.tender_id)
    assert "failed" in kinds and "re_tender" in kinds


async def test_a_tender_failed_at_the_freeze_is_retendered_through_the_award(pool, audit, clock) -> None:
    """W7, T7 (BL 28): too few bids at the deadline → the same failure step, no report needed."""
    world = await make_world(pool, audit, clock)
    for bidder in world.bidders[:2]:
        await submit(world, bidder, seal_for(world, bidder))
    await to_deadline(world)
    assert world.tender.state is TenderState.FAILED
    proc, draft = await call(
        world, award.declare_failed, world.tender_id, result=None, retender_code="RE-T7",
        bid_deadline_at=None, opening_at=None, settings=SETTINGS, bidding_settings=world.settings,
    )
    assert proc.state is AwardState.FAILED and proc.failure_reason == "too_few_bids"
    assert draft.code == "RE-T7" and draft.retender_of == world.tender_id
    async with world.pool.acquire() as conn:
        kinds = await public_kinds(conn, world.tender_id)
    assert kinds.count("failed") == 1 and kinds.count("re_tender") == 1  # the freeze announced the failure


async def test_the_watch_starts_each_concluded_procedure_once(opened: tuple[World, Result]) -> None:
    """T18: the award watch finds a concluded report and arms its publication deadline."""
    world, result = opened

    async def concluded(_conn: asyncpg.Connection, tender_id: int) -> Result | None:
        return result if tender_id == world.tender_id else None

    async with world.pool.acquire() as conn:
        first = await award.watch(conn, world.audit, world.clock.now(), SETTINGS, concluded)
        again = await award.watch(conn, world.audit, world.clock.now(), SETTINGS, concluded)
        due = await conn.fetchval(
            "SELECT due_at FROM timed_events WHERE kind = $1 AND ref = $2 AND status = 'pending'",
            rules.PUBLICITY_DUE, str(world.tender_id),
        )
    assert first == [world.tender_id] and again == []
    assert due == result.concluded_at + timedelta(days=3)


async def test_the_panels_concluded_report_starts_the_award_and_the_savings_rate_is_exact(
    pool, audit, clock
) -> None:
    """T17 → T18 through the real evaluation: the award watch reads ``concluded_result``;
    S5: budget 1,200,000 fen, award 1,000,000 fen → savings 1/6 (16.67 %)."""
    from tests.service import test_evaluation as evaluation
    from web.award import concluded

    ev = await evaluation.make_ev(pool, audit, clock)
    world = ev.world
    await evaluation.start(ev)
    for e in ev.experts:
        await evaluation.hand_sheet(ev, e)
    await evaluation.report(ev)
    for e in ev.experts:
        await evaluation.sign(ev, e)
    async with pool.acquire() as conn:
        started_ = await award.watch(conn, audit, clock.now(), SETTINGS, concluded)
    assert started_ == [world.tender_id]
    await call(world, award.publish_candidates, world.tender_id, None, SETTINGS)
    clock.advance(days=3)
    made = await call(world, award.award, world.tender_id, rank=1, reason=None, note="", settings=SETTINGS)
    assert made.bid_id == ev.bid_ids[0] and made.price_fen == 1_000_000
    await call(world, award.record_contract, world.tender_id, amount_fen=1_000_000, bond_fen=100_000,
               signed_at=None, deposits=DEPOSITS, settings=SETTINGS)
    async with pool.acquire() as conn:
        status = await award.status(conn, world.tender_id)
    assert status["savings"] == {
        "budget_fen": 1_200_000, "control_price_fen": 1_080_000, "award_fen": 1_000_000,
        "rate": "1/6", "rate_percent": "16.67",
    }


async def test_two_awards_at_once_make_one(opened: tuple[World, Result]) -> None:
    """W8, W9: two staff members award at the same moment (two connections): the procedure's
    row lock serialises them — one award, one set of notices, the other refused."""
    import asyncio

    world, result = opened
    await published(world, result)
    world.clock.advance(days=3)
    outcomes = await asyncio.gather(
        call(world, award.award, world.tender_id, rank=1, reason=None, note="", settings=SETTINGS),
        call(world, award.award, world.tender_id, rank=2, reason=PassReason.GAVE_UP, note="放弃",
             settings=SETTINGS),
        return_exceptions=True,
    )
    made = [o for o in outcomes if not isinstance(o, BaseException)]
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(made) == 1 and len(failed) == 1
    assert isinstance(failed[0], AwardRejected) and failed[0].code == "wrong_award_state"
    async with world.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM award_decisions") == 1
        assert await conn.fetchval(
            "SELECT count(*) FROM notices WHERE subject LIKE '中标通知书%'"
        ) == 1
