"""One pending deadline per key, on the event loop's own timer (``loop.call_at``).

Each lot (``auction.engine``) or quota session (``auction.quota_engine``) computes its own
next deadline; ``arm(key, due)`` keeps one timer for it, and ``fire(key)`` is called once it
is due. A deadline is a time of the injected clock (UTC); the delay to it is measured on that
clock when the timer is armed. The engines never trust a timer: ``fire`` only means "look
now", and the rules take what fell due at its true time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Generic, TypeVar

__all__ = ["Timers"]

K = TypeVar("K", bound=Hashable)


class Timers(Generic[K]):
    """``arm``, ``cancel``, ``cancel_all``; ``fire(key)`` runs on the loop when a deadline is due."""

    def __init__(
        self, now: Callable[[], datetime], fire: Callable[[K], None], *, slack_s: float = 0.0
    ) -> None:
        """``now``: the injected clock's time, from which each delay is measured. ``slack_s``:
        added to each delay, so that a timer fires after its deadline rather than a hair
        before it (the loop's clock and the injected one differ by rounding)."""
        self._now = now
        self._fire = fire
        self.slack_s = slack_s
        self._armed: dict[K, tuple[asyncio.TimerHandle, datetime]] = {}

    def arm(self, key: K, due: datetime | None) -> None:
        """Keep ``key``'s timer at or before ``due`` (None: no deadline, no timer). A timer
        already armed earlier is kept: it fires early, finds nothing due, and the engine arms
        again — cheaper than re-arming on every bid of a surge that moves a deadline later."""
        armed = self._armed.get(key)
        if armed is not None:
            if due is not None and armed[1] <= due:
                return
            armed[0].cancel()
            del self._armed[key]
        if due is None:
            return
        loop = asyncio.get_running_loop()
        delay_s = max(0.0, (due - self._now()).total_seconds()) + self.slack_s
        self._armed[key] = (loop.call_at(loop.time() + delay_s, self._due, key), due)

    def cancel(self, key: K) -> None:
        armed = self._armed.pop(key, None)
        if armed is not None:
            armed[0].cancel()

    def cancel_all(self) -> None:
        for handle, _due in self._armed.values():
            handle.cancel()
        self._armed.clear()

    def due_at(self, key: K) -> datetime | None:
        """The deadline ``key``'s timer is armed for, if any."""
        armed = self._armed.get(key)
        return None if armed is None else armed[1]

    def _due(self, key: K) -> None:
        self._armed.pop(key, None)
        self._fire(key)
