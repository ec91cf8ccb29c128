"""Parties: organisations (with their unified social credit code), users, sessions, keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from trading.context import Role

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


class OrgKind(StrEnum):
    CENTRE = "centre"
    TENDEREE = "tenderee"
    AGENCY = "agency"
    BIDDER = "bidder"
    SUPERVISOR_DEPT = "supervisor_dept"
    BANK = "bank"
    OTHER = "other"


def uscc_check_char(first17: str) -> str:
    """Check character of a unified social credit code (统一社会信用代码), GB 32100-2015."""
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_valid(code: str) -> bool:
    return (
        len(code) == 18
        and all(ch in USCC_ALPHABET for ch in code)
        and uscc_check_char(code[:17]) == code[17]
    )


@dataclass(frozen=True)
class Organisation:
    id: int
    name: str
    kind: OrgKind
    credit_code: str
    region: str
    platform_affiliate: bool
    created_at: datetime


@dataclass(frozen=True)
class User:
    id: int
    username: str
    full_name: str
    role: Role
    org_id: int | None
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class PartyKey:
    id: int
    org_id: int | None
    user_id: int
    algorithm: str
    public_key: bytes
    label: str
    created_at: datetime
    revoked_at: datetime | None


LOGIN_ROLES = frozenset(r for r in Role if r not in (Role.SYSTEM, Role.ANONYMOUS))
ROLES_NEEDING_ORG = frozenset({Role.BIDDER})
