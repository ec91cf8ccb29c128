"""Reading: one ``fill(view)`` over binary files, ``read`` objects and iterables of bytes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any


class _Source:
    """Uniform ``fill(view) -> count`` over readinto/read objects and byte iterables."""

    def __init__(self, reader: Any) -> None:
        self._readinto: Callable[[memoryview], int | None] | None = None
        self._read: Callable[[int], bytes] | None = None
        self._pieces: Iterator[bytes] | None = None
        self._pending = memoryview(b"")
        if hasattr(reader, "readinto"):
            self._readinto = reader.readinto
        elif hasattr(reader, "read"):
            self._read = reader.read
        elif isinstance(reader, Iterable) and not isinstance(reader, bytes | bytearray | str):
            self._pieces = iter(reader)
        else:
            raise TypeError("reader must have readinto/read or be an iterable of bytes")

    def fill(self, view: memoryview) -> int:
        """Read until ``view`` is full or the source ends; return the bytes read."""
        want = len(view)
        got = 0
        while got < want:
            if self._readinto is not None:
                n = self._readinto(view[got:])
                if n is None:
                    raise ValueError("non-blocking readers are not supported")
            elif self._read is not None:
                data = self._read(want - got)
                n = len(data)
                view[got : got + n] = data
            else:
                n = self._from_pieces(view[got:])
            if n == 0:
                break
            got += n
        return got

    def _from_pieces(self, view: memoryview) -> int:
        assert self._pieces is not None
        while not self._pending:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._pending = memoryview(piece).cast("B")
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def read_exact(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the source."""
        buf = bytearray(n)
        got = self.fill(memoryview(buf))
        return bytes(buf[:got])
