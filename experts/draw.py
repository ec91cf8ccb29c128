"""The verifiable panel draw (E1, E5, E7): commit, run, verify.

Theory of operation
-------------------
1. **Commit** (before the draw). ``commit`` fixes the request, the per-line sorted lists of
   eligible expert ids (the pool snapshot), the exclusions with their reasons, the
   algorithm version, the SHA-256 of a 32-byte secret seed the server keeps to itself, and
   optionally a public beacon round whose value is not yet known. Each part is hashed over
   its canonical JSON and the hashes are hashed into ``record_hash``, which the service
   publishes and writes to the audit log before anything is drawn.
2. **Run**. ``run_draw`` derives one key from the secret seed, ``record_hash`` and the
   beacon value, one independent stream per line from it, and draws: first every line's
   panel in line order, then every line's reserves in line order. Each pick takes
   ``randbelow(len(remaining))`` from the line's own stream as an index into the line's
   remaining candidates (sorted, without everyone already placed on any line) and removes
   that expert. So a line's order is a uniformly random arrangement, no expert is on two
   lines, and the replacement order is fixed before anyone is called (E5).
3. **Verify** (after the result is fixed and the seed revealed). ``verify_draw`` needs only
   the published record, the revealed seed, the beacon value and the claimed result: it
   recomputes every hash, checks the seed against its commitment, re-runs the draw and
   reports each difference — which hash, or which line and position, expected vs claimed.

An expert eligible for several lines: lines are processed in the request's canonical order
(sorted by code, then region rule); whoever is placed on one line (panel or reserve) is
removed from every other line's remaining candidates. ``rules.check_feasibility`` refuses
at commit a request that could run short for some seed, so a committed draw never fails.

The byte-level definition, enough to re-implement verification, is docs/draw.md.
"""

from __future__ import annotations

import operator
import re
from bisect import bisect_left
from collections.abc import Collection, Sequence
from dataclasses import replace
from itertools import islice
from typing import Any

from crypto.drbg import HmacStream, hmac_sha256
from crypto.signing import canonical_json, sha256, sha256_hex
from experts.errors import ExpertReason, Problem, reject_all
from experts.model.exclusions import Exclusion, ExclusionReason
from experts.model.ids import all_valid_ids, is_valid_id, is_valid_id_list
from experts.model.record import (
    BeaconRef,
    Difference,
    DifferenceKind,
    DrawRecord,
    DrawResult,
    LineDraw,
    VerifyReport,
)
from experts.model.request import DrawRequest
from experts.rules import check_feasibility, check_request, demand_label
from trading.errors import Rejected

__all__ = [
    "ALGORITHM_VERSION",
    "SEED_BYTES",
    "SUPPORTED_ALGORITHMS",
    "commit",
    "exclusions_hash",
    "line_hash",
    "next_replacement",
    "pool_hash",
    "record_hash",
    "request_hash",
    "run_draw",
    "seed_hash_of",
    "verify_draw",
]

ALGORITHM_VERSION = "sunlit-draw/1"
SUPPORTED_ALGORITHMS = frozenset({ALGORITHM_VERSION})
SEED_BYTES = 32
BEACON_MAX_BYTES = 1024
MAX_DIFFERENCES_PER_KIND = 50  # a report lists at most this many rows of one kind
_HEX64 = re.compile(r"[0-9a-f]{64}")
_EXCLUSION_KEY = operator.attrgetter("expert_id", "reason_code", "detail")


# --- hashes ----------------------------------------------------------------------------


def seed_hash_of(secret_seed: bytes) -> str:
    """The commitment to a secret seed: lowercase hex SHA-256 of its 32 raw bytes."""
    _check_seed(secret_seed)
    return sha256_hex(secret_seed)


def request_hash(request: DrawRequest) -> str:
    return sha256_hex(canonical_json(request.to_json()))


def line_hash(ids: Sequence[str]) -> str:
    """SHA-256 of one line's ids joined by a line feed (``"\\n"``), UTF-8 encoded."""
    return sha256_hex("\n".join(ids).encode("utf-8"))


def pool_hash(candidates: Sequence[Sequence[str]]) -> str:
    """SHA-256 of the canonical JSON list of the lines' ``line_hash`` values."""
    return sha256_hex(canonical_json([line_hash(ids) for ids in candidates]))


