"""The websocket gateway of live auctions: ``GET /api/v1/auctions/ws``.

It parses frames (``auction.protocol``), authenticates, rate-limits, and forwards to the
engine (``auction.engine``); every rule lives in ``auction/``. The protocol is documented
in ``auction.protocol`` and ``docs/auction.md``.

Each client has a bounded send queue (``ws_queue_max`` frames). The engine encodes a
broadcast once — JSON and websocket framing (``protocol.ws_text``) — and puts the same bytes
on every watcher's queue without awaiting. The gateway's writer (``Gateway.flush``, one
callback per turn of the event loop, not one task per client: with 10,000 watchers a task
per client would cost 10,000 task steps per event) hands each queue that has frames to its
socket in one write — every frame the client is behind on, coalesced into one message (a
JSON array) when there are several. A client with only broadcasts waiting is written at
most once per ``broadcast_gap_ms`` (100 ms): under a surge a watcher gets one message per gap
instead of one per commit; an ack, an error or a pong goes at once, with whatever waits.
Writes never block;
a client whose queue is full, or whose socket holds more than ``ws_buffer_max_bytes``
unsent, is closed (code 4008) and, on reconnecting, resumes from its last sequence number or
gets a fresh snapshot. A refused frame gets an error frame with its code; the connection and
the lot go on.

Authentication: a bearer token in ``Authorization``, in ``?token=``, or in a first
``{"op": "auth"}`` frame. A connection without one watches; only a bidder bids, as the
paddle its organisation holds on the lot — the stream never shows who is behind a paddle.
The gateway keeps a map session → its open websockets (keyed by the token's hash, never the
token); logging out (``DELETE /api/v1/sessions/current``) closes them with code 4001
(``CLOSE_SESSION_ENDED``): a logged-out session bids on no socket it opened before. Every
process hears every logout and role change (PostgreSQL NOTIFY, ``session_notice``), so this
holds behind a load balancer too; a role change closes the user's sockets with 4002.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import WSMsgType, web

from auction import protocol
from auction.engine import Engine
from auction.errors import AuctionReason, AuctionRejected, StreamReason, StreamRejected
from auction.model import AcceptCap, BidAccepted
from trading.conduct.model import Door
from trading.config import settings_from as config_settings
from trading.context import Role
from trading.errors import DomainError
from trading.parties import service as parties
from trading.parties.model import User
from web import auction_quota, keys
from web.api import Api, Call
from web.pages.session import SESSION_COOKIE, same_origin
from web.register import refuse_if_banned_now

log = logging.getLogger("sunlit.auction.ws")

CLOSE_LAGGING = 4008
"""Close code for a client that could not keep up: reconnect and resume."""
CLOSE_SESSION_ENDED = 4001
"""Close code for the sockets of a session that logged out: log in again to bid."""
CLOSE_SESSION_ENDED_REASON = "session ended (logged out) / 会话已结束".encode()
CLOSE_ROLE_CHANGED = 4002
"""The user's role changed (in any process): reconnect; the socket is then the new role's."""
CLOSE_ROLE_CHANGED_REASON = "role changed: reconnect / 角色已变更，请重新连接".encode()


def session_key(token: str) -> str:
    """What the gateway files a session's sockets under: the token's SHA-256, not the token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class GatewaySettings:
    """Every limit of the gateway, named (env ``SUNLIT_AUCTION_<NAME>`` or config.extra)."""

    ws_queue_max: int = 1024
    """Frames waiting to be sent to one client before it is dropped as too slow."""
    frame_rate_per_s: float = 50.0
    frame_burst: int = 200
    """Frames of any kind one connection may send (token bucket)."""
    bid_rate_per_s: float = 20.0
    bid_burst: int = 40
    """Bids one bidder may place, across all their connections (token bucket)."""
    in_flight_max: int = 64
    """Bids of one connection awaiting their durable answer."""
    subscriptions_max: int = 1000
    ws_buffer_max_bytes: int = 1 << 20
    """Bytes written but not yet taken by a client's socket before it is dropped as too slow."""
    max_message_bytes: int = 64 * 1024
    """Larger frames close the connection (1009); up to it, oversized JSON is refused."""
    heartbeat_s: float = 30.0
    broadcast_gap_ms: float = 100.0
    """Broadcasts to one client go out at most once per this many milliseconds, the frames
    of the gap coalesced into one message; a frame for the client alone (an ack, an error, a
    pong) goes at once and takes the waiting broadcasts with it. 0: every turn of the loop."""

    @classmethod
    def from_config(cls, extra: dict[str, str]) -> GatewaySettings:
        """From config.extra (``auction_<name>``) or ``SUNLIT_AUCTION_<NAME>``."""
        return config_settings(cls, extra, key="auction_", env="SUNLIT_AUCTION_")

    def limits(self) -> dict[str, Any]:
        return {
            "ws_queue_max": self.ws_queue_max,
            "frame_rate_per_s": self.frame_rate_per_s,
            "bid_rate_per_s": self.bid_rate_per_s,
            "in_flight_max": self.in_flight_max,
            "subscriptions_max": self.subscriptions_max,
            "max_frame_chars": protocol.MAX_FRAME_CHARS,
        }


