"""Several server processes over one PostgreSQL: who owns a lot, and how the others reach it.

Theory of operation
===================

Any number of ``sunlit serve`` processes (nodes) share one database. Nothing but
PostgreSQL connects them — no process needs another's address, and no consensus protocol
of our own is involved:

* **Ownership** is a session-level advisory lock, ``(LOT_LOCK_CLASS, lot id)``, held on the
  owner's writer connection (``auction.store.PgLogStore``). The first process that needs a
  lot (a bid, a watcher, a start) takes it if it is free; the lock ends with the connection,
  so a process that dies — ``kill -9``, a crash — lets go of its lots the moment PostgreSQL
  sees its socket close (a machine that vanishes: TCP keepalives, ``WRITER_SETTINGS``). The
  writer's connection is also the one that writes the log, and a flush for a lot whose lock
  it does not hold is refused; the log's primary key (lot, seq) makes a fork impossible.
  Quota sessions (``auction.quota_engine``) are owned the same way under their own class.
* **The address book** is ``auction_nodes``: each node's id and the backend pids of its
  writers. ``lock_holder`` reads pg_locks for the lock and joins the table on the pid: the
  answer is as fresh as the lock itself.
* **Fan-out.** Each flush notifies ``sunlit_auction_log`` with the (lot, seq) it reached, in
  the flush's own statement: delivered when, and only if, it commits, in commit order. A
  follower reads the events after its own seq from the log (``Engine.on_log``), so a
  notification lost or coalesced leaves no gap, a payload never nears the 8000-byte limit,
  and every process hands its watchers the same frames in the same order.
* **Forwarding.** A bid or a staff command at a process that does not own the lot is sent to
  the owner's channel ``sunlit_node_<node id>`` as a NOTIFY and answered on the sender's
  channel the same way (``Cluster.call``). Forwarding, not a redirect: clients keep one
  connection to whichever process the load balancer chose, a plate session's lots may have
  different owners, and no process needs an address the clients can reach. The cost is one
  more round trip through PostgreSQL per forwarded command (``docs/operations.md``).
* **Takeover.** When the owner is gone, any process may claim the lot: a follower on a
  forwarded command that found no owner, and every process's sweep once a second
  (``EngineSettings.claim_interval_s``). The winner rebuilds the lot from the log and takes
  what fell due meanwhile at its true time: the countdown's end is the log's. A forwarded
  command is retried while the owner changes over, then refused ``engine_unavailable``
  (send again, same bid id); bid ids make every repeat harmless — never lost, never doubled.

The message format on a node's channel (JSON, one message per NOTIFY)::

    {"c": "<call id>", "from": "<node id>", "op": "lot.bid", ...}    a call
    {"a": "<call id>", "ok": <value>}                                its answer
    {"a": "<call id>", "err": {"code": ..., "message_en": ..., ...}}  a refusal
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import typing
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import asyncpg
import orjson

from auction import quota_store, store
from auction.engine import Engine, NotOwner
from auction.errors import AuctionReason, AuctionRejected, EngineUnavailable
from auction.following import OwnerBook
from auction.model import COMMAND_TYPES, BidAccepted, Command, event_from_dict, event_to_dict
from auction.quota import quota_config_from_dict
from auction.quota_engine import QUOTA_LOCK_CLASS, QuotaEngine, half_of
from auction.tasks import TaskSet
from trading.clock import Clock, iso_ms
from trading.db import connect
from trading.errors import DomainError

__all__ = [
    "Cluster",
    "ClusterSettings",
    "Forwarded",
    "QuotaRouter",
    "QuotaRouterSettings",
    "command_from_dict",
    "command_to_dict",
]

log = logging.getLogger("sunlit.auction.ownership")

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclasses.dataclass(frozen=True)
class ClusterSettings:
    payload_max: int = store.NOTIFY_PAYLOAD_MAX
    """A forwarded command or answer larger than this is refused (a NOTIFY payload limit)."""
    relisten_max_s: float = 5.0
    """Longest wait between two attempts to listen again after the connection was lost."""
    outbox_max: int = 100_000
    """Messages waiting to be sent before a new forward is refused (the database is away)."""
    join_s: float = 12.0
    """How long a forwarded bid still unanswered is joined by its repeats (a retry after
    ``forward_attempt_s``, a client's resend after ``engine_unavailable``) instead of being
    sent again; after that (the answer was lost, e.g. the owner's listener reconnected) a
    repeat is sent anew."""


def node_channel(node_id: str) -> str:
    return f"sunlit_node_{node_id}"


# -- commands and errors on the wire -----------------------------------------------------------

_COMMANDS = {cls.__name__: cls for cls in COMMAND_TYPES}


def command_to_dict(command: Command) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(command).__name__}
    for f in dataclasses.fields(command):
        value = getattr(command, f.name)
        out[f.name] = value.hex() if isinstance(value, bytes) else value
    return out


def command_from_dict(data: dict[str, Any]) -> Command:
    cls = _COMMANDS.get(str(data.get("type")))
    if cls is None:
        raise ValueError(f"unknown command {data.get('type')!r}")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        raw = data[f.name]
        values[f.name] = bytes.fromhex(raw) if hints[f.name] is bytes else raw
    command: Command = cls(**values)
    return command


def error_to_dict(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, NotOwner):
        return {"code": "not_owner"}
    if isinstance(exc, DomainError):
        return {
            "code": exc.code,
            "status": exc.status_hint,
            "message_en": exc.message_en,
            "message_zh": exc.message_zh,
            "details": exc.details,
            "auction": isinstance(exc, AuctionRejected),
        }
    return {"code": "internal_error", "status": 500, "message_en": "internal error"}


_REASONS = {r.code: r for r in AuctionReason}


def error_from_dict(data: dict[str, Any]) -> BaseException:
    code = str(data.get("code"))
    if code == "not_owner":
        return NotOwner()
    if code == EngineUnavailable.code:
        return EngineUnavailable("the lot's owner could not record it")
    details = dict(data.get("details") or {})
    reason = _REASONS.get(code)
    if data.get("auction") and reason is not None:
        exc: DomainError = AuctionRejected(reason, details=details)
    else:
        exc = DomainError(
            str(data.get("message_en", code)),
            data.get("message_zh"),
            code=code,
            status_hint=int(data.get("status", 500)),
            details=details,
        )
    exc.message_en = str(data.get("message_en", exc.message_en))
    exc.message_zh = str(data.get("message_zh", exc.message_zh))
    return exc


_NOTIFY_MANY = "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS u(c, p)"


def _give_up(fut: asyncio.Future[Any]) -> None:
    """End a forwarded call nobody will answer any more (``TimeoutError``: ask again)."""
    if not fut.done():
        fut.set_exception(TimeoutError())
        fut.exception()  # read: no "never retrieved" warning when nobody waits for it


# -- the cluster ----------------------------------------------------------------------------------


class Cluster:
    """This process among the others (``auction.engine.Peers`` for the lots' engine).
    ``await start()`` registers the node and listens; ``attach(engine)`` serves its lots."""

    def __init__(
        self,
        dsn: str,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        settings: ClusterSettings | None = None,
        node_id: str | None = None,
    ) -> None:
        self.node_id = node_id or secrets.token_hex(8)
        self.settings = settings or ClusterSettings()
        self._dsn = dsn
        self._pool = pool
        self._clock = clock
        self._listener: asyncpg.Connection | None = None
        self._relisten: asyncio.Task[None] | None = None
        self._stopping = False
        self._calls: dict[str, asyncio.Future[Any]] = {}
        self._joinable: dict[Hashable, tuple[float, asyncio.Future[Any]]] = {}
        """Forwarded bids awaiting their answer, by (node, lot, paddle, bid id, amount): when
        first sent, and the answer's future (``call``'s ``key``)."""
        self._handlers: dict[str, Handler] = {}
        self._channels: dict[str, Callable[[str], None]] = {}
        self._on_reconnect: list[Callable[[], None]] = []
        self._outbox: list[tuple[str, str]] = []
        self._sending = False
        self._sender: asyncpg.Connection | None = None
        """The connection the NOTIFYs go out on: its own, not the pool's (no wait for a pooled
        connection behind settlements and reads in a surge, no reset round trip per batch)."""
        self._tasks = TaskSet("cluster", log)
        self._seq = 0
        self.calls_sent = 0
        self.calls_joined = 0
        """Repeats of a forwarded bid that waited for its first answer instead of sending it again."""
        self.calls_served = 0
        self.relistens = 0

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._pool.acquire() as conn:
            await store.register_node(conn, self.node_id, self._clock.now())
        self.listen(node_channel(self.node_id), self._on_message)
        await self._listen()

    async def stop(self) -> None:
        self._stopping = True
        if self._relisten is not None:
            self._relisten.cancel()
            await asyncio.gather(self._relisten, return_exceptions=True)
        conn, self._listener = self._listener, None
        if conn is not None and not conn.is_closed():
            await conn.close()
        await self._tasks.cancel()
        sender, self._sender = self._sender, None
        if sender is not None and not sender.is_closed():
            sender.terminate()  # a send cancelled mid-statement: nothing to wait for
        for fut in self._calls.values():
            if not fut.done():
                fut.set_exception(EngineUnavailable("this server is stopping"))
                fut.exception()
        try:
            async with self._pool.acquire() as conn:
                await store.drop_node(conn, self.node_id)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("could not remove this node from the registry", extra={"error": str(exc)})

    def attach(self, engine: Engine) -> None:
        """Serve forwarded lot commands with ``engine`` and feed it the others' commits."""
        self.serve("lot.bid", lambda m: self._serve_bid(engine, m))
        self.serve("lot.execute", lambda m: self._serve_execute(engine, m))
        self.listen(store.LOG_CHANNEL, lambda payload: engine.on_log(store.parse_log_payload(payload)))
        self._on_reconnect.append(engine.catch_up_all)

    def serve(self, op: str, handler: Handler) -> None:
        """Answer calls ``op`` (e.g. ``quota.bid``) with ``handler(message)``: its return
        value (JSON-ready) or the domain error it raises."""
        self._handlers[op] = handler

    def listen(self, channel: str, callback: Callable[[str], None], *, on_reconnect: Callable[[], None] | None = None) -> None:
        """Hand every NOTIFY payload on ``channel`` to ``callback`` (call before ``start``,
        or it is listened to from the next reconnection on). ``on_reconnect`` runs after the
        listening connection was lost and made again (notifications may have been missed)."""
        self._channels[channel] = callback
        if on_reconnect is not None:
            self._on_reconnect.append(on_reconnect)
        if self._listener is not None and not self._listener.is_closed():
            self._tasks.spawn(self._listener.add_listener(channel, self._notified), f"listen-{channel}")

    async def _listen(self) -> None:
        conn = await connect(self._dsn)
        try:
            for channel in self._channels:
                await conn.add_listener(channel, self._notified)
        except BaseException:
            await conn.close()
            raise
        conn.add_termination_listener(self._lost)
        self._listener = conn

    def _lost(self, conn: Any) -> None:
        if self._stopping or conn is not self._listener or self._relisten is not None:
            return
        log.warning("lost the LISTEN connection; listening again")
        self._relisten = asyncio.get_running_loop().create_task(self._listen_again())

    async def _listen_again(self) -> None:
        delay_s = 0.1
        while not self._stopping:
            try:
                await self._listen()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("listening again failed; retrying", extra={"error": str(exc)})
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, self.settings.relisten_max_s)
                continue
            self.relistens += 1
            self._relisten = None
            for _at, fut in list(self._joinable.values()):  # their answers may have been lost
                _give_up(fut)
            self._joinable.clear()
            for hook in self._on_reconnect:
                hook()
            return

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        callback = self._channels.get(channel)
        if callback is not None:
            callback(payload)

    # -- sending ------------------------------------------------------------------------------

    def _send(self, node_id: str, message: dict[str, Any]) -> None:
        self.notify(node_channel(node_id), message)

    def notify(self, channel: str, message: dict[str, Any]) -> None:
        """NOTIFY ``channel`` with ``message`` (JSON), batched with what else waits."""
        if self._stopping:
            raise EngineUnavailable("this server is stopping")
        payload = orjson.dumps(message).decode()
        if len(payload.encode()) > self.settings.payload_max:
            raise EngineUnavailable("the message is too large to forward")
        if len(self._outbox) >= self.settings.outbox_max:
            raise EngineUnavailable("too many messages waiting to be sent")
        self._outbox.append((channel, payload))
        if not self._sending:
            self._sending = True
            self._tasks.spawn(self._send_loop(), "cluster-send")

    async def _send_loop(self) -> None:
        """Send what waits, many NOTIFYs in one statement, again while more arrived."""
        try:
            while self._outbox:
                batch, self._outbox = self._outbox, []
                channels, payloads = [c for c, _ in batch], [p for _, p in batch]
                try:
                    sender = await self._sender_connection()
                    await sender.execute(_NOTIFY_MANY, channels, payloads)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    # a call then times out and is asked again; an answer lost is asked again
                    log.warning("forwarding failed", extra={"error": str(exc), "messages": len(batch)})
                    sender, self._sender = self._sender, None
                    if sender is not None:
                        sender.terminate()  # the next batch connects again
        finally:
            self._sending = False

    async def _sender_connection(self) -> asyncpg.Connection:
        if self._sender is None or self._sender.is_closed():
            self._sender = await connect(self._dsn)
        return self._sender

    async def call(
        self,
        node_id: str,
        op: str,
        args: dict[str, Any],
        timeout_s: float,
        *,
        key: Hashable | None = None,
    ) -> Any:
        """Ask node ``node_id`` to run ``op``; its answer, its error raised here, or
        ``TimeoutError``. With a ``key`` (a forwarded bid: repeats are harmless) a call
        outlives its ``timeout_s``, up to ``join_s``: a repeat with the same key meanwhile
        waits for the first one's answer instead of sending it again. In a surge a forward
        answered after ``forward_attempt_s`` is then not lost and sent once more (a second
        round trip through a busy owner, which used to multiply the load: section 6 of
        docs/benchmarks-auction.md)."""
        loop = asyncio.get_running_loop()
        if key is not None:
            held = self._joinable.get(key)
            if held is not None and not held[1].done() and loop.time() - held[0] < self.settings.join_s:
                self.calls_joined += 1
                return await asyncio.wait_for(asyncio.shield(held[1]), timeout_s)
        self._seq += 1
        call_id = f"{self.node_id}-{self._seq}"
        fut: asyncio.Future[Any] = loop.create_future()
        self._calls[call_id] = fut
        if key is None:
            try:
                self._send(node_id, {"c": call_id, "from": self.node_id, "op": op, **args})
                self.calls_sent += 1
                return await asyncio.wait_for(fut, timeout_s)
            finally:
                self._calls.pop(call_id, None)

        def done(_fut: asyncio.Future[Any]) -> None:
            if not fut.cancelled():
                fut.exception()  # read: the first waiter may have timed out, nobody joined
            self._calls.pop(call_id, None)
            if self._joinable.get(key, (0.0, None))[1] is fut:
                del self._joinable[key]

        fut.add_done_callback(done)
        self._joinable[key] = (loop.time(), fut)
        expiry = loop.call_later(self.settings.join_s, _give_up, fut)
        fut.add_done_callback(lambda _f: expiry.cancel())
        try:
            self._send(node_id, {"c": call_id, "from": self.node_id, "op": op, **args})
        except BaseException:
            _give_up(fut)
            raise
        self.calls_sent += 1
        return await asyncio.wait_for(asyncio.shield(fut), timeout_s)

    def _on_message(self, payload: str) -> None:
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("malformed message on this node's channel")
            return
        if not isinstance(message, dict):
            return
        if "a" in message:
            fut = self._calls.get(str(message["a"]))
            if fut is None or fut.done():
                return  # it timed out meanwhile: the caller asked again
            if "err" in message:
                fut.set_exception(error_from_dict(message["err"]))
            else:
                fut.set_result(message.get("ok"))
        elif "c" in message:
            self._tasks.spawn(self._serve(message), f"serve-{message.get('op')}")

    async def _serve(self, message: dict[str, Any]) -> None:
        handler = self._handlers.get(str(message.get("op")))
        answer: dict[str, Any] = {"a": message["c"]}
        try:
            if handler is None:
                raise NotOwner(f"no handler for {message.get('op')!r}")
            answer["ok"] = await handler(message)
        except (DomainError, NotOwner) as exc:
            answer["err"] = error_to_dict(exc)
        except Exception as exc:  # the edge of a forwarded call: log once, answer
            log.exception("forwarded command failed", extra={"op": message.get("op")})
            answer["err"] = error_to_dict(exc)
        self.calls_served += 1
        try:
            self._send(str(message.get("from")), answer)
        except EngineUnavailable:
            log.warning("answer not sent (outbox full); the caller will ask again")

    # -- the lots (auction.engine.Peers) ---------------------------------------------------------

    async def bid(
        self, node_id: str, lot_id: int, paddle: str, bid_id: str, amount_fen: int, timeout_s: float
    ) -> BidAccepted:
        args = {"lot": lot_id, "paddle": paddle, "bid_id": bid_id, "amount_fen": amount_fen}
        key = ("lot.bid", node_id, lot_id, paddle, bid_id, amount_fen)
        data = await self.call(node_id, "lot.bid", args, timeout_s, key=key)
        event = event_from_dict(data)
        assert isinstance(event, BidAccepted)
        return event

    async def execute(self, node_id: str, lot_id: int, command: Command, timeout_s: float) -> int:
        args = {"lot": lot_id, "command": command_to_dict(command)}
        return int(await self.call(node_id, "lot.execute", args, timeout_s))

    @staticmethod
    async def _serve_bid(engine: Engine, m: dict[str, Any]) -> dict[str, Any]:
        event = await engine.serve_bid(int(m["lot"]), str(m["paddle"]), str(m["bid_id"]), int(m["amount_fen"]))
        return event_to_dict(event)

    @staticmethod
    async def _serve_execute(engine: Engine, m: dict[str, Any]) -> int:
        return await engine.serve_execute(int(m["lot"]), command_from_dict(m["command"]))

    def stats(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "calls_sent": self.calls_sent,
            "calls_joined": self.calls_joined,
            "calls_served": self.calls_served,
            "calls_waiting": len(self._calls),
            "relistens": self.relistens,
        }


