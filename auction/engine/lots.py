"""Lots in memory: a live lot, its admission scope and the decisions on their way to the log;
watchers (subscribe, resume) and loading a lot from its log."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from auction import protocol
from auction.engine.ports import (
    BidKey,
    LoadedLot,
    LogRow,
    RefusalRow,
    Watcher,
    log,
    refusal_from_row,
    scope_of,
)
from auction.errors import AuctionRejected
from auction.model import BidAccepted, Decision, Event, LotState, Phase, Tick, event_to_dict
from auction.rules import decide, public_view, rebuild, recover
from trading.errors import NotFound


@dataclass
class _Scope:
    key: str
    by_org: dict[int, str]
    paddles: set[str]
    unknown: set[str] = field(default_factory=set)
    """Paddles looked up in the database and not found there (not read again)."""


@dataclass
class _Lot:
    id: int
    title: str
    scope: _Scope
    state: LotState
    committed: LotState
    recent: deque[tuple[int, bytes]]
    """The latest public event frames (seq, frame), for resuming from memory."""
    dropped_upto: int = 0
    """The newest seq the ring has let go of: a resume after it is served from memory."""
    watchers: dict[Watcher, list[tuple[int, bytes]] | None] = field(default_factory=dict)
    """watcher → None (live) or the frames held back while its resume is read from the log."""
    accepted: dict[BidKey, BidAccepted] = field(default_factory=dict)
    refused: OrderedDict[BidKey, tuple[int, AuctionRejected]] = field(default_factory=OrderedDict)
    refusals_let_go: bool = False
    """Some refusals are no longer in ``refused`` (the bound): a new bid id is looked up first."""
    inflight: dict[BidKey, tuple[int, asyncio.Future[Any]]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    timer_at: datetime | None = None
    reloading: bool = False
    hooks_started: set[tuple[str, int]] = field(default_factory=set)
    owned: bool = True
    """This process owns the lot (else it follows the owner's log)."""
    catch_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """One catch-up from the log at a time (a follower)."""


@dataclass
class _Pending:
    lot: _Lot
    decision: Decision | None
    """None for a refusal: the lot's state is unchanged."""
    datas: list[dict[str, Any]]
    """Each event as ``event_to_dict`` encodes it, once: for the log row and the broadcast."""
    rows: list[LogRow]
    future: asyncio.Future[Any] | None
    result: Any
    bid_key: BidKey | None = None
    refusal: tuple[int, AuctionRejected, RefusalRow] | None = None
    """(amount_fen, the refusal, its row) of a refused bid id, answered once durable."""

    @property
    def size(self) -> int:
        """Rows it adds to a flush."""
        return len(self.rows) + (self.refusal is not None)


def _row(lot_id: int, event: Event, data: dict[str, Any] | None = None) -> LogRow:
    data = event_to_dict(event) if data is None else data
    return (
        lot_id,
        event.seq,
        event.at,
        event.type_name,
        event.public,
        getattr(event, "paddle", None),
        getattr(event, "bid_id", None),
        orjson.dumps(data).decode(),
    )


def _refusal_copy(exc: AuctionRejected) -> AuctionRejected:
    """A fresh exception carrying the same answer (an exception is raised once)."""
    copy = AuctionRejected(exc.reason, details=dict(exc.details))
    copy.message_en, copy.message_zh = exc.message_en, exc.message_zh
    return copy


_HERE = object()
"""``_at_owner``: this process owns the lot now."""


def _done(
    loop: asyncio.AbstractEventLoop, result: Any = None, error: BaseException | None = None
) -> asyncio.Future[Any]:
    fut: asyncio.Future[Any] = loop.create_future()
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)
    return fut


