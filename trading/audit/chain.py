"""Theory of operation: the audit chain.

Every entry carries ``prev_hash``, the hash of the entry before it (``GENESIS_HASH`` for the
first), and its own ``hash`` = SHA-256 over the canonical JSON of all its fields including
``prev_hash``. Sequence numbers are dense (1, 2, 3, …). So:

- editing any field of an entry changes its recomputed hash           → "altered"
- removing an entry leaves a gap in seq and a broken prev link        → "missing"
- inserting or reordering breaks the prev link of the next entry      → "broken_link"
- rewriting the whole chain after an edit is caught by the checkpoints: the server signs
  (seq, head hash) every N entries with its Ed25519 key, and a rewritten chain no longer
  has the signed hash at that seq.
- rewriting or truncating the tail after the last checkpoint is caught by a signed head:
  the server signs (seq, head hash, signed_at) within a second of appends and at every
  start and stop (``SignedHead``), keeps the latest outside the log table, and operators
  publish copies. The entry at a head's seq must exist and hash to the head's hash
  (``check_head``): a shorter chain is "truncated", a different entry "head_mismatch".

``link`` numbers and hashes a batch of new entries onto a head in one pass; the store
(``trading.audit.log``) decides which head that is, under its lock.

This module is pure: entries in, findings out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crypto.signing import canonical_json, sha256_hex
from crypto.signing import verify as verify_signature
from trading.clock import iso_ms

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class Entry:
    seq: int
    at: datetime
    actor_user_id: int | None
    actor_name: str
    actor_role: str
    actor_org_id: int | None
    action: str
    object_type: str
    object_id: str
    outcome: str
    client_addr: str
    request_id: str
    payload_digest: str
    detail: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def hashed_fields(self) -> dict[str, Any]:
        """Every field but ``hash``, ``at`` as ISO 8601 UTC with milliseconds."""
        d = dict(self.__dict__)
        del d["hash"]
        d["at"] = iso_ms(self.at)
        return d


def entry_hash(entry: Entry) -> str:
    return sha256_hex(canonical_json(entry.hashed_fields()))


def link(drafts: Sequence[Entry], head_seq: int, head_hash: str) -> list[Entry]:
    """Chain a batch onto the head in one pass: the i-th draft becomes entry ``head_seq + 1 + i``
    whose ``prev_hash`` is the hash of the entry before it. The drafts' own ``seq``,
    ``prev_hash`` and ``hash`` are ignored. An empty log's head is ``(0, GENESIS_HASH)``."""
    out: list[Entry] = []
    seq, prev = head_seq, head_hash
    for d in drafts:
        seq += 1
        fields_ = d.hashed_fields()
        fields_["seq"], fields_["prev_hash"] = seq, prev
        h = sha256_hex(canonical_json(fields_))
        out.append(Entry(seq, d.at, d.actor_user_id, d.actor_name, d.actor_role, d.actor_org_id, d.action,
                         d.object_type, d.object_id, d.outcome, d.client_addr, d.request_id, d.payload_digest,
                         d.detail, prev, h))
        prev = h
    return out


def checkpoint_message(seq: int, head_hash: str) -> bytes:
    """The bytes the server signs for a checkpoint."""
    return canonical_json({"kind": "sunlit.audit.checkpoint.v1", "seq": seq, "head_hash": head_hash})


HEAD_KIND = "sunlit.audit.head.v1"


def head_message(seq: int, head_hash: str, signed_at: str) -> bytes:
    """The bytes the server signs for a head: canonical JSON (sorted keys, no spaces, UTF-8)
    of ``{"head_hash", "kind": "sunlit.audit.head.v1", "seq", "signed_at"}``."""
    return canonical_json({"kind": HEAD_KIND, "seq": seq, "head_hash": head_hash, "signed_at": signed_at})


