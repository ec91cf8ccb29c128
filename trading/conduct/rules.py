"""Rules of the bad-behaviour register (RULES S1, S2; IR 79, BL 53–54, IR 67–68).

Theory of operation. A staff member records a finding: who (an organisation, by its unified
social credit code, or an expert of the pool), the conduct, the legal basis, the SHA-256 of
the decision document and the period (China dates, both inclusive). A second person approves
it (four eyes: never the one who recorded it); from then it is public. While ``today`` (China
date) lies in the period of an approved finding, its subject is banned: refused at every
door (:class:`~trading.conduct.model.Door`) with the finding's id; the day after the period
ends it is allowed again. A finding is never deleted: it can be revoked, with a reason, by
two people again (one asks, another approves); a revoked finding stays public, marked so,
and bans nothing.

Transitions (a missing entry is a refusal that changes nothing)::

    proposed        --approve-->         approved
    approved        --request_revoke-->  revoke_proposed
    revoke_proposed --approve_revoke-->  revoked
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from trading.errors import Reason, Rejected, ValidationFailed

from .model import (
    BASIS_MAX,
    CONDUCT_MAX,
    DECISION_REF_MAX,
    REASON_MAX,
    Door,
    Finding,
    FindingState,
)

__all__ = [
    "PERIOD_MAX_DAYS",
    "ConductReason",
    "ConductRejected",
    "Command",
    "active_ban",
    "check_finding",
    "decide",
    "is_banned",
]

PERIOD_MAX_DAYS = 10 * 366 + 1
"""Longest period accepted (a little over 10 years); a longer one is a typing error."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ConductReason(Reason):
    FINDING_NOT_FOUND = ("finding_not_found", 404, "No such finding", "无此不良行为记录")
    FOUR_EYES = (
        "four_eyes",
        403,
        "A second person must approve: you may not approve what you recorded or asked for",
        "须由另一人审核：不得审核本人录入或申请的事项",
    )
    WRONG_STATE = (
        "finding_wrong_state",
        409,
        "The finding's state does not allow this",
        "该记录当前状态不允许此操作",
    )
    SUBJECT_NOT_FOUND = ("subject_not_found", 404, "No such organisation or expert", "无此单位或专家")
    BANNED = (
        "party_banned",
        403,
        "Refused: the party is under a ban in the bad-behaviour register",
        "已拒绝：该主体处于不良行为记录的禁入期内",
    )


class ConductRejected(Rejected):
    pass


class Command:
    APPROVE = "approve"
    REQUEST_REVOKE = "request_revoke"
    APPROVE_REVOKE = "approve_revoke"


_TABLE: dict[tuple[FindingState, str], FindingState] = {
    (FindingState.PROPOSED, Command.APPROVE): FindingState.APPROVED,
    (FindingState.APPROVED, Command.REQUEST_REVOKE): FindingState.REVOKE_PROPOSED,
    (FindingState.REVOKE_PROPOSED, Command.APPROVE_REVOKE): FindingState.REVOKED,
}


def check_finding(
    *, conduct: str, legal_basis: str, decision_sha256: str, decision_ref: str,
    starts_on: date | None, ends_on: date | None,
) -> None:
    """Every problem of a new finding at once (a ``ValidationFailed`` listing them all)."""
    errors: list[tuple[str, str, str]] = []
    if not conduct.strip() or len(conduct) > CONDUCT_MAX:
        errors.append(("conduct", f"must be 1 to {CONDUCT_MAX} characters", f"须为 1 至 {CONDUCT_MAX} 个字符"))
    if not legal_basis.strip() or len(legal_basis) > BASIS_MAX:
        errors.append(("legal_basis", f"the legal basis must be 1 to {BASIS_MAX} characters",
                       f"法律依据须为 1 至 {BASIS_MAX} 个字符"))  # fmt: skip
    if not _SHA256.match(decision_sha256):
        errors.append(("decision_sha256", "must be the decision document's SHA-256, 64 lowercase hex digits",
                       "须为处理决定书的 SHA-256（64 位小写十六进制）"))  # fmt: skip
    if len(decision_ref) > DECISION_REF_MAX:
        errors.append(("decision_ref", f"at most {DECISION_REF_MAX} characters", f"至多 {DECISION_REF_MAX} 个字符"))
    if starts_on is None:
        errors.append(("starts_on", "the period's first day is required", "须填写处理期限的起始日"))
    if ends_on is None:
        errors.append(("ends_on", "the period's last day is required", "须填写处理期限的截止日"))
    if starts_on is not None and ends_on is not None:
        if ends_on < starts_on:
            errors.append(("ends_on", f"the period ends ({ends_on}) before it starts ({starts_on})",
                           f"截止日（{ends_on}）早于起始日（{starts_on}）"))  # fmt: skip
        elif (ends_on - starts_on).days + 1 > PERIOD_MAX_DAYS:
            errors.append(("ends_on", "the period is longer than 10 years", "处理期限超过 10 年"))
    if errors:
        raise ValidationFailed(
            "the finding is invalid: " + "; ".join(f"{f}: {en}" for f, en, _ in errors),
            "不良行为记录无效：" + "；".join(f"{f}：{zh}" for f, _, zh in errors),
            details={"errors": [{"field": f"body.{f}", "problem": en, "type": "finding_invalid"} for f, en, _ in errors]},
        )


