"""A project's deposit terms: the tender cap (IR 26), the land floor (A7), and every
problem with the terms at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..errors import LedgerReason, LedgerRejected
from ..model import DepositPolicy, DepositTerms, ProjectKind
from .dates import _BP_PER_UNIT
from .values import is_valid_id, require_amount

__all__ = [
    "check_deposit_terms",
    "check_land_deposit_floor",
    "check_tender_deposit_cap",
    "deposit_terms_problems",
]


def check_tender_deposit_cap(
    deposit_fen: int, estimate_fen: int, *, works: bool = False, policy: DepositPolicy
) -> None:
    """T14 (IR 26): a bid deposit may not exceed 2 % of the estimate, nor, for works, the
    absolute cap (800,000 yuan by default). Exact in integers: 2.01 % is refused."""
    require_amount(deposit_fen, "deposit_fen")
    require_amount(estimate_fen, "estimate_fen")
    if deposit_fen * _BP_PER_UNIT > estimate_fen * policy.tender_cap_bp:
        raise LedgerReason.DEPOSIT_ABOVE_CAP.reject(
            f"{deposit_fen} fen > {policy.tender_cap_bp} bp of {estimate_fen} fen",
            deposit_fen=deposit_fen,
            estimate_fen=estimate_fen,
        )
    if works and deposit_fen > policy.works_cap_fen:
        raise LedgerReason.DEPOSIT_ABOVE_CAP.reject(
            f"{deposit_fen} fen > works cap {policy.works_cap_fen} fen",
            deposit_fen=deposit_fen,
            cap_fen=policy.works_cap_fen,
        )


def check_land_deposit_floor(
    deposit_fen: int, starting_price_fen: int, *, policy: DepositPolicy
) -> None:
    """A7: a land deposit is at least 20 % (cfg) of the starting price."""
    require_amount(deposit_fen, "deposit_fen")
    require_amount(starting_price_fen, "starting_price_fen")
    if deposit_fen * _BP_PER_UNIT < starting_price_fen * policy.land_floor_bp:
        raise LedgerReason.DEPOSIT_BELOW_FLOOR.reject(
            f"{deposit_fen} fen < {policy.land_floor_bp} bp of {starting_price_fen} fen",
            deposit_fen=deposit_fen,
            starting_price_fen=starting_price_fen,
        )


def deposit_terms_problems(terms: DepositTerms, policy: DepositPolicy) -> list[LedgerRejected]:
    """Every problem with a project's deposit terms (empty when they are acceptable)."""
    problems: list[LedgerRejected] = []

    def check(fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except LedgerRejected as e:
            problems.append(e)

    if not is_valid_id(terms.project_id):
        problems.append(LedgerReason.ID_INVALID.reject("project_id", field="project_id"))
    n = terms.project_no
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        problems.append(LedgerReason.INVALID_INPUT.reject("project_no", field="project_no"))
    if not isinstance(terms.kind, ProjectKind):
        problems.append(LedgerReason.INVALID_INPUT.reject("kind", field="kind"))
    check(require_amount, terms.required_fen, "required_fen")
    if not isinstance(terms.deadline_at, datetime) or terms.deadline_at.tzinfo is None:
        problems.append(LedgerReason.INVALID_INPUT.reject("deadline_at", field="deadline_at"))
    opening = terms.opening_at
    if opening is not None and (
        not isinstance(opening, datetime)
        or opening.tzinfo is None
        or (
            isinstance(terms.deadline_at, datetime)
            and terms.deadline_at.tzinfo is not None
            and opening < terms.deadline_at
        )
    ):
        problems.append(
            LedgerReason.INVALID_INPUT.reject(
                "opening_at must be at or after the deadline", field="opening_at"
            )
        )
    rate = terms.interest_rate_bp
    if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate <= 10_000:
        problems.append(
            LedgerReason.INVALID_INPUT.reject("interest_rate_bp", field="interest_rate_bp")
        )
    if problems:
        return problems
    if terms.kind is ProjectKind.TENDER:
        if terms.estimate_fen is None:
            problems.append(
                LedgerReason.INVALID_INPUT.reject(
                    "a tender needs estimate_fen", field="estimate_fen"
                )
            )
        else:
            check(
                check_tender_deposit_cap,
                terms.required_fen,
                terms.estimate_fen,
                works=terms.works,
                policy=policy,
            )
    if terms.kind is ProjectKind.AUCTION and terms.land:
        if terms.starting_price_fen is None:
            problems.append(
                LedgerReason.INVALID_INPUT.reject(
                    "a land sale needs starting_price_fen", field="starting_price_fen"
                )
            )
        else:
            check(
                check_land_deposit_floor,
                terms.required_fen,
                terms.starting_price_fen,
                policy=policy,
            )
    return problems


def check_deposit_terms(terms: DepositTerms, policy: DepositPolicy) -> None:
    """Raise the first problem, with every problem's code in ``details['errors']``."""
    problems = deposit_terms_problems(terms, policy)
    if problems:
        first = problems[0]
        raise LedgerRejected(
            first.reason,
            first.message_en.partition(": ")[2],
            details={"errors": [{"code": p.code, "message": p.message_en} for p in problems]},
        )
