"""Issue 2 figures.

1. Audit appends per second with the hash chain (advisory lock, read head, hash, insert, one
   transaction each) against a plain INSERT of the same rows into an unchained copy of the
   table, same connection, same database.
2. Authenticated API reads per second (GET /api/v1/me through the whole Sunlit stack: request
   id, metrics, session lookup in PostgreSQL, role check) against a bare aiohttp handler that
   returns the same JSON, driven by the same client with the same concurrency.

    python bench/bench_core.py [--n 3000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import drive, free_port, login, report, sunlit_server
from crypto.signing import generate_signing_key
from trading import migrate
from trading.audit import AuditLog
from trading.clock import SystemClock
from trading.context import Actor, Role
from trading.db import EmbeddedPostgres, connect


async def bench_audit(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sunlit-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp))
        dsn = pg.start()
        try:
            conn = await connect(dsn)
            await migrate.migrate(conn)
            audit = AuditLog(generate_signing_key(), "srv-bench", checkpoint_every=100)
            clock = SystemClock()
            await audit.register_key(conn, clock.now())
            actor = Actor(1, "staff1", Role.STAFF, 1, "127.0.0.1", "bench")
            await conn.execute("CREATE TABLE plain_log (LIKE audit_log INCLUDING DEFAULTS)")

            t = asyncio.get_running_loop().time()
            for i in range(n):
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO plain_log (seq, at, actor_user_id, actor_name, actor_role, actor_org_id, action, "
                        "object_type, object_id, outcome, client_addr, request_id, payload_digest, detail, prev_hash, hash) "
                        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
                        i, clock.now(), 1, "staff1", "staff", 1, "tender.update", "tender", str(i), "ok", "127.0.0.1",
                        "bench", "ab" * 32, {"i": i}, "00" * 32, f"{i:064x}",
                    )
            plain_s = asyncio.get_running_loop().time() - t

            t = asyncio.get_running_loop().time()
            for i in range(n):
                async with conn.transaction():
                    await audit.append(conn, actor=actor, action="tender.update", object_type="tender", object_id=i,
                                       at=clock.now(), payload={"i": i}, detail={"i": i})
            chain_s = asyncio.get_running_loop().time() - t
            await conn.close()
        finally:
            pg.stop()
    report("audit append (chained) vs plain INSERT", {
        "appends_per_s": round(n / chain_s, 1), "plain_inserts_per_s": round(n / plain_s, 1),
        "ratio": round((n / chain_s) / (n / plain_s), 3), "n": n,
    })


async def bench_api(n: int, concurrency: int) -> None:
    # Baseline: a bare aiohttp handler returning the same JSON body, same client, same machine.
    body = {"id": 2, "username": "staff1", "full_name": "王敏 Wang Min", "role": "staff", "org_id": 1,
            "active": True, "created_at": "2026-11-23T05:00:00.000Z"}

    async def bare(_: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/api/v1/me", bare)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as s:
        async def get_bare() -> None:
            async with s.get(f"http://127.0.0.1:{port}/api/v1/me") as r:
                await r.read()

        await drive(get_bare, total=200, concurrency=concurrency)
        base = await drive(get_bare, total=n, concurrency=concurrency)
    await runner.cleanup()

    with sunlit_server() as server:
        creds = server.credentials()
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as s:
            headers = await login(s, server.url, "staff1", creds["staff1"])

            async def get_me() -> None:
                async with s.get(server.url + "/api/v1/me", headers=headers) as r:
                    assert r.status == 200
                    await r.read()

            await drive(get_me, total=200, concurrency=concurrency)
            real = await drive(get_me, total=n, concurrency=concurrency)
    report("authenticated read GET /api/v1/me vs bare aiohttp", {
        "sunlit_per_s": real.summary()["per_s"], "bare_per_s": base.summary()["per_s"],
        "ratio": round(real.per_s / base.per_s, 3),
        "sunlit_p50_ms": real.summary()["p50_ms"], "sunlit_p99_ms": real.summary()["p99_ms"],
        "bare_p50_ms": base.summary()["p50_ms"], "bare_p99_ms": base.summary()["p99_ms"],
        "n": n, "concurrency": concurrency,
    })


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=32)
    a = p.parse_args()
    await bench_audit(a.n)
    await bench_api(a.n, a.concurrency)


if __name__ == "__main__":
    asyncio.run(main())
