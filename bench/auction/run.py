"""The auction benchmark, in one command, on loopback:

    python -m bench.auction.run            # the full figures (a few minutes)
    python -m bench.auction.run --quick    # a small smoke run

1. **Throughput and ack latency** — N bidders on M lots and K watchers, every bid durable
   before its ack, against a bare aiohttp websocket echo server driven by the same
   generator in the same run: ratios of throughput and of p99.
2. **Fan-out** — the time from sending one bid until the last of 10,000 watchers has its
   event (watchers in two generator processes; arrival times on the shared wall clock).
3. **A plate session** — 300 lots and 20,000 bidders, most of them bidding in the last
   stretch (time compressed: a 30 s countdown, a 35 s bidding window, 88 % of first bids in
   its last 15 s); every acknowledged bid checked against the lot logs in PostgreSQL.

The server is ``sunlit serve`` on a fresh embedded PostgreSQL (``bench.harness``); the load
comes from ``bench.auction.loadgen`` processes. Bidders are seeded straight into the
database (organisations, users, session tokens, deposit flags) — 20,000 Argon2 logins would
measure password hashing — and admitted through the API. The container caps open files at
20,000 per process, so of the plate session's 20,000 bidders 18,500 hold a websocket each
and 1,500 bid over HTTP (``POST /auctions/lots/{id}/bids``, the same engine).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import os
import random
import resource
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import websockets

from bench.harness import ROOT, free_port, login, report, sunlit_server

SERVER_ENV = {
    "SUNLIT_AUCTION_BID_RATE_PER_S": "1000000",  # the generator is not a person: no bid limit
    "SUNLIT_AUCTION_BID_BURST": "1000000",
    "SUNLIT_AUCTION_FRAME_RATE_PER_S": "1000000",
    "SUNLIT_AUCTION_FRAME_BURST": "1000000",
    "SUNLIT_LOG_FORMAT": "text",
}


@dataclass(frozen=True)
class Scale:
    bidders: int
    lots: int
    watchers: int
    warmup_s: float
    duration_s: float
    fanout_watchers: int
    fanout_events: int
    plate_lots: int
    plate_ws_bidders: int
    plate_http_bidders: int
    plate_countdown_s: int
    rounds: int = 3
    fanout_processes: int = 1
    """``sunlit serve`` processes on one database sharing the fan-out's watchers."""
    fanout_client: str = "websockets"
    """The fan-out's watchers: ``websockets`` (the library, as every other phase) or ``raw``
    (``loadgen.RawWatcher``: a few µs a message, so the figure shows the server more than
    the generator)."""
    sweep: tuple[int, ...] = ()
    """Bidder counts for the throughput benchmark (lots and watchers: half as many each);
    empty: ``bidders``/``lots``/``watchers`` as given."""


FULL = Scale(
    bidders=100,
    lots=50,
    watchers=50,
    warmup_s=2,
    duration_s=6,
    fanout_watchers=10_000,
    fanout_events=5,
    plate_lots=300,
    plate_ws_bidders=18_500,
    plate_http_bidders=1_500,
    plate_countdown_s=30,
    sweep=(100, 300),
)
QUICK = Scale(
    bidders=20,
    lots=4,
    watchers=20,
    warmup_s=1,
    duration_s=4,
    fanout_watchers=500,
    fanout_events=3,
    plate_lots=20,
    plate_ws_bidders=900,
    plate_http_bidders=100,
    plate_countdown_s=10,
    rounds=1,
)


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