class _LotsInMemory:
    """The engine's watchers and loading (part of ``Engine``)."""

    # -- watchers ------------------------------------------------------------------------------

    async def subscribe(
        self,
        lot_id: int,
        watcher: Watcher,
        *,
        after_seq: int | None = None,
        paddle: str | None = None,
    ) -> None:
        """Register ``watcher`` on the lot and push what it needs first: a snapshot, or
        (with ``after_seq``) a ``resumed`` frame and the events it missed — from memory,
        else from the log, else a fresh snapshot. Then every event in order."""
        lot = await self._lot(lot_id)
        lot.watchers.pop(watcher, None)
        seq = lot.committed.seq
        if after_seq is None or after_seq > seq:
            self._push_snapshot(lot, watcher, paddle)
            lot.watchers[watcher] = None
            return
        if after_seq >= lot.dropped_upto:  # memory holds every public event after it
            missed = [frame for s, frame in lot.recent if s > after_seq]
            if len(missed) + 1 > watcher.room():
                self._push_snapshot(lot, watcher, paddle)
                lot.watchers[watcher] = None
                return
            watcher.push(
                self._wire(protocol.resumed_frame(lot.id, after_seq, seq, len(missed), self.now()))
            )
            for frame in missed:
                watcher.push(frame)
            lot.watchers[watcher] = None
            return
        if seq - after_seq > min(self.settings.resume_from_log_max, watcher.room() - 1):
            self._push_snapshot(lot, watcher, paddle)
            lot.watchers[watcher] = None
            return
        held: list[tuple[int, bytes]] = []
        lot.watchers[watcher] = held
        rows: list[tuple[int, dict[str, Any]]] | None
        try:
            rows = await self._store.public_events(lot.id, after_seq, seq)
        except Exception as exc:  # the database, unreachable or refusing: log, carry on
            log.warning(
                "resume from the log failed; sending a snapshot",
                extra={"lot_id": lot.id, "error": str(exc)},
            )
            rows = None
        if lot.watchers.get(watcher) is not held:
            return  # unsubscribed meanwhile
        if rows is None or len(rows) + len(held) + 1 > watcher.room():
            self._push_snapshot(lot, watcher, paddle)
            last = lot.committed.seq
        else:
            watcher.push(
                self._wire(protocol.resumed_frame(lot.id, after_seq, seq, len(rows), self.now()))
            )
            for s, data in rows:
                watcher.push(self._wire(protocol.event_frame_from_dict(lot.id, s, data)))
            last = seq
        for s, frame in held:
            if s > last:
                watcher.push(frame)
        lot.watchers[watcher] = None

    def unsubscribe(self, lot_id: int, watcher: Watcher) -> None:
        lot = self._lots.get(lot_id)
        if lot is not None:
            lot.watchers.pop(watcher, None)

    def watcher_count(self, lot_id: int) -> int:
        lot = self._lots.get(lot_id)
        return 0 if lot is None else len(lot.watchers)

    def _push_snapshot(self, lot: _Lot, watcher: Watcher, paddle: str | None) -> None:
        view = public_view(lot.committed)
        frame = protocol.snapshot_frame(
            lot.id, view, title=lot.title, server_time=self.now(), paddle=paddle
        )
        watcher.push(self._wire(frame))

    # -- loading -------------------------------------------------------------------------------

    async def _lot(
        self, lot_id: int, *, down_since: datetime | None = None, restart: bool = False
    ) -> _Lot:
        lot = self._lots.get(lot_id)
        if lot is not None:
            return lot
        pending = self._loading.get(lot_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._loading[lot_id] = pending
            try:
                loaded = await self._load(lot_id, down_since, restart)
            except asyncio.CancelledError:
                pending.cancel()
                raise
            except Exception as exc:
                pending.set_exception(exc)
                pending.exception()  # retrieved here; every awaiting caller re-raises it
                raise
            finally:
                self._loading.pop(lot_id, None)
            pending.set_result(loaded)
        found = await pending
        if found is None:
            raise NotFound(f"no lot {lot_id}", f"标的 {lot_id} 不存在", code="lot_not_found")
        return found

    async def _load(self, lot_id: int, down_since: datetime | None, restart: bool) -> _Lot | None:
        # the lock before the log: once it is ours, the previous owner writes nothing more
        owned = bool(await self._claim([lot_id]))
        loaded = await self._store.load_lot(lot_id, refusals_max=self.settings.refusals_max)
        if loaded is None:
            return None
        key = scope_of(loaded.config, lot_id)
        scope = self._scopes.get(key)
        if scope is None:
            by_org = await self._store.load_scope(key)
            scope = self._scopes.setdefault(key, _Scope(key, by_org, set(by_org.values())))
        state = rebuild(loaded.config, loaded.events)
        lot = _Lot(
            id=lot_id,
            title=loaded.title,
            scope=scope,
            state=state,
            committed=state,
            recent=deque(maxlen=self.settings.recent_events_max),
            owned=owned,
        )
        for event in loaded.events[-self.settings.recent_events_max :]:
            if event.public:
                self._remember(lot, event.seq, self._wire(protocol.event_frame(lot_id, event)))
        if len(loaded.events) > self.settings.recent_events_max:
            lot.dropped_upto = max(
                lot.dropped_upto, loaded.events[-self.settings.recent_events_max - 1].seq
            )
        for event in loaded.events:
            if isinstance(event, BidAccepted):
                lot.accepted[(event.paddle, event.bid_id)] = event
        self._load_refusals(lot, loaded)
        self._lots[lot_id] = lot
        if owned:
            self._resume_owned(lot, down_since=down_since, restart=restart)
        return lot

    def _resume_owned(self, lot: _Lot, *, down_since: datetime | None, restart: bool) -> None:
        """A lot this process now owns, rebuilt from the log: after a restart of the whole
        platform, ``rules.recover`` (the outage policy); after a takeover, only what fell due
        meanwhile, at its true time (the countdown's end is the log's, not the takeover's)."""
        state = lot.state
        if state.phase is not Phase.CLOSED and state.phase is not Phase.SCHEDULED:
            if restart:
                decision = recover(state, self.now(), down_since=down_since)
            else:
                decision = decide(state, Tick(), self.now(), admitted=lot.scope.paddles)
            if decision.events:
                self._enqueue(lot, decision, None, decision)
        self._arm(lot)
        self._after_commit(lot)

    def _load_refusals(self, lot: _Lot, loaded: LoadedLot) -> None:
        keep = self.settings.refusals_max
        if len(loaded.refusals) > keep:
            lot.refusals_let_go = True
        for row in loaded.refusals[-keep:] if keep else []:
            key, amount, exc = refusal_from_row(row)
            lot.refused[key] = (amount, exc)

    async def _reload(self, lot: _Lot) -> None:
        """After a failed flush: rebuild the lot from its log, broadcast and answer what
        the log holds beyond what was known to be durable."""
        while self._running:
            try:
                loaded = await self._store.load_lot(
                    lot.id, refusals_max=self.settings.refusals_max
                )
                assert loaded is not None
                state = rebuild(loaded.config, loaded.events)
            except Exception as exc:  # the database, unreachable or refusing: log, carry on
                log.warning(
                    "lot reload failed; retrying", extra={"lot_id": lot.id, "error": str(exc)}
                )
                await asyncio.sleep(self.settings.retry_after_s)
                continue
            known = lot.committed.seq
            for event in loaded.events[known:]:
                self._publish(lot, event)
            self._load_refusals(lot, loaded)  # a failed flush may have made some durable
            lot.state = lot.committed = state
            lot.reloading = False
            lot.owned = self._owns(lot.id)  # a new writer connection may have lost the lock
            self._arm(lot)
            self._after_commit(lot)
            return


def rows_of(lot_id: int, events: Iterable[Event]) -> list[LogRow]:
    """The log rows of events (for stores and tests)."""
    return [_row(lot_id, e) for e in events]