def exclusions_hash(exclusions: Sequence[Exclusion]) -> str:
    """SHA-256 of the canonical JSON list of ``[expert_id, reason_code, detail]`` rows."""
    return sha256_hex(canonical_json([x.to_json() for x in exclusions]))


def record_hash(header: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``DrawRecord.header_json()``."""
    return sha256_hex(canonical_json(header))


def _check_seed(secret_seed: bytes) -> None:
    if not isinstance(secret_seed, bytes) or len(secret_seed) != SEED_BYTES:
        raise Rejected(ExpertReason.INVALID_SEED, "the secret seed must be 32 bytes")


# --- commit ----------------------------------------------------------------------------


def commit(
    request: DrawRequest,
    pool_snapshot: Sequence[Sequence[str]],
    exclusions: Collection[Exclusion],
    seed_hash: str,
    beacon: BeaconRef | None = None,
) -> DrawRecord:
    """Fix the inputs of a draw and hash them (E7, step 1).

    ``pool_snapshot[i]`` are the eligible ids of ``request.demands[i]`` (as
    ``rules.compute_eligibility`` returns them; sorted here anyway); ``exclusions`` every
    exclusion row; ``seed_hash`` the value of ``seed_hash_of(secret)``; ``beacon`` the
    public randomness round to mix in, named before its value is published.

    Raises ``Rejected`` listing every problem: an invalid request or committee
    (``committee_even``, ``committee_too_small``, ``experts_below_two_thirds``, …),
    malformed ids, an excluded expert among the candidates (``invalid_draw_record``),
    a malformed seed commitment (``invalid_seed``), or a line that could run short
    (``not_enough_eligible``).
    """
    problems: list[Problem] = list(check_request(request))
    if len(pool_snapshot) != len(request.demands):
        reject_all(
            [
                *problems,
                Problem(
                    ExpertReason.INVALID_RECORD,
                    f"{len(pool_snapshot)} candidate lists for {len(request.demands)} lines",
                    f"候选名单{len(pool_snapshot)}份，申请{len(request.demands)}行",
                ),
            ]
        )
    lines: list[tuple[str, ...]] = []
    line_hashes: list[str] = []
    for i, ids in enumerate(pool_snapshot):
        ordered = tuple(ids)
        try:  # one join serves both the id check and the line hash
            joined = "\n".join(ordered)
            well_formed = not ordered or is_valid_id_list(joined)
        except TypeError:
            joined, well_formed = "", False
        if not well_formed:
            bad = next(x for x in ordered if not is_valid_id(x))
            problems.append(
                Problem(
                    ExpertReason.INVALID_EXPERT_ID,
                    f"{demand_label(request, i)}: {bad!r}",
                    f"{demand_label(request, i)}：{bad!r}",
                    {"line": i},
                )
            )
        elif not _strictly_increasing(ordered):
            ordered = tuple(sorted(ordered))
            joined = "\n".join(ordered)
            if not _strictly_increasing(ordered):
                problems.append(
                    Problem(
                        ExpertReason.INVALID_RECORD,
                        f"{demand_label(request, i)}: an expert is listed twice",
                        f"{demand_label(request, i)}：专家重复",
                        {"line": i},
                    )
                )
        lines.append(ordered)
        line_hashes.append(sha256_hex(joined.encode("utf-8")))
    rows = tuple(exclusions)
    keys = list(map(_EXCLUSION_KEY, rows))
    if not all(map(operator.lt, keys, islice(keys, 1, None))):  # not already canonical
        rows = tuple(sorted(set(rows), key=_EXCLUSION_KEY))
    excluded = {x.expert_id for x in rows}
    if not all_valid_ids(excluded):
        bad = next(x for x in sorted(excluded, key=str) if not is_valid_id(x))
        problems.append(
            Problem(ExpertReason.INVALID_EXPERT_ID, f"excluded {bad!r}", f"回避专家 {bad!r}")
        )
    known_reasons = {r.code for r in ExclusionReason}
    unknown = sorted({x.reason_code for x in rows} - known_reasons)
    if unknown:
        problems.append(
            Problem(
                ExpertReason.INVALID_RECORD,
                f"unknown exclusion reason {unknown[0]!r}",
                f"未知的回避原因 {unknown[0]!r}",
            )
        )
    for i, ids in enumerate(lines):
        clashes = excluded.intersection(ids)
        if clashes:
            clash = min(clashes)
            problems.append(
                Problem(
                    ExpertReason.INVALID_RECORD,
                    f"{demand_label(request, i)}: excluded expert {clash} is a candidate",
                    f"{demand_label(request, i)}：已回避专家 {clash} 出现在候选名单中",
                    {"line": i, "expert_id": clash},
                )
            )
    if not isinstance(seed_hash, str) or _HEX64.fullmatch(seed_hash) is None:
        problems.append(
            Problem(
                ExpertReason.INVALID_SEED,
                "seed_hash must be 64 lowercase hex digits",
                "seed_hash 须为64位小写十六进制",
            )
        )
    if beacon is not None and (not beacon.source or beacon.round < 0):
        problems.append(
            Problem(
                ExpertReason.INVALID_REQUEST,
                "the beacon needs a source and a round number ≥ 0",
                "随机信标需指明来源和非负轮次",
            )
        )
    if not problems:
        problems.extend(check_feasibility(request, lines))
    if problems:
        reject_all(problems)
    record = DrawRecord(
        algorithm_version=ALGORITHM_VERSION,
        request=request,
        candidates=tuple(lines),
        exclusions=rows,
        seed_hash=seed_hash,
        beacon=beacon,
        request_hash=request_hash(request),
        pool_hash=sha256_hex(canonical_json(line_hashes)),
        exclusions_hash=exclusions_hash(rows),
        record_hash="",
    )
    return _with_record_hash(record)


def _strictly_increasing(ids: Sequence[str]) -> bool:
    return all(map(operator.lt, ids, islice(ids, 1, None)))


def _with_record_hash(record: DrawRecord) -> DrawRecord:
    return replace(record, record_hash=record_hash(record.header_json()))


# --- run -------------------------------------------------------------------------------


def _master_key(version: str, record_hash_hex: str, secret_seed: bytes, beacon: bytes) -> bytes:
    """K = HMAC-SHA256(secret_seed, ascii(version) || 0x00 || record_hash (32 bytes) || beacon)."""
    return hmac_sha256(
        secret_seed, version.encode("ascii") + b"\x00" + bytes.fromhex(record_hash_hex) + beacon
    )


def _line_label(line: int) -> bytes:
    return b"line" + line.to_bytes(4, "big")


def _draw_orders(record: DrawRecord, secret_seed: bytes, beacon: bytes) -> tuple[LineDraw, ...]:
    """docs/draw.md §4 and §5 on the record's own content."""
    demands = record.request.demands
    if len(record.candidates) != len(demands):
        raise Rejected(ExpertReason.INVALID_RECORD, "candidate lists do not match the lines")
    root = HmacStream(
        _master_key(record.algorithm_version, record.record_hash, secret_seed, beacon)
    )
    streams = [root.substream(_line_label(i)) for i in range(len(demands))]
    remaining = [list(ids) for ids in record.candidates]
    orders: list[list[str]] = [[] for _ in demands]

    def take(i: int) -> None:
        rem = remaining[i]
        chosen = rem.pop(streams[i].randbelow(len(rem)))
        orders[i].append(chosen)
        for j, other in enumerate(remaining):
            if j != i:
                k = bisect_left(other, chosen)
                if k < len(other) and other[k] == chosen:
                    del other[k]

    for i, d in enumerate(demands):
        for _ in range(d.count):
            if not remaining[i]:
                raise Rejected(
                    ExpertReason.NOT_ENOUGH_ELIGIBLE,
                    f"{demand_label(record.request, i)} ran short",
                    details={"line": i, "specialty": d.code.code},
                )
            take(i)
    for i, d in enumerate(demands):
        for _ in range(d.reserve_count):
            if not remaining[i]:
                break
            take(i)
    return tuple(LineDraw(i, d.code, d.count, tuple(orders[i])) for i, d in enumerate(demands))


def _beacon_bytes(record: DrawRecord, beacon_value: bytes | None) -> bytes:
    if record.beacon is not None and beacon_value is None:
        raise Rejected(
            ExpertReason.BEACON_REQUIRED,
            f"{record.beacon.source} round {record.beacon.round}",
        )
    if record.beacon is None and beacon_value is not None:
        raise Rejected(ExpertReason.BEACON_UNEXPECTED)
    value = beacon_value or b""
    if len(value) > BEACON_MAX_BYTES:
        raise Rejected(ExpertReason.INVALID_REQUEST, f"beacon value over {BEACON_MAX_BYTES} bytes")
    return value


def _integrity_differences(record: DrawRecord) -> list[Difference]:
    """Each committed hash that does not match the record's content."""
    out: list[Difference] = []
    recomputed = {
        "request_hash": request_hash(record.request),
        "pool_hash": pool_hash(record.candidates),
        "exclusions_hash": exclusions_hash(record.exclusions),
        "record_hash": record_hash(record.header_json()),
    }
    for name, value in recomputed.items():
        stated = getattr(record, name)
        if stated != value:
            out.append(
                Difference(
                    DifferenceKind.HASH_MISMATCH,
                    f"{name} does not match the record's content",
                    f"{name} 与记录内容不符",
                    code=name,
                    expected=value,
                    claimed=stated,
                )
            )
    return out


def run_draw(
    record: DrawRecord, secret_seed: bytes, beacon_value: bytes | None = None
) -> DrawResult:
    """Draw every line's panel and replacement order from a committed record (E7, step 2).

    ``secret_seed`` must hash to ``record.seed_hash``; ``beacon_value`` is required exactly
    when the record names a beacon round. The record's hashes are checked against its
    content first. Deterministic: the same record, seed and beacon value always give the
    same result.
    """
    if record.algorithm_version not in SUPPORTED_ALGORITHMS:
        raise Rejected(ExpertReason.UNSUPPORTED_ALGORITHM, record.algorithm_version)
    _check_seed(secret_seed)
    if sha256(secret_seed).hex() != record.seed_hash:
        raise Rejected(ExpertReason.INVALID_SEED, "the seed does not match its commitment")
    beacon = _beacon_bytes(record, beacon_value)
    broken = _integrity_differences(record)
    if broken:
        raise Rejected(
            ExpertReason.INVALID_RECORD,
            "; ".join(d.message_en for d in broken),
            "；".join(d.message_zh for d in broken),
        )
    lines = _draw_orders(record, secret_seed, beacon)
    return DrawResult(
        record_hash=record.record_hash,
        algorithm_version=record.algorithm_version,
        beacon_value_hex=None if beacon_value is None else beacon_value.hex(),
        lines=lines,
    )


def next_replacement(result: DrawResult, line: int, called: Collection[str]) -> str:
    """E5: the expert to call next for ``line``: the first in its drawn order who has not
    been called yet (``called`` holds everyone already summoned — seated, declined, timed
    out or recused). ``pool_exhausted`` when the order has no one left."""
    if not 0 <= line < len(result.lines):
        raise Rejected(ExpertReason.INVALID_REQUEST, f"no line {line}")
    for expert_id in result.lines[line].order:
        if expert_id not in called:
            return expert_id
    ld = result.lines[line]
    raise Rejected(
        ExpertReason.POOL_EXHAUSTED,
        f"line {line} ({ld.code.code}): all {len(ld.order)} in the order have been called",
        f"第{line}行（{ld.code.code}）：抽取顺序中的{len(ld.order)}人均已通知",
        details={"line": line, "specialty": ld.code.code, "order_length": len(ld.order)},
    )


# --- verify ----------------------------------------------------------------------------


def _capped(rows: list[Difference]) -> list[Difference]:
    """At most MAX_DIFFERENCES_PER_KIND rows of each kind, in order."""
    counts: dict[DifferenceKind, int] = {}
    out: list[Difference] = []
    for d in rows:
        n = counts.get(d.kind, 0)
        if n < MAX_DIFFERENCES_PER_KIND:
            out.append(d)
        counts[d.kind] = n + 1
    return out


def verify_draw(
    record: DrawRecord,
    revealed_seed: bytes,
    claimed_result: DrawResult,
    *,
    beacon_value: bytes | None = None,
    published_record_hash: str | None = None,
) -> VerifyReport:
    """Re-run a draw from its published record alone and compare (E7, step 3).

    ``beacon_value`` is the value the verifier fetched from the public beacon itself; when
    omitted the one stated in ``claimed_result`` is used. ``published_record_hash`` is the
    hash announced before the draw (from the audit log or the notice), if the verifier has
    it. Never raises on bad input: every problem is a ``Difference`` in the report.
    """
    diffs: list[Difference] = []
    report_hash = record.record_hash
    if record.algorithm_version not in SUPPORTED_ALGORITHMS:
        diffs.append(
            Difference(
                DifferenceKind.UNSUPPORTED_ALGORITHM,
                f"algorithm {record.algorithm_version!r} is not implemented here",
                f"不支持算法版本 {record.algorithm_version!r}",
                claimed=record.algorithm_version,
                expected=ALGORITHM_VERSION,
            )
        )
        return VerifyReport(report_hash, tuple(diffs), None)

    diffs.extend(_integrity_differences(record))
    if published_record_hash is not None and published_record_hash != record.record_hash:
        diffs.append(
            Difference(
                DifferenceKind.PUBLISHED_HASH_MISMATCH,
                "the record is not the one published before the draw",
                "该记录不是抽取前公布的记录",
                expected=published_record_hash,
                claimed=record.record_hash,
            )
        )

    seed_ok = isinstance(revealed_seed, bytes) and len(revealed_seed) == SEED_BYTES
    if not seed_ok or sha256(revealed_seed).hex() != record.seed_hash:
        diffs.append(
            Difference(
                DifferenceKind.SEED_MISMATCH,
                "the revealed seed does not match its committed hash",
                "公开的种子与其承诺的哈希值不符",
                expected=record.seed_hash,
                claimed=sha256(revealed_seed).hex() if isinstance(revealed_seed, bytes) else None,
            )
        )

    claimed_beacon = claimed_result.beacon_value_hex
    beacon: bytes | None = beacon_value
    if (
        beacon_value is not None
        and claimed_beacon is not None
        and claimed_beacon != beacon_value.hex()
    ):
        diffs.append(
            Difference(
                DifferenceKind.BEACON_MISMATCH,
                "the result used another beacon value than the public one",
                "抽取结果所用随机信标值与公开值不符",
                expected=beacon_value.hex(),
                claimed=claimed_beacon,
            )
        )
    if beacon is None and claimed_beacon is not None:
        try:
            beacon = bytes.fromhex(claimed_beacon)
        except ValueError:
            diffs.append(
                Difference(
                    DifferenceKind.BEACON_MISMATCH,
                    "the result's beacon value is not hex",
                    "抽取结果中的随机信标值不是十六进制",
                    claimed=claimed_beacon,
                )
            )
    if record.beacon is not None and beacon is None:
        diffs.append(
            Difference(
                DifferenceKind.BEACON_MISSING,
                f"the record names beacon {record.beacon.source} round {record.beacon.round}"
                " but no value was given",
                f"记录指定了随机信标 {record.beacon.source} 第{record.beacon.round}轮，但未提供其值",
            )
        )
    if record.beacon is None and beacon is not None:
        diffs.append(
            Difference(
                DifferenceKind.BEACON_UNEXPECTED,
                "the record names no beacon but the result used one",
                "记录未指定随机信标，但抽取结果使用了信标值",
                claimed=beacon.hex(),
            )
        )

    if claimed_result.record_hash != record.record_hash:
        diffs.append(
            Difference(
                DifferenceKind.RESULT_FOR_OTHER_RECORD,
                "the result names another record",
                "抽取结果对应的是另一份记录",
                expected=record.record_hash,
                claimed=claimed_result.record_hash,
            )
        )
    if claimed_result.algorithm_version != record.algorithm_version:
        diffs.append(
            Difference(
                DifferenceKind.RESULT_FOR_OTHER_RECORD,
                "the result names another algorithm version",
                "抽取结果的算法版本与记录不符",
                expected=record.algorithm_version,
                claimed=claimed_result.algorithm_version,
            )
        )

    diffs.extend(_candidate_differences(record))

    stop = (
        any(
            d.kind
            in (
                DifferenceKind.SEED_MISMATCH,
                DifferenceKind.BEACON_MISSING,
                DifferenceKind.CANDIDATES_MALFORMED,
            )
            for d in diffs
        )
        or _HEX64.fullmatch(record.record_hash or "") is None
    )
    expected: DrawResult | None = None
    if not stop:
        try:
            orders = _draw_orders(record, revealed_seed, beacon or b"")
        except Rejected as exc:
            diffs.append(
                Difference(
                    DifferenceKind.RERUN_FAILED,
                    f"the draw cannot be re-run: {exc.message_en}",
                    f"无法重新抽取：{exc.message_zh}",
                )
            )
        else:
            expected = DrawResult(
                record.record_hash,
                record.algorithm_version,
                None if beacon is None else beacon.hex(),
                orders,
            )
            diffs.extend(_order_differences(expected, claimed_result))
    return VerifyReport(report_hash, tuple(_capped(diffs)), expected)


def _candidate_differences(record: DrawRecord) -> list[Difference]:
    out: list[Difference] = []
    if len(record.candidates) != len(record.request.demands):
        out.append(
            Difference(
                DifferenceKind.CANDIDATES_MALFORMED,
                f"{len(record.candidates)} candidate lists for {len(record.request.demands)} lines",
                f"候选名单{len(record.candidates)}份，申请{len(record.request.demands)}行",
            )
        )
        return out
    excluded = {x.expert_id for x in record.exclusions}
    for i, ids in enumerate(record.candidates):
        code = record.request.demands[i].code.code
        if not all_valid_ids(ids):
            bad = next(x for x in ids if not is_valid_id(x))
            out.append(
                Difference(
                    DifferenceKind.CANDIDATES_MALFORMED,
                    f"line {i}: {bad!r} is not a well-formed expert id",
                    f"第{i}行：{bad!r} 不是合法的专家标识",
                    line=i,
                    code=code,
                    claimed=str(bad),
                )
            )
            continue
        if not _strictly_increasing(ids):
            k = next(k for k in range(1, len(ids)) if not ids[k - 1] < ids[k])
            out.append(
                Difference(
                    DifferenceKind.CANDIDATES_MALFORMED,
                    f"line {i}: candidates not strictly sorted at position {k}",
                    f"第{i}行：候选名单在第{k}位未严格排序",
                    line=i,
                    code=code,
                    position=k,
                    claimed=ids[k],
                )
            )
        if excluded and not excluded.isdisjoint(ids):
            for k, x in enumerate(ids):
                if x in excluded:
                    out.append(
                        Difference(
                            DifferenceKind.EXCLUDED_CANDIDATE,
                            f"line {i}: excluded expert {x} is a candidate",
                            f"第{i}行：已回避专家 {x} 出现在候选名单中",
                            line=i,
                            code=code,
                            position=k,
                            claimed=x,
                        )
                    )
    return out


def _order_differences(expected: DrawResult, claimed: DrawResult) -> list[Difference]:
    out: list[Difference] = []
    if len(expected.lines) != len(claimed.lines):
        out.append(
            Difference(
                DifferenceKind.LINE_COUNT,
                f"{len(expected.lines)} lines expected, {len(claimed.lines)} claimed",
                f"应有{len(expected.lines)}行，结果为{len(claimed.lines)}行",
                expected=str(len(expected.lines)),
                claimed=str(len(claimed.lines)),
            )
        )
    for e, c in zip(expected.lines, claimed.lines, strict=False):
        i = e.line
        code = e.code.code
        if (e.code, e.count, e.line) != (c.code, c.count, c.line):
            out.append(
                Difference(
                    DifferenceKind.LINE_HEADER,
                    f"line {i}: expected {code} × {e.count}, claimed line {c.line} {c.code.code} × {c.count}",
                    f"第{i}行：应为 {code} × {e.count}，结果为第{c.line}行 {c.code.code} × {c.count}",
                    line=i,
                    code=code,
                    expected=f"{code}×{e.count}",
                    claimed=f"{c.code.code}×{c.count}",
                )
            )
        for k, (x, y) in enumerate(zip(e.order, c.order, strict=False)):
            if x != y:
                where = "panel" if k < e.count else "replacement"
                where_zh = "评标委员" if k < e.count else "候补"
                out.append(
                    Difference(
                        DifferenceKind.POSITION,
                        f"line {i} ({code}), position {k} ({where}): expected {x}, claimed {y}",
                        f"第{i}行（{code}）第{k}位（{where_zh}）：应为 {x}，结果为 {y}",
                        line=i,
                        code=code,
                        position=k,
                        expected=x,
                        claimed=y,
                    )
                )
        if len(e.order) != len(c.order):
            out.append(
                Difference(
                    DifferenceKind.LENGTH,
                    f"line {i} ({code}): {len(e.order)} in order expected, {len(c.order)} claimed",
                    f"第{i}行（{code}）：顺序应有{len(e.order)}人，结果为{len(c.order)}人",
                    line=i,
                    code=code,
                    position=min(len(e.order), len(c.order)),
                    expected=str(len(e.order)),
                    claimed=str(len(c.order)),
                )
            )
    return out
