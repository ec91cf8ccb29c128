"""Benchmark (b) of issue 15: a plate session through websockets, across two server processes,
at least 20,000 bidders, the surge at the end.

    python -m bench.auction.cluster            # 20,000 bidders, 300 lots, 30 s countdowns
    python -m bench.auction.cluster --quick    # 1,000 bidders, 20 lots (a smoke run)

One embedded PostgreSQL and two ``sunlit serve`` processes on it (``bench.auction.takeover``'s
``Node``). A plate session (``bench.auction.run.plate_session``) whose lots are owned by both
processes: before the start, process B loads (and so claims, by its advisory lock) every odd
lot and process A every even one. The bidders' websockets are split across both processes —
half on A, half on B, each process at most 10,000 sockets (the container caps open files at
20,000 per process) from ``--generators`` load generator processes each
(``bench.auction.loadgen``, mode ``plate``) — so about half of all bids reach a process that
does not own their lot and are forwarded to the owner through PostgreSQL. The bidders bid as
in section 3 of ``docs/benchmarks-auction.md`` (``plate_schedule``: 12 % early, the rest in
the last 15 s of a 35 s window, half of them twice; after a ``below_minimum`` the minimum the
server named). A bid answered ``engine_unavailable`` (its owner did not answer the forward
in time) is sent again with the same bid id, ``--resends`` times at most, as the protocol
asks; its time counts from the first send.

Figures: bids sent (answered), acknowledged, refused by code; every acknowledged bid looked
up in ``auction_events`` afterwards (lot, seq, amount, bid id: **acknowledged bids lost**);
the server-side bid → ack p50/p99 of each process (``GET /auctions/engine``), the client-side
p50/p99 of each generator, and over the bids answered by their own process against the
forwarded ones; bids forwarded; CPU seconds of each server process, of the generators and of
PostgreSQL during the session; the load average; what PostgreSQL's busy client backends were
doing (``pg_stat_activity`` every 0.5 s); every 2 s, the machine's busy CPU and the bench's
share of it. A table and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.auction.run import (
    SERVER_ENV,
    Api,
    Generator,
    plate_schedule,
    plate_session,
    process_cpu_s,
    raise_fd_limit,
    rss_mb,
    seed_bidders,
)
from bench.auction.takeover import Node, seed_staff
from bench.harness import report
from trading.db import EmbeddedPostgres

START_FEN = 1_000_000
INC_FEN = 10_000
SOCKETS_PER_NODE_MAX = 10_000


def postgres_cpu_s(pg_root: Path) -> float:
    """CPU seconds of the postmaster and its live children (backends, writers, walwriter)."""
    pidfile = next(pg_root.rglob("postmaster.pid"))
    postmaster = int(pidfile.read_text().split()[0])
    total = process_cpu_s(postmaster)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, every core, since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - fields[3] - fields[4]) / tick, sum(fields) / tick


def bench_cpu_s(pids: list[int], pg_root: Path) -> float:
    """CPU seconds of the bench's processes: servers, generators, PostgreSQL."""
    total = postgres_cpu_s(pg_root)
    for pid in pids:
        try:
            total += process_cpu_s(pid)
        except (OSError, IndexError):  # exited
            pass
    return total


async def sample_load(
    samples: list[float], cpu: list[list[int]], pids: list[int], pg_root: Path, stop: asyncio.Event
) -> None:
    """Every 2 s: the load average, and the machine's busy CPU and the bench's share of it in
    the interval (% of one core: 200 is both cores busy)."""
    cores = os.cpu_count() or 1
    busy0, total0 = machine_cpu_s()
    bench0 = bench_cpu_s(pids, pg_root)
    start = t0 = time.monotonic()
    while not stop.is_set():
        samples.append(os.getloadavg()[0])
        try:
            await asyncio.wait_for(stop.wait(), 2.0)
        except TimeoutError:
            pass
        busy1, total1 = machine_cpu_s()
        bench1, t1 = bench_cpu_s(pids, pg_root), time.monotonic()
        machine = (busy1 - busy0) / max(total1 - total0, 1e-9) * 100 * cores
        cpu.append([round(t1 - start), round(machine), max(0, round((bench1 - bench0) / (t1 - t0) * 100))])
        busy0, total0, bench0, t0 = busy1, total1, bench1, t1


