"""Quota sessions (额度拍卖) over HTTP and the auction websocket: staff create, bidders apply
and bid, everyone watches the published cutoff, reads the signed result and exports the log.

The quota engine (``auction.quota_engine``) is a resource of the app beside the lots'
engine. Three timed events drive a session: ``quota.admit`` (admission sweep through the
ledger, one chunk per run), ``quota.close`` (a backstop to the engine's timer),
``quota.settle`` (the deposits' settlement, one chunk per run).

The websocket frames of a quota session name it with ``quota_session`` (``auction_ws`` hands
any frame that contains that key to ``handle_frame`` here)::

    {"op": "subscribe", "quota_session": 3}
    {"op": "bid", "quota_session": 3, "bid_id": "b-1", "amount_fen": 9000000, "req": "r1"}
    {"op": "unsubscribe", "quota_session": 3}

Answers: ``quota_snapshot`` (the published view, the terms, your paddle and your own standing
bid), ``ack`` (``BidAnswer``: seq, time, half, lowest winning price, window, revisions left),
``error`` (a stable ``code``), then ``quota_status`` once a second (bid count and the lowest
winning price, never a bidder's price) and ``quota_closed`` at the end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from aiohttp import web
from pydantic import AwareDatetime, Field

from auction import protocol
from auction import quota_service as service
from auction.errors import (
    AuctionReason,
    AuctionRejected,
    EngineUnavailable,
    StreamReason,
    StreamRejected,
)
from auction.model import MAX_AMOUNT_FEN, MAX_BID_ID_LEN
from auction.ownership import QuotaRouter
from auction.quota import QuotaBook
from auction.quota_engine import QuotaEngine, QuotaEngineSettings
from auction.quota_store import PgQuotaLogStore
from trading.calendar import EventContext, EventRegistry, TimedEvent
from trading.calendar import schedule as schedule_event
from trading.conduct.model import Door
from trading.config import settings_from as config_settings
from trading.context import Role
from trading.errors import DomainError
from web import keys
from web.api import Api, Body, Call, Query
from web.api import Text as Line
from web.register import refuse_if_banned, refuse_if_banned_now

if TYPE_CHECKING:
    from web.auction_ws import Client

log = logging.getLogger("sunlit.auction.quota")

QUOTA_ENGINE = web.AppKey("quota_engine", QuotaEngine)
QUOTA_ROUTER = web.AppKey("quota_router", QuotaRouter)
"""The quota sessions wherever their owner is (several processes: ``auction.ownership``)."""
STAFF = {Role.STAFF, Role.ADMIN}
Fen = Annotated[int, Field(ge=1, le=MAX_AMOUNT_FEN)]
Seconds = Annotated[int, Field(ge=1, le=86_400)]


class QuotaSessionBody(Body):
    title: Line(200, min_length=1, strip=True)
    quota: Annotated[int, Field(ge=1, le=1_000_000)]
    warning_price_fen: Fen
    min_price_fen: Fen = 10_000
    max_price_fen: Fen | None = None
    step_fen: Fen = 10_000
    window_fen: Fen = 30_000
    max_revisions: Annotated[int, Field(ge=0, le=100)] = 2
    starts_at: AwareDatetime
    first_half_s: Seconds = 1800
    second_half_s: Seconds = 1800
    deposit_fen: Annotated[int, Field(ge=0, le=MAX_AMOUNT_FEN)] = 200_000


class QuotaBidBody(Body):
    bid_id: Line(MAX_BID_ID_LEN, min_length=1)
    amount_fen: Fen


class ListQuery(Query):
    limit: Annotated[int, Field(ge=1, le=500)] = 100


api = Api()
route = api.route


async def _with_live(call: Call, session: dict[str, Any]) -> dict[str, Any]:
    router = call.app[QUOTA_ROUTER]
    try:
        await router.engine.ensure(session["id"])
    except EngineUnavailable:
        pass  # owned by another process: its published view
    except DomainError:
        session["live"] = None
        return session
    session["live"] = router.view(session["id"])
    return session


@route(
    "POST",
    "/auctions/quota",
    summary="Create a quota-plate session (额度拍卖: quota, warning price, window, two halves)",
    tag="auctions",
    roles=STAFF,
    body=QuotaSessionBody,
    status=201,
)
async def create_quota_session(call: Call) -> dict[str, Any]:
    b: QuotaSessionBody = call.body
    async with call.pool.acquire() as conn:
        session = await service.create_session(conn, call.audit, call.actor, call.now, **b.model_dump())
    return await _with_live(call, session)


@route("GET", "/auctions/quota", summary="Quota sessions, newest first", tag="auctions", roles=None, query=ListQuery)
async def list_quota_sessions(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        return await service.list_sessions(conn, limit=call.query.limit)


@route(
    "GET",
    "/auctions/quota/{session_id}",
    summary="A quota session: its terms, counts and the published live view",
    tag="auctions",
    roles=None,
)
async def get_quota_session(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        session = await service.get_session(conn, call.path_int("session_id"))
    return await _with_live(call, session)


@route(
    "POST",
    "/auctions/quota/{session_id}/apply",
    summary="Apply (报名): your deposit's sub-account; a paddle once the ledger confirms the deposit",
    tag="auctions",
    roles={Role.BIDDER},
    status=201,
)
async def apply(call: Call) -> dict[str, Any]:
    session_id = call.path_int("session_id")
    if call.actor.org_id is None:
        raise AuctionRejected(AuctionReason.NOT_ADMITTED, "a bidder applies for an organisation")
    async with call.pool.acquire() as conn:
        await refuse_if_banned(conn, call.actor.org_id, call.now, Door.AUCTION_BID)
        answer = await service.apply(
            conn, call.audit, call.actor, call.now, session_id=session_id, org_id=call.actor.org_id
        )
    if answer["paddle"] is not None:
        await call.app[QUOTA_ROUTER].admit(session_id, [answer["paddle"]])
    return answer


@route(
    "POST",
    "/auctions/quota/{session_id}/admissions/sweep",
    summary="Admit now every applicant whose deposit the ledger confirms (in chunks)",
    tag="auctions",
    roles=STAFF,
)
async def sweep(call: Call) -> dict[str, Any]:
    session_id = call.path_int("session_id")
    admitted = await admit_all(call.app, session_id, call.actor)
    return {"session_id": session_id, "admitted": admitted}


async def admit_all(app: web.Application, session_id: int, actor: Any) -> int:
    cursor: int | None = 0
    count = 0
    while cursor is not None:
        async with app[keys.POOL].acquire() as conn:
            given, cursor = await service.admit_chunk(
                conn, app[keys.AUDIT], actor, app[keys.CLOCK].now(), session_id=session_id, after_org_id=cursor
            )
        if given:
            await app[QUOTA_ROUTER].admit(session_id, [p for _, p in given])
        count += len(given)
    return count


@route(
    "POST",
    "/auctions/quota/{session_id}/bids",
    summary="Place a quota bid over HTTP (answered once durable; same bid_id, same answer)",
    tag="auctions",
    roles={Role.BIDDER},
    body=QuotaBidBody,
    status=201,
)
async def place_quota_bid(call: Call) -> dict[str, Any]:
    session_id = call.path_int("session_id")
    b: QuotaBidBody = call.body
    async with call.pool.acquire() as conn:
        await refuse_if_banned(conn, call.actor.org_id, call.now, Door.AUCTION_BID)
        paddle = (
            await service.paddle_of(conn, session_id, call.actor.org_id) if call.actor.org_id else None
        )
    if paddle is None:
        raise AuctionRejected(AuctionReason.NOT_ADMITTED, "no paddle: is your deposit confirmed?")
    answer = await call.app[QUOTA_ROUTER].place_bid(session_id, paddle, b.bid_id, b.amount_fen)
    return {**answer.as_dict(), "paddle": paddle}


@route(
    "GET",
    "/auctions/quota/{session_id}/result",
    summary="The signed result: winners (paddle, price, time), the cutoff 最低成交价, the average",
    tag="auctions",
    roles=None,
)
async def quota_result(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await service.signed_result(conn, call.audit, call.path_int("session_id"))


@route(
    "GET",
    "/auctions/quota/{session_id}/log",
    summary="The session's whole log and result, signed: replay it offline (sunlit verify-auction)",
    tag="auctions",
    roles={Role.BIDDER, Role.SUPERVISOR, *STAFF},
)
async def quota_log(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await service.export_log(conn, call.audit, call.now, session_id=call.path_int("session_id"))


# -- the websocket frames ------------------------------------------------------------------------

_OPS = {
    "subscribe": {"op", "quota_session", "req"},
    "unsubscribe": {"op", "quota_session", "req"},
    "bid": {"op", "quota_session", "req", "bid_id", "amount_fen"},
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _frame(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data)


def _error(client: Client, exc: DomainError, context: dict[str, Any]) -> None:
    frame = orjson.loads(protocol.error_frame(exc, context))
    if "quota_session" in context:
        frame["quota_session"] = context["quota_session"]
    client.send(_frame(frame))


def _sessions(client: Client) -> dict[int, str | None]:
    held: dict[int, str | None] | None = getattr(client, "quota_sessions", None)
    if held is None:
        held = {}
        client.quota_sessions = held  # type: ignore[attr-defined]
    return held


async def handle_frame(client: Client, text: str) -> None:
    """A frame naming ``quota_session`` (already counted against the client's frame rate)."""
    context: dict[str, Any] = {}
    try:
        if len(text) > protocol.MAX_FRAME_CHARS:
            raise StreamRejected(StreamReason.MALFORMED_FRAME, f"at most {protocol.MAX_FRAME_CHARS} characters")
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise StreamRejected(StreamReason.MALFORMED_FRAME, "not JSON") from exc
        if not isinstance(data, dict):
            raise StreamRejected(StreamReason.MALFORMED_FRAME, "a frame is a JSON object")
        op = data.get("op")
        if isinstance(op, str) and op in _OPS:
            context["op"] = op
        if isinstance(data.get("req"), str) and len(data["req"]) <= protocol.MAX_REQ_CHARS:
            context["req"] = data["req"]
        if isinstance(data.get("bid_id"), str) and 0 < len(data["bid_id"]) <= MAX_BID_ID_LEN:
            context["bid_id"] = data["bid_id"]
        if op not in _OPS or QUOTA_ENGINE not in client.gateway.app:
            raise StreamRejected(StreamReason.UNKNOWN_OP, str(op)[:40])
        extra = set(data) - _OPS[op]
        if extra:
            raise StreamRejected(StreamReason.BAD_FIELD, f"unknown fields {sorted(extra)[:5]}")
        session_id = data.get("quota_session")
        if not _is_int(session_id) or not 0 < session_id < 2**31:
            raise StreamRejected(StreamReason.BAD_FIELD, "quota_session must be a session id")
        context["quota_session"] = session_id
        if "req" in data and "req" not in context:
            raise StreamRejected(StreamReason.BAD_FIELD, f"req: at most {protocol.MAX_REQ_CHARS} characters")
        if op == "subscribe":
            await _subscribe(client, session_id, context)
        elif op == "unsubscribe":
            if _sessions(client).pop(session_id, 0) != 0:
                client.gateway.app[QUOTA_ROUTER].unsubscribe(session_id, client)
        else:
            bid_id, amount = data.get("bid_id"), data.get("amount_fen")
            if not isinstance(bid_id, str) or not 0 < len(bid_id) <= MAX_BID_ID_LEN:
                raise StreamRejected(StreamReason.BAD_FIELD, f"bid_id: 1 to {MAX_BID_ID_LEN} characters")
            context["bid_id"] = bid_id
            if not _is_int(amount) or not 0 < amount <= MAX_AMOUNT_FEN:
                raise AuctionRejected(AuctionReason.BAD_AMOUNT, "a whole number of fen")
            await _bid(client, session_id, bid_id, amount, context)
    except DomainError as exc:
        _error(client, exc, context)


async def _paddle(client: Client, session_id: int) -> str | None:
    user = client.user
    if user is None or user.role != Role.BIDDER or user.org_id is None:
        return None
    async with client.gateway.app[keys.POOL].acquire() as conn:
        return await service.paddle_of(conn, session_id, user.org_id)


async def _subscribe(client: Client, session_id: int, context: dict[str, Any]) -> None:
    engine = client.gateway.app[QUOTA_ENGINE]
    held = _sessions(client)
    if session_id not in held and len(held) + len(client.subscribed) >= client.settings.subscriptions_max:
        raise StreamRejected(StreamReason.TOO_MANY_SUBSCRIPTIONS, str(client.settings.subscriptions_max))
    try:
        view = await client.gateway.app[QUOTA_ROUTER].subscribe(session_id, client)
    except DomainError as exc:
        if exc.code == "quota_session_not_found":
            raise StreamRejected(StreamReason.LOT_NOT_FOUND, f"quota session {session_id}") from exc
        raise
    paddle = await _paddle(client, session_id)
    held[session_id] = paddle
    frame = {
        "type": "quota_snapshot",
        **view,
        "server_time": engine.now(),
        "paddle": paddle,
        "my_bid": await client.gateway.app[QUOTA_ROUTER].standing(session_id, paddle) if paddle else None,
    }
    if "req" in context:
        frame["req"] = context["req"]
    client.send(orjson.dumps(frame, default=str))


async def _bid(client: Client, session_id: int, bid_id: str, amount: int, context: dict[str, Any]) -> None:
    from web.auction_ws import TokenBucket

    user = client.user
    if user is None:
        raise StreamRejected(StreamReason.UNAUTHENTICATED)
    if user.role != Role.BIDDER or user.org_id is None:
        raise StreamRejected(StreamReason.ROLE_CANNOT_BID, str(user.role))
    held = _sessions(client)
    if session_id not in held:
        raise StreamRejected(StreamReason.NOT_SUBSCRIBED, f"quota session {session_id}")
    engine = client.gateway.app[QUOTA_ENGINE]
    refuse_if_banned_now(client.gateway.app, user.org_id, engine.now(), Door.AUCTION_BID)
    if client.in_flight >= client.settings.in_flight_max:
        raise StreamRejected(StreamReason.TOO_MANY_IN_FLIGHT, str(client.settings.in_flight_max))
    now = client.loop.time()
    bucket = client.gateway.bid_buckets.get(user.id)
    if bucket is None:
        bucket = TokenBucket(client.settings.bid_rate_per_s, client.settings.bid_burst, now)
        client.gateway.bid_buckets[user.id] = bucket
    if not bucket.take(now):
        raise StreamRejected(StreamReason.RATE_LIMITED, f"{client.settings.bid_rate_per_s:g} bids/s per bidder")
    paddle = held[session_id] or await _paddle(client, session_id)
    if paddle is None:
        raise AuctionRejected(AuctionReason.NOT_ADMITTED, "no paddle: is your deposit confirmed?")
    held[session_id] = paddle
    client.in_flight += 1
    arrived = client.loop.time()
    future = asyncio.ensure_future(
        client.gateway.app[QUOTA_ROUTER].place_bid(session_id, paddle, bid_id, amount)
    )

    def answered(fut: asyncio.Future[Any]) -> None:
        client.in_flight -= 1
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is None:
            frame = {"type": "ack", "op": "bid", **fut.result().as_dict()}
            if "req" in context:
                frame["req"] = context["req"]
            client.send(orjson.dumps(frame))
            client.gateway.ack_ms.append((client.loop.time() - arrived) * 1000)
        elif isinstance(exc, DomainError):
            _error(client, exc, context)
        else:
            log.error("quota bid failed unexpectedly", exc_info=exc)
            _error(client, StreamRejected(StreamReason.MALFORMED_FRAME, "internal error"), context)

    future.add_done_callback(answered)


def forget(client: Client) -> None:
    """The client's socket is done: leave its quota sessions."""
    held = getattr(client, "quota_sessions", None)
    if held:
        router = client.gateway.app[QUOTA_ROUTER]
        for session_id in held:
            router.unsubscribe(session_id, client)
        held.clear()


# -- wiring -------------------------------------------------------------------------------------


def _settings(extra: dict[str, str]) -> QuotaEngineSettings:
    """From config.extra (``quota_<name>``) or ``SUNLIT_QUOTA_<NAME>``."""
    return config_settings(QuotaEngineSettings, extra, key="quota_", env="SUNLIT_QUOTA_")


async def _engine_ctx(app: web.Application) -> AsyncIterator[None]:
    pool, audit, clock = app[keys.POOL], app[keys.AUDIT], app[keys.CLOCK]

    async def closed(session_id: int, book: QuotaBook) -> None:
        async with pool.acquire() as conn:
            await service.record_close(conn, audit, clock.now(), session_id=session_id, book=book)
        scheduler = app.get(keys.SCHEDULER)
        if scheduler is not None:
            await scheduler.rearm()

    engine_store = PgQuotaLogStore(app[keys.DSN], pool)
    engine = QuotaEngine(
        engine_store,
        clock,
        settings=_settings(app[keys.CONFIG].extra),
        on_closed=closed,
        wire=protocol.ws_text,
    )
    app[QUOTA_ENGINE] = engine
    await engine.start()
    from web.auction import CLUSTER  # here: web.auction imports this module's gateway

    cluster = app[CLUSTER]
    await engine_store.register(cluster.node_id)  # owners are found by their writer's backend
    router = QuotaRouter(engine, cluster, pool, wire=protocol.ws_text)
    app[QUOTA_ROUTER] = router
    router.start()
    try:
        yield
    finally:
        await router.stop()
        await engine.stop()


def setup(app: web.Application, api_: Api, registry: EventRegistry) -> None:
    api_.endpoints.extend(api.endpoints)
    app.cleanup_ctx.append(_engine_ctx)
    admitted: dict[int, tuple[int, list[str]]] = {}

    async def on_admit(ctx: EventContext) -> None:
        """``quota.admit``: one chunk of the admission sweep; the next chunk is scheduled."""
        session_id = int(ctx.event.ref)
        after = int(ctx.event.payload.get("after", 0))
        given, cursor = await service.admit_chunk(
            ctx.conn, app[keys.AUDIT], _system(), ctx.now, session_id=session_id, after_org_id=after
        )
        admitted[ctx.event.id] = (session_id, [p for _, p in given])
        if cursor is not None:
            await schedule_event(
                ctx.conn, kind=service.ADMIT_EVENT, ref=session_id, due_at=ctx.now, now=ctx.now,
                payload={"after": cursor},
            )

    async def after_admit(event: TimedEvent) -> None:
        session_id, paddles = admitted.pop(event.id, (int(event.ref), []))
        if paddles:
            try:
                await app[QUOTA_ROUTER].admit(session_id, paddles)
            except DomainError as exc:  # owned by another process: it logs them on first bid
                log.info("admissions left to the session's owner", extra={"session_id": session_id, "code": exc.code})

    async def on_close(ctx: EventContext) -> None:
        """``quota.close``: the engine closes the session (after the commit)."""

    async def after_close(event: TimedEvent) -> None:
        engine = app[QUOTA_ENGINE]
        try:
            await engine.ensure(int(event.ref))
        except DomainError as exc:  # owned by another process: its own timer closes it
            log.info("close left to the session's owner", extra={"session_id": event.ref, "code": exc.code})
            return
        engine.tick(int(event.ref))
        await engine.wait_idle()

    async def on_settle(ctx: EventContext) -> None:
        """``quota.settle``: one chunk of the deposits' settlement (the next is scheduled)."""
        await service.settle_chunk(ctx.conn, app[keys.AUDIT], ctx.now, session_id=int(ctx.event.ref))

    registry.register(service.ADMIT_EVENT, on_admit, after_commit=after_admit)
    registry.register(service.CLOSE_EVENT, on_close, after_commit=after_close)
    registry.register(service.SETTLE_EVENT, on_settle)


def _system() -> Any:
    from trading.context import Actor

    return Actor.system("auction")
