"""Sealing: encrypt and sign a payload of any size into an envelope, in constant memory."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from typing import Any

from crypto.errors import EnvelopeCode, EnvelopeError
from crypto.keys import key_id
from crypto.signing import SigningKey, canonical_json, public_key_bytes

from .checks import _chunk_ad, _is_id, _parse_header, _signature_message
from .format import (
    _PREAMBLE,
    _RECORD,
    DEFAULT_CHUNK_SIZE,
    FORMAT_VERSION,
    MAGIC,
    MAX_CHUNK_SIZE,
    MAX_CHUNKS,
    MAX_HEADER_SIZE,
    MAX_ID_CHARS,
    MIN_CHUNK_SIZE,
    RECORD_HEAD_SIZE,
    TAG_CHUNK,
    TAG_LAST,
    TAG_SIGNATURE,
    EnvelopeInfo,
    SealResult,
)
from .source import _Source
from .suites import DEFAULT_SUITE, SUITES

__all__ = [
    "seal",
    "seal_bytes",
]


def seal(
    reader: Any,
    writer: Any,
    *,
    recipient_public: bytes,
    tender_id: str,
    bidder_id: str,
    signing_key: SigningKey,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    suite: str = DEFAULT_SUITE,
    randbytes: Callable[[int], bytes] = os.urandom,
) -> SealResult:
    """Encrypt everything ``reader`` yields to ``recipient_public`` (the tender's opening
    key), sign it with the bidder's Ed25519 ``signing_key``, write the envelope to
    ``writer``. Memory: two plaintext buffers and one record buffer of ``chunk_size``."""
    if not _is_id(tender_id) or not _is_id(bidder_id):
        raise ValueError(f"ids must be 1..{MAX_ID_CHARS} characters of valid text")
    if type(chunk_size) is not int or not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}")
    chosen = SUITES.get(suite)
    if chosen is None:
        raise ValueError(f"unknown suite {suite!r}")
    params, cipher = chosen.start_seal(bytes(recipient_public), randbytes)
    header_obj = {
        "bidder_id": bidder_id,
        "chunk_size": chunk_size,
        "params": params,
        "recipient_key_id": key_id(bytes(recipient_public)),
        "signature_scheme": "Ed25519",
        "signer_key_id": key_id(public_key_bytes(signing_key)),
        "suite": chosen.name,
        "suite_version": chosen.version,
        "tender_id": tender_id,
    }
    raw = canonical_json(header_obj)
    if len(raw) > MAX_HEADER_SIZE:
        raise ValueError("header too large: shorten the ids")
    preamble = _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(raw))
    header = _parse_header(preamble, raw)  # the sealer obeys the parser's rules too

    hasher = hashlib.sha256(preamble + raw)
    writer.write(preamble + raw)
    size = len(preamble) + len(raw)

    source = _Source(reader)
    tag_size = cipher.tag_size
    record = bytearray(RECORD_HEAD_SIZE + chunk_size + tag_size)
    record_view = memoryview(record)
    body_view = record_view[RECORD_HEAD_SIZE:]
    current = memoryview(bytearray(chunk_size))
    ahead = memoryview(bytearray(chunk_size))

    index = 0
    plaintext_size = 0
    n = source.fill(current)
    while True:
        # Read one chunk ahead: a full chunk is the last only if nothing follows it.
        n_next = source.fill(ahead) if n == chunk_size else 0
        last = n_next == 0
        if index >= MAX_CHUNKS:
            raise EnvelopeError(EnvelopeCode.TOO_LARGE, "too many chunks")
        length = n + tag_size
        _RECORD.pack_into(record, 0, TAG_LAST if last else TAG_CHUNK, index, length)
        cipher.encrypt_into(
            index, last, _chunk_ad(header.sha256, index, last), current[:n], body_view[:length]
        )
        out = record_view[: RECORD_HEAD_SIZE + length]
        hasher.update(out)
        writer.write(out)
        size += RECORD_HEAD_SIZE + length
        plaintext_size += n
        index += 1
        if last:
            break
        current, ahead, n = ahead, current, n_next

    signature = signing_key.sign(_signature_message(hasher.digest()))
    trailer = _RECORD.pack(TAG_SIGNATURE, index, len(signature)) + signature
    hasher.update(trailer)
    writer.write(trailer)
    size += len(trailer)
    return EnvelopeInfo(
        header=header,
        envelope_sha256=hasher.hexdigest(),
        envelope_size_bytes=size,
        plaintext_size_bytes=plaintext_size,
        chunk_count=index,
    )


def seal_bytes(
    plaintext: bytes,
    *,
    recipient_public: bytes,
    tender_id: str,
    bidder_id: str,
    signing_key: SigningKey,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    randbytes: Callable[[int], bytes] = os.urandom,
) -> bytes:
    """:func:`seal` for a payload already in memory."""
    out = io.BytesIO()
    seal(
        io.BytesIO(plaintext),
        out,
        recipient_public=recipient_public,
        tender_id=tender_id,
        bidder_id=bidder_id,
        signing_key=signing_key,
        chunk_size=chunk_size,
        randbytes=randbytes,
    )
    return out.getvalue()
