"""Numbered SQL migrations, per package, applied in dependency order.

Each package keeps ``<package>/migrations/NNNN_what.sql``. They are applied in the order of
``PACKAGES`` (the dependency order crypto ← trading ← bidding, auction, experts) and, within a
package, by number; each is recorded with its SHA-256. A file that changed after it was applied
is an error: migrations are history, fix forward with a new file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from trading.errors import DomainError

PACKAGES: tuple[str, ...] = ("trading", "bidding", "auction", "experts")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x5355_4E4C  # "SUNL": one migrator at a time across processes


class MigrationError(DomainError):
    code = "migration_error"
    status_hint = 500


@dataclass(frozen=True)
class Migration:
    package: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(packages: tuple[str, ...] = PACKAGES) -> list[Migration]:
    found: list[Migration] = []
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        files = sorted(
            (path for loc in spec.submodule_search_locations for path in (Path(loc) / "migrations").glob("*.sql")),
            key=lambda path: path.name,
        )
        for path in files:
            m = _NAME.match(path.name)
            if not m:
                raise MigrationError(f"migration file name {package}/{path.name} is not NNNN_name.sql")
            found.append(Migration(package, int(m.group(1)), path.name, path.read_text("utf-8")))
    return found


async def _ensure_table(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               package text NOT NULL, version integer NOT NULL, name text NOT NULL,
               checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (package, version))"""
    )


async def applied(conn: asyncpg.Connection) -> dict[tuple[str, int], str]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT package, version, checksum FROM schema_migrations")
    return {(r["package"], r["version"]): r["checksum"] for r in rows}


def check(known: list[Migration], done: dict[tuple[str, int], str]) -> list[Migration]:
    """Return the pending migrations; raise if an applied file has changed."""
    pending = []
    for m in known:
        checksum = done.get((m.package, m.version))
        if checksum is None:
            pending.append(m)
        elif checksum != m.checksum:
            raise MigrationError(
                f"migration {m.package}/{m.name} was changed after it was applied "
                f"(recorded {checksum[:12]}…, file {m.checksum[:12]}…); add a new migration instead",
                f"迁移文件 {m.package}/{m.name} 在应用后被修改；请新增迁移文件",
            )
    return pending


async def pending(conn: asyncpg.Connection) -> list[Migration]:
    return check(discover(), await applied(conn))


async def migrate(conn: asyncpg.Connection) -> list[Migration]:
    """Apply every pending migration, each in its own transaction. Returns what was applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await _ensure_table(conn)
        todo = check(discover(), await applied(conn))
        for m in todo:
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (package, version, name, checksum) VALUES ($1, $2, $3, $4)",
                    m.package, m.version, m.name, m.checksum,
                )
        return todo
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
