"""Use cases of the evaluation (评标). Each runs in one transaction: load (the tender, then the
evaluation row, locked), apply ``bidding.evaluation.rules``, save, append to the audit log,
(re)schedule the signing deadline.

The panel comes from ``experts.seating`` through the web layer: every use case that needs
it takes ``members`` (:class:`~bidding.evaluation.model.PanelMember`, every member ever
seated, ``replaced`` marking the void ones), so this package never imports ``experts``.

Signatures: a member signs their sheet and their signature on the report with their own
Ed25519 key, registered beforehand like any party's key (``POST /api/v1/me/keys``); the
server checks the signature against the member's active keys and keeps the signature and
the key, so the record can be checked offline without trusting the server for the sheets.
The server signs the report it generates and the conclusion.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from bidding import store as bidding_store
from bidding.errors import not_found
from bidding.evaluation import records, rules
from bidding.evaluation import store as db
from bidding.evaluation.errors import EvalReason, EvaluationRejected
from bidding.evaluation.model import (
    BidEntry,
    Candidate,
    EvaluationResult,
    EvaluationSettings,
    EvaluationState,
    MethodSpec,
    PanelMember,
    Sheet,
)
from bidding.model import Tender, TenderState
from bidding.records import Signed
from bidding.service.common import SCHEDULER, canonical_text, load_tender, sign, signed_from_row
from crypto.keys import b64url_encode
from crypto.signing import canonical_json, verify
from trading.audit import AuditLog
from trading.calendar import events as calendar
from trading.clock import iso_ms
from trading.context import Actor
from trading.notices import add_notice
from trading.parties import service as parties

__all__ = [
    "answer_clarification",
    "ask_clarification",
    "concluded_result",
    "evaluation_state",
    "export_record",
    "generate_report",
    "on_signing_deadline",
    "record_finding",
    "set_method",
    "sign_report",
    "start_evaluation",
    "submit_sheet",
]

MAX_TEXT_CHARS = 2000


# ---------------------------------------------------------------------------- the method


async def set_method(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender_id: int,
    spec: MethodSpec,
) -> Tender:  # fmt: skip
    """Set the evaluation terms of a draft (staff). T16: refused once the tender is
    published (``method_fixed_at_publication``); criteria not summing to 100 refused."""
    rules.require_valid_method(spec)
    async with conn.transaction():
        tender = await load_tender(conn, tender_id, lock="update")
        if tender.state is not TenderState.DRAFT:
            raise EvaluationRejected(
                EvalReason.METHOD_FIXED, f"the tender is {tender.state}", f"招标项目状态为 {tender.state}"
            )
        tender = await bidding_store.update_tender(
            conn, tender, **bidding_store.evaluation_columns(spec)
        )
        await audit.append(
            conn, actor=actor, action="tender.evaluation_method", object_type="tender",
            object_id=tender_id, at=now, payload=spec.as_json(),
        )  # fmt: skip
    return tender


# ---------------------------------------------------------------------------- helpers


async def _load(
    conn: asyncpg.Connection, tender_id: int, *, lock: bool = True
) -> tuple[Tender, asyncpg.Record | None]:
    tender = await load_tender(conn, tender_id, lock="share" if lock else None)
    return tender, await db.get_evaluation(conn, tender_id, lock=lock)


def _state(row: asyncpg.Record | None) -> EvaluationState | None:
    return EvaluationState(row["state"]) if row is not None else None


def member_of(actor: Actor, members: Sequence[PanelMember]) -> PanelMember:
    """The seated, non-replaced member logged in as ``actor``; refused otherwise."""
    mine = [m for m in members if actor.user_id is not None and m.user_id == actor.user_id]
    sitting = [m for m in mine if not m.replaced]
    if sitting:
        return sitting[0]
    if mine:
        raise EvaluationRejected(EvalReason.MEMBER_REPLACED)
    raise EvaluationRejected(EvalReason.NOT_A_MEMBER)


async def _member_key(
    conn: asyncpg.Connection, actor: Actor, document: Mapping[str, Any], signature: bytes
) -> bytes:
    """The member's registered Ed25519 key that made ``signature`` over the document."""
    assert actor.user_id is not None
    keys = await parties.active_keys(conn, user_id=actor.user_id, algorithm="ed25519")
    if not keys:
        raise EvaluationRejected(EvalReason.NO_SIGNING_KEY)
    message = canonical_json(document)
    for key in keys:
        if verify(key.public_key, signature, message):
            return key.public_key
    raise EvaluationRejected(EvalReason.BAD_SIGNATURE)


