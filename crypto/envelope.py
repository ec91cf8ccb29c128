"""The sealed envelope: a bid of any size, encrypted to a tender's opening key and signed
by its bidder, sealed and opened in constant memory.

Theory of operation (the byte-level spec is ``docs/crypto.md``)::

    envelope  := preamble header record* last signature
    preamble  := "SUNLIT-ENV" | version u8 (=1) | header_len u32be            15 bytes
    header    := canonical JSON (sorted keys, no spaces, UTF-8), <= 4096 bytes
    record    := tag u8 | index u32be | length u32be | body[length]          9 + length
                 tag 0x00 chunk, 0x01 last chunk, 0x02 signature

The header names the suite ("X25519-HKDF-SHA256-AES256GCM", version 1), the tender, the
bidder, the key ids of the opening key (recipient) and of the bidder's signing key, the
chunk size, and the suite's parameters (ephemeral X25519 key, HKDF salt, nonce prefix).
Chunk ``i`` is ``AES-256-GCM(key, nonce = prefix7 || u32be(i) || last_flag,
ad = sha256(preamble || header) || u32be(i) || last_flag)``: the STREAM construction, so
a chunk moved, dropped, repeated or falsely marked last does not decrypt, and a stream cut
after any chunk lacks its marked last chunk. Every chunk but the last holds exactly
``chunk_size`` plaintext bytes; the last holds 1..chunk_size (0 only when the whole
plaintext is empty).

The signature record (index = number of chunks, 64 bytes) holds the bidder's Ed25519
signature of ``b"sunlit/envelope-signature/v1\\x00" || sha256(every byte before it)`` —
preamble, header and every chunk record with its framing. One running SHA-256 gives both
that digest and, continued over the signature record, the envelope's own SHA-256 (the bid
hash on the receipt and in the Merkle tree): the file is hashed once.

Three drivers share the checks: :func:`seal` (pull from a reader, push to a writer),
:class:`EnvelopeInspector` (push parser for the server: bytes in, in any pieces; it checks
structure, header expectations and the signature, and never holds more than a header and
a record head), and :func:`open_envelope` (pull, decrypt chunk by chunk). Memory is
bounded by ``chunk_size`` in all three.

``open_envelope`` writes each chunk's plaintext as soon as that chunk authenticates; a
truncated stream, a missing signature or a bad signature is detected only at the end, so
on any ``EnvelopeError`` the caller must discard everything written.

Readers: objects with ``readinto`` or ``read`` (binary files, ``io.BytesIO``), or any
iterable of bytes-like pieces. Writers: objects whose ``write(b)`` consumes all of ``b``
before returning and keeps no reference to it (binary files, ``io.BytesIO``); the drivers
reuse their buffers between calls.

Suites are registered in :data:`SUITES` by name, so a national suite (SM2 key agreement,
SM3 KDF, SM4-GCM) can be added beside the first without changing the format.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import EnvelopeCode, EnvelopeError, KeyFormatError
from crypto.keys import (
    KEY_SIZE,
    b64url_decode,
    b64url_encode,
    generate_x25519,
    key_id,
    x25519_exchange,
    x25519_public,
)
from crypto.signing import SigningKey, canonical_json, public_key_bytes
from crypto.signing import verify as ed25519_verify

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_SUITE",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_CHUNK_SIZE",
    "MAX_HEADER_SIZE",
    "MIN_CHUNK_SIZE",
    "SIGNATURE_SCHEMES",
    "SUITES",
    "ChunkCipher",
    "EnvelopeHeader",
    "EnvelopeInfo",
    "EnvelopeInspector",
    "OpenResult",
    "SealResult",
    "SignatureScheme",
    "Suite",
    "X25519AesGcmSuite",
    "inspect",
    "open_bytes",
    "open_envelope",
    "register_suite",
    "seal",
    "seal_bytes",
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


# ---------------------------------------------------------------------------- suites


class ChunkCipher(Protocol):
    """The per-envelope AEAD of a suite, keyed once; nonces come from (index, last)."""

    tag_size: int

    def encrypt_into(
        self, index: int, last: bool, associated: bytes, data: memoryview, out: memoryview
    ) -> None: ...

    def decrypt_into(
        self, index: int, last: bool, associated: bytes, data: memoryview, out: memoryview
    ) -> None:
        """Raise ``EnvelopeError(decrypt_failed)`` when the chunk does not authenticate."""
        ...


class Suite(Protocol):
    """A key agreement + KDF + AEAD combination, named in every envelope header."""

    name: str
    version: int
    tag_size: int

    def start_seal(
        self, recipient_public: bytes, randbytes: Callable[[int], bytes]
    ) -> tuple[dict[str, str], ChunkCipher]:
        """Fresh parameters for the header (text values) and the cipher they key."""
        ...

    def check_params(self, params: object) -> dict[str, str]:
        """Validate the header's ``params``; raise ``EnvelopeError(malformed)``."""
        ...

    def start_open(
        self, params: Mapping[str, str], recipient_private: bytes
    ) -> tuple[bytes, ChunkCipher]:
        """The recipient's public key and the cipher for these parameters."""
        ...


