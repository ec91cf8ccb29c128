"""The sealed reserve price (底价, RULES A3): entered by staff, kept encrypted, checked only at
the close.

Scheme
======

When staff enter a reserve, the server draws a 32-byte salt, computes the commitment
``rules.reserve_commitment(reserve_fen, salt)`` (SHA-256), and seals ``{reserve_fen, salt}``
in a sealed box (``crypto.sealedbox``: X25519 + HKDF + AES-256-GCM) to the **reserve key**:
either the server's, an X25519 key pair kept in its own file
(``<data>/keys/auction-reserve-x25519.key``, 0600) apart from the database and from the
server's signing key, or one made for this reserve and split among custodians (below). The
database holds only the box
and the commitment; the lot's log holds only the commitment (``ReserveSealed``, not
broadcast). At the close the box is opened (by the engine, or once the custodians' shares are
in) and ``RevealReserve`` is sent ``RevealReserve``; the rules
check the reveal against the commitment (``reserve_mismatch`` otherwise) and only then does
the amount enter the log (``LotClosed.reserve_fen``). The salt is published with the result,
so anyone can recompute the commitment and see that the reserve was fixed before bidding.

"Under supervision": the entry raises a supervision alert (电子监察) and an audit entry at
once, naming who entered it and the commitment (never the amount), so a supervisor watches
it happen; supervisors write nothing (DESIGN's security model), so they witness rather than
co-sign.

Two ways to hold the key
------------------------

*Server-held* (a reserve entered without custodians — the fallback, and what the demo
uses): the close happens on time without anyone present, but whoever holds both the
database and the key file before the close can read the reserve.

*Held by custodians* (issue 15 item 5; a reserve entered with ``custodians`` and
``threshold_k``, chosen as a tender's are: active users with the custodian role, each with a
registered X25519 key): :func:`seal_with_custodians` makes a key pair for this one reserve,
seals ``{reserve_fen, salt}`` to its public key, splits the private key k of n
(``crypto.shamir``, 2 ≤ k ≤ n), seals each share to its custodian's key (context
``sunlit/auction/reserve-share/v1/lot:<id>``) and keeps a commitment to each share
(:func:`share_commitment`), so that a share that does not fit is refused when it is handed
in. The private key is then dropped: neither the data directory nor the database holds
anything that opens the reserve. The salt is 32 random bytes followed by the 32-byte
:func:`custody_digest` of the public key, k and every custodian's position, key id and
share commitment — so the commitment in the lot's log, written before the first bid, also
commits to the key and its shares. At the close the lot waits in ``awaiting_reserve``
(the engine's reveal hook notifies the custodians and stops there); the custodians hand
in their shares (``POST /api/v1/auctions/lots/{id}/reserve/shares``, ``sunlit auction
reserve-share``); at most k − 1 are ever written, the k-th is combined in memory in the
same request, the key rebuilt and checked against the public key, the box opened and
``RevealReserve`` sent. The rebuilt key then has nothing left to hide (it sealed this one
reserve, now public) and is published with the log, so ``sunlit verify-auction`` opens
the box itself and checks that the key used is the one committed before bidding.

Supervisors write nothing (DESIGN's security model), so they witness rather than
co-sign; staff may still call the reveal endpoint by hand for a server-held reserve.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from auction.rules import check_amount, reserve_commitment
from crypto.keys import b64url_decode, generate_x25519, key_id, x25519_public
from crypto.sealedbox import open_from, seal_to
from crypto.shamir import Share, split

__all__ = [
    "RESERVE_SALT_BYTES",
    "CustodySplit",
    "ReserveKey",
    "SealedReserve",
    "SealedShare",
    "custody_digest",
    "open_sealed_share",
    "seal_with_custodians",
    "share_commitment",
    "share_context",
]

RESERVE_SALT_BYTES = 32
_CONTEXT = b"sunlit/auction/reserve/v1/lot:"
_SHARE_CONTEXT = b"sunlit/auction/reserve-share/v1/lot:"
_SHARE_COMMITMENT = b"sunlit/auction/reserve-share-commitment/v1\x00"
_CUSTODY = b"sunlit/auction/reserve-custody/v1\x00"


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

    @classmethod
    def from_private(cls, private: bytes) -> ReserveKey:
        return cls(private, x25519_public(private))

    def seal(self, lot_id: int, reserve_fen: int, salt: bytes | None = None) -> SealedReserve:
        return _seal(self.public, lot_id, reserve_fen, salt)

    def open(self, lot_id: int, box: bytes) -> tuple[int, bytes]:
        """(reserve_fen, salt); ``SealedBoxError`` if the box is not this key's or lot's."""
        data = json.loads(open_from(self.private, box, _CONTEXT + str(lot_id).encode()))
        return check_amount(data["reserve_fen"]), bytes.fromhex(data["salt"])


def _seal(public: bytes, lot_id: int, reserve_fen: int, salt: bytes | None) -> SealedReserve:
    check_amount(reserve_fen)
    salt = salt if salt is not None else secrets.token_bytes(RESERVE_SALT_BYTES)
    plaintext = json.dumps({"reserve_fen": reserve_fen, "salt": salt.hex()}, sort_keys=True).encode()
    box = seal_to(public, plaintext, _CONTEXT + str(lot_id).encode())
    return SealedReserve(reserve_commitment(reserve_fen, salt), box, key_id(public))


# -- held by custodians ---------------------------------------------------------------------------


def share_context(lot_id: int) -> bytes:
    """The sealed-box context of a custodian's share: a box for one lot opens for no other."""
    return _SHARE_CONTEXT + str(lot_id).encode()


