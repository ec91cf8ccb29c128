"""The sealed reserve price (底价, RULES A3): entered by staff, kept encrypted, checked only at
the close.

Scheme
======

When staff enter a reserve, the server draws a 32-byte salt, computes the commitment
``rules.reserve_commitment(reserve_fen, salt)`` (SHA-256), and seals ``{reserve_fen, salt}``
in a sealed box (``crypto.sealedbox``: X25519 + HKDF + AES-256-GCM) to the **reserve key**,
an X25519 key pair kept in its own file (``<data>/keys/auction-reserve-x25519.key``, 0600)
apart from the database and from the server's signing key. The database holds only the box
and the commitment; the lot's log holds only the commitment (``ReserveSealed``, not
broadcast). At the close the engine opens the box and sends ``RevealReserve``; the rules
check the reveal against the commitment (``reserve_mismatch`` otherwise) and only then does
the amount enter the log (``LotClosed.reserve_fen``). The salt is published with the result,
so anyone can recompute the commitment and see that the reserve was fixed before bidding.

"Under supervision": the entry raises a supervision alert (电子监察) and an audit entry at
once, naming who entered it and the commitment (never the amount), so a supervisor watches
it happen; supervisors write nothing (DESIGN's security model), so they witness rather than
co-sign.

Trade-off. A server-held key lets the close happen on time without anyone present, but
whoever holds both the database and the key file before the close can read the reserve. The
stronger alternative — seal the box to a supervisor's registered X25519 key, or split the
reserve key among custodians (``crypto.shamir``) as the tender opening does — means the lot
waits in ``awaiting_reserve`` until they hand in their part. The engine supports that as it
is: the reveal is a hook; staff may also call the reveal endpoint by hand.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from auction.rules import check_amount, reserve_commitment
from crypto.keys import generate_x25519, key_id, x25519_public
from crypto.sealedbox import open_from, seal_to

__all__ = ["RESERVE_SALT_BYTES", "ReserveKey", "SealedReserve"]

RESERVE_SALT_BYTES = 32
_CONTEXT = b"sunlit/auction/reserve/v1/lot:"


@dataclass(frozen=True)
class SealedReserve:
    commitment: str
    box: bytes
    key_id: str


@dataclass(frozen=True)
class ReserveKey:
    private: bytes
    public: bytes

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    @classmethod
    def generate(cls) -> ReserveKey:
        private, public = generate_x25519()
        return cls(private, public)

    @classmethod
    def load_or_create(cls, path: Path) -> ReserveKey:
        """The key file, made on first use (0600, created exclusively)."""
        if path.exists():
            private = path.read_bytes()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            private, _ = generate_x25519()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(private)
        return cls(private, x25519_public(private))

    def seal(self, lot_id: int, reserve_fen: int, salt: bytes | None = None) -> SealedReserve:
        check_amount(reserve_fen)
        salt = salt if salt is not None else secrets.token_bytes(RESERVE_SALT_BYTES)
        plaintext = json.dumps(
            {"reserve_fen": reserve_fen, "salt": salt.hex()}, sort_keys=True
        ).encode()
        box = seal_to(self.public, plaintext, _CONTEXT + str(lot_id).encode())
        return SealedReserve(reserve_commitment(reserve_fen, salt), box, self.key_id)

    def open(self, lot_id: int, box: bytes) -> tuple[int, bytes]:
        """(reserve_fen, salt); ``SealedBoxError`` if the box is not this key's or lot's."""
        data = json.loads(open_from(self.private, box, _CONTEXT + str(lot_id).encode()))
        return check_amount(data["reserve_fen"]), bytes.fromhex(data["salt"])
