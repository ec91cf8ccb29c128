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

This module is pure: entries in, findings out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from crypto.signing import canonical_json, sha256_hex
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
        d = asdict(self)
        d.pop("hash")
        d["at"] = iso_ms(self.at)
        return d


def entry_hash(entry: Entry) -> str:
    return sha256_hex(canonical_json(entry.hashed_fields()))


def checkpoint_message(seq: int, head_hash: str) -> bytes:
    """The bytes the server signs for a checkpoint."""
    return canonical_json({"kind": "sunlit.audit.checkpoint.v1", "seq": seq, "head_hash": head_hash})


@dataclass(frozen=True)
class Finding:
    seq: int
    problem: str
    """One of: altered, missing, broken_link, bad_checkpoint, checkpoint_mismatch."""
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
