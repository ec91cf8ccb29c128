"""Benchmark: the public statistics (``GET /api/v1/public/statistics``) over 1,000,000 closed
trades.

Run:  PYTHONPATH=. python bench/bench_statistics.py [--trades 1000000] [--requests 200] [--quick]

A fresh embedded PostgreSQL in a temporary directory is migrated and ``--trades`` closed
trades (ten years, 2016–2025; five categories; eight regions; sales with a starting price,
purchases with a budget, 3 % failed) are loaded through the one aggregate path,
``trading.statistics.store.record_trades`` (batches of 20,000), as the roll-up adds them. A
real ``sunlit serve`` runs on it in a subprocess. For each query shape, ``--requests``
requests are made one after another (after a warm-up) and timed end to end. The baseline,
in the same run, is a bare ``SELECT`` of one aggregate row of the same table through
asyncpg (no HTTP, no JSON). Target: ours p95 < 100 ms.

Shapes: the last year, all categories; ten years, all categories (the longest period);
six months of plates in one region.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_notices import QUIET
from bench.harness import LoadResult, drive, migrated_postgres, report, sunlit_server
from trading.db import connect
from trading.statistics import store
from trading.statistics.model import Category, Outcome, TradeFact, TradeKind

REGIONS = ["330500", "330502", "330503", "330521", "330522", "330523", "330100", "330200"]
BATCH = 20_000
SHAPES = {
    "last year": "from_month=2025-01&to_month=2025-12",
    "ten years": "from_month=2016-01&to_month=2025-12",
    "six months, plates, one region": "from_month=2025-01&to_month=2025-06&category=plates&region=330502",
}


def trades(n: int, seed: int = 5) -> list[TradeFact]:
    rnd = random.Random(seed)
    cats = list(Category)
    out = []
    for i in range(n):
        cat = cats[i % 5]
        on = date(2016 + rnd.randrange(10), 1 + rnd.randrange(12), 1 + rnd.randrange(28))
        failed = rnd.random() < 0.03
        if cat in (Category.LAND, Category.PLATES):
            start = rnd.randrange(10_000, 10_000_000_000)
            final = 0 if failed else start + rnd.randrange(0, 2 * start)
            out.append(TradeFact(f"t{i}", cat, TradeKind.SALE, Outcome.FAILED if failed else Outcome.DONE, on,
                                 REGIONS[i % 8], final, start_fen=start))  # fmt: skip
        else:
            budget = rnd.randrange(100_000, 10_000_000_000)
            award = 0 if failed else budget - rnd.randrange(0, budget // 4)
            out.append(TradeFact(f"t{i}", cat, TradeKind.PURCHASE, Outcome.FAILED if failed else Outcome.DONE, on,
                                 REGIONS[i % 8], award, budget_fen=budget))  # fmt: skip
    return out


def pcts(result: LoadResult) -> dict[str, float]:
    return {"p50_ms": result.pct_ms(50), "p95_ms": result.pct_ms(95), "p99_ms": result.pct_ms(99)}


async def fill(dsn: str, n: int) -> float:
    conn = await connect(dsn)
    started = time.perf_counter()
    try:
        all_trades = trades(n)
        now = datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(0, n, BATCH):
            async with conn.transaction():
                await store.record_trades(conn, all_trades[i : i + BATCH], now)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def measure(url: str, dsn: str, requests: int) -> list[dict[str, Any]]:
    out = []
    conn = await connect(dsn)
    try:
        async with aiohttp.ClientSession() as session:
            for name, query in SHAPES.items():

                async def ours(query: str = query) -> None:
                    async with session.get(f"{url}/api/v1/public/statistics?{query}") as r:
                        assert r.status == 200, await r.text()
                        await r.read()

                async def bare() -> None:
                    await conn.fetchrow("SELECT * FROM stat_month WHERE month = $1 AND category = $2 AND region = $3",
                                        date(2025, 6, 1), "plates", "330502")  # fmt: skip

                o = pcts(await drive(ours, total=requests, warmup=10))
                b = pcts(await drive(bare, total=requests))
                figures = {**{f"ours_{k}": v for k, v in o.items()}, **{f"bare_{k}": v for k, v in b.items()},
                           "target_p95_ms": 100, "met": o["p95_ms"] < 100}  # fmt: skip
                report(f"statistics: {name}", figures)
                out.append({"shape": name, **figures})
    finally:
        await conn.close()
    return out


async def main_async(args: argparse.Namespace) -> int:
    async with migrated_postgres("sunlit-bench-stats-") as dsn:
        fill_s = await fill(dsn, args.trades)
        conn = await connect(dsn)
        try:
            cells = await conn.fetchval("SELECT count(*) FROM stat_month")
        finally:
            await conn.close()
        report("statistics: fill", {"trades": args.trades, "aggregate_rows": cells, "load_s": round(fill_s, 1)})
        with sunlit_server(demo=False, dsn=dsn, env=QUIET) as server:
            await measure(server.url, dsn, args.requests)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="50,000 trades, 40 requests per shape")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.trades, args.requests = 50_000, 40
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
