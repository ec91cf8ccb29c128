"""The live quota-session engine: sessions in memory, one writer, a group-commit log.

Theory of operation
===================

A quota session (``auction.quota``) is one ``QuotaBook`` in memory, owned by this process and
keyed by its session id — nothing else is global, so a session can move to another process
as a unit. Owning a session means holding its PostgreSQL advisory lock
(``QUOTA_LOCK_CLASS``, session id) on the writer's connection; a second process that loads
the same session is told ``engine_unavailable`` ("owned by another process").

Commands (a bid, admissions, the close) are judged on the event loop by
``QuotaBook.handle(command, now)`` with no ``await`` between reading the book and changing
it: the event loop is the session's single writer and the order of arrival is the order of
the log. The book therefore runs ahead of the database; every decision's rows join one
queue, and the writer task flushes the queue with **one** ``INSERT … unnest`` of many rows
and starts the next flush as soon as the previous one returns (group commit: the same
``auction.writer.GroupWriter`` as ``auction.engine``'s for lots). Only once a flush has
committed are its bids acknowledged: nobody hears of a bid that is not durable.

What watchers see. The public view (the bid count and the current lowest winning price,
never a bidder's price) is published at a fixed cadence (``publish_s``, once a second as
the real system does), and only as it stands after a committed flush: when the writer
takes a batch that empties a session's share of the queue, the book's view at that instant
is exactly the state after the batch, and it becomes the published view once the batch
has committed.

Refusals are durable like a lot's. A refused bid id joins the write queue as a refusal row
(``quota_refusals``) and rides in the same flush as the events (one statement); the bidder
hears the refusal, with its stable code (``auction.errors``), once it is durable. A repeat
of the id gets the same answer — after a restart too, never a later acceptance — and the
same id with another amount ``bid_id_reused`` (``auction.bid_ids``). The newest
``refusals_max`` are held in memory; once older ones were let go of, a new bid id is looked
up in the store first. Malformed bids (``bad_command``, ``bad_amount``) name no attempt and
are answered at once, not remembered.

A failed flush has an uncertain outcome: every session with undurable decisions answers its
pending commands ``engine_unavailable`` (send again, same bid id) and is rebuilt from its
log; a bid found there was accepted, and a repeat of its id answers the ack.

Time. The engine reads its clock once per command. Each session's close is armed on the
loop (``auction.timers``, as a lot's deadline is); the rules never trust the timer: a bid at or after the end is
refused ``closed`` and the close is logged then, at its true time. Tests with a fake clock
call ``tick()`` and ``wait_idle()``.

Limits: ``QuotaEngineSettings`` names each one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from auction.bid_ids import BidIds
from auction.errors import AuctionReason, AuctionRejected, EngineUnavailable
from auction.lot_log import RefusalRow, refusal_copy, refusal_from_row, refusal_row
from auction.model import Admit, Event, PlaceBid, Tick, event_to_dict
from auction.quota import QuotaBidAccepted, QuotaBook, QuotaConfig, rebuild_quota
from auction.tasks import TaskSet
from auction.timers import Timers
from auction.writer import GroupWriter
from trading.clock import Clock, iso_ms, utc_ms
from trading.errors import NotFound

__all__ = [
    "QUOTA_LOCK_CLASS",
    "BidAnswer",
    "LoadedSession",
    "QuotaEngine",
    "QuotaEngineSettings",
    "QuotaLogStore",
    "QuotaRow",
    "half_of",
]

log = logging.getLogger("sunlit.auction.quota")

QUOTA_LOCK_CLASS = 0x5155_4F54  # "QUOT": pg_advisory_lock(QUOTA_LOCK_CLASS, session id)

QuotaRow = tuple[int, int, datetime, str, str | None, str | None, str]
"""(session_id, seq, at, type, paddle, bid_id, data as JSON text): one row of a session's log."""

BidKey = tuple[str, str]


@dataclass(frozen=True)
class LoadedSession:
    session_id: int
    title: str
    config: QuotaConfig
    events: list[Event]
    admitted: list[str]
    """Paddles the database admitted (``quota_bidders``): any not yet in the log is logged."""
    settled: bool = False
    refusals: list[RefusalRow] = field(default_factory=list)
    """The session's refused bid ids (``quota_refusals``), oldest first: at most the newest
    ``refusals_max`` + 1 (so that the engine knows whether it has them all)."""


