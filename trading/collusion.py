"""Collusion signals (串通投标的推定情形, RULES S3, IR 40): pure functions over the facts
recorded about the bids of one tender, each signal with its evidence.

Theory of operation. At the opening, the facts of every opened bid are known: the bidder,
its price, the SHA-256 of each document in its package, the key that signed it, and the
client addresses from which the bidder acted on the tender (the audit log's ``client_addr``
of its registration, submissions and withdrawals). IR 40 presumes collusion when bids are

- (1) documents made by the same unit or person: the same document hash in the packages of
  different bidders (``same_document``), or the same author metadata (``same_author``:
  the bid package format carries no author field today, so the facts have none and the
  signal stays silent until it does — see docs/supervision.md);
- (2) handled by the same person or device: the same client address (``same_address``) or
  device key (``same_device``: not recorded today) acting for different bidders, or the
  same signing key (``same_signing_key``);
- (3) priced in a regular pattern: the sorted prices step by equal differences
  (``equal_price_steps``), or all lie within a band of each other (``prices_within_band``,
  0.5 % by default);
- (4) secured by deposits from one account: computed by the deposit ledger as the deposits
  arrive (``ledger.collusion``; ``trading.ledger.rules.payers``), not here.

:func:`signals` returns every signal, each naming the bidders and the shared value; the
caller raises one supervision alert per signal. Nothing here reads a clock, a file or the
database, so every signal is tested with Hypothesis (independent bids raise none; a
planted pattern is always found).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "BidFacts",
    "CollusionSettings",
    "Signal",
    "SignalKind",
    "signals",
]


class SignalKind(StrEnum):
    SAME_DOCUMENT = "same_document"
    SAME_AUTHOR = "same_author"
    SAME_ADDRESS = "same_address"
    SAME_DEVICE = "same_device"
    SAME_SIGNING_KEY = "same_signing_key"
    EQUAL_PRICE_STEPS = "equal_price_steps"
    PRICES_WITHIN_BAND = "prices_within_band"


@dataclass(frozen=True)
class CollusionSettings:
    """Thresholds (docs/supervision.md "Collusion signals"); a centre sets them with
    ``SUNLIT_COLLUSION_<NAME>``."""

    band_bp: int = 50
    """``prices_within_band``: every price within this many basis points (1/100 %) of the
    lowest: (highest − lowest) × 10 000 ≤ band_bp × lowest. 50 = 0.5 %."""
    step_tolerance_bp: int = 0
    """``equal_price_steps``: the steps between sorted prices may differ from each other by
    this many basis points of the largest step (0 = equal to the fen)."""
    min_priced_bids: int = 3
    """Price patterns need at least this many priced bids (two prices always step equally)."""
    ignored_addresses: frozenset[str] = frozenset({"", "127.0.0.1", "::1"})
    """Addresses that say nothing about the client (none recorded; a local proxy)."""

    def __post_init__(self) -> None:
        assert self.band_bp >= 0 and self.step_tolerance_bp >= 0 and self.min_priced_bids >= 3


@dataclass(frozen=True)
class BidFacts:
    """What is recorded about one bidder's opened bid in one tender."""

    org_id: int
    amount_fen: int | None = None
    document_sha256: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    signing_key: str = ""
    client_addrs: tuple[str, ...] = ()
    device_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Signal:
    kind: SignalKind
    key: str
    """The shared value (a hash, an address, a key) or the pattern's summary: what makes the
    signal one (an alert's dedup key is tender + kind + key)."""
    org_ids: tuple[int, ...]
    evidence: dict[str, Any] = field(default_factory=dict)


def _shared(kind: SignalKind, facts: Sequence[BidFacts], values: Any, ignored: Iterable[str] = ()) -> list[Signal]:
    skip = set(ignored)
    holders: dict[str, set[int]] = {}
    for f in facts:
        for v in set(values(f)):
            if v not in skip:
                holders.setdefault(v, set()).add(f.org_id)
    return [
        Signal(kind, value, tuple(sorted(orgs)), {"value": value, "bidders": sorted(orgs)})
        for value, orgs in sorted(holders.items())
        if len(orgs) > 1
    ]


def price_band(prices: Sequence[int], band_bp: int) -> bool:
    """All prices within ``band_bp`` basis points of the lowest (integer arithmetic)."""
    lo, hi = min(prices), max(prices)
    return lo > 0 and (hi - lo) * 10_000 <= band_bp * lo


def equal_steps(prices: Sequence[int], tolerance_bp: int) -> bool:
    """The sorted prices step by equal differences (all distinct), within the tolerance."""
    ordered = sorted(prices)
    steps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
    if not steps or min(steps) <= 0:
        return False
    return (max(steps) - min(steps)) * 10_000 <= tolerance_bp * max(steps)


def signals(facts: Sequence[BidFacts], settings: CollusionSettings | None = None) -> list[Signal]:
    """Every collusion signal among the bids of one tender, in a fixed order."""
    s = settings or CollusionSettings()
    out: list[Signal] = []
    out += _shared(SignalKind.SAME_DOCUMENT, facts, lambda f: f.document_sha256)
    out += _shared(SignalKind.SAME_AUTHOR, facts, lambda f: (a.strip().lower() for a in f.authors if a.strip()))
    out += _shared(SignalKind.SAME_ADDRESS, facts, lambda f: f.client_addrs, s.ignored_addresses)
    out += _shared(SignalKind.SAME_DEVICE, facts, lambda f: f.device_keys, {""})
    out += _shared(SignalKind.SAME_SIGNING_KEY, facts, lambda f: (f.signing_key,), {""})
    priced = sorted((f.amount_fen, f.org_id) for f in facts if f.amount_fen is not None and f.amount_fen > 0)
    if len({o for _, o in priced}) >= s.min_priced_bids:
        prices = [p for p, _ in priced]
        orgs = tuple(sorted({o for _, o in priced}))
        evidence = {"prices_fen": prices, "bidders": list(orgs)}
        if equal_steps(prices, s.step_tolerance_bp):
            step = prices[1] - prices[0]
            out.append(Signal(SignalKind.EQUAL_PRICE_STEPS, f"step:{step}", orgs,
                              evidence | {"step_fen": step, "tolerance_bp": s.step_tolerance_bp}))  # fmt: skip
        if price_band(prices, s.band_bp):
            out.append(Signal(SignalKind.PRICES_WITHIN_BAND, f"band:{prices[0]}-{prices[-1]}", orgs,
                              evidence | {"band_bp": s.band_bp, "spread_fen": prices[-1] - prices[0]}))  # fmt: skip
    return out