def _sheet_of(row: asyncpg.Record, tender: Tender, bids: Sequence[BidEntry]) -> Sheet:
    return rules.parse_sheet(
        json.loads(row["document"]),
        tender_id=tender.id,
        expert_id=row["expert_id"],
        spec=tender.method_spec,
        bids=bids,
    )


async def _findings(conn: asyncpg.Connection, tender_id: int) -> dict[int, bool]:
    return {r["bid_id"]: r["accepted"] for r in await db.findings(conn, tender_id)}


async def _require_bid(bids: Sequence[BidEntry], bid_id: int) -> BidEntry:
    for b in bids:
        if b.bid_id == bid_id:
            return b
    raise EvaluationRejected(EvalReason.UNKNOWN_BID, f"bid {bid_id}", f"投标 {bid_id}")


# ---------------------------------------------------------------------------- use cases


async def start_evaluation(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender_id: int,
    *, members: Sequence[PanelMember], panel_seated: bool,
) -> dict[str, Any]:  # fmt: skip
    """Staff start the evaluation once the tender is opened and its panel seated (drawn for
    the tender, members confirmed; the draw's own ``fixed`` state comes after the
    evaluation, when the list is published)."""
    async with conn.transaction():
        tender, row = await _load(conn, tender_id)
        rules.decide(
            _state(row),
            rules.Start(tender.state is TenderState.OPENED, panel_seated and bool(members)),
            now,
        )
        try:
            await db.insert_evaluation(conn, tender_id, started_by=actor.user_id, now=now)
        except asyncpg.UniqueViolationError:  # started at the same moment by another request
            raise EvaluationRejected(EvalReason.EVALUATION_EXISTS) from None
        for m in members:
            if not m.replaced and m.user_id is not None:
                await add_notice(
                    conn, now, subject=f"Evaluation open / 评标开始: {tender.code}",
                    body=f"GET /api/v1/tenders/{tender_id}/evaluation", user_id=m.user_id,
                    object_type="tender", object_id=str(tender_id),
                )  # fmt: skip
        await audit.append(
            conn, actor=actor, action="evaluation.start", object_type="tender",
            object_id=tender_id, at=now,
            detail={"members": [m.expert_id for m in members if not m.replaced]},
        )  # fmt: skip
    async with conn.transaction():
        return await evaluation_state(conn, tender_id)


