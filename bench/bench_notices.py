"""Benchmark: the public notice list (``GET /api/v1/public/notices``) with 100,000 notices.

Run:  PYTHONPATH=. python bench/bench_notices.py [--notices 100000] [--requests 400] [--quick]

A fresh embedded PostgreSQL in a temporary directory is migrated and filled with
``--notices`` notices (COPY; kinds, categories, regions and dates spread like a centre's
years of notices, titles in Chinese and English). A real ``sunlit serve`` runs on it in a
subprocess (no login: the list is public). For each query shape, ``--requests`` requests are
made one after another (after a warm-up) and timed end to end; the baseline, in the same
run, is the bare ``SELECT`` of the very same page (the statement the server runs,
``bidding.public_store.page_sql``) through asyncpg from the client process — no HTTP, no
JSON, no validation. Figure: ``ratio = baseline p95 / ours p95`` (target ≥ 0.5). A second
baseline puts the same ``SELECT`` behind the least an aiohttp server can do (a subprocess
on uvloop: no middleware, validation, audit, metrics or access log; rows as JSON):
``ratio_http`` is what Sunlit's own stack costs over serving the page at all.

Shapes: the first page; a filtered page (kind + category + region); a title search
(Chinese words, ~1 % of titles); the third page of that search (cursor).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    bare_process,
    drive,
    migrated_postgres,
    report,
    run_bare_app,
    sunlit_server,
)
from bidding import public_store as pstore
from bidding.public import NoticeKind

PAGE = 20
KINDS = [k.value for k in NoticeKind]
KIND_WEIGHTS = [30, 8, 12, 18, 10, 12, 6, 4]
CATEGORIES = ["works", "goods", "services"]
REGIONS = ["330500", "330502", "330503", "330521", "330522", "330523", "330100", "330200"]
PLACES = ["湖州市", "吴兴区", "南浔区", "德清县", "长兴县", "安吉县", "杭州市", "宁波市"]
WORKS = ["道路改造工程", "桥梁维修工程", "学校新建工程", "污水管网工程", "河道整治工程",
         "医院设备采购", "办公家具采购", "物业管理服务", "绿化养护服务", "信息系统运维"]
RARE = "环城北路"
"""About 1 % of the titles carry it: the search shape looks for it."""
QUIET = {"SUNLIT_LOG_LEVEL": "WARNING"}
"""The environment ``sunlit serve`` runs in here: warnings only in its log."""
ZH = {"tender": "招标公告", "amendment": "变更公告", "clarification": "澄清公告",
      "opening_record": "开标记录", "candidates": "中标候选人公示", "award_result": "中标结果公告",
      "failed": "流标公告", "re_tender": "重新招标公告"}


def rows(n: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    rnd = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    step = timedelta(days=730) / max(n, 1)
    for i in range(1, n + 1):
        kind = rnd.choices(KINDS, KIND_WEIGHTS)[0]
        r = rnd.randrange(len(REGIONS))
        work = RARE + "改造工程" if rnd.random() < 0.01 else rnd.choice(WORKS)
        code = f"HZ-{2024 + i * 2 // n}-{i:06d}"
        title_zh = f"{PLACES[r]}{work}{ZH[kind]}（{code}）"
        title_en = f"{kind.replace('_', ' ').capitalize()}: {code} project {i % 997}"
        yield (i, kind, None, rnd.choice(CATEGORIES), REGIONS[r], title_zh, title_en,
               json.dumps({"code": code}), start + step * i, None)


async def fill(dsn: str, n: int) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "public_notices",
            records=rows(n),
            columns=["seq", "kind", "tender_id", "category", "region", "title_zh", "title_en",
                     "data", "published_at", "published_by"],
        )
        await conn.execute("UPDATE public_notice_counter SET last_seq = $1", n)
        await conn.execute("ANALYZE public_notices")
        return time.perf_counter() - started
    finally:
        await conn.close()


def page_sql(q: Mapping[str, str]) -> tuple[str, list[Any], int | None]:
    """A bare server's page: the statement the API runs (``bidding.public_store.page_sql``) for
    the query's filters and cursor, unvalidated; with the cursor."""
    f = pstore.NoticeFilter(
        kind=NoticeKind(q["kind"]) if "kind" in q else None,
        category=q.get("category"),
        region=q.get("region"),
        q=q.get("q"),
    )
    cursor = int(q["cursor"]) if "cursor" in q else None
    sql, args = pstore.page_sql(f, cursor, PAGE + 1)
    return sql, args, cursor


