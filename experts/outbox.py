"""Delivering summons after their transaction commits (no network inside a transaction).

A round (``deliver_round``):

1. in one short transaction, claim up to ``batch`` pending messages (and ones stuck in
   ``sending`` for over ``STALE_AFTER``), and mint each a fresh one-time answer token whose
   hash is stored on the member row (a retry mints a new one: only the last link works);
   a message whose member is no longer summoned (answered, timed out) is dropped;
2. hand each to the channel, outside any transaction;
3. in one transaction, mark each sent, or back to pending for a retry — after
   ``MAX_ATTEMPTS`` failed, and raise a supervision alert (staff must call by phone).

``Outbox`` runs rounds in the background when kicked (after a use case commits) and every
``POLL_S`` seconds; ``flush()`` runs rounds until nothing is pending (tests, the CLI).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import asyncpg

from experts import store
from experts.draws import token_hash
from experts.notify import Channel, DeliveryFailed, Summons
from experts.settings import ExpertSettings
from trading.clock import Clock
from trading.supervision import raise_alert

__all__ = ["MAX_ATTEMPTS", "Outbox", "RoundReport", "deliver_round"]

log = logging.getLogger("sunlit.experts.outbox")

MAX_ATTEMPTS = 5
STALE_AFTER = timedelta(minutes=5)
RETRY_AFTER = timedelta(seconds=30)
POLL_S = 30.0
BATCH = 50


@dataclass(frozen=True)
class RoundReport:
    claimed: int
    sent: int
    failed: int
    dropped: int


async def deliver_round(
    pool: asyncpg.Pool,
    channel: Channel,
    clock: Clock,
    settings: ExpertSettings,
    *,
    batch: int = BATCH,
) -> RoundReport:
    now = clock.now()
    todo: list[tuple[int, Summons, int]] = []
    dropped: list[int] = []
    async with pool.acquire() as conn, conn.transaction():
        rows = await store.claim_messages(conn, now, now - STALE_AFTER, now - RETRY_AFTER, batch)
        for r in rows:
            if r["member_status"] != "summoned":
                dropped.append(r["id"])
                continue
            token = secrets.token_urlsafe(24)
            await store.set_member_token(conn, r["member_id"], token_hash(token))
            p = r["params"]
            summons = Summons(
                expert_name=r["name"],
                phone=r["phone"],
                email=r["email"],
                language=r["language"],
                evaluation_date=date.fromisoformat(p["evaluation_date"]),
                evaluation_time=time.fromisoformat(p["evaluation_time"]),
                evaluation_days=p["evaluation_days"],
                place=p["place"],
                answer_by=datetime.fromisoformat(p["answer_by"]),
                link=f"{settings.public_url}/api/v1/summons/{token}",
                centre=settings.centre_name,
            )
            todo.append((r["id"], summons, r["attempts"]))
        for mid in dropped:
            await store.finish_message(conn, mid, status="failed", now=now, channel=None, provider_ref=None,
                                       error="the member is no longer summoned")  # fmt: skip
    outcomes: list[tuple[int, str | None, str | None, int]] = []
    for mid, summons, attempts in todo:
        try:
            ref = await channel.send(summons)
        except DeliveryFailed as exc:
            log.warning(
                "summons delivery failed",
                extra={"message_id": mid, "attempt": attempts, "error": str(exc)},
            )
            outcomes.append((mid, None, str(exc)[:500], attempts))
        else:
            outcomes.append((mid, ref, None, attempts))
    sent = failed = 0
    if outcomes:
        done_at = clock.now()
        async with pool.acquire() as conn, conn.transaction():
            for mid, ref, error, attempts in outcomes:
                if error is None:
                    sent += 1
                    await store.finish_message(conn, mid, status="sent", now=done_at, channel=channel.name,
                                               provider_ref=ref, error=None)  # fmt: skip
                    continue
                give_up = attempts >= MAX_ATTEMPTS
                failed += 1
                await store.finish_message(conn, mid, status="failed" if give_up else "pending", now=done_at,
                                           channel=channel.name, provider_ref=None, error=error)  # fmt: skip
                if give_up:
                    await raise_alert(
                        conn, done_at, kind="experts.summons_undelivered", severity="warning",
                        object_type="expert_message", object_id=str(mid),
                        message_en=f"A summons could not be delivered after {attempts} attempts: {error}",
                        message_zh=f"评标专家通知经{attempts}次尝试仍未送达：{error}",
                        dedup_key=f"experts.summons_undelivered:{mid}",
                    )  # fmt: skip
    return RoundReport(len(rows), sent, failed, len(dropped))


class Outbox:
    """The background deliverer of one application (held in an AppKey by the web layer)."""

    def __init__(
        self, pool: asyncpg.Pool, channel: Channel, clock: Clock, settings: ExpertSettings
    ) -> None:
        self.pool = pool
        self.channel = channel
        self.clock = clock
        self.settings = settings
        self._wake = asyncio.Event()
        self._round = asyncio.Lock()

    def kick(self) -> None:
        """Something was written to the outbox: deliver soon."""
        self._wake.set()

    async def flush(self) -> int:
        """Deliver until nothing is pending that can go now; returns how many were sent."""
        total = 0
        while True:
            async with self._round:
                report = await deliver_round(self.pool, self.channel, self.clock, self.settings)
            total += report.sent
            if report.claimed == 0 or report.sent + report.dropped == 0:
                return total

    async def run(self) -> None:
        """Until cancelled: a round whenever kicked, and every ``POLL_S`` seconds."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_S)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except (OSError, asyncpg.PostgresError):  # the database went away: try again later
                log.exception("summons delivery round failed")
