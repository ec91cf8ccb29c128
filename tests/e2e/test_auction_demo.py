"""The demo auctions load, twice without harm, and a newcomer can bid on them: the land
lot's listing is open, the plate session starts two minutes after loading."""

from __future__ import annotations

from datetime import timedelta

from tests.helpers import login
from web import keys
from web.auction_ws import ENGINE
from web.demo import load_demo


async def test_the_demo_auctions_are_open_to_bid_and_load_idempotently(make_client, clock) -> None:
    client = await make_client(load_demo=True)
    app = client.server.app
    await load_demo(app)  # again: nothing new
    lots = await (await client.get("/api/v1/auctions/lots")).json()
    land = [lot for lot in lots if lot["kind"] == "land"]
    plates = [lot for lot in lots if lot["kind"] == "plate"]
    assert len(land) == 1 and len(plates) == 4
    assert land[0]["live"]["phase"] == "listing"  # the scheduler opened it at start
    text = (app[keys.CONFIG].data_dir / "demo-credentials.txt").read_text()
    password = {line.split("\t")[0]: line.split("\t")[2] for line in text.splitlines()}["bidder1"]
    headers = await login(client, "bidder1", password)
    r = await client.post(
        f"/api/v1/auctions/lots/{land[0]['id']}/bids",
        headers=headers,
        json={"bid_id": "demo-1", "amount_fen": land[0]["starting_price_fen"]},
    )
    assert r.status == 201, await r.text()
    clock.advance(minutes=2)
    await app[keys.SCHEDULER].run_due()
    r = await client.post(
        f"/api/v1/auctions/lots/{plates[0]['id']}/bids",
        headers=headers,
        json={"bid_id": "demo-2", "amount_fen": plates[0]["starting_price_fen"]},
    )
    assert r.status == 201, await r.text()
    clock.advance(timedelta(seconds=60))
    await app[ENGINE].tick()
    result = await (await client.get(f"/api/v1/auctions/lots/{plates[0]['id']}/result")).json()
    assert result["outcome"] == "sold" and result["winner"]["paddle"] == (await r.json())["paddle"]