class Generator:
    """One load generator process: the plan in on stdin, progress on stderr, the result out."""

    def __init__(self, plan: dict[str, Any], *, nice: int = 0) -> None:
        """``nice``: run the generator at that lower CPU priority (a stand-in, on one shared
        machine, for the clients being elsewhere: the servers are served first)."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.auction.loadgen"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            text=True,
        )
        if nice:
            os.setpriority(os.PRIO_PROCESS, self.proc.pid, nice)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(plan) + "\n")
        self.proc.stdin.flush()

    def wait_ready(self, timeout_s: float) -> None:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("load generator exited before it was ready")
            print("   ", line.rstrip(), flush=True)
            if line.startswith("READY"):
                return
        raise TimeoutError("load generator not ready")

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def result(self, timeout_s: float) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=timeout_s)
        if self.proc.returncode != 0:
            raise RuntimeError(f"load generator failed:\n{err[-3000:]}")
        return dict(json.loads(out.strip().splitlines()[-1]))


async def run_generator(plan: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    gen = Generator(plan)
    return await asyncio.to_thread(gen.result, timeout_s)


# -- seeding ------------------------------------------------------------------------------------


async def seed_bidders(dsn: str, count: int) -> list[dict[str, Any]]:
    """``count`` bidder organisations, each with a user and a session token, in bulk."""
    conn = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC)
        first = await conn.fetchval("SELECT coalesce(max(id), 0) FROM organisations") + 1
        await conn.copy_records_to_table(
            "organisations",
            columns=["name", "kind", "credit_code", "region", "created_at"],
            records=[
                (f"bench bidder {n}", "bidder", f"91330500MB{n:08d}", "330500", now)
                for n in range(count)
            ],
        )
        orgs = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM organisations WHERE id >= $1 AND name LIKE 'bench bidder %' ORDER BY id",
                first,
            )
        ]
        await conn.copy_records_to_table(
            "users",
            columns=["username", "full_name", "role", "org_id", "password_hash", "created_at"],
            records=[
                (f"bench{n:06d}", f"bench {n}", "bidder", org, "!", now)
                for n, org in enumerate(orgs)
            ],
        )
        users = {
            r["org_id"]: r["id"]
            for r in await conn.fetch("SELECT id, org_id FROM users WHERE username LIKE 'bench%'")
        }
        tokens = {org: secrets.token_urlsafe(24) for org in orgs}
        await conn.copy_records_to_table(
            "sessions",
            columns=["token_hash", "user_id", "created_at", "expires_at"],
            records=[
                (
                    hashlib.sha256(tokens[org].encode()).digest(),
                    users[org],
                    now,
                    now + timedelta(days=1),
                )
                for org in orgs
            ],
        )
        return [{"org_id": org, "token": tokens[org]} for org in orgs]
    finally:
        await conn.close()


async def flag_deposits(dsn: str, ref: str, org_ids: list[int], staff_id: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "admission_flags",
            columns=["org_id", "project_ref", "confirmed_by", "confirmed_at", "note"],
            records=[(o, ref, staff_id, datetime.now(UTC), "bench") for o in org_ids],
        )
    finally:
        await conn.close()


class Api:
    def __init__(self, http: aiohttp.ClientSession, base: str, headers: dict[str, str]) -> None:
        self.http, self.base, self.headers = http, base, headers

    async def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        async with self.http.post(
            self.base + "/api/v1" + path, json=body, headers=self.headers
        ) as r:
            data = await r.json()
            assert r.status == status, (path, r.status, data)
            return data

    async def get(self, path: str) -> Any:
        async with self.http.get(self.base + "/api/v1" + path, headers=self.headers) as r:
            return await r.json()


async def plate_session(
    api: Api,
    dsn: str,
    staff_id: int,
    *,
    lots: int,
    countdown_s: int,
    bidders: list[dict[str, Any]],
    start_fen: int,
    increment_fen: int,
    allow_self_raise: bool,
) -> dict[str, Any]:
    session = await api.post(
        "/auctions/sessions",
        {
            "title": f"bench {lots} plates",
            "starts_at": datetime.now(UTC).isoformat(),
            "countdown_s": countdown_s,
            "allow_self_raise": allow_self_raise,
            "lots": [
                {
                    "title": f"浙E·B{n:04d}",
                    "starting_price_fen": start_fen,
                    "increment_fen": increment_fen,
                    "deposit_fen": 100,
                }
                for n in range(lots)
            ],
        },
        201,
    )
    org_ids = [b["org_id"] for b in bidders]
    await flag_deposits(dsn, f"auction_session:{session['id']}", org_ids, staff_id)
    for i in range(0, len(org_ids), 1000):
        await api.post(
            f"/auctions/sessions/{session['id']}/admissions",
            {"org_ids": org_ids[i : i + 1000]},
            201,
        )
    return dict(session)


# -- the three benchmarks ----------------------------------------------------------------------------


async def bench_throughput(
    scale: Scale,
    server_pid: int,
    echo_pid: int,
    base: str,
    api: Api,
    dsn: str,
    staff_id: int,
    bidders: list[dict[str, Any]],
    echo_port: int,
    pg_root: Path | None = None,
) -> dict[str, Any]:
    mine = bidders[: scale.bidders]
    session = await plate_session(
        api,
        dsn,
        staff_id,
        lots=scale.lots,
        countdown_s=3600,
        bidders=mine,
        start_fen=10_000,
        increment_fen=1,
        allow_self_raise=True,
    )
    await api.post(f"/auctions/sessions/{session['id']}/start")
    lot_ids = [lot["id"] for lot in session["lots"]]
    plan = {
        "mode": "throughput",
        "warmup_s": scale.warmup_s,
        "duration_s": scale.duration_s,
        "start_fen": 10_000,
        "epoch_s": time.time(),
        "bidders": [
            {"token": b["token"], "lot_id": lot_ids[i % len(lot_ids)]} for i, b in enumerate(mine)
        ],
        "watchers": [{"lot_id": lot_ids[i % len(lot_ids)]} for i in range(scale.watchers)],
    }
    echo_plan = {
        **plan,
        "url": f"ws://127.0.0.1:{echo_port}/api/v1/auctions/ws",
        "echo": True,
        "bidders": [{"lot_id": b["lot_id"]} for b in plan["bidders"]],
    }
    ws_url = base.replace("http", "ws") + "/api/v1/auctions/ws"

    async def drive(bidding: dict[str, Any], prefix: str) -> dict[str, Any]:
        """The bidders in one generator process, the watchers in another (a watcher is
        somebody else's machine: its reading must not delay a bidder's next bid)."""
        watching = {**bidding, "bidders": [], "duration_s": bidding["duration_s"] + 1.0}
        bids, watched = await asyncio.gather(
            run_generator({**bidding, "watchers": [], "prefix": prefix}, 300),
            run_generator(watching, 300),
        )
        return {
            **bids,
            "watcher_events": watched["watcher_events"],
            "watcher_generator_cpu_pct": watched["generator_cpu_pct"],
        }

    def pg_cpu_s() -> float:
        from bench.auction.cluster import postgres_cpu_s  # (it imports this module)

        return postgres_cpu_s(pg_root) if pg_root is not None else 0.0

    async def measured(pid: int, bidding: dict[str, Any], prefix: str) -> dict[str, Any]:
        """One round against one server, with where the machine's CPU went per answer:
        the server, PostgreSQL (nothing for the echo), the generators; and the load average."""
        load_before = os.getloadavg()[0]
        before, pg_before = process_cpu_s(pid), pg_cpu_s()
        result = await drive(bidding, prefix)
        answers = max(1, result["answered_total"])
        result["server_cpu_us_per_answer"] = round((process_cpu_s(pid) - before) / answers * 1e6, 1)
        result["postgres_cpu_us_per_answer"] = (
            round((pg_cpu_s() - pg_before) / answers * 1e6, 1) if pid == server_pid else 0.0
        )
        window = max(1, result["answered"]) / bidding["duration_s"]  # answers/s in the window
        result["generators_cpu_us_per_answer"] = round(
            (result["generator_cpu_pct"] + result["watcher_generator_cpu_pct"]) / 100 / window * 1e6, 1
        )
        result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        return result

    rounds: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for r in range(scale.rounds):  # interleaved: the machine's other load hits both alike
        echo = await measured(echo_pid, echo_plan, f"n{len(mine)}r{r}-")
        sunlit = await measured(server_pid, {**plan, "url": ws_url}, f"n{len(mine)}r{r}-")
        rounds.append((echo, sunlit))
        report(
            f"auction round {r + 1}: echo",
            {k: v for k, v in echo.items() if k not in ("refusals",)},
        )
        report(
            f"auction round {r + 1}: sunlit (durable acks)",
            {k: v for k, v in sunlit.items() if k != "refusals"},
        )
    conn = await asyncpg.connect(dsn)
    try:
        logged = await conn.fetchval(
            "SELECT count(*) FROM auction_events WHERE lot_id = ANY($1::bigint[]) AND type = 'bid_accepted'",
            lot_ids,
        )
    finally:
        await conn.close()
    ratios = [s["answered_per_s"] / e["answered_per_s"] for e, s in rounds]
    p99s = [s["ack_p99_ms"] / e["p99_ms"] for e, s in rounds]
    acked = sum(s["acked"] for _, s in rounds)
    figures = {
        "bidders": scale.bidders,
        "lots": scale.lots,
        "watchers": scale.watchers,
        "rounds": scale.rounds,
        "echo_per_s": [e["answered_per_s"] for e, _ in rounds],
        "sunlit_per_s": [s["answered_per_s"] for _, s in rounds],
        "sunlit_accepted_per_s": [s["acked_per_s"] for _, s in rounds],
        "throughput_ratio_median": round(statistics.median(ratios), 3),
        "throughput_ratios": [round(x, 3) for x in ratios],
        "echo_p50_ms": [e["p50_ms"] for e, _ in rounds],
        "echo_p99_ms": [e["p99_ms"] for e, _ in rounds],
        "ack_p50_ms": [s["ack_p50_ms"] for _, s in rounds],
        "ack_p99_ms": [s["ack_p99_ms"] for _, s in rounds],
        "p99_ratio_median": round(statistics.median(p99s), 2),
        "echo_server_cpu_us_per_message": [e["server_cpu_us_per_answer"] for e, _ in rounds],
        "sunlit_server_cpu_us_per_bid": [s["server_cpu_us_per_answer"] for _, s in rounds],
        "sunlit_postgres_cpu_us_per_bid": [s["postgres_cpu_us_per_answer"] for _, s in rounds],
        "echo_generators_cpu_us_per_answer": [e["generators_cpu_us_per_answer"] for e, _ in rounds],
        "sunlit_generators_cpu_us_per_answer": [s["generators_cpu_us_per_answer"] for _, s in rounds],
        "load_average_echo_sunlit": [[e["load_average"], s["load_average"]] for e, s in rounds],
        "p99_ratios": [round(x, 2) for x in p99s],
        "refusals": {k: v for _, s in rounds for k, v in s["refusals"].items()},
        "acked_in_window": acked,
        "bids_in_log": logged,
    }
    report("auction throughput vs echo (issue 15: ≥ 0.8, p99 ≤ 2×)", figures)
    return figures


async def bench_fanout(
    scale: Scale,
    base: str,
    api: Api,
    dsn: str,
    staff_id: int,
    bidder: dict[str, Any],
    peers: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One lot, ``scale.fanout_watchers`` watchers, ``scale.fanout_events`` bids. With
    ``peers`` (base URLs of other ``sunlit serve`` processes on the same database) the
    watchers are split evenly across this server and them; the bidder stays on this one,
    which owns the lot (the others follow its log through NOTIFY)."""
    session = await plate_session(
        api,
        dsn,
        staff_id,
        lots=1,
        countdown_s=3600,
        bidders=[bidder],
        start_fen=10_000,
        increment_fen=100,
        allow_self_raise=True,
    )
    await api.post(f"/auctions/sessions/{session['id']}/start")
    lot_id = session["lots"][0]["id"]
    ws_url = base.replace("http", "ws") + "/api/v1/auctions/ws"
    urls = [u.replace("http", "ws") + "/api/v1/auctions/ws" for u in (base, *peers)]
    # two generator processes at least (as many as there are servers): 5,000 sockets each
    parts = max(2, len(urls))
    counts = [scale.fanout_watchers // parts + (i < scale.fanout_watchers % parts) for i in range(parts)]
    async with websockets.connect(f"{ws_url}?token={bidder['token']}") as ws:
        await ws.send(json.dumps({"op": "subscribe", "lots": [lot_id]}))  # this server owns the lot
        while "snapshot" not in await ws.recv():
            pass
        gens = [
            Generator(
                {
                    "mode": "watchers",
                    "url": urls[i % len(urls)],
                    "lot_id": lot_id,
                    "count": n,
                    "events": scale.fanout_events,
                    "timeout_s": 240,
                    "client": scale.fanout_client,
                }
            )
            for i, n in enumerate(counts)
        ]
        started = time.monotonic()
        for g in gens:
            await asyncio.to_thread(g.wait_ready, 240)
        connect_s = time.monotonic() - started
        sent: dict[int, float] = {}
        acked: dict[int, float] = {}
        for n in range(scale.fanout_events):
            await asyncio.sleep(1.5)
            t = time.time()
            await ws.send(
                json.dumps(
                    {
                        "op": "bid",
                        "lot_id": lot_id,
                        "bid_id": f"fan{n}",
                        "amount_fen": 10_000 + 100 * n,
                    }
                )
            )
            while True:
                raw = await asyncio.wait_for(ws.recv(), 60)
                data = json.loads(raw)
                ack = next(
                    (
                        f
                        for f in (data if isinstance(data, list) else [data])
                        if f.get("bid_id") == f"fan{n}"
                    ),
                    None,
                )
                if ack is not None:
                    assert ack["type"] == "ack", ack
                    sent[ack["seq"]], acked[ack["seq"]] = t, time.time()
                    break
    results = [await asyncio.to_thread(g.result, 300) for g in gens]
    arrivals: dict[int, list[float]] = {}
    for r in results:
        for seq, times in r["arrivals"].items():
            arrivals.setdefault(int(seq), []).extend(times)
    alls, medians, complete = [], [], []
    for seq, t in sent.items():
        got = sorted(arrivals.get(seq, []))
        complete.append(len(got))
        if got:
            alls.append(got[-1] - t)
            medians.append(got[len(got) // 2] - t)
    figures = {
        "watchers": scale.fanout_watchers,
        "server_processes": len(urls),
        "client": scale.fanout_client,
        "connected": sum(r["connected"] for r in results),
        "connect_s": round(connect_s, 1),
        "events": len(sent),
        "delivered_to": complete,
        "all_delivered_ms_median": round(statistics.median(alls) * 1000, 1) if alls else None,
        "all_delivered_ms_max": round(max(alls) * 1000, 1) if alls else None,
        "half_delivered_ms_median": round(statistics.median(medians) * 1000, 1)
        if medians
        else None,
        "ack_ms_median": round(statistics.median(acked[s] - sent[s] for s in sent) * 1000, 1),
    }
    report("auction fan-out: one event to every watcher", figures)
    return figures


def plate_schedule(rng: random.Random, countdown_s: int) -> list[float]:
    """Offsets (s from the start) at which one bidder bids: 12 % early in the window, the
    rest in its last 15 s (the surge), half of them twice."""
    window_s = 35.0 if countdown_s >= 30 else 12.0
    surge_s = 15.0 if countdown_s >= 30 else 6.0
    if rng.random() < 0.12:
        return [rng.uniform(1.0, window_s - surge_s)]
    first = rng.uniform(window_s - surge_s, window_s)
    return [first] + ([first + rng.uniform(1.0, 4.0)] if rng.random() < 0.5 else [])


async def bench_plate(
    scale: Scale,
    base: str,
    api: Api,
    dsn: str,
    staff_id: int,
    bidders: list[dict[str, Any]],
    server_pid: int,
) -> dict[str, Any]:
    rng = random.Random(2007)
    total = scale.plate_ws_bidders + scale.plate_http_bidders
    mine = bidders[:total]
    t0 = time.monotonic()
    session = await plate_session(
        api,
        dsn,
        staff_id,
        lots=scale.plate_lots,
        countdown_s=scale.plate_countdown_s,
        bidders=mine,
        start_fen=1_000_000,
        increment_fen=10_000,
        allow_self_raise=False,
    )
    setup_s = time.monotonic() - t0
    lot_ids = [lot["id"] for lot in session["lots"]]

    def assign(b: dict[str, Any]) -> dict[str, Any]:  # popular plates draw more bidders
        return {
            "token": b["token"],
            "lot_id": lot_ids[int(len(lot_ids) * rng.random() ** 2)],
            "times": plate_schedule(rng, scale.plate_countdown_s),
        }

    planned = [assign(b) for b in mine]
    ws_part, http_part = planned[: scale.plate_ws_bidders], planned[scale.plate_ws_bidders :]
    half = len(ws_part) // 2
    ws_url = base.replace("http", "ws") + "/api/v1/auctions/ws"
    common = {
        "mode": "plate",
        "url": ws_url,
        "base": base,
        "start_fen": 1_000_000,
        "increment_fen": 10_000,
    }
    gens = [
        Generator({**common, "ws_bidders": ws_part[:half], "http_bidders": http_part, "seed": 1}),
        Generator({**common, "ws_bidders": ws_part[half:], "seed": 2}),
    ]
    for g in gens:
        await asyncio.to_thread(g.wait_ready, 600)
    rss_connected = rss_mb(server_pid)
    start_wall = time.time() + 1.0
    await asyncio.sleep(max(0.0, start_wall - time.time()))
    await api.post(f"/auctions/sessions/{session['id']}/start")
    for g in gens:
        g.tell(repr(start_wall))
    results = [await asyncio.to_thread(g.result, 900) for g in gens]
    bidding_done = time.time()
    closed_after_s = None
    for _ in range(600):  # bounded: every lot must close by itself
        state = await api.get(f"/auctions/sessions/{session['id']}")
        if all(lot["live"] and lot["live"]["phase"] == "closed" for lot in state["lots"]):
            closed_after_s = round(time.time() - bidding_done, 1)
            break
        await asyncio.sleep(0.5)
    acks = [a for r in results for a in r["acks"]]
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT lot_id, seq, bid_id, (data->>'amount_fen')::bigint AS amount FROM auction_events "
            "WHERE lot_id = ANY($1::bigint[]) AND type = 'bid_accepted'",
            lot_ids,
        )
        closes = await conn.fetch(
            "SELECT data->>'outcome' AS outcome, count(*) FROM auction_events WHERE lot_id = ANY($1::bigint[]) "
            "AND type = 'lot_closed' GROUP BY 1",
            lot_ids,
        )
    finally:
        await conn.close()
    in_log = {(r["lot_id"], r["seq"]): (r["amount"], r["bid_id"]) for r in rows}
    lost = [a for a in acks if in_log.get((a[0], a[1]), (None, None)) != (a[2], a[3])]
    per_second: dict[int, int] = {}
    for r in results:
        for sec, n in r["acks_per_second"].items():
            per_second[int(sec)] = per_second.get(int(sec), 0) + n
    refusals: dict[str, int] = {}
    for r in results:
        for code, n in r["refusals"].items():
            refusals[code] = refusals.get(code, 0) + n
    latencies_p99 = max(r["p99_ms"] for r in results)
    figures = {
        "lots": scale.plate_lots,
        "bidders": total,
        "ws_bidders": sum(r["connected"] for r in results),
        "http_bidders": scale.plate_http_bidders,
        "setup_s": round(setup_s, 1),
        "bids_answered": sum(r["answered"] for r in results),
        "acked": len(acks),
        "in_log": len(rows),
        "acked_not_in_log": len(lost),
        "refusals": refusals,
        "client_errors": sum(r["errors"] for r in results),
        "peak_acks_per_s": max(per_second.values(), default=0),
        "p50_ms": max(r["p50_ms"] for r in results),
        "p99_ms": latencies_p99,
        "max_ms": max(r["max_ms"] for r in results),
        "all_closed_s_after_last_bid": closed_after_s,
        "outcomes": {r["outcome"]: r["count"] for r in closes},
        "server_rss_mb_connected": rss_connected,
        "acks_per_second": dict(sorted(per_second.items())),
    }
    report(
        "auction plate session (surge)",
        {k: v for k, v in figures.items() if k != "acks_per_second"},
    )
    return figures


async def phase(name: str, scale: Scale, echo_port: int, echo_pid: int) -> dict[str, Any]:
    """One benchmark on its own fresh server and database."""
    with sunlit_server(env=SERVER_ENV, timeout_s=120) as server:
        from trading.db import EmbeddedPostgres

        dsn = EmbeddedPostgres(server.data_dir).start()  # the server's own, already running
        need = {
            "throughput": max((scale.bidders, *scale.sweep)),
            "fanout": 1,
            "plate": scale.plate_ws_bidders + scale.plate_http_bidders,
        }
        t0 = time.monotonic()
        bidders = await seed_bidders(dsn, need[name])
        print(f"{name}: seeded {len(bidders)} bidders in {time.monotonic() - t0:.1f} s", flush=True)
        async with aiohttp.ClientSession() as http:
            headers = await login(http, server.url, "staff1", server.credentials()["staff1"])
            me = await (await http.get(server.url + "/api/v1/me", headers=headers)).json()
            api = Api(http, server.url, headers)
            if name == "throughput":
                scales = [
                    dataclasses.replace(scale, bidders=n, lots=n // 2, watchers=n // 2)
                    for n in scale.sweep
                ] or [scale]
                by_bidders = {
                    str(s.bidders): await bench_throughput(
                        s,
                        server.process.pid,
                        echo_pid,
                        server.url,
                        api,
                        dsn,
                        me["id"],
                        bidders,
                        echo_port,
                        server.data_dir / "pg",
                    )
                    for s in scales
                }
                figures = {"by_bidders": by_bidders}
            elif name == "fanout" and scale.fanout_processes > 1:
                from bench.auction.takeover import Node  # (it imports this module)

                peers = [
                    Node(f"peer{i}", dsn, server.data_dir.parent, SERVER_ENV)
                    for i in range(1, scale.fanout_processes)
                ]
                try:
                    await asyncio.gather(*(asyncio.to_thread(p.start) for p in peers))
                    figures = await bench_fanout(
                        scale, server.url, api, dsn, me["id"], bidders[0], tuple(p.url for p in peers)
                    )
                    figures["peers"] = [await api_at(http, p.url, headers) for p in peers]
                    for i, peer in enumerate(figures["peers"], 1):
                        report(f"auction fanout: peer {i}, server-side figures", peer)
                finally:
                    for p in peers:
                        p.stop()
            elif name == "fanout":
                figures = await bench_fanout(scale, server.url, api, dsn, me["id"], bidders[0])
            else:
                figures = await bench_plate(
                    scale, server.url, api, dsn, me["id"], bidders, server.process.pid
                )
            engine = await api.get("/auctions/engine")
            figures["server"] = {k: v for k, v in engine.items() if k not in ("lots", "queued")}
            report(f"auction {name}: server-side figures", figures["server"])
    return figures


async def api_at(http: aiohttp.ClientSession, base: str, headers: dict[str, str]) -> dict[str, Any]:
    """Another process's engine figures (``GET /auctions/engine``), less the lot list."""
    engine = await Api(http, base, headers).get("/auctions/engine")
    return {k: v for k, v in engine.items() if k not in ("lots", "queued", "cluster")}


async def main_async(scale: Scale, only: set[str], echo_port: int, echo_pid: int) -> dict[str, Any]:
    return {
        name: await phase(name, scale, echo_port, echo_pid)
        for name in ("throughput", "fanout", "plate")
        if name in only
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="throughput,fanout,plate")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    for name in (
        "bidders",
        "lots",
        "watchers",
        "rounds",
        "fanout_watchers",
        "fanout_processes",
        "plate_ws_bidders",
        "plate_lots",
    ):
        parser.add_argument("--" + name.replace("_", "-"), type=int, help="override the scale")
    parser.add_argument("--fanout-client", choices=("websockets", "raw"), help="the fan-out's watchers")
    args = parser.parse_args()
    scale = QUICK if args.quick else FULL
    overrides = {
        name: getattr(args, name)
        for name in scale.__dataclass_fields__
        if getattr(args, name, None)
    }
    if overrides.keys() & {"bidders", "lots", "watchers"}:
        overrides["sweep"] = ()  # one scale, as given
    scale = dataclasses.replace(scale, **overrides)
    started = time.monotonic()
    print(f"open files per process: {raise_fd_limit()}", flush=True)
    echo_port = free_port()
    echo = subprocess.Popen(
        [sys.executable, "-m", "bench.auction.echo", str(echo_port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
    )
    try:
        assert echo.stdout is not None
        echo.stdout.readline()  # READY
        figures = asyncio.run(main_async(scale, set(args.only.split(",")), echo_port, echo.pid))
    finally:
        echo.terminate()
        echo.wait(10)
    figures["total_s"] = round(time.monotonic() - started, 1)
    print(f"auction bench done in {figures['total_s']} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
