"""The PostgreSQL ledger under the reference ledger's method names, for the model-based test:
each operation is the ledger's part of a use case (``trading.ledger.service``) on one
``Ledger``; the reads go to the store."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from typing import Any

import asyncpg

from trading.ledger import store
from trading.ledger.model import (
    Account,
    BankMovement,
    CollusionAlert,
    Deposit,
    PayoutState,
    SuspenseItem,
    SuspenseState,
    Transfer,
    TrialBalance,
)
from trading.ledger.rules.payers import detect_collusion
from trading.ledger.service import deposits, forfeits, notifications, payouts, refunds, transfers
from trading.ledger.service.context import Ledger

_OPS: dict[str, Callable[..., Any]] = {
    "install": transfers.install,
    "create_accounts": transfers.create_accounts,
    "create_transfers": transfers.create_transfers,
    "register_project": deposits.record_terms,
    "open_deposit": deposits.open_deposit_account,
    "confirm_guarantee": deposits.accept_guarantee,
    "receive_notification": notifications.take_notification,
    "request_refund": refunds.refund,
    "confirm_payout": payouts.confirm_payout,
    "reissue_payout": payouts.reissue_payout,
    "return_suspense": payouts.return_suspense,
    "record_unmatched_credit": payouts.record_unmatched_credit,
    "request_forfeit": forfeits.reserve_forfeit,
    "approve_forfeit": forfeits.post_forfeit,
    "reject_forfeit": forfeits.void_forfeit,
    "convert": forfeits.convert_deposit,
}


class PgLedgerDriver:
    def __init__(self, conn: asyncpg.Connection, **ledger: Any) -> None:
        self.conn = conn
        self.lg = Ledger(conn, **ledger)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return functools.partial(_OPS[name], self.lg)

    async def accounts(self) -> list[Account]:
        return await store.list_accounts(self.conn, limit=10**9)

    async def journal(self) -> list[Transfer]:
        return await store.journal(self.conn)

    async def trial_balance(self) -> TrialBalance:
        return await store.trial_balance(self.conn)

    async def deposits(self, project_id: str | None = None) -> list[Deposit]:
        return await store.list_deposits(self.conn, project_id=project_id)

    async def suspense_items(self, state: SuspenseState | None = None) -> list[SuspenseItem]:
        return await store.list_suspense(self.conn, state=state.value if state else None)

    async def payouts(self, state: PayoutState | None = None) -> list[Any]:
        rows = await store.list_payouts(self.conn, state=state.value if state else None)
        return [store.payout_from_row(r) for r in rows]

    async def bank_movements(
        self, *, from_on: date | None = None, to_on: date | None = None
    ) -> list[BankMovement]:
        return await store.movements(self.conn, from_on=from_on, to_on=to_on)

    async def collusion_alerts(self, *, across_projects: bool = False) -> list[CollusionAlert]:
        deposits = await store.list_deposits(self.conn)
        return detect_collusion(deposits, across_projects=across_projects)

    async def last_seq(self) -> int:
        return await store.last_seq(self.conn)
