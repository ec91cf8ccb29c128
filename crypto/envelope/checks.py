"""The checks the three drivers share: preamble, header, what the caller expects, record
heads, and the bytes each chunk and the signature are bound to."""

from __future__ import annotations

import hashlib
import json
from enum import Enum

from crypto.errors import EnvelopeCode, EnvelopeError
from crypto.keys import key_id
from crypto.signing import canonical_json

from .format import (
    _CHUNK_AD,
    _HEADER_KEYS,
    _KEY_ID,
    _PREAMBLE,
    FORMAT_VERSION,
    MAGIC,
    MAX_CHUNK_SIZE,
    MAX_CHUNKS,
    MAX_HEADER_SIZE,
    MAX_ID_CHARS,
    MIN_CHUNK_SIZE,
    SIGNATURE_LABEL,
    TAG_CHUNK,
    TAG_LAST,
    TAG_SIGNATURE,
    EnvelopeHeader,
)
from .suites import SIGNATURE_SCHEMES, SUITES


def _check_magic_prefix(data: bytes) -> None:
    head = bytes(data[: len(MAGIC)])
    if not MAGIC.startswith(head):
        raise EnvelopeError(EnvelopeCode.NOT_AN_ENVELOPE)


def _parse_preamble(preamble: bytes) -> int:
    magic, version, header_len = _PREAMBLE.unpack(preamble)
    if magic != MAGIC:
        raise EnvelopeError(EnvelopeCode.NOT_AN_ENVELOPE)
    if version != FORMAT_VERSION:
        raise EnvelopeError(EnvelopeCode.UNSUPPORTED_VERSION, f"version {version}")
    if header_len > MAX_HEADER_SIZE:
        raise EnvelopeError(EnvelopeCode.TOO_LARGE, f"header of {header_len} bytes")
    if header_len == 0:
        raise EnvelopeError(EnvelopeCode.MALFORMED, "empty header")
    return header_len


def _is_id(value: object) -> bool:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_CHARS:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form
        return False
    return True


def _parse_header(preamble: bytes, raw: bytes) -> EnvelopeHeader:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EnvelopeError(EnvelopeCode.MALFORMED, "header is not JSON") from exc
    if not isinstance(obj, dict):
        raise EnvelopeError(EnvelopeCode.MALFORMED, "header is not an object")
    suite = SUITES.get(obj.get("suite")) if isinstance(obj.get("suite"), str) else None
    if suite is None or type(obj.get("suite_version")) is not int:
        raise EnvelopeError(EnvelopeCode.UNKNOWN_SUITE, repr(obj.get("suite"))[:80])
    if obj["suite_version"] != suite.version:
        raise EnvelopeError(EnvelopeCode.UNKNOWN_SUITE, f"{suite.name} v{obj['suite_version']}")
    scheme = obj.get("signature_scheme")
    if not isinstance(scheme, str) or scheme not in SIGNATURE_SCHEMES:
        raise EnvelopeError(EnvelopeCode.UNKNOWN_SUITE, f"signature {scheme!r}"[:80])
    if set(obj) != _HEADER_KEYS:
        raise EnvelopeError(EnvelopeCode.MALFORMED, "header fields")
    for name in ("tender_id", "bidder_id"):
        if not _is_id(obj[name]):
            raise EnvelopeError(EnvelopeCode.MALFORMED, name)
    for name in ("recipient_key_id", "signer_key_id"):
        if not isinstance(obj[name], str) or _KEY_ID.fullmatch(obj[name]) is None:
            raise EnvelopeError(EnvelopeCode.MALFORMED, name)
    chunk_size = obj["chunk_size"]
    if type(chunk_size) is not int or chunk_size < MIN_CHUNK_SIZE:
        raise EnvelopeError(EnvelopeCode.MALFORMED, "chunk_size")
    if chunk_size > MAX_CHUNK_SIZE:
        raise EnvelopeError(EnvelopeCode.TOO_LARGE, f"chunk_size {chunk_size}")
    params = suite.check_params(obj["params"])
    if canonical_json(obj) != raw:  # one header, one spelling: nothing to malleate
        raise EnvelopeError(EnvelopeCode.MALFORMED, "header is not canonical JSON")
    return EnvelopeHeader(
        suite=suite.name,
        suite_version=suite.version,
        signature_scheme=scheme,
        tender_id=obj["tender_id"],
        bidder_id=obj["bidder_id"],
        recipient_key_id=obj["recipient_key_id"],
        signer_key_id=obj["signer_key_id"],
        chunk_size=chunk_size,
        params=params,
        raw=bytes(raw),
        sha256=hashlib.sha256(preamble + raw).digest(),
    )


def _check_expected(
    header: EnvelopeHeader,
    *,
    tender_id: str | None,
    bidder_id: str | None,
    recipient_public: bytes | None,
    signer_public: bytes | None,
) -> None:
    if tender_id is not None and header.tender_id != tender_id:
        raise EnvelopeError(EnvelopeCode.HEADER_MISMATCH, "tender_id")
    if bidder_id is not None and header.bidder_id != bidder_id:
        raise EnvelopeError(EnvelopeCode.HEADER_MISMATCH, "bidder_id")
    if recipient_public is not None and header.recipient_key_id != key_id(recipient_public):
        raise EnvelopeError(EnvelopeCode.WRONG_RECIPIENT)
    if signer_public is not None and header.signer_key_id != key_id(signer_public):
        raise EnvelopeError(EnvelopeCode.BAD_SIGNATURE, "signed with another key")


class _Kind(Enum):
    CHUNK = "chunk"
    LAST = "last"
    SIGNATURE = "signature"


def _check_record(
    tag: int,
    index: int,
    length: int,
    *,
    expected_index: int,
    seen_last: bool,
    header: EnvelopeHeader,
    tag_size: int,
    signature_size: int,
) -> _Kind:
    """Classify a record head, or raise with the code of the first rule it breaks."""
    if tag not in (TAG_CHUNK, TAG_LAST, TAG_SIGNATURE):
        raise EnvelopeError(EnvelopeCode.MALFORMED, f"record tag {tag}")
    if seen_last:
        if tag != TAG_SIGNATURE:
            raise EnvelopeError(EnvelopeCode.CHUNK_OUT_OF_ORDER, "chunk after the last chunk")
        if index != expected_index or length != signature_size:
            raise EnvelopeError(EnvelopeCode.MALFORMED, "signature record")
        return _Kind.SIGNATURE
    if tag == TAG_SIGNATURE:
        raise EnvelopeError(EnvelopeCode.TRUNCATED, "no last chunk before the signature")
    if expected_index >= MAX_CHUNKS:
        raise EnvelopeError(EnvelopeCode.TOO_LARGE, "too many chunks")
    if index != expected_index:
        raise EnvelopeError(
            EnvelopeCode.CHUNK_OUT_OF_ORDER, f"chunk {index} where {expected_index} belongs"
        )
    full = header.chunk_size + tag_size
    if tag == TAG_CHUNK:
        if length != full:
            raise EnvelopeError(EnvelopeCode.MALFORMED, f"chunk {index} of {length} bytes")
        return _Kind.CHUNK
    if not tag_size <= length <= full or (length == tag_size and index > 0):
        raise EnvelopeError(EnvelopeCode.MALFORMED, f"last chunk of {length} bytes")
    return _Kind.LAST


def _chunk_ad(header_sha256: bytes, index: int, last: bool) -> bytes:
    return header_sha256 + _CHUNK_AD.pack(index, last)


def _signature_message(digest: bytes) -> bytes:
    return SIGNATURE_LABEL + digest
