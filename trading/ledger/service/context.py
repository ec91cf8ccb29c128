"""What every use case of the ledger works with: the ``Ledger`` it runs on (a connection, the
time, the policy), command ids, loading a deposit or a project's terms, and the names at the
edge (a project's reference, a bidder's organisation)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from trading.context import Actor, Role
from trading.errors import ValidationFailed

from .. import store
from ..errors import LedgerReason
from ..model import (
    CHINA_TZ,
    Deposit,
    DepositPolicy,
    DepositTerms,
    TransferFlags,
    TransferResult,
    WorkCalendar,
)
from ..rules.payers import seal_payer
from ..rules.values import is_valid_id

__all__ = [
    "COMMAND_ID_MAX_LEN",
    "DEFAULT_SUB_ACCOUNT_PREFIX",
    "REFUND_DUE",
    "SEALED",
    "UNSEAL",
    "Ledger",
    "bidder_id",
    "command",
    "end_of_china_day",
    "get_deposit",
    "get_terms",
    "is_sealed",
    "load_deposit",
    "load_terms",
    "remember",
    "visible_deposit",
]

REFUND_DUE = "ledger.refund_due"
"""Timed event: the end of the day a refund (or a suspense return) is due (D4, D5, A7)."""
UNSEAL = "ledger.unseal"
"""Timed event: a tender's opening, when payers become visible and collusion can be named."""
SEALED = "sealed"

DEFAULT_SUB_ACCOUNT_PREFIX = "3305"
"""The centre's digits in front of every virtual sub-account number (Huzhou's area code)."""

COMMAND_ID_MAX_LEN = 100
"""Leaves room for the suffixes that name a command's transfers (``<command>/payout``)."""

_REF = re.compile(r"^[a-z_]+:[0-9]{1,18}$")
_LINKED = TransferFlags.LINKED
_R = TransferResult


@dataclass
class Ledger:
    """The ledger on one connection. ``now`` stamps rows whose operation takes no time; the
    calendar and the bank's keys are read from the database when first needed unless given."""

    conn: asyncpg.Connection
    now: datetime
    calendar: WorkCalendar | None = None
    policy: DepositPolicy = field(default_factory=DepositPolicy)
    sub_account_prefix: str = DEFAULT_SUB_ACCOUNT_PREFIX
    bank_keys: Sequence[bytes] | None = None

    async def work_calendar(self) -> WorkCalendar:
        if self.calendar is None:
            self.calendar = await store.work_calendar(self.conn)
        return self.calendar

    async def trusted_keys(self) -> Sequence[bytes]:
        if self.bank_keys is None:
            self.bank_keys = await store.bank_keys(self.conn)
        return self.bank_keys


# == command ids ================================================================================


async def command(lg: Ledger, command_id: str, fingerprint: tuple[Any, ...]) -> tuple[bool, Any]:
    """Inside the use case's transaction: (True, the first answer) when this command ran
    before; the same id with other arguments is refused. Holds the command's lock."""
    if not is_valid_id(command_id) or len(command_id) > COMMAND_ID_MAX_LEN:
        raise LedgerReason.ID_INVALID.reject("command_id", field="command_id")
    await store.lock_command(lg.conn, command_id)
    seen = await store.get_command(lg.conn, command_id)
    if seen is None:
        return False, None
    if seen[0] != store.fingerprint(fingerprint):
        raise LedgerReason.COMMAND_ID_REUSED.reject(command_id, command_id=command_id)
    return True, store.answer_from_json(seen[1])


async def remember(lg: Ledger, command_id: str, fingerprint: tuple[Any, ...], answer: Any) -> Any:
    """Record the command's answer (what a replay answers) and return it."""
    await store.insert_command(
        lg.conn, command_id, store.fingerprint(fingerprint), store.answer_json(answer), lg.now
    )
    return answer


# == loading under lock =========================================================================


async def load_terms(lg: Ledger, project_id: str, *, for_update: bool = False) -> DepositTerms:
    return await get_terms(lg.conn, project_id, for_update=for_update)


async def load_deposit(
    lg: Ledger, project_id: str, bidder_id: str, *, for_update: bool = False
) -> Deposit:
    deposit = None
    if isinstance(project_id, str) and isinstance(bidder_id, str):
        deposit = await store.get_deposit(lg.conn, project_id, bidder_id, for_update=for_update)
    if deposit is None:
        raise LedgerReason.DEPOSIT_NOT_FOUND.reject(f"{bidder_id} in {project_id}")
    return deposit


# == names at the edge ==========================================================================
# A project is its reference ("tender:12", "lot:7"), a bidder its organisation id; inside the
# ledger the bidder id is ``str(org_id)``.


def bidder_id(org_id: int) -> str:
    return str(org_id)


def _check_ref(project_ref: str) -> None:
    if not isinstance(project_ref, str) or not _REF.match(project_ref):
        raise ValidationFailed(
            f"project_ref must look like 'tender:12' or 'lot:7' (got {project_ref!r})",
            f"project_ref 须形如 'tender:12' 或 'lot:7'（收到 {project_ref!r}）",
            code="invalid_project_ref",
        )


def end_of_china_day(day: date) -> datetime:
    """The instant a China date ends: when something due "on" that day is late."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=CHINA_TZ).astimezone(UTC)


async def get_terms(
    conn: asyncpg.Connection, project_ref: str, *, for_update: bool = False
) -> DepositTerms:
    """The project's terms (locked with ``for_update``); an unknown project is refused."""
    terms = (
        await store.get_project(conn, project_ref, for_update=for_update)
        if isinstance(project_ref, str)
        else None
    )
    if terms is None:
        raise LedgerReason.PROJECT_NOT_FOUND.reject(str(project_ref))
    return terms


async def get_deposit(conn: asyncpg.Connection, project_ref: str, org_id: int) -> Deposit:
    d = await store.get_deposit(conn, project_ref, bidder_id(org_id))
    if d is None:
        raise LedgerReason.DEPOSIT_NOT_FOUND.reject(f"organisation {org_id} in {project_ref}")
    return d


def is_sealed(terms: DepositTerms, now: datetime) -> bool:
    """D1: a tender's payers stay sealed until its opening."""
    unsealed_at = terms.unsealed_at
    return unsealed_at is not None and now < unsealed_at


def visible_deposit(d: Deposit, terms: DepositTerms, actor: Actor, now: datetime) -> Deposit:
    """What ``actor`` may see of ``d``: the bidder itself sees all; anyone else sees a
    tender's payer blanked until the opening (D1)."""
    if (
        actor.org_id is not None
        and bidder_id(actor.org_id) == d.bidder_id
        and actor.role is Role.BIDDER
    ):
        return d
    unsealed_at = terms.unsealed_at
    if unsealed_at is None:
        return d
    return seal_payer(d, now=now, opening_at=unsealed_at)
