"""A deterministic random stream: HMAC-SHA256 in counter mode.

Theory of operation
-------------------
A stream is fully determined by one key (at least 16 bytes, in practice 32). Its bytes
are the concatenation of blocks::

    block(j) = HMAC-SHA256(key, 0x00 || uint64_be(j))        j = 0, 1, 2, ...
    stream   = block(0) || block(1) || block(2) || ...

and are consumed strictly in order: every ``read``, ``randbits`` and ``randbelow`` takes
the next unread bytes, so the same key and the same sequence of calls always give the
same values. HMAC-SHA256 is a PRF; in counter mode it is the construction of NIST
SP 800-108 §4.1 without the output-length field (the length is not known in advance).

A named sub-stream has its own key, independent of the parent's blocks::

    substream_key(key, label) = HMAC-SHA256(key, 0x01 || label)

The leading 0x00 / 0x01 byte separates the two uses of the key so a sub-stream key can
never equal a block of the parent stream.

``randbelow(n)`` is uniform on ``[0, n)`` with no modulo bias, by rejection sampling:
``k = bit_length(n - 1)``; take the next ``ceil(k / 8)`` bytes as a big-endian integer;
keep its low ``k`` bits; accept if the value is below ``n``, otherwise discard those bytes
and try again with the next ones. More than half of all candidates are accepted, so the
expected number of tries is below 2. ``randbelow(1)`` is 0 and consumes nothing.

Nothing here reads the clock or the operating system's randomness: a stream is a pure
function of its key. Generating the key (``secrets.token_bytes(32)``) is the caller's job.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = [
    "BLOCK_BYTES",
    "KEY_MIN_BYTES",
    "HmacStream",
    "hmac_sha256",
]

BLOCK_BYTES = 32
KEY_MIN_BYTES = 16
_READ_MAX_BYTES = 1 << 20  # one read never asks for more than 1 MiB
_BLOCK_TAG = b"\x00"
_SUBSTREAM_TAG = b"\x01"


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256(key, message), 32 raw bytes."""
    return hmac.digest(key, message, hashlib.sha256)


class HmacStream:
    """The byte stream ``block(0) || block(1) || ...`` of one key, read in order.

    Not thread-safe and not meant to be: one stream belongs to one computation.
    """

    __slots__ = ("_buffer", "_consumed_bytes", "_key", "_next_block", "_offset")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray):
            raise TypeError("the stream key must be bytes")
        if len(key) < KEY_MIN_BYTES:
            raise ValueError(f"the stream key must be at least {KEY_MIN_BYTES} bytes")
        self._key = bytes(key)
        self._next_block = 0
        self._buffer = b""
        self._offset = 0
        self._consumed_bytes = 0

    @property
    def consumed_bytes(self) -> int:
        """How many bytes of the stream have been read so far."""
        return self._consumed_bytes

    def substream(self, label: bytes) -> HmacStream:
        """An independent stream keyed ``HMAC-SHA256(key, 0x01 || label)``.

        Depends only on this stream's key and ``label``, not on how much has been read.
        """
        return HmacStream(hmac_sha256(self._key, _SUBSTREAM_TAG + bytes(label)))

    def read(self, n: int) -> bytes:
        """The next ``n`` bytes of the stream."""
        if n < 0 or n > _READ_MAX_BYTES:
            raise ValueError(f"read size must be in [0, {_READ_MAX_BYTES}]")
        available = len(self._buffer) - self._offset
        if available < n:
            blocks_needed = (n - available + BLOCK_BYTES - 1) // BLOCK_BYTES
            key = self._key
            first = self._next_block
            fresh = b"".join(
                hmac.digest(key, _BLOCK_TAG + j.to_bytes(8, "big"), hashlib.sha256)
                for j in range(first, first + blocks_needed)
            )
            self._next_block = first + blocks_needed
            self._buffer = self._buffer[self._offset :] + fresh
            self._offset = 0
        out = self._buffer[self._offset : self._offset + n]
        self._offset += n
        self._consumed_bytes += n
        return out

    def randbits(self, k: int) -> int:
        """A uniform integer in ``[0, 2**k)``: the low ``k`` bits of the next
        ``ceil(k / 8)`` bytes read big-endian."""
        if k < 0:
            raise ValueError("the number of bits must not be negative")
        if k == 0:
            return 0
        chunk = self.read((k + 7) // 8)
        return int.from_bytes(chunk, "big") & ((1 << k) - 1)

    def randbelow(self, n: int) -> int:
        """A uniform integer in ``[0, n)`` by rejection sampling (no modulo bias)."""
        if n <= 0:
            raise ValueError("randbelow needs a positive bound")
        k = (n - 1).bit_length()
        if k == 0:
            return 0
        nbytes = (k + 7) // 8
        mask = (1 << k) - 1
        while True:
            r = int.from_bytes(self.read(nbytes), "big") & mask
            if r < n:
                return r
