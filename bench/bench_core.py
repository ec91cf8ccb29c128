"""Issue 2 figures (issue 17: the targets 0.8 and 0.6).

1. Audit appends per second with the hash chain (one transaction each: lock, link check,
   hash, insert — ``trading.audit.log``) against a plain INSERT of the same rows into an
   unchained copy of the table (no index, no lock), same connection, same database. The two
   alternate transaction by transaction, so a machine busy with other work slows both alike.
   Also a batch: ten entries per transaction (``append_many``: hashed in one pass) against a
   plain ``executemany`` of ten rows. Both with ``synchronous_commit`` on (the default) and
   off (a commit then waits for no fsync, which on a busy disk hides what the chain costs).
2. Authenticated API reads per second (GET /api/v1/me through the whole Sunlit stack: request
   id, metrics, session lookup (cached), role check) against a bare aiohttp handler that
   returns the same JSON, driven by the same client with the same concurrency, in alternating
   rounds. Two baselines: the handler in this process (issue 2's: it shares the client's
   core, so on a quiet machine Sunlit, in its own process, can match it) and in a process of
   its own on uvloop like ``sunlit serve`` (``ratio_bare_process``, the stricter one).

    python bench/bench_core.py [--n 3000] [--concurrency 32] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import LoadResult, drive, free_port, login, report, run_bare_app, sunlit_server
from bench.harness import bare_process as harness_bare_process
from crypto.signing import generate_signing_key
from trading import migrate
from trading.audit import AuditLog
from trading.clock import SystemClock
from trading.context import Actor, Role
from trading.db import EmbeddedPostgres, connect

PLAIN_INSERT = (
    "INSERT INTO plain_log (seq, at, actor_user_id, actor_name, actor_role, actor_org_id, action, object_type, "
    "object_id, outcome, client_addr, request_id, payload_digest, detail, prev_hash, hash) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"
)
BATCH = 10


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

            def plain_row(i: int) -> tuple[object, ...]:
                return (i, clock.now(), 1, "staff1", "staff", 1, "tender.update", "tender", str(i), "ok", "127.0.0.1",
                        "bench", "ab" * 32, {"i": i}, "00" * 32, f"{i:064x}")

            async def plain(i: int) -> None:
                async with conn.transaction():
                    await conn.execute(PLAIN_INSERT, *plain_row(i))

            async def chained(i: int) -> None:
                async with conn.transaction():
                    await audit.append(conn, actor=actor, action="tender.update", object_type="tender", object_id=i,
                                       at=clock.now(), payload={"i": i}, detail={"i": i})

            async def plain_batch(i: int) -> None:
                async with conn.transaction():
                    await conn.executemany(PLAIN_INSERT, [plain_row(i * BATCH + k) for k in range(BATCH)])

            async def chained_batch(i: int) -> None:
                async with conn.transaction():
                    await audit.append_many(conn, [
                        audit.draft(actor=actor, action="tender.update", object_type="tender", object_id=i * BATCH + k,
                                    at=clock.now(), payload={"i": k}, detail={"i": k}) for k in range(BATCH)])

            figures = []
            for sync in ("on", "off"):
                # off: a commit does not wait for the disk, so what the chain costs is not hidden
                # behind the fsync both sides pay (on a busy disk, most of the time)
                await conn.execute(f"SET synchronous_commit = {sync}")
                start = len(figures) * 2 * n
                spent = await alternate({"plain": plain, "chained": chained}, n, start=start)
                spent_batch = await alternate({"plain": plain_batch, "chained": chained_batch}, n // BATCH,
                                              start=(start + n) // BATCH)
                figures.append((sync, spent, spent_batch))
            raced = audit.raced
            await conn.close()
        finally:
            pg.stop()
    base = n // BATCH
    for sync, spent, spent_batch in figures:
        report(f"audit append vs plain INSERT (synchronous_commit {sync})", {
            "appends_per_s": round(n / spent["chained"], 1), "plain_inserts_per_s": round(n / spent["plain"], 1),
            "ratio": round(spent["plain"] / spent["chained"], 3), "n": n, "raced": raced,
        })
        report(f"audit append_many ({BATCH}/tx) vs executemany (sync {sync})", {
            "entries_per_s": round(base * BATCH / spent_batch["chained"], 1),
            "plain_rows_per_s": round(base * BATCH / spent_batch["plain"], 1),
            "ratio": round(spent_batch["plain"] / spent_batch["chained"], 3), "n": base * BATCH,
        })


async def alternate(steps: dict[str, Callable[[int], Awaitable[None]]], n: int, start: int = 0) -> dict[str, float]:
    """Run each step ``n`` times, taking turns (i: the first, then the second…); seconds each."""
    spent = dict.fromkeys(steps, 0.0)
    clock = time.perf_counter
    for i in range(start, start + n):
        for name, step in steps.items():
            t = clock()
            await step(i)
            spent[name] += clock() - t
    return spent


ME_BODY = {"id": 2, "username": "staff1", "full_name": "王敏 Wang Min", "role": "staff", "org_id": 1,
           "active": True, "created_at": "2026-11-23T05:00:00.000Z"}


async def bare(_: web.Request) -> web.Response:
    return web.json_response(ME_BODY)


def run_bare_server(port: int) -> None:
    """The bare handler in a process of its own on uvloop, as ``sunlit serve`` runs."""
    app = web.Application()
    app.router.add_get("/api/v1/me", bare)
    run_bare_app(app, port)


def bare_process(timeout_s: float = 30) -> AbstractContextManager[str]:
    return harness_bare_process(__file__, [], "/api/v1/me", timeout_s)

async def bench_api(n: int, concurrency: int, rounds: int) -> None:
    # Baselines: a bare aiohttp handler returning the same JSON body, same client, same
    # machine — in this process (issue 2's baseline: it shares the client's core) and in a
    # process of its own on uvloop like the server (the stricter one).

    app = web.Application()
    app.router.add_get("/api/v1/me", bare)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        with sunlit_server() as server, bare_process() as bare_url:
            creds = server.credentials()
            connector = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(connector=connector) as s:
                headers = await login(s, server.url, "staff1", creds["staff1"])

                def getter(url: str, headers: dict[str, str] | None = None) -> Callable[[], Awaitable[None]]:
                    async def get() -> None:
                        async with s.get(url, headers=headers) as r:
                            assert r.status == 200
                            await r.read()
                    return get

                gets = {"bare": getter(f"http://127.0.0.1:{port}/api/v1/me"),
                        "bare_process": getter(bare_url + "/api/v1/me"),
                        "sunlit": getter(server.url + "/api/v1/me", headers)}
                for get in gets.values():
                    await drive(get, total=200, concurrency=concurrency)
                # Rounds taken in turn: a machine busy with other work slows each alike.
                runs: dict[str, list[LoadResult]] = {name: [] for name in gets}
                for _ in range(rounds):
                    for name, get in gets.items():
                        runs[name].append(await drive(get, total=n // rounds, concurrency=concurrency))
    finally:
        await runner.cleanup()
    base, proc, real = (merge(runs["bare"]), merge(runs["bare_process"]), merge(runs["sunlit"]))
    report("authenticated read GET /api/v1/me vs bare aiohttp", {
        "sunlit_per_s": real.summary()["per_s"], "bare_per_s": base.summary()["per_s"],
        "ratio": round(real.per_s / base.per_s, 3),
        "bare_process_per_s": proc.summary()["per_s"], "ratio_bare_process": round(real.per_s / proc.per_s, 3),
        "sunlit_p50_ms": real.summary()["p50_ms"], "sunlit_p99_ms": real.summary()["p99_ms"],
        "bare_p50_ms": base.summary()["p50_ms"], "bare_p99_ms": base.summary()["p99_ms"],
        "n": n, "concurrency": concurrency, "rounds": rounds,
    })


def merge(results: list[LoadResult]) -> LoadResult:
    return LoadResult(sum(r.requests for r in results), sum(r.seconds for r in results),
                      [x for r in results for x in r.latencies_s])


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--rounds", type=int, default=6, help="API: alternating rounds of n/rounds requests each")
    a = p.parse_args()
    await bench_audit(a.n)
    await bench_api(a.n, a.concurrency, a.rounds)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--bare-server"]:
        run_bare_server(int(sys.argv[2]))
    else:
        asyncio.run(main())
