"""Who is acting, and from where: passed from the edge into every service call that writes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    BIDDER = "bidder"
    STAFF = "staff"
    EXPERT = "expert"
    SUPERVISOR = "supervisor"
    CUSTODIAN = "custodian"
    ADMIN = "admin"
    SYSTEM = "system"
    """The server itself: the scheduler, the auction engine. Never a login."""
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str
    role: Role
    org_id: int | None = None
    client_addr: str = ""
    request_id: str = ""

    @classmethod
    def system(cls, what: str = "scheduler", request_id: str = "") -> Actor:
        return cls(None, f"system:{what}", Role.SYSTEM, None, "", request_id)

    @classmethod
    def anonymous(cls, client_addr: str = "", request_id: str = "") -> Actor:
        return cls(None, "anonymous", Role.ANONYMOUS, None, client_addr, request_id)
