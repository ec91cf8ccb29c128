"""Secrets of the expert package at rest: identity card numbers and draw seeds.

One 32-byte master key lives in the data directory (``<SUNLIT_DATA>/keys/experts-master.key``,
mode 0600, made on first start). Three keys are derived from it with HKDF-SHA256, one per
use, so a leak of one derived key tells nothing of the others:

- ``id-number``: AES-256-GCM over an expert's identity card number (身份证号码). The stored
  value is ``nonce (12 bytes) || ciphertext || tag``; the associated data binds it to the
  expert id, so a ciphertext copied onto another expert does not open.
- ``id-index``: HMAC-SHA256 of the normalised number — a *blind index*, so the database can
  refuse the same person twice (a UNIQUE column) without holding the number in clear.
- ``draw-seed``: AES-256-GCM over a draw's 32-byte secret seed until the result is fixed;
  the associated data binds it to the draw id and its committed ``record_hash``.

Nothing here logs, prints or returns a secret except through ``open_*``. The key file is
the one thing to back up with the database: without it the encrypted numbers and unrevealed
seeds cannot be read.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["KEY_FILE", "PoolKeys"]

KEY_FILE = Path("keys") / "experts-master.key"
_NONCE_BYTES = 12
_MASTER_BYTES = 32


def _derive(master: bytes, label: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"sunlit-experts/" + label
    ).derive(master)


class PoolKeys:
    """The derived keys; build with ``load_or_create(data_dir)`` or, in tests, ``from_master``."""

    __slots__ = ("_id_aead", "_index_key", "_seed_aead")

    def __init__(self, master: bytes) -> None:
        if len(master) != _MASTER_BYTES:
            raise ValueError("the experts master key must be 32 bytes")
        self._id_aead = AESGCM(_derive(master, b"id-number"))
        self._index_key = _derive(master, b"id-index")
        self._seed_aead = AESGCM(_derive(master, b"draw-seed"))

    @classmethod
    def from_master(cls, master: bytes) -> PoolKeys:
        return cls(master)

    @classmethod
    def load_or_create(cls, data_dir: Path) -> PoolKeys:
        """Read ``data_dir/keys/experts-master.key``, making it (0600) on first use."""
        path = data_dir / KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                pass
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(secrets.token_bytes(_MASTER_BYTES))
        return cls(path.read_bytes())

    # --- identity card numbers ----------------------------------------------------------

    @staticmethod
    def normalise_id_number(id_number: str) -> str:
        return id_number.strip().upper()

    def id_index(self, id_number: str) -> bytes:
        """The blind index of a number: equal numbers give equal indexes."""
        norm = self.normalise_id_number(id_number).encode("ascii", "replace")
        return hmac.digest(self._index_key, norm, hashlib.sha256)

    def seal_id_number(self, expert_id: str, id_number: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        aad = b"sunlit-expert-id:" + expert_id.encode()
        norm = self.normalise_id_number(id_number).encode()
        return nonce + self._id_aead.encrypt(nonce, norm, aad)

    def open_id_number(self, expert_id: str, sealed: bytes) -> str:
        """The clear number (for an authorised export only; never logged or returned by the API)."""
        aad = b"sunlit-expert-id:" + expert_id.encode()
        try:
            return self._id_aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad).decode()
        except InvalidTag:
            raise ValueError(
                f"the identity number of {expert_id} does not open with this key"
            ) from None

    # --- draw seeds ---------------------------------------------------------------------

    @staticmethod
    def _seed_aad(draw_id: int, record_hash: str) -> bytes:
        return f"sunlit-draw-seed:{draw_id}:{record_hash}".encode()

    def seal_seed(self, draw_id: int, record_hash: str, seed: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._seed_aead.encrypt(nonce, seed, self._seed_aad(draw_id, record_hash))

    def open_seed(self, draw_id: int, record_hash: str, sealed: bytes) -> bytes:
        try:
            return self._seed_aead.decrypt(
                sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], self._seed_aad(draw_id, record_hash)
            )
        except InvalidTag:
            raise ValueError(f"the seed of draw {draw_id} does not open with this key") from None

    def __repr__(self) -> str:
        return "PoolKeys(<secret>)"