class QuotaLogStore(Protocol):
    """What the engine needs from the database (``auction.quota_store.PgQuotaLogStore``)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, rows: Sequence[QuotaRow], refusals: Sequence[RefusalRow] = ()) -> None:
        """Write the rows and the refused bid ids (keyed by session) in one statement;
        return once durable, raise if not."""

    async def refusal_of(self, session_id: int, paddle: str, bid_id: str) -> RefusalRow | None:
        """The stored refusal of one bid id, if any."""

    async def claim(self, session_id: int) -> bool:
        """Take the session's ownership (its advisory lock); False if another process has it."""

    async def live_session_ids(self) -> list[int]: ...

    async def load(self, session_id: int, *, refusals_max: int = 200_000) -> LoadedSession | None:
        """The session, its log, its admitted paddles, and the newest ``refusals_max`` + 1 of
        its refusals."""


class Watcher(Protocol):
    def push(self, frame: bytes) -> None: ...


@dataclass(frozen=True)
class QuotaEngineSettings:
    flush_rows_max: int = 5000
    """Rows in one INSERT; more waiting rows go in the next flush."""
    publish_s: float = 1.0
    """Cadence of the public view to watchers (0: only when ``publish()`` is called)."""
    refusals_max: int = 200_000
    """Refused bid ids held in memory per session (oldest let go first). Every refusal stays
    in ``quota_refusals``: a repeat of one let go of is looked up there before it is judged."""
    retry_after_s: float = 0.5


def half_of(config: QuotaConfig, at: datetime) -> str:
    """``before``, ``first``, ``second`` or ``ended`` at ``at``."""
    if at < config.starts_at:
        return "before"
    if at < config.half_at:
        return "first"
    return "second" if at < config.ends_at else "ended"


@dataclass(frozen=True)
class BidAnswer:
    """An accepted bid, durable, with what the bidder needs next: the half it fell in, the
    lowest winning price right after it, the window a next bid must keep to (second half),
    the revisions left."""

    session_id: int
    event: QuotaBidAccepted
    half: str
    lowest_winning_price_fen: int | None
    window: tuple[int, int] | None
    revisions_left: int

    @property
    def amount_fen(self) -> int:
        return self.event.amount_fen

    def as_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "quota_session": self.session_id,
            "bid_id": e.bid_id,
            "seq": e.seq,
            "at": iso_ms(e.at),
            "amount_fen": e.amount_fen,
            "revision": e.revision,
            "half": self.half,
            "lowest_winning_price_fen": self.lowest_winning_price_fen,
            "window": None
            if self.window is None
            else {"low_fen": self.window[0], "high_fen": self.window[1]},
            "revisions_left": self.revisions_left,
        }


@dataclass
class _Session:
    id: int
    title: str
    book: QuotaBook
    committed_seq: int
    view: dict[str, Any]
    """The public view as of the last committed flush (what watchers are shown)."""
    ids: BidIds[BidAnswer]
    """The answers of its bid ids (``auction.bid_ids``)."""
    watchers: set[Watcher] = field(default_factory=set)
    queued: int = 0
    reloading: bool = False
    close_hook_started: bool = False
    published_seq: int = -1


@dataclass
class _Pending:
    session: _Session
    rows: list[QuotaRow]
    future: asyncio.Future[Any] | None
    result: Any
    key: BidKey | None = None
    closes: bool = False
    refusal: tuple[int, AuctionRejected, RefusalRow] | None = None
    """(amount_fen, the refusal, its row) of a refused bid id, answered once durable."""


def _row(session_id: int, event: Event) -> QuotaRow:
    return (
        session_id,
        event.seq,
        event.at,
        event.type_name,
        getattr(event, "paddle", None),
        getattr(event, "bid_id", None),
        orjson.dumps(event_to_dict(event)).decode(),
    )


def _done(result: Any = None, error: BaseException | None = None) -> asyncio.Future[Any]:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)
    return fut


def _quiet(fut: asyncio.Future[Any]) -> None:
    """A fire-and-forget future: log a failure rather than leave it unretrieved."""
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("quota command failed", exc_info=fut.exception())


