"""Group commit: one queue, one writer task, one statement per flush.

Theory of operation
===================

An engine decides on the event loop and puts what it decided on the queue (``put``: no
``await``, no I/O). One writer task takes the queue in batches and hands each batch to
the engine's ``write`` (one statement, many rows). It starts the next flush as soon as the
previous one returns, so under load a flush carries whatever arrived while the last one
was in flight.

``write`` returns once the batch is durable, or raises. Durable: the writer calls
``committed(batch, written)`` with what ``write`` returned. Raised: the outcome is
uncertain (a lost connection may hide a commit), so the writer takes the rest of the queue
out and calls ``failed(batch, rest, exc)``; what that returns goes back on the queue, and the
writer pauses ``pause_after_failure_s`` before the next flush. Both callbacks run on the
loop, between two flushes, and must not raise: their engine answers, broadcasts and reloads
there.

``write`` runs without a pause up to its first ``await``: what it reads of its engine's
memory there is the state right after the batch was cut.

Both engines use it: ``auction.engine`` (a lot's log and refused bid ids) and
``auction.quota_engine`` (a quota session's log). Each gives its own item type, its own
``write`` and its own callbacks; the limits are parameters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

__all__ = ["GroupWriter"]

log = logging.getLogger("sunlit.auction.writer")

P = TypeVar("P")
"""One queued item: an engine's decision, answered once durable."""


class GroupWriter(Generic[P]):
    """The queue and the writer task of one engine. ``start()``, ``put()``…, ``close()``."""

    def __init__(
        self,
        write: Callable[[list[P]], Awaitable[Any]],
        *,
        committed: Callable[[list[P], Any], None],
        failed: Callable[[list[P], list[P], BaseException], Iterable[P]],
        size: Callable[[P], int],
        rows_max: int,
        fill_past_max: bool = False,
        pause_after_failure_s: float = 0.0,
        name: str = "writer",
    ) -> None:
        """``write(batch)``: write the batch in one statement, return once durable, raise if
        not. ``committed(batch, what write returned)``; ``failed(batch, rest of the queue,
        error) -> what stays queued``. ``size(item)``: rows it adds to a flush; a flush takes
        at most ``rows_max`` rows (one larger item goes alone), or with ``fill_past_max`` it
        takes items while it holds fewer than ``rows_max`` rows (the last may carry it past)."""
        self._write = write
        self._committed = committed
        self._failed = failed
        self._size = size
        self.rows_max = rows_max
        self.fill_past_max = fill_past_max
        self.pause_after_failure_s = pause_after_failure_s
        self.name = name
        self.queue: deque[P] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._flushing = False
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0
        self.flush_ms: deque[float] = deque(maxlen=4096)
        """Durations of the latest flushes (the commit round trips)."""

    def start(self) -> None:
        self._running = True
        self._task = asyncio.create_task(self._loop(), name=self.name)
        self._task.add_done_callback(self._done)

    async def close(self) -> None:
        """Flush what is queued, then end the writer task."""
        self._running = False
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def running(self) -> bool:
        return self._running

    @property
    def busy(self) -> bool:
        """Items are queued or a flush is in flight."""
        return bool(self.queue) or self._flushing

    async def wait_flushed(self) -> None:
        """Until the queue was last seen empty with no flush in flight (``busy`` may be true
        again by the time the caller runs)."""
        await self._idle.wait()

    def put(self, item: P) -> None:
        """Queue an item for the next flush (no ``await``: the hot path)."""
        self.queue.append(item)
        self._idle.clear()
        self._wake.set()

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.critical("the %s stopped", self.name, exc_info=task.exception())

    def _cut(self) -> list[P]:
        queue, size, rows_max = self.queue, self._size, self.rows_max
        batch: list[P] = []
        rows = 0
        if self.fill_past_max:
            while queue and rows < rows_max:
                item = queue.popleft()
                batch.append(item)
                rows += size(item)
        else:
            while queue and (not batch or rows + size(queue[0]) <= rows_max):
                item = queue.popleft()
                batch.append(item)
                rows += size(item)
        return batch

    async def _loop(self) -> None:
        while self._running or self.queue:
            if not self.queue:
                self._idle.set()
                self._wake.clear()
                if not self._running:
                    return
                await self._wake.wait()
                continue
            batch = self._cut()
            self._flushing = True
            started = time.perf_counter()
            try:
                written = await self._write(batch)
            except Exception as exc:  # any failure (asyncpg, OS, timeout): the outcome is uncertain
                self._flushing = False
                rest = list(self.queue)
                self.queue.clear()
                self.queue.extend(self._failed(batch, rest, exc))
                if self.pause_after_failure_s > 0:
                    await asyncio.sleep(self.pause_after_failure_s)
                continue
            self._flushing = False
            self.flush_ms.append((time.perf_counter() - started) * 1000)
            self.flushes += 1
            self._committed(batch, written)
            if not self.queue:
                self._idle.set()