def share_commitment(lot_id: int, public_key: bytes, share_bytes: bytes) -> bytes:
    """What the server keeps to recognise a handed-in share: ``SHA-256(domain || lot id ||
    0x00 || the reserve's public key || share bytes)``. A share is 32 uniformly distributed
    bytes (k ≥ 2), so its hash says nothing of it."""
    return hashlib.sha256(
        _SHARE_COMMITMENT + str(lot_id).encode() + b"\x00" + public_key + bytes(share_bytes)
    ).digest()


def custody_digest(
    lot_id: int, public_key: bytes, threshold_k: int, shares: Sequence[tuple[int, str, bytes]]
) -> str:
    """Hex SHA-256 of who holds the reserve's key: the lot, the public key, k, and for each
    custodian by position its key id and share commitment (``(position, key_id,
    commitment)``). It is the second half of the salt, so the reserve's commitment binds it."""
    h = hashlib.sha256(_CUSTODY + str(lot_id).encode() + b"\x00" + public_key)
    h.update(f"\x00k={threshold_k}\x00n={len(shares)}".encode())
    for position, custodian_key_id, commitment in sorted(shares):
        h.update(f"\x00{position}\x00{custodian_key_id}\x00".encode() + commitment)
    return h.hexdigest()


@dataclass(frozen=True)
class SealedShare:
    position: int
    custodian_key_id: str
    custodian_public_key: bytes
    sealed_share: bytes
    share_commitment: bytes


@dataclass(frozen=True)
class CustodySplit:
    """A reserve sealed to a key of its own whose private half exists only as shares."""

    sealed: SealedReserve
    public_key: bytes
    threshold_k: int
    shares: tuple[SealedShare, ...]
    digest: str


def seal_with_custodians(
    lot_id: int,
    reserve_fen: int,
    custodian_keys: Sequence[bytes],
    threshold_k: int,
    randbytes: Callable[[int], bytes] = os.urandom,
) -> CustodySplit:
    """Seal the reserve to a fresh key and split that key among the custodians (position
    ``i + 1`` for ``custodian_keys[i]``). The private key goes out of scope here (Python
    cannot promise to wipe it from memory, as docs/bidding.md says of the opening key)."""
    check_amount(reserve_fen)
    private, public = generate_x25519(randbytes)
    shares = split(private, threshold_k, len(custodian_keys), randbytes)
    del private
    sealed_shares = []
    for share, custodian_key in zip(shares, custodian_keys, strict=True):
        blob = share.to_bytes()
        sealed_shares.append(
            SealedShare(
                position=share.x,
                custodian_key_id=key_id(custodian_key),
                custodian_public_key=custodian_key,
                sealed_share=seal_to(custodian_key, blob, share_context(lot_id), randbytes=randbytes),
                share_commitment=share_commitment(lot_id, public, blob),
            )
        )
    del shares
    digest = custody_digest(
        lot_id,
        public,
        threshold_k,
        [(s.position, s.custodian_key_id, s.share_commitment) for s in sealed_shares],
    )
    salt = randbytes(RESERVE_SALT_BYTES) + bytes.fromhex(digest)
    sealed = _seal(public, lot_id, reserve_fen, salt)
    return CustodySplit(sealed, public, threshold_k, tuple(sealed_shares), digest)


def open_sealed_share(sealed_share_b64: str, custodian_private: bytes, lot_id: int) -> str:
    """The custodian's side (``sunlit auction reserve-share``): open the sealed share from
    ``GET /auctions/lots/{id}/reserve/shares/mine`` with the custodian's X25519 private key;
    the share as ``S1-<k>-<x>-<hex>`` text."""
    box = b64url_decode(sealed_share_b64)
    return Share.from_bytes(open_from(custodian_private, box, share_context(lot_id))).encode()