class TokenBucket:
    """``rate_per_s`` tokens a second up to ``burst``; ``take`` says whether one was there."""

    __slots__ = ("rate_per_s", "burst", "tokens", "at")

    def __init__(self, rate_per_s: float, burst: int, now: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.tokens = float(burst)
        self.at = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate_per_s)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Gateway:
    """The gateway's shared state: the engine, settings, the bidders' buckets, the clients,
    and the writer that drains the clients' queues."""

    def __init__(self, app: web.Application, settings: GatewaySettings) -> None:
        self.app = app
        self.settings = settings
        self.bid_buckets: dict[int, TokenBucket] = {}
        self.clients: set[Client] = set()
        self.by_session: dict[str, set[Client]] = {}
        """session_key(token) → the open sockets authenticated with it."""
        self._closing: set[asyncio.Future[Any]] = set()
        self._dirty: dict[Client, None] = {}
        self._flush_scheduled = False
        self._held: dict[Client, None] = {}
        """Clients with only broadcasts waiting, written less than a gap ago."""
        self._held_timer: asyncio.TimerHandle | None = None
        self._gap_s = settings.broadcast_gap_ms / 1000
        self.ack_ms: deque[float] = deque(maxlen=100_000)
        """Server-side time from a bid frame's arrival to its ack on the client's queue."""
        self.writes = 0
        self.bytes_out = 0
        self.dropped = 0
        self.turn_ms_max = 0.0
        """The longest turn of the writer (``flush`` or a gap's release), and its writes."""
        self.turn_writes_at_max = 0

    def stats(self) -> dict[str, Any]:
        latest = sorted(self.ack_ms)

        def pct(p: float) -> float | None:
            return (
                round(latest[min(len(latest) - 1, int(p / 100 * len(latest)))], 3)
                if latest
                else None
            )

        return {
            "websocket_clients": len(self.clients),
            "socket_writes": self.writes,
            "bytes_out": self.bytes_out,
            "clients_dropped_as_slow": self.dropped,
            "bid_to_ack_ms_p50": pct(50),
            "bid_to_ack_ms_p99": pct(99),
            "bid_to_ack_ms_max": round(latest[-1], 3) if latest else None,
            "bid_to_ack_samples": len(latest),
            "writer_turn_ms_max": round(self.turn_ms_max, 3),
            "writer_turn_writes_at_max": self.turn_writes_at_max,
        }

    @property
    def engine(self) -> Engine:
        return self.app[ENGINE]

    def mark(self, client: Client) -> None:
        """``client`` has frames waiting: write them at the end of this turn of the loop
        (after the callbacks already scheduled, so a bid's ack and its broadcast go together)."""
        self._dirty[client] = None
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write every waiting queue to its socket, one write per client — except a client
        with only broadcasts waiting that was written less than ``broadcast_gap_ms`` ago: it
        is held until the gap has passed (one message for the gap's broadcasts, not one per
        commit: under a surge that is most of a watcher's work, and of the server's writes).
        Clients with an answer waiting are written first."""
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, {}
        loop = asyncio.get_running_loop()
        now = loop.time()
        started = time.perf_counter()
        writes = self.writes
        later: list[Client] = []
        for client in dirty:  # first the clients with an answer waiting (an ack, an error)
            if client.urgent:
                client.write_out()
            else:
                later.append(client)
        for client in later:  # then the watchers: 10,000 writes must not delay an ack
            if now - client.written_at >= self._gap_s:
                client.write_out()
            else:
                self._held[client] = None
        if self._held and self._held_timer is None:
            self._held_timer = loop.call_later(self._gap_s, self._release)
        self._note_turn(started, writes)

    def _note_turn(self, started: float, writes_before: int) -> None:
        """Keep the longest turn of the writer (with 10,000 watchers: one event's writes)."""
        took_ms = (time.perf_counter() - started) * 1000
        if took_ms > self.turn_ms_max:
            self.turn_ms_max = took_ms
            self.turn_writes_at_max = self.writes - writes_before

    def _release(self) -> None:
        """The gap has passed for every held client (each was written before it was held)."""
        if self._held_timer is not None:
            self._held_timer.cancel()  # a no-op when the timer is what called
            self._held_timer = None
        held, self._held = self._held, {}
        started = time.perf_counter()
        writes = self.writes
        for client in held:
            client.write_out()
        self._note_turn(started, writes)

    def forget(self, client: Client) -> None:
        """The client's socket is done."""
        self.clients.discard(client)
        if client.session is not None:
            held = self.by_session.get(client.session)
            if held is not None:
                held.discard(client)
                if not held:
                    del self.by_session[client.session]

    async def end_session(self, token: str) -> int:
        """The session logged out: close every socket it opened (code 4001). How many."""
        clients = self.by_session.pop(session_key(token), set())
        await self._close(clients, CLOSE_SESSION_ENDED, CLOSE_SESSION_ENDED_REASON)
        return len(clients)

    @staticmethod
    async def _close(clients: Iterable[Client], code: int, reason: bytes) -> None:
        await asyncio.gather(*(c.close(code, reason) for c in clients), return_exceptions=True)

    def session_notice(self, notice: str) -> None:
        """What any process announced (``trading.parties.sessions``): a logout closes the
        session's sockets here (4001), a role change the user's (4002: reconnect, and the
        socket is authenticated with the new role). Closing is started, not awaited."""
        kind, _, ref = notice.partition(":")
        if kind == "session":
            clients = self.by_session.pop(ref, set())
            code, reason = CLOSE_SESSION_ENDED, CLOSE_SESSION_ENDED_REASON
        elif kind == "user" and ref.isascii() and ref.isdigit():
            clients = {c for c in self.clients if c.user is not None and c.user.id == int(ref)}
            code, reason = CLOSE_ROLE_CHANGED, CLOSE_ROLE_CHANGED_REASON
        else:
            return
        if clients:
            task = asyncio.ensure_future(self._close(clients, code, reason))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close_all(self) -> None:
        await asyncio.gather(
            *(c.close(1001, b"server shutting down") for c in list(self.clients)),
            return_exceptions=True,
        )


class Client:
    """One websocket connection: a watcher (``engine.Watcher``) and, if a bidder, a bidder."""

    def __init__(
        self, gateway: Gateway, ws: web.WebSocketResponse, transport: asyncio.Transport | None
    ) -> None:
        self.gateway = gateway
        self.ws = ws
        self.transport = transport
        self.settings = gateway.settings
        self.engine = gateway.engine
        self.loop = asyncio.get_running_loop()
        self.out: deque[bytes] = deque()
        """The bounded send queue (``ws_queue_max`` complete websocket frames)."""
        self.frames = TokenBucket(
            self.settings.frame_rate_per_s, self.settings.frame_burst, self.loop.time()
        )
        self.user: User | None = None
        self.session: str | None = None
        """session_key of the token it authenticated with."""
        self.subscribed: dict[int, str | None] = {}
        self.in_flight = 0
        self.lagging = False
        self.closing = False
        self.urgent = False
        """A frame for this client alone waits: write at once."""
        self.written_at = float("-inf")

    # -- the outlet (engine.Watcher) --------------------------------------------------------

    def push(self, frame: bytes) -> None:
        if self.lagging or self.closing:
            return
        if len(self.out) >= self.settings.ws_queue_max:
            self._lag()
            return
        if not self.out:
            self.gateway.mark(self)
        self.out.append(frame)

    def room(self) -> int:
        return 0 if self.lagging or self.closing else self.settings.ws_queue_max - len(self.out)

    def send(self, payload: bytes) -> None:
        """A frame for this client alone (an ack, an error, hello, pong): it goes at once."""
        self.urgent = True
        self.push(protocol.ws_text(payload))
        if self.out:
            self.gateway.mark(self)  # also when broadcasts were already waiting (held)

    def write_out(self) -> None:
        """Hand every waiting frame to the socket in one write; never blocks. Several waiting
        frames become one message, a JSON array of them (fewer messages for a client that
        is behind: its per-message cost is what makes it fall further behind)."""
        out, transport = self.out, self.transport
        self.urgent = False
        if not out or self.lagging or self.closing:
            return
        if transport is None or transport.is_closing():
            out.clear()
            return
        if len(out) == 1:
            data = out[0]
        else:
            payloads = [protocol.ws_payload(frame) for frame in out]
            data = protocol.ws_text(b"[" + b",".join(payloads) + b"]")
        out.clear()
        transport.write(data)
        self.written_at = self.loop.time()
        self.gateway.writes += 1
        self.gateway.bytes_out += len(data)
        if transport.get_write_buffer_size() > self.settings.ws_buffer_max_bytes:
            self._lag()

    def _lag(self) -> None:
        """Too slow: close, and let the client resume from where it was."""
        self.lagging = True
        self.gateway.dropped += 1
        self.out.clear()
        self.loop.call_soon(self._drop)

    def _drop(self) -> None:
        asyncio.ensure_future(self.close(CLOSE_LAGGING, b"too slow: reconnect and resume"))

    async def close(self, code: int, message: bytes) -> None:
        if self.closing:
            return
        self.closing = True
        self._unsubscribe_all()
        self.out.clear()
        await self.ws.close(code=code, message=message)

    def _unsubscribe_all(self) -> None:
        auction_quota.forget(self)
        for lot_id in self.subscribed:
            self.engine.unsubscribe(lot_id, self)
        self.subscribed.clear()

    async def finish(self) -> None:
        """The reader is done: unsubscribe and send what is still queued."""
        self._unsubscribe_all()
        self.write_out()

    # -- the reader ------------------------------------------------------------------------

    def error(self, exc: DomainError, context: dict[str, Any] | None = None) -> None:
        self.send(protocol.error_frame(exc, context))

    async def handle_text(self, text: str) -> None:
        if not self.frames.take(self.loop.time()):
            self.error(
                StreamRejected(
                    StreamReason.RATE_LIMITED, f"{self.settings.frame_rate_per_s:g} frames/s"
                )
            )
            return
        if '"quota_session"' in text:  # a quota session's frame (web.auction_quota)
            await auction_quota.handle_frame(self, text)
            return
        try:
            op = protocol.parse_frame(text)
        except DomainError as exc:
            self.error(exc)
            return
        if type(op) is protocol.BidOp:  # the hot path: no context unless the bid is refused
            try:
                self.bid(op)
            except DomainError as exc:
                self.error(exc, _bid_context(op))
            return
        context: dict[str, Any] = {"op": type(op).__name__.removesuffix("Op").lower()}
        if op.req is not None:
            context["req"] = op.req
        try:
            if isinstance(op, protocol.SubscribeOp):
                await self.subscribe(op)
            elif isinstance(op, protocol.UnsubscribeOp):
                for lot_id in op.lot_ids:
                    if self.subscribed.pop(lot_id, 0) != 0:
                        self.engine.unsubscribe(lot_id, self)
            elif isinstance(op, protocol.AuthOp):
                await self.authenticate(op.token)
            elif isinstance(op, protocol.AcceptCapOp):
                await self.accept_cap(op, context)
            elif isinstance(op, protocol.PingOp):
                self.send(protocol.pong_frame(self.engine.now(), op.req))
        except DomainError as exc:
            self.error(
                exc,
                context | ({"lot_id": exc.details["lot_id"]} if "lot_id" in exc.details else {}),
            )

    async def authenticate(self, token: str) -> None:
        if self.user is not None:
            raise StreamRejected(StreamReason.ALREADY_AUTHENTICATED)
        app = self.gateway.app
        async with app[keys.POOL].acquire() as conn:
            self.user = await parties.resolve_session(conn, token, app[keys.CLOCK].now())
        self.session = session_key(token)
        self.gateway.by_session.setdefault(self.session, set()).add(self)
        self.send(protocol.hello_frame(self.engine.now(), self.whoami(), self.settings.limits()))
        for lot_id in list(self.subscribed):  # a watcher who logs in learns their paddles
            self.subscribed[lot_id] = await self.paddle(lot_id)

    def whoami(self) -> dict[str, Any] | None:
        if self.user is None:
            return None
        return {
            "user_id": self.user.id,
            "username": self.user.username,
            "role": str(self.user.role),
            "org_id": self.user.org_id,
        }

    async def paddle(self, lot_id: int) -> str | None:
        if self.user is None or self.user.role != Role.BIDDER or self.user.org_id is None:
            return None
        return await self.engine.paddle_for(lot_id, self.user.org_id)

    async def subscribe(self, op: protocol.SubscribeOp) -> None:
        fresh = [lot_id for lot_id, _ in op.lots if lot_id not in self.subscribed]
        if len(self.subscribed) + len(fresh) > self.settings.subscriptions_max:
            raise StreamRejected(
                StreamReason.TOO_MANY_SUBSCRIPTIONS, f"at most {self.settings.subscriptions_max}"
            )
        for lot_id, after_seq in op.lots:
            try:
                await self.engine.ensure(lot_id)
            except DomainError as exc:
                if exc.code == "lot_not_found":
                    exc = StreamRejected(StreamReason.LOT_NOT_FOUND, str(lot_id))
                self.error(
                    exc,
                    {"op": "subscribe", "lot_id": lot_id, **({"req": op.req} if op.req else {})},
                )
                continue
            paddle = await self.paddle(lot_id)
            self.subscribed[lot_id] = paddle
            await self.engine.subscribe(lot_id, self, after_seq=after_seq, paddle=paddle)
            if self.closing:
                return

    def _bidder_paddle(self, lot_id: int) -> str:
        if self.user is None:
            raise StreamRejected(StreamReason.UNAUTHENTICATED)
        if self.user.role != Role.BIDDER or self.user.org_id is None:
            raise StreamRejected(StreamReason.ROLE_CANNOT_BID, str(self.user.role))
        if lot_id not in self.subscribed:
            raise StreamRejected(StreamReason.NOT_SUBSCRIBED, str(lot_id))
        paddle = self.subscribed[lot_id] or self.engine.known_paddle(lot_id, self.user.org_id)
        if paddle is None:
            raise AuctionRejected(
                AuctionReason.NOT_ADMITTED, "no paddle on this lot: is your deposit confirmed?"
            )
        self.subscribed[lot_id] = paddle
        return paddle

    def bid(self, op: protocol.BidOp) -> None:
        try:
            paddle = self._bidder_paddle(op.lot_id)
            assert self.user is not None
            refuse_if_banned_now(self.gateway.app, self.user.org_id, self.engine.now(), Door.AUCTION_BID)  # S2
            if self.in_flight >= self.settings.in_flight_max:
                raise StreamRejected(
                    StreamReason.TOO_MANY_IN_FLIGHT, str(self.settings.in_flight_max)
                )
            now = self.loop.time()
            bucket = self.gateway.bid_buckets.get(self.user.id)
            if bucket is None:
                bucket = TokenBucket(self.settings.bid_rate_per_s, self.settings.bid_burst, now)
                self.gateway.bid_buckets[self.user.id] = bucket
            if not bucket.take(now):
                raise StreamRejected(
                    StreamReason.RATE_LIMITED, f"{self.settings.bid_rate_per_s:g} bids/s per bidder"
                )
        except DomainError as exc:
            self.error(exc, _bid_context(op))
            return
        self.in_flight += 1
        arrived = self.loop.time()
        future = self.engine.place_bid(op.lot_id, paddle, op.bid_id, op.amount_fen)
        future.add_done_callback(partial(self._answered, op, arrived))

    def _answered(
        self, op: protocol.BidOp, arrived: float, future: asyncio.Future[BidAccepted]
    ) -> None:
        self.in_flight -= 1
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            self.send(protocol.ack_frame(op.lot_id, future.result(), req=op.req))
            self.gateway.ack_ms.append((self.loop.time() - arrived) * 1000)
        elif isinstance(exc, DomainError):
            self.error(exc, _bid_context(op))
        else:
            log.error("bid failed unexpectedly", exc_info=exc)
            self.send(
                protocol.encode(
                    {
                        **_bid_context(op),
                        "type": "error",
                        "code": "internal_error",
                        "message": "internal error",
                        "message_zh": "服务器内部错误",
                    }
                )
            )

    async def accept_cap(self, op: protocol.AcceptCapOp, context: dict[str, Any]) -> None:
        context["lot_id"] = op.lot_id
        paddle = self._bidder_paddle(op.lot_id)
        decision = await self.engine.execute(op.lot_id, AcceptCap(paddle=paddle))
        frame: dict[str, Any] = {
            "type": "ack",
            "op": "accept_cap",
            "lot_id": op.lot_id,
            "seq": decision.state.seq,
        }
        if op.req is not None:
            frame["req"] = op.req
        self.send(protocol.encode(frame))


def _bid_context(op: protocol.BidOp) -> dict[str, Any]:
    """What an error frame answering a bid names: op, lot, bid id and the client's req."""
    context: dict[str, Any] = {"op": "bid", "lot_id": op.lot_id, "bid_id": op.bid_id}
    if op.req is not None:
        context["req"] = op.req
    return context


ENGINE = web.AppKey("auction_engine", Engine)
GATEWAY = web.AppKey("auction_gateway", Gateway)

api_ws = Api()


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if request.query.get("token"):
        return request.query["token"]
    # a browser page: the HttpOnly session cookie, only from this site's own pages (a
    # cross-site page's handshake carries its Origin; see web.pages.session)
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie if cookie and same_origin(request) else None


@api_ws.route(
    "GET",
    "/auctions/ws",
    summary="Live auction stream (websocket): subscribe, resume, bid — see docs/auction.md",
    tag="auctions",
    roles=None,
    websocket=True,
)
async def auction_ws(call: Call) -> web.StreamResponse:
    gateway = call.app[GATEWAY]
    settings = gateway.settings
    ws = web.WebSocketResponse(
        compress=False, max_msg_size=settings.max_message_bytes, heartbeat=settings.heartbeat_s
    )
    await ws.prepare(call.request)
    client = Client(gateway, ws, call.request.transport)  # type: ignore[arg-type]
    gateway.clients.add(client)
    try:
        token = _token(call.request)
        if token is not None:
            try:
                await client.authenticate(token)
            except DomainError as exc:
                client.error(exc, {"op": "auth"})
        if client.user is None:
            client.send(protocol.hello_frame(client.engine.now(), None, settings.limits()))
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await client.handle_text(msg.data)
            elif msg.type is WSMsgType.BINARY:
                client.error(StreamRejected(StreamReason.BINARY_FRAME))
            else:
                break
            if client.closing:
                break
    finally:
        gateway.forget(client)
        await client.finish()
        if not ws.closed:
            await ws.close()
    return ws
