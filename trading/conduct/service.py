"""Use cases of the bad-behaviour register: record, approve, ask to revoke, approve the
revocation (each one transaction, audited), and the check each door makes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from trading.audit import AuditLog
from trading.context import Actor
from trading.parties import service as parties

from . import rules, store
from .model import Door, Finding, FindingState, SubjectKind, china_date
from .rules import Command, ConductReason, ConductRejected

__all__ = [
    "Subject",
    "approve",
    "approve_revoke",
    "banned_experts",
    "get",
    "record",
    "refuse_if_banned",
    "request_revoke",
]


@dataclass(frozen=True)
class Subject:
    """Who a finding names. An organisation is resolved here (name, credit code); an expert
    of the pool is resolved by the caller (the experts package is not trading's to read)."""

    kind: SubjectKind
    org_id: int | None = None
    expert_id: str | None = None
    name: str = ""


def _not_found(finding_id: int) -> ConductRejected:
    return ConductRejected(ConductReason.FINDING_NOT_FOUND, f"finding {finding_id}", f"记录 {finding_id}",
                           details={"finding_id": finding_id})  # fmt: skip


async def get(conn: asyncpg.Connection, finding_id: int, *, public: bool = False) -> Finding:
    f = await store.get(conn, finding_id)
    if f is None or (public and f.state is FindingState.PROPOSED):
        raise _not_found(finding_id)
    return f


async def record(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, *, subject: Subject,
    conduct: str, legal_basis: str, decision_sha256: str, decision_ref: str,
    starts_on: date | None, ends_on: date | None,
) -> Finding:
    """S1: a staff member records a finding; it waits for a second person's approval."""
    assert actor.user_id is not None
    rules.check_finding(conduct=conduct, legal_basis=legal_basis, decision_sha256=decision_sha256,
                        decision_ref=decision_ref, starts_on=starts_on, ends_on=ends_on)  # fmt: skip
    assert starts_on is not None and ends_on is not None
    async with conn.transaction():
        if subject.kind is SubjectKind.ORGANISATION:
            assert subject.org_id is not None
            org = await parties.get_organisation(conn, subject.org_id)
            name, credit_code = org.name, org.credit_code
        else:
            assert subject.expert_id is not None and subject.name
            name, credit_code = subject.name, ""
        f = await store.insert(
            conn, subject_kind=subject.kind, org_id=subject.org_id, expert_id=subject.expert_id,
            subject_name=name, credit_code=credit_code, conduct=conduct.strip(), legal_basis=legal_basis.strip(),
            decision_sha256=decision_sha256, decision_ref=decision_ref.strip(), starts_on=starts_on,
            ends_on=ends_on, recorded_by=actor.user_id, now=now,
        )
        await audit.append(
            conn, actor=actor, action="conduct.record", object_type="conduct_finding", object_id=f.id, at=now,
            payload={"subject": f.subject_ref, "conduct": f.conduct, "legal_basis": f.legal_basis,
                     "decision_sha256": f.decision_sha256, "starts_on": starts_on.isoformat(),
                     "ends_on": ends_on.isoformat()},
            detail={"subject": f.subject_ref, "starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()},
        )  # fmt: skip
    return f


async def _transition(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, finding_id: int, command: str,
    reason: str | None = None,
) -> Finding:
    assert actor.user_id is not None
    async with conn.transaction():
        f = await store.get(conn, finding_id, lock=True)
        if f is None:
            raise _not_found(finding_id)
        nxt = rules.decide(f, command, actor.user_id)
        if command == Command.APPROVE:
            f = await store.update(conn, f, state=nxt, approved_by=actor.user_id, approved_at=now)
        elif command == Command.REQUEST_REVOKE:
            f = await store.update(conn, f, state=nxt, revoke_reason=reason, revoke_requested_by=actor.user_id,
                                   revoke_requested_at=now)  # fmt: skip
        else:
            f = await store.update(conn, f, state=nxt, revoked_by=actor.user_id, revoked_at=now)
        await audit.append(
            conn, actor=actor, action=f"conduct.{command}", object_type="conduct_finding", object_id=f.id, at=now,
            payload={"reason": reason} if reason else None, detail={"state": f.state.value, "subject": f.subject_ref},
        )  # fmt: skip
    return f


async def approve(conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, finding_id: int) -> Finding:
    """Four eyes: a second person (never the recorder) approves; the finding is then public
    and bans its subject during its period."""
    return await _transition(conn, audit, actor, now, finding_id, Command.APPROVE)


async def request_revoke(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, finding_id: int, reason: str
) -> Finding:
    rules.check_reason(reason)
    return await _transition(conn, audit, actor, now, finding_id, Command.REQUEST_REVOKE, reason.strip())


async def approve_revoke(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, finding_id: int
) -> Finding:
    return await _transition(conn, audit, actor, now, finding_id, Command.APPROVE_REVOKE)


async def ban_of_org(conn: asyncpg.Connection, org_id: int, now: datetime) -> Finding | None:
    return rules.active_ban(await store.live_for_org(conn, org_id, china_date(now)), china_date(now))


async def refuse_if_banned(conn: asyncpg.Connection, org_ids: int | list[int] | None, now: datetime, door: Door) -> None:
    """S2, at a door: raise the problem naming the record if any of ``org_ids`` is banned
    today (China date). ``None`` (no organisation) passes."""
    if org_ids is None:
        return
    ids = [org_ids] if isinstance(org_ids, int) else sorted(set(org_ids))
    if not ids:
        return
    today = china_date(now)
    live = await store.live_for_orgs(conn, ids, today)
    for org_id in ids:
        ban = rules.active_ban([f for f in live if f.org_id == org_id], today)
        if ban is not None:
            raise rules.refusal(ban, door)


async def banned_experts(conn: asyncpg.Connection, now: datetime) -> dict[str, Finding]:
    """Expert id → the finding that bans them today (for the draw's exclusions)."""
    today = china_date(now)
    by_expert: dict[str, list[Finding]] = {}
    for f in await store.live_experts(conn, today):
        assert f.expert_id is not None
        by_expert.setdefault(f.expert_id, []).append(f)
    out: dict[str, Finding] = {}
    for expert_id, fs in by_expert.items():
        ban = rules.active_ban(fs, today)
        if ban is not None:
            out[expert_id] = ban
    return out
