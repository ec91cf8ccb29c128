"""Issue 16, items 5 and 9, through the real server and the ``sunlit`` CLI: a real opening
record checked by ``sunlit bid verify-opening``; a real finished lot exported (``sunlit
auction export``) and replayed by ``sunlit verify-auction``; ``sunlit experts verify-draw``
without a key never prints OK. And a lot's JSON shows the listing end as it stands after a
pause. Sources: RULES T11 (opening record), E7 (draw), A1–A6 (auction); issue 16."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_auction_ws import INC, START, confirm, land_lot, make_bidders, post
from tests.e2e.test_bidding_api import CONFIG, Centre, cli_in_thread, run_cli
from tests.helpers import login, user_headers
from trading.clock import iso_ms
from trading.context import Role
from web import keys
from web.auction_ws import ENGINE


@pytest.fixture
async def centre(make_client: Any, tmp_path: Path) -> Centre:
    client = await make_client(**CONFIG)
    c = Centre(client, tmp_path)
    await c.start()
    return c


async def _opened_tender(centre: Centre, tmp_path: Path) -> int:
    """Three sealed bids submitted with the client, frozen at the deadline, opened by two
    custodians with the client: a real opening record."""
    app = centre.client.server.app
    tender = await centre.tender()
    tid = tender["id"]
    for i, (party, headers, key_file) in enumerate(centre.bidders):
        schedule = tmp_path / f"schedule{i}.json"
        schedule.write_text(json.dumps({"amount_fen": 800_000_000 + i, "duration_days": 500 + i,
                                        "declared_items": {"质量": "合格"}}), "utf-8")  # fmt: skip
        envelope = tmp_path / f"bid{i}.env"
        assert run_cli("bid", "seal", "--tender-public-key", tender["opening_public_key"], "--tender-id", str(tid),
                       "--bidder-org", str(party.org_id), "--signing-key", str(key_file),
                       "--price-schedule", str(schedule), "--out", str(envelope)) == 0  # fmt: skip
        token = headers["Authorization"].split()[1]
        assert await cli_in_thread("bid", "submit", "--url", centre.url, f"--token={token}",
                                   "--tender-id", str(tid), "--envelope", str(envelope)) == 0  # fmt: skip
    clock = app[keys.CLOCK]
    clock.set(datetime.fromisoformat(tender["bid_deadline_at"]))  # the deadline: frozen
    await app[keys.SCHEDULER].run_due()
    clock.set(datetime.fromisoformat(tender["opening_at"]))  # the opening session starts
    await app[keys.SCHEDULER].run_due()
    for _party, headers, key_file in centre.custodians[:2]:
        token = headers["Authorization"].split()[1]
        assert await cli_in_thread("bid", "share", "--url", centre.url, f"--token={token}",
                                   "--tender-id", str(tid), "--key", str(key_file)) == 0  # fmt: skip
    return tid


async def test_item5_verify_opening_checks_a_real_opening_record(
    centre: Centre, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16 item 5 (T11): the published record of a real opening verifies — signature,
    Merkle root, each entry's inclusion proof, the tree head, a bidder's own proof; a changed
    record, or another key, is refused (exit 1); a receipt is not an opening record."""
    client = centre.client
    tid = await _opened_tender(centre, tmp_path)
    key = (await (await client.get("/api/v1/bidding/server-key")).json())["public_key_hex"]
    record = tmp_path / "record.json"
    record.write_text(await (await client.get(f"/api/v1/tenders/{tid}/opening-record/public")).text())
    head = tmp_path / "head.json"
    head.write_text(await (await client.get(f"/api/v1/tenders/{tid}/bid-tree")).text())
    proof = tmp_path / "proof.json"
    _, bidder_h, _ = centre.bidders[1]
    proof.write_text(await (await client.get(f"/api/v1/tenders/{tid}/bid/proof", headers=bidder_h)).text())
    capsys.readouterr()
    assert run_cli("bid", "verify-opening", "--record", str(record), "--public-key", key,
                   "--tree-head", str(head), "--proof", str(proof)) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "VALID" in out and "inclusion proof of each of the 3 entries" in out and "proof 1" in out

    full = tmp_path / "full.json"
    full.write_text(await (await client.get(f"/api/v1/tenders/{tid}/opening-record", headers=centre.staff_h)).text())
    assert run_cli("bid", "verify-opening", "--record", str(full), "--public-key", key) == 0

    tampered = json.loads(record.read_text())
    tampered["document"]["entries"][0]["amount_fen"] += 1
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(tampered, ensure_ascii=False))
    capsys.readouterr()
    assert run_cli("bid", "verify-opening", "--record", str(bad), "--public-key", key) == 1
    assert "INVALID" in capsys.readouterr().err
    assert run_cli("bid", "verify-opening", "--record", str(record), "--public-key", "ab" * 32) == 1
    assert run_cli("bid", "verify-opening", "--record", str(head), "--public-key", key) == 1