async def submit_sheet(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender_id: int,
    *, members: Sequence[PanelMember], document: Mapping[str, Any], signature: bytes,
) -> dict[str, Any]:  # fmt: skip
    """A seated member hands in (or replaces, with the next revision) their signed sheet,
    only while the evaluation is open (never after the report)."""
    async with conn.transaction():
        tender, row = await _load(conn, tender_id)
        member = member_of(actor, members)
        rules.decide(_state(row), rules.SubmitSheet(), now)
        bids = await db.opened_bids(conn, tender_id)
        sheet = rules.parse_sheet(
            document, tender_id=tender_id, expert_id=member.expert_id,
            spec=tender.method_spec, bids=bids,
        )  # fmt: skip
        last = await db.last_revision(conn, tender_id, member.expert_id)
        if sheet.revision != last + 1:
            raise EvaluationRejected(
                EvalReason.STALE_REVISION, f"expected {last + 1}, got {sheet.revision}"
            )
        public_key = await _member_key(conn, actor, document, signature)
        assert actor.user_id is not None
        sha = records.document_sha256(document)
        sheet_id = await db.insert_sheet(
            conn, tender_id=tender_id, expert_id=member.expert_id, user_id=actor.user_id,
            revision=sheet.revision, document=canonical_text(document), sha256=sha,
            signature=signature, public_key=public_key, now=now,
        )  # fmt: skip
        await audit.append(
            conn, actor=actor, action="evaluation.sheet", object_type="tender",
            object_id=tender_id, at=now,
            detail={"expert_id": member.expert_id, "revision": sheet.revision, "sha256": sha},
        )  # fmt: skip
    return {
        "id": sheet_id,
        "tender_id": tender_id,
        "expert_id": member.expert_id,
        "revision": sheet.revision,
        "sha256": sha,
        "submitted_at": now,
    }


async def record_finding(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender_id: int,
    *, members: Sequence[PanelMember], bid_id: int, accepted: bool, reason: str,
    settings: EvaluationSettings,
) -> dict[str, Any]:  # fmt: skip
    """W5: the panel's finding on a bid flagged as possibly below cost — the bidder's
    written explanation accepted or not (a later finding replaces it until the report)."""
    async with conn.transaction():
        tender, row = await _load(conn, tender_id)
        member = member_of(actor, members)
        rules.decide(_state(row), rules.RecordFinding(), now)
        bids = await db.opened_bids(conn, tender_id)
        await _require_bid(bids, bid_id)
        if bid_id not in rules.below_cost_flags(bids, tender.method_spec, settings):
            raise EvaluationRejected(EvalReason.NOT_FLAGGED_BELOW_COST, f"bid {bid_id}")
        await db.put_finding(
            conn, tender_id=tender_id, bid_id=bid_id, accepted=accepted, reason=reason,
            expert_id=member.expert_id, now=now,
        )  # fmt: skip
        await audit.append(
            conn, actor=actor, action="evaluation.below_cost_finding", object_type="tender",
            object_id=tender_id, at=now,
            payload={"bid_id": bid_id, "accepted": accepted, "reason": reason},
        )  # fmt: skip
    return {"tender_id": tender_id, "bid_id": bid_id, "accepted": accepted, "reason": reason,
            "expert_id": member.expert_id, "recorded_at": now}  # fmt: skip


def _clarification_json(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": r["id"],
        "bid_id": r["bid_id"],
        "org_id": r["org_id"],
        "question": r["question"],
        "asked_by": r["asked_by"],
        "asked_at": r["asked_at"],
        "answer": r["answer"],
        "answered_at": r["answered_at"],
    }


async def ask_clarification(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender_id: int,
    *, members: Sequence[PanelMember], bid_id: int, question: str,
) -> dict[str, Any]:  # fmt: skip
    """W6 (IR 52): the panel asks a bidder, in writing, to clarify; the bidder is told."""
    async with conn.transaction():
        tender, row = await _load(conn, tender_id)
        member = member_of(actor, members)
        rules.decide(_state(row), rules.AskClarification(), now)
        bid = await _require_bid(await db.opened_bids(conn, tender_id), bid_id)
        r = await db.insert_clarification(
            conn, tender_id=tender_id, bid_id=bid_id, org_id=bid.org_id, question=question,
            asked_by=member.expert_id, now=now,
        )  # fmt: skip
        await add_notice(
            conn, now, subject=f"Clarification requested / 澄清要求: {tender.code}",
            body=f"{question}\nPOST /api/v1/tenders/{tender_id}/evaluation/clarifications/{r['id']}/answer",
            org_id=bid.org_id, object_type="tender", object_id=str(tender_id),
        )  # fmt: skip
        await audit.append(
            conn, actor=actor, action="evaluation.clarification_ask", object_type="tender",
            object_id=tender_id, at=now, payload={"bid_id": bid_id, "question": question},
        )  # fmt: skip
    return _clarification_json(r)


