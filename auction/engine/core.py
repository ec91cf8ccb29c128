"""The ``Engine``: lifecycle, reading, commands and introspection; the rest of its methods come
from the mixins of ``lots``, ``ownership``, ``writer`` and ``timers``."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

import orjson

from auction.engine.lots import _HERE, _done, _Lot, _LotsInMemory, _Pending, _refusal_copy, _Scope
from auction.engine.ownership import _Ownership
from auction.engine.ports import (
    BidKey,
    EngineHooks,
    EngineSettings,
    LogStore,
    NotOwner,
    Peers,
    RefusalRow,
    log,
    refusal_from_row,
    refusal_to_dict,
)
from auction.engine.timers import _Timers
from auction.engine.writer import _Writer
from auction.errors import AuctionReason, AuctionRejected, EngineUnavailable
from auction.model import BidAccepted, LotState, Phase, PlaceBid
from auction.rules import decide, public_view
from trading.clock import Clock, utc_ms


class Engine(_LotsInMemory, _Ownership, _Writer, _Timers):
    """See the module docstring. Create, ``await start()``, use, ``await stop()``."""

    def __init__(
        self,
        store: LogStore,
        clock: Clock,
        *,
        settings: EngineSettings | None = None,
        hooks: EngineHooks | None = None,
        wire: Callable[[bytes], bytes] | None = None,
        peers: Peers | None = None,
    ) -> None:
        """``wire`` turns a JSON frame into what watchers are handed (the gateway passes
        ``protocol.ws_text``: each broadcast is framed once for every client). ``peers``:
        the other processes (None: this process owns every lot it loads, as long as the
        store lets it)."""
        self._store = store
        self._peers = peers
        self._sweeper: asyncio.Task[None] | None = None
        self.takeovers = 0
        self.forwarded = 0
        self.forward_retries = 0
        self.takeover_ms: deque[float] = deque(maxlen=256)
        """How long each takeover took here: from claiming the lock to the lot rebuilt from
        its log and taking commands."""
        self._wire = wire or (lambda frame: frame)
        self._clock = clock
        self.settings = settings or EngineSettings()
        self.hooks = hooks or EngineHooks()
        self._lots: dict[int, _Lot] = {}
        self._scopes: dict[str, _Scope] = {}
        self._loading: dict[int, asyncio.Future[_Lot | None]] = {}
        self._queue: deque[_Pending] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._flushing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writer: asyncio.Task[None] | None = None
        self._beater: asyncio.Task[None] | None = None
        self._running = False
        self._down_since: datetime | None = None
        self.flushes = 0
        self.rows_written = 0
        self.refusals_written = 0
        self.flush_ms: deque[float] = deque(maxlen=4096)
        """Durations of the latest flushes (the writer's commit round trips)."""

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Claim and rebuild every live lot nobody owns; recover from the outage if the
        platform was down (no other process up), else take the lots over as they stand."""
        await self._store.open()
        self._down_since = await self._store.last_heartbeat()
        peers_up = self._peers is not None and bool(await self._call_store("peers_alive", False))
        self._running = True
        self._writer = asyncio.create_task(self._write_loop(), name="auction-writer")
        self._writer.add_done_callback(self._writer_done)
        live = await self._call_store("live_lot_ids", None)
        lot_ids = await self._store.unsettled_lot_ids() if live is None else live
        for lot_id in await self._claim(lot_ids):
            await self._lot(lot_id, down_since=None if peers_up else self._down_since, restart=not peers_up)
        await self._store.heartbeat(self._clock.now())
        self._beater = asyncio.create_task(self._beat_loop(), name="auction-heartbeat")
        if self._peers is not None and hasattr(self._store, "claim"):
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="auction-sweep")

    def _writer_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.critical("the auction log writer stopped", exc_info=task.exception())

    async def _call_store(self, name: str, default: Any, *args: Any) -> Any:
        """An optional store method (a test's fake store has no ownership)."""
        method = getattr(self._store, name, None)
        return default if method is None else await method(*args)

    async def _claim(self, lot_ids: Iterable[int]) -> list[int]:
        """The lots among ``lot_ids`` this process owns once it has tried to take them."""
        ids = list(lot_ids)
        claim = getattr(self._store, "claim", None)
        return ids if claim is None else list(await claim(ids))

    def _owns(self, lot_id: int) -> bool:
        owns = getattr(self._store, "owns", None)
        return True if owns is None else bool(owns(lot_id))

    async def stop(self) -> None:
        """Stop the timers, let the writer flush what is queued, note the time (the outage
        begins now), release the store."""
        for lot in self._lots.values():
            if lot.timer is not None:
                lot.timer.cancel()
                lot.timer = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        if self._beater is not None:
            self._beater.cancel()
            await asyncio.gather(self._beater, return_exceptions=True)
            await self.beat()
        try:
            await asyncio.wait_for(self.wait_idle(), timeout=10)
        except TimeoutError:
            log.warning("auction engine stopped with work outstanding")
        self._running = False
        self._wake.set()
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._store.close()

    async def wait_idle(self, *, rounds_max: int = 10_000) -> None:
        """Until the queue is flushed and the after-commit tasks (reveal, settle) are done,
        including what those tasks queue in turn."""
        for _ in range(rounds_max):
            if self._queue or self._flushing:
                await self._idle.wait()
                await asyncio.sleep(0)
            elif self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            else:
                await asyncio.sleep(0)
                if not (self._queue or self._flushing or self._tasks):
                    return
        raise RuntimeError("the auction engine did not become idle")

    # -- reading -------------------------------------------------------------------------------

    def now(self) -> datetime:
        return utc_ms(self._clock.now())

    async def ensure(self, lot_id: int) -> None:
        """Load the lot if it exists; ``NotFound`` if not."""
        await self._lot(lot_id)

    def loaded(self, lot_id: int) -> bool:
        return lot_id in self._lots

    def state(self, lot_id: int) -> LotState | None:
        """The committed state of a lot in memory (None when not loaded)."""
        lot = self._lots.get(lot_id)
        return None if lot is None else lot.committed

    async def committed_state(self, lot_id: int) -> LotState:
        return (await self._lot(lot_id)).committed

    def lot_ids(self) -> list[int]:
        return sorted(self._lots)

    def snapshot(self, lot_id: int) -> dict[str, Any] | None:
        lot = self._lots.get(lot_id)
        return None if lot is None else public_view(lot.committed)

    def known_paddle(self, lot_id: int, org_id: int) -> str | None:
        lot = self._lots.get(lot_id)
        return None if lot is None else lot.scope.by_org.get(org_id)

    async def paddle_for(self, lot_id: int, org_id: int) -> str | None:
        """The organisation's paddle on this lot, asking the database on a miss (an
        admission made by another process)."""
        lot = await self._lot(lot_id)
        paddle = lot.scope.by_org.get(org_id)
        if paddle is None:
            paddle = await self._store.paddle_of(lot.scope.key, org_id)
            if paddle is not None:
                self.note_admission(lot.scope.key, org_id, paddle)
        return paddle

    def note_admission(self, scope: str, org_id: int, paddle: str) -> None:
        """An admission was committed (``auction_paddles``): bids from it count now."""
        held = self._scopes.get(scope)
        if held is not None:
            held.by_org[org_id] = paddle
            held.paddles.add(paddle)
            held.unknown.discard(paddle)

    # -- commands ------------------------------------------------------------------------------

    def place_bid(
        self, lot_id: int, paddle: str, bid_id: str, amount_fen: int, *, now: datetime | None = None
    ) -> asyncio.Future[BidAccepted]:
        """Judge a bid now; the future resolves to its ``BidAccepted`` once durable, or fails
        with ``AuctionRejected`` (at once), ``EngineUnavailable`` or ``NotFound``."""
        loop = asyncio.get_running_loop()
        lot = self._lots.get(lot_id)
        if lot is None:
            return asyncio.ensure_future(
                self._bid_after_load(lot_id, paddle, bid_id, amount_fen, now)
            )
        return self._bid(loop, lot, paddle, bid_id, amount_fen, now)

    async def _bid_after_load(
        self, lot_id: int, paddle: str, bid_id: str, amount_fen: int, now: datetime | None
    ) -> BidAccepted:
        lot = await self._lot(lot_id)
        result: BidAccepted = await self._bid(
            asyncio.get_running_loop(), lot, paddle, bid_id, amount_fen, now
        )
        return result

    async def _bid_after_lookup(
        self, lot: _Lot, paddle: str, bid_id: str, amount_fen: int, now: datetime | None
    ) -> BidAccepted:
        """A lot that let go of some refusals from memory: look the bid id up first."""
        row = await self._store.refusal_of(lot.id, paddle, bid_id)
        if row is not None:
            key, amount, exc = refusal_from_row(row)
            self._note_refusal(lot, key, amount, exc)
        result: BidAccepted = await self._bid(
            asyncio.get_running_loop(), lot, paddle, bid_id, amount_fen, now, looked_up=True
        )
        return result

    def _note_refusal(self, lot: _Lot, key: BidKey, amount_fen: int, exc: AuctionRejected) -> None:
        lot.refused[key] = (amount_fen, exc)
        if len(lot.refused) > self.settings.refusals_max:
            lot.refused.popitem(last=False)
            lot.refusals_let_go = True

    def _bid(
        self,
        loop: asyncio.AbstractEventLoop,
        lot: _Lot,
        paddle: str,
        bid_id: str,
        amount_fen: int,
        now: datetime | None,
        *,
        looked_up: bool = False,
    ) -> asyncio.Future[Any]:
        key = (paddle, bid_id)
        first = lot.accepted.get(key)
        if first is not None:
            if first.amount_fen != amount_fen:
                return _done(loop, error=self._reused(first.amount_fen))
            return _done(loop, first)
        refused = lot.refused.get(key)
        if refused is not None:
            amount, exc = refused
            if amount != amount_fen:
                return _done(loop, error=self._reused(amount))
            return _done(loop, error=_refusal_copy(exc))
        inflight = lot.inflight.get(key)
        if inflight is not None:
            amount, fut = inflight
            if amount != amount_fen:
                return _done(loop, error=self._reused(amount))
            return fut
        if not lot.owned:
            return asyncio.ensure_future(self._bid_at_owner(lot, paddle, bid_id, amount_fen, now))
        if lot.reloading:
            return _done(loop, error=EngineUnavailable("the lot is being reloaded"))
        if paddle not in lot.scope.paddles and paddle not in lot.scope.unknown:
            # admitted by another process since this one read the scope: read it again once
            return asyncio.ensure_future(self._bid_after_scope(lot, paddle, bid_id, amount_fen, now))
        if lot.refusals_let_go and not looked_up:
            return asyncio.ensure_future(
                self._bid_after_lookup(lot, paddle, bid_id, amount_fen, now)
            )
        when = now or self.now()
        try:
            decision = decide(
                lot.state,
                PlaceBid(bid_id=bid_id, paddle=paddle, amount_fen=amount_fen),
                when,
                admitted=lot.scope.paddles,
            )
        except AuctionRejected as exc:
            if exc.reason in (AuctionReason.BAD_COMMAND, AuctionReason.BAD_AMOUNT):
                return _done(loop, error=_refusal_copy(exc))
            refused: asyncio.Future[Any] = loop.create_future()
            lot.inflight[key] = (amount_fen, refused)
            row: RefusalRow = (
                lot.id, paddle, bid_id, amount_fen, when, exc.reason.code,
                orjson.dumps(refusal_to_dict(exc)).decode(),
            )  # fmt: skip
            self._queue.append(
                _Pending(lot, None, [], [], refused, None, key, (amount_fen, exc, row))
            )
            self._idle.clear()
            self._wake.set()
            return refused
        accepted = next(e for e in reversed(decision.events) if isinstance(e, BidAccepted))
        fut: asyncio.Future[Any] = loop.create_future()
        lot.inflight[key] = (amount_fen, fut)
        self._enqueue(lot, decision, fut, accepted, bid_key=key)
        return fut

    async def _bid_after_scope(
        self, lot: _Lot, paddle: str, bid_id: str, amount_fen: int, now: datetime | None
    ) -> BidAccepted:
        by_org = await self._store.load_scope(lot.scope.key)
        for org_id, held in by_org.items():
            self.note_admission(lot.scope.key, org_id, held)
        if paddle not in lot.scope.paddles:
            lot.scope.unknown.add(paddle)
        result: BidAccepted = await self._bid(
            asyncio.get_running_loop(), lot, paddle, bid_id, amount_fen, now
        )
        return result

    async def _bid_at_owner(
        self, lot: _Lot, paddle: str, bid_id: str, amount_fen: int, now: datetime | None
    ) -> BidAccepted:
        """A follower's bid: the owner judges it (or this process, once it has taken over)."""
        assert self._peers is not None or lot.owned
        peers = self._peers

        async def send(node_id: str) -> BidAccepted:
            assert peers is not None
            return await peers.bid(
                node_id, lot.id, paddle, bid_id, amount_fen, self.settings.forward_attempt_s
            )

        answer = await self._at_owner(lot, send)
        if answer is _HERE:
            result: BidAccepted = await self._bid(
                asyncio.get_running_loop(), lot, paddle, bid_id, amount_fen, now
            )
            return result
        assert isinstance(answer, BidAccepted)
        return answer

    async def _at_owner(self, lot: _Lot, send: Callable[[str], Awaitable[Any]]) -> Any:
        """Send a command to the lot's owner and return its answer; ``_HERE`` once this
        process owns the lot (it was free: taken over). Retried while the owner changes,
        ``forward_total_s`` at most, then ``engine_unavailable`` (send again, same bid id)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.forward_total_s
        first = True
        while True:
            if lot.owned:
                return _HERE
            if not first:
                self.forward_retries += 1
            first = False
            owner: str | None = None
            try:
                owner = await self._call_store("owner_of", None, lot.id)
                here = owner is None or (self._peers is not None and owner == self._peers.node_id)
                taken = here and await self._take_over(lot)
            except Exception as exc:  # the database, for a moment: log, ask again
                log.warning("owner lookup failed", extra={"lot_id": lot.id, "error": str(exc)})
                here = taken = False
                owner = None
            if taken:
                return _HERE
            if not here and owner is not None:
                try:
                    self.forwarded += 1
                    return await self._await_owner(lot, owner, send)
                except (NotOwner, TimeoutError, EngineUnavailable) as exc:
                    log.info(
                        "forwarded command not answered; asking again who owns the lot",
                        extra={"lot_id": lot.id, "owner": owner, "error": type(exc).__name__},
                    )
            if loop.time() >= deadline:
                raise EngineUnavailable("the lot's owner is changing over")
            await asyncio.sleep(self.settings.retry_after_s)

    # -- introspection for tests and metrics ---------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Figures for operators: lots and watchers held, the writer's flushes (how many,
        rows per flush, commit round trip of the latest ones)."""
        latest = sorted(self.flush_ms)

        def pct(p: float) -> float | None:
            return (
                round(latest[min(len(latest) - 1, int(p / 100 * len(latest)))], 3)
                if latest
                else None
            )

        return {
            "lots": len(self._lots),
            "lots_owned": sum(1 for lot in self._lots.values() if lot.owned),
            "lots_followed": sum(1 for lot in self._lots.values() if not lot.owned),
            "takeovers": self.takeovers,
            "forwarded": self.forwarded,
            "forward_retries": self.forward_retries,
            "live_lots": sum(
                1 for lot in self._lots.values() if lot.committed.phase is not Phase.CLOSED
            ),
            "watchers": sum(len(lot.watchers) for lot in self._lots.values()),
            "queued": len(self._queue),
            "flushes": self.flushes,
            "rows_written": self.rows_written,
            "rows_per_flush": round(self.rows_written / self.flushes, 2) if self.flushes else None,
            "flush_ms_p50": pct(50),
            "flush_ms_p99": pct(99),
        }
