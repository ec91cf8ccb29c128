"""A bid upload's staging area, against PostgreSQL with a fake clock: no transaction is open
and no pooled connection is held while the upload waits for the client; the chunks staged
so far are committed and are the sealed bytes, nothing else; an upload refused, cut off or
cancelled leaves nothing at once; an abandoned one is swept once idle past the bound, and
is refused should it resume.

Sources (RULES.md): T3 (EM 26, 28; A4(b): nothing readable at rest before the deadline),
T6 (EM 27: an upload unfinished at the deadline counts as not submitted); STYLE.md (no
network await inside a transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from bidding import store
from bidding.errors import BidRejected
from bidding.records import Signed
from bidding.service import submission
from bidding.vault import iter_blob, sweep_abandoned_uploads
from tests.service.test_bidding_support import (
    MARKER,
    Bidder,
    World,
    make_world,
    schedule_json,
    seal_for,
    submit,
)
from tests.service.test_bidding_vault import holds, select_everything

CHUNK = 4096  # SMALL.store_chunk_bytes


class HeldClient:
    """The client's side of an upload: sends the envelope up to ``split`` in pieces, tells
    the test (``paused``: everything sent so far has been received and staged, since the
    server asks for the next piece only when done with the last), and waits for
    ``release`` before sending the rest — or fails with ``fail_with`` instead."""

    def __init__(self, envelope: bytes, split: int, piece: int = 1000) -> None:
        self.envelope = envelope
        self.split = split
        self.piece = piece
        self.paused = asyncio.Event()
        self.release = asyncio.Event()
        self.fail_with: BaseException | None = None

    async def source(self) -> AsyncIterator[bytes]:
        for i in range(0, self.split, self.piece):
            yield self.envelope[i : min(i + self.piece, self.split)]
        self.paused.set()
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        for i in range(self.split, len(self.envelope), self.piece):
            yield self.envelope[i : i + self.piece]


@asynccontextmanager
async def uploading(
    world: World, bidder: Bidder, client: HeldClient
) -> AsyncIterator[asyncio.Task[Signed]]:
    """The upload as a task, paused once ``client`` has sent its first part; cancelled on
    the way out if the test has not awaited it (a failed assertion must not hang)."""
    task = asyncio.create_task(
        submission.submit_bid(
            world.pool,
            world.audit,
            bidder.party.actor,
            world.clock,
            tender_id=world.tender_id,
            source=client.source(),
            content_length=len(client.envelope),
            settings=world.settings,
        )
    )
    try:
        await client.paused.wait()
        yield task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def staged(world: World) -> tuple[int, int]:
    """(uploads, chunks) in the staging area."""
    async with world.pool.acquire() as conn:
        return (
            await conn.fetchval("SELECT count(*) FROM bid_uploads"),
            await conn.fetchval("SELECT count(*) FROM bid_upload_chunks"),
        )


async def bids_and_blobs(world: World) -> tuple[int, int, int]:
    async with world.pool.acquire() as conn:
        return (
            await conn.fetchval("SELECT count(*) FROM bids"),
            await conn.fetchval("SELECT count(*) FROM blobs WHERE kind = 'bid_envelope'"),
            await conn.fetchval("SELECT count(*) FROM bid_receipts"),
        )


def big_envelope(world: World, bidder: Bidder) -> bytes:
    envelope = seal_for(world, bidder, documents={"tech.pdf": (MARKER + " ").encode() * 800})
    assert len(envelope) > 6 * CHUNK
    return envelope


@pytest.fixture
async def world(pool: asyncpg.Pool, audit: Any, clock: Any) -> World:
    return await make_world(pool, audit, clock)


async def test_no_transaction_is_open_while_the_upload_waits_for_the_client(
    world: World, db_dsn: str
) -> None:
    """STYLE (no network await inside a transaction): half a bid sent, the client pauses;
    from another connection, no backend of the database is idle in a transaction, the pool
    lends no connection, and the chunks staged so far are visible — committed."""
    bidder = world.bidders[0]
    envelope = big_envelope(world, bidder)
    client = HeldClient(envelope, split=len(envelope) // 2)
    async with uploading(world, bidder, client) as upload:
        observer = await asyncpg.connect(db_dsn)
        try:
            in_transaction = await observer.fetch(
                """SELECT pid, state, query FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid()
                      AND (state LIKE 'idle in transaction%' OR xact_start IS NOT NULL)"""
            )
            chunks = await observer.fetch(
                "SELECT seq, length(data) AS n FROM bid_upload_chunks ORDER BY seq"
            )
        finally:
            await observer.close()
        assert in_transaction == [], in_transaction
        assert world.pool.get_idle_size() == world.pool.get_size(), "a pooled connection is held"
        assert [(r["seq"], r["n"]) for r in chunks] == [
            (seq, CHUNK) for seq in range(client.split // CHUNK)
        ]

        client.release.set()
        signed = await upload
        assert await staged(world) == (0, 0), "the commit deletes the staged rows"
        async with world.pool.acquire() as conn:
            blob_id = await conn.fetchval(
                "SELECT blob_id FROM bids WHERE id = $1", signed.document["bid_id"]
            )
            stored = b"".join([chunk async for chunk in iter_blob(conn, blob_id)])
        assert stored == envelope, "the vault holds exactly the envelope"


async def test_staged_chunks_are_the_sealed_bytes_and_nothing_else(world: World) -> None:
    """T3 (EM 26; A4(b)): halfway through an upload the database holds the envelope's first
    bytes as sent, and no plaintext of the bid anywhere."""
    bidder = world.bidders[0]
    schedule = schedule_json(987_654_321_000, declared_items={"note": MARKER})
    envelope = seal_for(
        world, bidder, schedule, documents={"tech.pdf": (MARKER + " ").encode() * 800}
    )
    assert not holds(envelope, MARKER)
    client = HeldClient(envelope, split=len(envelope) // 2)
    async with uploading(world, bidder, client) as upload:
        async with world.pool.acquire() as conn:
            rows = await conn.fetch("SELECT data FROM bid_upload_chunks ORDER BY seq")
            upload_row = await conn.fetchrow("SELECT * FROM bid_uploads")
        staged_bytes = b"".join(bytes(r["data"]) for r in rows)
        assert staged_bytes and envelope.startswith(staged_bytes)
        assert upload_row["org_id"] == bidder.org_id
        assert upload_row["size_bytes"] == len(staged_bytes)
        dump = await select_everything(world.pool)
        assert not holds(dump, MARKER) and b"987654321000" not in dump
        client.release.set()
        await upload


async def test_an_upload_cut_off_midway_leaves_nothing_at_once(world: World) -> None:
    """A connection lost halfway: the error goes up, the staged rows are deleted before it
    does, and there is no bid."""
    bidder = world.bidders[0]
    envelope = big_envelope(world, bidder)
    client = HeldClient(envelope, split=len(envelope) // 2)
    async with uploading(world, bidder, client) as upload:
        assert (await staged(world))[1] > 0
        client.fail_with = ConnectionResetError("Connection lost")
        client.release.set()
        with pytest.raises(ConnectionResetError):
            await upload
        assert await staged(world) == (0, 0)
        assert await bids_and_blobs(world) == (0, 0, 0)


async def test_a_cancelled_upload_leaves_nothing_at_once(world: World) -> None:
    bidder = world.bidders[0]
    envelope = big_envelope(world, bidder)
    client = HeldClient(envelope, split=len(envelope) // 2)
    async with uploading(world, bidder, client) as upload:
        assert (await staged(world))[1] > 0
        upload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upload
        assert await staged(world) == (0, 0)
        assert await bids_and_blobs(world) == (0, 0, 0)


async def test_a_refused_envelope_leaves_no_staged_rows(world: World) -> None:
    """An envelope that fails inspection at its end (altered after signing): refused, and
    the chunks staged while it streamed are gone."""
    bidder = world.bidders[0]
    envelope = bytearray(big_envelope(world, bidder))
    envelope[-10] ^= 1  # the signature
    with pytest.raises(BidRejected) as info:
        await submit(world, bidder, bytes(envelope))
    assert info.value.code == "bad_signature"
    assert await staged(world) == (0, 0)
    assert await bids_and_blobs(world) == (0, 0, 0)


async def test_an_abandoned_upload_is_swept_once_idle_past_the_bound_and_cannot_resume(
    world: World,
) -> None:
    """An upload that stalls longer than ``upload_idle_max_s``: the next upload's sweep
    deletes its rows (not before the bound); should it resume, it is refused
    ``upload_expired`` and leaves nothing."""
    stalled, second, third = world.bidders[:3]
    envelope = big_envelope(world, stalled)
    client = HeldClient(envelope, split=len(envelope) // 2)
    async with uploading(world, stalled, client) as upload:
        chunks_of_stalled = (await staged(world))[1]
        assert chunks_of_stalled > 0
        idle_max = timedelta(seconds=world.settings.upload_idle_max_s)

        world.clock.advance(idle_max - timedelta(seconds=1))
        await submit(world, second, seal_for(world, second))  # its sweep finds nothing idle enough
        assert await staged(world) == (1, chunks_of_stalled)

        world.clock.advance(seconds=2)
        await submit(world, third, seal_for(world, third))  # …and this one's sweeps the stalled
        assert await staged(world) == (0, 0)

        client.release.set()
        with pytest.raises(BidRejected) as info:
            await upload
        assert info.value.code == "upload_expired" and info.value.status_hint == 408
        assert await staged(world) == (0, 0)
        async with world.pool.acquire() as conn:
            assert (
                await conn.fetchval("SELECT count(*) FROM bids WHERE org_id = $1", stalled.org_id)
                == 0
            )
            refusal = await conn.fetchrow(
                "SELECT outcome, detail FROM audit_log WHERE action = 'bid.submit' "
                "ORDER BY seq DESC LIMIT 1"
            )
        assert refusal["outcome"] == "denied" and refusal["detail"]["code"] == "upload_expired"


async def test_the_sweep_leaves_an_upload_whose_commit_holds_its_row(world: World) -> None:
    """The sweep skips a locked upload row (its commit under way) rather than waiting or
    deleting it under the commit."""
    bidder = world.bidders[0]
    now = world.clock.now()
    async with world.pool.acquire() as conn:
        upload_id = await store.insert_upload(
            conn,
            tender_id=world.tender_id,
            org_id=bidder.org_id,
            submitted_by=bidder.party.user_id,
            now=now - timedelta(days=1),
        )
        assert await store.stage_chunk(conn, upload_id, 0, b"\x00" * 100, now - timedelta(days=1))
    async with world.pool.acquire() as holder, holder.transaction():
        assert await store.lock_upload(holder, upload_id) is not None
        async with world.pool.acquire() as conn:
            assert await sweep_abandoned_uploads(conn, now, world.settings.upload_idle_max_s) == 0
    async with world.pool.acquire() as conn:
        assert await sweep_abandoned_uploads(conn, now, world.settings.upload_idle_max_s) == 1
    assert await staged(world) == (0, 0)
