"""Benchmark harness the later benchmarks reuse: start a real Sunlit server on a fresh
embedded PostgreSQL in a temporary directory, wait until it is healthy, log users in, drive it
with concurrent clients, and print figures (a table and one JSON line per figure).

Every figure is a ratio against a baseline run in the same command on the same machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from trading import migrate
from trading.db import EmbeddedPostgres, connect

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server process: SIGINT, then killed if it has not exited within 20 s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextmanager
def bare_process(script: str, args: list[str], probe_path: str, timeout_s: float = 30) -> Iterator[str]:
    """A baseline server in a process of its own: ``python script --bare-server *args PORT``,
    waited for until ``probe_path`` answers, stopped (SIGINT, then killed) on exit. Yields its
    base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, script, "--bare-server", *args, str(port)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(url + probe_path, timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the bare server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        stop(proc)


def run_bare_app(app: web.Application, port: int) -> None:
    """Serve a baseline's ``app`` on ``port`` on uvloop, as ``sunlit serve`` runs by default; no
    access log."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


@asynccontextmanager
async def migrated_postgres(prefix: str) -> AsyncIterator[str]:
    """A fresh embedded PostgreSQL in a temporary directory, migrated; yields its DSN, stops it
    on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "db")
        dsn = pg.start()
        try:
            conn = await connect(dsn)
            try:
                await migrate.migrate(conn)
            finally:
                await conn.close()
            yield dsn
        finally:
            pg.stop()


@dataclass
class Server:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def credentials(self) -> dict[str, str]:
        text = (self.data_dir / "demo-credentials.txt").read_text()
        return {line.split("\t")[0]: line.split("\t")[2] for line in text.splitlines() if line.strip()}


@contextmanager
def sunlit_server(
    *, demo: bool = True, env: dict[str, str] | None = None, timeout_s: float = 60, dsn: str | None = None
) -> Iterator[Server]:
    """Run ``sunlit serve`` in a subprocess on a fresh data directory: on its own embedded
    PostgreSQL, or on the database at ``dsn``."""
    with tempfile.TemporaryDirectory(prefix="sunlit-bench-") as tmp:
        port = free_port()
        data = Path(tmp) / "data"
        penv = {**os.environ, "SUNLIT_DATA": str(data), "SUNLIT_PORT": str(port), "SUNLIT_LOG_FORMAT": "text",
                "PYTHONPATH": str(ROOT), **(env or {})}
        penv.pop("DATABASE_URL", None)
        if dsn is not None:
            penv["DATABASE_URL"] = dsn
        args = [sys.executable, "-m", "web.cli", "serve"] + (["--demo"] if demo else [])
        log = open(Path(tmp) / "server.log", "wb")
        proc = subprocess.Popen(args, env=penv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("server exited:\n" + (Path(tmp) / "server.log").read_text()[-3000:])
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("server did not become healthy")
                time.sleep(0.2)
            yield Server(url, data, proc)
        finally:
            stop(proc)
            log.close()


async def login(session: aiohttp.ClientSession, url: str, username: str, password: str) -> dict[str, str]:
    async with session.post(url + "/api/v1/sessions", json={"username": username, "password": password}) as r:
        assert r.status == 201, await r.text()
        return {"Authorization": "Bearer " + (await r.json())["token"]}


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies_s: list[float]

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies_s)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")

    def pct_ms(self, p: float) -> float:
        """The ``p``th percentile in milliseconds, as the figures report it."""
        return round(self.pct(p) * 1000, 3)

    def summary(self) -> dict[str, float]:
        return {"per_s": round(self.per_s, 1), "p50_ms": self.pct_ms(50), "p99_ms": self.pct_ms(99),
                "mean_ms": round(statistics.fmean(self.latencies_s) * 1000, 3) if self.latencies_s else 0.0}


async def drive(
    one: Callable[[], Awaitable[Any]], *, total: int, concurrency: int = 1, warmup: int = 0, own_latency: bool = False
) -> LoadResult:
    """Call ``one`` ``warmup`` times untimed, then ``total`` times from ``concurrency`` workers;
    time each call — or, with ``own_latency``, take the seconds ``one`` returns as its latency
    (e.g. the time to a response's headers)."""
    for _ in range(warmup):
        await one()
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t = time.perf_counter()
            took = await one()
            latencies.append(took if own_latency else time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(len(latencies), time.perf_counter() - started, latencies)


def report(name: str, figures: dict[str, Any]) -> None:
    print(f"{name:<48} " + "  ".join(f"{k}={v}" for k, v in figures.items()))
    print("JSON " + json.dumps({"bench": name, **figures}))
