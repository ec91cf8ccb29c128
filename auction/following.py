"""Who judges a lot when several processes share one database, seen from one engine.

Theory of operation
===================

(``auction.ownership`` tells the whole story across processes; this is one engine's part.)

A lot is *owned* by the process that holds its advisory lock (the store's ``claim``); only
the owner judges commands, writes the log, arms timers and runs hooks. Every other process
holding the lot *follows* it: ``on_log`` hears that the owner committed up to a seq
(PostgreSQL NOTIFY), and the follower reads the events it lacks from the log
(``events_after``) and folds them into the lot in order, so a lost notification leaves no
gap. A command at a follower is forwarded to the owner (``Peers``) and answered with the
owner's answer (``at_owner``); when there is no owner (it died: its connection, and so its
locks, ended) the follower takes the lot over (``take_over``: claim, read the log, hand it
to the engine to rebuild) and judges the command itself. A forwarded command is retried for
``forward_total_s`` at most, then answered ``engine_unavailable`` (send again, same bid id).
A sweep every ``claim_interval_s`` takes over every live lot left without an owner.

Who owns a lot is asked of PostgreSQL (pg_locks) through one ``OwnerBook``: once per lot,
however many commands need it at that moment, and then remembered until a forward to that
owner fails or times out, or the lot's lock is seen free or held by another process. While
forwarded commands wait for answers, "is the owner still holding the lot" is one read of
every lot's holder per ``owner_check_s`` for the whole process (the store's ``owners``),
not one query per command: in a surge the lookups must not grow with the commands in flight,
as they share the pool with the NOTIFYs that carry the commands and their answers.

The engine keeps the lots and every decision; ``Following`` only reads a lot's ``id``,
``owned`` and ``committed.seq`` and takes its ``catch_lock``. What changes a lot it hands
back to the engine through the callbacks it was built with: ``load`` (a lot not in memory),
``adopt`` (a lot just claimed, with its log), ``fold`` (the owner's events, read from the
log), ``demote`` (this process lost the lot's lock).

A store without ownership (a test's fake) has none of ``claim``, ``owns``, ``owner_of``,
``owners``, ``release``, ``lost``, ``live_lot_ids``, ``peers_alive``: then this process owns every lot
it loads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from auction.errors import EngineUnavailable
from auction.lot_log import LoadedLot
from auction.model import BidAccepted, Command, Event, LotState

__all__ = ["HERE", "Following", "NotOwner", "OwnerBook", "Peers"]

log = logging.getLogger("sunlit.auction.engine")


class NotOwner(Exception):
    """A forwarded command reached a process that does not own the lot (any more)."""


class Peers(Protocol):
    """The other processes (``auction.ownership.Cluster``): forward a command to a lot's
    owner, by node id. Each raises the owner's domain error, ``NotOwner``, or ``TimeoutError``."""

    node_id: str

    async def bid(
        self, node_id: str, lot_id: int, paddle: str, bid_id: str, amount_fen: int, timeout_s: float
    ) -> BidAccepted: ...

    async def execute(self, node_id: str, lot_id: int, command: Command, timeout_s: float) -> int:
        """The lot's seq once the command's events are durable."""


class Followed(Protocol):
    """What ``Following`` reads of a lot the engine holds."""

    id: int
    owned: bool
    committed: LotState
    catch_lock: asyncio.Lock


L = TypeVar("L", bound=Followed)


