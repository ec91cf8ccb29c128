"""Issue 16, item 7: a logged-out session's websockets are closed at logout.

The gateway (web/auction_ws.py) keeps a map session → open websockets; ``DELETE
/api/v1/sessions/current`` closes every socket that session opened, with close code 4001 and
a reason in English and Chinese. Another session's socket, and anonymous watchers, stay open.
"""

from __future__ import annotations

import asyncio
import json

import websockets
from aiohttp.test_utils import TestClient

from tests.helpers import login, user_headers
from trading.context import Role
from web.auction_ws import CLOSE_SESSION_ENDED


def _url(client: TestClient, token: str | None = None) -> str:
    url = str(client.server.make_url("/api/v1/auctions/ws")).replace("http://", "ws://")
    return url + (f"?token={token}" if token else "")


async def _hello(conn: websockets.ClientConnection) -> dict:  # type: ignore[type-arg]
    while True:
        data = json.loads(await asyncio.wait_for(conn.recv(), 5))
        for frame in data if isinstance(data, list) else [data]:  # several coalesced: a list
            if frame.get("type") == "hello":
                return frame


async def test_item7_logout_closes_the_sessions_websockets(client: TestClient) -> None:
    """Issue 16 item 7: at logout, both sockets of the session close (4001, with a reason);
    a second session of the same user, another user's socket and a watcher stay open."""
    party, headers = await user_headers(client, Role.BIDDER)
    token = headers["Authorization"].split()[1]
    other_session = (await login(client, party.username))["Authorization"].split()[1]
    _, someone = await user_headers(client, Role.BIDDER)
    someone_token = someone["Authorization"].split()[1]
    mine = [await websockets.connect(_url(client, token)) for _ in range(2)]
    keep = [
        await websockets.connect(_url(client, other_session)),
        await websockets.connect(_url(client, someone_token)),
        await websockets.connect(_url(client)),
    ]
    try:
        for conn in [*mine, *keep]:
            await _hello(conn)
        r = await client.delete("/api/v1/sessions/current", headers=headers)
        assert r.status == 200, await r.text()
        for conn in mine:
            await asyncio.wait_for(conn.wait_closed(), 5)
            assert conn.close_code == CLOSE_SESSION_ENDED
            assert "logged out" in (conn.close_reason or "") and "会话已结束" in conn.close_reason
        for conn in keep:  # still served: a ping is answered
            await conn.send(json.dumps({"op": "ping", "req": "p"}))
            while True:
                frame = json.loads(await asyncio.wait_for(conn.recv(), 5))
                frames = frame if isinstance(frame, list) else [frame]
                if any(f.get("type") == "pong" for f in frames):
                    break
        async with websockets.connect(_url(client, token)) as again:  # the token is dead now
            hello = await _hello(again)
            assert hello["user"] is None
    finally:
        for conn in [*mine, *keep]:
            await conn.close()
