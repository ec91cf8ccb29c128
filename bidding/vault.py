"""The vault: sealed envelopes and tender documents stored in PostgreSQL as chunk rows.

Two ways in, one buffer of ``chunk_bytes`` in memory per upload whatever the size of the file:

- :class:`StagedUpload` (sealed bids): each chunk is committed on its own into the staging
  area (``bid_upload_chunks``) while the envelope streams in — no transaction stays open
  while the server waits for the client, and a pooled connection is held only while a chunk
  is written. The submission's one short transaction at the end moves the chunks into
  ``blob_chunks`` (:func:`bidding.store.move_upload_to_blob`) and deletes the staged rows;
  an upload that fails deletes them at once (:meth:`StagedUpload.discard`), one abandoned by
  a crash is swept (:func:`sweep_abandoned_uploads`).
- :class:`BlobWriter` (tender documents, staff only, before publication): inserts a
  ``blob_chunks`` row each time its buffer fills, inside the caller's transaction — a
  failed upload leaves nothing because the transaction rolls back.

Reading back: :func:`iter_blob` (async, for downloads) and :class:`ThreadBlobReader`, a
blocking ``readinto`` reader for ``crypto.envelope.open_envelope`` run in a worker thread:
it asks the event loop for each chunk (and the next one ahead) with
``asyncio.run_coroutine_threadsafe``, so decryption and hashing run off the loop while the
database is read on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bidding import store
from bidding.errors import BidReason, BidRejected
from crypto.envelope.format import MAGIC, MAX_HEADER_SIZE, PREAMBLE_SIZE
from trading.clock import Clock

__all__ = [
    "EVALUATION_KEY_FILE",
    "BlobWriter",
    "EvaluationKeys",
    "StagedUpload",
    "StoredBlob",
    "ThreadBlobReader",
    "iter_blob",
    "peek_signer_key_id",
    "sweep_abandoned_uploads",
]

log = logging.getLogger("sunlit.bidding")

SWEEP_BATCH = 10
"""Abandoned uploads deleted per sweep statement (each may hold up to ``max_bid_bytes``)."""


class StoredBlob:
    __slots__ = ("blob_id", "chunk_count", "sha256", "size_bytes")

    def __init__(self, blob_id: int, size_bytes: int, sha256: str, chunk_count: int) -> None:
        self.blob_id = blob_id
        self.size_bytes = size_bytes
        self.sha256 = sha256
        self.chunk_count = chunk_count


class BlobWriter:
    """Write one blob as chunk rows inside the caller's transaction.

    ``write`` copies what it is given into its buffer before returning (the caller may
    reuse its buffer). ``hash_content``: compute the SHA-256 here (tender documents); for
    envelopes the inspector's hash is passed to :meth:`close` instead of hashing twice.
    """

    def __init__(
        self, conn: asyncpg.Connection, blob_id: int, chunk_bytes: int, *, hash_content: bool
    ) -> None:
        assert conn.is_in_transaction(), "a blob is written inside the upload's transaction"
        self._conn = conn
        self.blob_id = blob_id
        self._chunk_bytes = chunk_bytes
        self._buf = bytearray()
        self._seq = 0
        self.size_bytes = 0
        self._hash = hashlib.sha256() if hash_content else None

    @classmethod
    async def start(
        cls, conn: asyncpg.Connection, chunk_bytes: int, *, hash_content: bool
    ) -> BlobWriter:
        return cls(conn, await store.new_blob_id(conn), chunk_bytes, hash_content=hash_content)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        if self._hash is not None:
            self._hash.update(view)
        self.size_bytes += len(view)
        pos = 0
        while pos < len(view):
            take = min(self._chunk_bytes - len(self._buf), len(view) - pos)
            self._buf += view[pos : pos + take]
            pos += take
            if len(self._buf) == self._chunk_bytes:
                await self._flush()

    async def _flush(self) -> None:
        if self._buf:
            await store.insert_chunk(self._conn, self.blob_id, self._seq, bytes(self._buf))
            self._seq += 1
            self._buf.clear()

    async def close(self, *, kind: str, now: datetime, sha256: str | None = None) -> StoredBlob:
        await self._flush()
        if sha256 is None:
            assert self._hash is not None, "pass the content's SHA-256 or hash it here"
            sha256 = self._hash.hexdigest()
        await store.insert_blob(
            self._conn,
            self.blob_id,
            kind=kind,
            size_bytes=self.size_bytes,
            sha256=sha256,
            chunk_bytes=self._chunk_bytes,
            chunk_count=self._seq,
            now=now,
        )
        return StoredBlob(self.blob_id, self.size_bytes, sha256, self._seq)


class StagedUpload:
    """Stage one bid upload as chunk rows, each committed on its own (no transaction).

    ``write`` copies what it is given into its buffer before returning and, each time the
    buffer fills, acquires a pooled connection just long enough to stage it, stamped with a
    reading of ``clock`` (the sweep's measure of idleness). ``flush`` stages the last,
    partial chunk with the previous stamp: the next reading of the clock is the receipt's,
    taken under the tender lock. A chunk that finds its upload gone (swept after idling
    past ``upload_idle_max_s``) raises ``upload_expired``.
    """

    def __init__(
        self, pool: asyncpg.Pool, clock: Clock, upload_id: int, chunk_bytes: int, now: datetime
    ) -> None:
        self._pool = pool
        self._clock = clock
        self.upload_id = upload_id
        self._chunk_bytes = chunk_bytes
        self._buf = bytearray()
        self._touched_at = now
        self.chunk_count = 0
        self.size_bytes = 0

    @classmethod
    async def start(
        cls,
        pool: asyncpg.Pool,
        conn: asyncpg.Connection,
        clock: Clock,
        *,
        tender_id: int,
        org_id: int,
        submitted_by: int,
        chunk_bytes: int,
        now: datetime,
    ) -> StagedUpload:
        upload_id = await store.insert_upload(
            conn, tender_id=tender_id, org_id=org_id, submitted_by=submitted_by, now=now
        )
        return cls(pool, clock, upload_id, chunk_bytes, now)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.size_bytes += len(view)
        pos = 0
        while pos < len(view):
            take = min(self._chunk_bytes - len(self._buf), len(view) - pos)
            self._buf += view[pos : pos + take]
            pos += take
            if len(self._buf) == self._chunk_bytes:
                self._touched_at = self._clock.now()
                await self._stage()

    async def flush(self) -> None:
        """Stage what is left in the buffer (the end of the upload)."""
        if self._buf:
            await self._stage()

    async def _stage(self) -> None:
        async with self._pool.acquire() as conn:
            staged = await store.stage_chunk(
                conn, self.upload_id, self.chunk_count, bytes(self._buf), self._touched_at
            )
        if not staged:
            raise BidRejected(BidReason.UPLOAD_EXPIRED)
        self.chunk_count += 1
        self._buf.clear()

    async def discard(self) -> None:
        """Delete what was staged, at once (refused, failed, cut off, cancelled). Shielded
        from cancellation; if the database cannot be reached, the sweep deletes it later."""
        self._buf.clear()
        try:
            await asyncio.shield(self._delete())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning(
                "staged bid upload not deleted; the sweep will",
                extra={"upload_id": self.upload_id, "error": repr(exc)},
            )

    async def _delete(self) -> None:
        async with self._pool.acquire() as conn:
            await store.delete_upload(conn, self.upload_id)


async def sweep_abandoned_uploads(
    conn: asyncpg.Connection, now: datetime, idle_max_s: int, *, batches: int | None = None
) -> int:
    """Delete staged uploads idle for more than ``idle_max_s`` (a crash's leftovers, a
    client that stalled), ``SWEEP_BATCH`` per statement, each statement its own commit;
    at most ``batches`` statements (``None``: until none is left). Returns how many."""
    idle_since = now - timedelta(seconds=idle_max_s)
    swept = 0
    done = 0
    while batches is None or done < batches:
        n = await store.sweep_uploads(conn, idle_since=idle_since, limit=SWEEP_BATCH)
        swept += n
        done += 1
        if n < SWEEP_BATCH:
            break
    if swept:
        log.info("abandoned bid uploads swept", extra={"uploads": swept})
    return swept


async def iter_blob(conn: asyncpg.Connection, blob_id: int) -> AsyncIterator[bytes]:
    """The blob's bytes, one chunk row at a time."""
    count = await store.blob_chunk_count(conn, blob_id)
    for seq in range(count or 0):
        data = await store.fetch_chunk(conn, blob_id, seq)
        if data is None:
            raise LookupError(f"blob {blob_id} lacks chunk {seq}")
        yield data


class ThreadBlobReader:
    """A blocking reader (``readinto``) over a blob, for use in a worker thread.

    ``fetch(seq)`` is a coroutine function run on ``loop`` (one at a time: it may share a
    connection); the reader keeps the next chunk in flight while the caller works. A missing chunk reads as the end of the data (the envelope parser then says
    ``truncated``; the caller compares the stored hash to tell storage damage apart).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fetch: Callable[[int], Awaitable[bytes | None]],
        chunk_count: int,
    ) -> None:
        self._loop = loop
        self._fetch = fetch
        self._count = chunk_count
        self._seq = 0
        self._current = memoryview(b"")
        self._ahead: Future[bytes | None] | None = None
        self.bytes_read = 0

    def _request(self, seq: int) -> Future[bytes | None] | None:
        if seq >= self._count:
            return None
        coro: Any = self._fetch(seq)
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _next_chunk(self) -> bool:
        if self._seq >= self._count:
            return False
        pending = self._ahead if self._ahead is not None else self._request(self._seq)
        assert pending is not None
        data = pending.result()
        # One query at a time on the connection: ask for the next chunk only now, so the
        # loop reads it while this thread works on the current one.
        self._ahead = self._request(self._seq + 1)
        self._seq += 1
        if data is None:
            self._count = self._seq - 1  # stop here: the rest is missing
            return False
        self._current = memoryview(data)
        return True

    def readinto(self, view: memoryview) -> int:
        got = 0
        want = len(view)
        while got < want:
            if not self._current and not self._next_chunk():
                break
            n = min(want - got, len(self._current))
            view[got : got + n] = self._current[:n]
            self._current = self._current[n:]
            got += n
        self.bytes_read += got
        return got

    def drain(self) -> None:
        """Wait for a chunk still in flight, so nothing runs on the loop after us."""
        if self._ahead is not None:
            self._ahead.result()
            self._ahead = None


def peek_signer_key_id(prefix: bytes) -> str | None | bool:
    """The ``signer_key_id`` of an envelope from its first bytes, to pick which of the
    bidder's registered keys to check it with.

    Returns ``False`` while more bytes are needed, ``None`` when the prefix cannot be an
    envelope header (the inspector will say exactly why), else the key id.
    """
    if len(prefix) < PREAMBLE_SIZE:
        return None if not MAGIC.startswith(prefix[: len(MAGIC)]) else False
    magic, _version, header_len = struct.unpack(">10sBI", prefix[:PREAMBLE_SIZE])
    if magic != MAGIC or not 0 < header_len <= MAX_HEADER_SIZE:
        return None
    if len(prefix) < PREAMBLE_SIZE + header_len:
        return False
    try:
        header = json.loads(prefix[PREAMBLE_SIZE : PREAMBLE_SIZE + header_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    key = header.get("signer_key_id") if isinstance(header, dict) else None
    return key if isinstance(key, str) else None


# ---------------------------------------------------------------------------- evaluation keys

EVALUATION_KEY_FILE = Path("keys") / "evaluation-master.key"


class EvaluationKeys:
    """The key-encryption key of the evaluation (docs/bidding.md, "Reading the bids during
    evaluation"): 32 random bytes in ``<SUNLIT_DATA>/keys/evaluation-master.key`` (0600, made
    on first start), never in the database. At the opening the tender's rebuilt opening
    private key is wrapped under it (AES-256-GCM; the associated data names the tender and
    its opening public key, so a wrapped key copied onto another tender does not open); the
    server unwraps it in memory only to serve a seated member's read while the evaluation
    is open. ``kek_id`` (16 hex digits of a hash of the key) says which key wrapped a row.
    """

    __slots__ = ("_aead", "kek_id")

    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise ValueError("the evaluation master key must be 32 bytes")
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"sunlit-bidding/evaluation-kek"
        ).derive(master)
        self._aead = AESGCM(key)
        self.kek_id = hashlib.sha256(b"sunlit-evaluation-kek-id:" + master).hexdigest()[:16]

    @classmethod
    def load_or_create(cls, data_dir: Path) -> EvaluationKeys:
        path = data_dir / EVALUATION_KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                pass
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(secrets.token_bytes(32))
        return cls(path.read_bytes())

    @staticmethod
    def _aad(tender_id: int, opening_public_key: bytes) -> bytes:
        return f"sunlit-evaluation-key:{tender_id}:".encode() + opening_public_key

    def wrap(self, tender_id: int, opening_public_key: bytes, private: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, private, self._aad(tender_id, opening_public_key))

    def unwrap(self, tender_id: int, opening_public_key: bytes, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(
                wrapped[:12], wrapped[12:], self._aad(tender_id, opening_public_key)
            )
        except InvalidTag:
            raise ValueError(
                f"the evaluation key of tender {tender_id} does not open with this key"
            ) from None

    def __repr__(self) -> str:
        return f"EvaluationKeys(kek_id={self.kek_id})"
