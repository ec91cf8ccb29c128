"""Several ``sunlit serve`` processes over one PostgreSQL: two, then three servers (real
subprocesses, each with its own data directory and port, ``DATABASE_URL`` pointing at the
test's database); watchers and bidders on every process; the owner of the lot killed with
SIGKILL in the middle of the bidding; another process takes the lot over; the killed one,
restarted, joins as a peer.

Source: issue 15 items 3-4 (several processes, one database; failover), its "Tests and
figures": watchers on each process see identical sequences; ``kill -9`` of the owner →
takeover < 5 s, every acknowledged bid present, the sequence gapless. DESIGN "Past one
machine". The takeover time is measured and printed, not asserted (tests assert no timing):
the test waits for the takeover, bounded generously for a loaded machine — the requirement
is 5 s, the figure is in docs/benchmarks-auction.md.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets

from tests.integration.test_auction_kill import INC, START, free_port, login, seed, server

TAKEOVER_WAIT_S = 60.0  # a bound on the wait for the event, not the 5 s requirement
"""The requirement is 5 s; a loaded test machine (2 cores shared) gets a margin."""


@asynccontextmanager
async def running(dsn: str, data_dir: Path, port: int, log: Path) -> AsyncIterator[Any]:
    """``test_auction_kill.server`` without blocking the event loop (watchers stay served)."""
    cm = server(dsn, data_dir, port, log)
    proc = await asyncio.to_thread(cm.__enter__)
    try:
        yield proc
    finally:
        await asyncio.to_thread(cm.__exit__, None, None, None)


def frames(raw: str | bytes) -> list[dict[str, Any]]:
    data = json.loads(raw)
    return data if isinstance(data, list) else [data]


class Watcher:
    """A watcher of one lot: the snapshot's seq, then every event frame's seq, in order.
    When its server dies it reconnects elsewhere with ``after_seq`` = the last seq seen."""

    def __init__(self, name: str, lot_id: int) -> None:
        self.name = name
        self.lot_id = lot_id
        self.start_seq: int | None = None
        self.seqs: list[int] = []
        self.resumed: list[dict[str, Any]] = []

    @property
    def last(self) -> int | None:
        return self.seqs[-1] if self.seqs else self.start_seq

    async def watch(self, url: str, stop: asyncio.Event, *, resume: bool = False) -> None:
        lot: Any = self.lot_id
        if resume and self.last is not None:
            lot = {"lot_id": self.lot_id, "after_seq": self.last}
        try:
            async with websockets.connect(url) as ws:
                await ws.send(json.dumps({"op": "subscribe", "lots": [lot]}))
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    for f in frames(raw):
                        if f["type"] == "snapshot":
                            assert self.start_seq is None or not self.seqs, "a second snapshot"
                            self.start_seq = f["seq"]
                        elif f["type"] == "resumed":
                            self.resumed.append(f)
                        elif f["type"] == "event":
                            self.seqs.append(f["seq"])
        except (websockets.ConnectionClosed, OSError):
            return  # its server was killed


class Bidder:
    """Bids the next minimum it knows of; an ``engine_unavailable`` answer is sent again
    with the same bid id (the protocol's promise: never lost, never doubled)."""

    def __init__(self, name: str, token: str, lot_id: int) -> None:
        self.name = name
        self.token = token
        self.lot_id = lot_id
        self.paddle: str | None = None
        self.highest = 0
        self.acked: dict[str, dict[str, Any]] = {}
        self.sent: dict[str, int] = {}
        self.retried = 0
        self.waiting: str | None = None
        self.acks_after_kill = 0
        self.killed = False
        self.leading = False
        """It holds the highest bid: it bids again once someone outbids it."""

    async def bid(self, ws: Any, bid_id: str, amount: int) -> None:
        self.sent[bid_id] = amount
        self.waiting = bid_id
        frame = {"op": "bid", "lot_id": self.lot_id, "bid_id": bid_id, "amount_fen": amount}
        await ws.send(json.dumps(frame))

    async def fight(self, url: str, stop: asyncio.Event, acks: asyncio.Queue[str]) -> None:
        n = 0
        try:
            async with websockets.connect(f"{url}?token={self.token}") as ws:
                await ws.send(json.dumps({"op": "subscribe", "lots": [self.lot_id]}))
                quiet_s = 0.0
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        quiet_s += 0.5
                        if self.waiting is not None and quiet_s >= 5:  # no answer: ask again
                            quiet_s = 0.0
                            self.retried += 1
                            await self.bid(ws, self.waiting, self.sent[self.waiting])
                        continue
                    quiet_s = 0.0
                    for f in frames(raw):
                        if f["type"] == "snapshot":
                            self.paddle = f["paddle"]
                            self.highest = f["lot"]["highest_fen"] or 0
                        elif f["type"] == "event" and f["event"]["type"] == "bid_accepted":
                            self.highest = max(self.highest, f["event"]["amount_fen"])
                            self.leading = f["event"]["paddle"] == self.paddle
                        elif f["type"] == "ack" and f.get("bid_id") == self.waiting:
                            self.acked[f["bid_id"]] = f
                            self.waiting = None
                            self.acks_after_kill += self.killed
                            acks.put_nowait(self.name)
                        elif f["type"] == "error" and f.get("bid_id") == self.waiting:
                            if f["code"] == "engine_unavailable":  # same bid id, again
                                self.retried += 1
                                await self.bid(ws, f["bid_id"], self.sent[f["bid_id"]])
                                continue
                            self.leading = f["code"] == "already_highest"  # wait to be outbid
                            self.waiting = None
                    ready = self.waiting is None and not self.leading
                    if self.paddle is not None and ready and not stop.is_set():
                        n += 1
                        await self.bid(ws, f"{self.name}-{n}", max(START, self.highest + INC))
        except (websockets.ConnectionClosed, OSError):
            return  # its server was killed under it


async def wait_acks(
    acks: asyncio.Queue[str], count: int, timeout_s: float = 30.0, *, of: str | None = None
) -> None:
    """Until ``count`` more acknowledgments (of bidder ``of`` only, if given) have come."""

    async def take() -> None:
        left = count
        while left:
            name = await acks.get()
            if of is None or name == of:
                left -= 1

    await asyncio.wait_for(take(), timeout_s)


async def engine_stats(http: aiohttp.ClientSession, port: int, staff: str) -> dict[str, Any]:
    async with http.get(
        f"http://127.0.0.1:{port}/api/v1/auctions/engine",
        headers={"Authorization": f"Bearer {staff}"},
    ) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def owner_port(
    http: aiohttp.ClientSession, ports: list[int], staff: dict[int, str], timeout_s: float
) -> tuple[int, float]:
    """The port of the process that owns the lot, and when it was seen owning it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        for port in ports:
            if (await engine_stats(http, port, staff[port]))["lots_owned"] >= 1:
                return port, time.monotonic()
        if loop.time() > deadline:
            raise TimeoutError("no process owns the lot")
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_three_servers_share_a_lot_and_survive_the_owner_killed(
    db_dsn, pool, tmp_path
) -> None:
    """Issue 15 items 3-4: watchers on every process see the same gapless sequence; the
    owner killed → another process takes the lot over (measured); every acknowledged bid
    is in the log once; the countdown's end is the log's; the killed one rejoins as a peer."""
    lot_id, bidders, staff_name = await seed(pool, 3)
    names = ["a", "b", "c"]
    ports = {n: free_port() for n in names}
    logs = {n: tmp_path / f"server-{n}.log" for n in names}

    def ws_url(n: str) -> str:
        return f"ws://127.0.0.1:{ports[n]}/api/v1/auctions/ws"

    def start(n: str) -> Any:
        return running(db_dsn, tmp_path / f"data-{n}", ports[n], logs[n])

    stop = asyncio.Event()
    acks: asyncio.Queue[str] = asyncio.Queue()
    watchers = {n: Watcher(n, lot_id) for n in names}
    fighters: dict[str, Bidder] = {}
    tasks: list[asyncio.Task[None]] = []
    procs: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        async with start("a") as procs["a"], start("b") as procs["b"]:
            staff = {ports[n]: await login(http, f"http://127.0.0.1:{ports[n]}", staff_name) for n in "ab"}
            async with http.post(
                f"http://127.0.0.1:{ports['b']}/api/v1/auctions/lots/{lot_id}/start",
                headers={"Authorization": f"Bearer {staff[ports['b']]}"},
            ) as r:
                assert r.status == 200, await r.text()
            for i, n in enumerate("ab"):
                tasks.append(asyncio.create_task(watchers[n].watch(ws_url(n), stop)))
                token = await login(http, f"http://127.0.0.1:{ports[n]}", bidders[i][0])
                fighters[n] = Bidder(f"bidder-{n}", token, lot_id)
                tasks.append(asyncio.create_task(fighters[n].fight(ws_url(n), stop, acks)))
            await wait_acks(acks, 20)
            async with start("c") as procs["c"]:  # a third process joins during the bidding
                staff[ports["c"]] = await login(http, f"http://127.0.0.1:{ports['c']}", staff_name)
                tasks.append(asyncio.create_task(watchers["c"].watch(ws_url("c"), stop)))
                token = await login(http, f"http://127.0.0.1:{ports['c']}", bidders[2][0])
                fighters["c"] = Bidder("bidder-c", token, lot_id)
                tasks.append(asyncio.create_task(fighters["c"].fight(ws_url("c"), stop, acks)))
                await wait_acks(acks, 15)
                port, _ = await owner_port(http, list(staff), staff, 10)
                dead = next(n for n in names if ports[n] == port)
                survivors = [n for n in names if n != dead]
                for f in fighters.values():
                    f.killed = True
                while not acks.empty():  # count only what is acknowledged from now on
                    acks.get_nowait()
                killed_at = time.monotonic()
                procs[dead].send_signal(signal.SIGKILL)  # the owner, with bids in flight
                await asyncio.to_thread(procs[dead].wait)
                try:
                    new_port, seen_at = await owner_port(
                        http, [ports[n] for n in survivors], staff, TAKEOVER_WAIT_S
                    )
                except TimeoutError:
                    pytest.fail(f"no takeover {time.monotonic() - killed_at:.1f} s after kill -9 of the owner")
                print(f"\ntakeover after kill -9 of the owner: {seen_at - killed_at:.2f} s")
                # the dead process's watcher resumes on a survivor from its last seq
                tasks.append(
                    asyncio.create_task(watchers[dead].watch(ws_url(survivors[0]), stop, resume=True))
                )
                try:
                    await wait_acks(acks, 10)  # the bidding goes on through the survivors
                except TimeoutError:
                    states = {n: (f.waiting, len(f.acked), f.retried) for n, f in fighters.items()}
                    pytest.fail(f"no bidding after the takeover (waiting, acked, sent again): {states}")
                async with start(dead):  # the first process, restarted, joins as a peer
                    token = await login(http, f"http://127.0.0.1:{ports[dead]}", bidders[names.index(dead)][0])
                    back = Bidder(f"back-{dead}", token, lot_id)
                    fighters["back"] = back
                    tasks.append(asyncio.create_task(back.fight(ws_url(dead), stop, acks)))
                    await wait_acks(acks, 3, of=back.name)
                    staff[ports[dead]] = await login(http, f"http://127.0.0.1:{ports[dead]}", staff_name)
                    peer = await engine_stats(http, ports[dead], staff[ports[dead]])
                    assert peer["lots_owned"] == 0 and peer["lots_followed"] == 1
                    assert (await engine_stats(http, new_port, staff[new_port]))["takeovers"] >= 1
                    stop.set()
                    await asyncio.wait_for(asyncio.gather(*tasks), 30)

    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT seq, type, public, paddle, bid_id, data FROM auction_events WHERE lot_id = $1 ORDER BY seq",
            lot_id,
        )
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))  # gapless
    logged = {(r["paddle"], r["bid_id"]): r for r in rows if r["type"] == "bid_accepted"}
    assert len(logged) == sum(r["type"] == "bid_accepted" for r in rows)  # none doubled
    for f in fighters.values():  # every acknowledged bid, as acknowledged
        for bid_id, ack in f.acked.items():
            row = logged[(f.paddle, bid_id)]
            assert row["seq"] == ack["seq"] and data(row)["amount_fen"] == ack["amount_fen"]
    assert sum(f.acks_after_kill for f in fighters.values()) >= 10
    public = [r["seq"] for r in rows if r["public"]]
    for w in watchers.values():  # each saw every public event after its start, in order
        assert w.start_seq is not None and w.seqs, w.name
        assert w.seqs == [s for s in public if w.start_seq < s <= w.seqs[-1]], w.name
    assert watchers[dead].resumed  # resumed on a survivor from its last seq
    # the takeover moved no deadline: nothing but the start and bids in the log (no outage
    # policy), each bid's countdown end its own time + the countdown
    assert {r["type"] for r in rows} == {"lot_started", "bid_accepted"}
    for r in rows[1:]:
        d = data(r)
        assert datetime.fromisoformat(d["countdown_ends_at"]) - datetime.fromisoformat(d["at"]) == timedelta(seconds=600)
    print(
        f"bids logged {len(logged)}, acknowledged {sum(len(f.acked) for f in fighters.values())}, "
        f"sent again (engine_unavailable, or no answer in 5 s) {sum(f.retried for f in fighters.values())}"
    )


def data(row: Any) -> dict[str, Any]:
    value = row["data"]
    return dict(value) if isinstance(value, dict) else dict(json.loads(value))
