"""Inspecting: the server's push parser, which checks an envelope's structure, header and
signature as its bytes arrive, without a key and without keeping the chunks."""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Any

from crypto.errors import EnvelopeCode, EnvelopeError

from .checks import (
    _check_expected,
    _check_magic_prefix,
    _check_record,
    _Kind,
    _parse_header,
    _parse_preamble,
    _signature_message,
)
from .format import (
    _READ_SIZE,
    _RECORD,
    PREAMBLE_SIZE,
    RECORD_HEAD_SIZE,
    EnvelopeHeader,
    EnvelopeInfo,
)
from .source import _Source
from .suites import SIGNATURE_SCHEMES, SUITES, SignatureScheme

__all__ = [
    "EnvelopeInspector",
    "inspect",
]


class _State(Enum):
    PREAMBLE = "preamble"
    HEADER = "header"
    RECORD_HEAD = "record_head"
    BODY = "body"
    SIGNATURE = "signature"
    DONE = "done"


class EnvelopeInspector:
    """Push parser for an envelope arriving in pieces (a streaming upload).

    ``feed(data)`` as bytes arrive, ``finish()`` at the end. Every check is made as soon
    as its bytes are in: plaintext is refused on its first bytes, a foreign tender as soon
    as the header is complete, a bad signature when the signature record is. After the
    first error every call raises that error again. Memory: the header (<= 4 KiB) and one
    record head; chunk bodies are hashed as they pass, never kept.

    What it cannot check, by design: that the chunks decrypt (it has no key).
    """

    def __init__(
        self,
        *,
        bidder_public: bytes,
        expected_tender_id: str | None,
        expected_bidder_id: str | None,
        expected_recipient_public: bytes | None = None,
        max_envelope_bytes: int | None = None,
    ) -> None:
        self._bidder_public = bytes(bidder_public)
        self._tender_id = expected_tender_id
        self._bidder_id = expected_bidder_id
        self._recipient_public = expected_recipient_public
        self._max_size = max_envelope_bytes
        self._hash = hashlib.sha256()
        self._state = _State.PREAMBLE
        self._buf = bytearray()
        self._need = PREAMBLE_SIZE
        self._preamble = b""
        self._header: EnvelopeHeader | None = None
        self._tag_size = 0
        self._scheme: SignatureScheme | None = None
        self._index = 0
        self._seen_last = False
        self._remaining = 0
        self._size = 0
        self._plaintext_size = 0
        self._signed_digest = b""
        self._error: EnvelopeError | None = None
        self._info: EnvelopeInfo | None = None

    @property
    def header(self) -> EnvelopeHeader | None:
        """The parsed header, once it has arrived and passed its checks."""
        return self._header

    @property
    def bytes_seen(self) -> int:
        return self._size

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._error is not None:
            raise self._error
        try:
            self._feed(memoryview(data).cast("B"))
        except EnvelopeError as exc:
            self._error = exc
            raise

    def finish(self) -> EnvelopeInfo:
        """The envelope's info; ``EnvelopeError(truncated)`` if it is incomplete."""
        if self._error is not None:
            raise self._error
        if self._info is None:
            self._error = EnvelopeError(
                EnvelopeCode.TRUNCATED, f"ended after {self._size} bytes in {self._state.value}"
            )
            raise self._error
        return self._info

    def _feed(self, view: memoryview) -> None:
        if not view:
            return
        if self._state is _State.DONE:
            raise EnvelopeError(EnvelopeCode.MALFORMED, "data after the signature")
        self._size += len(view)
        if self._max_size is not None and self._size > self._max_size:
            raise EnvelopeError(EnvelopeCode.TOO_LARGE, f"over {self._max_size} bytes")
        pos = 0
        end = len(view)
        while pos < end:
            if self._state is _State.DONE:
                raise EnvelopeError(EnvelopeCode.MALFORMED, "data after the signature")
            if self._state is _State.BODY:
                take = min(self._remaining, end - pos)
                self._hash.update(view[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._end_body()
                continue
            take = min(self._need - len(self._buf), end - pos)
            self._buf += view[pos : pos + take]
            pos += take
            if self._state is _State.PREAMBLE:
                _check_magic_prefix(self._buf)
            if len(self._buf) == self._need:
                piece = bytes(self._buf)
                self._buf.clear()
                self._on_piece(piece)

    def _on_piece(self, piece: bytes) -> None:
        self._hash.update(piece)
        if self._state is _State.PREAMBLE:
            self._need = _parse_preamble(piece)
            self._preamble = piece
            self._state = _State.HEADER
        elif self._state is _State.HEADER:
            header = _parse_header(self._preamble, piece)
            scheme = SIGNATURE_SCHEMES[header.signature_scheme]
            _check_expected(
                header,
                tender_id=self._tender_id,
                bidder_id=self._bidder_id,
                recipient_public=self._recipient_public,
                signer_public=self._bidder_public,
            )
            self._header = header
            self._tag_size = SUITES[header.suite].tag_size
            self._scheme = scheme
            self._need = RECORD_HEAD_SIZE
            self._state = _State.RECORD_HEAD
        elif self._state is _State.RECORD_HEAD:
            assert self._header is not None and self._scheme is not None
            tag, index, length = _RECORD.unpack(piece)
            kind = _check_record(
                tag,
                index,
                length,
                expected_index=self._index,
                seen_last=self._seen_last,
                header=self._header,
                tag_size=self._tag_size,
                signature_size=self._scheme.signature_size,
            )
            if kind is _Kind.SIGNATURE:
                self._need = length
                self._state = _State.SIGNATURE
            else:
                self._seen_last = kind is _Kind.LAST
                self._plaintext_size += length - self._tag_size
                self._remaining = length
                self._state = _State.BODY
        elif self._state is _State.SIGNATURE:
            assert self._header is not None and self._scheme is not None
            message = _signature_message(self._signed_digest)
            if not self._scheme.verify(self._bidder_public, piece, message):
                raise EnvelopeError(EnvelopeCode.BAD_SIGNATURE)
            self._state = _State.DONE
            self._info = EnvelopeInfo(
                header=self._header,
                envelope_sha256=self._hash.hexdigest(),
                envelope_size_bytes=self._size,
                plaintext_size_bytes=self._plaintext_size,
                chunk_count=self._index,
            )

    def _end_body(self) -> None:
        self._index += 1
        if self._seen_last:
            self._signed_digest = self._hash.digest()
        self._need = RECORD_HEAD_SIZE
        self._state = _State.RECORD_HEAD


def inspect(
    reader: Any,
    bidder_public: bytes,
    expected_tender_id: str | None,
    expected_bidder_id: str | None,
    *,
    expected_recipient_public: bytes | None = None,
    max_envelope_bytes: int | None = None,
) -> EnvelopeInfo:
    """Run an :class:`EnvelopeInspector` over a whole reader, 1 MiB at a time."""
    inspector = EnvelopeInspector(
        bidder_public=bidder_public,
        expected_tender_id=expected_tender_id,
        expected_bidder_id=expected_bidder_id,
        expected_recipient_public=expected_recipient_public,
        max_envelope_bytes=max_envelope_bytes,
    )
    source = _Source(reader)
    view = memoryview(bytearray(_READ_SIZE))
    while n := source.fill(view):
        inspector.feed(view[:n])
    return inspector.finish()
