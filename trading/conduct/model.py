"""What the register holds: a finding (不良行为记录) against a party, its lifecycle, and the
doors a ban closes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

__all__ = [
    "CHINA_TZ",
    "Door",
    "Finding",
    "FindingState",
    "SubjectKind",
    "china_date",
]

CHINA_TZ = timezone(timedelta(hours=8), "CST")
"""Periods are China calendar dates: a ban ending on 30 June holds until 24:00 UTC+8."""

CONDUCT_MAX = 2000
BASIS_MAX = 500
NAME_MAX = 200
REASON_MAX = 2000
DECISION_REF_MAX = 100


def china_date(now: datetime) -> date:
    """The China calendar date (UTC+8) at ``now`` (an aware datetime)."""
    assert now.tzinfo is not None
    return now.astimezone(CHINA_TZ).date()


class SubjectKind(StrEnum):
    ORGANISATION = "organisation"
    EXPERT = "expert"


class FindingState(StrEnum):
    """``proposed`` → ``approved`` (a second staff member) → ``revoke_proposed`` (with a
    reason) → ``revoked`` (a second person again). Nothing is ever deleted."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REVOKE_PROPOSED = "revoke_proposed"
    REVOKED = "revoked"


class Door(StrEnum):
    """Where a ban refuses a party (S2)."""

    TENDER_REGISTRATION = "tender_registration"
    BID_SUBMISSION = "bid_submission"
    AUCTION_APPLICATION = "auction_application"
    AUCTION_BID = "auction_bid"
    EXPERT_DRAW = "expert_draw"


@dataclass(frozen=True)
class Finding:
    id: int
    subject_kind: SubjectKind
    org_id: int | None
    expert_id: str | None
    subject_name: str
    credit_code: str
    conduct: str
    legal_basis: str
    decision_sha256: str
    decision_ref: str
    starts_on: date
    ends_on: date
    state: FindingState
    recorded_by: int
    recorded_at: datetime
    approved_by: int | None = None
    approved_at: datetime | None = None
    revoke_reason: str | None = None
    revoke_requested_by: int | None = None
    revoke_requested_at: datetime | None = None
    revoked_by: int | None = None
    revoked_at: datetime | None = None
    version: int = 1

    @property
    def subject_ref(self) -> str:
        return f"org:{self.org_id}" if self.subject_kind is SubjectKind.ORGANISATION else f"expert:{self.expert_id}"

