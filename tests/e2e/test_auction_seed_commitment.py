"""Issue 15 item 5 through the real server: a capped land lot decided by lottery (RULES A8).
The start publishes the SHA-256 of a seed the server drew and sealed before any bid; the
draw reveals that very seed; the exported log passes ``sunlit verify-auction``, which says it
checked the seed against its commitment; a log whose revealed seed was swapped is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from auction.rules import lottery_pick
from tests.e2e.test_auction_http import INC, START, call, lot_with_bidders
from tests.e2e.test_bidding_api import run_cli
from web import keys
from web.auction_ws import ENGINE


async def test_the_lottery_seed_is_committed_before_bidding_and_revealed_at_the_draw(
    client: Any, clock: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15 item 5 (A8): commitment before the first bid, the committed seed drawn, the
    verifier checks both; the seed is stored sealed, never in the clear."""
    cap = START + 5 * INC
    staff, lot, people = await lot_with_bidders(client, clock, 3, price_cap_fen=cap, cap_policy="lottery")
    lot_id = lot["id"]
    clock.advance(minutes=1)
    status, started = await call(client, "POST", f"/auctions/lots/{lot_id}/start", staff)
    assert status == 200, started
    commitment = started["live"]["seed_commitment"]
    assert isinstance(commitment, str) and len(commitment) == 64

    async with client.server.app[keys.POOL].acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM auction_lottery_seeds WHERE lot_id = $1", lot_id)
    assert row["commitment"] == commitment and len(bytes(row["sealed_box"])) > 32

    status, _ = await call(client, "POST", f"/auctions/lots/{lot_id}/bids", people[0][1],
                           {"bid_id": "cap", "amount_fen": cap})  # fmt: skip
    assert status == 201
    status, _ = await call(client, "POST", f"/auctions/lots/{lot_id}/cap/accept", people[2][1])
    assert status == 200
    status, done = await call(client, "POST", f"/auctions/lots/{lot_id}/cap/lottery", staff)
    assert status == 200 and done["live"]["phase"] == "closed", done

    r = await client.get(f"/api/v1/auctions/lots/{lot_id}/events?limit=100")
    events = (await r.json())["events"]
    types = [e["type"] for e in events]
    assert types.index("seed_committed") < types.index("lot_started") < types.index("bid_accepted")
    (resolved,) = [e for e in events if e["type"] == "cap_resolved"]
    seed = bytes.fromhex(resolved["seed_hex"])
    assert hashlib.sha256(seed).hexdigest() == commitment
    assert lottery_pick(seed, resolved["candidates"]) == resolved["winner"] == done["live"]["winner"]

    await client.server.app[ENGINE].wait_idle()  # the close's settlement (lot_closed hook)
    r = await client.get(f"/api/v1/auctions/lots/{lot_id}/log", headers=staff)
    assert r.status == 200, await r.text()
    export = await r.json()
    log_file = tmp_path / "lot.json"
    log_file.write_text(json.dumps(export, ensure_ascii=False))
    key = (await (await client.get("/api/v1/bidding/server-key")).json())["public_key_hex"]
    capsys.readouterr()
    assert run_cli("verify-auction", "--log", str(log_file), "--public-key", key) == 0
    out = capsys.readouterr().out
    assert "VALID" in out and f"commitment {commitment}" in out

    swapped = json.loads(log_file.read_text())
    other = b"\x01" * 32
    for e in swapped["log"]["events"]:
        if e["type"] == "cap_resolved":
            e["seed_hex"] = other.hex()
            e["winner"] = lottery_pick(other, e["candidates"])
    tampered = tmp_path / "swapped.json"
    tampered.write_text(json.dumps(swapped, ensure_ascii=False))
    capsys.readouterr()
    assert run_cli("verify-auction", "--log", str(tampered), "--public-key", key) == 1
    assert "INVALID" in capsys.readouterr().err
