"""Benchmark: aggregating an evaluation of 200 bids × 9 members × 20 criteria.

Run:  PYTHONPATH=. python bench/bench_evaluation.py [--bids 200] [--members 9]
      [--criteria 20] [--runs 9] [--quick]

Times (median of ``--runs``), all pure code, no database:
- aggregate: ``bidding.evaluation.rules.aggregate`` — reviews (majority rejection), the
  below-cost flags, per-criterion means in ``Fraction`` rounded half up to 0.01, the price
  score, totals and the ranking (target < 100 ms);
- aggregate, trimmed: the same with ``trim_extremes`` (9 ≥ 7 members: the highest and
  lowest of each criterion dropped);
- parse sheets: ``rules.parse_sheet`` of the 9 sheet documents (the report re-reads them);
- verify: ``verify.verify_record`` of the full signed record (9 member signatures on the
  sheets, 9 on the report, 2 server signatures, the sheets re-parsed, the aggregate re-run).

Baselines in the same run: the same sums done as a plain Python loop over dicts —
``sum()`` of the members' ``Decimal`` points per bid and criterion, divided, totalled and
sorted (exact, like the rules, but none of their checks) — and the same loop in floats
(what exact arithmetic costs). The targets are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from bidding.evaluation import records, rules
from bidding.evaluation.model import (
    BidEntry,
    Criterion,
    EvaluationMethod,
    EvaluationSettings,
    MethodSpec,
    PanelMember,
    Review,
    Sheet,
)
from bidding.evaluation.verify import verify_record
from bidding.records import sign_document
from crypto.keys import b64url_encode
from crypto.signing import canonical_json, generate_signing_key, public_key_bytes

T = TypeVar("T")
T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def timed(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, out  # type: ignore[return-value]


def build(n_bids: int, n_members: int, n_criteria: int, seed: int = 7) -> tuple[Any, ...]:
    rnd = random.Random(seed)
    scored = n_criteria - 1
    price_points = 100 - 4 * scored
    assert price_points > 0, "at most 24 criteria (4 points each besides the price)"
    criteria = (Criterion("price", "price", price_points),) + tuple(
        Criterion(f"c{i:02d}", f"criterion {i}", 4) for i in range(scored)
    )
    spec = MethodSpec(EvaluationMethod.COMPREHENSIVE, criteria)
    bids = [
        BidEntry(i, 1000 + i, rnd.randrange(9_000_000, 11_000_000), T0 + timedelta(seconds=i))
        for i in range(1, n_bids + 1)
    ]
    members = [PanelMember(m, f"E{m:06d}", 100 + m, f"expert {m}") for m in range(1, n_members + 1)]
    sheets = []
    for m in members:
        reviews = {b.bid_id: Review(True) for b in bids}
        points = {
            b.bid_id: {c.code: Decimal(rnd.randrange(0, 401)) / 100 for c in criteria[1:]}
            for b in bids
        }
        sheets.append(Sheet(m.expert_id, 1, reviews, points))
    return spec, bids, members, sheets


def record_for(spec: MethodSpec, bids: list[BidEntry], members: list[PanelMember],
               sheets: list[Sheet], settings: EvaluationSettings) -> tuple[dict[str, Any], bytes]:  # fmt: skip
    server = generate_signing_key()
    keys = {m.expert_id: generate_signing_key() for m in members}
    signed_sheets, entries, documents = [], [], []
    for s in sheets:
        doc = records.sheet_document(
            tender_id=1, expert_id=s.expert_id, revision=1,
            reviews=[{"bid_id": b, "passed": True, "cause": None, "reason": ""} for b in s.reviews],
            points={b: {c: str(v) for c, v in p.items()} for b, p in s.points.items()},
        )  # fmt: skip
        documents.append(doc)
        pub = b64url_encode(public_key_bytes(keys[s.expert_id]))
        signed_sheets.append({"document": doc, "public_key": pub,
                              "signature": b64url_encode(keys[s.expert_id].sign(canonical_json(doc)))})  # fmt: skip
        entries.append({"expert_id": s.expert_id, "revision": 1, "void": False,
                        "sha256": records.document_sha256(doc), "public_key": pub})  # fmt: skip
    agg = rules.aggregate(spec, bids, sheets, members, {}, settings)
    report = records.report_document(
        tender_id=1, tender_code="B-1", generated_at=T0, signing_deadline_at=T0, spec=spec,
        settings=settings, members=members, bids=bids, sheets=entries, findings=[],
        clarifications=[], agg=agg,
    )  # fmt: skip
    sha = records.document_sha256(report)
    signatures, listed = [], []
    for m in members:
        doc = records.signature_document(tender_id=1, report_sha256=sha, expert_id=m.expert_id, dissent=None)
        pub = b64url_encode(public_key_bytes(keys[m.expert_id]))
        signatures.append({"document": doc, "public_key": pub,
                           "signature": b64url_encode(keys[m.expert_id].sign(canonical_json(doc)))})  # fmt: skip
        listed.append({"expert_id": m.expert_id, "sha256": records.document_sha256(doc),
                       "public_key": pub, "dissent": None})  # fmt: skip
    conclusion = records.conclusion_document(
        tender_id=1, report_sha256=sha, concluded_at=T0, signatures=listed, silent=[], failed=agg.failed
    )
    record = {
        "type": records.RECORD_TYPE,
        "report": sign_document(report, server.sign, "srv").as_json(),
        "sheets": signed_sheets,
        "signatures": signatures,
        "conclusion": sign_document(conclusion, server.sign, "srv").as_json(),
    }
    return record, public_key_bytes(server)


def baseline(bids: list[BidEntry], sheets: list[Sheet], codes: list[str], exact: bool) -> list[int]:
    """The same per-criterion means and totals as a plain loop over dicts; no checks."""
    n = len(sheets)
    low = min(b.price_fen for b in bids)
    totals = []
    for b in bids:
        total: Any = Decimal(0) if exact else 0.0
        for code in codes:
            values = [s.points[b.bid_id][code] for s in sheets]
            total += sum(values) / n if exact else sum(float(v) for v in values) / n
        deviation = (b.price_fen - low) * 100 / low
        total += (Decimal(20) - Decimal(deviation)) if exact else 20.0 - deviation
        totals.append((-total, b.price_fen, b.received_at, b.bid_id))
    return [t[3] for t in sorted(totals)]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bids", type=int, default=200)
    p.add_argument("--members", type=int, default=9)
    p.add_argument("--criteria", type=int, default=20)
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--quick", action="store_true", help="a smoke run: 3 runs")
    args = p.parse_args(argv)
    runs = 3 if args.quick else args.runs
    settings = EvaluationSettings()
    spec, bids, members, sheets = build(args.bids, args.members, args.criteria)
    trimmed = MethodSpec(spec.method, spec.criteria, trim_extremes=True)
    record, server_public = record_for(spec, bids, members, sheets, settings)
    documents = [entry["document"] for entry in record["sheets"]]
    codes = [c.code for c in spec.scored_criteria]

    t_agg, agg = timed(lambda: rules.aggregate(spec, bids, sheets, members, {}, settings), runs)
    t_trim, _ = timed(lambda: rules.aggregate(trimmed, bids, sheets, members, {}, settings), runs)
    t_parse, _ = timed(
        lambda: [
            rules.parse_sheet(d, tender_id=1, expert_id=d["expert_id"], spec=spec, bids=bids)
            for d in documents
        ],
        runs,
    )
    t_verify, outcome = timed(lambda: verify_record(record, server_public), runs)
    assert outcome.ok, outcome.problems
    t_exact, _ = timed(lambda: baseline(bids, sheets, codes, exact=True), runs)
    t_float, _ = timed(lambda: baseline(bids, sheets, codes, exact=False), runs)
    assert len(agg.ranking) == args.bids

    shape = f"{args.bids} bids × {args.members} members × {args.criteria} criteria"
    rows = [
        ("aggregate (rules.aggregate)", t_agg, 100.0),
        ("aggregate, trim_extremes", t_trim, 100.0),
        ("parse the sheets (rules.parse_sheet ×members)", t_parse, None),
        ("verify the signed record (verify_record)", t_verify, None),
        ("baseline: plain Decimal sum() loop over dicts", t_exact, None),
        ("baseline: plain float sum() loop over dicts", t_float, None),
    ]
    print(f"evaluation aggregation — {shape}, median of {runs} runs")
    print(f"{'what':50} {'ms':>9} {'× Decimal baseline':>20} {'target':>10}")
    for name, ms, target in rows:
        verdict = "" if target is None else ("met" if ms < target else "MISSED")
        print(f"{name:50} {ms:9.2f} {ms / t_exact:20.2f} {verdict:>10}")
    for name, ms, target in rows:
        print(json.dumps({"bench": "evaluation", "what": name, "ms": round(ms, 3),
                          "ratio_to_decimal_baseline": round(ms / t_exact, 3),
                          "target_ms": target, "shape": shape}, ensure_ascii=False))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
