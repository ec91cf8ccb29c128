"""Settling deposits with the bank: the refund batch file, the bank's answers (paid → the
payout is posted and the deposit refunded; rejected → voided, to be reissued), and money in
suspense sent back to its payer. Use cases as in ``service``: ``(conn, audit, actor, now, …)``,
one transaction each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from trading.audit import AuditLog
from trading.context import Actor
from trading.errors import NotFound, ValidationFailed

from . import store
from .model import Payout, PayoutResult
from .reconcile import parse_payout_results_csv, render_refund_batch
from .service import payouts
from .service.context import Ledger

__all__ = [
    "RefundBatch",
    "confirm_payouts",
    "confirm_payouts_csv",
    "create_refund_batch",
    "get_refund_batch",
    "refund_batch_csv",
    "reissue_payout",
    "return_suspense",
]


# == payouts and the bank batch =================================================================


@dataclass(frozen=True)
class RefundBatch:
    id: int
    created_at: datetime
    created_by: str
    payouts: list[Payout]

    @property
    def total_fen(self) -> int:
        return sum(p.amount_fen for p in self.payouts)

    @property
    def file_id(self) -> str:
        return f"B{self.id:06d}"

    def csv(self) -> str:
        return render_refund_batch(self.payouts, batch_id=self.file_id)


async def create_refund_batch(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime
) -> RefundBatch | None:
    """Every refund instruction not yet sent, in one batch for the bank (None when none)."""
    async with conn.transaction():
        made = await store.create_batch(conn, actor.username, now)
        if made is None:
            return None
        batch_id, payouts = made
        batch = RefundBatch(batch_id, now, actor.username, payouts)
        await audit.append(
            conn,
            actor=actor,
            action="ledger.refund_batch.create",
            object_type="refund_batch",
            object_id=batch_id,
            at=now,
            payload={"payouts": [p.id for p in payouts], "total_fen": batch.total_fen},
        )
    return batch


async def get_refund_batch(conn: asyncpg.Connection, batch_id: int) -> RefundBatch:
    found = await store.get_batch(conn, batch_id)
    if found is None:
        raise NotFound(
            f"refund batch {batch_id} not found",
            f"退款批次 {batch_id} 不存在",
            code="refund_batch_not_found",
        )
    row, payouts = found
    return RefundBatch(row["id"], row["created_at"], row["created_by"], payouts)


async def refund_batch_csv(conn: asyncpg.Connection, batch_id: int) -> str:
    return (await get_refund_batch(conn, batch_id)).csv()


async def confirm_payouts(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    results: Sequence[PayoutResult],
) -> list[Payout]:
    """The bank's answers to refund instructions: paid → posted (the deposit is refunded),
    rejected → voided (to be reissued). All or nothing: one bad answer refuses the file."""
    out = []
    async with conn.transaction():
        lg = Ledger(conn, now)
        await store.lock_payouts_and_owners(
            conn, [r.payout_id for r in results if isinstance(r.payout_id, str)]
        )
        for r in results:
            out.append(await payouts.confirm_payout(lg, r, now))
        await audit.append(
            conn,
            actor=actor,
            action="ledger.payouts.confirm",
            object_type="payouts",
            object_id=len(results),
            at=now,
            payload=[
                {"payout_id": r.payout_id, "ok": r.ok, "bank_ref": r.bank_ref} for r in results
            ],
        )
    return out


async def confirm_payouts_csv(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, text: str
) -> list[Payout]:
    results, problems = parse_payout_results_csv(text)
    if problems:
        raise ValidationFailed(
            "the bank's result file is invalid: " + "; ".join(problems[:20]),
            "银行回执文件无效：" + "；".join(problems[:20]),
            code="payout_results_invalid",
            details={"errors": [{"problem": p} for p in problems[:1000]]},
        )
    return await confirm_payouts(conn, audit, actor, now, results)


async def reissue_payout(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    payout_id: str,
    command_id: str,
    payee_account: str | None = None,
    payee_name: str | None = None,
) -> Payout:
    async with conn.transaction():
        p = await payouts.reissue_payout(
            Ledger(conn, now),
            command_id,
            payout_id,
            now,
            payee_account=payee_account,
            payee_name=payee_name,
        )
        await audit.append(
            conn,
            actor=actor,
            action="ledger.payout.reissue",
            object_type="payout",
            object_id=payout_id,
            at=now,
            payload={"new_payout_id": p.id, "payee_account": payee_account},
        )
    return p


async def return_suspense(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    bank_ref: str,
    command_id: str,
) -> Payout:
    """Money that matched nothing goes back to its payer (a payout in the next batch)."""
    async with conn.transaction():
        p = await payouts.return_suspense(Ledger(conn, now), command_id, bank_ref, now)
        await audit.append(
            conn,
            actor=actor,
            action="ledger.suspense.return",
            object_type="suspense",
            object_id=bank_ref,
            at=now,
            payload={"payout_id": p.id, "amount_fen": p.amount_fen},
        )
    return p
