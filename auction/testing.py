"""Test support: an in-memory ``LogStore`` for the engine (a fake, not a mock) and a watcher
that records frames. Used by the unit tests; no production code imports it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from auction.engine import LoadedLot, LogRow, RefusalRow
from auction.model import LotConfig, event_from_dict


class FlushFailed(ConnectionError):
    """The fake's stand-in for a lost connection during a flush."""


class FakeLogStore:
    """Lots, their logs and paddles in dicts. ``gate`` (an ``asyncio.Event``) holds every
    flush until set; ``fail_next`` makes the next flush fail ``"before"`` writing (nothing
    durable) or ``"after"`` writing (durable, but the engine cannot know)."""

    def __init__(self) -> None:
        self.configs: dict[int, tuple[str, LotConfig]] = {}
        self.rows: dict[int, list[LogRow]] = {}
        self.refusals: dict[tuple[int, str, str], RefusalRow] = {}
        self.paddles: dict[str, dict[int, str]] = {}
        self.beat: datetime | None = None
        self.flush_sizes: list[int] = []
        self.gate: asyncio.Event | None = None
        self.fail_next: str | None = None
        self.unreachable = False
        self.opened = 0

    # -- set-up helpers --------------------------------------------------------------------

    def add_lot(self, lot_id: int, config: LotConfig, title: str = "") -> None:
        self.configs[lot_id] = (title or f"lot {lot_id}", config)
        self.rows.setdefault(lot_id, [])

    def admit(self, scope: str, org_id: int, paddle: str) -> None:
        self.paddles.setdefault(scope, {})[org_id] = paddle

    def events(self, lot_id: int) -> list[Any]:
        return [event_from_dict(json.loads(r[7])) for r in self.rows.get(lot_id, [])]

    # -- LogStore --------------------------------------------------------------------------

    async def open(self) -> None:
        self.opened += 1

    async def close(self) -> None:
        return None

    async def append(self, rows: Sequence[LogRow], refusals: Sequence[RefusalRow] = ()) -> None:
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        if self.unreachable:
            raise FlushFailed("database unreachable")
        fail, self.fail_next = self.fail_next, None
        if fail == "before":
            raise FlushFailed("connection lost before the commit")
        for row in rows:
            log = self.rows.setdefault(row[0], [])
            if row[1] != len(log) + 1:
                raise AssertionError(
                    f"lot {row[0]}: seq {row[1]} after {len(log)} (a gap or a duplicate)"
                )
            log.append(row)
        for refusal in refusals:
            self.refusals.setdefault(refusal[:3], refusal)
        self.flush_sizes.append(len(rows))
        if fail == "after":
            raise FlushFailed("connection lost after the commit")

    async def unsettled_lot_ids(self) -> list[int]:
        return sorted(self.configs)

    async def load_lot(self, lot_id: int, *, refusals_max: int = 50_000) -> LoadedLot | None:
        if self.unreachable:
            raise FlushFailed("database unreachable")
        if lot_id not in self.configs:
            return None
        title, config = self.configs[lot_id]
        refused = [r for k, r in self.refusals.items() if k[0] == lot_id]
        return LoadedLot(lot_id, title, config, self.events(lot_id), refused[-(refusals_max + 1) :])

    async def refusal_of(self, lot_id: int, paddle: str, bid_id: str) -> RefusalRow | None:
        return self.refusals.get((lot_id, paddle, bid_id))

    async def load_scope(self, scope: str) -> dict[int, str]:
        return dict(self.paddles.get(scope, {}))

    async def paddle_of(self, scope: str, org_id: int) -> str | None:
        return self.paddles.get(scope, {}).get(org_id)

    async def public_events(
        self, lot_id: int, after_seq: int, upto_seq: int
    ) -> list[tuple[int, dict[str, Any]]]:
        return [
            (r[1], json.loads(r[7]))
            for r in self.rows.get(lot_id, [])
            if r[4] and after_seq < r[1] <= upto_seq
        ]

    async def heartbeat(self, at: datetime) -> None:
        self.beat = at if self.beat is None else max(self.beat, at)

    async def last_heartbeat(self) -> datetime | None:
        return self.beat


class RecordingWatcher:
    """A watcher that keeps every frame, decoded."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def push(self, frame: bytes) -> None:
        self.frames.append(json.loads(frame))

    def room(self) -> int:
        return 1_000_000

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]

    def event_seqs(self) -> list[int]:
        return [f["seq"] for f in self.frames if f["type"] == "event"]
