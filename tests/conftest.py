"""Test fixtures: one real PostgreSQL for the whole session (the embedded server, or
``SUNLIT_TEST_DATABASE_URL``), a template database migrated once, and a fresh database per
test cloned from it. A fake clock instead of sleeps."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import settings

from trading import migrate
from trading.audit import AuditLog
from trading.clock import FakeClock
from trading.config import Config
from trading.db import EmbeddedPostgres, connect, create_pool

# CI runs the same examples every time (a landing never hinges on a lucky draw); a developer's
# run explores new ones. `HYPOTHESIS_PROFILE=ci` reproduces CI locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

TEMPLATE = "sunlit_template"
_counter = itertools.count(1)


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def pg_server_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("SUNLIT_TEST_DATABASE_URL")
    if url:
        yield url
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pgdata"))
    dsn = server.start()
    yield dsn
    server.stop()


@pytest.fixture(scope="session")
async def template_dsn(pg_server_dsn: str) -> str:
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    dsn = with_database(pg_server_dsn, TEMPLATE)
    conn = await connect(dsn)
    try:
        await migrate.migrate(conn)
    finally:
        await conn.close()
    return dsn


@pytest.fixture
async def db_dsn(pg_server_dsn: str, template_dsn: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test."""
    name = f"t_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    finally:
        await admin.close()
    yield with_database(pg_server_dsn, name)
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_dsn, min_size=1, max_size=5)
    yield p
    await p.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def audit() -> AuditLog:
    from crypto.signing import generate_signing_key

    return AuditLog(generate_signing_key(), "srv-test", checkpoint_every=10)


@pytest.fixture
def config(db_dsn: str, tmp_path: Path) -> Config:
    return Config(database_url=db_dsn, data_dir=tmp_path / "data", log_json=False, pool_min_size=1, pool_max_size=5)


AppFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_client(config: Config, clock: FakeClock) -> AsyncIterator[AppFactory]:
    """Start the real app (real database, real routes) on a local port; returns a client."""
    from web.app import make_app

    clients: list[TestClient] = []

    async def factory(**overrides: Any) -> TestClient:
        cfg = replace(config, **overrides) if overrides else config
        app = make_app(cfg, clock=clock)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield factory
    for c in reversed(clients):
        await c.close()


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient:
    return await make_client()


@pytest.fixture
def app(client: TestClient) -> web.Application:
    return client.server.app  # type: ignore[return-value]
