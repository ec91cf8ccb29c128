"""Who paid: the payer sealed until the opening (D1), and deposits of different bidders
paid from one bank account (D3, IR 40(6))."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from ..model import CollusionAlert, Deposit, DepositForm

__all__ = [
    "detect_collusion",
    "normalize_bank_account",
    "seal_payer",
]


def seal_payer(deposit: Deposit, *, now: datetime, opening_at: datetime) -> Deposit:
    """D1: who paid stays sealed until the opening: before it, the payer is blanked."""
    if now >= opening_at:
        return deposit
    return replace(deposit, payer_account=None, payer_name=None)


def normalize_bank_account(account: str) -> str:
    """Compare account numbers without spaces, dashes or letter case."""
    return "".join(ch for ch in account.upper() if ch.isalnum())


def detect_collusion(
    deposits: Iterable[Deposit], *, across_projects: bool = False
) -> list[CollusionAlert]:
    """D3 (IR 40(6)): cash deposits of different bidders paid from one bank account. Counts
    every deposit that was confirmed by a payment (refunded or not: the fact stays), grouped
    per project unless ``across_projects``. Alerts sorted by project and account."""
    groups: dict[tuple[str | None, str], list[Deposit]] = {}
    for d in deposits:
        if d.form is not DepositForm.CASH or not d.payer_account:
            continue
        account = normalize_bank_account(d.payer_account)
        if not account:
            continue
        key = (None if across_projects else d.project_id, account)
        groups.setdefault(key, []).append(d)
    alerts = []
    for (project_id, account), members in groups.items():
        bidders = sorted({d.bidder_id for d in members})
        if len(bidders) > 1:
            refs = tuple(sorted(d.bank_ref for d in members if d.bank_ref))
            alerts.append(CollusionAlert(project_id, account, tuple(bidders), refs))
    alerts.sort(key=lambda a: (a.project_id or "", a.payer_account))
    return alerts
