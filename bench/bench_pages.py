"""Benchmark: the public notices list PAGE (``GET /notices``, server-rendered HTML) with
100,000 notices — time to first byte, against a bare aiohttp handler rendering the same
template in the same run.

Run:  PYTHONPATH=. python bench/bench_pages.py [--notices 100000] [--requests 300] [--quick]

A fresh embedded PostgreSQL is migrated and filled as ``bench/bench_notices.py`` fills it
(COPY; kinds, categories, regions and dates spread like a centre's years of notices). A real
``sunlit serve`` runs on it in a subprocess. The baseline, in the same run, is a subprocess
with the least an aiohttp server can do to show the same page: no middleware, no session or
CSRF cookie, no API sub-request (the page's ``SELECT`` straight through asyncpg,
``bidding.public_store.page_sql``), the same Jinja2 environment (``web.pages.render``: the
catalogs, the filters) rendering the same ``notices.html``. Requests are made one after
another after a warm-up; TTFB is the time until the response's headers are in (the page is
rendered whole before it is sent, so the first byte is the page's cost).

Figures per query shape: ``ours_ttfb_p95_ms`` (target < 100 ms) and ``ratio_p95`` =
bare p95 / ours p95 — what the platform's stack (middleware, session lookup, the API's
validation and sub-request) costs over rendering the page at all.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_notices import PAGE, QUIET, fill, page_sql, shapes
from bench.harness import (
    LoadResult,
    bare_process,
    drive,
    migrated_postgres,
    report,
    run_bare_app,
    sunlit_server,
)
from bidding.public import NoticeKind

TARGET_P95_MS = 100.0


def bare_server(dsn: str, port: int) -> None:
    """The baseline: the same SELECT and the same template, nothing else."""
    from aiohttp import web

    from bidding.service.public import notice_summary
    from trading.clock import iso_ms
    from web.pages import render

    async def page(request: web.Request) -> web.StreamResponse:
        q = request.query
        sql, args, cursor = page_sql(q)
        async with request.app[POOL].acquire() as conn:
            rows = await conn.fetch(sql, *args)
        items = [{**notice_summary(r), "published_at": iso_ms(r["published_at"])} for r in rows[:PAGE]]
        filters = {k: q[k] for k in ("kind", "category", "region", "q") if k in q}
        p = render.PageCtx(request=request, lang="zh", user=None, csrf="bench", set_csrf=False)
        return p.render("notices.html", {
            "items": items, "filters": filters, "error": None, "paged": cursor is not None, "first_query": filters,
            "next_query": {**filters, "cursor": str(rows[PAGE - 1]["seq"])} if len(rows) > PAGE else None,
            "kinds": [k.value for k in NoticeKind], "categories": ["works", "goods", "services"],
        })

    POOL = web.AppKey("pool", asyncpg.Pool)

    async def pool_ctx(app: web.Application) -> Any:
        app[POOL] = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        yield
        await app[POOL].close()

    app = web.Application()
    render.setup_envs(app)
    app.router.add_get("/notices", page)
    app.router.add_static("/static", render.STATIC_DIR, append_version=True, name="static")
    app.cleanup_ctx.append(pool_ctx)
    run_bare_app(app, port)


def serve_bare(dsn: str, timeout_s: float = 30) -> AbstractContextManager[str]:
    return bare_process(__file__, [dsn], "/notices", timeout_s)


async def ttfb(session: aiohttp.ClientSession, url: str, params: dict[str, str], requests: int,
               warmup: int) -> LoadResult:
    """Time to the response's headers, one request after another; the body is read after."""
    async def one() -> float:
        started = time.perf_counter()
        async with session.get(url, params=params) as r:
            first = time.perf_counter() - started
            assert r.status == 200, await r.text()
            await r.read()
        return first

    return await drive(one, total=requests, warmup=warmup, own_latency=True)


async def measure(url: str, bare_url: str, requests: int) -> list[dict[str, Any]]:
    results = []
    async with aiohttp.ClientSession() as session:
        for name, params in await shapes(session, url):
            b = await ttfb(session, bare_url + "/notices", params, requests, warmup=20)
            o = await ttfb(session, url + "/notices", params, requests, warmup=20)
            figures = {
                "ours_ttfb_p50_ms": o.pct_ms(50),
                "ours_ttfb_p95_ms": o.pct_ms(95),
                "bare_ttfb_p50_ms": b.pct_ms(50),
                "bare_ttfb_p95_ms": b.pct_ms(95),
                "ratio_p95": round(b.pct(95) / o.pct(95), 3),
                "target_p95_ms": TARGET_P95_MS,
                "met": o.pct(95) * 1000 < TARGET_P95_MS,
            }
            report(f"pages: notices, {name}", figures)
            results.append({"shape": name, **figures})
    return results


async def main_async(args: argparse.Namespace) -> int:
    async with migrated_postgres("sunlit-bench-pages-") as dsn:
        fill_s = await fill(dsn, args.notices)
        report("pages: fill", {"notices": args.notices, "copy_s": round(fill_s, 2)})
        with sunlit_server(demo=False, dsn=dsn, env=QUIET) as server, serve_bare(dsn) as bare_url:
            results = await measure(server.url, bare_url, args.requests)
    return 0 if all(r["met"] for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--bare-server"]:
        bare_server(argv[1], int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="10,000 notices, 60 requests per shape")
    args = parser.parse_args(argv)
    if args.quick:
        args.notices, args.requests = 10_000, 60
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
