"""Application assembly. ``make_app(config)`` only constructs: every resource (database,
pool, keys, scheduler, each domain's engine) is a ``cleanup_ctx`` generator under a typed
``AppKey``, so nothing connects at import time and shutdown closes everything in reverse.

Domain packages plug in through ``web.<domain>`` modules, each with
``setup(app, api, registry)`` registering its routes, timed-event handlers and resources.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from crypto.signing import (
    generate_signing_key,
    load_signing_key,
    private_key_bytes,
    public_key_bytes,
    sha256_hex,
)
from trading import migrate
from trading.audit import AuditLog
from trading.audit.head import HeadKeeper
from trading.calendar import EventRegistry, Scheduler
from trading.clock import Clock, SystemClock
from trading.config import Config
from trading.db import EmbeddedPostgres, open_pool
from trading.errors import DomainError
from web import keys
from web.abuse import ABUSE, AbuseGuard, abuse_ctx
from web.abuse import settings_from as abuse_settings_from
from web.api import Api
from web.errors import allow_header, domain_problem, http_problem, internal_problem
from web.metrics import Metrics

log = logging.getLogger("sunlit.web")

DOMAIN_MODULES: tuple[str, ...] = (
    "web.core", "web.ledger", "web.bidding", "web.notices", "web.panels", "web.evaluation", "web.award",
    "web.auction", "web.experts", "web.pages", "web.register", "web.statistics", "web.ocds",
    "web.supervision", "web.auction_quota",
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
QUIET_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SLOW_REQUEST_S = 0.5
"""A read at least this slow has its access log line even when quiet reads have none
(``Config.access_log``)."""

def load_server_key(data_dir: Path) -> tuple[bytes, str]:
    """The server's Ed25519 signing key, made on first start, kept in the data dir (0600)."""
    path = data_dir / "keys" / "server-ed25519.key"
    if path.exists():
        raw = path.read_bytes()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = private_key_bytes(generate_signing_key())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
    key_id = "srv-" + sha256_hex(public_key_bytes(load_signing_key(raw)))[:16]
    return raw, key_id


@web.middleware
async def request_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Request id, metrics, access log, and the one place errors become problem+json."""
    rid = request.headers.get("X-Request-Id", "")
    request[keys.REQUEST_ID] = rid if _REQUEST_ID.match(rid) else uuid.uuid4().hex
    metrics: Metrics = request.app[keys.METRICS]
    refused = await request.app[ABUSE].refuse_early(request)  # a flood: no work, no log line
    if refused is not None:
        metrics.requests.labels(request.method, "refused", "429").inc()
        return refused
    started = time.perf_counter()
    metrics.in_flight.inc()
    response: web.StreamResponse
    try:
        try:
            response = _options(request) or await handler(request)
        except DomainError as err:
            if err.status_hint in (401, 403):
                await _audit_denied(request, err)
            response = domain_problem(request, err)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = http_problem(request, exc)
        except Exception:  # the edge: log once with the request id, answer 500, keep serving
            log.exception("unhandled error", extra={"request_id": request[keys.REQUEST_ID], "path": request.path})
            response = internal_problem(request)
    finally:
        metrics.in_flight.dec()
    elapsed = time.perf_counter() - started
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    metrics.requests.labels(request.method, route, str(response.status)).inc()
    metrics.latency.labels(request.method, route).observe(elapsed)
    if not response.prepared:
        response.headers["X-Request-Id"] = request[keys.REQUEST_ID]
    # The access log line costs a third of a quiet read's time (issue 17: profile in
    # docs/benchmarks.md): by default a successful quick read is counted in the metrics only.
    if (response.status >= 400 or request.method not in QUIET_METHODS or elapsed >= SLOW_REQUEST_S
            or request.app[keys.CONFIG].access_log == "all"):
        log.info(
            "request",
            extra={"request_id": request[keys.REQUEST_ID], "method": request.method, "path": request.path,
                   "status": response.status, "ms": round(elapsed * 1000, 2),
                   "user": getattr(request.get(keys.ACTOR), "username", None)},
        )
    return response


def _options(request: web.Request) -> web.Response | None:
    """OPTIONS on any path that exists: 204 with the methods it answers in ``Allow`` (aiohttp
    alone answers 405). An unknown path stays a 404 problem."""
    if request.method != "OPTIONS":
        return None
    exc = request.match_info.http_exception
    if not isinstance(exc, web.HTTPMethodNotAllowed):
        return None
    return web.Response(status=204, headers={"Allow": allow_header(exc.allowed_methods)})


async def _audit_denied(request: web.Request, err: DomainError) -> None:
    """Every denied attempt is in the audit log (RULES T12), in its own transaction — one by
    one for the first few of a client in a minute, then in one summary per client and minute
    (``web.abuse``); each refusal counts toward the client's limit."""
    from web.api import actor_for

    actor = request.get(keys.ACTOR) or actor_for(request, None)
    if not request.app[ABUSE].refused(request, actor, err.code, err.status_hint):
        return
    pool = request.app[keys.POOL]
    now = request.app[keys.CLOCK].now()
    async with pool.acquire() as conn, conn.transaction():
        await request.app[keys.AUDIT].append(
            conn, actor=actor, action=f"denied {request.method} {request.path[:200]}", object_type="route",
            object_id=request.match_info.route.resource.canonical if request.match_info.route.resource else request.path[:200],
            at=now, outcome="denied", detail={"code": err.code},
        )


