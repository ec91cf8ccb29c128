"""Timed events: fired once at their time; after downtime, run at once with the real time
recorded (RULES T8)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from trading.calendar import EventContext, EventRegistry, Scheduler, schedule
from trading.calendar import events as calendar


def recording_registry(log: list[tuple[str, str]]) -> EventRegistry:
    reg = EventRegistry()

    async def handler(ctx: EventContext) -> None:
        log.append((ctx.event.ref, ctx.now.isoformat()))
        await ctx.conn.execute("INSERT INTO notices (subject, body, created_at) VALUES ($1, 'ran', $2)",
                               ctx.event.ref, ctx.now)

    reg.register("test.fire", handler)
    return reg


async def test_an_event_runs_at_its_time_and_only_once(pool, clock) -> None:
    ran: list[tuple[str, str]] = []
    sched = Scheduler(pool, clock, recording_registry(ran))
    async with pool.acquire() as conn:
        await schedule(conn, kind="test.fire", ref="a", due_at=clock.now() + timedelta(minutes=10), now=clock.now())
    assert await sched.run_due() == []
    clock.advance(minutes=10)
    clock.advance(milliseconds=-1)
    assert await sched.run_due() == []
    clock.advance(milliseconds=1)
    done = await sched.run_due()
    assert [e.ref for e in done] == ["a"] and done[0].ran_at == clock.now()
    assert await sched.run_due() == []
    assert len(ran) == 1


async def test_rescheduling_replaces_the_pending_event(pool, clock) -> None:
    """Moving a deadline moves its event; the old time fires nothing."""
    sched = Scheduler(pool, clock, recording_registry([]))
    async with pool.acquire() as conn:
        await schedule(conn, kind="test.fire", ref="t1", due_at=clock.now() + timedelta(hours=1), now=clock.now())
        await schedule(conn, kind="test.fire", ref="t1", due_at=clock.now() + timedelta(hours=3), now=clock.now())
    clock.advance(hours=2)
    assert await sched.run_due() == []
    clock.advance(hours=1)
    assert len(await sched.run_due()) == 1


async def test_after_downtime_due_events_run_at_once_recording_the_real_time(pool, clock) -> None:
    """BL 34 / RULES T8: a server down at the opening time opens on return, with the real time."""
    ran: list[tuple[str, str]] = []
    first = Scheduler(pool, clock, recording_registry(ran))
    await first.start(listen=False)
    due = clock.now() + timedelta(minutes=30)
    async with pool.acquire() as conn:
        await schedule(conn, kind="test.fire", ref="opening", due_at=due, now=clock.now())
        await schedule(conn, kind="test.fire", ref="later", due_at=due + timedelta(days=1), now=clock.now())
    await first.stop()  # the server goes down before the event is due

    clock.advance(hours=3)  # …and comes back three hours later
    second = Scheduler(pool, clock, recording_registry(ran))
    caught_up = await second.start(listen=False)
    await second.stop()
    assert [e.ref for e in caught_up] == ["opening"]
    async with pool.acquire() as conn:
        rows = await calendar.history(conn, kind="test.fire")
    by_ref = {e.ref: e for e in rows}
    assert by_ref["opening"].status == "done"
    assert by_ref["opening"].due_at == due and by_ref["opening"].ran_at == clock.now()
    assert by_ref["later"].status == "pending"


async def test_a_failing_handler_rolls_back_and_is_retried(pool, clock) -> None:
    reg = EventRegistry()
    calls: list[int] = []

    async def flaky(ctx: EventContext) -> None:
        calls.append(1)
        await ctx.conn.execute("INSERT INTO notices (subject, body, created_at) VALUES ('x', 'half', $1)", ctx.now)
        if len(calls) == 1:
            raise RuntimeError("bank gateway down")

    reg.register("test.flaky", flaky)
    sched = Scheduler(pool, clock, reg)
    async with pool.acquire() as conn:
        await schedule(conn, kind="test.flaky", ref="x", due_at=clock.now(), now=clock.now())
    await sched.run_due()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM notices") == 0  # nothing half-written
        ev = (await calendar.history(conn, kind="test.flaky"))[0]
    assert ev.status == "pending" and ev.attempts == 1 and "bank gateway down" in (ev.last_error or "")
    clock.advance(minutes=1)
    await sched.run_due()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM notices") == 1
        assert (await calendar.history(conn, kind="test.flaky"))[0].status == "done"


async def test_two_schedulers_never_run_the_same_event_twice(pool, clock) -> None:
    """Two processes over one database: FOR UPDATE SKIP LOCKED hands each event to one."""
    import asyncio

    ran: list[tuple[str, str]] = []
    a = Scheduler(pool, clock, recording_registry(ran))
    b = Scheduler(pool, clock, recording_registry(ran))
    async with pool.acquire() as conn:
        for i in range(10):
            await schedule(conn, kind="test.fire", ref=f"e{i}", due_at=clock.now(), now=clock.now())
    await asyncio.gather(a.run_due(), b.run_due())
    assert sorted(r for r, _ in ran) == sorted(f"e{i}" for i in range(10))


async def test_two_processes_scheduling_the_same_event_at_once_leave_one_pending(pool, clock) -> None:
    """Several processes over one database (issue 15 item 3): every server schedules its
    sweeps at start; two starting together must not fail on ``timed_events_one_pending`` —
    the second waits for the first, then replaces its event."""
    now = clock.now()
    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction():
            await schedule(first, kind="sweep", ref="all", due_at=now, now=now)
            racing = asyncio.ensure_future(schedule(second, kind="sweep", ref="all", due_at=now, now=now))
            pid = second.get_server_pid()
            async with asyncio.timeout(10):  # the second is under way, waiting for the first's lock
                while True:  # polled: PostgreSQL tells nobody when a lock starts waiting
                    if await first.fetchval("SELECT count(*) FROM pg_locks WHERE pid = $1 AND NOT granted", pid):
                        break
                    await asyncio.sleep(0.01)
            assert not racing.done()
        await racing  # not a UniqueViolationError
        rows = await second.fetch("SELECT status FROM timed_events WHERE kind = 'sweep' AND ref = 'all'")
    assert sorted(r["status"] for r in rows) == ["cancelled", "pending"]
