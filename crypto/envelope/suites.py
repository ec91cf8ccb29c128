"""Cipher suites (key agreement + KDF + AEAD) and signature schemes, registered by name so
that another suite can be added beside the first without changing the format."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

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
    x25519_exchange,
    x25519_public,
)
from crypto.signing import verify as ed25519_verify

from .format import _CHUNK_AD

__all__ = [
    "DEFAULT_SUITE",
    "SIGNATURE_SCHEMES",
    "SUITES",
    "ChunkCipher",
    "SignatureScheme",
    "Suite",
    "X25519AesGcmSuite",
    "register_suite",
]


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
