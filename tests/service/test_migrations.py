"""Migrations: applied in order once, recorded with a checksum; a changed applied file is an error."""

from __future__ import annotations

import pytest

from trading import migrate
from trading.migrate import Migration, MigrationError


async def test_every_migration_is_applied_and_recorded(pool) -> None:
    async with pool.acquire() as conn:
        assert await migrate.pending(conn) == []
        rows = await conn.fetch("SELECT package, version, checksum FROM schema_migrations ORDER BY package, version")
    known = {(m.package, m.version): m.checksum for m in migrate.discover()}
    assert {(r["package"], r["version"]): r["checksum"] for r in rows} == known
    assert ("trading", 1) in known


async def test_migrate_twice_applies_nothing_more(pool) -> None:
    async with pool.acquire() as conn:
        assert await migrate.migrate(conn) == []


async def test_a_changed_applied_migration_is_an_error(pool) -> None:
    async with pool.acquire() as conn:
        done = await migrate.applied(conn)
    first = migrate.discover()[0]
    changed = Migration(first.package, first.version, first.name, first.sql + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate.check([changed], done)


def test_packages_are_applied_in_dependency_order() -> None:
    order = [m.package for m in migrate.discover()]
    assert order == sorted(order, key=migrate.PACKAGES.index)
