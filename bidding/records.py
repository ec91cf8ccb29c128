"""Signed documents of a tender: receipts, the bid tree head, the opening record and its
public view. Pure: building, signing (with a signing function passed in) and verifying.

Every document is a JSON object with a ``type`` naming it and its version
(``sunlit/bid-receipt/v1`` …). It is signed as its canonical JSON
(``crypto.signing.canonical_json``: sorted keys, no spaces, UTF-8; integers and strings
only — money in fen, times as ISO 8601 UTC with milliseconds) with the server's Ed25519
key. On the wire::

    {"document": {...}, "signature": "<base64url, 64 bytes>", "key_id": "srv-…",
     "algorithm": "Ed25519"}

so anyone with the server's public key checks it offline (``sunlit bid verify-receipt``):
``Ed25519.verify(public, signature, canonical_json(document))``. The ``type`` field keeps a
signature on one kind of document from passing for another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crypto.errors import KeyFormatError
from crypto.keys import b64url_decode, b64url_encode
from crypto.signing import canonical_json, verify
from trading.clock import iso_ms

__all__ = [
    "OPENING_RECORD_TYPE",
    "PUBLIC_RECORD_TYPE",
    "RECEIPT_TYPE",
    "TREE_HEAD_TYPE",
    "Signed",
    "failed_record",
    "opening_record",
    "public_view",
    "receipt_document",
    "sign_document",
    "tree_head_document",
    "verify_signed",
]

RECEIPT_TYPE = "sunlit/bid-receipt/v1"
TREE_HEAD_TYPE = "sunlit/bid-tree-head/v1"
OPENING_RECORD_TYPE = "sunlit/opening-record/v1"
PUBLIC_RECORD_TYPE = "sunlit/opening-record-public/v1"
ALGORITHM = "Ed25519"


@dataclass(frozen=True)
class Signed:
    document: Mapping[str, Any]
    signature: bytes = field(repr=False)
    key_id: str

    @property
    def message(self) -> bytes:
        return canonical_json(self.document)

    def as_json(self) -> dict[str, Any]:
        return {
            "document": dict(self.document),
            "signature": b64url_encode(self.signature),
            "key_id": self.key_id,
            "algorithm": ALGORITHM,
        }

    @classmethod
    def from_json(cls, obj: object) -> Signed:
        """Strict: ``ValueError`` unless it is exactly the wire form."""
        if not isinstance(obj, dict) or not {"document", "signature", "key_id"} <= set(obj):
            raise ValueError("expected {document, signature, key_id, algorithm}")
        if obj.get("algorithm", ALGORITHM) != ALGORITHM:
            raise ValueError(f"unknown algorithm {obj.get('algorithm')!r}")
        if not isinstance(obj["document"], dict) or not isinstance(obj["key_id"], str):
            raise ValueError("document must be an object, key_id a string")
        try:
            signature = b64url_decode(obj["signature"], size=64)
        except KeyFormatError as exc:
            raise ValueError(f"signature: {exc}") from exc
        return cls(obj["document"], signature, obj["key_id"])


def sign_document(
    document: Mapping[str, Any], sign: Callable[[bytes], bytes], key_id: str
) -> Signed:
    return Signed(dict(document), sign(canonical_json(document)), key_id)


def verify_signed(signed: Signed, public_key: bytes, *, expected_type: str | None = None) -> bool:
    """True when the signature is the server's over this very document (and of the type)."""
    if expected_type is not None and signed.document.get("type") != expected_type:
        return False
    return verify(public_key, signed.signature, signed.message)


# ---------------------------------------------------------------------------- documents


def receipt_document(
    *,
    action: str,
    sequence: int,
    tender_id: int,
    tender_code: str,
    bidder_org_id: int,
    bid_id: int,
    envelope_sha256: str,
    envelope_size_bytes: int,
    received_at: datetime,
) -> dict[str, Any]:
    """A receipt (T2, T5): what was received, from whom, for which tender, and when — the
    commit time, UTC, to the millisecond. For a withdrawal it names the withdrawn bid."""
    return {
        "type": RECEIPT_TYPE,
        "action": action,
        "sequence": sequence,
        "tender_id": tender_id,
        "tender_code": tender_code,
        "bidder_org_id": bidder_org_id,
        "bid_id": bid_id,
        "envelope_sha256": envelope_sha256,
        "envelope_size_bytes": envelope_size_bytes,
        "received_at": iso_ms(received_at),
    }


def tree_head_document(
    *, tender_id: int, tender_code: str, tree_size: int, root_hex: str, frozen_at: datetime
) -> dict[str, Any]:
    """The frozen set: the RFC 6962 root over the bid hashes and the tree size, signed
    together (a path alone does not bind the size)."""
    return {
        "type": TREE_HEAD_TYPE,
        "tender_id": tender_id,
        "tender_code": tender_code,
        "tree_size": tree_size,
        "root": root_hex,
        "frozen_at": iso_ms(frozen_at),
    }


def opening_record(
    *,
    tender_id: int,
    tender_code: str,
    project_name: str,
    opening_at: datetime,
    opening_started_at: datetime,
    opened_at: datetime,
    tree_root_hex: str,
    tree_size: int,
    custodians: Sequence[str],
    entries: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The opening record (BL 36, EM 30; T11): each frozen bid with its bidder, price,
    duration and declared items, or the cause it failed to open."""
    return {
        "type": OPENING_RECORD_TYPE,
        "status": "opened",
        "tender_id": tender_id,
        "tender_code": tender_code,
        "project_name": project_name,
        "opening_at": iso_ms(opening_at),
        "opening_started_at": iso_ms(opening_started_at),
        "opened_at": iso_ms(opened_at),
        "bid_tree": {"root": tree_root_hex, "size": tree_size},
        "custodians": list(custodians),
        "entries": [dict(e) for e in entries],
    }


def failed_record(
    *,
    tender_id: int,
    tender_code: str,
    project_name: str,
    failed_at: datetime,
    bid_count: int,
    min_bidders: int,
    tree_root_hex: str,
) -> dict[str, Any]:
    """The record of a failed tender (流标; BL 28, IR 44; T7): too few bids, no opening."""
    return {
        "type": OPENING_RECORD_TYPE,
        "status": "failed",
        "reason": "too_few_bids",
        "tender_id": tender_id,
        "tender_code": tender_code,
        "project_name": project_name,
        "failed_at": iso_ms(failed_at),
        "bid_count": bid_count,
        "min_bidders": min_bidders,
        "bid_tree": {"root": tree_root_hex, "size": bid_count},
        "entries": [],
    }


_PUBLIC_ENTRY_KEYS = (
    "leaf_index",
    "bidder_org_id",
    "bidder_name",
    "envelope_sha256",
    "outcome",
    "amount_fen",
    "duration_days",
    "declared_items",
)


def public_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """What is published (T11): the record without confidential fields — the confidential
    items and document list of each bid, the technical detail of failures, and who the
    custodians were. It is signed as its own document."""
    out = {k: v for k, v in record.items() if k not in ("type", "custodians", "entries")}
    out["type"] = PUBLIC_RECORD_TYPE
    entries = []
    for e in record.get("entries", []):
        pub = {k: e[k] for k in _PUBLIC_ENTRY_KEYS if k in e}
        if "failure" in e:
            pub["failure"] = {"cause": e["failure"]["cause"], "code": e["failure"]["code"]}
        entries.append(pub)
    out["entries"] = entries
    return out