@dataclass(frozen=True)
class SignedHead:
    """The server's signature over the chain's head: entry ``seq`` hashes to ``head_hash``.

    Its JSON form (``as_json``) is what ``<data dir>/audit/head.json`` and
    ``sunlit audit head`` hold; ``signed_at`` is ISO 8601 UTC with milliseconds."""

    seq: int
    head_hash: str
    signed_at: str
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return head_message(self.seq, self.head_hash, self.signed_at)

    def as_json(self, public_key: bytes | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": HEAD_KIND, "seq": self.seq, "head_hash": self.head_hash, "signed_at": self.signed_at,
            "key_id": self.key_id, "signature_hex": self.signature.hex(),
        }
        if public_key is not None:
            out["public_key_hex"] = public_key.hex()
        return out

    @classmethod
    def from_json(cls, data: Any) -> SignedHead:
        """Parse a head file's JSON; ``ValueError`` says what is wrong with it."""
        if not isinstance(data, dict) or data.get("kind") != HEAD_KIND:
            raise ValueError(f"not a signed audit head (kind must be {HEAD_KIND!r})")
        try:
            seq, head_hash = data["seq"], data["head_hash"]
            signed_at, key_id, signature = data["signed_at"], data["key_id"], bytes.fromhex(data["signature_hex"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a signed audit head needs seq, head_hash, signed_at, key_id, signature_hex ({exc})") from None
        if not (isinstance(seq, int) and not isinstance(seq, bool) and seq >= 1):
            raise ValueError("seq must be a positive integer")
        if not (isinstance(head_hash, str) and len(head_hash) == 64):
            raise ValueError("head_hash must be 64 hex digits")
        if not (isinstance(signed_at, str) and isinstance(key_id, str)) or len(signature) != 64:
            raise ValueError("signed_at and key_id must be text, signature_hex 64 bytes")
        return cls(seq, head_hash, signed_at, key_id, signature)


@dataclass(frozen=True)
class Finding:
    seq: int
    problem: str
    """One of: altered, missing, broken_link, bad_checkpoint, checkpoint_mismatch, bad_head,
    head_mismatch, truncated."""
    detail: str


def walk(entries: Iterable[Entry], start_prev: str = GENESIS_HASH, start_seq: int = 1) -> Iterator[Finding]:
    """Check a run of entries in seq order; yield every problem found."""
    prev_hash = start_prev
    expected_seq = start_seq
    for e in entries:
        if e.seq != expected_seq:
            yield Finding(expected_seq, "missing", f"expected entry {expected_seq}, found {e.seq}")
        if e.prev_hash != prev_hash:
            yield Finding(e.seq, "broken_link", "prev_hash does not match the entry before it")
        if entry_hash(e) != e.hash:
            yield Finding(e.seq, "altered", "the entry's content does not match its hash")
        prev_hash = e.hash
        expected_seq = e.seq + 1


def check_head(
    head: SignedHead, public_key: bytes | None, hash_at_seq: str | None, last_seq: int, source: str
) -> list[Finding]:
    """What a signed head proves about the chain: the head is validly signed by a trusted key,
    and the entry at its seq exists and hashes to its hash. ``hash_at_seq`` is the stored hash
    of entry ``head.seq`` (None when there is no such entry), ``last_seq`` the chain's last."""
    if public_key is None:
        return [Finding(head.seq, "bad_head", f"{source}: the key {head.key_id} is not a trusted server key")]
    if not verify_signature(public_key, head.signature, head.message()):
        return [Finding(head.seq, "bad_head", f"{source}: the signature does not verify")]
    if hash_at_seq is None and last_seq < head.seq:
        return [Finding(head.seq, "truncated",
                        f"the log ends at entry {last_seq} but {source} signed entry {head.seq} (signed {head.signed_at})")]
    if hash_at_seq != head.head_hash:
        return [Finding(head.seq, "head_mismatch", f"entry {head.seq} differs from the signed head in {source}")]
    return []
