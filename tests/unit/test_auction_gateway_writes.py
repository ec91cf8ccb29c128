"""The gateway's writer (web.auction_ws): broadcasts to one client are coalesced over
``broadcast_gap_ms``; a frame for the client alone goes at once and takes what waits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from auction import protocol
from web.auction_ws import ENGINE, Client, Gateway, GatewaySettings


class Transport:
    """What the client's socket was handed, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def messages(self) -> list[Any]:
        return [json.loads(protocol.ws_payload(w)) for w in self.writes]


def client_with(gap_ms: float) -> tuple[Gateway, Client, Transport]:
    app = web.Application()
    app[ENGINE] = None  # type: ignore[assignment]  # the writer never asks the engine
    gateway = Gateway(app, GatewaySettings(broadcast_gap_ms=gap_ms))
    transport = Transport()
    client = Client(gateway, None, transport)  # type: ignore[arg-type]
    return gateway, client, transport


def event(seq: int) -> bytes:
    return protocol.ws_text(protocol.encode({"type": "event", "seq": seq}))


async def turn() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_broadcasts_within_the_gap_wait_and_leave_as_one_message() -> None:
    gateway, client, transport = client_with(gap_ms=60_000)
    client.push(event(1))
    await turn()
    assert transport.messages() == [{"type": "event", "seq": 1}]  # the first goes at once
    client.push(event(2))
    await turn()
    client.push(event(3))
    await turn()
    assert len(transport.writes) == 1  # held: written less than a gap ago
    gateway._release()  # the gap has passed
    assert transport.messages()[1] == [{"type": "event", "seq": 2}, {"type": "event", "seq": 3}]


async def test_a_frame_for_the_client_alone_goes_at_once_with_the_held_broadcasts() -> None:
    gateway, client, transport = client_with(gap_ms=60_000)
    client.push(event(1))
    await turn()
    client.push(event(2))
    await turn()
    assert len(transport.writes) == 1
    client.send(protocol.encode({"type": "ack", "seq": 3}))
    await turn()
    assert transport.messages()[1] == [{"type": "event", "seq": 2}, {"type": "ack", "seq": 3}]
    gateway._release()
    assert len(transport.writes) == 2  # nothing left to write


async def test_without_a_gap_every_turn_writes() -> None:
    _, client, transport = client_with(gap_ms=0)
    for seq in (1, 2, 3):
        client.push(event(seq))
        await turn()
    assert [m["seq"] for m in transport.messages()] == [1, 2, 3]


async def test_an_answer_is_written_before_the_watchers_broadcasts() -> None:
    """Issue 15 item 6: in one turn of the writer, the clients with an answer waiting (an
    ack) are written before the watchers with only broadcasts — with 10,000 watchers the
    bidder's ack does not wait for the 10,000 writes of the event."""
    order: list[str] = []

    class Recording(Transport):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def write(self, data: bytes) -> None:
            order.append(self.name)
            super().write(data)

    app = web.Application()
    app[ENGINE] = None  # type: ignore[assignment]
    gateway = Gateway(app, GatewaySettings(broadcast_gap_ms=100))
    watchers = [Client(gateway, None, Recording(f"w{i}")) for i in range(3)]  # type: ignore[arg-type]
    bidder = Client(gateway, None, Recording("bidder"))  # type: ignore[arg-type]
    for c in [*watchers, bidder]:  # the event reaches every subscriber, the bidder last
        c.push(event(1))
    bidder.send(protocol.encode({"type": "ack", "seq": 1}))
    await turn()
    assert order == ["bidder", "w0", "w1", "w2"]
    assert bidder.transport.messages() == [[{"type": "event", "seq": 1}, {"type": "ack", "seq": 1}]]  # type: ignore[union-attr]
