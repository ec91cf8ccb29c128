"""Offline check of a published opening record (开标记录) — pure: JSON and a key in, a report out.

What ``sunlit bid verify-opening`` runs (issue 16, item 5). Given the signed record as
served (``GET /api/v1/tenders/{id}/opening-record/public``, or the full record for staff)
and the server's public key from a trusted place, it checks, and lists every problem it
finds rather than the first:

1. **Signature.** The wire form ``{document, signature, key_id, algorithm}``; ``algorithm``
   is ``Ed25519``; ``Ed25519.verify(key, signature, canonical_json(document))``; the
   document's ``type`` is ``sunlit/opening-record/v1`` or ``sunlit/opening-record-public/v1``
   (a receipt or a tree head, signed by the same key, is not an opening record).
2. **The bid tree.** ``bid_tree.size`` leaves; the entries' ``leaf_index`` values are
   ``0 … size-1``, each once; each ``envelope_sha256`` is 64 lowercase hex digits. The
   RFC 6962 root over the envelope hashes in leaf order equals ``bid_tree.root``.
3. **Each inclusion proof.** For every entry, the audit path of its envelope hash is
   computed from the leaves and verified against the signed root and size with the RFC 9162
   algorithm (``crypto.merkle.verify_inclusion``) — and so is every bidder's own proof
   handed in (``sunlit bid proof --out``): same root, same size, and the entry at its
   index names the same envelope.
4. **The tree head**, when given (``GET /api/v1/tenders/{id}/bid-tree``): signed by the
   same key, of the same tender, with the same root and size as the record.

A failed tender's record (``status: failed``, 流标) lists no entries: its root is checked
only when there were no bids (the empty tree's root); otherwise the tree head, if given,
must agree with it.

Pure: no files, no network, no clock. ``verify_opening`` never raises on bad input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bidding.records import (
    OPENING_RECORD_TYPE,
    PUBLIC_RECORD_TYPE,
    TREE_HEAD_TYPE,
    Signed,
    verify_signed,
)
from crypto.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    merkle_root,
    proof_from_leaf_hashes,
    verify_inclusion,
)

__all__ = ["OpeningReport", "verify_opening"]

_HEX = frozenset("0123456789abcdef")


def _is_hash_hex(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


@dataclass
class OpeningReport:
    """``ok`` only when the signature verified and no problem was found."""

    signature_ok: bool = False
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    document: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.signature_ok and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "signature_ok": self.signature_ok,
            "problems": list(self.problems),
            "checked": list(self.checked),
        }


def verify_opening(
    signed_record: object,
    public_key: bytes,
    *,
    tree_head: object = None,
    proofs: Sequence[object] = (),
) -> OpeningReport:
    """Check a signed opening record (see the module docstring). ``tree_head`` is the
    signed tree head's wire form; ``proofs`` are bidders' proof files (parsed JSON)."""
    report = OpeningReport()
    try:
        signed = Signed.from_json(signed_record)
    except ValueError as exc:
        report.problems.append(f"not a signed record: {exc}")
        return report
    doc = signed.document
    report.document = doc
    kind = doc.get("type")
    if kind not in (OPENING_RECORD_TYPE, PUBLIC_RECORD_TYPE):
        report.problems.append(f"not an opening record: type {kind!r}")
        return report
    report.signature_ok = verify_signed(signed, public_key)
    if report.signature_ok:
        report.checked.append(f"signature: Ed25519 by key {signed.key_id} over the {kind} document")
    else:
        report.problems.append("the signature does not verify with this public key")

    tree = doc.get("bid_tree")
    if not (
        isinstance(tree, Mapping)
        and _is_hash_hex(tree.get("root"))
        and isinstance(tree.get("size"), int)
        and not isinstance(tree.get("size"), bool)
        and tree["size"] >= 0
    ):
        report.problems.append("bid_tree must be {root: 64 hex digits, size: integer ≥ 0}")
        return report
    root, size = bytes.fromhex(tree["root"]), tree["size"]
    entries = doc.get("entries")
    if not isinstance(entries, list):
        report.problems.append("entries must be a list")
        return report

    leaves: list[bytes] | None = None
    if doc.get("status") == "failed":
        if doc.get("bid_count") != size:
            report.problems.append(f"bid_count {doc.get('bid_count')!r} ≠ bid_tree.size {size}")
        if entries:
            report.problems.append("a failed tender's record lists no bids")
        if size == 0:
            leaves = []
        else:
            report.checked.append(
                f"failed tender: {size} bid(s) not listed, so the root is checked only "
                "against a tree head (--tree-head)"
            )
    else:
        leaves = _leaves(entries, size, report)
    if leaves is not None:
        computed = merkle_root(leaves) if leaves else EMPTY_ROOT
        if computed != root:
            report.problems.append(
                f"the Merkle root of the {len(leaves)} envelope hashes is {computed.hex()}, "
                f"the record says {root.hex()}"
            )
        else:
            report.checked.append(f"Merkle root {root.hex()} over {size} envelope hash(es)")
            hashed = [leaf_hash(x) for x in leaves]
            bad = [
                i
                for i, leaf in enumerate(leaves)
                if not verify_inclusion(leaf, i, size, proof_from_leaf_hashes(hashed, i), root)
            ]
            if bad:  # only a bug in the tree code could make this happen
                report.problems.append(f"inclusion proofs fail at leaves {bad}")
            else:
                report.checked.append(f"inclusion proof of each of the {size} entries")

    if tree_head is not None:
        _check_tree_head(tree_head, public_key, doc, root, size, report)
    for n, proof in enumerate(proofs, 1):
        _check_proof(n, proof, root, size, leaves, report)
    return report


def _leaves(entries: list[Any], size: int, report: OpeningReport) -> list[bytes] | None:
    by_index: dict[int, str] = {}
    for n, e in enumerate(entries):
        if not isinstance(e, Mapping):
            report.problems.append(f"entry {n} is not an object")
            return None
        index, digest = e.get("leaf_index"), e.get("envelope_sha256")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < size:
            report.problems.append(f"entry {n}: leaf_index {index!r} outside 0…{size - 1}")
            return None
        if index in by_index:
            report.problems.append(f"entry {n}: leaf_index {index} appears twice")
            return None
        if not _is_hash_hex(digest):
            report.problems.append(f"entry {n}: envelope_sha256 must be 64 lowercase hex digits")
            return None
        by_index[index] = digest
    if len(by_index) != size:
        missing = sorted(set(range(size)) - set(by_index))
        report.problems.append(f"the tree has {size} leaves; entries missing for {missing[:10]}")
        return None
    return [bytes.fromhex(by_index[i]) for i in range(size)]


def _check_tree_head(
    obj: object,
    public_key: bytes,
    doc: Mapping[str, Any],
    root: bytes,
    size: int,
    report: OpeningReport,
) -> None:
    try:
        head = Signed.from_json(obj)
    except ValueError as exc:
        report.problems.append(f"tree head: not a signed document: {exc}")
        return
    if not verify_signed(head, public_key, expected_type=TREE_HEAD_TYPE):
        report.problems.append("tree head: not a tree head signed by this key")
        return
    h = head.document
    if h.get("tender_id") != doc.get("tender_id"):
        report.problems.append(
            f"tree head: tender {h.get('tender_id')!r}, the record's is {doc.get('tender_id')!r}"
        )
    if h.get("root") != root.hex() or h.get("tree_size") != size:
        report.problems.append(
            f"tree head: root {h.get('root')} size {h.get('tree_size')}, the record has "
            f"root {root.hex()} size {size}"
        )
    else:
        report.checked.append("the signed tree head frozen at the deadline has the same root and size")


def _check_proof(
    n: int,
    proof: object,
    root: bytes,
    size: int,
    leaves: list[bytes] | None,
    report: OpeningReport,
) -> None:
    try:
        assert isinstance(proof, Mapping)
        leaf = bytes.fromhex(proof["envelope_sha256"])
        index = proof["leaf_index"]
        path = [bytes.fromhex(p) for p in proof["proof"]]
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        report.problems.append(f"proof {n}: malformed ({exc!r})")
        return
    if not verify_inclusion(leaf, index, size, path, root):
        report.problems.append(f"proof {n}: the bid at index {index!r} is not in the record's tree")
        return
    if leaves is not None and leaves[index] != leaf:  # cannot differ once the root matches
        report.problems.append(f"proof {n}: the entry at index {index} names another envelope")
        return
    report.checked.append(f"proof {n}: envelope {leaf.hex()[:16]}… at index {index} is in the tree")
