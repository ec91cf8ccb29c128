"""Restarts, races and ownership of the auction engine against real PostgreSQL, the real
app stopped and started again on the same database, with a fake clock.

Sources: issue 4 (Engine): a restart rebuilds every live lot by replaying its log; a lot
whose countdown ran out while the server was down closes at its true end time; the policy
for an outage during a countdown is recorded in the lot's log. RULES A2 (the server's
arrival order decides); DESIGN "Past one machine" (each live lot owned by one process).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
import websockets
from aiohttp.test_utils import TestClient

from auction.store import PgLogStore
from tests.helpers import login, user_headers
from trading.clock import iso_ms
from trading.context import Role
from web import keys
from web.auction_ws import ENGINE

START = 500_000
INC = 50_000


async def post(
    client: TestClient, path: str, headers: dict[str, str], body: Any = None, status: int = 200
) -> Any:
    r = await client.post("/api/v1" + path, headers=headers, json=body)
    assert r.status == status, await r.text()
    return await r.json()


async def plate_session(client: TestClient, clock: Any, *, n_bidders: int = 2, **options: Any):  # type: ignore[no-untyped-def]
    staff_party, staff = await user_headers(client, Role.STAFF)
    bidders = [await user_headers(client, Role.BIDDER) for _ in range(n_bidders)]
    session = await post(
        client,
        "/auctions/sessions",
        staff,
        {
            "title": "restart",
            "starts_at": iso_ms(clock.now()),
            "countdown_s": 60,
            **options,
            "lots": [
                {
                    "title": "浙E·00001",
                    "starting_price_fen": START,
                    "increment_fen": INC,
                    "deposit_fen": 100_000,
                }
            ],
        },
        201,
    )
    for party, _ in bidders:
        await post(
            client,
            "/admission-flags",
            staff,
            {
                "org_id": party.org_id,
                "project_ref": f"auction_session:{session['id']}",
                "note": "ok",
            },
            201,
        )
    await post(
        client,
        f"/auctions/sessions/{session['id']}/admissions",
        staff,
        {"org_ids": [p.org_id for p, _ in bidders]},
        201,
    )
    return staff_party, staff, bidders, session


async def events(client: TestClient, lot_id: int) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/auctions/lots/{lot_id}/events?limit=1000")
    return list((await r.json())["events"])


async def test_a_countdown_that_ran_out_while_the_server_was_down_closes_at_its_true_end(
    make_client, clock
) -> None:
    """Issue 4: closes at its true end time, since no bid was accepted after it."""
    first = await make_client()
    _, staff, bidders, session = await plate_session(first, clock)
    lot_id = session["lots"][0]["id"]
    await post(first, f"/auctions/sessions/{session['id']}/start", staff)
    bid = await post(
        first,
        f"/auctions/lots/{lot_id}/bids",
        bidders[0][1],
        {"bid_id": "1", "amount_fen": START},
        201,
    )
    await first.close()
    clock.advance(minutes=10)
    second = await make_client()
    await second.server.app[ENGINE].wait_idle()
    closed = [e for e in await events(second, lot_id) if e["type"] == "lot_closed"]
    assert len(closed) == 1 and closed[0]["at"] == bid["countdown_ends_at"]
    result = await (await second.get(f"/api/v1/auctions/lots/{lot_id}/result")).json()
    assert result["outcome"] == "sold" and result["closed_at"] == bid["countdown_ends_at"]
    assert result["winner"]["org_id"] == bidders[0][0].org_id


@pytest.mark.parametrize(("policy", "remaining_s"), [("resume_full", 60), ("resume_remaining", 50)])
async def test_an_outage_during_a_countdown_applies_the_configured_policy_in_the_log(
    make_client, clock, policy: str, remaining_s: int
) -> None:
    """Issue 4: the outage policy (default: resume with a full countdown) is recorded in the
    lot's log with the downtime, measured from the engine's last heartbeat."""
    first = await make_client()
    _, staff, bidders, session = await plate_session(first, clock, outage_policy=policy)
    lot_id = session["lots"][0]["id"]
    await post(first, f"/auctions/sessions/{session['id']}/start", staff)
    await post(
        first,
        f"/auctions/lots/{lot_id}/bids",
        bidders[0][1],
        {"bid_id": "1", "amount_fen": START},
        201,
    )
    clock.advance(seconds=10)
    await first.server.app[ENGINE].beat()
    await first.server.app[ENGINE].stop()  # a crash would leave the last beat as it is
    await first.close()
    clock.advance(seconds=20)
    second = await make_client()
    await second.server.app[ENGINE].wait_idle()
    (outage,) = [e for e in await events(second, lot_id) if e["type"] == "outage_policy_applied"]
    assert outage["policy"] == policy and outage["downtime_ms"] == 20_000
    assert outage["countdown_ends_at"] == iso_ms(clock.now() + timedelta(seconds=remaining_s))
    live = (await (await second.get(f"/api/v1/auctions/lots/{lot_id}")).json())["live"]
    assert live["phase"] == "countdown" and live["countdown_ends_at"] == outage["countdown_ends_at"]
    headers = await login(second, bidders[1][0].username)
    await post(
        second,
        f"/auctions/lots/{lot_id}/bids",
        headers,
        {"bid_id": "2", "amount_fen": START + INC},
        201,
    )


async def test_a_start_that_fell_due_while_down_runs_at_once_on_return(make_client, clock) -> None:
    """DESIGN (Architecture): anything that fell due while the server was down runs at once,
    recording when it actually ran."""
    first = await make_client()
    _, staff = await user_headers(first, Role.STAFF)
    session = await post(
        first,
        "/auctions/sessions",
        staff,
        {
            "title": "late",
            "starts_at": iso_ms(clock.now() + timedelta(minutes=5)),
            "countdown_s": 60,
            "lots": [
                {
                    "title": "浙E·00002",
                    "starting_price_fen": START,
                    "increment_fen": INC,
                    "deposit_fen": 1,
                }
            ],
        },
        201,
    )
    await post(first, f"/auctions/sessions/{session['id']}/schedule", staff)
    await first.close()
    clock.advance(minutes=7)
    second = await make_client()
    lot_id = session["lots"][0]["id"]
    (started,) = [e for e in await events(second, lot_id) if e["type"] == "lot_started"]
    assert started["at"] == iso_ms(clock.now())
    assert started["countdown_ends_at"] == iso_ms(clock.now() + timedelta(seconds=60))


async def wait_for(condition: Any, timeout_s: float = 10.0) -> None:
    """Until ``condition()`` holds (another process's commit arrives by NOTIFY)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_a_second_server_on_the_database_follows_the_lot_the_first_owns(
    make_client, clock
) -> None:
    """DESIGN (Past one machine), issue 15 item 3: each live lot is owned by exactly one
    process; a second server on the same database starts, owns none of the first one's
    lots, forwards a bid and a staff command to the owner, and its watchers see the same
    sequence."""
    first = await make_client()
    _, staff, bidders, session = await plate_session(first, clock)
    lot_id = session["lots"][0]["id"]
    await post(first, f"/auctions/lots/{lot_id}/start", staff)
    second = await make_client()
    one, two = first.server.app[ENGINE], second.server.app[ENGINE]
    await two.ensure(lot_id)
    assert one.owns(lot_id) and not two.owns(lot_id)
    # a store of its own owns nothing the first one holds
    other = PgLogStore(first.server.app[keys.DSN], first.server.app[keys.POOL])
    await other.open()
    try:
        assert await other.claim([lot_id]) == []
    finally:
        await other.close()
    _, bidder = bidders[0]
    bid = {"bid_id": "via-second", "amount_fen": START}
    ack = await post(second, f"/auctions/lots/{lot_id}/bids", bidder, bid, 201)
    assert ack["seq"] == one.state(lot_id).seq  # judged and logged by the owner
    again = await post(first, f"/auctions/lots/{lot_id}/bids", bidder, bid, 201)
    assert again["seq"] == ack["seq"]  # the same bid id, the same answer, wherever it arrives
    paused = await post(second, f"/auctions/lots/{lot_id}/pause", staff, {"reason": "检修"})
    assert paused["live"]["phase"] == "paused"
    await wait_for(lambda: two.state(lot_id) == one.state(lot_id))
    assert one.state(lot_id).phase.value == "paused"


