"""Benchmark (a) of issue 15: a Shanghai-sized quota session through the service layer,
without sockets, every bid journaled (durable before its answer), against plain INSERTs of
the same rows in the same run.

    python -m bench.auction.quota            # 221,109 bidders, 8,310 plates
    python -m bench.auction.quota --quick    # 1/20 of that

The session: every bidder is admitted (``bidder_admitted`` rows, through the engine), bids
once in the first half (at or under the warning price), and revises once or twice in the
last 30 seconds of the second half within ±300 yuan of the cutoff as it stands then — so
that 60 % of the bids fall in the last 30 s. Time is simulated (a fake clock set to each
bid's time); the engine runs as fast as the bids can be judged and journaled, with up to
``--in-flight`` bids awaiting their durable answer (the gateway's concurrency). The process
runs as ``sunlit serve`` does: its event loop (uvloop unless ``SUNLIT_EVENT_LOOP`` says
otherwise) and, once the bidders are admitted, its collector settings (``settle_heap``);
``--plain-runtime``: the standard asyncio loop and collector, for comparison.

Figures (one JSON line each, and a table):

- ``engine``: bids per second and the per-bid cost (µs) of ``QuotaEngine.place_bid`` with
  the group-commit writer on PostgreSQL (``PgQuotaLogStore``), refusals included;
- ``insert_each``: the same accepted rows, one autocommit ``INSERT`` each (a durable write
  per bid, the naive journal; ``--each-rows N`` times it over the first N rows only);
- ``insert_batched``: the same rows in one ``INSERT … unnest`` per the engine's mean flush
  size (the floor for the same durability);
- the ratios engine / insert_each and engine / insert_batched.

A fresh embedded PostgreSQL in a temporary directory; seeded random numbers (``--seed``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auction.errors import AuctionRejected
from auction.quota import QuotaConfig, quota_config_to_dict
from auction.quota_engine import QuotaEngine, QuotaEngineSettings
from auction.quota_store import PgQuotaLogStore
from trading import migrate
from trading.clock import FakeClock
from trading.config import Config
from trading.db import EmbeddedPostgres, connect, create_pool
from web.cli import new_event_loop, settle_heap

T0 = datetime(2026, 3, 21, 2, 30, tzinfo=UTC)
WARNING = 9_270_000  # 92,700 yuan, the warning price of a 2024 session
STEP = 10_000


def plan(bidders: int, seed: int) -> tuple[list[tuple[float, int, int]], int]:
    """(second of the session, bidder, revision number) for each bid, in time order; and how
    many fall in the last 30 s. First bids spread over the first half; revisions (1 or 2
    per bidder, 1.5 on average) in the last 30 s of the one-hour session."""
    rng = random.Random(seed)
    bids: list[tuple[float, int, int]] = []
    for b in range(bidders):
        bids.append((rng.uniform(0, 1800), b, 0))
        bids.append((3570 + rng.uniform(0, 20), b, 1))
        if rng.random() < 0.5:
            bids.append((3590 + rng.uniform(0, 9.999), b, 2))
    bids.sort()
    return bids, sum(1 for t, _, _ in bids if t >= 3570)


async def run_engine(dsn: str, pool: Any, config: QuotaConfig, bids: list[tuple[float, int, int]],
                     bidders: int, in_flight: int, seed: int, server_runtime: bool = True) -> dict[str, Any]:
    rng = random.Random(seed + 1)
    clock = FakeClock(T0 - timedelta(minutes=5))
    engine = QuotaEngine(PgQuotaLogStore(dsn, pool), clock, settings=QuotaEngineSettings(publish_s=0))
    await engine.start()
    paddles = [f"{i:08d}" for i in range(bidders)]
    for i in range(0, bidders, 5000):
        await engine.admit(1, paddles[i : i + 5000])
    await engine.wait_idle()
    if server_runtime:
        settle_heap()  # as `sunlit serve` does once started: the collector's pauses out of the timings
    book = engine.book(1)
    assert book is not None
    window: set[asyncio.Future[Any]] = set()
    accepted = refused = 0
    rows_before = engine.rows_written
    flushes_before = engine.flushes

    def done(fut: asyncio.Future[Any]) -> None:
        nonlocal accepted, refused
        window.discard(fut)
        if fut.exception() is None:
            accepted += 1
        elif isinstance(fut.exception(), AuctionRejected):
            refused += 1
        else:
            raise fut.exception()  # type: ignore[misc]

    started = time.perf_counter()
    for n, (second, bidder, revision) in enumerate(bids):
        clock.set(T0 + timedelta(seconds=second))
        if revision == 0:
            amount = WARNING - STEP * min(int(rng.expovariate(0.4)), 50)
        else:
            cutoff = book.lowest_winning_price_fen() or WARNING
            amount = cutoff + STEP * rng.choice((-3, -1, 0, 1, 1, 2, 2, 3, 3, 4))
        fut = engine.place_bid(1, paddles[bidder], f"b{n}", amount)
        window.add(fut)
        fut.add_done_callback(done)
        if len(window) >= in_flight:
            await asyncio.wait(set(window), return_when=asyncio.FIRST_COMPLETED)
    while window:
        await asyncio.wait(set(window))
    await engine.wait_idle()
    elapsed = time.perf_counter() - started
    clock.set(config.ends_at)
    engine.tick()
    await engine.wait_idle()
    flushes = engine.flushes - flushes_before
    rows = engine.rows_written - rows_before
    closed = book.closed
    await engine.stop()
    return {
        "bids": len(bids),
        "accepted": accepted,
        "refused": refused,
        "seconds": round(elapsed, 3),
        "bids_per_s": round(len(bids) / elapsed),
        "per_bid_us": round(elapsed / len(bids) * 1e6, 1),
        "flushes": flushes,
        "rows_per_flush": round(rows / max(flushes, 1), 1),
        "cutoff_fen": None if closed is None else closed.cutoff_fen,
    }


async def run_inserts(pool: Any, batch: int, each_rows: int | None) -> dict[str, Any]:
    """The engine's accepted-bid rows, written again into a copy of the table: one autocommit
    INSERT per row (over the first ``each_rows`` of them when given: a sample, the figure is
    per row), then one INSERT … unnest per ``batch`` rows (all of them)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT session_id, seq, at, type, paddle, bid_id, data::text AS data FROM quota_events "
            "WHERE session_id = 1 AND type = 'quota_bid_accepted' ORDER BY seq"
        )
        rows = [tuple(r) for r in rows]
        each_part = rows[:each_rows] if each_rows else rows
        figures: dict[str, Any] = {"rows": len(rows), "insert_each_rows": len(each_part)}
        for name in ("each", "batched"):
            await conn.execute(f"CREATE TABLE bench_{name} (LIKE quota_events INCLUDING ALL)")
        started = time.perf_counter()
        for r in each_part:
            await conn.execute(
                "INSERT INTO bench_each (session_id, seq, at, type, paddle, bid_id, data) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
                *r,
            )
        each = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            part = rows[i : i + batch]
            await conn.execute(
                "INSERT INTO bench_batched (session_id, seq, at, type, paddle, bid_id, data) "
                "SELECT s, q, a, t, p, b, d::jsonb FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], "
                "$4::text[], $5::text[], $6::text[], $7::text[]) AS u(s, q, a, t, p, b, d)",
                *zip(*part, strict=True),
            )
        batched = time.perf_counter() - started
    figures.update(
        insert_each_rows_per_s=round(len(each_part) / each),
        insert_each_us=round(each / len(each_part) * 1e6, 1),
        insert_batched_rows_per_s=round(len(rows) / batched),
        insert_batched_us=round(batched / len(rows) * 1e6, 1),
    )
    return figures


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1/20 scale")
    p.add_argument("--bidders", type=int, default=None)
    p.add_argument("--plates", type=int, default=None)
    p.add_argument("--in-flight", type=int, default=2000)
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--each-rows", type=int, default=None,
                   help="time the per-row INSERT baseline over this many rows only (default: all)")
    p.add_argument("--plain-runtime", action="store_true",
                   help="the standard asyncio loop and collector settings, not the server's")
    a = p.parse_args()
    scale = 20 if a.quick else 1
    bidders = a.bidders or 221_109 // scale
    plates = a.plates or 8_310 // scale
    bids, last30 = plan(bidders, a.seed)
    config = QuotaConfig(session_id="1", quota=plates, starts_at=T0, warning_price_fen=WARNING)
    with tempfile.TemporaryDirectory(prefix="sunlit-bench-quota-") as tmp:
        pg = EmbeddedPostgres(Path(tmp))
        dsn = pg.start()
        try:
            conn = await connect(dsn)
            await migrate.migrate(conn)
            await conn.execute(
                "INSERT INTO quota_sessions (title, config, deposit_fen, created_at) VALUES ($1, $2, 0, $3)",
                "bench", quota_config_to_dict(config), T0,
            )
            await conn.close()
            pool = await create_pool(dsn, min_size=2, max_size=4)
            engine = await run_engine(dsn, pool, config, bids, bidders, a.in_flight, a.seed, not a.plain_runtime)
            inserts = await run_inserts(pool, max(1, round(engine["rows_per_flush"])), a.each_rows)
            await pool.close()
        finally:
            pg.stop()
    figures = {
        "scale": "quick (1/20)" if a.quick else "full",
        "runtime": "plain asyncio" if a.plain_runtime else "the server's (event loop, collector)",
        "bidders": bidders,
        "plates": plates,
        "share_in_last_30_s": round(last30 / len(bids), 3),
        **{f"engine_{k}": v for k, v in engine.items()},
        **inserts,
        "engine_vs_insert_each": round(engine["bids_per_s"] / inserts["insert_each_rows_per_s"], 2),
        "engine_vs_insert_batched": round(engine["bids_per_s"] / inserts["insert_batched_rows_per_s"], 2),
    }
    width = max(len(k) for k in figures)
    for k, v in figures.items():
        print(f"{k:<{width}}  {v}")
    print(json.dumps(figures))


if __name__ == "__main__":
    # the server's event loop (uvloop unless SUNLIT_EVENT_LOOP says otherwise) unless --plain-runtime
    kind = "asyncio" if "--plain-runtime" in sys.argv else Config.from_env().event_loop
    with asyncio.Runner(loop_factory=lambda: new_event_loop(kind)) as runner:
        runner.run(main())
