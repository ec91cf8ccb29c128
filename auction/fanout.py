"""A lot's watchers: the live fan-out of its public events, and the resume of a client that
reconnects (``auction.engine`` decides what is published; this module delivers it).

Each lot has one ``Feed``: its watchers and the latest public frames (a ring of
``recent_max``). A frame is encoded once and put on every watcher's outlet without waiting
(``Watcher.push``). A watcher that subscribes with ``after_seq`` is resumed from the ring
when the ring still reaches back that far, else from the log (while that is read, the
frames published meanwhile are held for it, then handed over in order), else — too far
back, or more than its outlet has room for — it gets a fresh snapshot.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from auction import protocol
from auction.model import Event

__all__ = ["Fanout", "Feed", "Watcher"]

log = logging.getLogger("sunlit.auction.engine")


class Watcher(Protocol):
    """A subscriber's outlet (the gateway's client). ``push`` must not block, must not raise
    and must not call back into the engine: a client whose queue is full marks itself and
    closes later. ``room`` is how many frames it can take now: a resume that would not fit
    is coalesced into a fresh snapshot."""

    def push(self, frame: bytes) -> None: ...

    def room(self) -> int: ...


@dataclass
class Feed:
    """One lot's watchers and its latest public frames."""

    lot_id: int
    recent: deque[tuple[int, bytes]]
    """The latest public event frames (seq, frame), for resuming from memory."""
    dropped_upto: int = 0
    """The newest seq the ring has let go of: a resume after it is served from memory."""
    watchers: dict[Watcher, list[tuple[int, bytes]] | None] = field(default_factory=dict)
    """watcher → None (live) or the frames held back while its resume is read from the log."""

    def remember(self, seq: int, frame: bytes) -> None:
        recent = self.recent
        if recent.maxlen is not None and len(recent) == recent.maxlen:
            self.dropped_upto = recent[0][0]
        recent.append((seq, frame))


class Fanout:
    """Feeds for an engine's lots: one encoding of each frame, the resume rules."""

    def __init__(
        self,
        *,
        wire: Callable[[bytes], bytes],
        now: Callable[[], datetime],
        read_log: Callable[[int, int, int], Awaitable[list[tuple[int, dict[str, Any]]]]],
        recent_max: int,
        resume_from_log_max: int,
    ) -> None:
        """``wire`` turns a JSON frame into what watchers are handed; ``read_log(lot id,
        after seq, upto seq)`` the public events of a lot's log (``LogStore.public_events``)."""
        self.wire = wire
        self._now = now
        self._read_log = read_log
        self.recent_max = recent_max
        self.resume_from_log_max = resume_from_log_max

    def feed(self, lot_id: int, events: list[Event]) -> Feed:
        """A lot's feed, its ring filled from the end of its log."""
        feed = Feed(lot_id, deque(maxlen=self.recent_max))
        for event in events[-self.recent_max :]:
            if event.public:
                feed.remember(event.seq, self.wire(protocol.event_frame(lot_id, event)))
        if len(events) > self.recent_max:
            feed.dropped_upto = max(feed.dropped_upto, events[-self.recent_max - 1].seq)
        return feed

    def publish(self, feed: Feed, event: Event, data: dict[str, Any] | None = None) -> None:
        """Hand a public event (``data``: as ``event_to_dict`` encoded it, if at hand) to
        every watcher, encoded once, and keep it in the ring."""
        if data is None:
            frame = self.wire(protocol.event_frame(feed.lot_id, event))
        else:
            frame = self.wire(protocol.event_frame_from_dict(feed.lot_id, event.seq, data))
        feed.remember(event.seq, frame)
        for watcher, held in feed.watchers.items():
            if held is None:
                watcher.push(frame)
            else:
                held.append((event.seq, frame))

    async def subscribe(
        self,
        feed: Feed,
        watcher: Watcher,
        after_seq: int | None,
        committed_seq: Callable[[], int],
        snapshot: Callable[[], bytes],
    ) -> None:
        """Register ``watcher`` and push what it needs first: a snapshot (``snapshot()``: the
        lot as committed now), or (with ``after_seq``) a ``resumed`` frame and the events it
        missed — from memory, else from the log, else a fresh snapshot. Then every event in
        order."""
        feed.watchers.pop(watcher, None)
        seq = committed_seq()
        if after_seq is None or after_seq > seq:
            watcher.push(snapshot())
            feed.watchers[watcher] = None
            return
        if after_seq >= feed.dropped_upto:  # memory holds every public event after it
            missed = [frame for s, frame in feed.recent if s > after_seq]
            if len(missed) + 1 > watcher.room():
                watcher.push(snapshot())
                feed.watchers[watcher] = None
                return
            watcher.push(self._resumed(feed.lot_id, after_seq, seq, len(missed)))
            for frame in missed:
                watcher.push(frame)
            feed.watchers[watcher] = None
            return
        if seq - after_seq > min(self.resume_from_log_max, watcher.room() - 1):
            watcher.push(snapshot())
            feed.watchers[watcher] = None
            return
        held: list[tuple[int, bytes]] = []
        feed.watchers[watcher] = held
        rows: list[tuple[int, dict[str, Any]]] | None
        try:
            rows = await self._read_log(feed.lot_id, after_seq, seq)
        except Exception as exc:  # the database, unreachable or refusing: log, carry on
            log.warning(
                "resume from the log failed; sending a snapshot",
                extra={"lot_id": feed.lot_id, "error": str(exc)},
            )
            rows = None
        if feed.watchers.get(watcher) is not held:
            return  # unsubscribed meanwhile
        if rows is None or len(rows) + len(held) + 1 > watcher.room():
            watcher.push(snapshot())
            last = committed_seq()
        else:
            watcher.push(self._resumed(feed.lot_id, after_seq, seq, len(rows)))
            for s, data in rows:
                watcher.push(self.wire(protocol.event_frame_from_dict(feed.lot_id, s, data)))
            last = seq
        for s, frame in held:
            if s > last:
                watcher.push(frame)
        feed.watchers[watcher] = None

    def _resumed(self, lot_id: int, after_seq: int, seq: int, count: int) -> bytes:
        return self.wire(protocol.resumed_frame(lot_id, after_seq, seq, count, self._now()))
