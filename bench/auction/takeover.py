"""Benchmark (c) of issue 15: the takeover time of a live lot when its owner is killed.

    python -m bench.auction.takeover            # 10 kills
    python -m bench.auction.takeover --quick    # 3 kills (a smoke run)

One embedded PostgreSQL (``trading.db.EmbeddedPostgres`` in a temporary directory) and two
``sunlit serve`` processes on it (``DATABASE_URL``, each its own data directory and port).
A plate session of ``--lots`` lots is started and bid on through both processes. Then,
``--kills`` times: find the process owning the lots, ``kill -9`` it, and measure

* **takeover** — from the kill until the survivor reports owning every lot
  (``GET /auctions/engine``: ``lots_owned``), and
* **first ack** — from the kill until a bid sent to the survivor right after the kill is
  acknowledged (the client's interruption: the bid is forwarded, retried while the owner
  changes over, and judged by the new owner);

then restart the killed process (it joins as a peer) and bid through both again. At the
end every acknowledged bid is looked up in the lots' logs (none lost, none doubled).
Figures: median and max of both times, printed as a table and one JSON line each.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.auction.run import Api, flag_deposits, seed_bidders
from bench.harness import ROOT, free_port, report
from trading.db import EmbeddedPostgres

START_FEN = 1_000_000
INC_FEN = 10_000


class Node:
    """One ``sunlit serve`` process on the shared database."""

    def __init__(self, name: str, dsn: str, root: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.env = env or {}
        self.dsn = dsn
        self.data = root / f"data-{name}"
        self.log = root / f"server-{name}.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": self.dsn,
            "SUNLIT_DATA": str(self.data),
            "SUNLIT_PORT": str(self.port),
            "SUNLIT_LOG_FORMAT": "text",
            "PYTHONPATH": str(ROOT),
            "SUNLIT_AUCTION_BID_RATE_PER_S": "100000",
            "SUNLIT_AUCTION_BID_BURST": "100000",
            **self.env,
        }
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "serve"], env=env, stdout=out,
                stderr=subprocess.STDOUT, cwd=ROOT,
            )
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + self.log.read_text()[-3000:])
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("server did not become healthy:\n" + self.log.read_text()[-3000:])
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


async def seed_staff(dsn: str) -> tuple[int, str]:
    """A staff user and a session token, straight into the database."""
    conn = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC)
        user_id = await conn.fetchval(
            "INSERT INTO users (username, full_name, role, password_hash, created_at) "
            "VALUES ('bench-staff', 'bench staff', 'staff', '!', $1) RETURNING id",
            now,
        )
        token = secrets.token_urlsafe(24)
        await conn.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            hashlib.sha256(token.encode()).digest(), user_id, now, now + timedelta(days=1),
        )
        return int(user_id), token
    finally:
        await conn.close()


class Bidding:
    """Bids over HTTP, each bidder on its own lot, the next increment each time; every ack
    kept to be checked against the logs."""

    def __init__(self, http: aiohttp.ClientSession, bidders: list[dict[str, Any]], lot_ids: list[int]) -> None:
        self.http = http
        self.bidders = bidders
        self.lot_ids = lot_ids
        self.next_fen = dict.fromkeys(lot_ids, START_FEN)
        self.acked: list[tuple[int, str, dict[str, Any]]] = []
        self.n = 0

    async def bid(self, node: Node, lot_id: int, timeout_s: float = 60) -> float:
        """One bid on ``lot_id`` through ``node``, sent again with the same bid id while it is
        answered ``engine_unavailable``; the seconds until its ack."""
        self.n += 1
        bidder = self.bidders[self.n % len(self.bidders)]
        bid_id = f"t-{self.n}"
        amount = self.next_fen[lot_id]
        started = time.monotonic()
        while True:
            async with self.http.post(
                f"{node.url}/api/v1/auctions/lots/{lot_id}/bids",
                json={"bid_id": bid_id, "amount_fen": amount},
                headers={"Authorization": f"Bearer {bidder['token']}"},
            ) as r:
                body = await r.json()
            if r.status == 201:
                self.acked.append((lot_id, bid_id, body))
                self.next_fen[lot_id] = amount + INC_FEN
                return time.monotonic() - started
            if body.get("code") != "engine_unavailable" or time.monotonic() - started > timeout_s:
                raise RuntimeError(f"bid refused: {r.status} {body}")
            await asyncio.sleep(0.05)

    async def round(self, nodes: list[Node]) -> None:
        for node in nodes:
            await asyncio.gather(*(self.bid(node, lot_id) for lot_id in self.lot_ids))


async def owned(http: aiohttp.ClientSession, node: Node, staff: str) -> int:
    async with http.get(
        node.url + "/api/v1/auctions/engine", headers={"Authorization": f"Bearer {staff}"}
    ) as r:
        return int((await r.json())["lots_owned"])


async def main_async(kills: int, lots: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sunlit-takeover-") as tmp:
        root = Path(tmp)
        pg = EmbeddedPostgres(root / "pg")
        dsn = pg.start()
        nodes = [Node("a", dsn, root), Node("b", dsn, root)]
        try:
            for n in nodes:  # one after the other: two fresh starts race in trading.calendar.schedule
                await asyncio.to_thread(n.start)
            staff_id, staff = await seed_staff(dsn)
            bidders = await seed_bidders(dsn, 4)
            async with aiohttp.ClientSession() as http:
                api = Api(http, nodes[0].url, {"Authorization": f"Bearer {staff}"})
                session = await api.post(
                    "/auctions/sessions",
                    {
                        "title": "takeover",
                        "starts_at": datetime.now(UTC).isoformat(),
                        "countdown_s": 3600,
                        "allow_self_raise": True,
                        "lots": [
                            {"title": f"浙E·T{n:04d}", "starting_price_fen": START_FEN,
                             "increment_fen": INC_FEN, "deposit_fen": 100}
                            for n in range(lots)
                        ],
                    },
                    201,
                )
                org_ids = [b["org_id"] for b in bidders]
                await flag_deposits(dsn, f"auction_session:{session['id']}", org_ids, staff_id)
                await api.post(f"/auctions/sessions/{session['id']}/admissions", {"org_ids": org_ids}, 201)
                await api.post(f"/auctions/sessions/{session['id']}/start")
                lot_ids = [lot["id"] for lot in session["lots"]]
                bidding = Bidding(http, bidders, lot_ids)
                await bidding.round(nodes)
                takeovers: list[float] = []
                first_acks: list[float] = []
                for k in range(kills):
                    counts = [await owned(http, n, staff) for n in nodes]
                    owner = nodes[counts.index(max(counts))]
                    survivor = next(n for n in nodes if n is not owner)
                    killed_at = time.monotonic()
                    owner.kill()
                    probe = asyncio.create_task(bidding.bid(survivor, lot_ids[k % len(lot_ids)]))
                    probe_sent_s = time.monotonic() - killed_at
                    for _ in range(3000):  # 60 s at most: poll the survivor
                        if await owned(http, survivor, staff) >= lots:
                            break
                        await asyncio.sleep(0.02)
                    else:
                        raise TimeoutError("the survivor did not take the lots over")
                    takeovers.append(time.monotonic() - killed_at)
                    first_acks.append(probe_sent_s + await probe)
                    print(f"kill {k + 1}: takeover {takeovers[-1]:.3f} s, first ack {first_acks[-1]:.3f} s", flush=True)
                    await asyncio.to_thread(owner.start)  # it joins as a peer
                    await bidding.round(nodes)
                conn = await asyncpg.connect(dsn)
                try:
                    rows = await conn.fetch(
                        "SELECT lot_id, bid_id, seq FROM auction_events WHERE type = 'bid_accepted' "
                        "AND lot_id = ANY($1::bigint[])",
                        lot_ids,
                    )
                finally:
                    await conn.close()
            logged = {(r["lot_id"], r["bid_id"]): r["seq"] for r in rows}
            lost = [a for a in bidding.acked if logged.get((a[0], a[1])) != a[2]["seq"]]
            return {
                "kills": kills,
                "lots": lots,
                "takeover_s_median": round(statistics.median(takeovers), 3),
                "takeover_s_max": round(max(takeovers), 3),
                "first_ack_s_median": round(statistics.median(first_acks), 3),
                "first_ack_s_max": round(max(first_acks), 3),
                "bids_acknowledged": len(bidding.acked),
                "acknowledged_not_in_log": len(lost),
                "bids_in_log": len(rows),
            }
        finally:
            for n in nodes:
                n.stop()
            pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 kills")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--lots", type=int, default=20)
    args = parser.parse_args()
    figures = asyncio.run(main_async(3 if args.quick else args.kills, args.lots))
    report("auction takeover after kill -9 of the owner (2 processes)", figures)


if __name__ == "__main__":
    main()