async def answer_clarification(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender_id: int,
    clarification_id: int, *, answer: str, changes_price_or_substance: bool,
) -> dict[str, Any]:  # fmt: skip
    """W6 (IR 52): the bidder answers in writing. An answer that changes the price or the
    substance is refused (there is no price in an answer at all)."""
    if changes_price_or_substance:
        raise EvaluationRejected(EvalReason.CLARIFICATION_CHANGES_PRICE)
    async with conn.transaction():
        _, row = await _load(conn, tender_id)
        rules.decide(_state(row), rules.AnswerClarification(), now)
        c = await db.get_clarification(conn, tender_id, clarification_id)
        if c is None:
            raise not_found("clarification", "澄清", clarification_id, "clarification_not_found")
        if actor.org_id is None or actor.org_id != c["org_id"]:
            raise EvaluationRejected(EvalReason.NOT_YOUR_BID)
        assert actor.user_id is not None
        r = await db.answer_clarification(
            conn, clarification_id, answer=answer, user_id=actor.user_id, now=now
        )
        if r is None:
            raise EvaluationRejected(EvalReason.CLARIFICATION_ANSWERED)
        await audit.append(
            conn, actor=actor, action="evaluation.clarification_answer", object_type="tender",
            object_id=tender_id, at=now, payload={"id": clarification_id, "answer": answer},
        )  # fmt: skip
    return _clarification_json(r)


async def generate_report(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender_id: int,
    *, members: Sequence[PanelMember], settings: EvaluationSettings,
) -> Signed:  # fmt: skip
    """Staff generate the report from the sheets (every seated member has handed one in,
    every flagged bid has its finding); the members are asked to sign by the deadline."""
    async with conn.transaction():
        tender, row = await _load(conn, tender_id)
        state = _state(row)
        if state is not EvaluationState.EVALUATING:
            rules.decide(state, rules.GenerateReport((), (), settings.signing_window_s), now)
        assert row is not None
        bids = await db.opened_bids(conn, tender_id)
        rows = await db.current_sheets(conn, tender_id)
        sheets = [_sheet_of(r, tender, bids) for r in rows]
        findings = await _findings(conn, tender_id)
        spec = tender.method_spec
        agg = rules.aggregate(spec, bids, sheets, members, findings, settings)
        handed_in = {r["expert_id"] for r in rows}
        missing = tuple(m.expert_id for m in members if not m.replaced and m.expert_id not in handed_in)
        decision = rules.decide(
            state, rules.GenerateReport(missing, agg.unresolved, settings.signing_window_s), now
        )
        assert decision.signing_deadline_at is not None
        counted = set(agg.counted_experts)
        document = records.report_document(
            tender_id=tender_id, tender_code=tender.code, generated_at=now,
            signing_deadline_at=decision.signing_deadline_at, spec=spec, settings=settings,
            members=members, bids=bids,
            sheets=[
                {"expert_id": r["expert_id"], "revision": r["revision"], "sha256": r["sha256"],
                 "public_key": b64url_encode(bytes(r["public_key"])),
                 "void": r["expert_id"] not in counted}
                for r in rows
            ],
            findings=[
                {"bid_id": f["bid_id"], "accepted": f["accepted"], "reason": f["reason"],
                 "expert_id": f["expert_id"]}
                for f in await db.findings(conn, tender_id)
            ],
            clarifications=[
                {"id": c["id"], "bid_id": c["bid_id"], "question": c["question"],
                 "answer": c["answer"]}
                for c in await db.clarifications(conn, tender_id)
            ],
            agg=agg,
        )  # fmt: skip
        signed = sign(audit, document)
        public = records.public_report(document)
        public_signed = sign(audit, public)
        await db.insert_report(
            conn, tender_id=tender_id, document=canonical_text(document),
            sha256=records.document_sha256(document), signature=signed.signature,
            public_document=canonical_text(public), public_signature=public_signed.signature,
            key_id=signed.key_id, failed=agg.failed,
            signing_deadline_at=decision.signing_deadline_at, now=now,
        )  # fmt: skip
        await db.set_state(conn, tender_id, row["version"], decision.state, reported_at=now)
        await calendar.schedule(
            conn, kind=rules.SIGNING_DEADLINE_EVENT, ref=tender_id,
            due_at=decision.signing_deadline_at, now=now,
        )  # fmt: skip
        for m in members:
            if not m.replaced and m.user_id is not None:
                await add_notice(
                    conn, now, subject=f"Sign the evaluation report / 请签署评标报告: {tender.code}",
                    body=(f"By {iso_ms(decision.signing_deadline_at)}; silence counts as consent. "
                          f"逾期未签署视为同意。GET /api/v1/tenders/{tender_id}/evaluation"),
                    user_id=m.user_id, object_type="tender", object_id=str(tender_id),
                )  # fmt: skip
        await audit.append(
            conn, actor=actor, action="evaluation.report", object_type="tender",
            object_id=tender_id, at=now, payload=document,
            detail={"failed": agg.failed, "candidates": [c.bid_id for c in agg.candidates]},
        )  # fmt: skip
    return signed


