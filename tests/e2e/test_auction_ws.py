"""Live auctions end to end: the real app, real PostgreSQL, a fake clock, and several
websocket clients (the ``websockets`` library) — a land auction from listing to
confirmation, a plate session, every kind of bad frame, resume after reconnect, a client
too slow to keep up, and what frames never show (reserve, identities).

Sources: RULES.md A1–A6 (O39, court-auction practice); DESIGN.md "Auctions".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import websockets
from aiohttp.test_utils import TestClient

from crypto.signing import canonical_json, verify
from tests.helpers import login, user_headers
from trading.clock import iso_ms
from trading.context import Role
from web import keys
from web.auction_ws import ENGINE

START = 100_000_000  # 1,000,000.00 yuan
INC = 1_000_000  # 10,000.00 yuan
DEPOSIT = 20_000_000


@dataclass
class Bidder:
    user_id: int
    username: str
    org_id: int
    headers: dict[str, str]

    @property
    def token(self) -> str:
        return self.headers["Authorization"].split()[1]


class Ws:
    """A websocket client that keeps every frame it receives."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.frames: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []
        self.batches = 0

    async def send(self, frame: Any) -> None:
        await self.conn.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def recv(self, timeout_s: float = 15) -> dict[str, Any]:
        if not self.pending:
            data = json.loads(await asyncio.wait_for(self.conn.recv(), timeout_s))
            if isinstance(data, list):  # several frames coalesced into one
                self.batches += 1
                self.pending.extend(data)
            else:
                self.pending.append(data)
        frame = self.pending.pop(0)
        self.frames.append(frame)
        return frame

    async def until(self, kind: str, timeout_s: float = 15, **match: Any) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def ask(self, frame: dict[str, Any], kind: str | None = None) -> dict[str, Any]:
        """Send and wait for the answer (ack, error, snapshot…) naming the same request."""
        await self.send(frame)
        key = {k: frame[k] for k in ("bid_id", "req") if k in frame}
        while True:
            answer = await self.recv()
            if kind is not None and answer["type"] == kind:
                return answer
            if answer["type"] in ("ack", "error", "pong") and all(
                answer.get(k) == v for k, v in key.items()
            ):
                return answer

    def events(self, lot_id: int | None = None) -> list[dict[str, Any]]:
        return [
            f
            for f in self.frames
            if f["type"] == "event" and (lot_id is None or f["lot_id"] == lot_id)
        ]


def ws_url(client: TestClient, **query: str) -> str:
    url = str(client.server.make_url("/api/v1/auctions/ws")).replace("http://", "ws://")
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@asynccontextmanager
async def connect(
    client: TestClient, token: str | None = None, *, how: str = "query"
) -> AsyncIterator[Ws]:
    headers = {}
    query = {}
    if token and how == "header":
        headers["Authorization"] = f"Bearer {token}"
    elif token and how == "query":
        query["token"] = token
    async with websockets.connect(
        ws_url(client, **query), additional_headers=headers, max_size=2**22
    ) as conn:
        ws = Ws(conn)
        if token and how == "frame":
            await ws.until("hello")
            await ws.send({"op": "auth", "token": token})
        hello = await ws.until("hello")
        if token:
            assert hello["user"] is not None
        yield ws


async def make_bidders(client: TestClient, n: int) -> list[Bidder]:
    out = []
    for _ in range(n):
        party, headers = await user_headers(client, Role.BIDDER)
        assert party.org_id is not None
        out.append(Bidder(party.user_id, party.username, party.org_id, headers))
    return out


async def confirm(client: TestClient, staff: dict[str, str], org_id: int, ref: str) -> None:
    r = await client.post(
        "/api/v1/admission-flags",
        headers=staff,
        json={"org_id": org_id, "project_ref": ref, "note": "deposit received"},
    )
    assert r.status == 201, await r.text()


async def post(
    client: TestClient, path: str, headers: dict[str, str], body: Any = None, status: int = 200
) -> Any:
    r = await client.post("/api/v1" + path, headers=headers, json=body)
    assert r.status == status, await r.text()
    return await r.json()


async def land_lot(
    client: TestClient, staff: dict[str, str], clock: Any, **overrides: Any
) -> dict[str, Any]:
    now = clock.now()
    body = {
        "title": "湖州市 2026-01 号地块 Huzhou plot 2026-01",
        "starting_price_fen": START,
        "increment_fen": INC,
        "deposit_fen": DEPOSIT,
        "listing_starts_at": iso_ms(now + timedelta(minutes=1)),
        "listing_ends_at": iso_ms(now + timedelta(days=10, minutes=1)),
        **overrides,
    }
    return await post(client, "/auctions/lots", staff, body, 201)