async def test_two_equal_bids_at_the_same_moment_the_first_to_arrive_wins(client, clock) -> None:
    """RULES A2: equal prices — the earlier bid wins; the server's arrival order decides."""
    _, staff, bidders, session = await plate_session(client, clock, n_bidders=2)
    lot_id = session["lots"][0]["id"]
    await post(client, f"/auctions/sessions/{session['id']}/start", staff)
    url = str(client.server.make_url("/api/v1/auctions/ws")).replace("http://", "ws://")
    conns = [
        await websockets.connect(f"{url}?token={h['Authorization'].split()[1]}") for _, h in bidders
    ]
    try:
        for ws in conns:
            await ws.send(json.dumps({"op": "subscribe", "lots": [lot_id]}))
        for ws in conns:
            while "snapshot" not in await ws.recv():
                pass
        frame = {"op": "bid", "lot_id": lot_id, "bid_id": "same", "amount_fen": START + 3 * INC}
        await asyncio.gather(*(ws.send(json.dumps(frame)) for ws in conns))
        answers = []
        for ws in conns:
            while True:
                data = json.loads(await asyncio.wait_for(ws.recv(), 5))
                found = [
                    f
                    for f in (data if isinstance(data, list) else [data])
                    if f.get("bid_id") == "same"
                ]
                if found:
                    answers.extend(found)
                    break
    finally:
        for ws in conns:
            await ws.close()
    assert sorted(a["type"] for a in answers) == ["ack", "error"]
    (refused,) = [a for a in answers if a["type"] == "error"]
    assert refused["code"] == "below_minimum"
    bids = [e for e in await events(client, lot_id) if e["type"] == "bid_accepted"]
    assert [b["amount_fen"] for b in bids] == [START + 3 * INC]