async def sign_report(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender_id: int,
    *, members: Sequence[PanelMember], document: Mapping[str, Any], signature: bytes,
) -> dict[str, Any]:  # fmt: skip
    """A member signs the report (its SHA-256), with a dissent in writing or none. The last
    signature concludes it (T17)."""
    async with conn.transaction():
        _, row = await _load(conn, tender_id)
        member = member_of(actor, members)
        report = await db.get_report(conn, tender_id)
        seated = _seated_in(report)
        remaining = len(seated - {member.expert_id})
        if report is not None:
            remaining -= len({r["expert_id"] for r in await db.signatures(conn, report["id"])}
                             - {member.expert_id})  # fmt: skip
        decision = rules.decide(_state(row), rules.SignReport(remaining), now)
        assert report is not None and row is not None
        if member.expert_id not in seated:
            raise EvaluationRejected(EvalReason.NOT_A_MEMBER, "not on the panel at the report")
        dissent = document.get("dissent")
        if dissent is not None and (
            not isinstance(dissent, str) or not dissent.strip() or len(dissent) > 5000
        ):
            raise EvaluationRejected(EvalReason.REPORT_MISMATCH, "dissent: 1..5000 characters")
        expected = records.signature_document(
            tender_id=tender_id, report_sha256=report["sha256"], expert_id=member.expert_id,
            dissent=dissent,
        )  # fmt: skip
        if dict(document) != expected:
            raise EvaluationRejected(EvalReason.REPORT_MISMATCH, details={"expected": expected})
        public_key = await _member_key(conn, actor, expected, signature)
        assert actor.user_id is not None
        if not await db.insert_signature(
            conn, report_id=report["id"], expert_id=member.expert_id, user_id=actor.user_id,
            document=canonical_text(expected), sha256=records.document_sha256(expected),
            signature=signature, public_key=public_key, dissent=dissent, now=now,
        ):  # fmt: skip
            raise EvaluationRejected(EvalReason.ALREADY_SIGNED)
        await audit.append(
            conn, actor=actor, action="evaluation.sign", object_type="tender",
            object_id=tender_id, at=now,
            payload={"expert_id": member.expert_id, "dissent": dissent},
        )  # fmt: skip
        if decision.state is EvaluationState.CONCLUDED:
            await _conclude(conn, audit, now, tender_id, row["version"], report)
    return {"tender_id": tender_id, "expert_id": member.expert_id, "dissent": dissent,
            "signed_at": now, "state": decision.state}  # fmt: skip


