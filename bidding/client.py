"""The bidder's and the custodian's side, run on their own machines (``sunlit bid seal``,
``sunlit bid share``, ``sunlit bid keygen``): key files, sealing a bid package, opening a
sealed key share, checking receipts and inclusion proofs. Nothing here talks to the
server or the database.

Key files hold one line: the raw 32-byte key as unpadded base64url (raw binary and 64 hex
digits are read too), written 0600. ``<name>.ed25519`` / ``<name>.x25519`` hold private
keys, ``.pub`` files the public ones.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from bidding.model import envelope_bidder_id, envelope_tender_id, share_context
from bidding.package import PackageDocument, iter_package, pack_bytes
from bidding.records import RECEIPT_TYPE, TREE_HEAD_TYPE, Signed, verify_signed
from crypto.envelope import EnvelopeInfo, seal
from crypto.envelope.format import DEFAULT_CHUNK_SIZE
from crypto.errors import KeyFormatError
from crypto.keys import b64url_decode, b64url_encode, generate_x25519, hex_decode, x25519_public
from crypto.merkle import verify_inclusion
from crypto.sealedbox import open_from
from crypto.shamir import Share
from crypto.signing import (
    SigningKey,
    generate_signing_key,
    load_signing_key,
    private_key_bytes,
    public_key_bytes,
)

__all__ = [
    "decode_key_text",
    "generate_keys",
    "load_key",
    "open_sealed_share",
    "seal_bid",
    "seal_bid_bytes",
    "verify_proof",
    "verify_receipt",
    "write_key_file",
]

READ_PIECE_BYTES = 1024 * 1024


def decode_key_text(text: str) -> bytes:
    """A 32-byte key from 64 hex digits or base64 in either alphabet (base64url as the key
    files hold it, or standard ``+/``), padded or not."""
    text = text.strip()
    try:
        if len(text) == 64:
            return hex_decode(text.lower(), size=32)
        return b64url_decode(text.rstrip("=").replace("+", "-").replace("/", "_"), size=32)
    except KeyFormatError as exc:
        raise ValueError(f"not a 32-byte key in hex or base64: {exc}") from exc


def load_key(value: str | Path) -> bytes:
    """A 32-byte key from a file (text or raw) or, if no such file exists, the text itself."""
    path = Path(value)
    if path.is_file():
        data = path.read_bytes()
        if len(data) == 32:
            return data
        return decode_key_text(data.decode("ascii", errors="replace"))
    return decode_key_text(str(value))


def write_key_file(path: Path, raw: bytes, *, private: bool = True) -> None:
    """Write a key as base64url text; private keys 0600 and never over an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if private else os.O_TRUNC)
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(b64url_encode(raw) + "\n")


def generate_keys(out_dir: Path, name: str) -> dict[str, Path]:
    """An Ed25519 signing key and an X25519 key, with their public halves."""
    signing = generate_signing_key()
    x_private, x_public = generate_x25519()
    files = {
        "ed25519": out_dir / f"{name}.ed25519",
        "ed25519_pub": out_dir / f"{name}.ed25519.pub",
        "x25519": out_dir / f"{name}.x25519",
        "x25519_pub": out_dir / f"{name}.x25519.pub",
    }
    for path in (files["ed25519"], files["x25519"]):
        if path.exists():
            raise FileExistsError(f"{path} exists; not overwriting a private key")
    write_key_file(files["ed25519"], private_key_bytes(signing))
    write_key_file(files["ed25519_pub"], public_key_bytes(signing), private=False)
    write_key_file(files["x25519"], x_private)
    write_key_file(files["x25519_pub"], x_public, private=False)
    return files


def _file_pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while piece := f.read(READ_PIECE_BYTES):
            yield piece


def seal_bid(
    writer: Any,
    *,
    tender_public: bytes,
    tender_id: int,
    bidder_org_id: int,
    signing_key: SigningKey,
    price_schedule: bytes,
    documents: Sequence[Path] = (),
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> EnvelopeInfo:
    """Pack the price schedule and documents (streamed from disk, in name order) and seal
    them to the tender's opening key, signed by the bidder. Constant memory."""
    docs = [
        PackageDocument(p.name, p.stat().st_size, lambda p=p: _file_pieces(p)) for p in documents
    ]
    return seal(
        iter_package(price_schedule, docs),
        writer,
        recipient_public=tender_public,
        tender_id=envelope_tender_id(tender_id),
        bidder_id=envelope_bidder_id(bidder_org_id),
        signing_key=signing_key,
        chunk_size=chunk_size,
    )


def seal_bid_bytes(
    *,
    tender_public: bytes,
    tender_id: int,
    bidder_org_id: int,
    signing_key: SigningKey,
    price_schedule: bytes,
    documents: Mapping[str, bytes] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> bytes:
    """:func:`seal_bid` in memory (tests, the demo)."""
    out = io.BytesIO()
    seal(
        io.BytesIO(pack_bytes(price_schedule, documents)),
        out,
        recipient_public=tender_public,
        tender_id=envelope_tender_id(tender_id),
        bidder_id=envelope_bidder_id(bidder_org_id),
        signing_key=signing_key,
        chunk_size=chunk_size,
    )
    return out.getvalue()


def signing_key_from(value: str | Path) -> SigningKey:
    return load_signing_key(load_key(value))


def open_sealed_share(sealed_share_b64: str, custodian_private: bytes, tender_id: int) -> str:
    """Open a custodian's sealed share (from ``GET /tenders/{id}/shares/mine``) with the
    custodian's X25519 private key; the share as ``S1-<k>-<x>-<hex>`` text."""
    box = b64url_decode(sealed_share_b64)
    return Share.from_bytes(open_from(custodian_private, box, share_context(tender_id))).encode()


def custodian_public(custodian_private: bytes) -> bytes:
    return x25519_public(custodian_private)


def verify_receipt(
    receipt: object, server_public: bytes, *, envelope_sha256: str | None = None
) -> tuple[bool, str]:
    """Check a receipt offline: the server's signature, the type, and (optionally) that it
    names this envelope. Returns (ok, why)."""
    try:
        signed = Signed.from_json(receipt)
    except ValueError as exc:
        return False, f"not a signed receipt: {exc}"
    if not verify_signed(signed, server_public, expected_type=RECEIPT_TYPE):
        return False, "the signature does not verify with this server key"
    if envelope_sha256 is not None and signed.document.get("envelope_sha256") != envelope_sha256:
        return False, "the receipt names another envelope"
    return True, "valid"


def verify_proof(proof: Mapping[str, Any], server_public: bytes) -> tuple[bool, str]:
    """Check an inclusion proof offline: the signed tree head, then the audit path of the
    envelope's hash at its index against the signed root and size (RFC 9162)."""
    try:
        head = Signed.from_json(proof["tree_head"])
        leaf = bytes.fromhex(proof["envelope_sha256"])
        path = [bytes.fromhex(p) for p in proof["proof"]]
        index = proof["leaf_index"]
    except (KeyError, TypeError, ValueError) as exc:
        return False, f"malformed proof: {exc}"
    if not verify_signed(head, server_public, expected_type=TREE_HEAD_TYPE):
        return False, "the tree head's signature does not verify with this server key"
    size, root = head.document.get("tree_size"), head.document.get("root")
    if not isinstance(size, int) or not isinstance(root, str):
        return False, "malformed tree head"
    if not verify_inclusion(leaf, index, size, path, bytes.fromhex(root)):
        return False, "the bid is not in the signed tree"
    return True, f"bid at index {index} of {size} under root {root}"
