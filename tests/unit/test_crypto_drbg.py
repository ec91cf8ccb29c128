"""The deterministic random stream behind the expert draw (crypto/drbg.py).

Sources: RULES.md E7 (the draw can be re-run by anyone: the stream is a pure function of
its key); NIST SP 800-108 §4.1 (a PRF in counter mode); RFC 2104 (HMAC); docs/draw.md §4.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.drbg import BLOCK_BYTES, HmacStream, hmac_sha256

SETTINGS = settings(max_examples=100, deadline=None)
KEY = bytes(range(32))

# chi-square critical values at p = 0.999 by degrees of freedom
CHI2_999 = {6: 22.458, 9: 27.877}


def chi_square(counts: list[int]) -> float:
    expected = sum(counts) / len(counts)
    return sum((c - expected) ** 2 / expected for c in counts)


class ScriptedStream(HmacStream):
    """A stream whose bytes are given, to exercise the rejection step exactly."""

    __slots__ = ("_script",)

    def __init__(self, script: bytes) -> None:
        super().__init__(bytes(16))
        self._script = bytearray(script)

    def read(self, n: int) -> bytes:
        out = bytes(self._script[:n])
        assert len(out) == n, "script ran out"
        del self._script[:n]
        return out


def test_stream_is_hmac_sha256_in_counter_mode() -> None:
    """docs/draw.md §4: block(j) = HMAC-SHA256(key, 0x00 || u64be(j)), read in order."""
    expected = b"".join(
        hmac.new(KEY, b"\x00" + j.to_bytes(8, "big"), hashlib.sha256).digest() for j in range(3)
    )
    assert HmacStream(KEY).read(3 * BLOCK_BYTES) == expected


def test_substream_key_is_hmac_of_tagged_label() -> None:
    """docs/draw.md §4: line_key = HMAC(K, 0x01 || label)."""
    label = b"line" + (7).to_bytes(4, "big")
    sub = HmacStream(KEY).substream(label)
    direct = HmacStream(hmac.new(KEY, b"\x01" + label, hashlib.sha256).digest())
    assert sub.read(40) == direct.read(40)


def test_known_answer_vector() -> None:
    """Pins the algorithm: the all-zero key gives these first ten values of randbelow(10)."""
    s = HmacStream(bytes(32))
    assert [s.randbelow(10) for _ in range(10)] == [0, 9, 6, 5, 5, 8, 8, 4, 5, 7]
    assert s.consumed_bytes == 28
    assert HmacStream(KEY).read(8).hex() == "6bea9eaf74b1c03c"


@SETTINGS
@given(st.lists(st.integers(0, 70), max_size=12))
def test_the_same_key_gives_the_same_bytes_however_they_are_read(sizes: list[int]) -> None:
    """E7: the stream is a pure function of its key, independent of read sizes."""
    total = sum(sizes)
    s = HmacStream(KEY)
    chunked = b"".join(s.read(n) for n in sizes)
    assert chunked == HmacStream(KEY).read(total)
    assert s.consumed_bytes == total


def test_different_keys_give_different_streams() -> None:
    assert HmacStream(KEY).read(32) != HmacStream(bytes(32)).read(32)


def test_substream_does_not_depend_on_what_the_parent_read() -> None:
    parent = HmacStream(KEY)
    before = parent.substream(b"a").read(16)
    parent.read(100)
    assert parent.substream(b"a").read(16) == before
    assert parent.substream(b"b").read(16) != before


@SETTINGS
@given(st.binary(min_size=16, max_size=64), st.integers(1, 2**70))
def test_randbelow_stays_below_its_bound(key: bytes, n: int) -> None:
    s = HmacStream(key)
    for _ in range(5):
        assert 0 <= s.randbelow(n) < n


def test_randbelow_rejects_out_of_range_values_instead_of_reducing_them() -> None:
    """No modulo bias: for n = 5 (3 bits), 7, 6 and 5 are discarded, not taken mod 5."""
    # 0x07 -> 7, 0x06 -> 6, 0xFD & 7 -> 5: all rejected; 0x0B & 7 -> 3: accepted
    s = ScriptedStream(bytes([0x07, 0x06, 0xFD, 0x0B]))
    assert s.randbelow(5) == 3


def test_randbelow_uses_big_endian_bytes_and_keeps_the_low_bits() -> None:
    # n = 300 needs 9 bits: two bytes, 0x81 0x2C -> 0x812C & 0x1FF = 0x12C = 300 (rejected),
    # then 0x00 0xFF -> 255 (accepted)
    s = ScriptedStream(bytes([0x81, 0x2C, 0x00, 0xFF]))
    assert s.randbelow(300) == 255


def test_randbelow_one_is_zero_and_reads_nothing() -> None:
    s = HmacStream(KEY)
    assert s.randbelow(1) == 0
    assert s.consumed_bytes == 0


def test_randbelow_refuses_a_bound_below_one() -> None:
    with pytest.raises(ValueError):
        HmacStream(KEY).randbelow(0)


def test_randbits_takes_the_low_bits_of_whole_bytes() -> None:
    assert ScriptedStream(bytes([0xFF, 0xAB])).randbits(12) == 0xFAB
    assert HmacStream(KEY).randbits(0) == 0


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError):
        HmacStream(b"short")


def test_randbelow_is_uniform() -> None:
    """Chi-square over 70,000 draws of randbelow(7) (a bound that is not a power of two,
    where a modulo reduction would be biased) stays below the p = 0.999 critical value."""
    s = HmacStream(hmac_sha256(b"fixed outer seed for the test", b"uniformity"))
    counts = [0] * 7
    for _ in range(70_000):
        counts[s.randbelow(7)] += 1
    assert chi_square(counts) < CHI2_999[6]
