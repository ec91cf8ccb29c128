"""The background tasks an engine or the cluster starts and must not lose.

Each task is kept until it is done (the event loop holds only a weak reference), its failure
is logged rather than left unretrieved, and at stop the owner waits for them (``idle``) or
cancels them (``cancel``). One ``TaskSet`` per owner: the lot engine, the quota engine, the
cluster's listener."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from auction.writer import GroupWriter

__all__ = ["TaskSet"]


class TaskSet:
    def __init__(self, what: str, log: logging.Logger) -> None:
        self._what = what
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()

    def __bool__(self) -> bool:
        return bool(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("%s task %s failed", self._what, task.get_name(), exc_info=task.exception())

    async def idle(self, writer: GroupWriter[Any], *, rounds_max: int = 10_000) -> None:
        """Until the writer's queue is flushed and every task is done, including what those
        tasks queue or start in turn."""
        for _ in range(rounds_max):
            if writer.busy:
                await writer.wait_flushed()
                await asyncio.sleep(0)
            elif self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            else:
                await asyncio.sleep(0)
                if not (writer.busy or self._tasks):
                    return
        raise RuntimeError(f"the {self._what} did not become idle")

    async def cancel(self) -> None:
        """Cancel every task and wait until each has ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
