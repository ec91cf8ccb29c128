"""Opening: decrypt an envelope chunk by chunk with the tender's opening key, checking
everything the inspector checks and that every chunk authenticates."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from crypto.errors import EnvelopeCode, EnvelopeError
from crypto.keys import x25519_public

from .checks import (
    _check_expected,
    _check_magic_prefix,
    _check_record,
    _chunk_ad,
    _Kind,
    _parse_header,
    _parse_preamble,
    _signature_message,
)
from .format import _RECORD, PREAMBLE_SIZE, RECORD_HEAD_SIZE, OpenResult
from .source import _Source
from .suites import SIGNATURE_SCHEMES, SUITES

__all__ = [
    "open_bytes",
    "open_envelope",
]


def open_envelope(
    reader: Any,
    writer: Any,
    *,
    recipient_private: bytes,
    expected_tender_id: str,
    expected_bidder_id: str,
    bidder_public: bytes | None = None,
) -> OpenResult:
    """Decrypt an envelope with the tender's opening private key, writing the plaintext.

    Checks everything the inspector checks (the signature only when ``bidder_public`` is
    given), and that every chunk authenticates. Each chunk's plaintext is written once
    that chunk authenticates; truncation and the signature are known only at the end, so
    on ``EnvelopeError`` everything written must be discarded.
    """
    source = _Source(reader)
    preamble = source.read_exact(PREAMBLE_SIZE)
    _check_magic_prefix(preamble)
    if len(preamble) < PREAMBLE_SIZE:
        raise EnvelopeError(EnvelopeCode.TRUNCATED, "in the preamble")
    header_len = _parse_preamble(preamble)
    raw = source.read_exact(header_len)
    if len(raw) < header_len:
        raise EnvelopeError(EnvelopeCode.TRUNCATED, "in the header")
    header = _parse_header(preamble, raw)
    suite = SUITES[header.suite]
    scheme = SIGNATURE_SCHEMES[header.signature_scheme]
    _check_expected(
        header,
        tender_id=expected_tender_id,
        bidder_id=expected_bidder_id,
        recipient_public=x25519_public(recipient_private),
        signer_public=bidder_public,
    )
    _, cipher = suite.start_open(header.params, recipient_private)
    hasher = hashlib.sha256(preamble + raw) if bidder_public is not None else None
    size = len(preamble) + len(raw)

    tag_size = cipher.tag_size
    body = memoryview(bytearray(header.chunk_size + tag_size))
    out = memoryview(bytearray(header.chunk_size))
    head_buf = memoryview(bytearray(RECORD_HEAD_SIZE))
    index = 0
    plaintext_size = 0
    seen_last = False
    signed_digest = b""
    while True:
        if source.fill(head_buf) < RECORD_HEAD_SIZE:
            raise EnvelopeError(EnvelopeCode.TRUNCATED, f"before record {index}")
        tag, record_index, length = _RECORD.unpack(head_buf)
        kind = _check_record(
            tag,
            record_index,
            length,
            expected_index=index,
            seen_last=seen_last,
            header=header,
            tag_size=tag_size,
            signature_size=scheme.signature_size,
        )
        size += RECORD_HEAD_SIZE + length
        if kind is _Kind.SIGNATURE:
            break
        data = body[:length]
        if source.fill(data) < length:
            raise EnvelopeError(EnvelopeCode.TRUNCATED, f"in chunk {index}")
        if hasher is not None:
            hasher.update(head_buf)
            hasher.update(data)
        seen_last = kind is _Kind.LAST
        plain = out[: length - tag_size]
        cipher.decrypt_into(
            index, seen_last, _chunk_ad(header.sha256, index, seen_last), data, plain
        )
        writer.write(plain)
        plaintext_size += length - tag_size
        index += 1
        if seen_last and hasher is not None:
            signed_digest = hasher.digest()

    signature = source.read_exact(length)
    if len(signature) < length:
        raise EnvelopeError(EnvelopeCode.TRUNCATED, "in the signature")
    if source.fill(memoryview(bytearray(1))):
        raise EnvelopeError(EnvelopeCode.MALFORMED, "data after the signature")
    envelope_sha256: str | None = None
    if hasher is not None and bidder_public is not None:
        if not scheme.verify(bidder_public, signature, _signature_message(signed_digest)):
            raise EnvelopeError(EnvelopeCode.BAD_SIGNATURE)
        hasher.update(head_buf)
        hasher.update(signature)
        envelope_sha256 = hasher.hexdigest()
    return OpenResult(
        header=header,
        plaintext_size_bytes=plaintext_size,
        envelope_size_bytes=size,
        chunk_count=index,
        signature_verified=envelope_sha256 is not None,
        envelope_sha256=envelope_sha256,
    )


def open_bytes(
    envelope: bytes,
    *,
    recipient_private: bytes,
    expected_tender_id: str,
    expected_bidder_id: str,
    bidder_public: bytes | None = None,
) -> bytes:
    """:func:`open_envelope` for an envelope already in memory."""
    out = io.BytesIO()
    open_envelope(
        io.BytesIO(envelope),
        out,
        recipient_private=recipient_private,
        expected_tender_id=expected_tender_id,
        expected_bidder_id=expected_bidder_id,
        bidder_public=bidder_public,
    )
    return out.getvalue()