def _seated_in(report: asyncpg.Record | None) -> set[str]:
    if report is None:
        return set()
    return {m["expert_id"] for m in json.loads(report["document"])["members"] if not m["replaced"]}


async def on_signing_deadline(
    conn: asyncpg.Connection, audit: AuditLog, now: datetime, tender_id: int
) -> None:
    """The signing deadline (timed event, in its transaction): silence counts as consent
    (T17); the report is concluded."""
    row = await db.get_evaluation(conn, tender_id, lock=True)
    report = await db.get_report(conn, tender_id)
    if row is None or report is None or _state(row) is not EvaluationState.REPORTED:
        return  # concluded by the last signature already
    try:
        rules.decide(_state(row), rules.SigningDeadline(report["signing_deadline_at"]), now)
    except EvaluationRejected:
        return  # not due yet (cannot move, but be safe)
    await _conclude(conn, audit, now, tender_id, row["version"], report)


async def _conclude(
    conn: asyncpg.Connection, audit: AuditLog, now: datetime, tender_id: int, version: int,
    report: asyncpg.Record,
) -> None:  # fmt: skip
    signed_rows = await db.signatures(conn, report["id"])
    signed = {r["expert_id"] for r in signed_rows}
    silent = sorted(_seated_in(report) - signed)
    conclusion = records.conclusion_document(
        tender_id=tender_id, report_sha256=report["sha256"], concluded_at=now,
        signatures=[
            {"expert_id": r["expert_id"], "sha256": r["sha256"],
             "public_key": b64url_encode(bytes(r["public_key"])), "dissent": r["dissent"]}
            for r in signed_rows
        ],
        silent=silent, failed=report["failed"],
    )  # fmt: skip
    server = sign(audit, conclusion)
    await db.conclude_report(
        conn, report["id"], conclusion=canonical_text(conclusion), signature=server.signature,
        now=now,
    )  # fmt: skip
    await db.set_state(conn, tender_id, version, EvaluationState.CONCLUDED, concluded_at=now)
    await calendar.cancel(conn, kind=rules.SIGNING_DEADLINE_EVENT, ref=tender_id)
    await audit.append(
        conn, actor=SCHEDULER, action="evaluation.conclude", object_type="tender",
        object_id=tender_id, at=now, payload=conclusion,
    )  # fmt: skip


# ---------------------------------------------------------------------------- reading


async def concluded_result(conn: asyncpg.Connection, tender_id: int) -> EvaluationResult | None:
    """The concluded evaluation, or ``None`` until the report is signed by every member
    (or their silence has counted as consent at the signing deadline, T17)."""
    report = await db.get_report(conn, tender_id)
    if report is None or report["concluded_at"] is None:
        return None
    result = json.loads(report["document"])["result"]
    by_bid = {r["bid_id"]: r for r in result["ranking"]}
    candidates = tuple(
        Candidate(
            rank=by_bid[b]["rank"],
            bid_id=b,
            org_id=by_bid[b]["org_id"],
            price_fen=by_bid[b]["price_fen"],
            score=Decimal(by_bid[b]["total"]) if by_bid[b]["total"] is not None else None,
        )
        for b in result["candidates"]
    )
    return EvaluationResult(
        tender_id=tender_id,
        report_id=report["id"],
        concluded_at=report["concluded_at"],
        failed=result["failed"],
        candidates=candidates,
        rejected=tuple((r["bid_id"], r["cause"]) for r in result["rejected"]),
    )


