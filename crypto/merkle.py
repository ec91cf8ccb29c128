"""RFC 6962 / RFC 9162 Merkle tree over the bid hashes of a tender.

At the bid deadline the set of bids is frozen as a list of 32-byte envelope hashes in the
order the caller defines (``bidding`` fixes it, e.g. by receipt sequence) and committed by
its root, which is signed and published; each bidder fetches an inclusion proof that its
bid is in it and checks it with :func:`verify_inclusion`, with nothing but this module.

Hashes (RFC 6962 §2.1)::

    MTH({})      = SHA-256()                       the empty tree
    leaf(d)      = SHA-256(0x00 || d)
    node(l, r)   = SHA-256(0x01 || l || r)
    MTH(D[n])    = node(MTH(D[0:k]), MTH(D[k:n]))  k = largest power of two < n

The distinct 0x00/0x01 prefixes keep a leaf from passing for an inner node (second
pre-image). Proofs are the audit paths of RFC 6962 §2.1.1 and verify with the algorithm of
RFC 9162 §2.1.3.2, so any CT tool agrees with them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from crypto.errors import MerkleCode, MerkleError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "proof_from_leaf_hashes",
    "root_from_leaf_hashes",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The tree head over 32-byte bid hashes, in the given order."""
    return root_from_leaf_hashes([leaf_hash(leaf) for leaf in _checked(leaves)])


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of ``leaves[index]``: sibling hashes, bottom up."""
    checked = _checked(leaves)
    if not (isinstance(index, int) and 0 <= index < len(checked)):
        raise MerkleError(MerkleCode.BAD_INDEX, f"index {index!r}, tree size {len(checked)}")
    return proof_from_leaf_hashes([leaf_hash(leaf) for leaf in checked], index)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves (bottom-up; a lone last node is promoted, which is
    the same tree as RFC 6962's split at the largest power of two)."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def proof_from_leaf_hashes(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of RFC 6962 §2.1.1 over already-hashed leaves."""
    if not 0 <= index < len(hashes):
        raise MerkleError(MerkleCode.BAD_INDEX, f"index {index}, tree size {len(hashes)}")
    proof: list[bytes] = []
    level = list(hashes)
    position = index
    while len(level) > 1:
        sibling = position ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        # else: a lone last node, promoted without a sibling at this level
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        position //= 2
    return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when ``leaf`` is at ``index`` in the tree of ``size`` leaves with ``root``.

    RFC 9162 §2.1.3.2. Never raises on malformed input: anything wrong is ``False``.
    """
    if not (isinstance(leaf, bytes) and isinstance(root, bytes) and len(root) == HASH_SIZE):
        return False
    if not (isinstance(index, int) and isinstance(size, int) and 0 <= index < size):
        return False
    if any(not isinstance(p, bytes) or len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def _checked(leaves: Sequence[bytes]) -> Sequence[bytes]:
    for i, leaf in enumerate(leaves):
        if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
            raise MerkleError(MerkleCode.BAD_LEAF, f"leaf {i}")
    return leaves
