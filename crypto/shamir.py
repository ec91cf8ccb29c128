"""Shamir secret sharing (k of n) over GF(2^8), byte by byte.

Theory of operation. The field is GF(2^8) with the AES reduction polynomial
``x^8 + x^4 + x^3 + x + 1`` (0x11b); addition is XOR, multiplication goes through log and
antilog tables with generator 3. For each byte ``s`` of the secret, :func:`split` picks a
polynomial ``f(x) = s + a_1 x + ... + a_{k-1} x^{k-1}`` with uniformly random coefficients
(a zero leading coefficient is allowed: every polynomial of degree < k with ``f(0) = s`` is
equally likely, which is what makes the hiding perfect) and gives custodian ``x``
(``x = 1 .. n``) the byte ``f(x)``. Any ``k`` points determine ``f`` by Lagrange
interpolation, so :func:`combine` reads ``f(0)``; any ``k - 1`` points are matched by
exactly one polynomial for every candidate secret, so they say nothing about it.

Randomness contract (it makes test vectors and the hiding test possible):
``split`` calls ``randbytes(len(secret) * (k - 1))`` exactly once; the coefficients of byte
``b`` are ``a_1 .. a_{k-1} = tape[b*(k-1) : (b+1)*(k-1)]``.

The table look-ups are not constant-time; shares are split and combined on the opening
machine at the opening, not on a host shared with an adversary.

Encodings of a share (version 1): bytes ``0x01 | k | x | y`` and text ``S1-<k>-<x>-<hex y>``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from crypto.errors import KeyFormatError, ShamirCode, ShamirError
from crypto.keys import b64url_decode, x25519_public

__all__ = [
    "MAX_SHARES",
    "Share",
    "combine",
    "gf_div",
    "gf_mul",
    "interpolate",
    "rebuild_x25519",
    "split",
]

MAX_SHARES = 255
_SHARE_VERSION = 1
_TEXT = re.compile(r"S1-([0-9]{1,3})-([0-9]{1,3})-((?:[0-9a-f]{2})+)")


def _tables() -> tuple[list[int], list[int]]:
    exp = [0] * 512
    log = [0] * 256
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        # multiply by the generator 3 = x + 1: v*2 (reduced by 0x11b) xor v
        doubled = value << 1
        if doubled & 0x100:
            doubled ^= 0x11B
        value = doubled ^ value
    for power in range(255, 512):  # so exp[log a + log b] needs no modulo
        exp[power] = exp[power - 255]
    return exp, log


_EXP, _LOG = _tables()


def gf_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def gf_div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(256)")
    if a == 0:
        return 0
    return _EXP[_LOG[a] + 255 - _LOG[b]]


@dataclass(frozen=True, slots=True)
class Share:
    """One custodian's share: the point ``x`` (1..255), the threshold ``k``, bytes ``y``."""

    x: int
    k: int
    y: bytes

    def __post_init__(self) -> None:
        if not (isinstance(self.x, int) and 1 <= self.x <= MAX_SHARES):
            raise ShamirError(ShamirCode.MALFORMED_SHARE, f"x={self.x!r} not in 1..255")
        if not (isinstance(self.k, int) and 1 <= self.k <= MAX_SHARES):
            raise ShamirError(ShamirCode.MALFORMED_SHARE, f"k={self.k!r} not in 1..255")
        if not isinstance(self.y, bytes) or len(self.y) == 0:
            raise ShamirError(ShamirCode.MALFORMED_SHARE, "y must be non-empty bytes")

    def to_bytes(self) -> bytes:
        return bytes([_SHARE_VERSION, self.k, self.x]) + self.y

    @classmethod
    def from_bytes(cls, data: bytes) -> Share:
        if len(data) < 4 or data[0] != _SHARE_VERSION:
            raise ShamirError(ShamirCode.MALFORMED_SHARE, "not a version-1 share")
        return cls(x=data[2], k=data[1], y=bytes(data[3:]))

    def encode(self) -> str:
        return f"S1-{self.k}-{self.x}-{self.y.hex()}"

    @classmethod
    def decode(cls, text: str) -> Share:
        match = _TEXT.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ShamirError(ShamirCode.MALFORMED_SHARE, "expected S1-<k>-<x>-<hex>")
        k, x, y = match.groups()
        share = cls(x=int(x), k=int(k), y=bytes.fromhex(y))
        if share.encode() != text:  # "S1-03-..." and the like: one spelling per share
            raise ShamirError(ShamirCode.MALFORMED_SHARE, "non-canonical share text")
        return share

    @classmethod
    def parse(cls, text: str) -> Share:
        """A share handed in: ``S1-<k>-<x>-<hex>``, or its bytes as unpadded base64url
        (``KeyFormatError`` if that is not what it is)."""
        return cls.decode(text) if text.startswith("S1-") else cls.from_bytes(b64url_decode(text))


