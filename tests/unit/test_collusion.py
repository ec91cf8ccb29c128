"""Collusion signals over the recorded facts of one tender's bids (pure).

Source: RULES.md S3 (IR 40): documents by the same author or with the same hash, the same
person or device acting for several bidders, prices in a regular pattern — one signal each,
with its evidence.
"""

from __future__ import annotations

import hashlib
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from trading.collusion import BidFacts, CollusionSettings, SignalKind, signals


def independent_bids(seed: int, n: int) -> list[BidFacts]:
    """Bidders acting alone: their own documents, keys, addresses, and prices drawn
    independently between 80 % and 120 % of an estimate."""
    rnd = random.Random(seed)
    out = []
    for org_id in range(1, n + 1):
        docs = tuple(hashlib.sha256(f"{seed}/{org_id}/{d}".encode()).hexdigest() for d in range(rnd.randint(1, 4)))
        out.append(BidFacts(
            org_id=org_id,
            amount_fen=rnd.randint(80_000_000, 120_000_000),
            document_sha256=docs,
            signing_key=hashlib.sha256(f"key{seed}/{org_id}".encode()).hexdigest(),
            client_addrs=(f"10.{org_id}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",),
        ))  # fmt: skip
    return out


@settings(max_examples=300, derandomize=True)
@given(seed=st.integers(0, 2**32), n=st.integers(4, 15))
def test_independent_random_bids_raise_no_signal(seed: int, n: int) -> None:
    """S3: no presumption without a pattern — independent bids raise nothing."""
    assert signals(independent_bids(seed, n)) == []


@given(seed=st.integers(0, 2**32), n=st.integers(4, 15), data=st.data())
def test_a_shared_document_address_or_key_is_always_found(seed: int, n: int, data: st.DataObject) -> None:
    """S3 (IR 40(1), (2)): the same document hash, client address or signing key in two
    bidders' facts is one signal naming exactly those two."""
    bids = independent_bids(seed, n)
    a, b = data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
    kind = data.draw(st.sampled_from([SignalKind.SAME_DOCUMENT, SignalKind.SAME_ADDRESS, SignalKind.SAME_SIGNING_KEY]))
    x, y = bids[a], bids[b]
    if kind is SignalKind.SAME_DOCUMENT:
        shared = x.document_sha256[0]
        bids[b] = BidFacts(y.org_id, y.amount_fen, y.document_sha256 + (shared,), (), y.signing_key, y.client_addrs)
    elif kind is SignalKind.SAME_ADDRESS:
        shared = x.client_addrs[0]
        bids[b] = BidFacts(y.org_id, y.amount_fen, y.document_sha256, (), y.signing_key, y.client_addrs + (shared,))
    else:
        shared = x.signing_key
        bids[b] = BidFacts(y.org_id, y.amount_fen, y.document_sha256, (), shared, y.client_addrs)
    found = signals(bids)
    assert [(s.kind, s.key, s.org_ids) for s in found] == [(kind, shared, tuple(sorted((x.org_id, y.org_id))))]
    assert found[0].evidence["value"] == shared


@given(start=st.integers(1_000_000, 10**11), step=st.integers(1, 10**8), n=st.integers(3, 12),
       order=st.randoms(use_true_random=False))  # fmt: skip
def test_prices_in_equal_steps_are_always_found(start: int, step: int, n: int, order: random.Random) -> None:
    """S3 (IR 40(3)): prices stepping by equal differences, whatever order they came in."""
    prices = [start + i * step for i in range(n)]
    order.shuffle(prices)
    bids = [BidFacts(org_id=i + 1, amount_fen=p) for i, p in enumerate(prices)]
    found = {s.kind: s for s in signals(bids)}
    assert SignalKind.EQUAL_PRICE_STEPS in found
    assert found[SignalKind.EQUAL_PRICE_STEPS].evidence["step_fen"] == step
    assert found[SignalKind.EQUAL_PRICE_STEPS].org_ids == tuple(range(1, n + 1))


@given(low=st.integers(1_000_000, 10**11), n=st.integers(3, 12), data=st.data())
def test_prices_all_within_half_a_percent_are_always_found(low: int, n: int, data: st.DataObject) -> None:
    """S3 (IR 40(3)): all prices within 0.5 % of each other (the default band)."""
    top = low + low * 50 // 10_000
    prices = [low, top] + data.draw(st.lists(st.integers(low, top), min_size=n - 2, max_size=n - 2))
    kinds = {s.kind for s in signals([BidFacts(org_id=i + 1, amount_fen=p) for i, p in enumerate(prices)])}
    assert SignalKind.PRICES_WITHIN_BAND in kinds


def test_the_band_and_step_thresholds_are_configurable_and_exact() -> None:
    """The band is (highest − lowest) ≤ band × lowest, in integers: 0.5 % in, 0.51 % out."""
    inside = [BidFacts(1, 10_000_000), BidFacts(2, 10_050_000), BidFacts(3, 10_020_000)]
    outside = [BidFacts(1, 10_000_000), BidFacts(2, 10_051_000), BidFacts(3, 10_020_000)]
    assert {s.kind for s in signals(inside)} == {SignalKind.PRICES_WITHIN_BAND}
    assert signals(outside) == []
    assert {s.kind for s in signals(outside, CollusionSettings(band_bp=60))} == {SignalKind.PRICES_WITHIN_BAND}
    near_steps = [BidFacts(1, 100_000_000), BidFacts(2, 110_000_000), BidFacts(3, 120_050_000)]
    assert signals(near_steps) == []
    assert [s.kind for s in signals(near_steps, CollusionSettings(step_tolerance_bp=100))] == [
        SignalKind.EQUAL_PRICE_STEPS
    ]
    two = [BidFacts(1, 100), BidFacts(2, 100)]  # two prices are no pattern
    assert signals(two) == []


def test_loopback_and_missing_addresses_say_nothing() -> None:
    bids = [BidFacts(1, client_addrs=("127.0.0.1", "")), BidFacts(2, client_addrs=("127.0.0.1", ""))]
    assert signals(bids) == []
    assert [s.kind for s in signals(bids, CollusionSettings(ignored_addresses=frozenset()))] == [
        SignalKind.SAME_ADDRESS, SignalKind.SAME_ADDRESS
    ]


def test_author_metadata_is_compared_without_case_or_spaces() -> None:
    bids = [BidFacts(1, authors=("Zhang San ",)), BidFacts(2, authors=("zhang san",)), BidFacts(3, authors=("Li",))]
    (s,) = signals(bids)
    assert s.kind is SignalKind.SAME_AUTHOR and s.org_ids == (1, 2)