def decide(finding: Finding, command: str, actor_user_id: int) -> FindingState:
    """The next state of ``finding`` under ``command`` by ``actor_user_id``, or a refusal.
    Four eyes: the approver is never who recorded the finding (approve) nor who asked for
    its revocation (approve_revoke)."""
    nxt = _TABLE.get((finding.state, command))
    if nxt is None:
        raise ConductRejected(
            ConductReason.WRONG_STATE, f"finding {finding.id} is {finding.state.value}; cannot {command}",
            f"记录 {finding.id} 状态为 {finding.state.value}，不能执行 {command}",
            details={"finding_id": finding.id, "state": finding.state.value},
        )
    if command == Command.APPROVE and actor_user_id == finding.recorded_by:
        raise ConductRejected(ConductReason.FOUR_EYES, f"finding {finding.id} was recorded by you",
                              f"记录 {finding.id} 由您本人录入", details={"finding_id": finding.id})  # fmt: skip
    if command == Command.APPROVE_REVOKE and actor_user_id == finding.revoke_requested_by:
        raise ConductRejected(ConductReason.FOUR_EYES, f"the revocation of finding {finding.id} was asked by you",
                              f"记录 {finding.id} 的撤销由您本人申请", details={"finding_id": finding.id})  # fmt: skip
    return nxt


def check_reason(reason: str) -> None:
    if not reason.strip() or len(reason) > REASON_MAX:
        raise ValidationFailed(
            f"reason: a revocation needs a reason of 1 to {REASON_MAX} characters",
            f"reason：撤销须说明理由（1 至 {REASON_MAX} 个字符）",
            details={"errors": [{"field": "body.reason", "problem": "required", "type": "missing"}]},
        )


def is_banned(finding: Finding, today: date) -> bool:
    """S2: an approved finding (or one whose revocation is only asked) bans its subject on
    each day of its period, both ends included; the day after ``ends_on`` it no longer does."""
    return (
        finding.state in (FindingState.APPROVED, FindingState.REVOKE_PROPOSED)
        and finding.starts_on <= today <= finding.ends_on
    )


def active_ban(findings: Iterable[Finding], today: date) -> Finding | None:
    """The ban that refuses today: of those in force, the one ending last (then lowest id)."""
    live = [f for f in findings if is_banned(f, today)]
    if not live:
        return None
    return min(live, key=lambda f: (-f.ends_on.toordinal(), f.id))


def refusal(finding: Finding, door: Door) -> ConductRejected:
    """The problem a door answers while ``finding`` bans the party: names the record."""
    return ConductRejected(
        ConductReason.BANNED,
        f"{finding.subject_name} is banned until {finding.ends_on.isoformat()} by finding {finding.id} "
        f"({finding.legal_basis}); door {door.value}",
        f"{finding.subject_name} 因不良行为记录 {finding.id}（{finding.legal_basis}）禁入至 {finding.ends_on.isoformat()}",
        details={
            "finding_id": finding.id,
            "door": door.value,
            "ends_on": finding.ends_on.isoformat(),
            "record": f"/api/v1/public/bad-behaviour/{finding.id}",
        },
    )
