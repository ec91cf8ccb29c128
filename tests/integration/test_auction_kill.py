"""A bidding war, the server process killed (SIGKILL) in the middle of it, and restarted:
every acknowledged bid is in the lot's log, with the sequence and amount it was
acknowledged with; the leader is the same; the countdown policy for the outage is in the
log; the war goes on. The real server (``python -m web.cli serve``) runs as a subprocess on
the test's database; the bidders are ``websockets`` clients.

Source: issue 4 (Tests); DESIGN.md "Auctions": every accepted bid is durable before it is
acknowledged; a server restart replays the log and the auction goes on.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets

from auction import service
from crypto.signing import generate_signing_key
from tests.helpers import PASSWORD, make_user
from trading import admission
from trading.audit import AuditLog
from trading.clock import SystemClock
from trading.context import Role

ROOT = Path(__file__).resolve().parents[2]
START = 500_000
INC = 10_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(
    dsn: str, data_dir: Path, port: int, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "SUNLIT_DATA": str(data_dir),
        "SUNLIT_PORT": str(port),
        "SUNLIT_LOG_FORMAT": "text",
        "PYTHONPATH": str(ROOT),
        "SUNLIT_AUCTION_BID_RATE_PER_S": "1000",  # a war faster than people bid
        "SUNLIT_AUCTION_BID_BURST": "1000",
    }
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError("server exited:\n" + log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    "server did not become healthy:\n" + log_path.read_text()[-3000:]
                )
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Acks:
    """Acknowledgments counted over every bidder; ``reached`` is set once there are
    ``target`` of them (the test waits for that event, not for a time)."""

    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.reached = asyncio.Event()

    def add(self) -> None:
        self.count += 1
        if self.count >= self.target:
            self.reached.set()


class Bidder:
    """One websocket bidder in the war: bids the next minimum it knows of, again and again."""

    def __init__(self, name: str, token: str, lot_id: int) -> None:
        self.name = name
        self.token = token
        self.lot_id = lot_id
        self.acked: dict[str, dict[str, Any]] = {}
        self.sent: dict[str, int] = {}
        self.unanswered: set[str] = set()
        self.paddle: str | None = None
        self.highest = 0

    async def fight(self, url: str, stop: asyncio.Event, acks: Acks) -> None:
        try:
            async with websockets.connect(f"{url}?token={self.token}") as ws:
                await ws.send(json.dumps({"op": "subscribe", "lots": [self.lot_id]}))
                n = 0
                pending: list[dict[str, Any]] = []
                while not stop.is_set() and n < 500:
                    if not pending:
                        data = json.loads(await asyncio.wait_for(ws.recv(), 10))
                        pending.extend(data if isinstance(data, list) else [data])
                    frame = pending.pop(0)
                    if frame["type"] == "snapshot":
                        self.paddle = frame["paddle"]
                        self.highest = frame["lot"]["highest_fen"] or 0
                    elif frame["type"] == "event" and frame["event"]["type"] == "bid_accepted":
                        self.highest = max(self.highest, frame["event"]["amount_fen"])
                    elif frame["type"] == "ack":
                        self.acked[frame["bid_id"]] = frame
                        self.unanswered.discard(frame["bid_id"])
                        acks.add()
                    elif frame["type"] == "error" and "bid_id" in frame:
                        self.unanswered.discard(frame["bid_id"])
                    if self.paddle is not None and not self.unanswered:
                        n += 1
                        bid_id = f"{self.name}-{n}"
                        amount = max(START, self.highest + INC)
                        self.sent[bid_id] = amount
                        self.unanswered.add(bid_id)
                        await ws.send(
                            json.dumps(
                                {
                                    "op": "bid",
                                    "lot_id": self.lot_id,
                                    "bid_id": bid_id,
                                    "amount_fen": amount,
                                }
                            )
                        )
        except (websockets.ConnectionClosed, OSError, TimeoutError):
            return  # the server was killed under us


async def seed(pool: Any, n_bidders: int) -> tuple[int, list[tuple[str, int]], str]:
    """A staff member, bidders with confirmed deposits and paddles, and one plate lot."""
    audit = AuditLog(generate_signing_key(), "srv-seed")
    clock = SystemClock()
    now = clock.now()
    async with pool.acquire() as conn:
        staff = await make_user(conn, audit, clock, Role.STAFF)
        bidders = [await make_user(conn, audit, clock, Role.BIDDER) for _ in range(n_bidders)]
        session = await service.create_plate_session(
            conn,
            audit,
            staff.actor,
            now,
            title="war",
            starts_at=now - timedelta(seconds=1),
            countdown_s=600,
            lots=[
                {
                    "title": "浙E·00001",
                    "starting_price_fen": START,
                    "increment_fen": INC,
                    "deposit_fen": 100_000,
                }
            ],
        )
        for b in bidders:
            await admission.flag_confirmed(
                conn,
                audit,
                staff.actor,
                now,
                org_id=b.org_id,
                project_ref=f"auction_session:{session['id']}",
                note="test",
            )
        await service.admit(
            conn,
            audit,
            staff.actor,
            now,
            scope=f"session:{session['id']}",
            org_ids=[b.org_id for b in bidders],
        )
    return session["lots"][0]["id"], [(b.username, b.user_id) for b in bidders], staff.username


async def login(http: aiohttp.ClientSession, base: str, username: str) -> str:
    async with http.post(
        base + "/api/v1/sessions", json={"username": username, "password": PASSWORD}
    ) as r:
        assert r.status == 201, await r.text()
        return str((await r.json())["token"])


@pytest.mark.slow
async def test_a_server_killed_mid_bidding_war_keeps_every_acknowledged_bid(
    db_dsn, pool, tmp_path
) -> None:
    """Issue 4: SIGKILL in the middle of a bidding war; after restart every acknowledged bid
    is found and the leader is the same."""
    lot_id, bidders, staff_name = await seed(pool, 4)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"ws://127.0.0.1:{port}/api/v1/auctions/ws"
    data, log = tmp_path / "data", tmp_path / "server.log"
    with server(db_dsn, data, port, log) as proc:
        async with aiohttp.ClientSession() as http:
            tokens = [await login(http, base, name) for name, _ in bidders]
            staff = await login(http, base, staff_name)
            async with http.post(
                f"{base}/api/v1/auctions/lots/{lot_id}/start",
                headers={"Authorization": f"Bearer {staff}"},
            ) as r:
                assert r.status == 200, await r.text()
        war = [Bidder(f"b{i}", t, lot_id) for i, t in enumerate(tokens)]
        stop = asyncio.Event()
        acks = Acks(40)
        fights = [asyncio.create_task(b.fight(url, stop, acks)) for b in war]
        try:  # bounded: 30 s, for a machine under load
            await asyncio.wait_for(acks.reached.wait(), 30)
        except TimeoutError:
            pytest.fail(f"{acks.count} acknowledgments in 30 s\n" + log.read_text()[-2000:])
        proc.send_signal(signal.SIGKILL)  # in the middle of the war: bids are in flight
        proc.wait()
        await asyncio.wait_for(asyncio.gather(*fights), 30)
    acknowledged = [(b.paddle, ack) for b in war for ack in b.acked.values()]
    in_flight = {bid_id for b in war for bid_id in b.unanswered}
    with server(db_dsn, data, port, log):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/v1/auctions/lots/{lot_id}/events?limit=1000") as r:
                events = (await r.json())["events"]
            async with http.get(f"{base}/api/v1/auctions/lots/{lot_id}") as r:
                live = (await r.json())["live"]
            token = await login(http, base, bidders[0][0])
        bids = {e["seq"]: e for e in events if e["type"] == "bid_accepted"}
        for paddle, ack in acknowledged:  # every acknowledged bid, as acknowledged
            logged = bids.get(ack["seq"])
            assert (
                logged is not None
                and logged["amount_fen"] == ack["amount_fen"]
                and logged["paddle"] == paddle
            )
        assert len(bids) - len(acknowledged) <= len(in_flight)  # nothing but what was in flight
        top = max(bids.values(), key=lambda e: e["amount_fen"])
        assert live["leader"] == top["paddle"] and live["highest_fen"] == top["amount_fen"]
        best_ack = max(ack["amount_fen"] for _, ack in acknowledged)
        assert live["highest_fen"] >= best_ack
        if len(bids) == len(acknowledged):
            assert live["leader"] == next(p for p, a in acknowledged if a["amount_fen"] == best_ack)
        outage = [e for e in events if e["type"] == "outage_policy_applied"]
        assert len(outage) == 1 and outage[0]["policy"] == "resume_full"  # recorded in the log
        assert live["phase"] == "countdown"
        async with websockets.connect(f"{url}?token={token}") as ws:  # the war goes on
            await ws.send(json.dumps({"op": "subscribe", "lots": [lot_id]}))
            snap = None
            while snap is None:
                data = json.loads(await asyncio.wait_for(ws.recv(), 10))
                snap = next(
                    (
                        f
                        for f in (data if isinstance(data, list) else [data])
                        if f["type"] == "snapshot"
                    ),
                    None,
                )
            assert snap["lot"]["leader"] == top["paddle"]
            again = {
                "op": "bid",
                "lot_id": lot_id,
                "bid_id": "after-restart",
                "amount_fen": snap["lot"]["highest_fen"] + INC,
            }
            await ws.send(json.dumps(again))
            answer = None
            while answer is None:
                data = json.loads(await asyncio.wait_for(ws.recv(), 10))
                frames = data if isinstance(data, list) else [data]
                answer = next((f for f in frames if f.get("bid_id") == "after-restart"), None)
            assert answer["type"] == "ack" or answer["code"] == "already_highest"
