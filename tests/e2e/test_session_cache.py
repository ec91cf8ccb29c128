"""The session cache never serves a stale permission (issue 17 item 4): a logout or a role
change through the API reaches the very next request; what another process does reaches
this one within the cache's lifetime (``SUNLIT_SESSION_CACHE_S``, the fake clock here)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from aiohttp.test_utils import TestClient

from tests.helpers import login, user_headers
from trading.context import Role
from web import keys
from web.api import SESSIONS


async def wait_until(condition: Callable[[], bool], what: str, bound_s: float = 10) -> None:
    """Until ``condition`` holds (a notice heard, a connection lost), polled, bounded."""
    for _ in range(int(bound_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def status(client: TestClient, path: str, headers: dict[str, str]) -> int:
    r = await client.get(path, headers=headers)
    await r.read()
    return r.status


async def test_an_authenticated_read_is_served_from_the_cache(client) -> None:
    """The second request of a session costs no database lookup."""
    _, headers = await user_headers(client, Role.STAFF)
    cache = client.server.app[SESSIONS]
    assert await status(client, "/api/v1/me", headers) == 200
    hits = cache.hits
    assert await status(client, "/api/v1/me", headers) == 200
    assert cache.hits == hits + 1


async def test_logout_ends_the_cached_session_at_once(client) -> None:
    _, headers = await user_headers(client, Role.STAFF)
    assert await status(client, "/api/v1/me", headers) == 200  # cached now
    r = await client.delete("/api/v1/sessions/current", headers=headers)
    assert r.status == 200
    r = await client.get("/api/v1/me", headers=headers)
    assert r.status == 401 and (await r.json())["code"] == "session_expired"


async def test_a_removed_role_is_not_served_from_the_cache(client) -> None:
    """DESIGN §roles (the administrator manages roles): staff demoted to expert loses the
    staff-only reads on the very next request, in every session of theirs."""
    staff, headers = await user_headers(client, Role.STAFF)
    _, admin = await user_headers(client, Role.ADMIN)
    second = await login(client, staff.username)  # a second session of the same user
    for h in (headers, second):
        assert await status(client, "/api/v1/users", h) == 200  # staff may list users; cached
    r = await client.put(f"/api/v1/users/{staff.user_id}/role", json={"role": "expert"}, headers=admin)
    assert r.status == 200 and (await r.json())["role"] == "expert"
    for h in (headers, second):
        r = await client.get("/api/v1/users", headers=h)
        assert r.status == 403 and (await r.json())["code"] == "role_forbidden"
        me = await client.get("/api/v1/me", headers=h)
        assert (await me.json())["role"] == "expert"
    async with client.server.app[keys.POOL].acquire() as conn:
        entry = await conn.fetchrow("SELECT actor_name, detail FROM audit_log WHERE action = 'user.role_change'")
    assert entry is not None and entry["detail"] == {"from": "staff", "to": "expert"}


async def test_another_process_revoking_a_session_reaches_this_one_within_the_cache_lifetime(client, clock) -> None:
    """A change this process is not told of (another server, SQL): served for at most
    ``session_cache_s``, then refused."""
    staff, headers = await user_headers(client, Role.STAFF)
    assert await status(client, "/api/v1/me", headers) == 200
    async with client.server.app[keys.POOL].acquire() as conn:
        await conn.execute("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1", staff.user_id, clock.now())
    assert await status(client, "/api/v1/me", headers) == 200  # still fresh in the cache
    ttl = client.server.app[keys.CONFIG].session_cache_s
    clock.advance(timedelta(seconds=ttl))
    assert await status(client, "/api/v1/me", headers) == 401


async def test_an_expired_session_is_not_served_from_the_cache(make_client, clock) -> None:
    """The session's own expiry holds even inside the cache's lifetime."""
    client = await make_client(session_ttl_s=60, session_cache_s=3600)
    _, headers = await user_headers(client, Role.STAFF)
    assert await status(client, "/api/v1/me", headers) == 200
    clock.advance(seconds=61)
    assert await status(client, "/api/v1/me", headers) == 401


async def test_without_a_cache_every_request_reads_the_database(make_client, clock) -> None:
    client = await make_client(session_cache_s=0)
    staff, headers = await user_headers(client, Role.STAFF)
    assert await status(client, "/api/v1/me", headers) == 200
    async with client.server.app[keys.POOL].acquire() as conn:
        await conn.execute("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1", staff.user_id, clock.now())
    assert await status(client, "/api/v1/me", headers) == 401


async def test_a_role_change_is_for_an_administrator_and_a_role_that_can_log_in_not_for_oneself(client) -> None:
    staff, headers = await user_headers(client, Role.STAFF)
    _, admin = await user_headers(client, Role.ADMIN)
    r = await client.put(f"/api/v1/users/{staff.user_id}/role", json={"role": "admin"}, headers=headers)
    assert r.status == 403
    r = await client.put(f"/api/v1/users/{staff.user_id}/role", json={"role": "bidder"}, headers=admin)
    assert r.status == 422 and (await r.json())["code"] == "invalid_role"  # a bidder needs an organisation
    r = await client.put(f"/api/v1/users/{staff.user_id}/role", json={"role": "system"}, headers=admin)
    assert r.status == 422 and (await r.json())["code"] == "invalid_role"
    r = await client.put("/api/v1/users/999999/role", json={"role": "staff"}, headers=admin)
    assert r.status == 404 and (await r.json())["code"] == "user_not_found"
    admin_id = (await (await client.get("/api/v1/me", headers=admin)).json())["id"]
    r = await client.put(f"/api/v1/users/{admin_id}/role", json={"role": "staff"}, headers=admin)
    assert r.status == 403 and (await r.json())["code"] == "own_role"
    assert await status(client, "/api/v1/users", headers) == 200  # nothing changed


async def test_a_role_change_on_another_server_reaches_this_one_when_it_hears_the_notice(make_client) -> None:
    """Two servers on one database (issue 15): the role change made through one is announced
    (NOTIFY) and the other's cache forgets the user's sessions."""
    a, b = await make_client(), await make_client()
    staff, headers = await user_headers(a, Role.STAFF)
    _, admin = await user_headers(a, Role.ADMIN)
    assert await status(b, "/api/v1/users", headers) == 200  # cached on b
    cache_b = b.server.app[SESSIONS]
    heard = cache_b.generation()
    r = await a.put(f"/api/v1/users/{staff.user_id}/role", json={"role": "expert"}, headers=admin)
    assert r.status == 200
    await wait_until(lambda: cache_b.generation() != heard, "b hears the role change")
    assert await status(b, "/api/v1/users", headers) == 403


async def test_a_logout_on_another_server_reaches_this_one_when_it_hears_the_notice(make_client) -> None:
    a, b = await make_client(), await make_client()
    _, headers = await user_headers(a, Role.STAFF)
    assert await status(b, "/api/v1/me", headers) == 200  # cached on b
    cache_b = b.server.app[SESSIONS]
    heard = cache_b.generation()
    assert (await a.delete("/api/v1/sessions/current", headers=headers)).status == 200
    await wait_until(lambda: cache_b.generation() != heard, "b hears the logout")
    assert await status(b, "/api/v1/me", headers) == 401


async def test_a_server_that_cannot_hear_changes_caches_nothing_until_it_can_again(client, clock) -> None:
    """The listening connection lost: the cache is suspended (every request reads the
    database) until the listener is back."""
    staff, headers = await user_headers(client, Role.STAFF)
    cache = client.server.app[SESSIONS]
    assert await status(client, "/api/v1/me", headers) == 200 and len(cache) == 1
    async with client.server.app[keys.POOL].acquire() as conn:
        killed = await conn.fetchval("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                     "WHERE query LIKE 'LISTEN %sunlit_sessions%'")
        assert killed == 1
        await wait_until(lambda: cache.suspended, "the cache is suspended")
        await conn.execute("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1", staff.user_id, clock.now())
    assert await status(client, "/api/v1/me", headers) == 401  # read from the database
    await wait_until(lambda: not cache.suspended, "the listener is back")
