"""Issue 15 item 5 (second half) through the real server: a lot's reserve price (RULES A3)
held by custodians k of n, as a tender's opening key is (RULES T9), instead of by the
server. The reserve's key is made for the lot and split among three custodians (k = 2); the
server keeps nothing that opens it; at the close the lot waits in ``awaiting_reserve`` until
two custodians have handed in their shares (``sunlit auction reserve-share``); a share that
does not fit is refused; at most k − 1 shares are ever written; ``sunlit verify-auction``
checks the reveal against the commitment logged before the first bid, and the key against
the one that commitment binds."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from auction import service
from auction.reserve import ReserveKey, open_sealed_share
from auction.verify import verify_auction
from bidding.client import load_key
from crypto.errors import SealedBoxError
from crypto.shamir import Share
from tests.e2e.test_auction_ws import INC, START, Bidder, admitted_land_lot, post
from tests.e2e.test_bidding_api import cli_in_thread, run_cli
from tests.helpers import Party, user_headers
from trading.context import Actor, Role
from web import keys
from web.auction.wiring import _reserve_key_path
from web.auction_ws import ENGINE


async def _custodians(client: Any, tmp: Path, n: int) -> list[tuple[Party, dict[str, str], Path]]:
    """Custodian users, each with an X25519 key pair made by ``sunlit bid keygen`` and its
    public half registered."""
    out = []
    for i in range(n):
        party, headers = await user_headers(client, Role.CUSTODIAN)
        assert run_cli("bid", "keygen", "--out-dir", str(tmp), "--name", f"rc{i}") == 0
        pub = (tmp / f"rc{i}.x25519.pub").read_text().strip()
        r = await client.post(
            "/api/v1/me/keys", json={"public_key": pub, "algorithm": "x25519"}, headers=headers
        )
        assert r.status == 201, await r.text()
        out.append((party, headers, tmp / f"rc{i}.x25519"))
    return out


async def _problem(client: Any, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, str]:
    r = await client.request(method, "/api/v1" + path, headers=headers, json=body)
    return r.status, (await r.json()).get("code")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()
    } if root.exists() else {}


async def _bid_and_end(client: Any, clock: Any, lot_id: int, staff: dict[str, str], bidder: Bidder) -> None:
    """Start the lot, one bid at the start price, and let bidding end (the reveal hook ran)."""
    clock.advance(minutes=1)
    await post(client, f"/auctions/lots/{lot_id}/start", staff)
    await post(client, f"/auctions/lots/{lot_id}/bids", bidder.headers, {"bid_id": "x", "amount_fen": START}, 201)
    clock.advance(days=10, seconds=60)
    await client.server.app[ENGINE].tick()
    await client.server.app[ENGINE].wait_idle()


async def _awaiting_custodians(
    client: Any, clock: Any, tmp: Path, reserve: int, **lot: Any
) -> tuple[int, list[tuple[Party, dict[str, str], Path]]]:
    """A lot with one bidder whose reserve is held by three custodians (k = 2), one bid,
    bidding ended: the lot awaits their shares."""
    staff, people, row, _ = await admitted_land_lot(client, clock, 1, countdown_s=60, **lot)
    trio = await _custodians(client, tmp, 3)
    await post(client, f"/auctions/lots/{row['id']}/reserve", staff,
               {"reserve_fen": reserve, "custodians": [p.user_id for p, _, _ in trio], "threshold_k": 2}, 201)  # fmt: skip
    await _bid_and_end(client, clock, row["id"], staff, people[0])
    return row["id"], trio


async def test_a_reserve_held_by_custodians_opens_only_with_k_of_their_shares(
    make_client: Any, clock: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """RULES A3 (reserve secret until the close), A4 (sold at or above it), T9 (k of n
    custodians, a share that does not fit refused); issue 15 item 5: the verifier checks
    both the reveal and the key."""
    client = await make_client(session_ttl_s=60 * 86400)  # the listing lasts ten days
    app = client.server.app
    url = str(client.make_url("")).rstrip("/")
    staff, people, lot, paddles = await admitted_land_lot(client, clock, 2, countdown_s=60)
    lot_id = lot["id"]
    trio = await _custodians(client, tmp_path, 3)
    (_, outsider_h, _), = await _custodians(client, tmp_path / "x", 1)  # of no share
    no_key, _ = await user_headers(client, Role.CUSTODIAN)  # no X25519 key registered
    ids = [p.user_id for p, _, _ in trio]
    reserve = START + INC + 123_400  # an amount that appears nowhere else

    # bad custody is refused with its code, and nothing is sealed
    path = f"/auctions/lots/{lot_id}/reserve"
    for body, status, code in (
        ({"custodians": ids, "threshold_k": 4}, 422, "bad_custodian_threshold"),
        ({"custodians": [ids[0], ids[0]], "threshold_k": 2}, 422, "bad_custodian_threshold"),
        ({"custodians": ids}, 422, "bad_custodian_threshold"),
        ({"threshold_k": 2}, 422, "bad_custodian_threshold"),
        ({"custodians": [ids[0], people[0].user_id], "threshold_k": 2}, 422, "custodian_user_invalid"),
        ({"custodians": [ids[0], no_key.user_id], "threshold_k": 2}, 409, "custodian_without_key"),
    ):
        got = await _problem(client, "POST", path, staff, {"reserve_fen": reserve, **body})
        assert got == (status, code), (body, got)
    data_dir = app[keys.CONFIG].data_dir
    before = _files(data_dir)
    sealed = await post(
        client, path, staff, {"reserve_fen": reserve, "custodians": ids, "threshold_k": 2}, 201
    )
    assert sealed["held_by"] == "custodians"
    server_key = ReserveKey.load_or_create(_reserve_key_path(app))
    assert sealed["key_id"] != server_key.key_id

    # the server holds nothing that opens it: no new key file, the box is not its key's
    assert _files(data_dir) == before
    async with app[keys.POOL].acquire() as conn:
        box = bytes(await conn.fetchval(
            "SELECT sealed_box FROM auction_reserves WHERE lot_id = $1", lot_id
        ))  # fmt: skip
        custody = await conn.fetchrow(
            "SELECT * FROM auction_reserve_custody WHERE lot_id = $1", lot_id
        )
    assert custody["opened_key"] is None and custody["threshold_k"] == 2
    with pytest.raises(SealedBoxError):
        server_key.open(lot_id, box)

    # before bidding ends no share is given out or taken
    _, c0_h, c0_key = trio[0]
    assert await _problem(client, "GET", f"/auctions/lots/{lot_id}/reserve/shares/mine", c0_h) == (
        409, "reserve_not_due")  # fmt: skip
    clock.advance(minutes=1)
    await post(client, f"/auctions/lots/{lot_id}/start", staff)
    a, b = people
    await post(client, f"/auctions/lots/{lot_id}/bids", a.headers, {"bid_id": "a", "amount_fen": START}, 201)
    await post(client, f"/auctions/lots/{lot_id}/bids", b.headers,
               {"bid_id": "b", "amount_fen": START + 2 * INC}, 201)  # fmt: skip
    assert await _problem(client, "POST", path, staff, {"reserve_fen": START}) == (
        409, "reserve_after_first_bid")  # fmt: skip
    clock.advance(days=10, seconds=60)
    await app[ENGINE].tick()
    await app[ENGINE].wait_idle()  # the reveal hook ran: it told the custodians and stopped

    live = (await (await client.get(f"/api/v1/auctions/lots/{lot_id}")).json())["live"]
    assert live["phase"] == "awaiting_reserve" and live["reserve_fen"] is None
    async with app[keys.POOL].acquire() as conn:
        told = await conn.fetch(
            "SELECT user_id FROM notices WHERE object_type = 'auction_lot' AND object_id = $1 "
            "AND user_id IS NOT NULL",
            str(lot_id),
        )
    assert sorted(r["user_id"] for r in told) == sorted(ids)
    assert await _problem(client, "POST", f"/auctions/lots/{lot_id}/reserve/reveal", staff) == (
        409, "reserve_held_by_custodians")  # fmt: skip

    # one share: still waiting; one share written
    token = c0_h["Authorization"].split()[1]
    capsys.readouterr()
    assert await cli_in_thread("auction", "reserve-share", "--url", url, f"--token={token}",
                               "--lot", str(lot_id), "--key", str(c0_key)) == 0  # fmt: skip
    assert "1 of 2 needed" in capsys.readouterr().out
    status = await (await client.get(f"/api/v1/auctions/lots/{lot_id}/reserve/custody", headers=staff)).json()
    assert status["phase"] == "awaiting_reserve" and status["shares_received"] == 1
    assert len(status["missing"]) == 2
    async with app[keys.POOL].acquire() as conn:
        written = await conn.fetchval(
            "SELECT count(*) FROM auction_reserve_custodians WHERE lot_id = $1 AND share IS NOT NULL",
            lot_id,
        )
    assert written == 1  # k - 1

    # a share that does not fit, a malformed one, someone who is no custodian of it
    shares_path = f"/auctions/lots/{lot_id}/reserve/shares"
    _, c1_h, _ = trio[1]
    forged = Share(x=2, k=2, y=os.urandom(32)).encode()
    assert await _problem(client, "POST", shares_path, c1_h, {"share": forged}) == (422, "share_does_not_fit")
    assert await _problem(client, "POST", shares_path, c1_h, {"share": "S1-2-2-zz"}) == (422, "malformed_share")
    assert await _problem(client, "POST", shares_path, outsider_h, {"share": forged}) == (403, "not_a_custodian")
    assert await _problem(client, "POST", shares_path, a.headers, {"share": forged}) == (403, "role_forbidden")
    async with app[keys.POOL].acquire() as conn:
        refused = await conn.fetch(
            "SELECT outcome, detail FROM audit_log WHERE action = 'auction.reserve.share_hand_in' "
            "AND object_id = $1 ORDER BY seq",
            str(lot_id),
        )
        alerts = await conn.fetchval(
            "SELECT count(*) FROM alerts WHERE kind = 'auction.share_does_not_fit' "
            "AND object_id = $1",
            str(lot_id),
        )
    assert [r["outcome"] for r in refused] == ["ok", "failed", "denied"] and alerts == 1
    live = (await (await client.get(f"/api/v1/auctions/lots/{lot_id}")).json())["live"]
    assert live["phase"] == "awaiting_reserve"

    # the second share: the key is rebuilt in memory, the reserve revealed, the lot closed
    _, c2_h, c2_key = trio[2]
    token = c2_h["Authorization"].split()[1]
    assert await cli_in_thread("auction", "reserve-share", "--url", url, f"--token={token}",
                               "--lot", str(lot_id), "--key", str(c2_key)) == 0  # fmt: skip
    assert "closed (sold)" in capsys.readouterr().out
    await app[ENGINE].wait_idle()  # the settlement
    result = await (await client.get(f"/api/v1/auctions/lots/{lot_id}/result")).json()
    assert result["outcome"] == "sold" and result["winner"]["paddle"] == paddles[b.org_id]
    assert result["price_fen"] == START + 2 * INC and result["reserve"]["reserve_fen"] == reserve
    async with app[keys.POOL].acquire() as conn:
        written = await conn.fetchval(
            "SELECT count(*) FROM auction_reserve_custodians WHERE lot_id = $1 AND share IS NOT NULL",
            lot_id,
        )
    assert written == 0  # wiped; the second was never written
    assert _files(data_dir) == before
    assert await _problem(client, "POST", shares_path, c1_h, {"share": forged}) == (409, "closed")

    # the verifier checks the reveal against the commitment and the key against the custody
    r = await client.get(f"/api/v1/auctions/lots/{lot_id}/log", headers=staff)
    assert r.status == 200, await r.text()
    export = await r.json()
    assert export["log"]["reserve"]["custody"]["threshold_k"] == 2
    log_file = tmp_path / "lot.json"
    log_file.write_text(json.dumps(export, ensure_ascii=False))
    server = (await (await client.get("/api/v1/bidding/server-key")).json())["public_key_hex"]
    capsys.readouterr()
    assert run_cli("verify-auction", "--log", str(log_file), "--public-key", server) == 0
    out = capsys.readouterr().out
    assert "VALID" in out and "split 2 of 3 among custodians" in out, out

    # another key, or another custodian's share commitment, is not the one committed
    other = ReserveKey.generate()
    for name, change, why in (
        ("key", lambda c: c.update(opened_key_hex=other.private.hex()),
         "the published key is not the committed key"),
        ("pub", lambda c: c.update(public_key_hex=other.public.hex(), key_id=other.key_id,
                                   opened_key_hex=other.private.hex()),
         "the custodians' key and shares are not the ones the commitment binds"),
        ("share", lambda c: c["custodians"][0].update(share_commitment_hex="00" * 32),
         "the custodians' key and shares are not the ones the commitment binds"),
    ):  # fmt: skip
        tampered = json.loads(log_file.read_text())
        change(tampered["log"]["reserve"]["custody"])
        bad = tmp_path / f"tampered-{name}.json"
        bad.write_text(json.dumps(tampered, ensure_ascii=False))
        capsys.readouterr()
        assert run_cli("verify-auction", "--log", str(bad), "--public-key", server) == 1, name
        problems = verify_auction(tampered, bytes.fromhex(server)).problems
        assert "reserve: " + why in problems, (name, problems)


async def test_a_reserve_without_custodians_keeps_the_server_key(client: Any, clock: Any) -> None:
    """RULES A3: a reserve entered without custodians is sealed to the server's reserve key
    and opened by itself at the close, as before; its share endpoints say there is none."""
    staff, people, lot, _ = await admitted_land_lot(client, clock, 1, countdown_s=60)
    lot_id = lot["id"]
    sealed = await post(client, f"/auctions/lots/{lot_id}/reserve", staff, {"reserve_fen": START}, 201)
    assert sealed["held_by"] == "server"
    assert await _problem(client, "GET", f"/auctions/lots/{lot_id}/reserve/custody", staff) == (
        404, "reserve_custody_not_found")  # fmt: skip
    await _bid_and_end(client, clock, lot_id, staff, people[0])
    result = await (await client.get(f"/api/v1/auctions/lots/{lot_id}/result")).json()
    assert result["outcome"] == "sold" and result["reserve"]["reserve_fen"] == START


async def test_a_reveal_stored_but_not_yet_logged_is_sent_by_the_next_hand_in(
    make_client: Any, clock: Any, tmp_path: Path
) -> None:
    """RULES A3 with custodians: if the process stops after the k-th share rebuilt the key
    (the reveal stored) but before ``RevealReserve`` was logged, the lot is not stuck: a
    later hand-in (or the engine's reveal hook, when the lot is loaded again) sends the
    stored reveal, and the lot closes with it."""
    client = await make_client(session_ttl_s=60 * 86400)
    app = client.server.app
    reserve = START + 7 * INC  # above the only bid: no sale
    lot_id, trio = await _awaiting_custodians(client, clock, tmp_path, reserve)
    state = await app[ENGINE].committed_state(lot_id)
    assert state.phase.value == "awaiting_reserve"

    async with app[keys.POOL].acquire() as conn:  # two hand-ins through the service only
        for party, _, key_file in trio[:2]:
            actor = Actor(party.user_id, party.username, Role.CUSTODIAN)
            mine = await service.my_sealed_share(
                conn, app[keys.AUDIT], actor, clock.now(), lot_id=lot_id,
                commitment=state.reserve_commitment, awaiting=True,
            )  # fmt: skip
            share = open_sealed_share(mine["sealed_share"], load_key(key_file), lot_id)
            got = await service.hand_in_share(
                conn, app[keys.AUDIT], actor, clock.now(), lot_id=lot_id,
                commitment=state.reserve_commitment, awaiting=True, share_text=share,
            )  # fmt: skip
    assert got["key_rebuilt"] and got["reveal"][0] == reserve
    assert (await app[ENGINE].committed_state(lot_id)).phase.value == "awaiting_reserve"

    party, headers, key_file = trio[2]
    mine = await (await client.get(f"/api/v1/auctions/lots/{lot_id}/reserve/shares/mine", headers=headers)).json()
    share = open_sealed_share(mine["sealed_share"], load_key(key_file), lot_id)
    r = await client.post(f"/api/v1/auctions/lots/{lot_id}/reserve/shares", json={"share": share}, headers=headers)
    answer = await r.json()
    assert r.status == 200 and answer["counted"] is False, answer
    assert answer["phase"] == "closed" and answer["outcome"] == "no_sale"
    await app[ENGINE].wait_idle()
    result = await (await client.get(f"/api/v1/auctions/lots/{lot_id}/result")).json()
    assert result["basis"] == "below_reserve" and result["reserve"]["reserve_fen"] == reserve


async def test_custodians_hand_in_the_reserve_share_in_their_page(
    make_client: Any, clock: Any, tmp_path: Path
) -> None:
    """RULES A3 with custodians, in the browser: the custodian's page lists the lot whose
    reserve key they hold a share of; the share is opened in the page with the key file the
    custodian picks (never uploaded) and handed in; the second one closes the lot."""
    from tests.e2e.browser import assert_no_horizontal_overflow, base_url, browser, login, new_page
    from tests.helpers import PASSWORD

    client = await make_client(session_ttl_s=60 * 86400)
    app = client.server.app
    lot_id, trio = await _awaiting_custodians(client, clock, tmp_path, START, title="保管人地块 Custody plot")
    base = base_url(client)
    bodies: list[bytes] = []
    async with browser() as b:
        for n, (party, _headers, key_file) in enumerate(trio[:2]):
            page = await new_page(b, "zh-CN")
            page.on("request", lambda r: bodies.append(r.post_data_buffer or b""))
            await login(page, base, party.username, PASSWORD, next_path="/custodian")
            row = page.locator(f".share-row[data-lot='{lot_id}']")
            assert "保管人地块" in (await row.text_content() or "")
            await page.set_input_files("#key-file", str(key_file))
            await page.wait_for_selector("#key-state.ok")
            await row.locator("button.hand-in").click()
            await page.wait_for_function(
                f"() => document.querySelector(\".share-row[data-lot='{lot_id}'] .share-result\").classList.contains('ok')"
            )
            assert await row.get_attribute("data-state") == ("awaiting_reserve" if n == 0 else "closed")
            if n == 1:
                assert "底价已开启" in (await row.locator(".share-result").text_content() or "")
                await assert_no_horizontal_overflow(page)
    await app[ENGINE].wait_idle()
    result = await (await client.get(f"/api/v1/auctions/lots/{lot_id}/result")).json()
    assert result["outcome"] == "sold" and result["reserve"]["reserve_fen"] == START
    private_keys = [key_file.read_text().strip().encode() for _, _, key_file in trio]
    assert bodies and not any(k in body for k in private_keys for body in bodies)  # never sent


async def test_custodians_slower_than_an_hour_raise_one_alert_resolved_when_they_open_it(
    make_client: Any, clock: Any, tmp_path: Path
) -> None:
    """RULES S4 (every overdue step is watched) with A3: a sealed reserve still unopened an
    hour after the close raises one ``auction.reserve_overdue`` alert for the supervisors
    (the lot keeps waiting: only the custodians can open it); the watch resolves the alert
    once they have."""
    client = await make_client(session_ttl_s=60 * 86400)  # the listing lasts ten days
    app = client.server.app
    url = str(client.make_url("")).rstrip("/")
    lot_id, trio = await _awaiting_custodians(client, clock, tmp_path, START)

    async def overdue_alerts() -> list[dict[str, Any]]:
        while await app[keys.SCHEDULER].run_due():
            pass
        async with app[keys.POOL].acquire() as conn:
            rows = await conn.fetch("SELECT * FROM alerts WHERE kind = 'auction.reserve_overdue'")
        return [dict(r) for r in rows]

    clock.advance(minutes=59)
    assert await overdue_alerts() == []
    clock.advance(minutes=2)
    [alert] = await overdue_alerts()
    assert alert["object_id"] == str(lot_id) and alert["object_type"] == "auction_lot"
    assert alert["state"] == "open" and "0 of the 2 shares" in alert["message_en"]
    clock.advance(hours=1)
    assert len(await overdue_alerts()) == 1  # once

    for _, headers, key in trio[:2]:
        token = headers["Authorization"].split()[1]
        assert await cli_in_thread("auction", "reserve-share", "--url", url, f"--token={token}",
                                   "--lot", str(lot_id), "--key", str(key)) == 0  # fmt: skip
    await app[ENGINE].wait_idle()
    assert (await (await client.get(f"/api/v1/auctions/lots/{lot_id}")).json())["live"]["phase"] == "closed"
    clock.advance(hours=1, minutes=1)  # the watch sweeps every hour (SupervisionSettings.sweep_interval_s)
    [alert] = await overdue_alerts()
    assert alert["state"] == "resolved"
