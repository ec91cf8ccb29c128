"""``sunlit auction bid`` and ``sunlit auction watch`` against the running app (subprocesses)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.e2e.test_auction_ws import START, started_land_lot
from web.auction_ws import ENGINE

ROOT = Path(__file__).resolve().parents[2]


async def sunlit(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        *args,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_the_cli_places_a_bid_and_watches_it(client, clock) -> None:
    staff, people, lot, paddles = await started_land_lot(client, clock, 1)
    base = str(client.server.make_url("")).rstrip("/")
    token = people[0].token
    watching = asyncio.create_task(
        sunlit("auction", "watch", "--url", base, "--lot", str(lot["id"]), "--count", "1")
    )
    engine = client.server.app[ENGINE]
    for _ in range(600):  # the watcher has subscribed (a subprocess: imports take a while)
        if engine.watcher_count(lot["id"]) or watching.done():
            break
        await asyncio.sleep(0.05)
    code, out = await sunlit(
        "auction",
        "bid",
        "--url",
        base,
        "--lot",
        str(lot["id"]),
        "--amount-fen",
        str(START),
        f"--token={token}",  # a token may start with "-"
        "--bid-id",
        "cli-1",
    )
    assert code == 0, out
    ack = json.loads(out.strip().splitlines()[-1])
    assert ack["type"] == "ack" and ack["amount_fen"] == START
    code, out = await watching
    assert code == 0 and "bid_accepted" in out and paddles[people[0].org_id] in out
    code, out = await sunlit(
        "auction",
        "bid",
        "--url",
        base,
        "--lot",
        str(lot["id"]),
        "--amount-fen",
        "1",
        f"--token={token}",  # a token may start with "-"
    )
    assert code == 2 and "already_highest" in out
