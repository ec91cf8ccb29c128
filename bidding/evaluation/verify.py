"""Offline verification of an evaluation record (``sunlit verify-evaluation``). Pure.

Given the exported record (``sunlit/evaluation-record/v1``) and the server's public key,
:func:`verify_record` checks, and says which check failed:

1. the report is signed by the server and is an evaluation report;
2. each sheet is the one the report names (same SHA-256), signed by the member key the
   report names, and well formed against the method and the bids in the report;
3. re-running :func:`bidding.evaluation.rules.aggregate` on those sheets, the members, the
   findings and the method gives exactly the report's result (ranking, scores, rejections,
   candidates);
4. the conclusion is signed by the server, names this report, and every seated member
   either signed it (a valid signature by their key, with any dissent) or is listed as
   consenting by silence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bidding.evaluation.errors import EvaluationRejected
from bidding.evaluation.model import BidEntry, EvaluationSettings, PanelMember, Sheet
from bidding.evaluation.records import (
    CONCLUSION_TYPE,
    RECORD_TYPE,
    REPORT_TYPE,
    SIGNATURE_TYPE,
    aggregate_json,
    document_sha256,
)
from bidding.evaluation.rules import aggregate, method_from_json, parse_sheet
from bidding.records import Signed, verify_signed
from crypto.errors import KeyFormatError
from crypto.keys import b64url_decode
from crypto.signing import canonical_json, verify

__all__ = ["Verification", "verify_record"]


@dataclass
class Verification:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    """The re-derived result (``aggregate_json``)."""

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)


def _key(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("a key must be base64url text")
    return b64url_decode(text, size=32)


def _member_signed(entry: Mapping[str, Any]) -> tuple[dict[str, Any], bytes, bytes]:
    document = entry.get("document")
    if not isinstance(document, dict):
        raise ValueError("document must be an object")
    signature = b64url_decode(str(entry.get("signature", "")), size=64)
    return document, signature, _key(entry.get("public_key"))


def verify_record(record: Mapping[str, Any], server_public: bytes) -> Verification:
    out = Verification()
    try:
        _verify(record, server_public, out)
    except (ValueError, KeyError, TypeError, KeyFormatError) as exc:
        out.fail(f"malformed record: {exc}")
    return out


def _verify(record: Mapping[str, Any], server_public: bytes, out: Verification) -> None:
    if record.get("type") != RECORD_TYPE:
        out.fail(f"not an evaluation record (type {record.get('type')!r})")
        return
    report = Signed.from_json(record["report"])
    if not verify_signed(report, server_public, expected_type=REPORT_TYPE):
        out.fail("the report's signature does not verify with the server's key")
        return
    doc = report.document
    report_sha = document_sha256(doc)
    tender_id = doc["tender_id"]
    spec = method_from_json(doc["method"])
    settings = EvaluationSettings(**doc["settings"])
    members = [
        PanelMember(m["seat"], m["expert_id"], None, m["name"], m["replaced"])
        for m in doc["members"]
    ]
    bids = [
        BidEntry(b["bid_id"], b["org_id"], b["price_fen"], datetime.fromisoformat(b["received_at"]))
        for b in doc["bids"]
    ]
    named = {s["expert_id"]: s for s in doc["sheets"]}
    sheets: list[Sheet] = []
    seen: set[str] = set()
    for entry in record.get("sheets", []):
        document, signature, public = _member_signed(entry)
        expert_id = document.get("expert_id")
        held = named.get(expert_id) if isinstance(expert_id, str) else None
        if held is None or held["sha256"] != document_sha256(document):
            out.fail(f"sheet of expert {expert_id!r} is not the one the report names")
            continue
        if held["public_key"] != entry.get("public_key"):
            out.fail(f"sheet of expert {expert_id}: not the key the report names")
            continue
        if not verify(public, signature, canonical_json(document)):
            out.fail(f"sheet of expert {expert_id}: the member's signature does not verify")
            continue
        try:
            sheets.append(
                parse_sheet(document, tender_id=tender_id, expert_id=expert_id, spec=spec, bids=bids)
            )
        except EvaluationRejected as err:
            out.fail(f"sheet of expert {expert_id}: {err.message_en}")
            continue
        seen.add(expert_id)
    for expert_id in sorted(set(named) - seen):
        out.fail(f"the sheet of expert {expert_id} named by the report is missing or bad")
    findings = {f["bid_id"]: bool(f["accepted"]) for f in doc["findings"]}
    derived = aggregate_json(aggregate(spec, bids, sheets, members, findings, settings))
    out.result = derived
    if derived != doc["result"]:
        differing = sorted(k for k in derived if derived.get(k) != doc["result"].get(k))
        out.fail(f"the re-derived result differs from the report in {differing}")
    _verify_conclusion(record, server_public, doc, report_sha, members, out)


def _verify_conclusion(
    record: Mapping[str, Any],
    server_public: bytes,
    report: Mapping[str, Any],
    report_sha: str,
    members: list[PanelMember],
    out: Verification,
) -> None:
    if "conclusion" not in record:
        out.fail("the record has no conclusion (the report is not concluded)")
        return
    conclusion = Signed.from_json(record["conclusion"])
    if not verify_signed(conclusion, server_public, expected_type=CONCLUSION_TYPE):
        out.fail("the conclusion's signature does not verify with the server's key")
        return
    cdoc = conclusion.document
    if cdoc["report_sha256"] != report_sha or cdoc["tender_id"] != report["tender_id"]:
        out.fail("the conclusion names another report")
        return
    listed = {s["expert_id"]: s for s in cdoc["signatures"]}
    signed: set[str] = set()
    for entry in record.get("signatures", []):
        document, signature, public = _member_signed(entry)
        expert_id = document.get("expert_id")
        held = listed.get(expert_id) if isinstance(expert_id, str) else None
        if (
            document.get("type") != SIGNATURE_TYPE
            or document.get("report_sha256") != report_sha
            or held is None
            or held["sha256"] != document_sha256(document)
            or held["public_key"] != entry.get("public_key")
            or held.get("dissent") != document.get("dissent")
        ):
            out.fail(f"signature of expert {expert_id!r} is not the one the conclusion names")
            continue
        if not verify(public, signature, canonical_json(document)):
            out.fail(f"signature of expert {expert_id}: does not verify")
            continue
        signed.add(expert_id)
    seated = {m.expert_id for m in members if not m.replaced}
    silent = set(cdoc["consent_by_silence"])
    if set(listed) - signed:
        out.fail(f"signatures of experts {sorted(set(listed) - signed)} missing or bad")
    if seated != signed | silent or signed & silent:
        out.fail("not every seated member signed or is listed as consenting by silence")
    if cdoc["failed"] != report["result"]["failed"]:
        out.fail("the conclusion and the report disagree on whether the evaluation failed")
