"""The scheduler: an APScheduler 3.x ``AsyncIOScheduler`` holding one wake-up job at the time
of the earliest pending event. It stores no business state: every time lives in
``timed_events``. On start it runs everything already due (catch-up after downtime, recording
the real run time), then arms itself for the next one; a LISTEN on ``sunlit_timed_events``
re-arms it when any transaction commits a new event, in this process or another.

Tests drive ``run_due()`` directly with a fake clock; APScheduler only decides *when* to call it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from trading.calendar.events import EventContext, EventRegistry, TimedEvent
from trading.clock import Clock

log = logging.getLogger("sunlit.scheduler")

MAX_ATTEMPTS = 5
RETRY_AFTER = timedelta(seconds=30)
SAFETY_INTERVAL_S = 60
_JOB_ID = "sunlit-wake"
_CHANNEL = "sunlit_timed_events"


CATCH_UP_AFTER_S = 60.0
"""An event run later than this after its due time was missed (the server was down): the
log says it is a catch-up rather than a lateness in seconds."""


def describe_lateness(late_s: float) -> str:
    """How late a timed event ran, in words: ``on time``, ``2.5 s late``, or for a missed
    event ``as a catch-up of an event due 10 days ago``."""
    if late_s < 1:
        return "on time"
    if late_s < CATCH_UP_AFTER_S:
        return f"{late_s:.1f} s late"
    for unit_s, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if late_s >= unit_s:
            n = int(late_s // unit_s)
            return f"as a catch-up of an event due {n} {unit}{'s' if n != 1 else ''} ago"
    raise AssertionError("unreachable")  # pragma: no cover


class Scheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        registry: EventRegistry,
        *,
        listen_dsn: str | None = None,
    ) -> None:
        """``listen_dsn``: where to open the scheduler's own LISTEN connection (a dedicated
        connection, not one borrowed from the pool, so that losing it never touches the pool)."""
        self._pool = pool
        self._listen_dsn = listen_dsn
        self._clock = clock
        self._registry = registry
        self._aps: AsyncIOScheduler | None = None
        self._listener: asyncpg.Connection | None = None
        self._relisten_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._running = asyncio.Lock()

    async def start(self, *, listen: bool = True) -> list[TimedEvent]:
        """Catch up on everything already due, then arm the timer. Returns what ran."""
        ran = await self.run_due()
        self._aps = AsyncIOScheduler(timezone="UTC")
        self._aps.start()
        self._aps.add_job(self.rearm, "interval", seconds=SAFETY_INTERVAL_S, id="sunlit-safety")
        if listen and self._listen_dsn is not None:
            await self._listen()
        await self.rearm()
        return ran

    async def stop(self) -> None:
        self._stopping = True
        if self._relisten_task is not None:
            self._relisten_task.cancel()
            self._relisten_task = None
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        conn, self._listener = self._listener, None
        if conn is not None:
            await conn.close()

    async def _listen(self) -> None:
        assert self._listen_dsn is not None
        conn = await asyncpg.connect(self._listen_dsn)
        try:
            await conn.add_listener(_CHANNEL, self._on_notify)
        except BaseException:
            await conn.close()
            raise
        conn.add_termination_listener(self._on_listener_lost)
        self._listener = conn

    def _on_listener_lost(self, conn: Any) -> None:
        """PostgreSQL dropped the LISTEN connection (failover, admin): listen again, with backoff."""
        if self._stopping or self._relisten_task is not None or conn is not self._listener:
            return
        log.warning("scheduler lost its LISTEN connection; reconnecting")
        self._relisten_task = asyncio.get_running_loop().create_task(self._relisten())

    async def _relisten(self) -> None:
        lost, self._listener = self._listener, None
        if lost is not None:
            lost.terminate()
        delay_s = 0.2
        while not self._stopping:
            try:
                await self._listen()
                await self.rearm()
                break
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("scheduler LISTEN reconnect failed; retrying", extra={"error": repr(exc), "delay_s": delay_s})
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 30.0)
        self._relisten_task = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        asyncio.get_running_loop().create_task(self.rearm())

    async def next_due_at(self) -> datetime | None:
        async with self._pool.acquire() as conn:
            due: datetime | None = await conn.fetchval(
                "SELECT min(due_at) FROM timed_events WHERE status = 'pending'"
            )
            return due

    async def rearm(self) -> None:
        if self._aps is None:
            return
        due = await self.next_due_at()
        if due is None:
            if self._aps.get_job(_JOB_ID):
                self._aps.remove_job(_JOB_ID)
            return
        # APScheduler waits in wall-clock time; the wait is measured on the injected clock, so a
        # fake clock in the past never makes the wake-up fire at once, over and over.
        wait = max(due - self._clock.now(), timedelta(0))
        self._aps.add_job(
            self._wake, "date", run_date=datetime.now(UTC) + wait, id=_JOB_ID,
            replace_existing=True, misfire_grace_time=None,
        )

    async def _wake(self) -> None:
        await self.run_due()
        await self.rearm()

    async def run_due(self) -> list[TimedEvent]:
        """Run every pending event whose time has come, earliest first, each in its own
        transaction. Returns the events that ran."""
        ran: list[TimedEvent] = []
        async with self._running:
            while True:
                event = await self._run_one()
                if event is None:
                    return ran
                ran.append(event)

    async def _run_one(self) -> TimedEvent | None:
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            r: asyncpg.Record | None = None
            try:
                r = await conn.fetchrow(
                    "SELECT * FROM timed_events WHERE status = 'pending' AND due_at <= $1 "
                    "ORDER BY due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                    now,
                )
                if r is None:
                    await tx.rollback()
                    return None
                event = TimedEvent.from_row(r)
                handler = self._registry.handler(event.kind)
                if handler is None:
                    raise LookupError(f"no handler registered for event kind {event.kind!r}")
                await handler(EventContext(conn, event, now))
                await conn.execute(
                    "UPDATE timed_events SET status = 'done', ran_at = $2, attempts = attempts + 1 WHERE id = $1",
                    event.id, now,
                )
                await tx.commit()
            except Exception as exc:  # the edge of a timed job: record, retry, never lose it
                await tx.rollback()
                if r is None:
                    raise
                await self._record_failure(conn, TimedEvent.from_row(r), now, exc)
                return TimedEvent.from_row(r)
        done = TimedEvent(**{**event.__dict__, "status": "done", "ran_at": now})
        after = self._registry.after_commit(event.kind)
        if after is not None:
            await after(done)
        late_s = (now - event.due_at).total_seconds()
        log.info(f"timed event ran {describe_lateness(late_s)}",
                 extra={"event_id": event.id, "kind": event.kind, "ref": event.ref, "late_s": late_s})
        return done

    async def _record_failure(self, conn: asyncpg.Connection, event: TimedEvent, now: datetime, exc: Exception) -> None:
        attempts = event.attempts + 1
        log.exception("timed event failed", extra={"event_id": event.id, "kind": event.kind, "attempt": attempts})
        if attempts >= MAX_ATTEMPTS:
            await conn.execute(
                "UPDATE timed_events SET status = 'failed', attempts = $2, last_error = $3, ran_at = $4 WHERE id = $1",
                event.id, attempts, repr(exc)[:500], now,
            )
        else:
            await conn.execute(
                "UPDATE timed_events SET attempts = $2, last_error = $3, due_at = $4 WHERE id = $1",
                event.id, attempts, repr(exc)[:500], now + RETRY_AFTER,
            )
