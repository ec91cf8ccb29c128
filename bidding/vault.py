"""The vault: sealed envelopes and tender documents stored in PostgreSQL as chunk rows.

An upload is written while it streams in: :class:`BlobWriter` collects bytes into one
buffer of ``chunk_bytes`` and inserts a ``blob_chunks`` row each time it fills, inside the
caller's transaction — so an upload that fails (bad envelope, over the limit, past the
deadline, connection cut) leaves nothing: the transaction rolls back, nothing is stored
half. Memory per upload is one chunk buffer, whatever the size of the file.

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
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

import asyncpg

from bidding import store
from crypto.envelope.format import MAGIC, MAX_HEADER_SIZE, PREAMBLE_SIZE

__all__ = ["BlobWriter", "StoredBlob", "ThreadBlobReader", "iter_blob", "peek_signer_key_id"]


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
