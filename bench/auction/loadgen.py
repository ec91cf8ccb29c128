"""The auction load generator: a separate process driving websocket clients (the
``websockets`` library) against a server, reading its plan as JSON on stdin and writing its
results as one JSON line on stdout (progress lines go to stderr).

Modes (``plan["mode"]``):

- ``throughput``: N bidders (each its own connection, closed loop: the next bid once the
  last is answered) on M lots, and K watchers; after a warm-up, counts the answers and times
  each one for ``duration_s``. Amounts rise with time (``start + µs since t0``), so most bids
  are accepted; an answer is an ack (durable) or a refusal. Against the echo server the same
  frames come back as they went.
- ``watchers``: W connections subscribe to one lot, say READY on stderr, and record the
  arrival time (wall clock, shared by every process on the machine) of each event frame until
  ``events`` of them have come or ``timeout_s`` passed.
- ``plate``: bidders connect, subscribe to their plate and wait for the session's start; each
  bids at the planned moments (most in the last stretch: the surge), the amount rising with
  time and, after a ``below_minimum``, the minimum the server named. HTTP bidders do the same
  through ``POST /auctions/lots/{id}/bids``. Every ack is returned for checking against the
  database log. Optional: ``resend_unavailable`` (N) sends a bid answered
  ``engine_unavailable`` again with the same bid id, N times at most (the protocol's advice;
  its time counts from the first send); ``answer_times`` returns each answer's lot and time.

Every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import resource
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import websockets

from web.cli import new_event_loop, settle_heap

CONNECT_CONCURRENCY = 200
MAX_ROUNDS = 10_000_000


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def frames_of(raw: str | bytes) -> list[dict[str, Any]]:
    data = json.loads(raw)
    return data if isinstance(data, list) else [data]


async def open_ws(url: str, token: str | None, gate: asyncio.Semaphore) -> Any:
    async with gate:
        for attempt in range(5):
            try:
                return await websockets.connect(
                    url + (f"?token={token}" if token else ""),
                    max_queue=None,
                    compression=None,
                    open_timeout=60,
                    ping_interval=None,
                    max_size=2**24,
                )
            except (OSError, websockets.InvalidHandshake, TimeoutError):
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


async def subscribe(ws: Any, lots: list[int], echo: bool) -> None:
    await ws.send(json.dumps({"op": "subscribe", "lots": lots}))
    if echo:
        await ws.recv()  # the echo of the subscribe frame
        return
    want = len(lots)
    for _ in range(1000):
        raw = await asyncio.wait_for(ws.recv(), 60)
        want -= sum(1 for f in frames_of(raw) if f["type"] in ("snapshot", "error"))
        if want <= 0:
            return


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(p / 100 * len(ys)))]


# -- throughput -------------------------------------------------------------------------------


async def throughput(plan: dict[str, Any]) -> dict[str, Any]:
    url, echo = plan["url"], plan.get("echo", False)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    bidders = plan["bidders"]  # [{"token", "lot_id"}]
    watchers = plan.get("watchers", [])  # [{"lot_id"}]
    conns = await asyncio.gather(*(open_ws(url, b.get("token"), gate) for b in bidders))
    wconns = await asyncio.gather(*(open_ws(url, None, gate) for _ in watchers))
    await asyncio.gather(
        *(subscribe(c, [b["lot_id"]], echo) for c, b in zip(conns, bidders, strict=True))
    )
    await asyncio.gather(
        *(subscribe(c, [w["lot_id"]], echo) for c, w in zip(wconns, watchers, strict=True))
    )
    log(f"throughput: {len(conns)} bidders, {len(wconns)} watchers connected")
    settle_heap()  # the server's settings: keep the collector's pauses out of the timings
    t0 = time.perf_counter()
    warm_until = t0 + plan["warmup_s"]
    stop_at = warm_until + plan["duration_s"]
    latencies: list[float] = []
    ack_latencies: list[float] = []
    counts = {"answered": 0, "acked": 0, "refused": 0}
    refusals: dict[str, int] = {}
    watched = [0]
    total = [0]  # answers of the whole run, warm-up included
    start_fen = plan.get("start_fen", 10_000)
    epoch_s = plan.get("epoch_s", time.time())  # amounts rise on the wall clock, across runs
    prefix = plan.get("prefix", "")

    async def watch(ws: Any) -> None:
        try:
            async for raw in ws:
                watched[0] += raw.count('"type":"event"') if isinstance(raw, str) else 0
        except websockets.ConnectionClosed:
            return

    async def bid_loop(i: int, ws: Any, lot_id: int) -> None:
        for n in range(MAX_ROUNDS):
            now = time.perf_counter()
            if now >= stop_at:
                return
            bid_id = f"{prefix}{i}-{n}"
            amount = start_fen + int((time.time() - epoch_s) * 1_000_000)
            sent = time.perf_counter()
            await ws.send(
                json.dumps({"op": "bid", "lot_id": lot_id, "bid_id": bid_id, "amount_fen": amount})
            )
            answer = None
            while answer is None:
                raw = await asyncio.wait_for(ws.recv(), 30)
                if bid_id not in raw:
                    continue
                for f in frames_of(raw):
                    if f.get("bid_id") == bid_id:
                        answer = f
            took = time.perf_counter() - sent
            total[0] += 1
            if sent >= warm_until:
                counts["answered"] += 1
                latencies.append(took)
                kind = answer.get("type", "echo") if not echo else "ack"
                if kind == "ack":
                    counts["acked"] += 1
                    ack_latencies.append(took)
                else:
                    counts["refused"] += 1
                    refusals[answer.get("code", "?")] = refusals.get(answer.get("code", "?"), 0) + 1

    watch_tasks = [asyncio.create_task(watch(w)) for w in wconns]

    async def cpu_window() -> list[float]:
        await asyncio.sleep(max(0.0, warm_until - time.perf_counter()))
        before = cpu_s()
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        return [before, cpu_s()]

    window = asyncio.create_task(cpu_window())
    await asyncio.gather(
        *(bid_loop(i, c, b["lot_id"]) for i, (c, b) in enumerate(zip(conns, bidders, strict=True)))
    )
    if not conns:  # a watchers-only generator watches until the window's end
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
    for t in watch_tasks:
        t.cancel()
    await asyncio.gather(*(c.close() for c in conns + wconns), return_exceptions=True)
    seconds = plan["duration_s"]
    cpu_before, cpu_after = await window
    return {
        "generator_cpu_pct": round((cpu_after - cpu_before) / seconds * 100, 1),
        "answered_per_s": round(counts["answered"] / seconds, 1),
        "answered_total": total[0],
        "acked_per_s": round(counts["acked"] / seconds, 1),
        "p50_ms": round(pct(latencies, 50) * 1000, 3),
        "p99_ms": round(pct(latencies, 99) * 1000, 3),
        "ack_p50_ms": round(pct(ack_latencies, 50) * 1000, 3),
        "ack_p99_ms": round(pct(ack_latencies, 99) * 1000, 3),
        **counts,
        "refusals": refusals,
        "watcher_events": watched[0],
    }


# -- watchers (fan-out) -------------------------------------------------------------------------


async def watchers(plan: dict[str, Any]) -> dict[str, Any]:
    url, lot_id, count = plan["url"], plan["lot_id"], plan["count"]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    conns = []
    for start in range(0, count, 1000):  # connect in slices, subscribing as we go
        batch = await asyncio.gather(
            *(open_ws(url, None, gate) for _ in range(start, min(count, start + 1000)))
        )
        await asyncio.gather(*(subscribe(c, [lot_id], False) for c in batch))
        conns.extend(batch)
    arrivals: dict[int, list[float]] = {}
    done = asyncio.Event()
    expected = plan["events"]

    async def listen(ws: Any) -> None:
        got = 0
        try:
            while got < expected:
                raw = await ws.recv()
                at = time.time()
                for f in frames_of(raw):
                    if f["type"] == "event" and f["event"]["type"] == "bid_accepted":
                        arrivals.setdefault(f["seq"], []).append(at)
                        got += 1
        except websockets.ConnectionClosed:
            return

    tasks = [asyncio.create_task(listen(c)) for c in conns]
    log("READY", len(conns))
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), plan["timeout_s"])
    except TimeoutError:
        log("watchers: timed out")
    done.set()
    await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    return {"connected": len(conns), "arrivals": {str(k): v for k, v in arrivals.items()}}


# -- the plate session ------------------------------------------------------------------------------


async def plate(plan: dict[str, Any]) -> dict[str, Any]:
    url, base = plan["url"], plan["base"]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    ws_bidders = plan["ws_bidders"]  # [{"token", "lot_id", "times": [offset_s…]}]
    http_bidders = plan.get("http_bidders", [])
    rng = random.Random(plan.get("seed", 7))
    started = time.perf_counter()
    conns: list[Any] = []
    for start in range(0, len(ws_bidders), 1000):
        part = ws_bidders[start : start + 1000]
        batch = await asyncio.gather(*(open_ws(url, b["token"], gate) for b in part))
        await asyncio.gather(
            *(subscribe(c, [b["lot_id"]], False) for c, b in zip(batch, part, strict=True))
        )
        conns.extend(batch)
        log(f"plate: {len(conns)} websocket bidders connected")
    connect_s = time.perf_counter() - started
    log("READY", len(conns))
    t_start = float(sys.stdin.readline())  # the session's start, wall clock, from the orchestrator
    acks: list[list[Any]] = []
    latencies: list[float] = []
    refusals: dict[str, int] = {}
    per_second: dict[int, int] = {}
    errors = [0]
    fen0, inc = plan["start_fen"], plan["increment_fen"]
    resends_max = int(plan.get("resend_unavailable", 0))
    resent = [0]
    answer_times: list[list[float]] | None = [] if plan.get("answer_times") else None

    def amount_at(now: float) -> int:
        # rises with time (one increment per 10 ms), plus a little of the bidder's own
        return fen0 + inc * (int((now - t_start) * 100) + rng.randrange(0, 3))

    def record(lot_id: int, answer: dict[str, Any], took: float) -> int | None:
        latencies.append(took)
        if answer_times is not None:
            answer_times.append([lot_id, round(took * 1000, 2)])
        if answer.get("type") == "ack":
            acks.append([lot_id, answer["seq"], answer["amount_fen"], answer["bid_id"]])
            sec = int(time.time() - t_start)
            per_second[sec] = per_second.get(sec, 0) + 1
            return None
        code = answer.get("code", "?")
        refusals[code] = refusals.get(code, 0) + 1
        minimum = (answer.get("details") or {}).get("minimum_fen") or answer.get("minimum_fen")
        return int(minimum) if code == "below_minimum" and minimum else None

    async def ws_bidder(i: int, ws: Any, b: dict[str, Any]) -> None:
        try:
            for n, offset in enumerate(b["times"]):
                delay = t_start + offset - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                amount = amount_at(time.time())
                for attempt in range(3):
                    bid_id = f"w{i}-{n}-{attempt}"
                    sent = time.perf_counter()
                    for resend in range(resends_max + 1):  # the same bid id again
                        await ws.send(
                            json.dumps(
                                {
                                    "op": "bid",
                                    "lot_id": b["lot_id"],
                                    "bid_id": bid_id,
                                    "amount_fen": amount,
                                }
                            )
                        )
                        answer = None
                        while answer is None:
                            raw = await asyncio.wait_for(ws.recv(), 120)
                            if bid_id in raw:
                                answer = next(f for f in frames_of(raw) if f.get("bid_id") == bid_id)
                        if answer.get("code") != "engine_unavailable" or resend == resends_max:
                            break
                        resent[0] += 1
                    retry = record(b["lot_id"], answer, time.perf_counter() - sent)
                    if retry is None:
                        break
                    amount = retry + inc * rng.randrange(0, 2)
        except (websockets.ConnectionClosed, TimeoutError, OSError):
            errors[0] += 1

    async def http_bidders_run() -> None:
        if not http_bidders:
            return
        import aiohttp

        connector = aiohttp.TCPConnector(limit=plan.get("http_connections", 64))
        async with aiohttp.ClientSession(connector=connector) as http:

            async def one(i: int, b: dict[str, Any]) -> None:
                headers = {"Authorization": f"Bearer {b['token']}"}
                for n, offset in enumerate(b["times"]):
                    delay = t_start + offset - time.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    amount = amount_at(time.time())
                    for attempt in range(3):
                        body = {"bid_id": f"h{i}-{n}-{attempt}", "amount_fen": amount}
                        sent = time.perf_counter()
                        try:
                            async with http.post(
                                f"{base}/api/v1/auctions/lots/{b['lot_id']}/bids",
                                json=body,
                                headers=headers,
                            ) as r:
                                answer = await r.json()
                        except (aiohttp.ClientError, TimeoutError):
                            errors[0] += 1
                            break
                        if r.status == 201:
                            answer["type"] = "ack"
                        retry = record(b["lot_id"], answer, time.perf_counter() - sent)
                        if retry is None:
                            break
                        amount = retry + inc * rng.randrange(0, 2)

            await asyncio.gather(*(one(i, b) for i, b in enumerate(http_bidders)))

    await asyncio.gather(
        *(ws_bidder(i, c, b) for i, (c, b) in enumerate(zip(conns, ws_bidders, strict=True))),
        http_bidders_run(),
    )
    await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    return {
        "connected": len(conns),
        "connect_s": round(connect_s, 1),
        "acks": acks,
        "refusals": refusals,
        "errors": errors[0],
        "answered": len(latencies),
        "p50_ms": round(pct(latencies, 50) * 1000, 2),
        "p99_ms": round(pct(latencies, 99) * 1000, 2),
        "max_ms": round(max(latencies, default=0) * 1000, 2),
        "acks_per_second": per_second,
        "resent_unavailable": resent[0],
        **({"answer_times": answer_times} if answer_times is not None else {}),
    }


# -- lean watchers (fan-out, ``plan["client"] == "raw"``) --------------------------------------------


class RawWatcher(asyncio.Protocol):
    """A websocket watcher without a websocket library: the upgrade request, then the server's
    frames (unmasked, never fragmented by Sunlit) read straight from ``data_received`` — each
    text message decoded with orjson and every ``bid_accepted`` event's arrival recorded.
    A ping is answered (the server's heartbeat). It costs the generator a few µs a message
    where ``websockets`` costs tens: with 5,000 sockets in one process that cost, not the
    server's, is what the fan-out's last arrival would show on a two-core machine."""

    def __init__(self, path: str, host: str, lot_id: int, expected: int, arrivals: dict[int, list[float]]) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.lot_id, self.expected, self.arrivals = lot_id, expected, arrivals
        self.buffer = b""
        self.upgraded = False
        self.got = 0
        self.subscribed = asyncio.get_running_loop().create_future()
        self.finished = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # (uvloop's is no asyncio.Transport)
        transport.write(self.request)

    def send(self, opcode: int, payload: bytes) -> None:
        """A client frame (RFC 6455 §5.3: masked)."""
        assert self.transport is not None and len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    def data_received(self, data: bytes) -> None:
        at = time.time()
        buf = self.buffer + data
        if not self.upgraded:
            head, sep, buf = buf.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = head
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self._done(RuntimeError(head[:80].decode(errors="replace")))
                return
            self.upgraded = True
            self.send(0x1, orjson.dumps({"op": "subscribe", "lots": [self.lot_id]}))
        while len(buf) >= 2:
            size, start = buf[1] & 0x7F, 2
            if size == 126:
                if len(buf) < 4:
                    break
                size, start = int.from_bytes(buf[2:4], "big"), 4
            elif size == 127:
                if len(buf) < 10:
                    break
                size, start = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < start + size:
                break
            opcode, payload, buf = buf[0] & 0x0F, buf[start : start + size], buf[start + size :]
            if opcode == 0x1:
                self._message(payload, at)
            elif opcode == 0x9:
                self.send(0xA, payload)
            elif opcode == 0x8:
                self._done(None)
        self.buffer = buf

    def _message(self, payload: bytes, at: float) -> None:
        data = orjson.loads(payload)
        for f in data if isinstance(data, list) else (data,):
            kind = f.get("type")
            if kind == "snapshot" and not self.subscribed.done():
                self.subscribed.set_result(None)
            elif kind == "event" and f["event"]["type"] == "bid_accepted":
                self.arrivals.setdefault(f["seq"], []).append(at)
                self.got += 1
                if self.got >= self.expected:
                    self._done(None)

    def _done(self, exc: BaseException | None) -> None:
        for fut in (self.subscribed, self.finished):
            if fut.done():
                continue
            if exc is None:
                fut.set_result(None)
            else:
                fut.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._done(exc or ConnectionError("closed"))


async def raw_watchers(plan: dict[str, Any]) -> dict[str, Any]:
    url = urlsplit(plan["url"])
    host, port = url.hostname or "127.0.0.1", url.port or 80
    loop = asyncio.get_running_loop()
    arrivals: dict[int, list[float]] = {}
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> RawWatcher:
        async with gate:
            _, watcher = await loop.create_connection(
                lambda: RawWatcher(url.path, f"{host}:{port}", plan["lot_id"], plan["events"], arrivals),
                host,
                port,
            )
            await asyncio.wait_for(watcher.subscribed, 60)
            return watcher

    conns = await asyncio.gather(*(one() for _ in range(plan["count"])))
    log("READY", len(conns))
    try:
        await asyncio.wait_for(
            asyncio.gather(*(w.finished for w in conns), return_exceptions=True), plan["timeout_s"]
        )
    except TimeoutError:
        log("watchers: timed out")
    for w in conns:
        if w.transport is not None:
            w.transport.close()
    return {"connected": len(conns), "arrivals": {str(k): v for k, v in arrivals.items()}}


MODES = {"throughput": throughput, "watchers": watchers, "plate": plate}


def main() -> None:
    raise_fd_limit()
    plan = json.loads(sys.stdin.readline())
    if plan["mode"] == "watchers" and plan.get("client") == "raw":  # lean, on the server's loop
        loop = new_event_loop("uvloop")
        try:
            result = loop.run_until_complete(raw_watchers(plan))
        finally:
            loop.close()
    else:
        result = asyncio.run(MODES[plan["mode"]](plan))
    os.set_blocking(sys.stdout.fileno(), True)  # (uvloop leaves the inherited pipe non-blocking)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
