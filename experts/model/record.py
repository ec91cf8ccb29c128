"""The draw record (what a draw commits to before it runs), its result (each line's drawn
order), and the report of a verification that re-runs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .exclusions import Exclusion
from .request import DrawRequest
from .specialties import SpecialtyCode

__all__ = [
    "BeaconRef",
    "Difference",
    "DifferenceKind",
    "DrawRecord",
    "DrawResult",
    "LineDraw",
    "VerifyReport",
]


@dataclass(frozen=True, slots=True)
class BeaconRef:
    """A public randomness value fixed in advance (e.g. a drand round): the record names the
    round before its value is published; staff supply the value when the draw runs."""

    source: str
    round: int

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "round": self.round}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BeaconRef:
        return cls(data["source"], data["round"])


@dataclass(frozen=True, slots=True)
class DrawRecord:
    """What the draw commits to before it runs (see docs/draw.md).

    ``candidates[i]`` is the sorted tuple of eligible expert ids for ``request.demands[i]``
    (the pool snapshot); ``exclusions`` is sorted. The four hashes are lowercase hex
    SHA-256 values computed by ``experts.draw.commit``; ``record_hash`` covers the other
    hashes, the algorithm version, the seed commitment and the beacon reference, and is
    what gets published and audited before the draw.
    """

    algorithm_version: str
    request: DrawRequest
    candidates: tuple[tuple[str, ...], ...]
    exclusions: tuple[Exclusion, ...]
    seed_hash: str
    beacon: BeaconRef | None
    request_hash: str
    pool_hash: str
    exclusions_hash: str
    record_hash: str

    def header_json(self) -> dict[str, Any]:
        """The object whose canonical JSON is hashed into ``record_hash``."""
        return {
            "algorithm_version": self.algorithm_version,
            "beacon": None if self.beacon is None else self.beacon.to_json(),
            "exclusions_hash": self.exclusions_hash,
            "pool_hash": self.pool_hash,
            "request_hash": self.request_hash,
            "seed_hash": self.seed_hash,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.header_json(),
            "record_hash": self.record_hash,
            "request": self.request.to_json(),
            "candidates": [list(ids) for ids in self.candidates],
            "exclusions": [x.to_json() for x in self.exclusions],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DrawRecord:
        """Read a published record as it is, without recomputing anything (``verify_draw``
        checks it)."""
        beacon = data["beacon"]
        return cls(
            algorithm_version=data["algorithm_version"],
            request=DrawRequest.from_json(data["request"]),
            candidates=tuple(tuple(ids) for ids in data["candidates"]),
            exclusions=tuple(Exclusion.from_json(x) for x in data["exclusions"]),
            seed_hash=data["seed_hash"],
            beacon=None if beacon is None else BeaconRef.from_json(beacon),
            request_hash=data["request_hash"],
            pool_hash=data["pool_hash"],
            exclusions_hash=data["exclusions_hash"],
            record_hash=data["record_hash"],
        )


@dataclass(frozen=True, slots=True)
class LineDraw:
    """The drawn order of one request line: ``order[:count]`` is the panel, the rest the
    replacement order (候补顺序), fixed before anyone is called."""

    line: int
    code: SpecialtyCode
    count: int
    order: tuple[str, ...]

    @property
    def panel(self) -> tuple[str, ...]:
        return self.order[: self.count]

    @property
    def reserves(self) -> tuple[str, ...]:
        return self.order[self.count :]

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "code": self.code.code,
            "count": self.count,
            "order": list(self.order),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LineDraw:
        return cls(data["line"], SpecialtyCode(data["code"]), data["count"], tuple(data["order"]))


@dataclass(frozen=True, slots=True)
class DrawResult:
    """The outcome of ``run_draw``: one ``LineDraw`` per request line, in line order."""

    record_hash: str
    algorithm_version: str
    beacon_value_hex: str | None
    lines: tuple[LineDraw, ...]

    @property
    def panel_ids(self) -> tuple[str, ...]:
        """Every line's panel, line by line."""
        return tuple(x for ld in self.lines for x in ld.panel)

    def to_json(self) -> dict[str, Any]:
        return {
            "record_hash": self.record_hash,
            "algorithm_version": self.algorithm_version,
            "beacon_value": self.beacon_value_hex,
            "lines": [ld.to_json() for ld in self.lines],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DrawResult:
        return cls(
            data["record_hash"],
            data["algorithm_version"],
            data["beacon_value"],
            tuple(LineDraw.from_json(ld) for ld in data["lines"]),
        )


class DifferenceKind(Enum):
    """Where a verification found the published draw and its re-run to disagree."""

    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    HASH_MISMATCH = "hash_mismatch"  # a committed hash does not match the record's content
    PUBLISHED_HASH_MISMATCH = "published_hash_mismatch"  # not the record published before
    SEED_MISMATCH = "seed_mismatch"  # the revealed seed does not hash to the commitment
    BEACON_MISSING = "beacon_missing"
    BEACON_MISMATCH = "beacon_mismatch"
    BEACON_UNEXPECTED = "beacon_unexpected"
    RESULT_FOR_OTHER_RECORD = "result_for_other_record"
    CANDIDATES_MALFORMED = "candidates_malformed"  # unsorted, repeated, or not aligned
    EXCLUDED_CANDIDATE = "excluded_candidate"  # an excluded expert is among the candidates
    RERUN_FAILED = "rerun_failed"  # the record's own content cannot be drawn from
    LINE_COUNT = "line_count"
    LINE_HEADER = "line_header"  # a line's code or count differs
    LENGTH = "length"  # a line's order has a different length
    POSITION = "position"  # a line's order differs at a position
    CALL_ORDER = "call_order"  # someone was called who is not next in the drawn order
    RECORD_UNREADABLE = "record_unreadable"  # the stored record cannot even be parsed


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement: ``line`` and ``position`` are 0-based; ``expected`` is what the
    re-run gives, ``claimed`` what the published result says."""

    kind: DifferenceKind
    message_en: str
    message_zh: str
    line: int | None = None
    code: str | None = None
    position: int | None = None
    expected: str | None = None
    claimed: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "message_en": self.message_en,
            "message_zh": self.message_zh,
            "line": self.line,
            "code": self.code,
            "position": self.position,
            "expected": self.expected,
            "claimed": self.claimed,
        }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """``ok`` when the record is intact, the seed matches its commitment and the re-run
    gives exactly the claimed panels and replacement orders."""

    record_hash: str
    differences: tuple[Difference, ...]
    expected: DrawResult | None  # the re-run, when it could be made

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "record_hash": self.record_hash,
            "differences": [d.to_json() for d in self.differences],
            "expected": None if self.expected is None else self.expected.to_json(),
        }