def test_item5_verify_draw_without_a_key_does_not_print_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16 item 5 (E7): a bundle whose hashes and re-run agree is OK only with the
    signer's key; without one the CLI says NOT VERIFIED and exits 3, never printing OK."""
    from tests.unit.test_honest_verifiers import PUBLIC, _bundle

    path = tmp_path / "draw.json"
    path.write_text(json.dumps(_bundle(), ensure_ascii=False))
    capsys.readouterr()
    assert run_cli("experts", "verify-draw", "--record", str(path)) == 3
    out, err = capsys.readouterr()
    assert "OK" not in out and "NOT VERIFIED" in err and "signature was not checked" in err
    assert run_cli("experts", "verify-draw", str(path)) == 3  # the file as the positional argument
    assert run_cli("experts", "verify-draw", "--record", str(path), "--json") == 3
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert run_cli("experts", "verify-draw", "--record", str(path), "--public-key", "ab" * 32) == 1
    assert run_cli("experts", "verify-draw", "--record", str(path), "--public-key", PUBLIC.hex()) == 0
    key_file = tmp_path / "server.pub"
    key_file.write_text(PUBLIC.hex() + "\n")
    capsys.readouterr()
    assert run_cli("experts", "verify-draw", "--record", str(path), "--public-key-file", str(key_file)) == 0
    assert ": OK" in capsys.readouterr().out


async def _land_lot(client: Any, staff: dict[str, str], clock: Any) -> tuple[Any, dict[str, Any], dict[int, str]]:
    people = await make_bidders(client, 2)
    lot = await land_lot(client, staff, clock, countdown_s=240)
    paddles = {}
    for b in people:
        await confirm(client, staff, b.org_id, f"lot:{lot['id']}")
        admitted = await post(client, f"/auctions/lots/{lot['id']}/admissions", staff, {"org_id": b.org_id}, 201)
        paddles[b.org_id] = admitted["paddle"]
    return people, lot, paddles


async def test_item9_verify_auction_replays_a_real_exported_log_of_a_finished_lot(
    client: Any, clock: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16 item 9 (A1–A6): a land lot with a sealed reserve, listing bids, a pause and
    a resume, a countdown, the reserve revealed, sold. The lot's JSON shows the listing end
    moved by the pause; the log is exported only once the lot has ended; ``sunlit
    verify-auction`` replays it and checks the confirmation; a changed log is refused."""
    app = client.server.app
    engine = app[ENGINE]
    staff_party, staff = await user_headers(client, Role.STAFF)
    people, lot, _paddles = await _land_lot(client, staff, clock)
    lot_id = lot["id"]
    await post(client, f"/auctions/lots/{lot_id}/reserve", staff, {"reserve_fen": START + INC}, 201)
    clock.advance(minutes=1)
    await post(client, f"/auctions/lots/{lot_id}/start", staff)
    await post(client, f"/auctions/lots/{lot_id}/bids", people[0].headers, {"bid_id": "a", "amount_fen": START}, 201)
    r = await client.get(f"/api/v1/auctions/lots/{lot_id}/log", headers=staff)
    assert r.status == 409 and (await r.json())["code"] == "lot_not_ended"

    original = lot["listing_ends_at"]
    await post(client, f"/auctions/lots/{lot_id}/pause", staff, {"reason": "power cut"})
    clock.advance(hours=2)
    resumed = await post(client, f"/auctions/lots/{lot_id}/resume", staff)
    moved = iso_ms(datetime.fromisoformat(original) + timedelta(hours=2))
    assert resumed["listing_ends_at"] == moved and resumed["listing_ends_at_original"] == original
    shown = await (await client.get(f"/api/v1/auctions/lots/{lot_id}")).json()
    assert shown["listing_ends_at"] == moved == shown["live"]["listing_ends_at"]

    clock.advance(days=3)
    bidder = await login(client, people[1].username)  # sessions expire over days
    await post(client, f"/auctions/lots/{lot_id}/bids", bidder,
               {"bid_id": "b", "amount_fen": START + 2 * INC}, 201)  # fmt: skip
    clock.advance(days=11)
    await engine.tick()
    await engine.wait_idle()
    result = await (await client.get(f"/api/v1/auctions/lots/{lot_id}/result")).json()
    assert result["outcome"] == "sold" and result["price_fen"] == START + 2 * INC

    base = str(client.server.make_url("")).rstrip("/")
    staff = await login(client, staff_party.username)
    token = staff["Authorization"].split()[1]
    log_file, conf_file = tmp_path / "lot.json", tmp_path / "confirmation.json"
    assert await asyncio.to_thread(run_cli, "auction", "export", "--url", base, "--lot", str(lot_id),
                                   "--out", str(log_file), "--confirmation-out", str(conf_file),
                                   f"--token={token}") == 0  # fmt: skip
    key = (await (await client.get("/api/v1/bidding/server-key")).json())["public_key_hex"]
    capsys.readouterr()
    assert run_cli("verify-auction", "--log", str(log_file), "--public-key", key,
                   "--confirmation", str(conf_file)) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "VALID" in out and "sold" in out and "confirmation: winner, price" in out

    exported = json.loads(log_file.read_text())
    types = [e["type"] for e in exported["log"]["events"]]
    assert {"lot_paused", "lot_resumed", "reserve_sealed", "bidding_ended"} <= set(types)
    bid = next(e for e in exported["log"]["events"] if e.get("bid_id") == "b")
    bid["amount_fen"] = START + INC + INC // 2  # off the increment grid
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(exported, ensure_ascii=False))
    capsys.readouterr()
    assert run_cli("verify-auction", "--log", str(tampered), "--public-key", key) == 1
    assert "INVALID" in capsys.readouterr().err
    assert run_cli("verify-auction", "--log", str(log_file), "--public-key", "ab" * 32) == 1