class _AesGcmChunks:
    tag_size = 16

    def __init__(self, key: bytes, nonce_prefix: bytes) -> None:
        self._aead = AESGCM(key)
        self._prefix = nonce_prefix

    def encrypt_into(
        self, index: int, last: bool, associated: bytes, data: memoryview, out: memoryview
    ) -> None:
        nonce = self._prefix + _CHUNK_AD.pack(index, last)
        self._aead.encrypt_into(nonce, data, associated, out)

    def decrypt_into(
        self, index: int, last: bool, associated: bytes, data: memoryview, out: memoryview
    ) -> None:
        nonce = self._prefix + _CHUNK_AD.pack(index, last)
        try:
            self._aead.decrypt_into(nonce, data, associated, out)
        except InvalidTag as exc:
            raise EnvelopeError(EnvelopeCode.DECRYPT_FAILED, f"chunk {index}") from exc


class X25519AesGcmSuite:
    """X25519 with an ephemeral key, HKDF-SHA256, AES-256-GCM with 7-byte nonce prefix.

    ``key = HKDF-SHA256(ikm = X25519(ephemeral, recipient), salt = salt32,
    info = b"sunlit/envelope/v1\\x00X25519-HKDF-SHA256-AES256GCM\\x00" || ephemeral_public
    || recipient_public, L = 32)``.
    """

    name = "X25519-HKDF-SHA256-AES256GCM"
    version = 1
    tag_size = 16
    _SALT_SIZE = 32
    _PREFIX_SIZE = 7
    _PARAM_KEYS = frozenset({"ephemeral_public", "nonce_prefix", "salt"})

    def start_seal(
        self, recipient_public: bytes, randbytes: Callable[[int], bytes]
    ) -> tuple[dict[str, str], ChunkCipher]:
        ephemeral_private, ephemeral_public = generate_x25519(randbytes)
        shared = x25519_exchange(ephemeral_private, recipient_public)
        salt = randbytes(self._SALT_SIZE)
        prefix = randbytes(self._PREFIX_SIZE)
        key = self._derive(shared, salt, ephemeral_public, bytes(recipient_public))
        params = {
            "ephemeral_public": b64url_encode(ephemeral_public),
            "nonce_prefix": b64url_encode(prefix),
            "salt": b64url_encode(salt),
        }
        return params, _AesGcmChunks(key, prefix)

    def check_params(self, params: object) -> dict[str, str]:
        if not isinstance(params, dict) or set(params) != self._PARAM_KEYS:
            raise EnvelopeError(EnvelopeCode.MALFORMED, "suite parameters")
        sizes = {
            "ephemeral_public": KEY_SIZE,
            "nonce_prefix": self._PREFIX_SIZE,
            "salt": self._SALT_SIZE,
        }
        for name, size in sizes.items():
            try:
                b64url_decode(params[name], size=size)
            except KeyFormatError as exc:
                raise EnvelopeError(EnvelopeCode.MALFORMED, f"params.{name}") from exc
        return dict(params)

    def start_open(
        self, params: Mapping[str, str], recipient_private: bytes
    ) -> tuple[bytes, ChunkCipher]:
        recipient_public = x25519_public(recipient_private)
        ephemeral_public = b64url_decode(params["ephemeral_public"])
        try:
            shared = x25519_exchange(recipient_private, ephemeral_public)
        except KeyFormatError as exc:
            raise EnvelopeError(EnvelopeCode.DECRYPT_FAILED, "low-order ephemeral key") from exc
        key = self._derive(
            shared, b64url_decode(params["salt"]), ephemeral_public, recipient_public
        )
        return recipient_public, _AesGcmChunks(key, b64url_decode(params["nonce_prefix"]))

    def _derive(
        self, shared: bytes, salt: bytes, ephemeral_public: bytes, recipient_public: bytes
    ) -> bytes:
        info = (
            b"sunlit/envelope/v1\x00"
            + self.name.encode()
            + b"\x00"
            + ephemeral_public
            + recipient_public
        )
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(shared)


@dataclass(frozen=True, slots=True)
class SignatureScheme:
    name: str
    signature_size: int
    verify: Callable[[bytes, bytes, bytes], bool]  # (public, signature, message) -> ok


SUITES: dict[str, Suite] = {}
SIGNATURE_SCHEMES: dict[str, SignatureScheme] = {
    "Ed25519": SignatureScheme("Ed25519", 64, ed25519_verify),
}


def register_suite(suite: Suite) -> None:
    """Make a suite known to seal, inspect and open (by its ``name``)."""
    SUITES[suite.name] = suite


register_suite(X25519AesGcmSuite())
DEFAULT_SUITE = X25519AesGcmSuite.name


# ---------------------------------------------------------------------------- records


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


# ---------------------------------------------------------------------------- shared checks


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


# ---------------------------------------------------------------------------- reading


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


# ---------------------------------------------------------------------------- seal


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


# ---------------------------------------------------------------------------- inspect


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


# ---------------------------------------------------------------------------- open


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
