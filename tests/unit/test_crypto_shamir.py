"""Shamir k-of-n sharing of a tender's opening key among its custodians (开标密钥保管人).

Sources: DESIGN.md (a custodian holds one share and cannot open alone; a quorum of k of
n opens); Shamir, "How to share a secret", CACM 22(11), 1979; FIPS-197 §4.2 for the
field GF(2^8) with the AES polynomial 0x11b.
"""

from __future__ import annotations

import random
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import KeyFormatError, ShamirCode, ShamirError
from crypto.keys import b64url_encode, generate_x25519
from crypto.shamir import Share, combine, gf_div, gf_mul, interpolate, rebuild_x25519, split

SETTINGS = settings(max_examples=100, deadline=None)


def slow_mul(a: int, b: int) -> int:
    """Carry-less multiply reduced by 0x11b: the textbook definition, no tables."""
    out = 0
    while b:
        if b & 1:
            out ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return out


@st.composite
def sharings(draw: st.DrawFn) -> tuple[bytes, int, int, int]:
    n = draw(st.integers(1, 12))
    k = draw(st.integers(1, n))
    secret = draw(st.binary(min_size=1, max_size=40))
    seed = draw(st.integers(0, 2**32))
    return secret, k, n, seed


def test_field_multiplication_is_the_aes_field() -> None:
    """FIPS-197 §4.2: {57}·{83} = {c1}; the tables agree with the definition everywhere,
    and every non-zero element has an inverse."""
    assert gf_mul(0x57, 0x83) == 0xC1
    for a, b in product(range(256), repeat=2):
        assert gf_mul(a, b) == slow_mul(a, b)
    for a in range(1, 256):
        assert gf_mul(a, gf_div(1, a)) == 1
    with pytest.raises(ZeroDivisionError):
        gf_div(1, 0)


@SETTINGS
@given(sharing=sharings(), data=st.data())
def test_any_k_shares_rebuild_the_key(
    sharing: tuple[bytes, int, int, int], data: st.DataObject
) -> None:
    """A quorum of any k custodians, in any order, opens; a share handed in twice counts
    once."""
    secret, k, n, seed = sharing
    shares = split(secret, k, n, randbytes=random.Random(seed).randbytes)
    assert [s.x for s in shares] == list(range(1, n + 1))
    assert all(s.k == k and len(s.y) == len(secret) for s in shares)
    quorum = data.draw(st.lists(st.sampled_from(shares), min_size=k, unique=True))
    assert combine(quorum) == secret
    repeated = data.draw(st.permutations(quorum + quorum[:2]))
    assert combine(repeated) == secret


@SETTINGS
@given(sharing=sharings(), data=st.data())
def test_fewer_than_k_distinct_shares_do_not_open(
    sharing: tuple[bytes, int, int, int], data: st.DataObject
) -> None:
    """A custodian cannot open alone: below the quorum, even with repeats, it refuses."""
    secret, k, n, seed = sharing
    shares = split(secret, k, n, randbytes=random.Random(seed).randbytes)
    few = data.draw(st.lists(st.sampled_from(shares), max_size=k - 1, unique=True))
    with pytest.raises(ShamirError) as caught:
        combine(few + few)
    assert caught.value.code is ShamirCode.TOO_FEW_SHARES


