"""The demo walk-through of docs/bidding.md works as written: the demo tender, the demo key
files, sealing and submitting as bidder1..3, moving the deadline (staff, before it: T4),
custodian1 and custodian3 handing in their shares, the opening record.

Sources: BL 24 (T1: the demo's own deadline is 21 days out), BL 34/36, EM 26–31.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from bidding import demo as bidding_demo
from tests.helpers import login
from trading import demo as core_demo
from web import cli, keys


def credentials(data_dir: Path) -> dict[str, str]:
    lines = (data_dir / "demo-credentials.txt").read_text().splitlines()
    return {line.split("\t")[0]: line.split("\t")[2] for line in lines if line.strip()}


async def load(app: Any, data_dir: Path) -> core_demo.DemoContext:
    ctx = core_demo.DemoContext(
        pool=app[keys.POOL], audit=app[keys.AUDIT], now=app[keys.CLOCK].now(), data_dir=data_dir
    )
    await core_demo.load(ctx)
    await bidding_demo.load(ctx)
    return ctx


async def test_the_demo_walk_through(client: Any, config: Any, tmp_path: Path) -> None:
    app = client.server.app
    ctx = await load(app, config.data_dir)
    again = await load(app, config.data_dir)  # idempotent
    async with app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tenders") == 1
    assert again.lines[-1] == ctx.lines[-1]
    keys_dir = config.data_dir / "demo-keys"
    pw = credentials(config.data_dir)
    url = str(client.make_url("")).rstrip("/")
    tender = (
        await (
            await client.get(
                "/api/v1/tenders", headers=await login(client, "bidder1", pw["bidder1"])
            )
        ).json()
    )[0]
    tid = tender["id"]
    assert tender["code"] == bidding_demo.DEMO_CODE and tender["state"] == "published"

    for n, username in enumerate(("bidder1", "bidder2", "bidder3"), start=1):
        headers = await login(client, username, pw[username])
        me = await (await client.get("/api/v1/me", headers=headers)).json()
        schedule = json.loads((keys_dir / "price-schedule-sample.json").read_text("utf-8"))
        schedule["amount_fen"] -= n * 1_000_00
        path = tmp_path / f"{username}.json"
        path.write_text(json.dumps(schedule, ensure_ascii=False), "utf-8")
        envelope = tmp_path / f"{username}.env"
        assert (
            cli.main(
                [
                    "bid",
                    "seal",
                    "--tender-public-key",
                    str(keys_dir / f"tender-{tid}.pub"),
                    "--tender-id",
                    str(tid),
                    "--bidder-org",
                    str(me["org_id"]),
                    "--signing-key",
                    str(keys_dir / f"{username}.ed25519"),
                    "--price-schedule",
                    str(path),
                    "--out",
                    str(envelope),
                ]
            )
            == 0
        )
        token = headers["Authorization"].split()[1]
        assert (
            await asyncio.to_thread(
                cli.main,
                [
                    "bid",
                    "submit",
                    "--url",
                    url,
                    f"--token={token}",  # a token may start with "-"
                    "--tender-id",
                    str(tid),
                    "--envelope",
                    str(envelope),
                ],
            )
            == 0
        )

    staff = await login(client, "staff1", pw["staff1"])
    now = app[keys.CLOCK].now()
    r = await client.patch(
        f"/api/v1/tenders/{tid}/dates",
        headers=staff,
        json={
            # T1 (BL 24): a change keeps 20 days from publication; the fake clock then runs
            "bid_deadline_at": (now + timedelta(days=22)).isoformat(),
            "opening_at": (now + timedelta(days=22, minutes=3)).isoformat(),
            "reason": "demo walk-through",
        },
    )
    assert r.status == 200, await r.text()
    app[keys.CLOCK].advance(days=22, minutes=5)
    await app[keys.SCHEDULER].run_due()
    for username in ("custodian1", "custodian3"):
        token = (await login(client, username, pw[username]))["Authorization"].split()[1]
        assert (
            await asyncio.to_thread(
                cli.main,
                [
                    "bid",
                    "share",
                    "--url",
                    url,
                    f"--token={token}",  # a token may start with "-"
                    "--tender-id",
                    str(tid),
                    "--key",
                    str(keys_dir / f"{username}.x25519"),
                ],
            )
            == 0
        )
    record = await (await client.get(f"/api/v1/tenders/{tid}/opening-record/public")).json()
    assert [e["amount_fen"] for e in record["document"]["entries"]] == [
        812_245_600,
        812_145_600,
        812_045_600,
    ]
    assert all(e["outcome"] == "opened" for e in record["document"]["entries"])
