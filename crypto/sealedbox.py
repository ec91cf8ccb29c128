"""Sealed box: a small message (a custodian's key share) encrypted to an X25519 key.

Format (version 1), 49 bytes of overhead::

    0x01 | ephemeral_public (32) | AES-256-GCM ciphertext || tag (len(plaintext) + 16)

Keys: ``shared = X25519(ephemeral_private, recipient_public)``;
``okm = HKDF-SHA256(ikm=shared, salt=ephemeral_public || recipient_public,
info=b"sunlit/sealedbox/v1\\x00" || context, L=44)``; ``key = okm[:32]``,
``nonce = okm[32:]``. Every box has a fresh ephemeral key, so its key and nonce are used
once. The ``context`` (for example ``b"sunlit/opening-key-share/" + tender_id``) is bound
into the key: a box made for one purpose does not open for another. The version byte is
authenticated as associated data.

The sender is anonymous: whoever hands a box over signs it separately if that matters.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import KeyFormatError, SealedBoxCode, SealedBoxError
from crypto.keys import KEY_SIZE, generate_x25519, x25519_exchange, x25519_public

__all__ = ["BOX_OVERHEAD", "BOX_VERSION", "MAX_BOX_PLAINTEXT", "open_from", "seal_to"]

BOX_VERSION = 1
BOX_OVERHEAD = 1 + KEY_SIZE + 16
MAX_BOX_PLAINTEXT = 64 * 1024  # shares and small secrets only; bids go in envelopes
_LABEL = b"sunlit/sealedbox/v1\x00"


def seal_to(
    public: bytes,
    plaintext: bytes,
    context: bytes,
    *,
    randbytes: Callable[[int], bytes] = os.urandom,
) -> bytes:
    """Encrypt ``plaintext`` to the X25519 ``public`` key for the given ``context``."""
    if len(plaintext) > MAX_BOX_PLAINTEXT:
        raise ValueError(f"sealed boxes hold at most {MAX_BOX_PLAINTEXT} bytes")
    ephemeral_private, ephemeral_public = generate_x25519(randbytes)
    shared = x25519_exchange(ephemeral_private, public)  # KeyFormatError on a bad key
    key, nonce = _derive(shared, ephemeral_public, bytes(public), context)
    head = bytes([BOX_VERSION]) + ephemeral_public
    return head + AESGCM(key).encrypt(nonce, bytes(plaintext), head)


def open_from(private: bytes, box: bytes, context: bytes) -> bytes:
    """Decrypt a box made by :func:`seal_to`; ``SealedBoxError`` if it does not open."""
    if len(box) < BOX_OVERHEAD or len(box) > BOX_OVERHEAD + MAX_BOX_PLAINTEXT:
        raise SealedBoxError(SealedBoxCode.MALFORMED, f"{len(box)} bytes")
    if box[0] != BOX_VERSION:
        raise SealedBoxError(SealedBoxCode.MALFORMED, f"version {box[0]}")
    head = bytes(box[: 1 + KEY_SIZE])
    ephemeral_public = head[1:]
    try:
        shared = x25519_exchange(private, ephemeral_public)
    except KeyFormatError as exc:
        raise SealedBoxError(SealedBoxCode.DECRYPT_FAILED, exc.detail) from exc
    key, nonce = _derive(shared, ephemeral_public, x25519_public(private), context)
    try:
        return AESGCM(key).decrypt(nonce, bytes(box[1 + KEY_SIZE :]), head)
    except InvalidTag as exc:
        raise SealedBoxError(SealedBoxCode.DECRYPT_FAILED) from exc


def _derive(
    shared: bytes, ephemeral_public: bytes, recipient_public: bytes, context: bytes
) -> tuple[bytes, bytes]:
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=44,
        salt=ephemeral_public + recipient_public,
        info=_LABEL + bytes(context),
    ).derive(shared)
    return okm[:32], okm[32:]
