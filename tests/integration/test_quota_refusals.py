"""A quota session's refused bid ids are durable (``quota_refusals``, migration 0006): a
repeat of a refused id after a restart of the engine gets the same refusal, never a later
acceptance.

Source: issue 16 item 7 (refusals durable like acceptances: a bid id names one attempt and
gets one answer), extended to quota sessions by issue 17; RULES.md A9.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from auction import quota_service
from auction.errors import AuctionReason, AuctionRejected
from auction.quota_engine import QuotaEngine, QuotaEngineSettings
from auction.quota_store import PgQuotaLogStore
from tests.helpers import make_user
from trading.context import Role


async def test_a_refused_quota_bid_id_gets_the_same_refusal_after_a_restart(
    db_dsn, pool, audit, clock
) -> None:
    """A bid from a paddle not yet admitted is refused ``not_admitted`` and the refusal is
    written before it is answered; the engine restarts, the paddle is admitted meanwhile,
    and the same bid id is still refused the same way (another amount: ``bid_id_reused``),
    while a new bid id from that paddle is accepted."""
    async with pool.acquire() as conn:
        staff = await make_user(conn, audit, clock, Role.STAFF)
        session = await quota_service.create_session(
            conn, audit, staff.actor, clock.now(), title="额度 2026-12", quota=2,
            warning_price_fen=9_000_000, starts_at=clock.now() + timedelta(minutes=1), deposit_fen=0,
        )  # fmt: skip
    sid = session["id"]
    clock.advance(minutes=2)  # the first half
    settings = QuotaEngineSettings(publish_s=0)

    engine = QuotaEngine(PgQuotaLogStore(db_dsn, pool), clock, settings=settings)
    await engine.start()
    assert await engine.admit(sid, ["10000001"]) == 1
    with pytest.raises(AuctionRejected) as first:
        await engine.place_bid(sid, "10000002", "b-1", 8_800_000)
    assert first.value.reason is AuctionReason.NOT_ADMITTED
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT code, amount_fen FROM quota_refusals WHERE session_id = $1 AND bid_id = 'b-1'",
            sid,
        )
    assert row is not None and (row["code"], row["amount_fen"]) == ("not_admitted", 8_800_000)
    await engine.stop()

    again = QuotaEngine(PgQuotaLogStore(db_dsn, pool), clock, settings=settings)
    await again.start()
    try:
        assert await again.admit(sid, ["10000002"]) == 1  # a new judgment would accept b-1 now
        with pytest.raises(AuctionRejected) as repeat:
            await again.place_bid(sid, "10000002", "b-1", 8_800_000)
        assert repeat.value.reason is AuctionReason.NOT_ADMITTED
        assert repeat.value.message_zh == first.value.message_zh
        with pytest.raises(AuctionRejected) as reused:
            await again.place_bid(sid, "10000002", "b-1", 8_900_000)
        assert reused.value.reason is AuctionReason.BID_ID_REUSED
        fresh = await again.place_bid(sid, "10000002", "b-2", 8_800_000)
        assert fresh.event.bid_id == "b-2"
    finally:
        await again.stop()
    async with pool.acquire() as conn:
        accepted = await conn.fetch(
            "SELECT bid_id FROM quota_events WHERE session_id = $1 AND type = 'quota_bid_accepted'", sid
        )
    assert [r["bid_id"] for r in accepted] == ["b-2"]
