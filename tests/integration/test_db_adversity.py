"""The database drops the server's connections (a failover, an admin's pg_terminate_backend):
the server answers, at worst, one clean 5xx per broken connection and then serves again;
nothing acknowledged is lost."""

from __future__ import annotations

import asyncpg

from tests.helpers import user_headers
from trading.context import Role
from web import keys


async def kill_backends(client) -> int:
    dsn = client.server.app[keys.DSN]
    admin = await asyncpg.connect(dsn)
    try:
        return await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()


async def test_the_server_recovers_after_its_connections_are_killed(client) -> None:
    _, staff = await user_headers(client, Role.STAFF)
    assert (await client.get("/api/v1/me", headers=staff)).status == 200
    assert await kill_backends(client) >= 1
    statuses = [(await client.get("/api/v1/me", headers=staff)).status for _ in range(8)]
    assert statuses[-1] == 200
    assert all(s in (200, 500, 503) for s in statuses)
    assert (await client.get("/healthz")).status == 200


async def test_a_write_acknowledged_before_the_drop_is_still_there(client) -> None:
    from tests.helpers import credit_code

    _, staff = await user_headers(client, Role.STAFF)
    code = credit_code()
    r = await client.post("/api/v1/organisations", headers=staff,
                          json={"name": "Durable Co", "kind": "agency", "credit_code": code})
    assert r.status == 201
    await kill_backends(client)
    for _ in range(5):
        r = await client.get("/api/v1/organisations?kind=agency", headers=staff)
        if r.status == 200:
            break
    assert code in [o["credit_code"] for o in await r.json()]


async def test_the_scheduler_listens_again_after_its_connection_is_dropped(client) -> None:
    """A new timed event must still wake the scheduler after PostgreSQL dropped its LISTEN."""
    import asyncio
    from datetime import timedelta

    from trading.calendar import schedule

    app = client.server.app
    sched = app[keys.SCHEDULER]
    first = sched._listener
    assert first is not None
    await kill_backends(client)
    for _ in range(100):
        if sched._listener is not None and sched._listener is not first and not sched._listener.is_closed():
            break
        await asyncio.sleep(0.05)
    assert sched._listener is not None and not sched._listener.is_closed()
    clock = app[keys.CLOCK]
    for _ in range(5):  # pool connections were killed too: the first use may fail
        try:
            async with app[keys.POOL].acquire() as conn:
                await schedule(conn, kind="test.none", ref="x", due_at=clock.now() + timedelta(hours=1), now=clock.now())
            break
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, ConnectionError):
            continue
    for _ in range(100):
        job = sched._aps.get_job("sunlit-wake")
        if job is not None:
            break
        await asyncio.sleep(0.05)
    assert job is not None  # the NOTIFY reached the new listener and armed the wake-up