def _database_ctx(config: Config) -> Callable[[web.Application], AsyncIterator[None]]:
    """The database (embedded unless ``DATABASE_URL``), the pool, migrations, the server key
    and the audit log's head keeper. Whatever started is stopped again if a later step fails
    (no orphan embedded PostgreSQL); a database that cannot be reached is ``StartupFailed``."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        embedded: EmbeddedPostgres | None = None
        pool = None
        keeper: HeadKeeper | None = None
        try:
            dsn = config.database_url
            if dsn is None:
                embedded = EmbeddedPostgres(config.data_dir)
                dsn = embedded.start()
            app[keys.DSN] = dsn
            pool = await open_pool(dsn, min_size=config.pool_min_size, max_size=config.pool_max_size)
            async with pool.acquire() as conn:
                applied = await migrate.migrate(conn)
                if applied:
                    log.info("migrations applied", extra={"migrations": [f"{m.package}/{m.name}" for m in applied]})
            raw, key_id = load_server_key(config.data_dir)
            audit = AuditLog(load_signing_key(raw), key_id, config.audit_checkpoint_every)
            async with pool.acquire() as conn:
                await audit.register_key(conn, app[keys.CLOCK].now())
            app[keys.POOL] = pool
            app[keys.AUDIT] = audit
            # Signs the head at start, within a second of appends, and at stop (this ctx is
            # the first entered, so the last left: every other resource has appended by then).
            keeper = HeadKeeper(audit, pool, app[keys.CLOCK], config.data_dir)
            await keeper.start()
            yield
        finally:
            try:
                if keeper is not None:
                    await keeper.stop()
            finally:
                if pool is not None:
                    await pool.close()
                if embedded is not None:
                    embedded.stop()

    return ctx


async def _demo_ctx(app: web.Application) -> AsyncIterator[None]:
    from web.demo import load_demo

    await load_demo(app)
    yield


async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    scheduler = Scheduler(app[keys.POOL], app[keys.CLOCK], app[keys.REGISTRY], listen_dsn=app[keys.DSN])
    app[keys.SCHEDULER] = scheduler
    await scheduler.start()
    try:
        yield
    finally:
        await scheduler.stop()


def make_app(config: Config, *, clock: Clock | None = None, domain_modules: tuple[str, ...] = DOMAIN_MODULES) -> web.Application:
    app = web.Application(middlewares=[request_middleware], client_max_size=config.max_body_bytes)
    api = Api()
    registry = EventRegistry()
    app[keys.CONFIG] = config
    app[keys.CLOCK] = clock or SystemClock()
    app[keys.API] = api
    app[keys.REGISTRY] = registry
    app[keys.METRICS] = Metrics()
    app.cleanup_ctx.append(_database_ctx(config))
    app[ABUSE] = AbuseGuard(abuse_settings_from(config))
    app.cleanup_ctx.append(abuse_ctx)
    for name in domain_modules:
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        module.setup(app, api, registry)
    api.install(app)
    if config.load_demo:
        app.cleanup_ctx.append(_demo_ctx)
    app.cleanup_ctx.append(_scheduler_ctx)
    return app
