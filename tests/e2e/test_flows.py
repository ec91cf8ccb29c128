"""Flows that cross domains, wired in the web layer: a tender's deposit lives in the ledger —
publishing registers its terms, registering gives the bidder its own virtual sub-account (D1),
the bank's signed notification confirms it (D2), and the bidder is admitted (A6/IR 26); a
tender that asks no deposit admits without one; moving the deadline moves the deposit's."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bidding.client import seal_bid_bytes
from crypto.keys import b64url_decode, b64url_encode, generate_x25519
from crypto.signing import generate_signing_key, public_key_bytes
from tests.helpers import user_headers
from trading.context import Role
from trading.ledger import bank
from web import keys
from web.cli import main as cli_main


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def publish_tender(client: TestClient, staff: dict[str, str], deposit_fen: int) -> dict[str, Any]:
    custodians = []
    for _ in range(3):
        party, headers = await user_headers(client, Role.CUSTODIAN)
        _, pub = generate_x25519()
        await ok(await client.post("/api/v1/me/keys", headers=headers,
                                   json={"public_key": b64url_encode(pub), "algorithm": "x25519"}), 201)
        custodians.append(party.user_id)
    now = client.server.app[keys.CLOCK].now()
    tender = await ok(await client.post("/api/v1/tenders", headers=staff, json={
        "code": f"FLOW-{deposit_fen}", "project_name": "湖州市某道路工程", "category": "works",
        "lots": ["第一标段"], "estimated_price_fen": 500_000_000, "deposit_fen": deposit_fen,
        "bid_deadline_at": (now + timedelta(days=21)).isoformat(),
        "opening_at": (now + timedelta(days=21, hours=1)).isoformat(), "place": "开标室 2",
        "custodians": custodians, "threshold_k": 2, "max_bid_bytes": 65536,
    }), 201)
    await ok(await client.post(f"/api/v1/tenders/{tender['id']}/documents?name=doc.pdf", data=b"%PDF",
                               headers=staff), 201)
    return await ok(await client.post(f"/api/v1/tenders/{tender['id']}/publish", headers=staff))


async def test_a_tender_deposit_is_paid_into_the_bidders_sub_account_and_admits_it(
    client: TestClient, tmp_path: Path, capsys
) -> None:
    _, admin = await user_headers(client, Role.ADMIN)
    _, staff = await user_headers(client, Role.STAFF)
    _, sup = await user_headers(client, Role.SUPERVISOR)
    key_file = tmp_path / "bank.key"
    await ok(await client.post("/api/v1/ledger/bank-keys", headers=admin,
                               json={"public_key": public_key_bytes(bank.load_or_create_key(key_file)).hex()}), 201)
    tender = await publish_tender(client, staff, deposit_fen=10_000_000)
    ref = f"tender:{tender['id']}"

    project = await ok(await client.get(f"/api/v1/ledger/projects/{ref}", headers=sup))
    assert project["required_fen"] == 10_000_000

    bidder, bh = await user_headers(client, Role.BIDDER)
    reg = await ok(await client.post(f"/api/v1/tenders/{tender['id']}/registrations", headers=bh), 201)
    assert reg["deposit_confirmed"] is False and reg["deposit"]["required_fen"] == 10_000_000
    sub = reg["deposit"]["sub_account"]
    again = await ok(await client.post(f"/api/v1/tenders/{tender['id']}/registrations", headers=bh), 201)
    assert again["deposit"]["sub_account"] == sub  # one sub-account per (bidder, project)

    assert cli_main(["ledger", "notify", "--print", "--key", str(key_file), "--sub-account", sub,
                     "--amount", "100000.00", "--seq", "1", "--bank-ref", "FLOW1",
                     "--value-time", client.server.app[keys.CLOCK].now().isoformat()]) == 0
    body = json.loads(capsys.readouterr().out)
    outcome = await ok(await client.post("/api/v1/bank/notifications", json=body))
    assert outcome["verdict"] == "confirm"
    reg = await ok(await client.post(f"/api/v1/tenders/{tender['id']}/registrations", headers=bh), 201)
    assert reg["deposit_confirmed"] is True and reg["deposit"]["state"] == "confirmed"

    # D4 (IR 35): the bidder submits, then withdraws before the deadline → refund due in 5 days
    key = generate_signing_key()
    await ok(await client.post("/api/v1/me/keys", headers=bh, json={"public_key": public_key_bytes(key).hex()}), 201)
    envelope = seal_bid_bytes(
        tender_public=b64url_decode(tender["opening_public_key"]), tender_id=tender["id"],
        bidder_org_id=bidder.org_id, signing_key=key,
        price_schedule=b'{"amount_fen": 490000000, "duration_days": 300}', chunk_size=1024,
    )
    await ok(await client.put(f"/api/v1/tenders/{tender['id']}/bid", data=envelope,
                              headers={**bh, "Content-Type": "application/octet-stream"}), 201)
    await ok(await client.delete(f"/api/v1/tenders/{tender['id']}/bid", headers=bh))
    reg = await ok(await client.post(f"/api/v1/tenders/{tender['id']}/registrations", headers=bh), 201)
    assert reg["deposit"]["state"] == "refund_pending" and reg["deposit_confirmed"] is False
    events = await ok(await client.get("/api/v1/events?kind=ledger.refund_due", headers=sup))
    assert [e["status"] for e in events] == ["pending"]


async def test_moving_the_bid_deadline_moves_the_deposit_deadline(client: TestClient) -> None:
    _, staff = await user_headers(client, Role.STAFF)
    _, sup = await user_headers(client, Role.SUPERVISOR)
    tender = await publish_tender(client, staff, deposit_fen=5_000_000)
    now = client.server.app[keys.CLOCK].now()
    new_deadline = now + timedelta(days=25)
    await ok(await client.patch(f"/api/v1/tenders/{tender['id']}/dates", headers=staff, json={
        "bid_deadline_at": new_deadline.isoformat(),
        "opening_at": (new_deadline + timedelta(hours=1)).isoformat(), "reason": "答疑延期",
    }))
    project = await ok(await client.get(f"/api/v1/ledger/projects/tender:{tender['id']}", headers=sup))
    assert project["deadline_at"].startswith(new_deadline.strftime("%Y-%m-%dT%H:%M"))


async def test_a_tender_without_a_deposit_admits_registered_bidders(client: TestClient) -> None:
    _, staff = await user_headers(client, Role.STAFF)
    _, sup = await user_headers(client, Role.SUPERVISOR)
    tender = await publish_tender(client, staff, deposit_fen=0)
    r = await client.get(f"/api/v1/ledger/projects/tender:{tender['id']}", headers=sup)
    assert r.status == 404  # no deposit terms: nothing to pay
    bidder, bh = await user_headers(client, Role.BIDDER)
    reg = await ok(await client.post(f"/api/v1/tenders/{tender['id']}/registrations", headers=bh), 201)
    assert reg["deposit"] is None and reg["deposit_confirmed"] is False
    key = generate_signing_key()
    await ok(await client.post("/api/v1/me/keys", headers=bh, json={"public_key": public_key_bytes(key).hex()}), 201)
    envelope = seal_bid_bytes(
        tender_public=b64url_decode(tender["opening_public_key"]), tender_id=tender["id"],
        bidder_org_id=bidder.org_id, signing_key=key,
        price_schedule=b'{"amount_fen": 480000000, "duration_days": 300}', chunk_size=1024,
    )
    receipt = await ok(await client.put(f"/api/v1/tenders/{tender['id']}/bid", data=envelope,
                                         headers={**bh, "Content-Type": "application/octet-stream"}), 201)
    assert receipt["document"]["envelope_sha256"]


async def test_a_land_sale_converts_the_winners_deposit_and_refunds_the_others(
    client: TestClient, tmp_path: Path, capsys
) -> None:
    """A7 (land practice): deposits ≥ 20 % of the starting price, paid into the bidders' own
    sub-accounts, admit them to bid; at the close the winner's deposit becomes part of the
    price and the others are refunded within 5 working days."""
    from trading.clock import iso_ms
    from web.auction_ws import ENGINE

    app = client.server.app
    clock = app[keys.CLOCK]
    _, admin = await user_headers(client, Role.ADMIN)
    _, staff = await user_headers(client, Role.STAFF)
    key_file = tmp_path / "bank.key"
    await ok(await client.post("/api/v1/ledger/bank-keys", headers=admin,
                               json={"public_key": public_key_bytes(bank.load_or_create_key(key_file)).hex()}), 201)
    start = 100_000_000
    lot = await ok(await client.post("/api/v1/auctions/lots", headers=staff, json={
        "title": "湖州市某地块", "starting_price_fen": start, "increment_fen": 1_000_000,
        "deposit_fen": start // 5, "listing_starts_at": iso_ms(clock.now() + timedelta(minutes=1)),
        "listing_ends_at": iso_ms(clock.now() + timedelta(days=10, minutes=1)),
    }), 201)
    ref = f"lot:{lot['id']}"
    bidders = []
    for seq in range(1, 4):
        party, headers = await user_headers(client, Role.BIDDER)
        d = await ok(await client.post(f"/api/v1/ledger/projects/{ref}/deposits", headers=headers, json={}), 201)
        assert cli_main(["ledger", "notify", "--print", "--key", str(key_file), "--sub-account", d["sub_account"],
                         "--amount", "200000.00", "--seq", str(seq), "--bank-ref", f"LAND{seq}",
                         "--value-time", clock.now().isoformat()]) == 0
        body = json.loads(capsys.readouterr().out)
        assert (await ok(await client.post("/api/v1/bank/notifications", json=body)))["verdict"] == "confirm"
        await ok(await client.post(f"/api/v1/auctions/lots/{lot['id']}/admissions", headers=staff,
                                   json={"org_id": party.org_id}), 201)
        bidders.append((party, headers))

    await ok(await client.post(f"/api/v1/auctions/lots/{lot['id']}/schedule", headers=staff))
    clock.advance(minutes=1)
    await app[keys.SCHEDULER].run_due()  # the listing opens
    winner, wh = bidders[1]
    await ok(await client.post(f"/api/v1/auctions/lots/{lot['id']}/bids", headers=wh,
                               json={"bid_id": "w-1", "amount_fen": start}), 201)
    clock.advance(days=10)  # the listing ends; a bid was made: the timed phase runs 4 minutes
    await app[ENGINE].tick()
    clock.advance(minutes=4)
    await app[ENGINE].tick()
    await app[ENGINE].wait_idle()
    result = await ok(await client.get(f"/api/v1/auctions/lots/{lot['id']}/result"))
    assert result["outcome"] == "sold"

    _, sup = await user_headers(client, Role.SUPERVISOR)  # ten days on: a fresh session
    deposits = await ok(await client.get(f"/api/v1/ledger/projects/{ref}/deposits", headers=sup))
    states = {d["org_id"]: d["state"] for d in deposits}
    assert states[winner.org_id] == "converted"
    assert sorted(s for o, s in states.items() if o != winner.org_id) == ["refund_pending", "refund_pending"]