class OwnerBook:
    """Who owns each lot (or quota session) as this process knows it, asking PostgreSQL
    as little as a surge of forwarded commands allows.

    * ``owner(key)``: the owner remembered, else one lookup (``lookup``, a pg_locks query) —
      a single flight: every command that needs the same key's owner meanwhile waits for
      that one answer. A known owner is reused until ``forget`` (a forward to it was refused,
      failed or timed out) or a check (``holder``) sees the key held by another or by nobody.
    * ``holder(key)``: who holds the key now, at most ``max_age_s`` old. With ``holders``
      (every key's holder in one pg_locks read) one read serves every command waiting on any
      owner: a thousand commands in flight cost one query per ``max_age_s``, not one each.
      Without it, one ``lookup`` per key per ``max_age_s``.

    A lookup runs in a task of its own: a command cancelled while waiting for it does not
    cancel the others' answer."""

    def __init__(
        self,
        lookup: Callable[[int], Awaitable[str | None]],
        holders: Callable[[], Awaitable[Mapping[int, str]]] | None = None,
        *,
        max_age_s: float,
    ) -> None:
        self._lookup = lookup
        self._holders = holders
        self.max_age_s = max_age_s
        self.known: dict[int, str] = {}
        self._asking: dict[int, asyncio.Task[str | None]] = {}
        self._checking: dict[int | None, asyncio.Task[Any]] = {}
        self._checked: dict[int | None, tuple[float, Any]] = {}
        """``None`` → (when read, every holder); key → (when read, its holder)."""
        self.lookups = 0
        """Queries made for one key's owner (``owner`` and ``holder`` without ``holders``)."""
        self.checks = 0
        """Reads of every holder at once."""

    async def owner(self, key: int) -> str | None:
        """The key's owner: remembered, else asked (once for all who ask meanwhile)."""
        known = self.known.get(key)
        if known is not None:
            return known
        task = self._asking.get(key)
        if task is None:
            task = self._flight(self._ask(key))
            self._asking[key] = task
            task.add_done_callback(lambda t: self._asking.pop(key, None) if self._asking.get(key) is t else None)
        return await asyncio.shield(task)

    async def _ask(self, key: int) -> str | None:
        self.lookups += 1
        started = asyncio.get_running_loop().time()
        owner = await self._lookup(key)
        self._learn(key, owner)
        if self._holders is None:
            self._checked[key] = (started, owner)
        return owner

    def _learn(self, key: int, owner: str | None) -> None:
        if owner is None:
            self.known.pop(key, None)
        else:
            self.known[key] = owner

    def forget(self, key: int, owner: str | None = None) -> None:
        """Do not reuse the key's known owner (only if it is still ``owner``, when given: a
        command may have learnt the new one meanwhile)."""
        if owner is None or self.known.get(key) == owner:
            self.known.pop(key, None)

    async def holder(self, key: int) -> str | None:
        """Who holds the key now (None: nobody), read at most ``max_age_s`` ago."""
        slot: int | None = None if self._holders is not None else key
        now = asyncio.get_running_loop().time()
        seen = self._checked.get(slot)
        if seen is None or now - seen[0] >= self.max_age_s:
            task = self._checking.get(slot)
            if task is None:
                task = self._flight(self._check(slot, now))
                self._checking[slot] = task
                task.add_done_callback(
                    lambda t: self._checking.pop(slot, None) if self._checking.get(slot) is t else None
                )
            await asyncio.shield(task)
            seen = self._checked[slot]
        if slot is None:
            holder: str | None = seen[1].get(key)
        else:
            holder = seen[1]
        return holder

    async def _check(self, slot: int | None, started: float) -> None:
        if slot is None:
            assert self._holders is not None
            self.checks += 1
            holders = dict(await self._holders())
            self._checked[None] = (started, holders)
            for key, owner in list(self.known.items()):
                if holders.get(key) != owner:
                    self._learn(key, holders.get(key))
        else:
            self.lookups += 1
            owner = await self._lookup(slot)
            self._checked[slot] = (started, owner)
            self._learn(slot, owner)

    @staticmethod
    def _flight(coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        # read its error even if every asker was cancelled (no "never retrieved" warning)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

HERE = object()
"""``at_owner``'s answer when this process owns the lot now: judge the command here."""


class Following(Generic[L]):
    """One engine's side of ownership: claim, forward, follow, take over, sweep."""

    def __init__(
        self,
        store: Any,
        peers: Peers | None,
        lots: Mapping[int, L],
        *,
        load: Callable[[int], Awaitable[Any]],
        adopt: Callable[[L, LoadedLot], None],
        fold: Callable[[L, Sequence[Event]], None],
        demote: Callable[[L], None],
        spawn: Callable[[Awaitable[Any], str], None],
        refusals_max: int,
        retry_after_s: float,
        claim_interval_s: float,
        forward_attempt_s: float,
        owner_check_s: float,
        forward_total_s: float,
    ) -> None:
        """``store``: the engine's ``LogStore`` with its optional ownership methods;
        ``lots``: the engine's lots in memory (read only). The times are
        ``EngineSettings``'s."""
        self._store = store
        self.peers = peers
        self._lots = lots
        self._load = load
        self._adopt = adopt
        self._fold = fold
        self._demote = demote
        self._spawn = spawn
        self.refusals_max = refusals_max
        self.retry_after_s = retry_after_s
        self.claim_interval_s = claim_interval_s
        self.forward_attempt_s = forward_attempt_s
        self.owner_check_s = owner_check_s
        self.forward_total_s = forward_total_s
        self._sweeper: asyncio.Task[None] | None = None
        self.takeovers = 0
        self.forwarded = 0
        self.forward_retries = 0
        self._catching: dict[int, int] = {}
        """Lots being caught up from the log, and the seq their reader is to reach."""
        self.takeover_ms: deque[float] = deque(maxlen=256)
        """How long each takeover took here: from claiming the lock to the lot rebuilt from
        its log and taking commands."""
        owners = getattr(store, "owners", None)
        self.owners = OwnerBook(
            lambda lot_id: self._call_store("owner_of", None, lot_id),
            owners,
            max_age_s=owner_check_s,
        )
        """Each lot's owner as last learnt, and the shared "is it still the owner" check."""

    # -- the store's ownership, where it has one -----------------------------------------------

    async def _call_store(self, name: str, default: Any, *args: Any) -> Any:
        """An optional store method (a test's fake store has no ownership)."""
        method = getattr(self._store, name, None)
        return default if method is None else await method(*args)

    async def claim(self, lot_ids: Iterable[int]) -> list[int]:
        """The lots among ``lot_ids`` this process owns once it has tried to take them."""
        ids = list(lot_ids)
        claim = getattr(self._store, "claim", None)
        return ids if claim is None else list(await claim(ids))

    def holds(self, lot_id: int) -> bool:
        """This process holds the lot's lock (with a store without ownership: always)."""
        owns = getattr(self._store, "owns", None)
        return True if owns is None else bool(owns(lot_id))

    async def release(self, lot_id: int) -> None:
        await self._call_store("release", None, lot_id)

    async def peers_alive(self) -> bool:
        """Another process is up on the database (none without peers)."""
        return self.peers is not None and bool(await self._call_store("peers_alive", False))

    async def live_lot_ids(self) -> list[int] | None:
        """Every live lot in the database (None: the store cannot tell)."""
        ids: list[int] | None = await self._call_store("live_lot_ids", None)
        return ids

    def start(self) -> None:
        """Sweep for lots without an owner, if there are other processes to lose them."""
        if self.peers is not None and hasattr(self._store, "claim"):
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="auction-sweep")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)

    # -- forwarding ----------------------------------------------------------------------------

    async def at_owner(self, lot: L, send: Callable[[str], Awaitable[Any]]) -> Any:
        """Send a command to the lot's owner (``send(node id)``) and return its answer;
        ``HERE`` once this process owns the lot (it was free: taken over). Retried while the
        owner changes, ``forward_total_s`` at most, then ``engine_unavailable``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.forward_total_s
        first = True
        while True:
            if lot.owned:
                return HERE
            if not first:
                self.forward_retries += 1
            first = False
            owner: str | None = None
            try:
                owner = await self.owners.owner(lot.id)
                here = owner is None or (self.peers is not None and owner == self.peers.node_id)
                if here:
                    self.owners.forget(lot.id)
                taken = here and await self.take_over(lot)
            except Exception as exc:  # the database, for a moment: log, ask again
                log.warning("owner lookup failed", extra={"lot_id": lot.id, "error": str(exc)})
                here = taken = False
                owner = None
            if taken:
                return HERE
            if not here and owner is not None:
                try:
                    self.forwarded += 1
                    return await self._await_owner(lot, owner, send)
                except (NotOwner, TimeoutError, EngineUnavailable) as exc:
                    self.owners.forget(lot.id, owner)
                    log.info(
                        "forwarded command not answered; asking again who owns the lot",
                        extra={"lot_id": lot.id, "owner": owner, "error": type(exc).__name__},
                    )
            if loop.time() >= deadline:
                raise EngineUnavailable("the lot's owner is changing over")
            await asyncio.sleep(self.retry_after_s)

    async def _await_owner(
        self, lot: L, owner: str, send: Callable[[str], Awaitable[Any]]
    ) -> Any:
        """The owner's answer; ``NotOwner`` as soon as the owner has let go of the lot (it
        died while the command was on its way: no need to wait out ``forward_attempt_s``).
        The check every ``owner_check_s`` is the book's: one read for every command waiting."""
        task = asyncio.ensure_future(send(owner))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.owner_check_s)
                if done:
                    return task.result()
                try:
                    still = await self.owners.holder(lot.id)
                except Exception as exc:  # the database, for a moment: keep waiting
                    log.warning("owner lookup failed", extra={"lot_id": lot.id, "error": str(exc)})
                    continue
                if still != owner:
                    raise NotOwner(lot.id)
        finally:
            if not task.done():
                task.cancel()

    # -- taking over ---------------------------------------------------------------------------

    async def take_over(self, lot: L) -> bool:
        """Own a lot held as a follower, if nobody else does: claim its lock, read its log and
        hand it to the engine (``adopt``: rebuild, give watchers what they had not seen, take
        what fell due meanwhile)."""
        async with lot.catch_lock:
            if lot.owned:
                return True
            if not await self.claim([lot.id]):
                return False
            started = time.perf_counter()
            try:
                loaded = await self._store.load_lot(lot.id, refusals_max=self.refusals_max)
                assert loaded is not None
                self._adopt(lot, loaded)
            except BaseException:
                await self.release(lot.id)
                raise
            self.owners.forget(lot.id)
            self.takeovers += 1
            self.takeover_ms.append((time.perf_counter() - started) * 1000)
            log.warning(
                "took over a lot whose owner is gone",
                extra={"lot_id": lot.id, "seq": lot.committed.seq, "phase": lot.committed.phase.value},
            )
            return True

    async def sweep(self) -> list[int]:
        """Take over every live lot left without an owner (its process died); let go of
        lots whose lock this process lost. Returns the lots taken over."""
        lost = getattr(self._store, "lost", None)
        for lot_id in list(lost or ()):
            lot = self._lots.get(lot_id)
            if lot is not None and lot.owned and not self.holds(lot_id):
                self._demote(lot)
            lost.discard(lot_id)
        ids = await self._call_store("live_lot_ids", [])
        fresh = [i for i in ids if not self.holds(i)]
        taken = await self.claim(fresh) if fresh else []
        for lot_id in taken:
            self.owners.forget(lot_id)
            lot = self._lots.get(lot_id)
            if lot is None:
                started = time.perf_counter()
                await self._load(lot_id)
                self.takeovers += 1
                self.takeover_ms.append((time.perf_counter() - started) * 1000)
                log.warning("took over a lot whose owner is gone", extra={"lot_id": lot_id})
            else:
                await self.take_over(lot)
        return taken

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.claim_interval_s)
            try:
                await self.sweep()
            except Exception as exc:  # the database, for a moment: log, sweep again
                log.warning("ownership sweep failed", extra={"error": str(exc)})

    # -- following -----------------------------------------------------------------------------

    def on_log(self, reached: dict[int, int]) -> None:
        """Another process committed events: ``{lot id: its newest seq}``. Each followed lot
        reads what it lacks from the log, in order."""
        for lot_id, seq in reached.items():
            lot = self._lots.get(lot_id)
            if lot is not None and not lot.owned and lot.committed.seq < seq:
                self._want(lot, seq)

    def catch_up_all(self) -> None:
        """Notifications may have been missed: read every followed lot's log again."""
        for lot in list(self._lots.values()):
            if not lot.owned:
                self._want(lot, 2**31 - 1)

    def _want(self, lot: L, upto: int) -> None:
        """Catch the lot up to ``upto``: one reader per lot at a time. A notification that
        comes while the lot is being caught up raises the reader's target instead of queuing
        a reader of its own (in a surge the owner flushes every few milliseconds: a query per
        notification per lot, each finding what the one before had read, was a follower's
        largest cost after the broadcasts)."""
        wanted = self._catching.get(lot.id)
        if wanted is not None:
            self._catching[lot.id] = max(wanted, upto)
            return
        self._catching[lot.id] = upto
        self._spawn(self._catch_up_wanted(lot), f"catch-up-{lot.id}")

    async def _catch_up_wanted(self, lot: L) -> None:
        try:
            while True:
                upto = self._catching[lot.id]
                await self.catch_up(lot, upto)
                if self._catching[lot.id] == upto:
                    return
        finally:
            del self._catching[lot.id]

    async def catch_up(self, lot: L, upto: int) -> None:
        """Fold the owner's events after the lot's committed seq, up to ``upto``."""
        async with lot.catch_lock:
            while not lot.owned and lot.committed.seq < upto:
                events = await self._store.events_after(lot.id, lot.committed.seq)
                if not events:
                    return
                self._fold(lot, events)
