"""Issue 14 item 8: a flood of refused requests neither fills the audit log nor slows the server.

One server (``sunlit serve --demo``), one well-behaved client (a logged-in user reading
``GET /api/v1/me`` one request at a time), in the same run:

1. the well-behaved client alone: its p50 and p99;
2. the same client while a flood of refused requests (no token: 401, then 429 once the
   flood's address is over its limit) comes from another process on another loopback address
   (127.0.0.2), ``--concurrency`` at a time: its p50 and p99 again;
3. the audit entries the flood added, counted once its minute's summary is written.

Targets: fewer than 200 audit entries for 10,000 refused requests; the well-behaved client's
p99 during the flood within 2 × its p99 without it.

    PYTHONPATH=. python bench/bench_abuse.py [--flood 10000] [--requests 2000] [--concurrency 256] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import LoadResult, drive, login, report, sunlit_server

FLOOD_ADDRESS = "127.0.0.2"
"""The flood's source address: a different client from the well-behaved one (127.0.0.1)."""


async def flood(url: str, total: int, concurrency: int) -> dict[str, object]:
    """``total`` refused requests, ``concurrency`` at a time, from ``FLOOD_ADDRESS``."""
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(local_addr=(FLOOD_ADDRESS, 0), limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        print("go", flush=True)  # the parent measures from here

        async def one() -> None:
            async with session.get(url + "/api/v1/audit") as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1

        result = await drive(one, total=total, concurrency=concurrency)
    return {"statuses": statuses, **result.summary()}


async def audit_entries(session: aiohttp.ClientSession, url: str, sup: dict[str, str]) -> int:
    async with session.get(url + "/api/v1/audit/verify", headers=sup) as r:
        assert r.status == 200, await r.text()
        return int((await r.json())["entries"])


async def well_behaved(session: aiohttp.ClientSession, url: str, headers: dict[str, str], n: int) -> LoadResult:
    async def one() -> None:
        async with session.get(url + "/api/v1/me", headers=headers) as r:
            assert r.status == 200, await r.text()
            await r.read()

    return await drive(one, total=n, concurrency=1)


async def while_running(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], proc: asyncio.subprocess.Process
) -> LoadResult:
    """The well-behaved client, one request at a time, for as long as the flood lasts."""
    latencies: list[float] = []
    started = time.perf_counter()
    while proc.returncode is None:
        t = time.perf_counter()
        async with session.get(url + "/api/v1/me", headers=headers) as r:
            assert r.status == 200, await r.text()
            await r.read()
        latencies.append(time.perf_counter() - t)
        if len(latencies) % 50 == 0:
            await asyncio.sleep(0)  # let the subprocess watcher see the flood end
    return LoadResult(len(latencies), time.perf_counter() - started, latencies)


async def main_async(args: argparse.Namespace) -> int:
    with sunlit_server() as server:
        creds = server.credentials()
        sup_name = next(u for u in creds if u.startswith("supervisor"))
        async with aiohttp.ClientSession() as session:
            headers = await login(session, server.url, "staff1" if "staff1" in creds else next(iter(creds)),
                                  creds.get("staff1") or next(iter(creds.values())))  # fmt: skip
            sup = await login(session, server.url, sup_name, creds[sup_name])
            await well_behaved(session, server.url, headers, min(200, args.requests))  # warm up
            alone = await well_behaved(session, server.url, headers, args.requests)
            before = await audit_entries(session, server.url, sup)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--flood-only", server.url, str(args.flood), str(args.concurrency),
                stdout=subprocess.PIPE,
            )
            assert proc.stdout is not None
            assert (await proc.stdout.readline()).strip() == b"go"
            during = await while_running(session, server.url, headers, proc)
            out, _ = await proc.communicate()
            flooded = json.loads(out.decode().strip().splitlines()[-1])
            # the minute's summary is written once the minute is over (and a second more)
            now = datetime.now(UTC)
            await asyncio.sleep(61 - now.second - now.microsecond / 1e6 + 1.5)
            after = await audit_entries(session, server.url, sup)
    added = after - before
    ratio = during.pct(99) / alone.pct(99)
    report("well-behaved client alone", alone.summary())
    report("well-behaved client during the flood", during.summary())
    report("flood of refused requests", {"requests": args.flood, "concurrency": args.concurrency, **flooded})
    ok = added < 200 and ratio <= 2.0
    report("abuse targets", {"audit_entries_added": added, "target_entries": "< 200",
                             "p99_ratio": round(ratio, 2), "target_ratio": "<= 2.0", "met": ok})  # fmt: skip
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--flood-only":
        url, total, concurrency = argv[1], int(argv[2]), int(argv[3])
        started = time.perf_counter()
        result = asyncio.run(flood(url, total, concurrency))
        print(json.dumps({**result, "seconds": round(time.perf_counter() - started, 2)}))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=10_000, help="refused requests in the flood")
    parser.add_argument("--requests", type=int, default=2000, help="the well-behaved client's requests per phase")
    parser.add_argument("--concurrency", type=int, default=256, help="the flood's requests in flight")
    parser.add_argument("--quick", action="store_true", help="2,000 refused requests, 300 per phase")
    args = parser.parse_args(argv)
    if args.quick:
        args.flood, args.requests = 2000, 300
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
