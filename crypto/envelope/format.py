"""The envelope's byte layout: magic, version, size limits, record tags, the framing
structs; the parsed header and what sealing, inspecting and opening return."""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_CHUNK_SIZE",
    "MAX_HEADER_SIZE",
    "MIN_CHUNK_SIZE",
    "EnvelopeHeader",
    "EnvelopeInfo",
    "OpenResult",
    "SealResult",
]

MAGIC = b"SUNLIT-ENV"
FORMAT_VERSION = 1
MAX_HEADER_SIZE = 4096
MIN_CHUNK_SIZE = 64
MAX_CHUNK_SIZE = 16 * 1024 * 1024
DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_ID_CHARS = 256
MAX_CHUNKS = 2**32  # indices are u32

TAG_CHUNK = 0x00
TAG_LAST = 0x01
TAG_SIGNATURE = 0x02

SIGNATURE_LABEL = b"sunlit/envelope-signature/v1\x00"

_PREAMBLE = struct.Struct(">10sBI")
_RECORD = struct.Struct(">BII")
_CHUNK_AD = struct.Struct(">IB")
PREAMBLE_SIZE = _PREAMBLE.size
RECORD_HEAD_SIZE = _RECORD.size
_READ_SIZE = 1024 * 1024

_HEADER_KEYS = frozenset(
    {
        "bidder_id",
        "chunk_size",
        "params",
        "recipient_key_id",
        "signature_scheme",
        "signer_key_id",
        "suite",
        "suite_version",
        "tender_id",
    }
)
_KEY_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class EnvelopeHeader:
    """The parsed header. ``raw`` is the exact header bytes; ``sha256`` is
    ``sha256(preamble || raw)``, the value bound into every chunk."""

    suite: str
    suite_version: int
    signature_scheme: str
    tender_id: str
    bidder_id: str
    recipient_key_id: str
    signer_key_id: str
    chunk_size: int
    params: Mapping[str, str]
    raw: bytes = field(repr=False)
    sha256: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class EnvelopeInfo:
    """What sealing or inspecting an envelope established."""

    header: EnvelopeHeader
    envelope_sha256: str  # lowercase hex of the whole envelope: the bid hash
    envelope_size_bytes: int
    plaintext_size_bytes: int
    chunk_count: int


SealResult = EnvelopeInfo


@dataclass(frozen=True, slots=True)
class OpenResult:
    """What opening established. ``envelope_sha256`` is computed, and the signature
    checked, only when the bidder's public key was given."""

    header: EnvelopeHeader
    plaintext_size_bytes: int
    envelope_size_bytes: int
    chunk_count: int
    signature_verified: bool
    envelope_sha256: str | None