class QuotaEngine:
    """See the module docstring. Create, ``await start()``, use, ``await stop()``."""

    def __init__(
        self,
        store: QuotaLogStore,
        clock: Clock,
        *,
        settings: QuotaEngineSettings | None = None,
        on_closed: Callable[[int, QuotaBook], Awaitable[None]] | None = None,
        wire: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self.settings = settings or QuotaEngineSettings()
        self._on_closed = on_closed
        self._wire = wire or (lambda frame: frame)
        self._sessions: dict[int, _Session] = {}
        self._loading: dict[int, asyncio.Future[_Session]] = {}
        self._running = False
        self._tasks = TaskSet("quota engine", log)
        self._publisher: asyncio.Task[None] | None = None
        self.rows_written = 0
        self.refusals_written = 0
        self._writer: GroupWriter[_Pending] = GroupWriter(
            self._write,
            committed=self._committed,
            failed=self._failed,
            size=lambda p: len(p.rows) + (p.refusal is not None),
            rows_max=self.settings.flush_rows_max,
            fill_past_max=True,
            name="quota-writer",
        )
        self._timers: Timers[int] = Timers(self.now, self._fire)

    @property
    def flushes(self) -> int:
        return self._writer.flushes

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, rebuild every session without a result yet (a close logged but
        not yet recorded is recorded again), start the writer and the publisher."""
        await self._store.open()
        self._running = True
        self._writer.start()
        for session_id in await self._store.live_session_ids():
            try:
                await self._session(session_id)
            except EngineUnavailable:
                log.info("quota session owned elsewhere", extra={"session_id": session_id})
        if self.settings.publish_s > 0:
            self._publisher = asyncio.create_task(self._publish_loop(), name="quota-publisher")

    async def stop(self) -> None:
        self._timers.cancel_all()
        if self._publisher is not None:
            self._publisher.cancel()
            await asyncio.gather(self._publisher, return_exceptions=True)
        try:
            await asyncio.wait_for(self.wait_idle(), timeout=10)
        except TimeoutError:
            log.warning("quota engine stopped with work outstanding")
        self._running = False
        await self._writer.close()
        await self._tasks.cancel()
        await self._store.close()

    async def wait_idle(self, *, rounds_max: int = 10_000) -> None:
        """Until the queue is flushed and the after-commit tasks (recording a close) are done."""
        await self._tasks.idle(self._writer, rounds_max=rounds_max)

    # -- loading ---------------------------------------------------------------------------------

    def now(self) -> datetime:
        return utc_ms(self._clock.now())

    async def ensure(self, session_id: int) -> None:
        await self._session(session_id)

    def book(self, session_id: int) -> QuotaBook | None:
        """The book in memory (it may run ahead of the database by one flush)."""
        s = self._sessions.get(session_id)
        return None if s is None else s.book

    def view(self, session_id: int) -> dict[str, Any] | None:
        """The published (durable) public view."""
        s = self._sessions.get(session_id)
        return None if s is None else dict(s.view)

    def session_ids(self) -> list[int]:
        return sorted(self._sessions)

    async def _session(self, session_id: int) -> _Session:
        s = self._sessions.get(session_id)
        if s is not None:
            return s
        loading = self._loading.get(session_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(session_id))
            self._loading[session_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(session_id, None))
        return await asyncio.shield(loading)

    async def _load(self, session_id: int) -> _Session:
        if not await self._store.claim(session_id):
            raise EngineUnavailable(f"quota session {session_id} is owned by another process")
        loaded = await self._store.load(session_id, refusals_max=self.settings.refusals_max)
        if loaded is None:
            raise NotFound(
                f"quota session {session_id} not found",
                f"额度拍卖场次 {session_id} 不存在",
                code="quota_session_not_found",
            )
        s = self._install(loaded)
        missing = [p for p in loaded.admitted if p not in s.book.admitted]
        if missing and s.book.closed is None:
            self.admit(session_id, missing).add_done_callback(_quiet)
        return s

    def _install(self, loaded: LoadedSession) -> _Session:
        book = rebuild_quota(loaded.config, loaded.events)
        s = _Session(
            id=loaded.session_id,
            title=loaded.title,
            book=book,
            committed_seq=book.seq,
            view=self._view(loaded.session_id, book),
            ids=BidIds(self.settings.refusals_max),
        )
        for e in loaded.events:
            if isinstance(e, QuotaBidAccepted):
                s.ids.accepted[(e.paddle, e.bid_id)] = self._answer_replayed(s, e)
        s.ids.load_refusals(loaded.refusals, refusal_from_row)
        self._sessions[loaded.session_id] = s
        if book.closed is not None:
            if not loaded.settled:
                self._closed(s)
        else:
            self._arm(s)
        return s

    def _answer_replayed(self, s: _Session, e: QuotaBidAccepted) -> BidAnswer:
        """The ack of a bid read back from the log (its cutoff is the one now)."""
        config = s.book.config
        return self._answer(s, e, config)

    def _answer(self, s: _Session, e: QuotaBidAccepted, config: QuotaConfig) -> BidAnswer:
        cutoff = s.book.lowest_winning_price_fen()
        half = half_of(config, e.at)
        window = None
        if half == "second" and cutoff is not None:
            window = (cutoff - config.window_fen, cutoff + config.window_fen)
        return BidAnswer(
            session_id=s.id,
            event=e,
            half=half,
            lowest_winning_price_fen=cutoff,
            window=window,
            revisions_left=max(0, config.max_revisions - e.revision),
        )

    def _view(self, session_id: int, book: QuotaBook) -> dict[str, Any]:
        view = book.public_view()
        view["quota_session"] = session_id
        view["bid_count"] = len(book.bids)
        view.pop("session_id", None)
        return view

    # -- the close timer (auction.timers) -------------------------------------------------------

    def _arm(self, s: _Session) -> None:
        self._timers.arm(s.id, s.book.config.ends_at)

    def _fire(self, session_id: int) -> None:
        s = self._sessions.get(session_id)
        if s is None or s.book.closed is not None:
            return
        if self.now() >= s.book.config.ends_at:
            self._tick(s, self.now())
        else:
            self._arm(s)

    def tick(self, session_id: int | None = None) -> None:
        """Log the close of every session (or of one) whose end has come."""
        now = self.now()
        for s in list(self._sessions.values()):
            if session_id is None or s.id == session_id:
                self._tick(s, now)

    def _tick(self, s: _Session, now: datetime) -> None:
        if s.reloading or s.book.closed is not None or now < s.book.config.ends_at:
            return
        events = s.book.handle(Tick(), now)
        if events:
            self._enqueue(_Pending(s, [_row(s.id, e) for e in events], None, None, closes=True))

    # -- commands --------------------------------------------------------------------------------

    def place_bid(
        self,
        session_id: int,
        paddle: str,
        bid_id: str,
        amount_fen: int,
        *,
        now: datetime | None = None,
    ) -> asyncio.Future[BidAnswer]:
        """Judge a bid now; the future resolves to its ``BidAnswer`` once durable, or fails
        with ``AuctionRejected`` (at once), ``EngineUnavailable`` or ``NotFound``."""
        s = self._sessions.get(session_id)
        if s is None:
            return asyncio.ensure_future(self._bid_after_load(session_id, paddle, bid_id, amount_fen, now))
        return self._bid(s, paddle, bid_id, amount_fen, now)

    async def _bid_after_load(
        self, session_id: int, paddle: str, bid_id: str, amount_fen: int, now: datetime | None
    ) -> BidAnswer:
        s = await self._session(session_id)
        answer: BidAnswer = await self._bid(s, paddle, bid_id, amount_fen, now)
        return answer

    async def _bid_after_lookup(
        self, s: _Session, paddle: str, bid_id: str, amount_fen: int, now: datetime | None
    ) -> BidAnswer:
        """A session that let go of some refusals from memory: look the bid id up first."""
        row = await self._store.refusal_of(s.id, paddle, bid_id)
        if row is not None:
            key, amount, exc = refusal_from_row(row)
            s.ids.refuse(key, amount, exc)
        answer: BidAnswer = await self._bid(s, paddle, bid_id, amount_fen, now, looked_up=True)
        return answer

    def _bid(
        self,
        s: _Session,
        paddle: str,
        bid_id: str,
        amount_fen: int,
        now: datetime | None,
        *,
        looked_up: bool = False,
    ) -> asyncio.Future[Any]:
        key = (paddle, bid_id)
        loop = asyncio.get_running_loop()
        repeat = s.ids.repeat(loop, key, amount_fen)
        if repeat is not None:
            return asyncio.shield(repeat)  # a done answer as it is; the first's, shielded
        if s.reloading:
            return _done(error=EngineUnavailable("the session is being reloaded"))
        if s.ids.let_go and not looked_up:
            return asyncio.ensure_future(self._bid_after_lookup(s, paddle, bid_id, amount_fen, now))
        when = self.now() if now is None else utc_ms(now)
        fut: asyncio.Future[Any] = loop.create_future()
        try:
            (event,) = s.book.handle(PlaceBid(bid_id=bid_id, paddle=paddle, amount_fen=amount_fen), when)
        except AuctionRejected as exc:
            if exc.reason is AuctionReason.CLOSED:
                self._tick(s, when)
            if exc.reason in (AuctionReason.BAD_COMMAND, AuctionReason.BAD_AMOUNT):
                return _done(error=refusal_copy(exc))  # names no attempt: not remembered
            s.ids.wait(key, amount_fen, fut)
            row = refusal_row(s.id, paddle, bid_id, amount_fen, when, exc)
            self._enqueue(_Pending(s, [], fut, None, key=key, refusal=(amount_fen, exc, row)))
            return asyncio.shield(fut)
        assert isinstance(event, QuotaBidAccepted)
        answer = self._answer(s, event, s.book.config)
        s.ids.wait(key, amount_fen, fut)
        self._enqueue(_Pending(s, [_row(s.id, event)], fut, answer, key=key))
        return asyncio.shield(fut)

    def admit(self, session_id: int, paddles: Sequence[str], *, now: datetime | None = None) -> asyncio.Future[int]:
        """Log the admission of ``paddles`` (those not yet admitted); resolves to how many
        were logged, once durable."""
        s = self._sessions.get(session_id)
        if s is None:
            return asyncio.ensure_future(self._admit_after_load(session_id, paddles, now))
        return self._admit(s, paddles, now)

    def admitted_elsewhere(self, session_id: int, paddle: str) -> None:
        """``paddle`` holds an admission committed in the database (the ledger confirmed its
        deposit) that this book may not have logged yet — an admission sweep that ran in
        another process: log it now, ahead of the bid that follows."""
        s = self._sessions.get(session_id)
        if s is not None and paddle not in s.book.admitted and s.book.closed is None:
            self._admit(s, [paddle], None).add_done_callback(_quiet)

    async def _admit_after_load(
        self, session_id: int, paddles: Sequence[str], now: datetime | None
    ) -> int:
        s = await self._session(session_id)
        count: int = await self._admit(s, paddles, now)
        return count

    def _admit(self, s: _Session, paddles: Sequence[str], now: datetime | None) -> asyncio.Future[Any]:
        if s.reloading:
            return _done(error=EngineUnavailable("the session is being reloaded"))
        when = self.now() if now is None else utc_ms(now)
        events: list[Event] = []
        try:
            for paddle in paddles:
                events.extend(s.book.handle(Admit(paddle=paddle), when))
        except AuctionRejected as exc:
            if not events:
                return _done(error=refusal_copy(exc))
        if not events:
            return _done(0)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(_Pending(s, [_row(s.id, e) for e in events], fut, len(events)))
        return fut

    # -- watchers ---------------------------------------------------------------------------------

    async def subscribe(self, session_id: int, watcher: Watcher) -> dict[str, Any]:
        """Add a watcher; returns the published view to send as its snapshot."""
        s = await self._session(session_id)
        s.watchers.add(watcher)
        return {**s.view, "title": s.title, **self._terms(s.book.config)}

    def unsubscribe(self, session_id: int, watcher: Watcher) -> None:
        s = self._sessions.get(session_id)
        if s is not None:
            s.watchers.discard(watcher)

    def standing(self, session_id: int, paddle: str) -> dict[str, Any] | None:
        """A bidder's own durable standing bid (told to that bidder only)."""
        s = self._sessions.get(session_id)
        bid = None if s is None else s.book.bids.get(paddle)
        if s is None or bid is None or bid.seq > s.committed_seq:
            return None
        return {
            "amount_fen": bid.amount_fen,
            "seq": bid.seq,
            "at": iso_ms(bid.at),
            "revision": bid.revision,
            "revisions_left": max(0, s.book.config.max_revisions - bid.revision),
        }

    @staticmethod
    def _terms(config: QuotaConfig) -> dict[str, Any]:
        return {
            "starts_at": iso_ms(config.starts_at),
            "step_fen": config.step_fen,
            "window_fen": config.window_fen,
            "max_revisions": config.max_revisions,
            "min_price_fen": config.min_price_fen,
            "max_price_fen": config.ceiling_fen,
        }

    def publish(self) -> int:
        """Send every watched session's published view (``quota_status``) to its watchers,
        encoded once per session. Returns how many frames were pushed."""
        pushed = 0
        now = self.now()
        for s in self._sessions.values():
            if not s.watchers:
                continue
            frame = self._wire(
                orjson.dumps(
                    {
                        "type": "quota_status",
                        **s.view,
                        "half": half_of(s.book.config, now) if s.book.closed is None else "ended",
                        "server_time": iso_ms(now),
                    }
                )
            )
            for w in list(s.watchers):
                w.push(frame)
            pushed += len(s.watchers)
        return pushed

    async def _publish_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.publish_s)
            self.publish()

    # -- the log (auction.writer) ----------------------------------------------------------------

    def _enqueue(self, pending: _Pending) -> None:
        if not self._running:
            if pending.future is not None and not pending.future.done():
                pending.future.set_exception(EngineUnavailable("the quota engine is stopping"))
            return
        pending.session.queued += 1
        self._writer.put(pending)

    async def _write(self, batch: list[_Pending]) -> dict[int, dict[str, Any]]:
        """One flush: the batch's rows in one statement. Returns the public view of each
        session whose every queued decision is in the batch, taken before the write: the
        view as it stands after the batch, published once the batch has committed."""
        rows: list[QuotaRow] = []
        refusals: list[RefusalRow] = []
        for p in batch:
            p.session.queued -= 1
            rows.extend(p.rows)
            if p.refusal is not None:
                refusals.append(p.refusal[2])
        views = {
            s.id: self._view(s.id, s.book)
            for s in {p.session.id: p.session for p in batch}.values()
            if s.queued == 0
        }
        await self._store.append(rows, refusals)
        self.rows_written += len(rows)
        self.refusals_written += len(refusals)
        return views

    def _committed(self, batch: list[_Pending], views: dict[int, dict[str, Any]]) -> None:
        for p in batch:
            s = p.session
            if p.refusal is not None:
                assert p.key is not None
                amount_fen, exc, _row_ = p.refusal
                s.ids.inflight.pop(p.key, None)
                s.ids.refuse(p.key, amount_fen, exc)
                if p.future is not None and not p.future.done():
                    p.future.set_exception(refusal_copy(exc))
                continue
            s.committed_seq = max(s.committed_seq, p.rows[-1][1])
            if p.key is not None:
                s.ids.inflight.pop(p.key, None)
                s.ids.accepted[p.key] = p.result
            if p.future is not None and not p.future.done():
                p.future.set_result(p.result)
            if p.closes:
                self._closed(s)
        for session_id, view in views.items():
            self._sessions[session_id].view = view

    def _closed(self, s: _Session) -> None:
        """The close is durable: tell the watchers at once, and record the result."""
        frame = self._wire(orjson.dumps({"type": "quota_closed", **self._view(s.id, s.book)}))
        for w in list(s.watchers):
            w.push(frame)
        s.view = self._view(s.id, s.book)
        if self._on_closed is not None and not s.close_hook_started:
            s.close_hook_started = True
            self._tasks.spawn(self._run_close_hook(s), f"quota-closed-{s.id}")

    async def _run_close_hook(self, s: _Session) -> None:
        assert self._on_closed is not None
        try:
            await self._on_closed(s.id, s.book)
        except Exception:
            s.close_hook_started = False  # tried again on the next start or tick
            log.exception("recording a quota session's close failed", extra={"session_id": s.id})
            raise

    def _failed(
        self, batch: list[_Pending], queued: list[_Pending], exc: BaseException
    ) -> list[_Pending]:
        """A flush failed (its outcome is uncertain): every session with a decision in it or
        still queued answers them ``engine_unavailable`` and is rebuilt from its log; nothing
        stays queued."""
        log.error("quota flush failed; reloading its sessions", exc_info=exc)
        hit: dict[int, _Session] = {}
        for p in [*batch, *queued]:
            hit.setdefault(p.session.id, p.session)
            if p.key is not None:
                p.session.ids.inflight.pop(p.key, None)
            if p.future is not None and not p.future.done():
                p.future.set_exception(
                    EngineUnavailable("the bid may not have been recorded: send it again")
                )
        for s in hit.values():
            s.queued = 0
            s.reloading = True
            self._tasks.spawn(self._reload(s), f"quota-reload-{s.id}")
        return []

    async def _reload(self, s: _Session) -> None:
        while self._running:
            try:
                loaded = await self._store.load(s.id, refusals_max=self.settings.refusals_max)
            except Exception:  # the database is still away: try again
                await asyncio.sleep(self.settings.retry_after_s)
                continue
            if loaded is None:
                return
            watchers = s.watchers
            self._timers.cancel(s.id)
            fresh = self._install(loaded)
            fresh.watchers = watchers
            return