async def test_item7_a_refused_bid_id_stays_refused_after_an_engine_restart(make_client, clock) -> None:
    """Issue 16 item 7: refusals are durable like acceptances. A bid id refused before the
    start (not_open) is, after a restart, answered with the same refusal — even though the
    same amount under a fresh id is accepted now that the lot is open. RULES A2."""
    first = await make_client()
    _, staff, bidders, session = await plate_session(first, clock)
    lot_id = session["lots"][0]["id"]
    early = {"bid_id": "early", "amount_fen": START}
    r = await first.post(f"/api/v1/auctions/lots/{lot_id}/bids", headers=bidders[1][1], json=early)
    refusal = await r.json()
    assert r.status >= 400 and refusal["code"] == "not_open", refusal
    await post(first, f"/auctions/sessions/{session['id']}/start", staff)
    await first.server.app[ENGINE].stop()
    await first.close()

    second = await make_client()
    await second.server.app[ENGINE].wait_idle()
    async with second.server.app[keys.POOL].acquire() as conn:
        stored = await conn.fetchrow(
            "SELECT code, amount_fen FROM auction_refusals WHERE lot_id = $1 AND bid_id = 'early'",
            lot_id,
        )
    assert stored is not None and tuple(stored) == ("not_open", START)
    headers = await login(second, bidders[1][0].username)
    r = await second.post(f"/api/v1/auctions/lots/{lot_id}/bids", headers=headers, json=early)
    again = await r.json()
    assert r.status == refusal["status"] and again["code"] == "not_open", again
    assert again["detail"] == refusal["detail"]
    r = await second.post(
        f"/api/v1/auctions/lots/{lot_id}/bids", headers=headers, json={**early, "amount_fen": START + INC}
    )
    assert (await r.json())["code"] == "bid_id_reused"
    await post(second, f"/auctions/lots/{lot_id}/bids", headers, {"bid_id": "fresh", "amount_fen": START}, 201)
    bids = [e for e in await events(second, lot_id) if e["type"] == "bid_accepted"]
    assert [b["amount_fen"] for b in bids] == [START]  # only the fresh id's