async def admitted_land_lot(client: TestClient, clock: Any, bidders: int, **overrides: Any):  # type: ignore[no-untyped-def]
    _, staff = await user_headers(client, Role.STAFF)
    people = await make_bidders(client, bidders)
    lot = await land_lot(client, staff, clock, **overrides)
    paddles = {}
    for b in people:
        await confirm(client, staff, b.org_id, f"lot:{lot['id']}")
        paddles[b.org_id] = (
            await post(
                client, f"/auctions/lots/{lot['id']}/admissions", staff, {"org_id": b.org_id}, 201
            )
        )["paddle"]
    return staff, people, lot, paddles


async def started_land_lot(client: TestClient, clock: Any, bidders: int = 3, **overrides: Any):  # type: ignore[no-untyped-def]
    staff, people, lot, paddles = await admitted_land_lot(client, clock, bidders, **overrides)
    clock.advance(minutes=1)
    await post(client, f"/auctions/lots/{lot['id']}/start", staff)
    return staff, people, lot, paddles


# -- a land auction from listing to confirmation -----------------------------------------------


async def test_land_auction_end_to_end_with_several_websocket_clients(client, clock) -> None:
    """O39, RULES A1–A6: listing bids by whole increments, none in the last hour, then a
    countdown restarting from each bid; the sealed reserve is checked only at the close and
    appears in no frame before it; bidders are paddles until the result names the winner;
    the winner downloads a signed confirmation (成交确认书)."""
    app = client.server.app
    staff, people, lot, paddles = await admitted_land_lot(
        client, clock, 3, listing_quiet_s=3600, countdown_s=240
    )
    lot_id = lot["id"]
    reserve = START + 3 * INC + 123_400  # an amount that appears nowhere else
    sealed = await post(
        client, f"/auctions/lots/{lot_id}/reserve", staff, {"reserve_fen": reserve}, 201
    )
    assert len(sealed["commitment"]) == 64
    await post(client, f"/auctions/lots/{lot_id}/schedule", staff)
    clock.advance(minutes=1)
    assert len(await app[keys.SCHEDULER].run_due()) == 1  # auction.start opens the listing
    a, b, c = people
    async with (
        connect(client, a.token, how="query") as wa,
        connect(client, b.token, how="header") as wb,
        connect(client, c.token, how="frame") as wc,
        connect(client) as watcher,
    ):
        for ws, who in ((wa, a), (wb, b), (wc, c), (watcher, None)):
            snap = await ws.ask({"op": "subscribe", "lots": [lot_id]}, "snapshot")
            assert snap["lot"]["phase"] == "listing" and snap["paddle"] == (
                paddles[who.org_id] if who else None
            )
        ack = await wa.ask({"op": "bid", "lot_id": lot_id, "bid_id": "a1", "amount_fen": START})
        assert ack["type"] == "ack" and ack["seq"] >= 2 and ack["countdown_ends_at"] is None
        half = await wb.ask(
            {"op": "bid", "lot_id": lot_id, "bid_id": "b1", "amount_fen": START + INC + INC // 2}
        )
        assert half["code"] == "not_increment_multiple"  # A1: 1.5 increments refused
        again = await wa.ask(
            {"op": "bid", "lot_id": lot_id, "bid_id": "a2", "amount_fen": START + INC}
        )
        assert again["code"] == "already_highest"
        assert (
            await wb.ask(
                {"op": "bid", "lot_id": lot_id, "bid_id": "b2", "amount_fen": START + 2 * INC}
            )
        )["type"] == "ack"
        clock.advance(days=10, minutes=-30)  # into the last hour of the listing
        quiet = await wc.ask(
            {"op": "bid", "lot_id": lot_id, "bid_id": "c1", "amount_fen": START + 3 * INC}
        )
        assert quiet["code"] == "listing_quiet"
        clock.advance(minutes=30)
        await app[ENGINE].tick()
        started = await watcher.until("event")
        while started["event"]["type"] != "countdown_started":
            started = await watcher.until("event")
        ends = started["event"]["countdown_ends_at"]
        clock.advance(seconds=10)
        c1 = await wc.ask(
            {"op": "bid", "lot_id": lot_id, "bid_id": "c2", "amount_fen": START + 3 * INC}
        )
        assert c1["type"] == "ack" and c1["countdown_ends_at"] > ends  # the countdown restarted
        clock.advance(seconds=200)
        a3 = await wa.ask(
            {"op": "bid", "lot_id": lot_id, "bid_id": "a3", "amount_fen": START + 5 * INC}
        )
        assert a3["type"] == "ack"
        clock.advance(seconds=240)
        await app[ENGINE].tick()
        closed = None
        while closed is None:
            frame = await watcher.until("event")
            if frame["event"]["type"] == "lot_closed":
                closed = frame["event"]
        assert closed["outcome"] == "sold" and closed["winner"] == paddles[a.org_id]
        assert closed["price_fen"] == START + 5 * INC and closed["reserve_fen"] == reserve
        for ws in (wa, wb, wc):
            await ws.until("event", lot_id=lot_id, seq=watcher.events()[-1]["seq"])
    everyone = wa.frames + wb.frames + wc.frames + watcher.frames
    before_close = [
        f for f in everyone if not (f["type"] == "event" and f["event"]["type"] == "lot_closed")
    ]
    assert str(reserve) not in json.dumps(before_close)  # A3: the reserve only in the close
    seqs = [f["seq"] for f in watcher.events()]
    assert (
        seqs == sorted(set(seqs)) and [f["seq"] for f in wb.events()] == seqs
    )  # one ordered stream
    names = []
    async with app[keys.POOL].acquire() as conn:
        for p in people:
            names.append(
                await conn.fetchval("SELECT name FROM organisations WHERE id = $1", p.org_id)
            )
    stream = json.dumps(everyone, ensure_ascii=False)
    assert not any(name in stream for name in names)  # A6: paddles only
    await app[ENGINE].wait_idle()
    result = await (await client.get(f"/api/v1/auctions/lots/{lot_id}/result")).json()
    assert (
        result["winner"]["org_id"] == a.org_id and result["winner"]["paddle"] == paddles[a.org_id]
    )
    assert result["reserve"]["reserve_fen"] == reserve and [
        x["amount_fen"] for x in result["bids"]
    ] == [START, START + 2 * INC, START + 3 * INC, START + 5 * INC]
    from auction.rules import reserve_commitment

    assert (
        reserve_commitment(reserve, bytes.fromhex(result["reserve"]["salt_hex"]))
        == sealed["commitment"]
    )
    a.headers = await login(client, a.username)  # ten days on: log in afresh
    b.headers = await login(client, b.username)
    r = await client.get(f"/api/v1/auctions/lots/{lot_id}/confirmation", headers=a.headers)
    doc = await r.json()
    assert r.status == 200 and doc["confirmation"]["price_fen"] == START + 5 * INC
    assert verify(
        bytes.fromhex(doc["public_key"]),
        bytes.fromhex(doc["signature"]),
        canonical_json(doc["confirmation"]),
    )
    r = await client.get(
        f"/api/v1/auctions/lots/{lot_id}/confirmation?format=html", headers=a.headers
    )
    assert r.status == 200 and "成交确认书" in await r.text()
    r = await client.get(f"/api/v1/auctions/lots/{lot_id}/confirmation", headers=b.headers)
    assert r.status == 403 and (await r.json())["code"] == "not_the_winner"
    _, staff = await user_headers(client, Role.STAFF)
    r = await client.get(f"/api/v1/auctions/lots/{lot_id}/bidders", headers=staff)
    assert {x["paddle"] for x in (await r.json())["bidders"]} == set(paddles.values())


async def test_a_lot_below_its_reserve_is_not_sold(client, clock) -> None:
    """A4: the highest bid below the reserve → no sale (流拍)."""
    app = client.server.app
    staff, people, lot, _ = await admitted_land_lot(client, clock, 1, countdown_s=60)
    await post(
        client, f"/auctions/lots/{lot['id']}/reserve", staff, {"reserve_fen": START + 10 * INC}, 201
    )
    clock.advance(minutes=1)
    await post(client, f"/auctions/lots/{lot['id']}/start", staff)
    await post(
        client,
        f"/auctions/lots/{lot['id']}/bids",
        people[0].headers,
        {"bid_id": "x", "amount_fen": START},
        201,
    )
    clock.advance(days=10, seconds=60)
    await app[ENGINE].tick()
    result = await (await client.get(f"/api/v1/auctions/lots/{lot['id']}/result")).json()
    assert (
        result["outcome"] == "no_sale"
        and result["basis"] == "below_reserve"
        and result["winner"] is None
    )


# -- a plate session ------------------------------------------------------------------------------


async def test_plate_session_end_to_end_with_several_websocket_clients(client, clock) -> None:
    """Plates (号牌): many lots in one session, a common start, each its own countdown from
    each bid; bidders admitted once to the session bid on any plate with one paddle."""
    app = client.server.app
    _, staff = await user_headers(client, Role.STAFF)
    people = await make_bidders(client, 4)
    starts = clock.now() + timedelta(minutes=5)
    session = await post(
        client,
        "/auctions/sessions",
        staff,
        {
            "title": "2026 第一期特殊号牌 Special plates, session 1",
            "starts_at": iso_ms(starts),
            "countdown_s": 60,
            "lots": [
                {
                    "title": t,
                    "starting_price_fen": 500_000,
                    "increment_fen": 50_000,
                    "deposit_fen": 100_000,
                }
                for t in ("浙E·88888", "浙E·66666", "浙E·12345")
            ],
        },
        201,
    )
    lot_ids = [lot["id"] for lot in session["lots"]]
    for b in people:
        await confirm(client, staff, b.org_id, f"auction_session:{session['id']}")
    admitted = (
        await post(
            client,
            f"/auctions/sessions/{session['id']}/admissions",
            staff,
            {"org_ids": [b.org_id for b in people]},
            201,
        )
    )["admitted"]
    paddle = {x["org_id"]: x["paddle"] for x in admitted}
    await post(client, f"/auctions/sessions/{session['id']}/schedule", staff)
    clock.set(starts)
    await app[keys.SCHEDULER].run_due()
    async with (
        connect(client, people[0].token) as w0,
        connect(client, people[1].token) as w1,
        connect(client, people[2].token) as w2,
        connect(client) as watcher,
    ):
        for ws in (w0, w1, w2, watcher):
            await ws.send({"op": "subscribe", "lots": lot_ids})
            for _ in lot_ids:
                snap = await ws.until("snapshot")
                assert snap["lot"]["phase"] == "countdown"
        x, y, z = lot_ids
        assert (await w0.ask({"op": "bid", "lot_id": x, "bid_id": "1", "amount_fen": 500_000}))[
            "type"
        ] == "ack"
        assert (await w1.ask({"op": "bid", "lot_id": x, "bid_id": "1", "amount_fen": 550_000}))[
            "type"
        ] == "ack"
        assert (await w2.ask({"op": "bid", "lot_id": y, "bid_id": "1", "amount_fen": 600_000}))[
            "type"
        ] == "ack"
        clock.advance(seconds=50)
        assert (await w0.ask({"op": "bid", "lot_id": x, "bid_id": "2", "amount_fen": 700_000}))[
            "type"
        ] == "ack"
        clock.advance(seconds=10)
        await app[ENGINE].tick()  # y and z end; x runs on
        clock.advance(seconds=49, milliseconds=999)
        await app[ENGINE].tick()
        assert app[ENGINE].state(x).phase.value == "countdown"
        clock.advance(milliseconds=1)
        await app[ENGINE].tick()
        closes = {}
        while len(closes) < 3:
            f = await watcher.until("event")
            if f["event"]["type"] == "lot_closed":
                closes[f["lot_id"]] = f["event"]
    assert closes[x]["winner"] == paddle[people[0].org_id] and closes[x]["price_fen"] == 700_000
    assert closes[y]["winner"] == paddle[people[2].org_id]
    assert closes[z]["outcome"] == "no_sale" and closes[z]["basis"] == "no_bid"
    assert closes[y]["at"] < closes[x]["at"]
    await app[ENGINE].wait_idle()
    listing = await (
        await client.get(f"/api/v1/auctions/results?session_id={session['id']}")
    ).json()
    assert {lot["id"]: lot["result"]["outcome"] for lot in listing} == {
        x: "sold",
        y: "sold",
        z: "no_sale",
    }


# -- bad input ------------------------------------------------------------------------------------


async def test_bad_frames_each_get_an_error_code_and_the_connection_goes_on(client, clock) -> None:
    """Issue 4 (bad input): malformed frames, unknown operations, floats, strings, negative
    and absurd amounts, lots not subscribed or not admitted — each an error frame with its
    code; the connection and the lot go on."""
    staff, people, lot, _ = await started_land_lot(client, clock, 1)
    lot_id = lot["id"]
    outsider = (await make_bidders(client, 1))[0]
    async with (
        connect(client, people[0].token) as ws,
        connect(client) as anon,
        connect(client, outsider.token) as out,
    ):
        cases: list[tuple[Any, str]] = [
            ("not json", "malformed_frame"),
            ("[1, 2]", "malformed_frame"),
            ('{"op": "bid", "lot_id": 1,', "malformed_frame"),
            ("{" * 5000 + "}" * 5000, "malformed_frame"),
            ({"op": "dance"}, "unknown_op"),
            ({"nothing": True}, "unknown_op"),
            ({"op": "subscribe", "lots": "all"}, "bad_field"),
            ({"op": "subscribe", "lots": [0]}, "bad_field"),
            ({"op": "subscribe", "lots": [999_999]}, "lot_not_found"),
            (
                {"op": "bid", "lot_id": lot_id, "bid_id": "z1", "amount_fen": START},
                "not_subscribed",
            ),
            ({"op": "bid", "lot_id": lot_id, "bid_id": "x" * 65, "amount_fen": START}, "bad_field"),
            (
                {"op": "bid", "lot_id": lot_id, "bid_id": "z2", "amount_fen": START, "extra": 1},
                "bad_field",
            ),
            ({"op": "ping", "req": 5}, "bad_field"),
        ]
        for frame, code in cases:
            await ws.send(frame)
            answer = await ws.until("error")
            assert answer["type"] == "error" and answer["code"] == code, (frame, answer)
            assert answer["message"] and answer["message_zh"]
        await ws.ask({"op": "subscribe", "lots": [lot_id]}, "snapshot")
        raw_amounts = [
            "1.5e8",
            "100000000.0",
            '"100000000"',
            "-100000000",
            "0",
            "1" + "0" * 40,
            "NaN",
            "Infinity",
            "true",
            "null",
            "1e400",
        ]
        for n, raw in enumerate(raw_amounts):
            await ws.send(
                f'{{"op": "bid", "lot_id": {lot_id}, "bid_id": "amt{n}", "amount_fen": {raw}}}'
            )
            answer = await ws.until("error", bid_id=f"amt{n}")
            assert answer["code"] == "bad_amount", (raw, answer)
        await ws.conn.send(b"\x00\x01binary")
        assert (await ws.until("error"))["code"] == "binary_frame"
        await anon.ask({"op": "subscribe", "lots": [lot_id]}, "snapshot")
        assert (
            await anon.ask({"op": "bid", "lot_id": lot_id, "bid_id": "a", "amount_fen": START})
        )["code"] == "unauthenticated"
        bad_auth = await anon.ask({"op": "auth", "token": "forged-token"}, "error")
        assert bad_auth["code"] == "invalid_token"
        await out.ask({"op": "subscribe", "lots": [lot_id]}, "snapshot")
        assert (await out.ask({"op": "bid", "lot_id": lot_id, "bid_id": "o", "amount_fen": START}))[
            "code"
        ] == "not_admitted"
        _, staff_headers = await user_headers(client, Role.STAFF)
        async with connect(client, staff_headers["Authorization"].split()[1]) as st:
            await st.ask({"op": "subscribe", "lots": [lot_id]}, "snapshot")
            assert (
                await st.ask({"op": "bid", "lot_id": lot_id, "bid_id": "s", "amount_fen": START})
            )["code"] == "role_cannot_bid"
        ok = await ws.ask({"op": "bid", "lot_id": lot_id, "bid_id": "good", "amount_fen": START})
        assert ok["type"] == "ack"  # the connection and the lot went on
        assert (await ws.ask({"op": "ping", "req": "p1"}))["type"] == "pong"


async def test_a_flood_from_one_connection_is_rate_limited_and_the_connection_goes_on(
    make_client, clock
) -> None:
    client = await make_client(
        extra={
            "auction_frame_rate_per_s": "5",
            "auction_frame_burst": "10",
            "auction_bid_rate_per_s": "2",
            "auction_bid_burst": "3",
        }
    )
    staff, people, lot, _ = await started_land_lot(client, clock, 1, allow_self_raise=True)
    async with connect(client, people[0].token) as ws:
        for n in range(30):
            await ws.send({"op": "ping", "req": f"p{n}"})
        answers = [await ws.recv() for _ in range(30)]
        codes = [a.get("code") for a in answers if a["type"] == "error"]
        assert (
            codes
            and set(codes) == {"rate_limited"}
            and sum(a["type"] == "pong" for a in answers) >= 9
        )
        await asyncio.sleep(2.5)  # the bucket refills: frames are welcome again
        await ws.ask({"op": "subscribe", "lots": [lot["id"]]}, "snapshot")
        results = [
            await ws.ask(
                {"op": "bid", "lot_id": lot["id"], "bid_id": f"b{n}", "amount_fen": START + n * INC}
            )
            for n in range(5)
        ]
        assert [r["type"] for r in results[:3]] == ["ack"] * 3 and results[3][
            "code"
        ] == "rate_limited"


# -- resume and slow clients ------------------------------------------------------------------------


async def test_a_client_resumes_after_reconnect_from_its_last_sequence(make_client, clock) -> None:
    """DESIGN: a reconnecting client resumes from the last sequence number it saw and
    receives what it missed (from memory or the log), or a fresh snapshot."""
    client = await make_client(extra={"auction_recent_events_max": "3"})
    staff, people, lot, _ = await started_land_lot(client, clock, 2)
    lot_id = lot["id"]
    a, b = people
    async with connect(client) as first:
        await first.ask({"op": "subscribe", "lots": [lot_id]}, "snapshot")
        await post(
            client,
            f"/auctions/lots/{lot_id}/bids",
            a.headers,
            {"bid_id": "1", "amount_fen": START},
            201,
        )
        last_seen = (await first.until("event"))["seq"]
    for n in range(2, 8):  # missed while away
        who = a if n % 2 else b
        await post(
            client,
            f"/auctions/lots/{lot_id}/bids",
            who.headers,
            {"bid_id": str(n), "amount_fen": START + (n - 1) * INC},
            201,
        )
    async with connect(client) as again:
        await again.send({"op": "subscribe", "lots": [{"lot_id": lot_id, "after_seq": last_seen}]})
        resumed = await again.until("resumed")
        assert (
            resumed["after_seq"] == last_seen and resumed["missed"] == 6
        )  # read back from the log
        got = [(await again.until("event"))["event"]["amount_fen"] for _ in range(6)]
        assert got == [START + k * INC for k in range(1, 7)]
        head = resumed["seq"]
    async with connect(client) as third:
        await third.send({"op": "subscribe", "lots": [{"lot_id": lot_id, "after_seq": head - 1}]})
        assert (await third.until("resumed"))["missed"] == 1  # from memory
        assert (await third.until("event"))["seq"] == head
        await third.send({"op": "subscribe", "lots": [{"lot_id": lot_id, "after_seq": head + 100}]})
        assert (await third.until("snapshot"))["seq"] == head  # a seq from the future: start afresh


async def test_a_client_that_cannot_keep_up_is_dropped_and_resyncs(make_client, clock) -> None:
    """STYLE (Adapters): each client has a bounded send queue; a broadcast puts on it without
    waiting; a client whose queue is full is closed (4008) and resyncs from where it was."""
    client = await make_client(extra={"auction_ws_queue_max": "4"})
    staff, people, lot, _ = await started_land_lot(client, clock, 1, allow_self_raise=True)
    lot_id = lot["id"]
    async with connect(client) as slow, connect(client, people[0].token) as bidder:
        snap = await slow.ask({"op": "subscribe", "lots": [lot_id]}, "snapshot")
        await bidder.ask({"op": "subscribe", "lots": [lot_id]}, "snapshot")
        burst = "".join(  # many bids at once: their events reach the queues in one flush
            json.dumps(
                {"op": "bid", "lot_id": lot_id, "bid_id": f"f{n}", "amount_fen": START + n * INC}
            )
            + "\n"
            for n in range(30)
        )
        for line in burst.splitlines():
            await bidder.conn.send(line)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(100):
                await slow.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
        seen = [f["seq"] for f in slow.events()]
    await client.server.app[ENGINE].wait_idle()
    last = seen[-1] if seen else snap["seq"]
    async with connect(client) as back:
        await back.send({"op": "subscribe", "lots": [{"lot_id": lot_id, "after_seq": last}]})
        fresh = await back.until("snapshot")  # too much missed for its queue: coalesced
        assert fresh["seq"] == snap["seq"] + 30 and fresh["lot"]["highest_fen"] == START + 29 * INC
