"""Sealed boxes carry each custodian's share of the opening key, encrypted to that
custodian's own X25519 key; the server keeps only the boxes. Also the key helpers and
their strict text encodings.

Sources: DESIGN.md (each custodian gets its share encrypted to its own key; no key the
server holds before the opening can decrypt a bid); RFC 7748 (X25519, low-order points),
RFC 5869 (HKDF), RFC 4648 §5 (base64url).
"""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import KeyFormatCode, KeyFormatError, SealedBoxCode, SealedBoxError
from crypto.keys import (
    b64url_decode,
    b64url_encode,
    generate_x25519,
    hex_decode,
    hex_encode,
    key_id,
    x25519_exchange,
    x25519_public,
)
from crypto.sealedbox import BOX_OVERHEAD, open_from, seal_to
from crypto.shamir import Share, combine, split

SETTINGS = settings(max_examples=80, deadline=None)

CUSTODIAN_PRIVATE, CUSTODIAN_PUBLIC = generate_x25519(random.Random(11).randbytes)
OTHER_PRIVATE, _ = generate_x25519(random.Random(12).randbytes)
CONTEXT = b"sunlit/opening-key-share/T-2024-0042"
# RFC 7748 §6.1 test vector (Alice's private key and public key)
ALICE_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
BOB_PUBLIC = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
SHARED = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")


@SETTINGS
@given(plaintext=st.binary(max_size=300), context=st.binary(max_size=64))
def test_a_box_opens_with_its_key_and_context(plaintext: bytes, context: bytes) -> None:
    box = seal_to(CUSTODIAN_PUBLIC, plaintext, context)
    assert len(box) == len(plaintext) + BOX_OVERHEAD
    assert open_from(CUSTODIAN_PRIVATE, box, context) == plaintext


def test_a_custodian_share_travels_sealed_and_the_quorum_rebuilds_the_key() -> None:
    """DESIGN: the opening key is split k of n; each share is sealed to its custodian;
    at the opening a quorum hands in what their boxes hold and the key is rebuilt."""
    opening_private, opening_public = generate_x25519()
    custodians = [generate_x25519() for _ in range(5)]
    shares = split(opening_private, 3, 5)
    boxes = [
        seal_to(public, share.to_bytes(), CONTEXT)
        for (_, public), share in zip(custodians, shares, strict=True)
    ]
    handed_in = [
        Share.from_bytes(open_from(custodians[i][0], boxes[i], CONTEXT)) for i in (4, 0, 2)
    ]
    rebuilt = combine(handed_in)
    assert rebuilt == opening_private
    assert x25519_public(rebuilt) == opening_public


@SETTINGS
@given(where=st.integers(0, 10**6), mask=st.integers(1, 255))
def test_a_box_altered_anywhere_does_not_open(where: int, mask: int) -> None:
    box = bytearray(seal_to(CUSTODIAN_PUBLIC, b"S1-3-2-" + bytes(32), CONTEXT))
    box[where % len(box)] ^= mask
    with pytest.raises(SealedBoxError):
        open_from(CUSTODIAN_PRIVATE, bytes(box), CONTEXT)


def test_a_box_does_not_open_for_another_key_or_purpose() -> None:
    """A custodian opens only their own box, and a share sealed for one tender is not
    accepted as a share for another."""
    box = seal_to(CUSTODIAN_PUBLIC, b"share", CONTEXT)
    for private, context in [(OTHER_PRIVATE, CONTEXT), (CUSTODIAN_PRIVATE, CONTEXT + b"x")]:
        with pytest.raises(SealedBoxError) as caught:
            open_from(private, box, context)
        assert caught.value.code is SealedBoxCode.DECRYPT_FAILED


def test_malformed_boxes_are_refused() -> None:
    box = seal_to(CUSTODIAN_PUBLIC, b"share", CONTEXT)
    for bad in (b"", box[: BOX_OVERHEAD - 1], b"\x02" + box[1:]):
        with pytest.raises(SealedBoxError) as caught:
            open_from(CUSTODIAN_PRIVATE, bad, CONTEXT)
        assert caught.value.code is SealedBoxCode.MALFORMED
    low_order = b"\x01" + bytes(32) + box[33:]  # the all-zero point: RFC 7748 §6.1
    with pytest.raises(SealedBoxError) as caught:
        open_from(CUSTODIAN_PRIVATE, low_order, CONTEXT)
    assert caught.value.code is SealedBoxCode.DECRYPT_FAILED
    with pytest.raises(KeyFormatError):
        seal_to(bytes(32), b"share", CONTEXT)


def test_x25519_matches_rfc_7748() -> None:
    assert x25519_public(ALICE_PRIVATE) == ALICE_PUBLIC
    assert x25519_exchange(ALICE_PRIVATE, BOB_PUBLIC) == SHARED
    private, public = generate_x25519()
    assert len(private) == len(public) == 32 and x25519_public(private) == public
    with pytest.raises(KeyFormatError) as caught:
        x25519_public(b"short")
    assert caught.value.code is KeyFormatCode.BAD_LENGTH


def test_a_key_id_is_the_sha256_of_the_public_key() -> None:
    assert key_id(ALICE_PUBLIC) == hashlib.sha256(ALICE_PUBLIC).hexdigest()
    with pytest.raises(KeyFormatError):
        key_id(ALICE_PUBLIC[:31])


@SETTINGS
@given(data=st.binary(max_size=64))
def test_encodings_round_trip_with_one_spelling(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text and b64url_decode(text) == data
    assert hex_decode(hex_encode(data)) == data


def test_encodings_refuse_every_other_spelling() -> None:
    """Keys are compared as text, so each value has exactly one accepted spelling."""
    good = b64url_encode(bytes([0xFB, 0xFF]))  # "-_8"
    assert good == "-_8"
    for text in ["+/8", "-_8=", "-_9", "-_ 8", "a", "é"]:
        with pytest.raises(KeyFormatError) as caught:
            b64url_decode(text)
        assert caught.value.code is KeyFormatCode.BAD_ENCODING, text
    for text in ["ABCD", "abc", "0x00", " 00"]:
        with pytest.raises(KeyFormatError):
            hex_decode(text)
    with pytest.raises(KeyFormatError) as caught:
        b64url_decode(b64url_encode(bytes(31)), size=32)
    assert caught.value.code is KeyFormatCode.BAD_LENGTH
    with pytest.raises(KeyFormatError):
        hex_decode("00" * 31, size=32)