@SETTINGS
@given(
    k=st.integers(2, 6),
    secret=st.binary(min_size=1, max_size=16),
    other=st.binary(min_size=16, max_size=16),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_k_minus_one_shares_are_consistent_with_every_secret(
    k: int, secret: bytes, other: bytes, seed: int, data: st.DataObject
) -> None:
    """Perfect hiding: for the k−1 shares a coalition holds, any other secret has exactly
    one random tape that would have produced those same shares — so the shares are
    equally likely under every secret and say nothing about it."""
    n = data.draw(st.integers(k, 10))
    shares = split(secret, k, n, randbytes=random.Random(seed).randbytes)
    coalition = data.draw(
        st.lists(st.sampled_from(shares), min_size=k - 1, max_size=k - 1, unique=True)
    )
    candidate = other[: len(secret)]
    tape = tape_for(candidate, coalition, k)
    forged = split(candidate, k, n, randbytes=lambda m: tape[:m])
    by_x = {s.x: s for s in forged}
    assert [by_x[s.x] for s in coalition] == coalition
    assert combine(forged[:k]) == candidate


def tape_for(secret: bytes, coalition: list[Share], k: int) -> bytes:
    """The coefficients a_1..a_{k-1} (per byte, in split's tape layout) of the unique
    polynomial through (0, secret[b]) and the coalition's points."""
    tape = bytearray()
    for b in range(len(secret)):
        points = [(0, secret[b])] + [(s.x, s.y[b]) for s in coalition]
        coefficients = [0] * k
        for i, (xi, yi) in enumerate(points):
            # basis polynomial l_i(x) = prod_{j != i} (x - x_j) / (x_i - x_j), as coefficients
            basis = [1]
            denominator = 1
            for j, (xj, _) in enumerate(points):
                if j == i:
                    continue
                basis = [0] + basis  # multiply by x
                for d in range(len(basis) - 1):
                    basis[d] ^= gf_mul(basis[d + 1], xj)  # ... and add x_j times the old
                denominator = gf_mul(denominator, xi ^ xj)
            scale = gf_div(yi, denominator)
            for d, c in enumerate(basis):
                coefficients[d] ^= gf_mul(c, scale)
        assert coefficients[0] == secret[b]
        tape += bytes(coefficients[1:])
    return bytes(tape)


def test_one_share_of_two_reveals_nothing_exhaustively() -> None:
    """k = 2 over one byte, counted exhaustively: for every point x and every share value
    y, each of the 256 secrets is produced by exactly one coefficient."""
    for x in (1, 2, 3, 200, 255):
        seen: dict[int, list[int]] = {}
        for s, a in product(range(256), repeat=2):
            y = s ^ gf_mul(a, x)
            seen.setdefault(y, []).append(s)
        assert len(seen) == 256
        for secrets in seen.values():
            assert sorted(secrets) == list(range(256))


def test_split_consumes_its_randomness_as_documented() -> None:
    """A known-answer vector: byte b uses tape[b*(k-1):(b+1)*(k-1)] as a_1..a_{k-1}."""
    shares = split(b"\x10\x20", 3, 4, randbytes=lambda m: bytes([1, 2, 3, 4])[:m])
    # byte 0: f(x) = 0x10 + 1x + 2x^2 ; byte 1: f(x) = 0x20 + 3x + 4x^2
    for share in shares:
        x = share.x
        assert share.y[0] == 0x10 ^ gf_mul(1, x) ^ gf_mul(2, gf_mul(x, x))
        assert share.y[1] == 0x20 ^ gf_mul(3, x) ^ gf_mul(4, gf_mul(x, x))
    assert combine(shares[1:]) == b"\x10\x20"


def test_shares_that_do_not_belong_together_are_refused() -> None:
    """An altered or foreign share is detected, not silently used to open the wrong key."""
    a = split(b"A" * 32, 2, 3, randbytes=random.Random(1).randbytes)
    b = split(b"B" * 32, 3, 3, randbytes=random.Random(2).randbytes)
    c = split(b"C" * 16, 2, 3, randbytes=random.Random(3).randbytes)
    cases = {
        "mixed k": [a[0], b[1], b[2]],
        "mixed length": [a[0], c[1]],
        "two values for one x": [a[0], Share(x=1, k=2, y=b"Z" * 32), a[1]],
        "a third share disagreeing": [a[0], a[1], Share(x=3, k=2, y=bytes(32))],
    }
    for name, shares in cases.items():
        with pytest.raises(ShamirError) as caught:
            combine(shares)
        assert caught.value.code is ShamirCode.INCONSISTENT_SHARES, name
    with pytest.raises(ShamirError) as caught:
        combine([])
    assert caught.value.code is ShamirCode.TOO_FEW_SHARES


def test_split_parameters_are_checked() -> None:
    for secret, k, n in [(b"", 1, 1), (b"s", 0, 1), (b"s", 3, 2), (b"s", 2, 256)]:
        with pytest.raises(ShamirError) as caught:
            split(secret, k, n)
        assert caught.value.code is ShamirCode.INVALID_PARAMETERS
    assert [s.y for s in split(b"key", 1, 3)] == [b"key"] * 3  # k = 1: every share is it


@SETTINGS
@given(x=st.integers(1, 255), k=st.integers(1, 255), y=st.binary(min_size=1, max_size=64))
def test_a_share_survives_its_encodings(x: int, k: int, y: bytes) -> None:
    share = Share(x=x, k=k, y=y)
    assert Share.from_bytes(share.to_bytes()) == share
    assert Share.decode(share.encode()) == share
    assert Share.parse(share.encode()) == share == Share.parse(b64url_encode(share.to_bytes()))


def test_malformed_shares_are_refused() -> None:
    bad_text = ["", "S1-2-1-", "S1-2-0-ab", "S1-2-1-AB", "S1-02-1-ab", "S2-2-1-ab", "S1-2-256-ab"]
    for text in bad_text:
        with pytest.raises(ShamirError) as caught:
            Share.decode(text)
        assert caught.value.code is ShamirCode.MALFORMED_SHARE, text
    for data in [b"", b"\x01\x02\x01", b"\x02\x02\x01a", b"\x01\x00\x01a", b"\x01\x02\x00a"]:
        with pytest.raises(ShamirError):
            Share.from_bytes(data)


def test_a_handed_in_share_is_s1_text_or_base64url_bytes() -> None:
    with pytest.raises(ShamirError):
        Share.parse("S1-2-1-zz")
    with pytest.raises(KeyFormatError):
        Share.parse("not base64url!")


def test_shares_rebuild_an_x25519_key_only_if_its_public_half_is_the_one_expected() -> None:
    """T9: the custodians' shares rebuild the opening (or reserve) key; too few shares, or
    shares of another key, rebuild nothing."""
    private, public = generate_x25519()
    shares = split(private, 2, 3)
    assert rebuild_x25519(shares[1:], public) == private
    assert rebuild_x25519(shares[:1], public) is None
    assert rebuild_x25519(split(generate_x25519()[0], 2, 3)[:2], public) is None


def test_interpolation_passes_through_the_points() -> None:
    shares = split(b"\x00\xff\x7f", 4, 7, randbytes=random.Random(9).randbytes)
    for share in shares:
        assert interpolate(shares[:4], share.x) == share.y
