"""Supervision online against PostgreSQL with a fake clock: the overdue-step watch and the
alerts a supervisor works with.

Sources (RULES.md): S4 (seeds 000–002, 电子监察: every step watched online; an overdue step
raises one alert that a supervisor acknowledges), W10 (BL 46: contract within 30 days), T8
(BL 34: opening at the announced time), W1 (BL 23: changes ≥ 15 days before the deadline),
T18 (IR 54: objections answered in 3 days).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bidding.award import service as award
from bidding.model import TenderState
from tests.service.test_award import (
    DEPOSITS,
    SETTINGS,
    World,
    award_registry,
    call,
    opened_world,
    published,
)
from tests.service.test_bidding_support import (
    hand_in,
    make_world,
    schedule_json,
    seal_for,
    submit,
    to_deadline,
    to_opening,
)
from trading.calendar import EventContext, EventRegistry, Scheduler
from trading.calendar import events as calendar
from trading.context import Actor, Role
from trading.supervision import service as supervision
from trading.supervision.errors import SupervisionRejected
from trading.supervision.model import Act, AlertState, SupervisionSettings
from trading.supervision.store import AlertFilter
from web.supervision import build_watch

WATCH_SETTINGS = SupervisionSettings(escalate_after_s=2 * 86400, sweep_interval_s=60)
SUPERVISOR = Actor(None, "supervisor.qian", Role.SUPERVISOR)


def watch_registry(world: World, settings: SupervisionSettings = WATCH_SETTINGS) -> EventRegistry:
    """The award's and the bidding's timed events, and the watch, as the app registers them."""
    registry = award_registry(world)
    watch = build_watch()

    async def on_watch(ctx: EventContext) -> None:
        await calendar.schedule(ctx.conn, kind=supervision.WATCH_EVENT, ref="all",
                                due_at=ctx.now + timedelta(seconds=settings.sweep_interval_s), now=ctx.now)
        await supervision.sweep(ctx.conn, world.audit, ctx.now, settings, watch)

    registry.register(supervision.WATCH_EVENT, on_watch)
    return registry


async def start(world: World, settings: SupervisionSettings = WATCH_SETTINGS) -> Scheduler:
    """A (re)started server: a new scheduler, the watch scheduled at start, everything due run."""
    now = world.clock.now()
    async with world.pool.acquire() as conn:
        await calendar.schedule(conn, kind=supervision.WATCH_EVENT, ref="all", due_at=now, now=now)
    scheduler = Scheduler(world.pool, world.clock, watch_registry(world, settings))
    await scheduler.run_due()
    return scheduler


async def alerts(world: World, **f: Any) -> list[Any]:
    async with world.pool.acquire() as conn:
        return await supervision.list_newest(conn, AlertFilter(**f), before_id=None, limit=100)


async def counts(world: World) -> tuple[int, int, int]:
    async with world.pool.acquire() as conn:
        return (
            await conn.fetchval("SELECT count(*) FROM alerts"),
            await conn.fetchval("SELECT count(*) FROM alert_acts"),
            await conn.fetchval("SELECT count(*) FROM audit_log"),
        )


async def act(world: World, alert_id: int, what: Act, note: str = "") -> Any:
    async with world.pool.acquire() as conn:
        return await supervision.act(conn, world.audit, SUPERVISOR, world.clock.now(), alert_id, what, note)


@pytest.fixture
async def awarded(pool, audit, clock) -> tuple[World, Any]:
    world, result = await opened_world(pool, audit, clock)
    await published(world, result)
    world.clock.advance(days=3)
    made = await call(world, award.award, world.tender_id, rank=1, reason=None, note="", settings=SETTINGS)
    return world, made


async def test_contract_not_recorded_by_day_30_raises_one_alert_that_resolves_when_recorded(
    awarded: tuple[World, Any],
) -> None:
    """S4, W10 (BL 46): day 30 without a contract raises one alert — one only, after a restart
    too; the supervisor acknowledges it (once: a second time is 409, nothing written); the
    contract is recorded and the alert is resolved by itself; every act is audited."""
    world, made = awarded
    world.clock.set(made.awarded_at + timedelta(days=30) - timedelta(seconds=1))
    await start(world)
    assert await alerts(world, kind="award.contract_overdue") == []

    world.clock.set(made.awarded_at + timedelta(days=30))
    await start(world)
    await start(world)  # a restart: a new scheduler, the watch again; the step is the same
    async with world.pool.acquire() as conn:  # a retried handler raises nothing more
        await award.on_contract_due(conn, world.clock.now(), world.tender_id)
    [alert] = await alerts(world, kind="award.contract_overdue")
    assert alert.state is AlertState.OPEN and alert.object_id == str(world.tender_id)
    assert alert.watch_ref == f"{world.tender_id}:{made.id}" and alert.detail["rule"] == "W10"
    assert alert.due_at == made.awarded_at + timedelta(days=30)

    acked = await act(world, alert.id, Act.ACKNOWLEDGE, "已电话督促招标人 called the tenderer")
    assert acked.state is AlertState.ACKNOWLEDGED and acked.acknowledged_at == world.clock.now()
    before = await counts(world)
    with pytest.raises(SupervisionRejected) as info:
        await act(world, alert.id, Act.ACKNOWLEDGE, "again")
    assert info.value.code == "alert_already_acknowledged" and info.value.status_hint == 409
    assert await counts(world) == before

    world.clock.advance(days=1)
    await call(world, award.record_contract, world.tender_id, amount_fen=made.price_fen, bond_fen=0,
               signed_at=None, deposits=DEPOSITS, settings=SETTINGS)  # fmt: skip
    [alert] = await alerts(world, kind="award.contract_overdue")
    assert alert.state is AlertState.RESOLVED and alert.resolved_at == world.clock.now()
    async with world.pool.acquire() as conn:
        _, acts = await supervision.alert_with_acts(conn, alert.id)
        audited = await conn.fetch(
            "SELECT action FROM audit_log WHERE object_type = 'alert' AND object_id = $1 ORDER BY seq", str(alert.id)
        )
    assert [a["act"] for a in acts] == ["acknowledge", "resolve"]
    assert [r["action"] for r in audited] == ["supervision.alert.acknowledge", "supervision.alert.resolve"]
    closed = await act(world, alert.id, Act.CLOSE, "合同已备案 contract recorded")
    assert closed.state is AlertState.CLOSED


async def test_an_answered_objection_resolves_its_alert(pool, audit, clock) -> None:
    """S4, T18 (IR 54): an objection answered late resolves its alert (at once; the watch's
    next run finds nothing more to do)."""
    world, result = await opened_world(pool, audit, clock)
    await published(world, result)
    objection = await call(world, award.object_to_candidates, world.tender_id, "x", SETTINGS,
                           actor=world.bidders[0].party.actor)  # fmt: skip
    world.clock.advance(days=3)
    await start(world)
    [alert] = await alerts(world, kind="award.objection_overdue")
    assert alert.state is AlertState.OPEN
    await call(world, award.answer_objection, world.tender_id, objection.id, "答复 answered")
    world.clock.advance(seconds=WATCH_SETTINGS.sweep_interval_s)
    await Scheduler(world.pool, world.clock, watch_registry(world)).run_due()
    [alert] = await alerts(world, kind="award.objection_overdue")
    assert alert.state is AlertState.RESOLVED


async def test_an_alert_open_too_long_escalates_once(awarded: tuple[World, Any]) -> None:
    """S4: an alert nobody acknowledged in ``escalate_after_s`` escalates — once, audited; an
    acknowledged one does not; a supervisor cannot escalate it again (409)."""
    world, made = awarded
    world.clock.set(made.awarded_at + timedelta(days=30))
    scheduler = await start(world)
    [alert] = await alerts(world, kind="award.contract_overdue")
    async with world.pool.acquire() as conn:
        other = await supervision.raise_alert(
            conn, world.clock.now(), kind="test.other", severity="info", object_type="tender",
            object_id="1", message_en="x", message_zh="x",
        )
    assert other is not None
    await act(world, other, Act.ACKNOWLEDGE, "seen")
    world.clock.advance(seconds=WATCH_SETTINGS.escalate_after_s - 1)
    await scheduler.run_due()
    assert (await alerts(world, escalated=True)) == []
    world.clock.advance(seconds=WATCH_SETTINGS.sweep_interval_s)
    await scheduler.run_due()
    world.clock.advance(days=3)
    await scheduler.run_due()
    [escalated] = await alerts(world, escalated=True)
    assert escalated.id == alert.id and escalated.state is AlertState.OPEN
    async with world.pool.acquire() as conn:
        _, acts = await supervision.alert_with_acts(conn, alert.id)
    assert [a["act"] for a in acts] == ["escalate"]
    with pytest.raises(SupervisionRejected) as info:
        await act(world, alert.id, Act.ESCALATE)
    assert info.value.code == "alert_already_escalated"


async def test_an_opening_not_held_raises_one_alert_even_after_downtime(pool, audit, clock) -> None:
    """S4, T8 (BL 34), T9: the custodians never come; the opening time plus the grace passes
    while the server is down; at start the watch catches up and raises one alert; the
    opening held later resolves it."""
    world = await make_world(pool, audit, clock)
    for bidder in world.bidders[:3]:
        await submit(world, bidder, seal_for(world, bidder, schedule_json()))
    await to_deadline(world)
    await to_opening(world)
    assert world.tender.state is TenderState.OPENING
    world.clock.set(world.tender.opening_at + timedelta(seconds=WATCH_SETTINGS.opening_grace_s - 1))
    await start(world)
    assert await alerts(world, kind="bidding.opening_overdue") == []
    world.clock.advance(days=2)  # down for two days
    await start(world)
    await start(world)
    [alert] = await alerts(world, kind="bidding.opening_overdue")
    assert alert.severity == "critical" and alert.object_id == str(world.tender_id)
    await hand_in(world, world.custodians[0])
    await hand_in(world, world.custodians[1])
    world.clock.advance(seconds=WATCH_SETTINGS.sweep_interval_s)
    await start(world)
    [alert] = await alerts(world, kind="bidding.opening_overdue")
    assert alert.state is AlertState.RESOLVED


async def test_a_change_within_15_days_of_a_deadline_that_stood_raises_one_alert(pool, audit, clock) -> None:
    """S4, W1 (BL 23): a clarification published 10 days before the deadline, the deadline
    not moved (here: moved back afterwards) → at the deadline, one alert; nothing resolves it."""
    world = await make_world(pool, audit, clock)
    await start(world)
    async with world.pool.acquire() as conn:
        notice = await conn.fetchval("SELECT id FROM public_notices WHERE tender_id = $1 LIMIT 1", world.tender_id)
        await conn.execute(
            "INSERT INTO tender_clarifications (tender_id, no, kind, text, old_deadline_at, new_deadline_at, "
            "old_opening_at, new_opening_at, deadline_moved, notice_id, notified_orgs, published_at) "
            "VALUES ($1, 1, 'clarification', 'x', $2, $2, $3, $3, false, $4, 0, $5)",
            world.tender_id, world.tender.bid_deadline_at, world.tender.opening_at, notice,
            world.tender.bid_deadline_at - timedelta(days=10),
        )
    world.clock.set(world.tender.bid_deadline_at - timedelta(seconds=1))
    await start(world)
    assert await alerts(world, kind="bidding.late_change") == []
    world.clock.set(world.tender.bid_deadline_at)
    await start(world)
    world.clock.advance(days=1)
    await start(world)
    [alert] = await alerts(world, kind="bidding.late_change")
    assert alert.detail["rule"] == "W1" and alert.state is AlertState.OPEN


async def test_alerts_page_newest_first_with_filters(pool, audit, clock) -> None:
    """S4: a supervisor lists alerts newest first, by kind, severity, object, state and period,
    a page at a time (keyset: ``before_id``), with nothing missed or repeated."""
    async with pool.acquire() as conn:
        ids = []
        for i in range(7):
            clock.advance(minutes=1)
            ids.append(await supervision.raise_alert(
                conn, clock.now(), kind="k.even" if i % 2 == 0 else "k.odd",
                severity="critical" if i == 3 else "warning", object_type="tender", object_id=str(i % 3),
                message_en=f"m{i}", message_zh=f"m{i}",
            ))  # fmt: skip
        seen: list[int] = []
        before = None
        while True:
            page = await supervision.list_newest(conn, AlertFilter(), before_id=before, limit=3)
            if not page:
                break
            seen += [a.id for a in page]
            before = page[-1].id
        assert seen == sorted(ids, reverse=True)
        assert [a.id for a in await supervision.list_newest(conn, AlertFilter(kind="k.odd"), before_id=None,
                                                            limit=10)] == [ids[5], ids[3], ids[1]]
        assert [a.id for a in await supervision.list_newest(conn, AlertFilter(severity="critical"),
                                                            before_id=None, limit=10)] == [ids[3]]
        assert [a.id for a in await supervision.list_newest(conn, AlertFilter(object_type="tender", object_id="0"),
                                                            before_id=None, limit=10)] == [ids[6], ids[3], ids[0]]
    async with pool.acquire() as conn:
        await supervision.act(conn, audit, SUPERVISOR, clock.now(), ids[2], Act.ACKNOWLEDGE, "ok")
        acked = await supervision.list_newest(conn, AlertFilter(state=AlertState.ACKNOWLEDGED), before_id=None,
                                              limit=10)
        assert [a.id for a in acked] == [ids[2]]
        r2 = (await supervision.alert_with_acts(conn, ids[2]))[0].raised_at
        r4 = (await supervision.alert_with_acts(conn, ids[4]))[0].raised_at
        window = await supervision.list_newest(conn, AlertFilter(since=r2, until=r4), before_id=None, limit=10)
        assert [a.id for a in window] == [ids[3], ids[2]]
