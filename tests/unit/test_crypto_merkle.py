"""The commitment to the set of bids at the deadline: an RFC 6962 Merkle tree.

Sources: DESIGN.md / RULES (at the deadline the set of bids is frozen and committed by a
signed Merkle root; each bidder can fetch the proof that its bid is in it); RFC 6962
§2.1 (tree hash, audit paths) and RFC 9162 §2.1.3.2 (verifying an inclusion proof); the
reference vectors are Certificate Transparency's (``merkle_tree_test``).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import MerkleCode, MerkleError
from crypto.merkle import (
    EMPTY_ROOT,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    proof_from_leaf_hashes,
    root_from_leaf_hashes,
    verify_inclusion,
)

SETTINGS = settings(max_examples=100, deadline=None)

CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_PROOFS = [  # (0-based index, tree size, audit path)
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
]


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1, word for word: split at the largest power of two below n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(
        b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])
    ).digest()


bid_hashes = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70)


def test_roots_match_rfc_6962_reference_vectors() -> None:
    """RFC 6962: any CT tool computes the same tree heads."""
    for size in range(9):
        hashes = [leaf_hash(leaf) for leaf in CT_LEAVES[:size]]
        assert root_from_leaf_hashes(hashes).hex() == CT_ROOTS[size]


def test_proofs_match_rfc_6962_reference_vectors() -> None:
    for index, size, path in CT_PROOFS:
        hashes = [leaf_hash(leaf) for leaf in CT_LEAVES[:size]]
        proof = proof_from_leaf_hashes(hashes, index)
        assert [p.hex() for p in proof] == path
        root = bytes.fromhex(CT_ROOTS[size])
        assert verify_inclusion(CT_LEAVES[index], index, size, proof, root)


def test_the_empty_tree_root_is_the_hash_of_nothing() -> None:
    """A tender with no bids still commits: to SHA-256 of the empty string."""
    assert merkle_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@SETTINGS
@given(leaves=bid_hashes, data=st.data())
def test_every_bid_has_a_proof_that_it_is_in_the_committed_set(
    leaves: list[bytes], data: st.DataObject
) -> None:
    """RULES (bid deadline): each bidder can check its bid is in the published root."""
    root = merkle_root(leaves)
    assert root == reference_root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = inclusion_proof(leaves, index)
    assert verify_inclusion(leaves[index], index, len(leaves), proof, root)


@SETTINGS
@given(leaves=bid_hashes, data=st.data())
def test_a_proof_does_not_verify_for_anything_else(
    leaves: list[bytes], data: st.DataObject
) -> None:
    """A bid not in the committed set, at another position, against another root, or with
    any proof hash altered, does not verify. (The tree size is not always bound by the
    path alone — a path for leaf 0 of 3 leaves also fits 4 — which is why the published
    tree head signs the size with the root.)"""
    root = merkle_root(leaves)
    size = len(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(leaves, index)
    leaf = leaves[index]
    other = data.draw(st.binary(min_size=32, max_size=32).filter(lambda b: b != leaf))
    assert not verify_inclusion(other, index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, hashlib.sha256(root).digest())
    wrong_index = data.draw(st.integers(0, size))
    if leaves[wrong_index % size] != leaf or wrong_index == size:
        assert not verify_inclusion(leaf, wrong_index, size, proof, root)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bent = [*proof]
        bent[i] = bytes([bent[i][0] ^ 1]) + bent[i][1:]
        assert not verify_inclusion(leaf, index, size, bent, root)
        assert not verify_inclusion(leaf, index, size, proof[:-1], root)
    assert not verify_inclusion(leaf, index, size, [*proof, root], root)


def test_a_leaf_cannot_pass_for_an_inner_node() -> None:
    """RFC 6962 §2.1: the 0x00/0x01 prefixes stop a second-preimage: the two children of
    an inner node, concatenated, are not a leaf of the tree."""
    leaves = [bytes([i]) * 32 for i in range(4)]
    root = merkle_root(leaves)
    left = node_hash(leaf_hash(leaves[0]), leaf_hash(leaves[1]))
    right = node_hash(leaf_hash(leaves[2]), leaf_hash(leaves[3]))
    assert root == node_hash(left, right)
    assert not verify_inclusion(left + right, 0, 1, [], root)
    assert not verify_inclusion(left, 0, 2, [right], root)


def test_bad_leaves_and_indices_are_refused() -> None:
    with pytest.raises(MerkleError) as caught:
        merkle_root([b"short"])
    assert caught.value.code is MerkleCode.BAD_LEAF
    with pytest.raises(MerkleError) as caught:
        merkle_root(["00" * 32])  # type: ignore[list-item]
    assert caught.value.code is MerkleCode.BAD_LEAF
    for index in (-1, 3, True):
        with pytest.raises(MerkleError) as caught:
            inclusion_proof([bytes(32)] * 3, index if index is not True else 5)
        assert caught.value.code is MerkleCode.BAD_INDEX


def test_verification_never_raises_on_junk() -> None:
    root = merkle_root([bytes(32)])
    junk: list[tuple[object, ...]] = [
        (bytes(32), 0, 0, [], root),
        (bytes(32), -1, 1, [], root),
        (bytes(32), 0, 1, [b"x"], root),
        (bytes(32), 0, 1, [], b"short"),
        ("text", 0, 1, [], root),
        (bytes(32), 0, 1, ["00" * 32], root),
    ]
    for args in junk:
        assert verify_inclusion(*args) is False  # type: ignore[arg-type]
    assert verify_inclusion(bytes(32), 0, 1, [], root) is True
