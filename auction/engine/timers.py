"""Timers (one pending deadline per lot) and what runs after commit: hooks, background tasks,
the heartbeat."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from auction.engine.lots import _Lot
from auction.engine.ports import log
from auction.model import LotState, Phase, RevealReserve
from auction.rules import next_deadline


class _Timers:
    """The engine's timers and after-commit work (part of ``Engine``)."""

    # -- timers --------------------------------------------------------------------------------

    def _arm(self, lot: _Lot) -> None:
        """Keep the lot's timer at or before its deadline. A bid moves the deadline later:
        the armed timer then fires early, finds nothing due, and arms again — cheaper than
        re-arming on every bid of a surge."""
        due = next_deadline(lot.state) if lot.owned else None
        if (
            lot.timer is not None
            and due is not None
            and lot.timer_at is not None
            and lot.timer_at <= due
        ):
            return
        if lot.timer is not None:
            lot.timer.cancel()
            lot.timer, lot.timer_at = None, None
        if due is None or not self._running:
            return
        loop = asyncio.get_running_loop()
        delay_s = max(0.0, (due - self._clock.now()).total_seconds()) + 0.001
        lot.timer = loop.call_at(loop.time() + delay_s, self._fire, lot.id)
        lot.timer_at = due

    def _fire(self, lot_id: int) -> None:
        lot = self._lots.get(lot_id)
        if lot is None:
            return
        lot.timer, lot.timer_at = None, None
        self._tick_lot(lot, self.now())

    # -- after commit --------------------------------------------------------------------------

    def _after_commit(self, lot: _Lot) -> None:
        state = lot.committed
        if not lot.owned or lot.state.seq != state.seq:
            return  # more is on its way; look again when it is durable
        if state.phase is Phase.AWAITING_RESERVE and self.hooks.reveal_reserve is not None:
            mark = ("reveal", state.seq)
            if mark not in lot.hooks_started and state.reserve_commitment is not None:
                lot.hooks_started.add(mark)
                self._spawn(self._reveal(lot.id, state.reserve_commitment), f"reveal-{lot.id}")
        if state.phase is Phase.CLOSED and self.hooks.lot_closed is not None:
            mark = ("closed", 0)
            if mark not in lot.hooks_started:
                lot.hooks_started.add(mark)
                self._spawn(self._settle(lot.id, state), f"settle-{lot.id}")

    async def _settle(self, lot_id: int, state: LotState) -> None:
        """Record the result, then let go of the lot's lock: a closed lot takes no more
        events (a late bid's refusal is written without it), and PostgreSQL's lock table is
        finite (``max_locks_per_transaction`` x connections) for a process that runs for months."""
        assert self.hooks.lot_closed is not None
        await self.hooks.lot_closed(lot_id, state)
        await self._call_store("release", None, lot_id)

    async def _reveal(self, lot_id: int, commitment: str) -> None:
        assert self.hooks.reveal_reserve is not None
        reserve_fen, salt = await self.hooks.reveal_reserve(lot_id, commitment)
        await self.execute(lot_id, RevealReserve(reserve_fen=reserve_fen, salt=salt))

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "auction background task %s failed", task.get_name(), exc_info=task.exception()
            )

    async def beat(self) -> None:
        """Record that the engine is alive now (after a crash, the outage began at the last beat)."""
        try:
            await self._store.heartbeat(self._clock.now())
        except Exception as exc:  # the database, unreachable or refusing: log, carry on
            log.warning("auction heartbeat failed", extra={"error": str(exc)})

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            await self.beat()