# -- quota sessions ---------------------------------------------------------------------------------

QUOTA_VIEW_CHANNEL = "sunlit_quota_view"
"""NOTIFY channel of the quota sessions' published views (``{"s": id, "view": {...}}``)."""


@dataclasses.dataclass(frozen=True)
class Forwarded:
    """A quota bid's answer from the process owning the session (``BidAnswer.as_dict``)."""

    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.data)


@dataclasses.dataclass(frozen=True)
class QuotaRouterSettings:
    attempt_s: float = 3.0
    """How long a forwarded command waits for the owner before asking again who owns it."""
    owner_check_s: float = 0.5
    """While waiting, how often to check that the owner still holds the session."""
    total_s: float = 12.0
    """How long a forwarded command is retried before ``engine_unavailable``."""
    claim_interval_s: float = 1.0
    """How often to look for live sessions without an owner (the takeover)."""
    publish_s: float = 1.0
    """How often the owner publishes each session's view to the other processes."""


class QuotaRouter:
    """Quota sessions across processes, owned like lots: the owner is the process whose
    quota engine holds the session's advisory lock (``QUOTA_LOCK_CLASS``, session id; the
    engine claims it on first use). Elsewhere a bid or an admission is forwarded to the
    owner (``Cluster``), the owner's published view (once a second) reaches every process's
    watchers through ``QUOTA_VIEW_CHANNEL``, and a sweep takes over a live session whose
    owner died: the engine rebuilds it from its log, whose close time is the session's own.
    The quota engine's store must name its writer's backend (``PgQuotaLogStore.register``)."""

    def __init__(
        self,
        engine: QuotaEngine,
        cluster: Cluster,
        pool: asyncpg.Pool,
        *,
        settings: QuotaRouterSettings | None = None,
        wire: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.engine = engine
        self.cluster = cluster
        self.settings = settings or QuotaRouterSettings()
        self._pool = pool
        self._wire = wire or (lambda frame: frame)
        self.owners = OwnerBook(self._lookup, self._holders, max_age_s=self.settings.owner_check_s)
        """Session → the node last found owning it (forgotten when it stops answering), and
        the shared check that it still does (``auction.following.OwnerBook``)."""
        self._views: dict[int, dict[str, Any]] = {}
        self._view_seen: dict[int, asyncio.Event] = {}
        self._watchers: dict[int, set[Any]] = {}
        """Watchers here of sessions owned elsewhere."""
        self._tasks: list[asyncio.Task[None]] = []
        self.forwarded = 0
        self.retries = 0
        self.takeovers = 0

    def start(self) -> None:
        self.cluster.serve("quota.bid", self._serve_bid)
        self.cluster.serve("quota.admit", self._serve_admit)
        self.cluster.listen(QUOTA_VIEW_CHANNEL, self._on_view)
        self._tasks = [
            asyncio.create_task(self._sweep_loop(), name="quota-sweep"),
            asyncio.create_task(self._publish_loop(), name="quota-view-publisher"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def owns(self, session_id: int) -> bool:
        return self.engine.book(session_id) is not None

    def view(self, session_id: int) -> dict[str, Any] | None:
        """The published view: the engine's here, else the owner's latest."""
        if self.owns(session_id):
            return self.engine.view(session_id)
        view = self._views.get(session_id)
        return None if view is None else dict(view)

    # -- commands -------------------------------------------------------------------------------

    async def place_bid(
        self, session_id: int, paddle: str, bid_id: str, amount_fen: int
    ) -> Any:
        """The ``BidAnswer`` (here) or a ``Forwarded`` one (the owner's); both ``as_dict()``."""
        args = {"paddle": paddle, "bid_id": bid_id, "amount_fen": amount_fen}
        return await self._route(
            session_id,
            lambda: self._bid_here(session_id, paddle, bid_id, amount_fen),
            "quota.bid",
            args,
            Forwarded,
        )

    def _bid_here(self, session_id: int, paddle: str, bid_id: str, amount_fen: int) -> Any:
        # the paddle was read from the database (quota_bidders): an admission another
        # process's sweep committed is logged ahead of the bid
        self.engine.admitted_elsewhere(session_id, paddle)
        return self.engine.place_bid(session_id, paddle, bid_id, amount_fen)

    async def admit(self, session_id: int, paddles: list[str]) -> int:
        return int(
            await self._route(
                session_id,
                lambda: self.engine.admit(session_id, paddles),
                "quota.admit",
                {"paddles": list(paddles)},
                int,
            )
        )

    async def _route(
        self,
        session_id: int,
        local: Callable[[], Awaitable[Any]],
        op: str,
        args: dict[str, Any],
        wrap: Callable[[Any], Any],
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.total_s
        while True:
            if self.owns(session_id):
                return await local()
            owner = await self.owners.owner(session_id)
            if owner is None or owner == self.cluster.node_id:
                self.owners.forget(session_id)
                if await self._claim(session_id):
                    continue
                owner = await self.owners.owner(session_id)
            if owner is not None and owner != self.cluster.node_id:
                try:
                    self.forwarded += 1
                    return wrap(await self._at_owner(session_id, owner, op, args))
                except (NotOwner, TimeoutError, EngineUnavailable) as exc:
                    self.owners.forget(session_id, owner)
                    self.retries += 1
                    log.info(
                        "forwarded quota command not answered; asking again who owns it",
                        extra={"session_id": session_id, "error": type(exc).__name__},
                    )
            if loop.time() >= deadline:
                raise EngineUnavailable("the quota session's owner is changing over")
            await asyncio.sleep(0.2)

    async def _at_owner(self, session_id: int, owner: str, op: str, args: dict[str, Any]) -> Any:
        # a bid's repeat (same paddle, bid id, amount) waits for its first forward's answer
        key = (op, owner, session_id, args["paddle"], args["bid_id"], args["amount_fen"]) if op == "quota.bid" else None
        call = asyncio.ensure_future(
            self.cluster.call(owner, op, {"s": session_id, **args}, self.settings.attempt_s, key=key)
        )
        try:
            while True:
                done, _ = await asyncio.wait({call}, timeout=self.settings.owner_check_s)
                if done:
                    return call.result()
                if await self.owners.holder(session_id) != owner:
                    raise NotOwner(session_id)
        finally:
            if not call.done():
                call.cancel()

    async def _lookup(self, session_id: int) -> str | None:
        async with self._pool.acquire() as conn:
            return await store.lock_holder(conn, QUOTA_LOCK_CLASS, session_id)

    async def _holders(self) -> dict[int, str]:
        async with self._pool.acquire() as conn:
            return await store.lock_holders(conn, QUOTA_LOCK_CLASS)

    async def _claim(self, session_id: int) -> bool:
        """Own the session if nobody does (the engine claims and rebuilds it)."""
        try:
            await self.engine.ensure(session_id)
        except EngineUnavailable:
            return False
        self.owners.forget(session_id)
        for watcher in self._watchers.pop(session_id, set()):
            await self.engine.subscribe(session_id, watcher)  # the engine publishes to it now
        return True

    async def _serve_bid(self, m: dict[str, Any]) -> dict[str, Any]:
        session_id = int(m["s"])
        await self._serve_check(session_id)
        answer = await self._bid_here(
            session_id, str(m["paddle"]), str(m["bid_id"]), int(m["amount_fen"])
        )
        return dict(answer.as_dict())

    async def _serve_admit(self, m: dict[str, Any]) -> int:
        session_id = int(m["s"])
        await self._serve_check(session_id)
        return int(await self.engine.admit(session_id, [str(p) for p in m["paddles"]]))

    async def _serve_check(self, session_id: int) -> None:
        if not self.owns(session_id) and not await self._claim(session_id):
            raise NotOwner(session_id)

    # -- watchers -------------------------------------------------------------------------------

    async def subscribe(self, session_id: int, watcher: Any) -> dict[str, Any]:
        """As ``QuotaEngine.subscribe``, wherever the session's owner is: its published view
        and terms (here: the engine's own; else the owner's latest, from the database's
        terms if none has come yet)."""
        try:
            return await self.engine.subscribe(session_id, watcher)
        except EngineUnavailable:
            if self.owns(session_id):
                raise
        self._watchers.setdefault(session_id, set()).add(watcher)
        if session_id not in self._views:
            seen = self._view_seen.setdefault(session_id, asyncio.Event())
            try:
                await asyncio.wait_for(seen.wait(), 2 * self.settings.publish_s + 1)
            except TimeoutError:
                pass
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT title, config FROM quota_sessions WHERE id = $1", session_id)
        assert row is not None  # the engine said NotFound otherwise
        config = quota_config_from_dict(row["config"])
        view = dict(self._views.get(session_id, {"quota_session": session_id}))
        return {**view, "title": row["title"], **QuotaEngine._terms(config)}

    def unsubscribe(self, session_id: int, watcher: Any) -> None:
        self.engine.unsubscribe(session_id, watcher)
        held = self._watchers.get(session_id)
        if held is not None:
            held.discard(watcher)
            if not held:
                del self._watchers[session_id]

    async def standing(self, session_id: int, paddle: str) -> dict[str, Any] | None:
        """A bidder's own durable standing bid, here or from the log."""
        if self.owns(session_id):
            return self.engine.standing(session_id, paddle)
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT e.seq, e.data, s.config FROM quota_events e JOIN quota_sessions s ON s.id = e.session_id "
                "WHERE e.session_id = $1 AND e.paddle = $2 AND e.type = 'quota_bid_accepted' "
                "ORDER BY e.seq DESC LIMIT 1",
                session_id,
                paddle,
            )
        if row is None:
            return None
        data = row["data"] if isinstance(row["data"], dict) else orjson.loads(row["data"])
        config = quota_config_from_dict(row["config"])
        return {
            "amount_fen": data["amount_fen"],
            "seq": row["seq"],
            "at": data["at"],
            "revision": data["revision"],
            "revisions_left": max(0, config.max_revisions - int(data["revision"])),
        }

    def _on_view(self, payload: str) -> None:
        try:
            message = orjson.loads(payload)
            session_id, view = int(message["s"]), dict(message["view"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("malformed quota view notification")
            return
        if self.owns(session_id):
            return
        before = self._views.get(session_id)
        self._views[session_id] = view
        seen = self._view_seen.pop(session_id, None)
        if seen is not None:
            seen.set()
        watchers = self._watchers.get(session_id)
        if not watchers:
            return
        frames = [self._wire(orjson.dumps({"type": "quota_status", **view, **message.get("live", {})}))]
        if view.get("closed") and not (before or {}).get("closed"):
            frames.append(self._wire(orjson.dumps({"type": "quota_closed", **view})))
        for watcher in list(watchers):
            for frame in frames:
                watcher.push(frame)

    def publish(self) -> int:
        """Send every owned session's view to the other processes. How many."""
        now = self.engine.now()
        count = 0
        for session_id in self.engine.session_ids():
            view = self.engine.view(session_id)
            book = self.engine.book(session_id)
            if view is None or book is None:
                continue
            half = "ended" if book.closed is not None else half_of(book.config, now)
            live = {"half": half, "server_time": iso_ms(now)}
            try:
                self.cluster.notify(QUOTA_VIEW_CHANNEL, {"s": session_id, "view": view, "live": live})
            except EngineUnavailable as exc:
                log.warning("quota view not published", extra={"error": str(exc)})
                continue
            count += 1
        return count

    async def _publish_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.publish_s)
            self.publish()

    async def sweep(self) -> list[int]:
        """Take over every live session nobody owns. Returns those taken."""
        async with self._pool.acquire() as conn:
            live = await quota_store.live_session_ids(conn)
        taken = []
        for session_id in live:
            if self.owns(session_id) or await self._lookup(session_id) is not None:
                continue
            if await self._claim(session_id):
                self.takeovers += 1
                taken.append(session_id)
                log.warning("took over a quota session whose owner is gone", extra={"session_id": session_id})
        return taken

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.claim_interval_s)
            try:
                await self.sweep()
            except Exception as exc:  # the database, for a moment: log, sweep again
                log.warning("quota ownership sweep failed", extra={"error": str(exc)})
