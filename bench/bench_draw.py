"""Benchmark: a panel draw from a 100,000-expert pool with 5,000 exclusions, and its
verification.

Run:  PYTHONPATH=. python bench/bench_draw.py [--pool 100000] [--excluded 5000] [--runs 7]

Times (median of ``--runs``):
- pool index: building the ``ExpertPool`` index, once per version of the pool (reported,
  not part of the draw);
- eligibility: ``rules.compute_eligibility`` on the indexed pool (also reported from a
  plain list of experts, which includes building the index);
- commit: hashing the request, the pool snapshot and the exclusions;
- run: ``draw.run_draw`` (re-checks the hashes, then draws panels and reserves);
- draw total = eligibility + commit + run (target < 100 ms);
- verify: ``draw.verify_draw`` from the published record alone (target < 100 ms).

Baseline in the same run: ``random.Random(seed).sample`` of the same number of experts
from the same candidate list; the ratios against it are printed. The targets are
reported, never asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from datetime import time as clock_time
from typing import TypeVar

from experts.draw import commit, run_draw, seed_hash_of, verify_draw
from experts.model import (
    DrawRequest,
    Expert,
    ExpertPool,
    ExpertStatus,
    PastDraw,
    Relation,
    RelationKind,
    Sanction,
    SanctionKind,
    SpecialtyCode,
    SpecialtyDemand,
)
from experts.rules import compute_eligibility

T = TypeVar("T")
TARGET_MS = 100.0
TODAY = date(2026, 3, 2)
SITTING = date(2026, 3, 10)


def build_pool(size: int, excluded: int, rng: random.Random) -> list[Expert]:
    """``size`` experts under categories A and B; the first ``excluded`` have a conflict
    of one of six kinds with the request of ``build_request``."""
    codes_a = [
        SpecialtyCode(f"A{a:02d}{b:02d}{c:02d}")
        for a in range(1, 21)
        for b in range(1, 6)
        for c in range(1, 4)
    ]
    codes_b = [SpecialtyCode(f"B{a:02d}{b:02d}") for a in range(1, 11) for b in range(1, 6)]
    regions = ["330500", "330100", "330200", "330400"]
    pool: list[Expert] = []
    for n in range(size):
        r = rng.random()
        if r < 0.65:
            specialties: tuple[SpecialtyCode, ...] = (rng.choice(codes_a),)
        elif r < 0.95:
            specialties = (rng.choice(codes_b),)
        else:
            specialties = (rng.choice(codes_a), rng.choice(codes_b))
        kwargs: dict[str, object] = {}
        employer = f"ORG{rng.randrange(20_000):05d}"
        if n < excluded:
            kind = n % 6
            if kind == 0:
                employer = f"BID{n % 10}"
            elif kind == 1:
                kwargs["relations"] = (Relation(RelationKind.RELATIVE, "TENDEREE1"),)
            elif kind == 2:
                kwargs["sanctions"] = (
                    Sanction(SanctionKind.TENDERING_PENALTY, date(2025, 6, 1), date(2027, 6, 1)),
                )
            elif kind == 3:
                kwargs["unavailable_dates"] = frozenset({SITTING})
            elif kind == 4:
                kwargs["status"] = ExpertStatus.SUSPENDED
                kwargs["suspended_until"] = date(2026, 12, 31)
            else:
                kwargs["relations"] = (
                    Relation(RelationKind.EMPLOYMENT, "BID3", date(2015, 1, 1), date(2024, 1, 1)),
                )
        elif rng.random() < 0.1:
            # harmless declarations the checks must still read
            kwargs["relations"] = (
                Relation(RelationKind.EMPLOYMENT, "ORG99999", date(2010, 1, 1), date(2015, 1, 1)),
            )
        pool.append(
            Expert(
                expert_id=f"E{n:06d}",
                name=f"Expert {n}",
                id_number_masked="330***********0000",
                employer_org_id=employer,
                specialties=specialties,
                region=rng.choice(regions),
                title="senior engineer",
                experience_years=10,
                **kwargs,  # type: ignore[arg-type]
            )
        )
    rng.shuffle(pool)
    return pool


def build_request() -> DrawRequest:
    return DrawRequest(
        request_id="REQ-BENCH",
        tender_id="T-BENCH",
        tenderee_org_id="TENDEREE1",
        tender_region="330500",
        demands=(
            SpecialtyDemand(SpecialtyCode("A"), 4),
            SpecialtyDemand(SpecialtyCode("B"), 3),
        ),
        evaluation_date=SITTING,
        evaluation_time=clock_time(9, 0),
        evaluation_place="Huzhou trading centre, room 3",
        bidder_org_ids=frozenset(f"BID{i}" for i in range(10)),
        supervising_org_ids=frozenset({"SUPERVISOR1"}),
        cooldown_days=30,
        yearly_cap=20,
    )


def timed(fn: Callable[[], T], runs: int) -> tuple[T, float]:
    """The last result and the median time in milliseconds."""
    samples: list[float] = []
    result: T | None = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    assert result is not None
    return result, statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--excluded", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)

    rng = random.Random(20260302)
    pool = build_pool(args.pool, args.excluded, rng)
    history = [
        PastDraw(f"E{n:06d}", f"ORG{n % 50}", TODAY - timedelta(days=n % 300))
        for n in range(args.excluded, args.excluded + 2_000)
    ]
    request = build_request()
    secret = hashlib.sha256(b"bench secret").digest()
    seed_hash = seed_hash_of(secret)

    indexed, t_index = timed(lambda: ExpertPool(pool), args.runs)
    _, t_unindexed = timed(
        lambda: compute_eligibility(pool, request, history, TODAY), max(1, args.runs // 2)
    )
    elig, t_elig = timed(lambda: compute_eligibility(indexed, request, history, TODAY), args.runs)
    record, t_commit = timed(
        lambda: commit(request, elig.candidates, elig.exclusions, seed_hash), args.runs
    )
    result, t_run = timed(lambda: run_draw(record, secret), args.runs)
    report, t_verify = timed(lambda: verify_draw(record, secret, result), args.runs)
    assert report.ok, report.differences

    line0 = list(elig.candidates[0])
    k = len(result.lines[0].order)
    _, t_base = timed(lambda: random.Random(1).sample(line0, k), max(args.runs, 50))

    total = t_elig + t_commit + t_run
    excluded_ids = len({x.expert_id for x in elig.exclusions})
    print(f"pool {len(pool):,} experts, {excluded_ids:,} excluded ({len(elig.exclusions):,} rows)")
    print("candidates per line: " + ", ".join(f"{len(c):,}" for c in elig.candidates))
    print(f"pool index (once per pool version) {t_index:8.2f} ms")
    print(f"eligibility from a plain list      {t_unindexed:8.2f} ms   (index built inside)")
    print(f"eligibility             {t_elig:8.2f} ms")
    print(f"commit (hashing)        {t_commit:8.2f} ms")
    print(f"run_draw                {t_run:8.2f} ms")
    print(
        f"draw total              {total:8.2f} ms   target < {TARGET_MS:.0f} ms: "
        f"{'met' if total < TARGET_MS else 'MISSED'}"
    )
    print(
        f"verify_draw             {t_verify:8.2f} ms   target < {TARGET_MS:.0f} ms: "
        f"{'met' if t_verify < TARGET_MS else 'MISSED'}"
    )
    print(f"baseline Random.sample  {t_base:8.4f} ms   ({k} of {len(line0):,})")
    if t_base > 0:
        print(f"ratio draw total / baseline   {total / t_base:10.0f}x")
        print(f"ratio run_draw / baseline     {t_run / t_base:10.0f}x")
        print(f"ratio verify / baseline       {t_verify / t_base:10.0f}x")
    figures = {
        "pool": len(pool),
        "excluded": excluded_ids,
        "index_ms": round(t_index, 2),
        "eligibility_ms": round(t_elig, 2),
        "commit_ms": round(t_commit, 2),
        "run_ms": round(t_run, 2),
        "draw_total_ms": round(total, 2),
        "verify_ms": round(t_verify, 2),
        "target_ms": TARGET_MS,
        "baseline_sample_ms": round(t_base, 4),
        "ratio_draw_total": round(total / t_base, 1) if t_base > 0 else None,
        "ratio_verify": round(t_verify / t_base, 1) if t_base > 0 else None,
    }
    # the same one-line JSON form as bench/harness.py's report()
    print("JSON " + json.dumps({"bench": "expert draw: 100k pool, 5k exclusions", **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
