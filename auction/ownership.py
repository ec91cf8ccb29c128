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
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson

from auction import store
from auction.engine import Engine, NotOwner
from auction.errors import AuctionReason, AuctionRejected, EngineUnavailable
from auction.model import COMMAND_TYPES, BidAccepted, Command, event_from_dict, event_to_dict
from trading.clock import Clock
from trading.db import connect
from trading.errors import DomainError

__all__ = ["Cluster", "ClusterSettings", "command_from_dict", "command_to_dict"]

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
        self._handlers: dict[str, Handler] = {}
        self._channels: dict[str, Callable[[str], None]] = {}
        self._on_reconnect: list[Callable[[], None]] = []
        self._outbox: list[tuple[str, str]] = []
        self._sending = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seq = 0
        self.calls_sent = 0
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
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
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
            self._spawn(self._listener.add_listener(channel, self._notified), f"listen-{channel}")

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
            for hook in self._on_reconnect:
                hook()
            return

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        callback = self._channels.get(channel)
        if callback is not None:
            callback(payload)

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cluster task %s failed", task.get_name(), exc_info=task.exception())

    # -- sending ------------------------------------------------------------------------------

    def _send(self, node_id: str, message: dict[str, Any]) -> None:
        payload = orjson.dumps(message).decode()
        if len(payload.encode()) > self.settings.payload_max:
            raise EngineUnavailable("the command is too large to forward")
        if len(self._outbox) >= self.settings.outbox_max:
            raise EngineUnavailable("too many commands waiting to be forwarded")
        self._outbox.append((node_channel(node_id), payload))
        if not self._sending:
            self._sending = True
            self._spawn(self._send_loop(), "cluster-send")

    async def _send_loop(self) -> None:
        """Send what waits, many NOTIFYs in one statement, again while more arrived."""
        try:
            while self._outbox:
                batch, self._outbox = self._outbox, []
                try:
                    async with self._pool.acquire() as conn:
                        await conn.execute(
                            "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS u(c, p)",
                            [c for c, _ in batch],
                            [p for _, p in batch],
                        )
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    # a call then times out and is asked again; an answer lost is asked again
                    log.warning("forwarding failed", extra={"error": str(exc), "messages": len(batch)})
        finally:
            self._sending = False

    async def call(self, node_id: str, op: str, args: dict[str, Any], timeout_s: float) -> Any:
        """Ask node ``node_id`` to run ``op``; its answer, its error raised here, or
        ``TimeoutError``."""
        self._seq += 1
        call_id = f"{self.node_id}-{self._seq}"
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = fut
        try:
            self._send(node_id, {"c": call_id, "from": self.node_id, "op": op, **args})
            self.calls_sent += 1
            return await asyncio.wait_for(fut, timeout_s)
        finally:
            self._calls.pop(call_id, None)

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
            self._spawn(self._serve(message), f"serve-{message.get('op')}")

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
        data = await self.call(node_id, "lot.bid", args, timeout_s)
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
            "calls_served": self.calls_served,
            "calls_waiting": len(self._calls),
            "relistens": self.relistens,
        }
