"""The reserve's key split among custodians (issue 15 item 5; RULES A3 with the k-of-n
custody of T9), pure: any k shares rebuild the key that opens the reserve, fewer do not,
and the reserve's commitment binds the key and the shares."""

from __future__ import annotations

from itertools import combinations

import pytest

from auction.reserve import (
    RESERVE_SALT_BYTES,
    ReserveKey,
    custody_digest,
    open_sealed_share,
    seal_with_custodians,
    share_commitment,
)
from auction.rules import reserve_commitment
from crypto.errors import SealedBoxError, ShamirError
from crypto.keys import b64url_encode, generate_x25519, x25519_public
from crypto.shamir import Share, combine


def _split(k: int = 2, n: int = 3):  # type: ignore[no-untyped-def]
    custodians = [generate_x25519() for _ in range(n)]
    split = seal_with_custodians(7, 123_456, [pub for _, pub in custodians], k)
    shares = [
        Share.decode(open_sealed_share(b64url_encode(s.sealed_share), custodians[i][0], 7))
        for i, s in enumerate(split.shares)
    ]
    return split, shares


def test_any_k_shares_open_the_reserve_and_k_minus_1_do_not() -> None:
    """T9 (k of n) applied to A3: 2 of 3 custodians open the reserve; one alone cannot."""
    split, shares = _split()
    for pair in combinations(shares, 2):
        key = ReserveKey.from_private(combine(pair))
        assert key.public == split.public_key
        fen, salt = key.open(7, split.sealed.box)
        assert fen == 123_456 and reserve_commitment(fen, salt) == split.sealed.commitment
    with pytest.raises(ShamirError):
        combine(shares[:1])


def test_each_share_has_its_commitment_and_opens_only_for_its_lot() -> None:
    """A handed-in share is recognised by its commitment; a sealed share is for one lot."""
    split, shares = _split()
    for share, sealed in zip(shares, split.shares, strict=True):
        assert share_commitment(7, split.public_key, share.to_bytes()) == sealed.share_commitment
        assert share_commitment(8, split.public_key, share.to_bytes()) != sealed.share_commitment
    custodian_private, custodian_public = generate_x25519()
    other = seal_with_custodians(7, 1, [custodian_public, custodian_public], 2)
    with pytest.raises(SealedBoxError):
        open_sealed_share(b64url_encode(other.shares[0].sealed_share), custodian_private, 8)


def test_the_commitment_binds_the_key_and_the_shares() -> None:
    """Issue 15 item 5: the salt's second half is the custody digest, so the commitment in
    the log (before the first bid) names the key and the custodians' shares."""
    split, shares = _split()
    fen, salt = ReserveKey.from_private(combine(shares[:2])).open(7, split.sealed.box)
    holders = [(s.position, s.custodian_key_id, s.share_commitment) for s in split.shares]
    assert len(salt) == 2 * RESERVE_SALT_BYTES
    assert salt[RESERVE_SALT_BYTES:].hex() == custody_digest(7, split.public_key, 2, holders)
    other = ReserveKey.generate()
    assert custody_digest(7, other.public, 2, holders) != split.digest
    assert custody_digest(7, split.public_key, 3, holders) != split.digest
    assert x25519_public(combine(shares[1:])) == split.public_key
