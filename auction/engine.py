"""The live auction engine: lots in memory, one writer, a group-commit log, its own timers.

Theory of operation
===================

Each live lot is an ``auction.rules`` state machine held in memory. Commands are judged on
the event loop, one at a time, with no ``await`` between reading a lot's state and taking
the decision's new state: the event loop *is* the lot's single writer, and the order in
which commands reach ``decide`` is the order of the lot's log (A2: the server's arrival
order decides).

A lot holds two states. ``state`` includes every decision taken so far, also those whose
events are still on their way to the database; ``committed`` holds only what is durable.
Every decision's events join one queue. The writer task flushes the queue with **one**
``INSERT`` of many rows, and starts the next flush as soon as the previous one returns, so
that under load a flush carries whatever arrived while the last one was in flight (group
commit). Only once a flush has committed does the engine, for each of its decisions in
order: advance ``committed``, broadcast the public events (encoded once, put on every
watcher's queue without waiting), and answer the command (a bid's ack). Nobody ever sees
an event that is not durable.

If a flush fails, its outcome is uncertain (a lost connection may hide a commit), so every
lot with undurable decisions is marked *reloading*: its pending commands are answered
``engine_unavailable`` (send again, same bid id), and the lot is rebuilt from its log in
the database as soon as that is reachable; events found there that were never broadcast
are broadcast then, and their bids answered as the first answer to a repeat.

Bid ids. A bidder's ``(paddle, bid_id)`` names one attempt. The engine remembers the answer
(the accepted event, from the log, or the refusal, from ``auction_refusals``) and answers a
repeat with it; the same id with another amount is ``bid_id_reused``. A repeat while the
first is in flight waits for the same answer. Refusals are durable like acceptances: a
refusal joins the write queue as a refusal row and rides in the same flush as the events
(one statement), and the bidder hears it only once it is durable — so a repeat of a refused
id, after a restart too, answers the same refusal, never a later acceptance. Malformed bids
(``bad_command``, ``bad_amount``) are not remembered: they name no attempt.

Time. The engine reads its clock (``app[keys.CLOCK]``) once per decision. Each lot has at
most one pending deadline (``rules.next_deadline``); the engine arms ``loop.call_at`` for
it and sends ``Tick`` when it fires. Tests with a fake clock call ``tick()`` after moving
the clock and ``wait_idle()`` to let the writer finish. The rules never trust the timer:
any command first takes the deadlines that fell due, at their true times.

Restart. ``start()`` reads the heartbeat (when the platform was last known alive),
claims and rebuilds every live lot nobody owns from its log, and — when no other process
was up meanwhile — lets ``rules.recover`` take what fell due during the outage (a countdown
that ran out closes at its true end) and apply the outage policy to a countdown still
running, recorded in the log. Lots created later (by another process, e.g. ``sunlit demo
load``) are loaded on first use.

Ownership (several processes over one database). A lot is *owned* by the process holding
its advisory lock; only the owner judges commands, writes the log, arms timers and runs
hooks. Another process holds the lot as a *follower*: the same ``_Lot``, its state folded
(``rules.apply``) from the log as the owner's commits are announced (``on_log``), its
watchers fed the same frames in the same order. A command at a follower is forwarded to the
owner and answered with the owner's answer (bid ids make a repeat harmless); a lot left
without an owner is taken over — rebuilt from the log, taking what fell due at its true
time (a takeover moves no deadline). ``auction.following`` has this process's part,
``auction.ownership`` the whole story.

Admission lives outside the lot's log: the ``auction_paddles`` table, held in memory per
scope (a land lot, or a whole plate session) and passed to ``decide(admitted=...)``.

Hooks (``EngineHooks``) run after commit, in background tasks the engine owns: revealing
the sealed reserve when bidding ends (``AWAITING_RESERVE``), and settling a closed lot
(result row, audit entry, notices).

Limits: ``EngineSettings`` names every one (rows per flush, events kept for resume,
remembered refusals per lot, heartbeat period).

Collaborators. ``Engine`` keeps the lots and takes every decision. It owns one object of
each kind below, each in its own module with a small interface (constructor arguments and
callbacks); none of them decides anything about a lot:

- ``auction.writer.GroupWriter``: the queue and the writer task; it calls ``_write`` (one
  ``LogStore.append``), then ``_committed`` or ``_failed``.
- ``auction.timers.Timers``: one ``loop.call_at`` per lot; it calls ``_fire`` (→ ``Tick``).
- ``auction.following.Following``: claims, forwarding, catch-up, takeovers, the sweep; it
  hands lots back through ``_lot``, ``_adopt``, ``_fold`` and ``_demote``.
- ``auction.fanout.Fanout``: each lot's watchers, frames encoded once, resume.
- ``auction.bid_ids.BidIds`` (one per lot) and ``auction.admissions.Admissions``.

The log's rows and the store's interface (``LogStore``) are in ``auction.lot_log``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from auction import protocol
from auction.admissions import Admissions, Scope, scope_of
from auction.bid_ids import BidIds, done
from auction.errors import AuctionReason, AuctionRejected, EngineUnavailable
from auction.fanout import Fanout, Feed, Watcher
from auction.following import HERE, Following, NotOwner, Peers
from auction.lot_log import (
    BidKey,
    LoadedLot,
    LogRow,
    LogStore,
    RefusalRow,
    log_row,
    refusal_copy,
    refusal_from_row,
    refusal_row,
    refusal_to_dict,
    rows_of,
)
from auction.model import (
    BidAccepted,
    Command,
    Decision,
    Event,
    LotState,
    Phase,
    PlaceBid,
    RevealReserve,
    Tick,
    event_to_dict,
)
from auction.rules import apply, decide, next_deadline, public_view, rebuild, recover
from auction.tasks import TaskSet
from auction.timers import Timers
from auction.writer import GroupWriter
from trading.clock import Clock, utc_ms
from trading.errors import NotFound

__all__ = [
    "Engine",
    "EngineHooks",
    "NotOwner",
    "Peers",
    "EngineSettings",
    "LoadedLot",
    "LogRow",
    "RefusalRow",
    "LogStore",
    "Watcher",
    "refusal_from_row",
    "refusal_to_dict",
    "rows_of",
    "scope_of",
]

log = logging.getLogger("sunlit.auction.engine")


@dataclass
class EngineHooks:
    """After-commit work the engine starts in its own tasks."""

    reveal_reserve: Callable[[int, str], Awaitable[tuple[int, bytes] | None]] | None = None
    """(lot id, commitment) → (reserve_fen, salt): open the sealed reserve at the close; or
    None: the reserve's key is with its custodians, who have been told — the lot waits in
    ``awaiting_reserve`` until their hand-in sends ``RevealReserve`` (the hook runs again
    whenever the lot is loaded again, and then answers with a reveal stored meanwhile)."""
    lot_closed: Callable[[int, LotState], Awaitable[None]] | None = None
    """Record the result of a closed lot (idempotent: it may run again after a restart)."""


@dataclass(frozen=True)
class EngineSettings:
    flush_rows_max: int = 5000
    """Rows in one INSERT; more waiting rows go in the next flush."""
    recent_events_max: int = 2048
    """Public event frames kept per lot to resume a reconnecting client from memory."""
    resume_from_log_max: int = 20_000
    """A resume further back than this many events gets a fresh snapshot instead."""
    refusals_max: int = 50_000
    """Refused bid ids held in memory per lot (oldest let go first). Every refusal stays in
    ``auction_refusals``: a repeat of one let go of is looked up there before it is judged."""
    heartbeat_s: float = 2.0
    retry_after_s: float = 0.5
    """Wait after a failed flush or reload before trying again."""
    claim_interval_s: float = 1.0
    """How often each process looks for live lots without an owner (a takeover takes about
    this long after the owner's connection ends, plus the rebuild)."""
    forward_attempt_s: float = 3.0
    """How long a forwarded command waits for the owner's answer before asking again who
    owns the lot."""
    owner_check_s: float = 0.5
    """While a forwarded command waits, how often to check that its owner still holds the lot."""
    forward_total_s: float = 12.0
    """How long a forwarded command is retried (the owner changing over) before it is
    answered ``engine_unavailable``."""


@dataclass(slots=True)
class _Lot:
    id: int
    title: str
    scope: Scope
    """Its admissions (``auction.admissions``)."""
    state: LotState
    committed: LotState
    feed: Feed
    """Its watchers and latest public frames (``auction.fanout``)."""
    ids: BidIds[BidAccepted]
    """The answers of its bid ids (``auction.bid_ids``); once some refusals were let go of
    from memory, a new bid id is looked up in the store first."""
    reloading: bool = False
    hooks_started: set[tuple[str, int]] = field(default_factory=set)
    owned: bool = True
    """This process owns the lot (else it follows the owner's log)."""
    catch_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """One catch-up from the log at a time (a follower)."""


@dataclass(slots=True)
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


class Engine:
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
        self._wire = wire or (lambda frame: frame)
        self._clock = clock
        self.settings = s = settings or EngineSettings()
        self.hooks = hooks or EngineHooks()
        self._lots: dict[int, _Lot] = {}
        self._admissions = Admissions(store)
        self._loading: dict[int, asyncio.Future[_Lot | None]] = {}
        self._tasks = TaskSet("auction engine", log)
        self._beater: asyncio.Task[None] | None = None
        self._running = False
        self._down_since: datetime | None = None
        self.rows_written = 0
        self.refusals_written = 0
        self._writer: GroupWriter[_Pending] = GroupWriter(
            self._write,
            committed=self._committed,
            failed=self._failed,
            size=attrgetter("size"),
            rows_max=s.flush_rows_max,
            pause_after_failure_s=s.retry_after_s,
            name="auction-writer",
        )
        self._timers: Timers[int] = Timers(clock.now, self._fire, slack_s=0.001)
        self._fanout = Fanout(
            wire=self._wire,
            now=self.now,
            read_log=lambda lot_id, after, upto: self._store.public_events(lot_id, after, upto),
            recent_max=s.recent_events_max,
            resume_from_log_max=s.resume_from_log_max,
        )
        self._following: Following[_Lot] = Following(
            store,
            peers,
            self._lots,
            load=self._lot,
            adopt=self._adopt,
            fold=self._fold,
            demote=self._demote,
            spawn=self._tasks.spawn,
            refusals_max=s.refusals_max,
            retry_after_s=s.retry_after_s,
            claim_interval_s=s.claim_interval_s,
            forward_attempt_s=s.forward_attempt_s,
            owner_check_s=s.owner_check_s,
            forward_total_s=s.forward_total_s,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Claim and rebuild every live lot nobody owns; recover from the outage if the
        platform was down (no other process up), else take the lots over as they stand."""
        await self._store.open()
        self._down_since = await self._store.last_heartbeat()
        peers_up = await self._following.peers_alive()
        self._running = True
        self._writer.start()
        live = await self._following.live_lot_ids()
        lot_ids = await self._store.unsettled_lot_ids() if live is None else live
        for lot_id in await self._following.claim(lot_ids):
            await self._lot(lot_id, down_since=None if peers_up else self._down_since, restart=not peers_up)
        await self._store.heartbeat(self._clock.now())
        self._beater = asyncio.create_task(self._beat_loop(), name="auction-heartbeat")
        self._following.start()

    async def stop(self) -> None:
        """Stop the timers, let the writer flush what is queued, note the time (the outage
        begins now), release the store."""
        self._timers.cancel_all()
        await self._following.stop()
        if self._beater is not None:
            self._beater.cancel()
            await asyncio.gather(self._beater, return_exceptions=True)
            await self.beat()
        try:
            await asyncio.wait_for(self.wait_idle(), timeout=10)
        except TimeoutError:
            log.warning("auction engine stopped with work outstanding")
        self._running = False
        await self._writer.close()
        await self._tasks.cancel()
        await self._store.close()

    async def wait_idle(self, *, rounds_max: int = 10_000) -> None:
        """Until the queue is flushed and the after-commit tasks (reveal, settle) are done,
        including what those tasks queue in turn."""
        await self._tasks.idle(self._writer, rounds_max=rounds_max)

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
        return await self._admissions.paddle_for(lot.scope, org_id)

    def note_admission(self, scope: str, org_id: int, paddle: str) -> None:
        """An admission was committed (``auction_paddles``): bids from it count now."""
        self._admissions.note(scope, org_id, paddle)

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
            lot.ids.refuse(key, amount, exc)
        result: BidAccepted = await self._bid(
            asyncio.get_running_loop(), lot, paddle, bid_id, amount_fen, now, looked_up=True
        )
        return result

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
        ids = lot.ids
        answer = ids.repeat(loop, key, amount_fen)
        if answer is not None:
            return answer
        if not lot.owned:
            return asyncio.ensure_future(self._bid_at_owner(lot, paddle, bid_id, amount_fen, now))
        if lot.reloading:
            return done(loop, error=EngineUnavailable("the lot is being reloaded"))
        if paddle not in lot.scope.paddles and paddle not in lot.scope.unknown:
            # admitted by another process since this one read the scope: read it again once
            return asyncio.ensure_future(self._bid_after_scope(lot, paddle, bid_id, amount_fen, now))
        if ids.let_go and not looked_up:
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
                return done(loop, error=refusal_copy(exc))
            refused_fut: asyncio.Future[Any] = loop.create_future()
            ids.wait(key, amount_fen, refused_fut)
            row = refusal_row(lot.id, paddle, bid_id, amount_fen, when, exc)
            self._writer.put(
                _Pending(lot, None, [], [], refused_fut, None, key, (amount_fen, exc, row))
            )
            return refused_fut
        accepted = decision.events[-1]  # the bid, or the cap it reached after it
        if not isinstance(accepted, BidAccepted):
            accepted = decision.events[-2]
        fut: asyncio.Future[Any] = loop.create_future()
        ids.wait(key, amount_fen, fut)
        self._enqueue(lot, decision, fut, accepted, bid_key=key)
        return fut

    async def _bid_after_scope(
        self, lot: _Lot, paddle: str, bid_id: str, amount_fen: int, now: datetime | None
    ) -> BidAccepted:
        await self._admissions.refresh(lot.scope, paddle)
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

        answer = await self._following.at_owner(lot, send)
        if answer is HERE:
            result: BidAccepted = await self._bid(
                asyncio.get_running_loop(), lot, paddle, bid_id, amount_fen, now
            )
            return result
        assert isinstance(answer, BidAccepted)
        return answer

    async def execute(
        self, lot_id: int, command: Command, *, now: datetime | None = None
    ) -> Decision:
        """Any command (staff's, the scheduler's): decided now, returned once durable.
        Raises ``AuctionRejected`` (nothing changed), ``EngineUnavailable``, ``NotFound``."""
        if isinstance(command, PlaceBid):
            raise TypeError("bids go through place_bid (bid ids are remembered there)")
        lot = await self._lot(lot_id)
        if not lot.owned:
            peers = self._peers

            async def send(node_id: str) -> int:
                assert peers is not None
                return await peers.execute(node_id, lot.id, command, self.settings.forward_attempt_s)

            answer = await self._following.at_owner(lot, send)
            if answer is not HERE:
                await self._following.catch_up(lot, int(answer))
                return Decision(state=lot.committed, events=(), next_deadline=None)
        if lot.reloading:
            raise EngineUnavailable("the lot is being reloaded")
        decision = decide(lot.state, command, now or self.now(), admitted=lot.scope.paddles)
        if not decision.events:
            return decision
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(lot, decision, fut, decision)
        result: Decision = await fut
        return result

    async def tick(self, now: datetime | None = None) -> None:
        """Take every deadline that fell due by ``now`` (default: the clock) on every lot in
        memory, and wait until it is durable. The timers do this by themselves; tests with
        a fake clock call it after moving the clock."""
        when = now or self.now()
        for lot in list(self._lots.values()):
            due = next_deadline(lot.state) if lot.owned else None
            if due is not None and due <= when:
                self._tick_lot(lot, when)
        await self.wait_idle()

    def _tick_lot(self, lot: _Lot, now: datetime) -> None:
        if lot.reloading or not lot.owned:
            return
        decision = decide(lot.state, Tick(), now, admitted=lot.scope.paddles)
        if decision.events:
            self._enqueue(lot, decision, None, decision)
        else:
            self._arm(lot)

    # -- ownership (auction.following) ---------------------------------------------------------

    def owns(self, lot_id: int) -> bool:
        """This process owns the lot and holds it in memory."""
        lot = self._lots.get(lot_id)
        return lot is not None and lot.owned

    async def serve_bid(
        self, lot_id: int, paddle: str, bid_id: str, amount_fen: int
    ) -> BidAccepted:
        """A bid forwarded by another process: judged here if this process owns the lot
        (taking it if nobody does), else ``NotOwner``."""
        lot = await self._lot(lot_id)
        if not lot.owned:
            raise NotOwner(lot_id)
        result: BidAccepted = await self._bid(
            asyncio.get_running_loop(), lot, paddle, bid_id, amount_fen, None
        )
        return result

    async def serve_execute(self, lot_id: int, command: Command) -> int:
        """A command forwarded by another process; the lot's seq once it is durable."""
        lot = await self._lot(lot_id)
        if not lot.owned:
            raise NotOwner(lot_id)
        decision = await self.execute(lot_id, command)
        return max(decision.state.seq, lot.committed.seq)

    def on_log(self, reached: dict[int, int]) -> None:
        """Another process committed events: ``{lot id: its newest seq}`` (NOTIFY). Each
        followed lot reads what it lacks from the log, in order."""
        self._following.on_log(reached)

    def catch_up_all(self) -> None:
        """Notifications may have been missed (the listening connection was lost): read
        every followed lot's log again from where it stands."""
        self._following.catch_up_all()

    async def sweep(self) -> list[int]:
        """Take over every live lot left without an owner (its process died); let go of
        lots whose lock this process lost. Returns the lots taken over."""
        return await self._following.sweep()

    @property
    def takeovers(self) -> int:
        return self._following.takeovers

    @property
    def takeover_ms(self) -> Sequence[float]:
        """How long each takeover took here: from claiming the lock to the lot rebuilt from
        its log and taking commands."""
        return self._following.takeover_ms

    @property
    def forwarded(self) -> int:
        return self._following.forwarded

    @property
    def forward_retries(self) -> int:
        return self._following.forward_retries

    def _adopt(self, lot: _Lot, loaded: LoadedLot) -> None:
        """A followed lot taken over: rebuilt from its log (watchers get what they had not
        seen yet), then what fell due meanwhile is taken."""
        state = rebuild(loaded.config, loaded.events)
        for event in loaded.events[lot.committed.seq :]:
            self._publish(lot, event)
        lot.ids.load_refusals(loaded.refusals, refusal_from_row)
        lot.state = lot.committed = state
        lot.owned = True
        lot.reloading = False
        self._resume_owned(lot, down_since=None, restart=False)

    def _fold(self, lot: _Lot, events: Sequence[Event]) -> None:
        """A followed lot: the owner's events, read from the log, in order."""
        for event in events:
            lot.committed = lot.state = apply(lot.committed, event)
            self._publish(lot, event)

    def _demote(self, lot: _Lot) -> None:
        """This process lost the lot's lock: follow it from now on."""
        lot.owned = False
        lot.state = lot.committed
        self._arm(lot)

    # -- watchers (auction.fanout) -------------------------------------------------------------

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
        await self._fanout.subscribe(
            lot.feed,
            watcher,
            after_seq,
            lambda: lot.committed.seq,
            lambda: self._snapshot_frame(lot, paddle),
        )

    def unsubscribe(self, lot_id: int, watcher: Watcher) -> None:
        lot = self._lots.get(lot_id)
        if lot is not None:
            lot.feed.watchers.pop(watcher, None)

    def watcher_count(self, lot_id: int) -> int:
        lot = self._lots.get(lot_id)
        return 0 if lot is None else len(lot.feed.watchers)

    def _snapshot_frame(self, lot: _Lot, paddle: str | None) -> bytes:
        view = public_view(lot.committed)
        frame = protocol.snapshot_frame(
            lot.id, view, title=lot.title, server_time=self.now(), paddle=paddle
        )
        return self._wire(frame)

    def _publish(self, lot: _Lot, event: Event, data: dict[str, Any] | None = None) -> None:
        """A durable event: answer its bid (a repeat that waits), then broadcast it."""
        if isinstance(event, BidAccepted):
            lot.ids.accept((event.paddle, event.bid_id), event)
        if event.public:
            self._fanout.publish(lot.feed, event, data)

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
        owned = bool(await self._following.claim([lot_id]))
        loaded = await self._store.load_lot(lot_id, refusals_max=self.settings.refusals_max)
        if loaded is None:
            return None
        scope = await self._admissions.scope(scope_of(loaded.config, lot_id))
        state = rebuild(loaded.config, loaded.events)
        lot = _Lot(
            id=lot_id,
            title=loaded.title,
            scope=scope,
            state=state,
            committed=state,
            feed=self._fanout.feed(lot_id, loaded.events),
            ids=BidIds(self.settings.refusals_max),
            owned=owned,
        )
        for event in loaded.events:
            if isinstance(event, BidAccepted):
                lot.ids.accepted[(event.paddle, event.bid_id)] = event
        lot.ids.load_refusals(loaded.refusals, refusal_from_row)
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
            # a failed flush may have made some refusals durable
            lot.ids.load_refusals(loaded.refusals, refusal_from_row)
            lot.state = lot.committed = state
            lot.reloading = False
            lot.owned = self._following.holds(lot.id)  # a new writer connection may have lost the lock
            self._arm(lot)
            self._after_commit(lot)
            return

    # -- the log (auction.writer) --------------------------------------------------------------

    def _enqueue(
        self,
        lot: _Lot,
        decision: Decision,
        future: asyncio.Future[Any] | None,
        result: Any,
        *,
        bid_key: BidKey | None = None,
    ) -> None:
        lot.state = decision.state
        datas = [event_to_dict(e) for e in decision.events]
        rows = [log_row(lot.id, e, d) for e, d in zip(decision.events, datas, strict=True)]
        self._writer.put(_Pending(lot, decision, datas, rows, future, result, bid_key))
        self._arm(lot)

    async def _write(self, batch: list[_Pending]) -> None:
        """One flush: the batch's log rows and refusal rows in one statement."""
        rows: list[LogRow] = []
        refusals: list[RefusalRow] = []
        for item in batch:
            rows.extend(item.rows)
            if item.refusal is not None:
                refusals.append(item.refusal[2])
        await self._store.append(rows, refusals)
        self.rows_written += len(rows)
        self.refusals_written += len(refusals)

    def _committed(self, batch: list[_Pending], _written: None) -> None:
        """A flush has committed: answer every bid of it, then broadcast its events. The
        answers first, all of them: their callbacks then run before the gateway's writer,
        so each client gets one write per flush, its ack and the broadcasts together."""
        live = [item for item in batch if not item.lot.reloading]  # else the reload decides
        for item in live:
            if item.bid_key is not None:
                item.lot.ids.inflight.pop(item.bid_key, None)
            if item.refusal is not None:
                assert item.bid_key is not None
                amount_fen, exc, _row_ = item.refusal
                item.lot.ids.refuse(item.bid_key, amount_fen, exc)
                if item.future is not None and not item.future.done():
                    item.future.set_exception(refusal_copy(exc))
                continue
            assert item.decision is not None
            item.lot.committed = item.decision.state
            if item.future is not None and not item.future.done():
                item.future.set_result(item.result)
        for item in live:
            if item.decision is None:
                continue
            for event, data in zip(item.decision.events, item.datas, strict=True):
                self._publish(item.lot, event, data)
            self._after_commit(item.lot)

    def _failed(
        self, batch: list[_Pending], queued: list[_Pending], exc: BaseException
    ) -> list[_Pending]:
        """A flush failed: give up on every undurable decision (none stays queued), reload
        the lots concerned."""
        log.error(
            "auction log flush failed; reloading the lots concerned",
            extra={"error": str(exc)},
            exc_info=exc,
        )
        lots: dict[int, _Lot] = {}
        for item in [*batch, *queued]:
            lots[item.lot.id] = item.lot
            if item.future is not None and not item.future.done():
                item.future.set_exception(EngineUnavailable(type(exc).__name__))
                item.future.exception()
        for lot in lots.values():
            lot.ids.fail_waiting(lambda: EngineUnavailable(type(exc).__name__))
            lot.reloading = True
            lot.state = lot.committed
            self._timers.cancel(lot.id)
            self._tasks.spawn(self._reload(lot), f"reload-{lot.id}")
        return []

    @property
    def flushes(self) -> int:
        return self._writer.flushes

    @property
    def flush_ms(self) -> Sequence[float]:
        """Durations of the latest flushes (the writer's commit round trips)."""
        return self._writer.flush_ms

    # -- timers (auction.timers) ---------------------------------------------------------------

    def _arm(self, lot: _Lot) -> None:
        """Keep the lot's timer at or before its deadline (an owned lot's, while running)."""
        self._timers.arm(lot.id, next_deadline(lot.state) if lot.owned and self._running else None)

    def _fire(self, lot_id: int) -> None:
        lot = self._lots.get(lot_id)
        if lot is not None:
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
                self._tasks.spawn(self._reveal(lot.id, state.reserve_commitment), f"reveal-{lot.id}")
        if state.phase is Phase.CLOSED and self.hooks.lot_closed is not None:
            mark = ("closed", 0)
            if mark not in lot.hooks_started:
                lot.hooks_started.add(mark)
                self._tasks.spawn(self._settle(lot.id, state), f"settle-{lot.id}")

    async def _settle(self, lot_id: int, state: LotState) -> None:
        """Record the result, then let go of the lot's lock: a closed lot takes no more
        events (a late bid's refusal is written without it), and PostgreSQL's lock table is
        finite (``max_locks_per_transaction`` x connections) for a process that runs for months."""
        assert self.hooks.lot_closed is not None
        await self.hooks.lot_closed(lot_id, state)
        await self._following.release(lot_id)

    async def _reveal(self, lot_id: int, commitment: str) -> None:
        assert self.hooks.reveal_reserve is not None
        reveal = await self.hooks.reveal_reserve(lot_id, commitment)
        if reveal is not None:
            await self.execute(lot_id, RevealReserve(reserve_fen=reveal[0], salt=reveal[1]))

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

        lots = self._lots.values()
        return {
            "lots": len(self._lots),
            "lots_owned": sum(1 for lot in lots if lot.owned),
            "lots_followed": sum(1 for lot in lots if not lot.owned),
            "takeovers": self.takeovers,
            "forwarded": self.forwarded,
            "forward_retries": self.forward_retries,
            "live_lots": sum(1 for lot in lots if lot.committed.phase is not Phase.CLOSED),
            "watchers": sum(len(lot.feed.watchers) for lot in lots),
            "queued": len(self._writer.queue),
            "flushes": self.flushes,
            "rows_written": self.rows_written,
            "rows_per_flush": round(self.rows_written / self.flushes, 2) if self.flushes else None,
            "flush_ms_p50": pct(50),
            "flush_ms_p99": pct(99),
        }