async def sample_postgres(dsn: str, counts: dict[str, int], stop: asyncio.Event) -> None:
    """What the database's client backends are doing, every 0.5 s: state, wait event and the
    statement's start (where a bid's time goes)."""
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            for r in await conn.fetch(
                "SELECT state, coalesce(wait_event_type || ':' || wait_event, '-') AS wait, "
                "left(regexp_replace(query, '\\s+', ' ', 'g'), 48) AS q FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'"
            ):
                key = f"{r['state']} | {r['wait']} | {r['q']}"
                counts[key] = counts.get(key, 0) + 1
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass
    finally:
        await conn.close()


def pct(xs: list[float], p: float) -> float | None:
    ys = sorted(xs)
    return round(ys[min(len(ys) - 1, int(p / 100 * len(ys)))], 1) if ys else None


async def engine_stats(http: aiohttp.ClientSession, node: Node, staff: str) -> dict[str, Any]:
    async with http.get(
        node.url + "/api/v1/auctions/engine", headers={"Authorization": f"Bearer {staff}"}
    ) as r:
        data = dict(await r.json())
    data.pop("lots", None)
    data.pop("queued", None)
    return data


async def main_async(
    bidders_n: int, lots: int, countdown_s: int, generators: int, resends: int, env: dict[str, str],
    nice: int = 0,
) -> dict[str, Any]:
    per_node = [bidders_n - bidders_n // 2, bidders_n // 2]
    if max(per_node) > SOCKETS_PER_NODE_MAX:
        raise SystemExit(f"at most {2 * SOCKETS_PER_NODE_MAX} bidders (10,000 sockets per process)")
    with tempfile.TemporaryDirectory(prefix="sunlit-cluster-") as tmp:
        root = Path(tmp)
        pg = EmbeddedPostgres(root / "pg")
        dsn = pg.start()
        nodes = [Node(name, dsn, root, env={**SERVER_ENV, **env}) for name in ("a", "b")]
        gens: list[Generator] = []
        try:
            for n in nodes:  # one after the other: two fresh starts race in trading.calendar.schedule
                await asyncio.to_thread(n.start)
            staff_id, staff = await seed_staff(dsn)
            t0 = time.monotonic()
            bidders = await seed_bidders(dsn, bidders_n)
            print(f"seeded {len(bidders)} bidders in {time.monotonic() - t0:.1f} s", flush=True)
            async with aiohttp.ClientSession() as http:
                api = Api(http, nodes[0].url, {"Authorization": f"Bearer {staff}"})
                t0 = time.monotonic()
                session = await plate_session(
                    api, dsn, staff_id, lots=lots, countdown_s=countdown_s, bidders=bidders,
                    start_fen=START_FEN, increment_fen=INC_FEN, allow_self_raise=False,
                )
                lot_ids = [lot["id"] for lot in session["lots"]]
                # ownership: the first process to load a lot claims it — B the odd ones, A the even
                for i, lot_id in enumerate(lot_ids):
                    node = nodes[i % 2]
                    async with http.get(f"{node.url}/api/v1/auctions/lots/{lot_id}") as r:
                        assert r.status == 200, await r.text()
                owned_before = [(await engine_stats(http, n, staff))["lots_owned"] for n in nodes]
                setup_s = time.monotonic() - t0
                print(f"session of {lots} lots, {len(bidders)} admitted in {setup_s:.1f} s; "
                      f"lots owned by A / B: {owned_before}", flush=True)
                rng = random.Random(2015)
                planned = [
                    {
                        "token": b["token"],
                        "lot_id": lot_ids[int(len(lot_ids) * rng.random() ** 2)],
                        "times": plate_schedule(rng, countdown_s),
                    }
                    for b in bidders
                ]
                common = {
                    "mode": "plate", "start_fen": START_FEN, "increment_fen": INC_FEN,
                    "resend_unavailable": resends, "answer_times": True,
                }
                owner_of = {lot_id: i % 2 for i, lot_id in enumerate(lot_ids)}  # 0: A, 1: B
                gen_node: list[int] = []
                first = 0
                for k, (node, count) in enumerate(zip(nodes, per_node, strict=True)):
                    mine, first = planned[first : first + count], first + count
                    step = -(-len(mine) // generators)
                    for g in range(generators):
                        gen_node.append(k)
                        gens.append(Generator({
                            **common,
                            "url": node.url.replace("http", "ws") + "/api/v1/auctions/ws",
                            "base": node.url,
                            "ws_bidders": mine[g * step : (g + 1) * step],
                            "seed": 10 * (len(gens) + 1),
                        }, nice=nice))
                t0 = time.monotonic()
                for gen in gens:
                    await asyncio.to_thread(gen.wait_ready, 900)
                connect_s = time.monotonic() - t0
                connected = [await engine_stats(http, n, staff) for n in nodes]
                rss_connected = [rss_mb(n.proc.pid) for n in nodes if n.proc is not None]
                load: list[float] = []
                stop = asyncio.Event()
                cpu_2s: list[list[int]] = []
                pids = [n.proc.pid for n in nodes if n.proc is not None] + [g.proc.pid for g in gens]
                sampler = asyncio.create_task(sample_load(load, cpu_2s, pids, root / "pg", stop))
                pg_activity: dict[str, int] = {}
                pg_sampler = asyncio.create_task(sample_postgres(dsn, pg_activity, stop))
                cpu_before = [process_cpu_s(n.proc.pid) for n in nodes if n.proc is not None]
                pg_before, gens_before = postgres_cpu_s(root / "pg"), children_cpu_s()
                start_wall = time.time() + 1.0
                await asyncio.sleep(max(0.0, start_wall - time.time()))
                started = await api.post(f"/auctions/sessions/{session['id']}/start")
                for gen in gens:
                    gen.tell(repr(start_wall))
                results = [await asyncio.to_thread(gen.result, 900) for gen in gens]
                gens_cpu = children_cpu_s() - gens_before
                bidding_done = time.time()
                conn = await asyncpg.connect(dsn)
                try:
                    closed_after_s = None
                    for _ in range(600):  # bounded: every lot must close by its own countdown
                        closed = await conn.fetchval(
                            "SELECT count(DISTINCT lot_id) FROM auction_events "
                            "WHERE lot_id = ANY($1::bigint[]) AND type = 'lot_closed'",
                            lot_ids,
                        )
                        if closed == len(lot_ids):
                            closed_after_s = round(time.time() - bidding_done, 1)
                            break
                        await asyncio.sleep(0.5)
                    cpu_after = [process_cpu_s(n.proc.pid) for n in nodes if n.proc is not None]
                    pg_cpu = postgres_cpu_s(root / "pg") - pg_before
                    stop.set()
                    await sampler
                    await pg_sampler
                    session_s = time.time() - start_wall
                    rows = await conn.fetch(
                        "SELECT lot_id, seq, bid_id, (data->>'amount_fen')::bigint AS amount "
                        "FROM auction_events WHERE lot_id = ANY($1::bigint[]) AND type = 'bid_accepted'",
                        lot_ids,
                    )
                    outcomes = await conn.fetch(
                        "SELECT data->>'outcome' AS outcome, count(*) FROM auction_events "
                        "WHERE lot_id = ANY($1::bigint[]) AND type = 'lot_closed' GROUP BY 1",
                        lot_ids,
                    )
                finally:
                    await conn.close()
                after = [await engine_stats(http, n, staff) for n in nodes]
        finally:
            for gen in gens:
                if gen.proc.poll() is None:
                    gen.proc.kill()
                    gen.proc.wait()
            for n in nodes:
                n.stop()
            pg.stop()
    acks = [a for r in results for a in r["acks"]]
    in_log = {(r["lot_id"], r["seq"]): (r["amount"], r["bid_id"]) for r in rows}
    lost = [a for a in acks if in_log.get((a[0], a[1]), (None, None)) != (a[2], a[3])]
    refusals: dict[str, int] = {}
    per_second: dict[int, int] = {}
    for r in results:
        for code, n in r["refusals"].items():
            refusals[code] = refusals.get(code, 0) + n
        for sec, n in r["acks_per_second"].items():
            per_second[int(sec)] = per_second.get(int(sec), 0) + n
    half = len(results) // 2
    local: list[float] = []
    forwarded: list[float] = []
    for r, k in zip(results, gen_node, strict=True):
        for lot_id, ms in r["answer_times"]:
            (local if owner_of[int(lot_id)] == k else forwarded).append(ms)
    acked_keys = {(a[0], a[1]) for a in acks}
    return {
        "bidders": bidders_n,
        "lots": lots,
        "countdown_s": countdown_s,
        "generators": len(gens),
        "lots_owned_before_start": owned_before,
        "lots_started": started["started"],
        "sockets_per_process": [s["websocket_clients"] for s in connected],
        "connected": sum(r["connected"] for r in results),
        "connect_s": round(connect_s, 1),
        "bids_answered": sum(r["answered"] for r in results),
        "acked": len(acks),
        "refusals": refusals,
        "in_log": len(rows),
        "acked_not_in_log": len(lost),
        "in_log_not_acked": sum(1 for key in in_log if key not in acked_keys),
        "resent_unavailable": sum(r["resent_unavailable"] for r in results),
        "client_errors": sum(r["errors"] for r in results),
        "server_ack_ms_p50": [s["bid_to_ack_ms_p50"] for s in after],
        "server_ack_ms_p99": [s["bid_to_ack_ms_p99"] for s in after],
        "server_ack_ms_max": [s["bid_to_ack_ms_max"] for s in after],
        "server_ack_samples": [s["bid_to_ack_samples"] for s in after],
        "client_ms_p50_by_process": [
            round(statistics.median(r["p50_ms"] for r in part), 1) for part in (results[:half], results[half:])
        ],
        "client_ms_p99_by_process": [max(r["p99_ms"] for r in part) for part in (results[:half], results[half:])],
        "client_ms_max": max(r["max_ms"] for r in results),
        "client_ms_p50_p99_local": [pct(local, 50), pct(local, 99)],
        "client_ms_p50_p99_forwarded": [pct(forwarded, 50), pct(forwarded, 99)],
        "answers_local_forwarded": [len(local), len(forwarded)],
        "forwarded": [s["forwarded"] for s in after],
        "forward_retries": [s["forward_retries"] for s in after],
        "calls_served": [s["cluster"].get("calls_served") for s in after],
        "lots_owned_after": [s["lots_owned"] for s in after],
        "takeovers": [s["takeovers"] for s in after],
        "rows_written": [s["rows_written"] for s in after],
        "flush_ms_p99": [s["flush_ms_p99"] for s in after],
        "clients_dropped_as_slow": [s["clients_dropped_as_slow"] for s in after],
        "peak_acks_per_s": max(per_second.values(), default=0),
        "all_closed_s_after_last_bid": closed_after_s,
        "outcomes": {r["outcome"]: r["count"] for r in outcomes},
        "session_s": round(session_s, 1),
        "server_cpu_s": [round(b - a, 1) for a, b in zip(cpu_before, cpu_after, strict=True)],
        "server_cpu_pct": [round((b - a) / session_s * 100) for a, b in zip(cpu_before, cpu_after, strict=True)],
        "generators_cpu_s": round(gens_cpu, 1),
        "postgres_cpu_s": round(pg_cpu, 1),
        "server_rss_mb_connected": rss_connected,
        "loadavg_1min_start_max_end": [round(x, 2) for x in (load[0], max(load), load[-1])] if load else None,
        "cpu_2s_elapsed_machine_bench_pct": cpu_2s,
        "postgres_busy_samples": dict(sorted(pg_activity.items(), key=lambda kv: -kv[1])[:12]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 bidders on 20 lots, 10 s countdowns")
    parser.add_argument("--bidders", type=int, help="websocket bidders, split over the 2 processes (≤ 20,000)")
    parser.add_argument("--lots", type=int)
    parser.add_argument("--countdown", type=int, help="seconds")
    parser.add_argument("--generators", type=int, help="load generator processes per server process")
    parser.add_argument("--resends", type=int, default=5,
                        help="times a bid answered engine_unavailable is sent again, same bid id")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for both server processes, e.g. SUNLIT_AUCTION_OWNER_CHECK_S=2")
    parser.add_argument("--generator-nice", type=int, default=0, metavar="N",
                        help="run the load generators at nice N (e.g. 10): on one machine, the servers "
                        "first, as if the clients were elsewhere")
    args = parser.parse_args()
    quick = (1_000, 20, 10, 1)
    full = (20_000, 300, 30, 2)
    bidders, lots, countdown, generators = quick if args.quick else full
    print(f"open files per process: {raise_fd_limit()}", flush=True)
    started = time.monotonic()
    figures = asyncio.run(main_async(
        args.bidders or bidders, args.lots or lots, args.countdown or countdown,
        args.generators or generators, args.resends, dict(e.split("=", 1) for e in args.env),
        args.generator_nice,
    ))
    figures["total_s"] = round(time.monotonic() - started, 1)
    figures["server_env"] = args.env
    figures["generator_nice"] = args.generator_nice
    report("auction plate session across 2 processes (websockets)", figures)


if __name__ == "__main__":
    main()
