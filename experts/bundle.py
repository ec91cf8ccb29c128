"""The published draw (E7): one JSON document anyone can verify offline — pure.

A *bundle* (``format: sunlit-draw-bundle/1``) holds:

| key | content |
|---|---|
| ``draw_id`` | the platform's id of the draw |
| ``record`` | the committed draw record (docs/draw.md §3), exactly as hashed |
| ``published_record_hash`` | the ``record_hash`` written to the audit log before the draw ran |
| ``result`` | the drawn orders, line by line (docs/draw.md §5) |
| ``calls`` | everyone actually called: ``{line, position, expert_id, status}`` |
| ``seed`` | the secret seed in hex, once the result is fixed (``null`` before) |
| ``beacon_value`` | the public beacon value used, in hex, or ``null`` |
| ``signature`` | ``{key_id, public_key, value}``: the server's Ed25519 signature over the canonical JSON of every other key |

``verify_bundle`` re-runs the draw from it (``experts.draw.verify_draw``) and adds one check
the record alone cannot make: that the calls follow the drawn order — on each line the
positions called are ``0, 1, 2, …`` with none skipped, and the expert at each is the one
the order puts there (``call_order`` differences otherwise).

The signature is checked only against a public key the *caller* trusts (``public_key``):
the ``signature.public_key`` written in the bundle is whatever its author chose, so it
proves nothing. Without a trusted key the report's ``signature`` is ``"not_checked"`` and
``ok`` is ``False`` even when every hash and the re-run agree (``hashes_ok`` says so): a
verifier never says OK for a bundle whose signature it did not check (issue 16, item 5).
The signed bytes are ``canonical_json`` of the bundle without its ``signature`` key
(docs/draw.md §10).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from crypto.signing import canonical_json
from crypto.signing import verify as verify_signature
from experts.draw import verify_draw
from experts.model.record import Difference, DifferenceKind, DrawRecord, DrawResult, VerifyReport
from trading.errors import Rejected

__all__ = [
    "BUNDLE_FORMAT",
    "call_differences",
    "make_bundle",
    "record_text",
    "verify_bundle",
    "verify_stored",
]

BUNDLE_FORMAT = "sunlit-draw-bundle/1"
Call = tuple[int, int, str, str]  # line, position, expert id, status


def record_text(record: DrawRecord) -> str:
    """``canonical_json(record.to_json()).decode()`` for a record made by
    ``experts.draw.commit``, about twice as fast for a big pool: commit has checked that
    every candidate id is a plain id (``[A-Za-z0-9._:-]``, nothing to escape in JSON), so
    each candidate list is written with one join instead of through the JSON encoder."""
    lines = record.candidates
    marker = "@" + secrets.token_hex(16)
    data = record.to_json()
    data["candidates"] = marker
    head = canonical_json(data).decode()
    body = "[" + ",".join('["' + '","'.join(ids) + '"]' if ids else "[]" for ids in lines) + "]"
    return head.replace(json.dumps(marker), body, 1)


def make_bundle(
    *,
    draw_id: int,
    record_json: Mapping[str, Any],
    result_json: Mapping[str, Any] | None,
    calls: Sequence[Call],
    seed: bytes | None,
    beacon_value: bytes | None,
    published_record_hash: str | None,
    sign: Callable[[bytes], bytes],
    key_id: str,
    public_key: bytes,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "draw_id": draw_id,
        "record": dict(record_json),
        "published_record_hash": published_record_hash,
        "result": None if result_json is None else dict(result_json),
        "calls": [{"line": a, "position": b, "expert_id": c, "status": s} for a, b, c, s in calls],
        "seed": None if seed is None else seed.hex(),
        "beacon_value": None if beacon_value is None else beacon_value.hex(),
    }
    signature = sign(canonical_json(body))
    return body | {
        "signature": {"key_id": key_id, "public_key": public_key.hex(), "value": signature.hex()}
    }


def call_differences(expected: DrawResult, calls: Sequence[Call]) -> list[Difference]:
    """Each call that does not follow the drawn order."""
    out: list[Difference] = []
    by_line: dict[int, list[Call]] = {}
    for c in calls:
        by_line.setdefault(c[0], []).append(c)
    for line, cs in sorted(by_line.items()):
        if not 0 <= line < len(expected.lines):
            out.append(Difference(DifferenceKind.CALL_ORDER, f"a call on line {line}, which the draw does not have",
                                  f"第{line}行不存在，却有通知记录", line=line))  # fmt: skip
            continue
        order = expected.lines[line].order
        code = expected.lines[line].code.code
        positions = sorted(c[1] for c in cs)
        for k, pos in enumerate(positions):
            if pos != k:
                out.append(Difference(DifferenceKind.CALL_ORDER,
                                      f"line {line} ({code}): position {k} was skipped (next called: {pos})",
                                      f"第{line}行（{code}）：第{k}位被跳过（下一个被通知的是第{pos}位）",
                                      line=line, code=code, position=k))  # fmt: skip
                break
        for _, pos, expert_id, _status in sorted(cs, key=lambda c: c[1]):
            drawn = order[pos] if 0 <= pos < len(order) else None
            if drawn != expert_id:
                out.append(Difference(DifferenceKind.CALL_ORDER,
                                      f"line {line} ({code}), position {pos}: {expert_id} was called, the order has {drawn}",
                                      f"第{line}行（{code}）第{pos}位：被通知的是 {expert_id}，抽取顺序为 {drawn}",
                                      line=line, code=code, position=pos, expected=drawn, claimed=expert_id))  # fmt: skip
    return out


def verify_stored(
    *,
    draw_id: int | None,
    record_text: str | Mapping[str, Any],
    result_json: Mapping[str, Any] | None,
    seed: bytes,
    beacon_value: bytes | None,
    published_record_hash: str | None,
    calls: Sequence[Call],
) -> dict[str, Any]:
    """The verification report of a draw (never raises): ``ok`` and every difference."""
    try:
        data = json.loads(record_text) if isinstance(record_text, str) else record_text
        record = DrawRecord.from_json(data)
        claimed = DrawResult.from_json(result_json or {})
    except (ValueError, KeyError, TypeError, Rejected) as exc:
        diff = Difference(DifferenceKind.RECORD_UNREADABLE, f"the record or result cannot be read: {exc!r}",
                          f"记录或结果无法读取：{exc!r}")  # fmt: skip
        return {"ok": False, "draw_id": draw_id, "record_hash": None, "published_record_hash": published_record_hash,
                "differences": [diff.to_json()], "expected": None}  # fmt: skip
    report: VerifyReport = verify_draw(
        record,
        seed,
        claimed,
        beacon_value=beacon_value,
        published_record_hash=published_record_hash,
    )
    diffs = [x.to_json() for x in report.differences]
    if published_record_hash is None:
        diffs.append(Difference(DifferenceKind.PUBLISHED_HASH_MISMATCH, "no record hash was published before the draw",
                                "抽取前未公布记录哈希").to_json())  # fmt: skip
    if report.expected is not None:
        diffs.extend(x.to_json() for x in call_differences(report.expected, calls))
    return {
        "ok": not diffs,
        "draw_id": draw_id,
        "record_hash": record.record_hash,
        "published_record_hash": published_record_hash,
        "algorithm_version": record.algorithm_version,
        "differences": diffs,
        "expected": None if report.expected is None else report.expected.to_json(),
    }


def verify_bundle(
    bundle: Mapping[str, Any],
    *,
    seed: bytes | None = None,
    beacon_value: bytes | None = None,
    public_key: bytes | None = None,
) -> dict[str, Any]:
    """Verify a published bundle offline. ``seed`` (hex-decoded) overrides the bundle's;
    ``beacon_value`` is the value fetched from the beacon itself; with ``public_key`` (the
    server's, from a trusted place) the bundle's signature is checked too."""
    if "record" not in bundle:  # a bare record: no result, calls or signature to compare
        bundle = {"record": bundle, "result": None, "calls": [], "published_record_hash": None}
    extra: list[dict[str, Any]] = []
    stated_seed = bundle.get("seed")
    if seed is None and stated_seed:
        try:
            seed = bytes.fromhex(stated_seed)
        except ValueError:
            seed = None
    if seed is not None and stated_seed and seed.hex() != stated_seed:
        extra.append(Difference(DifferenceKind.SEED_MISMATCH, "the seed given differs from the bundle's",
                                "所给种子与文件中的不同", expected=seed.hex(), claimed=stated_seed).to_json())  # fmt: skip
    if beacon_value is None and bundle.get("beacon_value"):
        beacon_value = bytes.fromhex(bundle["beacon_value"])
    signature = "not_checked"
    if public_key is not None:
        sig = bundle.get("signature") or {}
        if not isinstance(sig, Mapping):
            sig = {}
        body = {k: v for k, v in bundle.items() if k != "signature"}
        try:
            good = verify_signature(
                public_key, bytes.fromhex(sig.get("value", "")), canonical_json(body)
            )
        except (ValueError, TypeError):
            good = False
        signature = "verified" if good else "invalid"
        if not good:
            extra.append(Difference(DifferenceKind.HASH_MISMATCH, "the server's signature on the bundle does not verify",
                                    "文件上的服务器签名验证失败", code="signature").to_json())  # fmt: skip
    if seed is None:
        return {"ok": False, "hashes_ok": False, "signature": signature, "draw_id": bundle.get("draw_id"),
                "record_hash": None, "published_record_hash": bundle.get("published_record_hash"),
                "differences": [Difference(DifferenceKind.SEED_MISMATCH, "no seed: it is revealed once the result is fixed",
                                           "无种子：结果确定后才公开").to_json(), *extra],
                "expected": None}  # fmt: skip
    calls = [
        (c["line"], c["position"], c["expert_id"], c.get("status", ""))
        for c in bundle.get("calls") or []
    ]
    result = bundle.get("result")
    if result is None:
        # nothing claimed: re-run and show the orders (against an empty claim, every line differs)
        rec = bundle["record"]
        result = {"record_hash": rec.get("record_hash"), "algorithm_version": rec.get("algorithm_version"),
                  "beacon_value": None if beacon_value is None else beacon_value.hex(), "lines": []}  # fmt: skip
    report = verify_stored(
        draw_id=bundle.get("draw_id"),
        record_text=bundle["record"],
        result_json=result,
        seed=seed,
        beacon_value=beacon_value,
        published_record_hash=bundle.get("published_record_hash"),
        calls=calls,
    )
    if bundle.get("result") is None:
        report["differences"] = [
            d for d in report["differences"] if d["kind"] not in ("line_count",)
        ]
        report["differences"] = [
            d
            for d in report["differences"]
            if not (d["kind"] == "published_hash_mismatch" and d["expected"] is None)
        ]
        report["ok"] = not report["differences"]
        report["note"] = "no result in the file: the orders under 'expected' are the re-run"
    report["differences"] = [*report["differences"], *extra]
    report["hashes_ok"] = not [d for d in report["differences"] if d.get("code") != "signature"]
    report["signature"] = signature
    report["ok"] = not report["differences"] and signature == "verified"
    return report