async def evaluation_state(
    conn: asyncpg.Connection, tender_id: int, *, settings: EvaluationSettings | None = None,
    members: Sequence[PanelMember] = (),
) -> dict[str, Any]:  # fmt: skip
    """Where the evaluation stands: the bids, who has handed in a sheet (not its points),
    the flags and findings, the clarifications, the report and who has signed it."""
    tender, row = await _load(conn, tender_id, lock=False)
    if row is None:
        raise EvaluationRejected(EvalReason.EVALUATION_NOT_STARTED)
    bids = await db.opened_bids(conn, tender_id)
    sheets = await db.current_sheets(conn, tender_id)
    handed_in = {r["expert_id"] for r in sheets}
    report = await db.get_report(conn, tender_id)
    report_json: dict[str, Any] | None = None
    if report is not None:
        report_json = {
            "id": report["id"],
            "sha256": report["sha256"],
            "signing_deadline_at": report["signing_deadline_at"],
            "concluded_at": report["concluded_at"],
            "failed": report["failed"],
            **signed_from_row(report["document"], report["signature"], report["key_id"]).as_json(),
            "signatures": [
                {"expert_id": r["expert_id"], "dissent": r["dissent"], "signed_at": r["signed_at"]}
                for r in await db.signatures(conn, report["id"])
            ],
        }
    return {
        "tender_id": tender_id,
        "state": row["state"],
        "started_at": row["started_at"],
        "reported_at": row["reported_at"],
        "concluded_at": row["concluded_at"],
        "method": tender.method_spec.as_json(),
        "bids": records.bids_json(bids),
        "flagged_below_cost": list(
            rules.below_cost_flags(bids, tender.method_spec, settings or EvaluationSettings())
        ),
        "members": records.members_json(members),
        "sheets": [
            {"expert_id": r["expert_id"], "revision": r["revision"], "sha256": r["sha256"],
             "submitted_at": r["submitted_at"]}
            for r in sheets
        ],
        "missing_sheets": [
            m.expert_id for m in members if not m.replaced and m.expert_id not in handed_in
        ],
        "findings": [dict(f) for f in await db.findings(conn, tender_id)],
        "clarifications": [_clarification_json(c) for c in await db.clarifications(conn, tender_id)],
        "report": report_json,
    }  # fmt: skip


async def bidder_clarifications(
    conn: asyncpg.Connection, tender_id: int, org_id: int
) -> list[dict[str, Any]]:
    """The clarifications asked of one bidder (a bidder never sees another's), without the
    asking member: the panel stays secret until the result is fixed (E4)."""
    return [
        {k: v for k, v in _clarification_json(c).items() if k != "asked_by"}
        for c in await db.clarifications(conn, tender_id, org_id=org_id)
    ]


async def export_record(conn: asyncpg.Connection, tender_id: int, *, full: bool) -> dict[str, Any]:
    """The evaluation record once concluded: in full (staff, supervisors; what
    ``sunlit verify-evaluation`` checks), or its public view (signed by the server)."""
    await load_tender(conn, tender_id)
    report = await db.get_report(conn, tender_id)
    if report is None or report["concluded_at"] is None:
        raise EvaluationRejected(EvalReason.NOT_CONCLUDED)
    conclusion = signed_from_row(report["conclusion"], report["conclusion_signature"], report["key_id"])
    if not full:
        return {
            "type": records.PUBLIC_RECORD_TYPE,
            "report": signed_from_row(
                report["public_document"], report["public_signature"], report["key_id"]
            ).as_json(),
            "concluded_at": report["concluded_at"],
        }
    named = {s["sha256"] for s in json.loads(report["document"])["sheets"]}
    sheets = [r for r in await db.current_sheets(conn, tender_id) if r["sha256"] in named]
    return {
        "type": records.RECORD_TYPE,
        "report": signed_from_row(report["document"], report["signature"], report["key_id"]).as_json(),
        "sheets": [_member_signed(r) for r in sheets],
        "signatures": [_member_signed(r) for r in await db.signatures(conn, report["id"])],
        "conclusion": conclusion.as_json(),
    }


def _member_signed(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "document": json.loads(r["document"]),
        "signature": b64url_encode(bytes(r["signature"])),
        "public_key": b64url_encode(bytes(r["public_key"])),
        "algorithm": "Ed25519",
    }