async def shapes(session: aiohttp.ClientSession, url: str) -> list[tuple[str, dict[str, str]]]:
    """The query shapes, by name: their query parameters (the cursor of the search's third page
    as a client would reach it)."""
    async with session.get(url + f"/api/v1/public/notices?q={RARE}&limit={PAGE}") as r:
        p1 = await r.json()
    async with session.get(url + p1["next_url"]) as r:
        p2 = await r.json()
    return [
        ("first page", {}),
        ("kind+category+region", {"kind": "tender", "category": "works", "region": "330502"}),
        (f"search q={RARE}", {"q": RARE}),
        ("search, page 3", {"q": RARE, "cursor": str(p2["next"])}),
    ]


def bare_server(dsn: str, port: int) -> None:
    """The HTTP baseline: the same page's SELECT behind the least an aiohttp server can do —
    no middleware, validation, audit, metrics or access log; rows dumped as JSON."""
    from aiohttp import web

    async def page(request: web.Request) -> web.Response:
        sql, args, _ = page_sql(request.query)
        async with request.app["pool"].acquire() as conn:
            rows = await conn.fetch(sql, *args)
        return web.Response(text=json.dumps([dict(r) for r in rows[:PAGE]], default=str,
                                            ensure_ascii=False), content_type="application/json")

    async def pool_ctx(app: web.Application) -> Any:
        app["pool"] = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        yield
        await app["pool"].close()

    app = web.Application()
    app.router.add_get("/page", page)
    app.cleanup_ctx.append(pool_ctx)
    run_bare_app(app, port)


def serve_bare(dsn: str, timeout_s: float = 30) -> AbstractContextManager[str]:
    return bare_process(__file__, [dsn], "/page", timeout_s)


async def measure(
    url: str, bare_url: str, dsn: str, requests: int, explain: bool = False
) -> list[dict[str, Any]]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    assert pool is not None
    results = []
    async with aiohttp.ClientSession() as session:
        for name, params in await shapes(session, url):
            query = {**params, "limit": str(PAGE)}
            sql, args, _ = page_sql(params)

            async def ours(query: dict[str, str] = query) -> None:
                async with session.get(url + "/api/v1/public/notices", params=query) as r:
                    assert r.status == 200, await r.text()
                    await r.read()

            async def base(sql: str = sql, args: list[Any] = args) -> None:
                async with pool.acquire() as conn:
                    await conn.fetch(sql, *args)

            async def bare(params: dict[str, str] = params) -> None:
                async with session.get(bare_url + "/page", params=params) as r:
                    assert r.status == 200, await r.text()
                    await r.read()

            async with session.get(url + "/api/v1/public/notices", params=query) as r:
                got = len((await r.json())["items"])
            if explain:
                async with pool.acquire() as conn:
                    plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
                print("\n".join("    " + r[0] for r in plan))
            b = await drive(base, total=requests, warmup=20)
            h = await drive(bare, total=requests, warmup=20)
            o = await drive(ours, total=requests, warmup=20)
            figures = {
                "items": got,
                "ours_p50_ms": o.pct_ms(50),
                "ours_p95_ms": o.pct_ms(95),
                "select_p50_ms": b.pct_ms(50),
                "select_p95_ms": b.pct_ms(95),
                "ratio_p95": round(b.pct(95) / o.pct(95), 3),
                "target": 0.5,
                "bare_http_p50_ms": h.pct_ms(50),
                "bare_http_p95_ms": h.pct_ms(95),
                "ratio_http_p95": round(h.pct(95) / o.pct(95), 3),
            }
            report(f"notices: {name}", figures)
            results.append({"shape": name, **figures})
    await pool.close()
    return results


async def main_async(args: argparse.Namespace) -> int:
    async with migrated_postgres("sunlit-bench-notices-") as dsn:
        fill_s = await fill(dsn, args.notices)
        report("notices: fill", {"notices": args.notices, "copy_s": round(fill_s, 2)})
        with sunlit_server(demo=False, dsn=dsn, env=QUIET) as server, serve_bare(dsn) as bare_url:
            await measure(server.url, bare_url, dsn, args.requests, args.explain)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--bare-server"]:
        bare_server(argv[1], int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--explain", action="store_true", help="print each shape's query plan")
    parser.add_argument("--quick", action="store_true", help="10,000 notices, 60 requests per shape")
    args = parser.parse_args(argv)
    if args.quick:
        args.notices, args.requests = 10_000, 60
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
