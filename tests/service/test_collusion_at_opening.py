"""Collusion signals computed from what the opening recorded, one alert each, once.

Source: RULES.md S3 (IR 40): documents with the same hash, the same device or person acting
for several bidders, prices in a regular pattern — one alert per signal with its evidence.
"""

from __future__ import annotations

import dataclasses

import pytest

from bidding.service import submission
from tests.service.test_bidding_support import (
    World,
    hand_in,
    make_world,
    pieces,
    schedule_json,
    seal_for,
    to_deadline,
    to_opening,
)
from trading.collusion import CollusionSettings
from trading.supervision import list_alerts
from web.collusion import raise_signals


@pytest.fixture
async def world(pool, audit, clock) -> World:
    return await make_world(pool, audit, clock)


async def submit_from(world: World, i: int, envelope: bytes, addr: str) -> None:
    bidder = world.bidders[i]
    actor = dataclasses.replace(bidder.party.actor, client_addr=addr)
    await submission.submit_bid(world.pool, world.audit, actor, world.clock, tender_id=world.tender_id,
                                source=pieces(envelope), content_length=len(envelope), settings=world.settings)  # fmt: skip


async def test_signals_at_the_opening_raise_one_alert_each_with_evidence(world: World) -> None:
    """S3: equal price steps, a shared document and one address acting for two bidders are
    three alerts naming the bidders; computing again raises nothing new."""
    shared = {"form.pdf": b"the same technical proposal, byte for byte"}
    for i, price in enumerate((100_000_000, 101_000_000, 102_000_000)):
        docs = shared if i < 2 else {"own.pdf": b"my own proposal"}
        addr = "203.0.113.7" if i != 1 else "198.51.100.2"
        await submit_from(world, i, seal_for(world, world.bidders[i], schedule_json(price), docs), addr)
    # the third bidder also acted from the first one's address (a replacement bid)
    await submit_from(world, 2, seal_for(world, world.bidders[2], schedule_json(102_000_000),
                                         {"own.pdf": b"my own proposal"}), "203.0.113.7")  # fmt: skip
    await to_deadline(world)
    await to_opening(world)
    await hand_in(world, world.custodians[0])
    result = await hand_in(world, world.custodians[1])
    assert "record" in result

    async with world.pool.acquire() as conn:
        found = await raise_signals(conn, world.clock.now(), world.tender_id, CollusionSettings())
        again = await raise_signals(conn, world.clock.now(), world.tender_id, CollusionSettings())
        alerts = [a for a in await list_alerts(conn) if a["kind"].startswith("collusion.")]
    orgs = [b.org_id for b in world.bidders[:3]]
    by_kind = {a["kind"]: a for a in alerts}
    assert sorted(by_kind) == ["collusion.equal_price_steps", "collusion.same_address", "collusion.same_document"]
    assert len(alerts) == 3 and len(found) == len(again) == 3
    assert by_kind["collusion.equal_price_steps"]["detail"]["step_fen"] == 1_000_000
    assert by_kind["collusion.same_document"]["detail"]["bidders"] == sorted(orgs[:2])
    assert by_kind["collusion.same_address"]["detail"]["value"] == "203.0.113.7"
    assert by_kind["collusion.same_address"]["detail"]["bidders"] == sorted([orgs[0], orgs[2]])
    assert all(a["object_id"] == str(world.tender_id) for a in alerts)


async def test_no_signal_before_the_opening(world: World) -> None:
    """Nothing sealed is read before the opening: no facts, no signals."""
    async with world.pool.acquire() as conn:
        assert await raise_signals(conn, world.clock.now(), world.tender_id) == []
