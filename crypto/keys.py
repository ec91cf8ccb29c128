"""X25519 key pairs, key ids, and the two text encodings of raw bytes.

A key is its raw 32 bytes everywhere inside Sunlit. At the edges it is written as
lowercase hex or as unpadded base64url (RFC 4648 §5); both decoders are strict: one value
has exactly one accepted spelling (no padding, no whitespace, no upper-case hex, no
non-zero trailing bits), so an encoded key can be compared as a string.

A key id is the lowercase hex SHA-256 of the raw public key; it names the opening key a
bid is sealed to (``recipient_key_id``) and the key a bidder signed with
(``signer_key_id``) without repeating the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from crypto.errors import KeyFormatCode, KeyFormatError

__all__ = [
    "KEY_SIZE",
    "b64url_decode",
    "b64url_encode",
    "generate_x25519",
    "hex_decode",
    "hex_encode",
    "key_id",
    "x25519_exchange",
    "x25519_public",
]

KEY_SIZE = 32

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_HEX = re.compile(r"(?:[0-9a-f]{2})*")


def generate_x25519(randbytes: Callable[[int], bytes] = os.urandom) -> tuple[bytes, bytes]:
    """A fresh X25519 key pair as ``(private32, public32)``.

    ``randbytes`` supplies the 32 private bytes (clamped by X25519 itself); pass a seeded
    source only in tests.
    """
    private = randbytes(KEY_SIZE)
    return private, x25519_public(private)


def x25519_public(private: bytes) -> bytes:
    """The public key of a raw 32-byte X25519 private key."""
    _check_length(private, "X25519 private key")
    key = X25519PrivateKey.from_private_bytes(private)
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def x25519_exchange(private: bytes, peer_public: bytes) -> bytes:
    """The 32-byte shared secret; ``KeyFormatError(bad_key)`` for a low-order peer key."""
    _check_length(private, "X25519 private key")
    _check_length(peer_public, "X25519 public key")
    try:
        return X25519PrivateKey.from_private_bytes(private).exchange(
            X25519PublicKey.from_public_bytes(peer_public)
        )
    except ValueError as exc:  # all-zero shared secret: a low-order point
        raise KeyFormatError(KeyFormatCode.BAD_KEY, str(exc)) from exc


def key_id(public: bytes) -> str:
    """Lowercase hex SHA-256 of a raw public key."""
    _check_length(public, "public key")
    return hashlib.sha256(public).hexdigest()


def hex_encode(data: bytes) -> str:
    return data.hex()


def hex_decode(text: str, *, size: int | None = None) -> bytes:
    """Strict lowercase hex; ``size`` checks the decoded length."""
    if not isinstance(text, str) or _HEX.fullmatch(text) is None:
        raise KeyFormatError(KeyFormatCode.BAD_ENCODING, "expected lowercase hex")
    data = bytes.fromhex(text)
    _check_size(data, size)
    return data


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, size: int | None = None) -> bytes:
    """Strict unpadded base64url: only the canonical spelling of a value is accepted."""
    if not isinstance(text, str) or _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise KeyFormatError(KeyFormatCode.BAD_ENCODING, "expected unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(KeyFormatCode.BAD_ENCODING, str(exc)) from exc
    if b64url_encode(data) != text:  # non-zero trailing bits: a second spelling
        raise KeyFormatError(KeyFormatCode.BAD_ENCODING, "non-canonical base64url")
    _check_size(data, size)
    return data


def _check_length(key: bytes, what: str) -> None:
    if not isinstance(key, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes")
    if len(key) != KEY_SIZE:
        raise KeyFormatError(KeyFormatCode.BAD_LENGTH, f"{what}: {len(key)} bytes, need 32")


def _check_size(data: bytes, size: int | None) -> None:
    if size is not None and len(data) != size:
        raise KeyFormatError(KeyFormatCode.BAD_LENGTH, f"{len(data)} bytes, need {size}")
