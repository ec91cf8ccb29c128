"""Refused requests at the edge (issue 14 item 8): rate-limited per client address and per
credential, audited in aggregate. The pure parts are ``trading.supervision.abuse``; this
module holds them for the app, answers 429 before any work, and writes the audit entries.

- A request from an address (or with a credential) whose refusals ran out of tokens is
  answered ``429 too_many_refusals`` with ``Retry-After``, before authentication: no
  database work at all.
- Each 401/403 charges its address and credential. The first ``individual_max`` refusals of a
  client (address and user) in a minute are audited one by one as before; the rest, and
  every 429, are counted, and one entry per client and minute says how many
  (``action = 'denied (aggregate)'``, ``detail.count``), written once the minute is over
  (a background task, every ``FLUSH_EVERY_S``; and at shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from trading.config import Config
from trading.config import settings_from as config_settings
from trading.context import Actor
from trading.supervision.abuse import AbuseSettings, DeniedSummary, DeniedTally, RefusalLimiter
from web import keys
from web.errors import problem_response

__all__ = ["ABUSE", "AbuseGuard", "abuse_ctx", "settings_from"]

log = logging.getLogger("sunlit.abuse")

FLUSH_EVERY_S = 1.0
"""How often the background task writes the summaries of the minutes that are over."""
AGGREGATE_ACTION = "denied (aggregate)"


def settings_from(config: Config, environ: dict[str, str] | None = None) -> AbuseSettings:
    """``config.extra['abuse.<field>']`` wins over ``SUNLIT_ABUSE_<FIELD>``."""
    return config_settings(AbuseSettings, config.extra, key="abuse.", env="SUNLIT_ABUSE_", environ=environ)


def _minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


class AbuseGuard:
    def __init__(self, settings: AbuseSettings) -> None:
        self.settings = settings
        self.by_address = RefusalLimiter(burst=settings.address_burst, per_s=settings.address_per_s,
                                         keys_max=settings.keys_max)  # fmt: skip
        self.by_credential = RefusalLimiter(burst=settings.credential_burst, per_s=settings.credential_per_s,
                                            keys_max=settings.keys_max)  # fmt: skip
        self.tally = DeniedTally(individual_max=settings.individual_max, keys_max=settings.keys_max,
                                 paths_sample_max=settings.paths_sample_max)  # fmt: skip
        self._held = 0

    def _keys(self, request: web.Request) -> list[tuple[RefusalLimiter, str]]:
        out = [(self.by_address, request.remote or "")]
        auth = request.headers.get("Authorization")
        if auth:
            out.append((self.by_credential, hashlib.sha256(auth.encode("utf-8", "replace")).hexdigest()[:32]))
        return out

    def blocked(self, request: web.Request) -> float | None:
        """The seconds a client whose refusals ran out must wait (charged and counted, never
        written), or ``None``: serve it."""
        now_s = time.monotonic()
        keys_ = self._keys(request)
        wait_s = max((w for lim, k in keys_ if (w := lim.retry_after_s(k, now_s)) is not None), default=None)
        if wait_s is None:
            return None
        for lim, k in keys_:
            lim.charge(k, now_s)
        self.tally.add(client=request.remote or "", user="-", minute=_minute(request.app[keys.CLOCK].now()),
                       code="too_many_refusals", status=429, path=request.path[:200], alone=False)  # fmt: skip
        return wait_s

    async def refuse_early(self, request: web.Request) -> web.Response | None:
        """429 for a client whose refusals ran out, before any work. The answer is held for
        ``tarpit_s`` (a client that waits for its answers slows down to its concurrency per
        ``tarpit_s``; holding costs a timer, not work), at most ``tarpit_max`` at once; past
        that, at once, closing the connection."""
        wait_s = self.blocked(request)
        if wait_s is None:
            return None
        retry = max(1, math.ceil(wait_s))
        response = problem_response(
            request, status=429, code="too_many_refusals",
            detail_en=f"too many refused requests from this client: try again in {retry} s",
            detail_zh=f"该客户端被拒绝的请求过多，请 {retry} 秒后再试",
            headers={"Retry-After": str(retry)},
        )
        if self._held >= self.settings.tarpit_max or self.settings.tarpit_s <= 0:
            response.force_close()
            return response
        self._held += 1
        try:
            await asyncio.sleep(self.settings.tarpit_s)
        finally:
            self._held -= 1
        return response

    def refused(self, request: web.Request, actor: Actor, code: str, status: int) -> bool:
        """Charge a 401/403; True if this one is to be audited one by one."""
        now_s = time.monotonic()
        for lim, k in self._keys(request):
            lim.charge(k, now_s)
        return self.tally.add(client=request.remote or "", user=actor.username or "-",
                              minute=_minute(request.app[keys.CLOCK].now()), code=code, status=status,
                              path=request.path[:200])  # fmt: skip

    async def flush(self, app: web.Application, *, everything: bool = False) -> int:
        """Write one audit entry per client and minute that is over (every minute when
        ``everything``). Returns how many entries were written."""
        now = app[keys.CLOCK].now()
        summaries = self.tally.drain(None if everything else _minute(now))
        if summaries:
            async with app[keys.POOL].acquire() as conn, conn.transaction():
                for s in summaries:
                    await _write(app, conn, now, s)
        return len(summaries)


async def _write(app: web.Application, conn: Any, now: datetime, s: DeniedSummary) -> None:
    actor = Actor(None, s.user, Actor.anonymous().role, None, s.client, "")
    await app[keys.AUDIT].append(
        conn, actor=actor, action=AGGREGATE_ACTION, object_type="client", object_id=s.client or "-",
        at=now, outcome="denied", detail=s.to_json(),
    )


ABUSE = web.AppKey("abuse", AbuseGuard)


async def abuse_ctx(app: web.Application) -> AsyncIterator[None]:
    """The flush task; at stop, every summary still held is written."""
    guard = app[ABUSE]

    async def loop() -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            try:
                await guard.flush(app)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # the database is away
                log.warning("denied-requests summary not written yet", extra={"error": repr(exc)})

    task = asyncio.get_running_loop().create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await guard.flush(app, everything=True)
