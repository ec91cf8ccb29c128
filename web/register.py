"""The bad-behaviour register over HTTP (RULES S1, S2): staff record a finding, a second
person approves it, the public reads and searches it without logging in; a revocation is
asked with a reason and approved by a second person again. Nothing is ever deleted.

The doors (S2) call :func:`refuse_if_banned` (HTTP doors: tender registration, bid
submission, auction admission and HTTP bids; it reads the database) or
:func:`refuse_if_banned_now` (the auction websocket's bid, which never waits for the
database: it reads this process's :class:`BanBook`, loaded at start and kept current by the
approvals and revocations made here). The expert draw leaves banned experts out of the pool
snapshot through :func:`expert_exclusions`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Annotated, Any, Literal

import asyncpg
from aiohttp import web
from pydantic import Field, StringConstraints

from experts.draws import DrawInput
from experts.model.request import ExtraExclusion
from trading.conduct import rules as conduct_rules
from trading.conduct import service as conduct
from trading.conduct import store as conduct_store
from trading.conduct.model import Door, Finding, FindingState, SubjectKind, china_date
from trading.conduct.rules import ConductReason, ConductRejected
from trading.context import Role
from trading.errors import ValidationFailed
from trading.parties.model import uscc_valid
from web import keys
from web.api import Api, Body, Call, Cursor, FreeText, Id, Query, Text

__all__ = ["BAN_BOOK", "BanBook", "api_register", "expert_exclusions", "refuse_if_banned",
           "refuse_if_banned_now", "setup", "without_banned_experts"]  # fmt: skip

STAFF = {Role.STAFF, Role.ADMIN}
APPROVERS = {Role.STAFF, Role.ADMIN, Role.SUPERVISOR}
"""Approving a finding is also a supervision act (issue 14 item 9)."""

api_register = Api()
route = api_register.route


class BanBook:
    """This process's copy of the findings in force now or later, by organisation: the
    websocket's bid checks it without a database round trip. Loaded at start; every
    approval and revocation made through this server updates it in the same request."""

    def __init__(self) -> None:
        self._by_org: dict[int, dict[int, Finding]] = {}

    def load(self, findings: list[Finding]) -> None:
        self._by_org = {}
        for f in findings:
            self.note(f)

    def note(self, f: Finding) -> None:
        if f.org_id is None:
            return
        live = f.state in (FindingState.APPROVED, FindingState.REVOKE_PROPOSED)
        book = self._by_org.setdefault(f.org_id, {})
        if live:
            book[f.id] = f
        else:
            book.pop(f.id, None)

    def ban(self, org_id: int, now: datetime) -> Finding | None:
        found = self._by_org.get(org_id)
        return conduct_rules.active_ban(found.values(), china_date(now)) if found else None


BAN_BOOK = web.AppKey("ban_book", BanBook)


async def refuse_if_banned(conn: asyncpg.Connection, org_ids: int | list[int] | None, now: datetime,
                           door: Door) -> None:  # fmt: skip
    """S2 at an HTTP door: the problem names the finding (``finding_id``, ``record``)."""
    await conduct.refuse_if_banned(conn, org_ids, now, door)


def refuse_if_banned_now(app: web.Application, org_id: int | None, now: datetime, door: Door) -> None:
    """S2 at the websocket's bid: from the process's ban book, never awaiting."""
    book = app.get(BAN_BOOK)
    if book is None or org_id is None:
        return
    ban = book.ban(org_id, now)
    if ban is not None:
        raise conduct_rules.refusal(ban, door)


async def expert_exclusions(conn: asyncpg.Connection, now: datetime) -> list[tuple[str, str]]:
    """``(expert_id, detail)`` of each expert banned today: the draw leaves them out of its
    pool snapshot, the detail naming the finding (it is in the draw's record)."""
    banned = await conduct.banned_experts(conn, now)
    return [
        (expert_id, f"bad-behaviour finding {f.id} until {f.ends_on.isoformat()} / 不良行为记录 {f.id}")
        for expert_id, f in sorted(banned.items())
    ]


async def without_banned_experts(conn: asyncpg.Connection, now: datetime, data: DrawInput) -> DrawInput:
    """S2 at the expert draw: ``data`` with every expert banned today added to its
    exclusions (reason ``tender_specific``, the detail naming the finding), so the draw's
    committed record shows who was left out and why."""
    extra = tuple(ExtraExclusion(e, detail) for e, detail in await expert_exclusions(conn, now))
    return dataclasses.replace(data, extra_exclusions=data.extra_exclusions + extra) if extra else data


# ---------------------------------------------------------------------------- rendering


def finding_json(f: Finding, *, public: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f.id,
        "subject_kind": f.subject_kind.value,
        "subject_name": f.subject_name,
        "credit_code": f.credit_code or None,
        "expert_id": f.expert_id,
        "conduct": f.conduct,
        "legal_basis": f.legal_basis,
        "decision_sha256": f.decision_sha256,
        "decision_ref": f.decision_ref,
        "starts_on": f.starts_on.isoformat(),
        "ends_on": f.ends_on.isoformat(),
        "state": f.state.value,
        "approved_at": f.approved_at,
        "revoked_at": f.revoked_at,
        "revoke_reason": f.revoke_reason if f.state is FindingState.REVOKED else None,
        "url": f"/api/v1/public/bad-behaviour/{f.id}",
    }
    if not public:
        out |= {
            "org_id": f.org_id,
            "recorded_by": f.recorded_by,
            "recorded_at": f.recorded_at,
            "approved_by": f.approved_by,
            "revoke_reason": f.revoke_reason,
            "revoke_requested_by": f.revoke_requested_by,
            "revoke_requested_at": f.revoke_requested_at,
            "revoked_by": f.revoked_by,
            "version": f.version,
        }
    return out


# ---------------------------------------------------------------------------- bodies


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ExpertId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
CreditCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")]


class FindingBody(Body):
    subject_kind: Literal["organisation", "expert"]
    org_id: Id | None = None
    """For an organisation: its id on the platform (its name and credit code are copied)."""
    expert_id: ExpertId | None = None
    """For an expert: their pool id."""
    conduct: FreeText(2000, min_length=1, strip=True)
    legal_basis: Text(500, min_length=1, strip=True)
    decision_sha256: Sha256
    """SHA-256 of the decision document (处理决定书), 64 lowercase hex digits."""
    decision_ref: Text(100, strip=True) = ""
    """The decision's document number (文号)."""
    starts_on: date
    ends_on: date


class ReasonBody(Body):
    reason: FreeText(2000, min_length=1, strip=True)


class PublicQuery(Query):
    q: Text(100, min_length=1, strip=True) | None = None
    """Part of the name (case-insensitive)."""
    credit_code: CreditCode | None = None
    after_id: Cursor = 0
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class StaffQuery(PublicQuery):
    state: Literal["proposed", "approved", "revoke_proposed", "revoked"] | None = None


def _subject(b: FindingBody) -> conduct.Subject:
    kind = SubjectKind(b.subject_kind)
    problems = []
    if kind is SubjectKind.ORGANISATION and (b.org_id is None or b.expert_id is not None):
        problems.append(("org_id", "an organisation's finding names org_id (and no expert_id)"))
    if kind is SubjectKind.EXPERT and (b.expert_id is None or b.org_id is not None):
        problems.append(("expert_id", "an expert's finding names expert_id (and no org_id)"))
    if problems:
        raise ValidationFailed(
            "the finding is invalid: " + "; ".join(f"{f}: {p}" for f, p in problems),
            "不良行为记录无效：须指明单位（org_id）或专家（expert_id）之一",
            details={"errors": [{"field": f"body.{f}", "problem": p, "type": "subject"} for f, p in problems]},
        )
    return conduct.Subject(kind, org_id=b.org_id, expert_id=b.expert_id)


# ---------------------------------------------------------------------------- staff


@route("POST", "/register/findings", summary="Record a bad-behaviour finding (S1); a second person approves it",
       tag="register", roles=STAFF, body=FindingBody, status=201)  # fmt: skip
async def record(call: Call) -> dict[str, Any]:
    b: FindingBody = call.body
    subject = _subject(b)
    async with call.pool.acquire() as conn:
        if subject.kind is SubjectKind.EXPERT:
            row = await conn.fetchrow("SELECT name FROM experts WHERE expert_id = $1", subject.expert_id)
            if row is None:
                raise ConductRejected(ConductReason.SUBJECT_NOT_FOUND, f"expert {subject.expert_id}",
                                      f"专家 {subject.expert_id}", details={"expert_id": subject.expert_id})  # fmt: skip
            subject = conduct.Subject(subject.kind, expert_id=subject.expert_id, name=row["name"])
        f = await conduct.record(
            conn, call.audit, call.actor, call.now, subject=subject, conduct=b.conduct, legal_basis=b.legal_basis,
            decision_sha256=b.decision_sha256, decision_ref=b.decision_ref, starts_on=b.starts_on, ends_on=b.ends_on,
        )  # fmt: skip
    return finding_json(f, public=False)


@route("GET", "/register/findings", summary="Every finding, proposed ones too (staff, supervisors); newest first",
       tag="register", roles=STAFF, query=StaffQuery)  # fmt: skip
async def list_findings(call: Call) -> dict[str, Any]:
    q: StaffQuery = call.query
    async with call.pool.acquire() as conn:
        found = await conduct_store.listing(conn, public=False, q=q.q, credit_code=q.credit_code, state=q.state,
                                            after_id=q.after_id, limit=q.limit)  # fmt: skip
    return {"findings": [finding_json(f, public=False) for f in found],
            "next_after_id": found[-1].id if len(found) == q.limit else None}  # fmt: skip


@route("GET", "/register/findings/{finding_id}", summary="One finding, in full (staff, supervisors)",
       tag="register", roles=STAFF)  # fmt: skip
async def get_finding(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return finding_json(await conduct.get(conn, call.path_int("finding_id")), public=False)


def _noted(call: Call, f: Finding) -> dict[str, Any]:
    book = call.app.get(BAN_BOOK)
    if book is not None:
        book.note(f)
    return finding_json(f, public=False)


@route("POST", "/register/findings/{finding_id}/approval", summary="Approve a finding (four eyes: not its "
       "recorder); it is then public and bans during its period", tag="register", roles=APPROVERS)  # fmt: skip
async def approve(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        f = await conduct.approve(conn, call.audit, call.actor, call.now, call.path_int("finding_id"))
    return _noted(call, f)


@route("POST", "/register/findings/{finding_id}/revocation", summary="Ask to revoke an approved finding, "
       "with the reason; a second person approves", tag="register", roles=STAFF, body=ReasonBody)  # fmt: skip
async def request_revoke(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        f = await conduct.request_revoke(conn, call.audit, call.actor, call.now, call.path_int("finding_id"),
                                         call.body.reason)  # fmt: skip
    return _noted(call, f)


@route("POST", "/register/findings/{finding_id}/revocation/approval", summary="Approve a revocation (four "
       "eyes: not who asked); the finding stays public, marked revoked", tag="register", roles=APPROVERS)  # fmt: skip
async def approve_revoke(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        f = await conduct.approve_revoke(conn, call.audit, call.actor, call.now, call.path_int("finding_id"))
    return _noted(call, f)


# ---------------------------------------------------------------------------- public


@route("GET", "/public/bad-behaviour", summary="The bad-behaviour register (不良行为记录公示), without login: "
       "search by name (q) and credit code; newest first", tag="public", roles=None, query=PublicQuery)  # fmt: skip
async def public_list(call: Call) -> dict[str, Any]:
    q: PublicQuery = call.query
    if q.credit_code is not None and not uscc_valid(q.credit_code):
        raise ValidationFailed(
            f"credit_code: {q.credit_code} is not a valid unified social credit code (check character)",
            f"credit_code：{q.credit_code} 不是有效的统一社会信用代码（校验位不符）",
            details={"errors": [{"field": "query.credit_code", "problem": "check character does not match",
                                 "type": "credit_code"}]},
        )  # fmt: skip
    async with call.pool.acquire() as conn:
        found = await conduct_store.listing(conn, public=True, q=q.q, credit_code=q.credit_code,
                                            after_id=q.after_id, limit=q.limit)  # fmt: skip
    today = china_date(call.now)
    return {
        "today": today.isoformat(),
        "findings": [finding_json(f, public=True) | {"in_force": conduct_rules.is_banned(f, today)} for f in found],
        "next_after_id": found[-1].id if len(found) == q.limit else None,
    }


@route("GET", "/public/bad-behaviour/{finding_id}", summary="One published finding, without login",
       tag="public", roles=None)  # fmt: skip
async def public_get(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        f = await conduct.get(conn, call.path_int("finding_id"), public=True)
    return finding_json(f, public=True) | {"in_force": conduct_rules.is_banned(f, china_date(call.now))}


async def _ban_book_ctx(app: web.Application) -> AsyncIterator[None]:
    async with app[keys.POOL].acquire() as conn:
        app[BAN_BOOK].load(await conduct_store.not_ended(conn, china_date(app[keys.CLOCK].now())))
    yield


def setup(app: web.Application, api: Api, registry: Any) -> None:
    app[BAN_BOOK] = BanBook()
    api.endpoints.extend(api_register.endpoints)
    app.cleanup_ctx.append(_ban_book_ctx)
