"""Issue 16, item 7: a logged-out session's websockets are closed at logout.

The gateway (web/auction_ws.py) keeps a map session → open websockets; ``DELETE
/api/v1/sessions/current`` closes every socket that session opened, with close code 4001 and
a reason in English and Chinese. Another session's socket, and anonymous watchers, stay open.
Issue 15 item 3 (several processes): a logout or a role change made through another server
process reaches this one's sockets too (PostgreSQL NOTIFY).
"""

from __future__ import annotations

import asyncio
import json

import websockets
from aiohttp.test_utils import TestClient

from tests.conftest import AppFactory
from tests.helpers import login, user_headers
from trading.context import Role
from web.auction_ws import CLOSE_ROLE_CHANGED, CLOSE_SESSION_ENDED


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


async def _closed_with(conn: websockets.ClientConnection, code: int) -> str:
    await asyncio.wait_for(conn.wait_closed(), 10)
    assert conn.close_code == code, (conn.close_code, conn.close_reason)
    return conn.close_reason or ""


async def test_a_logout_through_another_process_closes_this_processes_sockets(make_client: AppFactory) -> None:
    """Issue 15 item 3 with issue 16 item 7: the bidder's socket is on one server, the logout
    goes to another over the same database; the socket closes (4001) all the same."""
    here, there = await make_client(), await make_client()
    _, headers = await user_headers(here, Role.BIDDER)
    token = headers["Authorization"].split()[1]
    async with websockets.connect(_url(here, token)) as conn:
        await _hello(conn)
        r = await there.delete("/api/v1/sessions/current", headers=headers)
        assert r.status == 200, await r.text()
        assert "logged out" in await _closed_with(conn, CLOSE_SESSION_ENDED)


async def test_a_role_change_closes_the_users_sockets_in_every_process(make_client: AppFactory) -> None:
    """DESIGN §roles with issue 17 item 4 (never a stale permission after a role is removed):
    a bidder made custodian by an administrator on another server loses the bidder's socket
    (4002); reconnecting with the same session is served with the new role; another user's
    socket stays open."""
    here, there = await make_client(), await make_client()
    bidder, headers = await user_headers(here, Role.BIDDER)
    token = headers["Authorization"].split()[1]
    _, other = await user_headers(here, Role.BIDDER)
    _, admin = await user_headers(there, Role.ADMIN)
    async with websockets.connect(_url(here, token)) as conn, \
            websockets.connect(_url(here, other["Authorization"].split()[1])) as keep:  # fmt: skip
        assert (await _hello(conn))["user"]["role"] == "bidder"
        await _hello(keep)
        r = await there.put(f"/api/v1/users/{bidder.user_id}/role", json={"role": "custodian"}, headers=admin)
        assert r.status == 200, await r.text()
        assert "角色已变更" in await _closed_with(conn, CLOSE_ROLE_CHANGED)
        await keep.send(json.dumps({"op": "ping", "req": "p"}))
        frame = json.loads(await asyncio.wait_for(keep.recv(), 5))
        assert any(f.get("type") == "pong" for f in (frame if isinstance(frame, list) else [frame]))
    async with websockets.connect(_url(here, token)) as again:
        assert (await _hello(again))["user"]["role"] == "custodian"
