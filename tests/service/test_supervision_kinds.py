"""The watched steps of the ledger and of the expert draws, against PostgreSQL with a fake
clock: each overdue step raises one alert through the watch, and the watch resolves it once
the step is done.

Sources (RULES.md): S4 (seeds 000–002, 电子监察), A7 and D5 (IR 57: refunds within 5 working
days), E5 and E6 (a summons unanswered in time is a decline; the next of the stream is called).
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from experts import draws
from experts.panel import MemberCommand
from tests.service.test_experts_draws import (
    SETTINGS,
    answer,
    build_world,
    deliver,
    members,
    name_of,
    request,
    run,
    token_for,
)
from tests.service.test_ledger_service import World, registry, w  # noqa: F401  (the fixture)
from trading.audit import AuditLog
from trading.calendar import EventRegistry, Scheduler
from trading.ledger import service, settlement
from trading.ledger.model import RefundCause
from trading.ledger.settlement import PayoutResult
from trading.supervision import service as supervision
from trading.supervision.model import AlertState, SupervisionSettings
from trading.supervision.store import AlertFilter
from web.supervision import build_watch

WATCH = build_watch()


async def sweep(pool: asyncpg.Pool, audit: AuditLog, now: datetime) -> supervision.SweepReport:
    async with pool.acquire() as conn, conn.transaction():
        return await supervision.sweep(conn, audit, now, SupervisionSettings(), WATCH)


async def alerts_of(pool: asyncpg.Pool, kind: str) -> list[supervision.Alert]:
    async with pool.acquire() as conn:
        return await supervision.list_newest(conn, AlertFilter(kind=kind), before_id=None, limit=10)


async def test_a_refund_unpaid_by_its_due_day_raises_one_alert_resolved_when_paid(w: World) -> None:  # noqa: F811
    """S4, A7: the losers' refunds are due within 5 working days; the one not paid by the end
    of its due day raises one alert (one only, whatever the retries); paid, it is resolved."""
    for org in w.orgs[:3]:
        await w.pay("lot:1", org)
    result_at = datetime(2026, 1, 9, 7, 0, tzinfo=UTC)  # Friday 15:00 in China
    w.clock.set(result_at)
    await w.call(service.refund_all, project_ref="lot:1", cause=RefundCause.LOST, cause_at=result_at,
                 command_id="lot1-result", exclude_org_ids=[w.orgs[0]])  # fmt: skip
    batch = await w.call(settlement.create_refund_batch)
    assert batch is not None and len(batch.payouts) == 2
    await w.call(settlement.confirm_payouts, [PayoutResult(batch.payouts[0].id, True, "PAY1", w.now)])
    w.clock.set(datetime(2026, 1, 16, 16, 0, tzinfo=UTC))  # the due day is over in China
    await Scheduler(w.pool, w.clock, registry()).run_due()
    await Scheduler(w.pool, w.clock, registry()).run_due()
    [alert] = await alerts_of(w.pool, "ledger.refund_overdue")
    assert alert.state is AlertState.OPEN and alert.detail["rule"] == "D4, D5, A7"
    assert alert.watch_ref is not None and alert.watch_ref.startswith("deposit:lot:1:")
    assert (await sweep(w.pool, w.audit, w.now)).resolved == []
    await w.call(settlement.confirm_payouts, [PayoutResult(batch.payouts[1].id, True, "PAY2", w.now)])
    assert (await sweep(w.pool, w.audit, w.now)).resolved == [alert.id]
    [alert] = await alerts_of(w.pool, "ledger.refund_overdue")
    assert alert.state is AlertState.RESOLVED


async def test_a_summons_unanswered_in_time_raises_one_alert_resolved_when_the_panel_is_full(
    pool, audit, clock
) -> None:
    """S4, E5, E6: a silent member times out (a decline; the next is called) and one info
    alert names the draw; once the replacement confirms and the panel is full, it resolves."""
    world = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, world)
    await run(pool, audit, clock, world, view["id"])
    channel = await deliver(pool, clock)
    for m in (await members(pool, view["id"]))[:4]:  # line 0 answers; line 1 stays silent
        await answer(pool, audit, clock, token_for(channel, name_of(m["expert_id"])), MemberCommand.CONFIRM)
    registry_ = EventRegistry()

    async def on_timeout(ctx) -> None:  # type: ignore[no-untyped-def]
        await draws.on_summons_timeout(ctx, audit, SETTINGS)

    registry_.register(draws.TIMEOUT_EVENT, on_timeout)
    clock.advance(seconds=1800)
    assert len(await Scheduler(pool, clock, registry_).run_due()) == 1
    [alert] = await alerts_of(pool, "experts.summons_unanswered")
    assert alert.severity == "info" and alert.object_type == "expert_draw" and alert.object_id == str(view["id"])
    assert "project" not in alert.message_en.lower()  # E6: time and place only, never the project
    assert (await sweep(pool, audit, clock.now())).resolved == []
    channel = await deliver(pool, clock, channel)
    for m in await members(pool, view["id"]):
        if m["status"] == "summoned":
            await answer(pool, audit, clock, token_for(channel, name_of(m["expert_id"])), MemberCommand.CONFIRM)
    assert (await sweep(pool, audit, clock.now())).resolved == [alert.id]
