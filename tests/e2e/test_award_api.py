"""The award through the HTTP API and the CLI, on the real app with a fake clock: publicity,
an objection, refusals as problem+json with stable codes in both languages, roles
(supervisors write only their own acts), award, contract, refunds and the trial balance.

Sources (RULES.md): T18 (IR 54), W8 (IR 55), W9 (BL 45), W10 (BL 46), W11 (IR 58),
W12 (IR 60–62), D5 (IR 57).

The tender is brought to its opening through the service layer (as the bidding tests do);
the concluded evaluation result is the one crossing replaced here: ``web.award.concluded``
answers a ranking of the opened bids by price, as the evaluation's ``concluded_result``
would once the panel's report is signed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bidding.award.model import Candidate, Result
from bidding.model import TenderState
from tests.helpers import login, problem, user_headers
from tests.service.test_award import PRICES, pay_deposits
from tests.service.test_bidding_support import (
    World,
    make_world,
    schedule_json,
    seal_for,
    share_of,
    submit,
)
from trading.clock import FakeClock
from trading.context import Role
from web import award as web_award
from web import keys

ROOT = Path(__file__).resolve().parents[2]


async def opened_tender(client: TestClient, clock: FakeClock) -> World:
    app = client.server.app
    world = await make_world(app[keys.POOL], app[keys.AUDIT], clock, confirm=False)
    await pay_deposits(world)
    for bidder, price in zip(world.bidders, PRICES, strict=True):
        await submit(world, bidder, seal_for(world, bidder, schedule_json(price)))
    clock.set(world.tender.opening_at)
    await app[keys.SCHEDULER].run_due()
    for custodian in world.custodians[:2]:
        headers = await login(client, custodian.party.username)
        r = await client.post(
            f"/api/v1/tenders/{world.tender_id}/shares", json={"share": await share_of(world, custodian)},
            headers=headers,
        )
        assert r.status == 200, await r.text()
    await world.reload()
    assert world.tender.state is TenderState.OPENED
    return world


async def ranking(world: World) -> Result:
    async with world.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, org_id FROM bids WHERE tender_id = $1 AND leaf_index IS NOT NULL", world.tender_id
        )
    price = dict(zip((b.org_id for b in world.bidders), PRICES, strict=True))
    ranked = sorted((price[r["org_id"]], r["id"], r["org_id"]) for r in rows)[:3]
    return Result(
        world.tender_id, 1, world.clock.now(), False,
        tuple(Candidate(i + 1, b, o, p) for i, (p, b, o) in enumerate(ranked)),
    )


async def test_the_award_through_the_api_and_the_cli(
    make_client: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, db_dsn: str, tmp_path: Path
) -> None:
    """T18, W8–W12, D5 end to end over HTTP; every refusal a 4xx problem with its code."""
    client = await make_client(session_ttl_s=40 * 86400)  # the sessions outlive the fake days
    world = await opened_tender(client, clock)
    clock.advance(days=1)
    result = await ranking(world)

    async def concluded(_conn: Any, tender_id: int) -> Result | None:
        return result if tender_id == world.tender_id else None

    monkeypatch.setattr(web_award, "concluded", concluded)
    base = f"/api/v1/tenders/{world.tender_id}"
    staff = await login(client, world.staff.username)
    first, second, _ = result.candidates
    bidder = {b.org_id: await login(client, b.party.username) for b in world.bidders}
    _, supervisor = await user_headers(client, Role.SUPERVISOR)

    # before the publicity: no award, no objection
    await problem(await client.post(base + "/award", json={}, headers=staff), 409, "no_concluded_report")
    r = await client.post(base + "/award/publicity", headers=staff)
    assert r.status == 200, await r.text()
    assert (await r.json())["state"] == "publicity"

    # T18: an objection suspends the award; the publicity must end first
    r = await client.post(base + "/award/objections", json={"text": "异议 objection"}, headers=bidder[second.org_id])
    assert r.status == 201, await r.text()
    objection_id = (await r.json())["id"]
    body = await problem(await client.post(base + "/award", json={}, headers=staff), 409, "publicity_not_ended")
    zh = await client.post(base + "/award", json={}, headers={**staff, "Accept-Language": "zh-CN"})
    assert "公示" in (await zh.json())["detail"] and "publicity" in body["detail"]
    clock.advance(days=3)
    await problem(await client.post(base + "/award", json={}, headers=staff), 409, "objection_open")
    await problem(
        await client.post(base + "/award/objections", json={"text": "late"}, headers=bidder[first.org_id]),
        409, "objection_outside_window",
    )
    r = await client.post(f"{base}/award/objections/{objection_id}/answer", json={"answer": "答复 answer"},
                          headers=staff)
    assert r.status == 200, await r.text()

    # W12: a late complaint; a supervisor accepts without suspending, and may not award
    await problem(
        await client.post(base + "/award/complaints",
                          json={"text": "x", "known_at": (clock.now() - timedelta(days=11)).isoformat()},
                          headers=bidder[second.org_id]),
        409, "complaint_late",
    )
    r = await client.post(base + "/award/complaints", json={"text": "投诉 complaint"}, headers=bidder[second.org_id])
    assert r.status == 201, await r.text()
    complaint_id = (await r.json())["id"]
    await problem(await client.post(f"{base}/award/complaints/{complaint_id}/accept", json={}, headers=staff),
                  403, "role_forbidden")
    r = await client.post(f"{base}/award/complaints/{complaint_id}/accept", json={"suspend_award": False},
                          headers=supervisor)
    assert r.status == 200 and (await r.json())["state"] == "accepted"
    await problem(await client.post(base + "/award", json={}, headers=supervisor), 403, "role_forbidden")

    # W8: skipping the first needs a reason; W9: the award
    await problem(await client.post(base + "/award", json={"rank": 2}, headers=staff), 422, "skip_without_reason")
    await problem(await client.post(base + "/award", json={"rank": 2, "reason": "bored"}, headers=staff),
                  422, "validation_failed")
    r = await client.post(base + "/award", json={"rank": 1}, headers=staff)
    assert r.status == 201, await r.text()
    assert (await r.json())["awarded_rank"] == 1
    r = await client.get(base + "/award/notice", headers=bidder[first.org_id])
    assert (await r.json())["document"]["winner_org_id"] == first.org_id

    # W10, W11: wrong amount, bond over 10 %; then the contract and the refunds (D5)
    await problem(await client.post(base + "/contract", json={"amount_fen": first.price_fen - 1}, headers=staff),
                  422, "contract_amount_differs")
    await problem(
        await client.post(base + "/contract", json={"amount_fen": first.price_fen,
                                                    "performance_bond_fen": first.price_fen // 10 + 1},
                          headers=staff),
        422, "bond_over_ten_percent",
    )
    r = await client.post(base + "/contract", json={"amount_fen": first.price_fen,
                                                    "performance_bond_fen": first.price_fen // 10},
                          headers=staff)
    assert r.status == 201, await r.text()
    done = await r.json()
    assert done["state"] == "contracted" and len(done["refunds"]["refunded"]) == 4
    assert all(d["interest_fen"] > 0 for d in done["refunds"]["refunded"])
    r = await client.get("/api/v1/ledger/trial-balance", headers=supervisor)
    tb = await r.json()
    assert r.status == 200 and tb["balanced"] and tb["net_fen"] == 0

    # a bidder sees its own complaints only; the CLI reads the same procedure
    mine = await (await client.get(base + "/award", headers=bidder[first.org_id])).json()
    assert mine["complaints"] == [] and mine["state"] == "contracted"
    token = staff["Authorization"].removeprefix("Bearer ")
    code, out = await sunlit(
        db_dsn, tmp_path, "award", "status", "--tender-id", str(world.tender_id),
        "--url", str(client.make_url("")).rstrip("/"), "--token", token,
    )
    assert code == 0, out
    assert '"state": "contracted"' in out
    code, out = await sunlit(
        db_dsn, tmp_path, "award", "award", "--tender-id", str(world.tender_id),
        "--url", str(client.make_url("")).rstrip("/"), "--token", token,
    )
    assert code == 2 and "wrong_award_state" in out


async def sunlit(db_dsn: str, data_dir: Path, *args: str) -> tuple[int, str]:
    env = {**os.environ, "DATABASE_URL": db_dsn, "SUNLIT_DATA": str(data_dir), "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()