def split(
    secret: bytes,
    k: int,
    n: int,
    randbytes: Callable[[int], bytes] = os.urandom,
) -> list[Share]:
    """Split ``secret`` into ``n`` shares, any ``k`` of which rebuild it (x = 1..n)."""
    if not isinstance(secret, bytes | bytearray) or len(secret) == 0:
        raise ShamirError(ShamirCode.INVALID_PARAMETERS, "secret must be non-empty bytes")
    if not (isinstance(k, int) and isinstance(n, int) and 1 <= k <= n <= MAX_SHARES):
        raise ShamirError(ShamirCode.INVALID_PARAMETERS, f"k={k!r}, n={n!r}")
    degree = k - 1
    tape = randbytes(len(secret) * degree)
    if len(tape) != len(secret) * degree:
        raise ValueError("randbytes returned the wrong number of bytes")
    ys = [bytearray(len(secret)) for _ in range(n)]
    for b, s in enumerate(secret):
        coefficients = tape[b * degree : (b + 1) * degree]
        for i in range(n):
            x = i + 1
            acc = 0
            for a in reversed(coefficients):  # Horner, highest degree first
                acc = gf_mul(acc, x) ^ a
            ys[i][b] = gf_mul(acc, x) ^ s
    return [Share(x=i + 1, k=k, y=bytes(y)) for i, y in enumerate(ys)]


def combine(shares: Iterable[Share]) -> bytes:
    """Rebuild the secret from at least ``k`` distinct shares.

    A share given twice counts once; two different ``y`` for one ``x``, mixed ``k`` or
    mixed lengths raise ``inconsistent_shares``. Shares beyond the first ``k`` (by ``x``)
    are checked against the polynomial the first ``k`` define, so a corrupted share among
    more than ``k`` is detected rather than silently ignored.
    """
    by_x: dict[int, Share] = {}
    for share in shares:
        if not isinstance(share, Share):
            raise TypeError("combine() takes Share objects")
        seen = by_x.get(share.x)
        if seen is not None and seen.y != share.y:
            raise ShamirError(ShamirCode.INCONSISTENT_SHARES, f"two values for x={share.x}")
        by_x[share.x] = share
    if not by_x:
        raise ShamirError(ShamirCode.TOO_FEW_SHARES, "no shares")
    distinct = [by_x[x] for x in sorted(by_x)]
    k = distinct[0].k
    size = len(distinct[0].y)
    if any(s.k != k for s in distinct):
        raise ShamirError(ShamirCode.INCONSISTENT_SHARES, "shares of different thresholds")
    if any(len(s.y) != size for s in distinct):
        raise ShamirError(ShamirCode.INCONSISTENT_SHARES, "shares of different lengths")
    if len(distinct) < k:
        raise ShamirError(ShamirCode.TOO_FEW_SHARES, f"{len(distinct)} distinct of {k} needed")
    basis, extra = distinct[:k], distinct[k:]
    for share in extra:
        if interpolate(basis, share.x) != share.y:
            raise ShamirError(ShamirCode.INCONSISTENT_SHARES, f"share x={share.x} disagrees")
    return interpolate(basis, 0)


def rebuild_x25519(shares: Iterable[Share], public: bytes | None) -> bytes | None:
    """The X25519 private key the shares combine to if its public half is ``public``; None
    if they do not combine, or combine to another key (a share that does not fit)."""
    try:
        private = combine(shares)
        return private if x25519_public(private) == public else None
    except (ShamirError, KeyFormatError):
        return None


def interpolate(points: Sequence[Share], at: int) -> bytes:
    """Evaluate, byte by byte, the polynomial through ``points`` (distinct x) at ``at``."""
    xs = [p.x for p in points]
    weights: list[int] = []
    for i, xi in enumerate(xs):
        numerator, denominator = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                numerator = gf_mul(numerator, at ^ xj)
                denominator = gf_mul(denominator, xi ^ xj)
        weights.append(gf_div(numerator, denominator))
    out = bytearray(len(points[0].y))
    for point, weight in zip(points, weights, strict=True):
        if weight == 0:
            continue
        log_w = _LOG[weight]
        for b, y in enumerate(point.y):
            if y:
                out[b] ^= _EXP[_LOG[y] + log_w]
    return bytes(out)
