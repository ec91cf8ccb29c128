"""Wiring: the engine as an app resource (its store, reserve key, cluster and metrics), and
``setup``, which adds the routes and the ``auction.start`` timed event."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from auction import protocol, service
from auction.engine import Engine, EngineHooks, EngineSettings
from auction.errors import AuctionReason, AuctionRejected
from auction.model import LotState, Start
from auction.ownership import Cluster
from auction.reserve import ReserveKey
from auction.store import PgLogStore
from trading.calendar import EventContext, EventRegistry
from trading.config import settings_from as config_settings
from web import keys
from web.api import Api
from web.auction.commands import _seed_commitments
from web.auction.common import CLUSTER, RESERVE_KEY, api_auction, log
from web.auction_quota import QUOTA_ROUTER
from web.auction_ws import ENGINE, GATEWAY, Gateway, GatewaySettings, api_ws

# -- wiring -----------------------------------------------------------------------------------------------


def _reserve_key_path(app: web.Application) -> Path:
    config = app[keys.CONFIG]
    raw = config.extra.get("auction_reserve_key") or os.environ.get("SUNLIT_AUCTION_RESERVE_KEY")
    return Path(raw) if raw else config.data_dir / "keys" / "auction-reserve-x25519.key"


def _engine_settings(extra: dict[str, str]) -> EngineSettings:
    """``EngineSettings`` from config.extra (``auction_<name>``) or ``SUNLIT_AUCTION_<NAME>``."""
    return config_settings(EngineSettings, extra, key="auction_", env="SUNLIT_AUCTION_")


async def _engine_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = app[keys.POOL]
    audit = app[keys.AUDIT]
    clock = app[keys.CLOCK]
    key = ReserveKey.load_or_create(_reserve_key_path(app))
    app[RESERVE_KEY] = key

    async def reveal(lot_id: int, commitment: str) -> tuple[int, bytes] | None:
        async with pool.acquire() as conn:
            try:
                return await service.open_reserve(conn, key, lot_id=lot_id, commitment=commitment)
            except service.HeldByCustodians:  # told once; their hand-in sends the reveal
                await service.call_custodians(
                    conn, audit, clock.now(), lot_id=lot_id, commitment=commitment
                )
        return None

    async def closed(lot_id: int, state: LotState) -> None:
        async with pool.acquire() as conn:
            await service.settle(conn, audit, clock.now(), lot_id=lot_id, state=state, key=key)

    # several processes may share the database: each lot is owned by one (auction.ownership)
    cluster = Cluster(app[keys.DSN], pool, clock)
    log_store = PgLogStore(app[keys.DSN], pool, node_id=cluster.node_id)
    settings = _engine_settings(app[keys.CONFIG].extra)
    hooks = EngineHooks(reveal_reserve=reveal, lot_closed=closed)
    engine = Engine(
        log_store, clock, settings=settings, hooks=hooks, wire=protocol.ws_text, peers=cluster
    )
    cluster.attach(engine)
    app[ENGINE] = engine
    app[CLUSTER] = cluster
    _expose_metrics(app, engine, cluster)
    await cluster.start()
    try:
        await engine.start()
    except BaseException:
        await cluster.stop()
        raise
    try:
        yield
    finally:
        await app[GATEWAY].close_all()
        await engine.stop()
        await cluster.stop()


def _expose_metrics(app: web.Application, engine: Engine, cluster: Cluster) -> None:
    """What to watch across processes (docs/operations.md): lots owned and followed here,
    takeovers, commands forwarded to another process's lot and their retries."""
    metrics = app.get(keys.METRICS)
    if metrics is None:
        return
    metrics.add("sunlit_auction_lots_owned", "Live lots this process owns (judges, logs, times)",
                lambda: engine.stats()["lots_owned"])
    metrics.add("sunlit_auction_lots_followed", "Lots this process follows from another's log",
                lambda: engine.stats()["lots_followed"])
    metrics.add("sunlit_auction_watchers", "Watchers of lots on this process",
                lambda: engine.stats()["watchers"])
    metrics.add("sunlit_auction_takeovers", "Lots this process took over from a process that died",
                lambda: engine.takeovers, kind="counter")
    metrics.add("sunlit_auction_forwarded", "Commands sent to the process owning the lot",
                lambda: engine.forwarded, kind="counter")
    metrics.add("sunlit_auction_forward_retries", "Forwarded commands asked again (owner changing over)",
                lambda: engine.forward_retries, kind="counter")
    metrics.add("sunlit_auction_calls_served", "Commands other processes forwarded to this one",
                lambda: cluster.calls_served, kind="counter")
    metrics.add("sunlit_auction_listen_reconnects", "Times the LISTEN connection was made again",
                lambda: cluster.relistens, kind="counter")

    def quota(figure: str) -> Callable[[], float | None]:
        def read() -> float | None:
            router = app.get(QUOTA_ROUTER)  # set up after this engine (web.auction_quota)
            if router is None:
                return None
            return float(len(router.engine.session_ids())) if figure == "owned" else getattr(router, figure)

        return read

    metrics.add("sunlit_auction_quota_sessions_owned", "Quota sessions this process owns", quota("owned"))
    metrics.add("sunlit_auction_quota_forwarded", "Quota commands sent to the owning process",
                quota("forwarded"), kind="counter")
    metrics.add("sunlit_auction_quota_takeovers", "Quota sessions taken over from a process that died",
                quota("takeovers"), kind="counter")


async def _close_clients(app: web.Application) -> None:
    await app[GATEWAY].close_all()


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    api.endpoints.extend(api_auction.endpoints)
    api.endpoints.extend(api_ws.endpoints)
    app[GATEWAY] = Gateway(app, GatewaySettings.from_config(app[keys.CONFIG].extra))
    app.cleanup_ctx.append(_engine_ctx)
    app.on_shutdown.append(_close_clients)

    async def on_start(ctx: EventContext) -> None:
        """``auction.start``: open the lot, or every lot of the session, at its time."""
        engine = app[ENGINE]
        lot_ids = await service.scope_lot_ids(ctx.conn, ctx.event.ref)
        seeds = await _seed_commitments(app, lot_ids, ctx.now)
        outcomes = await asyncio.gather(
            *(engine.execute(i, Start(seed_commitment=seeds.get(i)), now=ctx.now) for i in lot_ids),
            return_exceptions=True,
        )
        for lot_id, outcome in zip(lot_ids, outcomes, strict=True):
            if isinstance(outcome, AuctionRejected) and outcome.reason in (
                AuctionReason.WRONG_PHASE,
                AuctionReason.CLOSED,
                AuctionReason.PAUSED,
            ):
                log.info(
                    "lot already started or closed", extra={"lot_id": lot_id, "code": outcome.code}
                )
            elif isinstance(outcome, BaseException):
                raise outcome

    registry.register(service.START_EVENT, on_start)
    registry.register(service.RESERVE_DUE_EVENT, service.reserve_due)
