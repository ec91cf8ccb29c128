"""The supervisors' reads: accounts, the journal of transfers, the trial balance, and
deposits of different bidders paid from one account (collusion, named after the opening)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from trading.ledger import service, store
from trading.ledger.errors import LedgerReason
from trading.ledger.model import TransferFlags
from trading.ledger.rules.payers import detect_collusion
from web.api import Call, Cursor, Query, Text
from web.ledger.common import READERS, ProjectRef, _sealed_project, route
from web.ledger.render import account_json, trial_balance_json


class AccountQuery(Query):
    after_id: Annotated[str, StringConstraints(max_length=140)] = ""
    kind: Annotated[str, StringConstraints(max_length=40)] | None = None
    project_ref: Annotated[str, StringConstraints(max_length=40)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class TransferQuery(Query):
    after_seq: Cursor = 0
    account_id: Annotated[str, StringConstraints(max_length=140)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class CollusionQuery(Query):
    project_ref: ProjectRef | None = None


@route(
    "GET",
    "/ledger/accounts",
    summary="Ledger accounts with their running sums",
    tag="ledger",
    roles=READERS,
    query=AccountQuery,
)
async def list_accounts(call: Call) -> dict[str, Any]:
    q: AccountQuery = call.query
    async with call.pool.acquire() as conn:
        accounts = await store.list_accounts(
            conn, after_id=q.after_id, kind=q.kind, project_id=q.project_ref, limit=q.limit
        )
    return {
        "accounts": [account_json(a) for a in accounts],
        "next_after_id": accounts[-1].id if accounts else None,
    }


@route(
    "GET",
    "/ledger/accounts/{account_id}",
    summary="One account",
    tag="ledger",
    roles=READERS,
    path_params={"account_id": Text(140, min_length=1)},
)
async def get_account(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        a = await store.get_account(conn, call.request.match_info["account_id"])
    if a is None:
        raise LedgerReason.ACCOUNT_NOT_FOUND.reject(call.request.match_info["account_id"])
    return account_json(a)


@route(
    "GET",
    "/ledger/transfers",
    summary="The journal: every transfer in commit order",
    tag="ledger",
    roles=READERS,
    query=TransferQuery,
)
async def list_transfers(call: Call) -> dict[str, Any]:
    q: TransferQuery = call.query
    async with call.pool.acquire() as conn:
        rows = await store.list_transfers(
            conn, after_seq=q.after_seq, account_id=q.account_id, limit=q.limit
        )
    items = [
        {
            "seq": r["seq"],
            "id": r["id"],
            "debit_account_id": r["debit_account_id"],
            "credit_account_id": r["credit_account_id"],
            "amount_fen": r["amount_fen"],
            "code": r["code"],
            "flags": [f.name.lower() for f in _flags(r["flags"])],
            "pending_id": r["pending_id"],
            "reference": r["reference"],
            "created_at": r["created_at"],
        }
        for r in rows
    ]
    return {"transfers": items, "next_after_seq": rows[-1]["seq"] if rows else q.after_seq}


def _flags(value: int) -> list[TransferFlags]:
    return [f for f in TransferFlags if f.value and f.value & value]


@route(
    "GET",
    "/ledger/trial-balance",
    summary="Every account's sums and the totals: they must sum to zero",
    tag="ledger",
    roles=READERS,
)
async def trial_balance(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return trial_balance_json(await service.trial_balance(conn))


@route(
    "GET",
    "/ledger/collusion",
    summary="Deposits of different bidders paid from one account (IR 40(6)); named "
    "after a tender's opening",
    tag="ledger",
    roles=READERS,
    query=CollusionQuery,
)
async def collusion(call: Call) -> list[dict[str, Any]]:
    q: CollusionQuery = call.query
    cache: dict[str, bool] = {}
    out = []
    async with call.pool.acquire() as conn:
        deposits = await store.list_deposits(conn, project_id=q.project_ref)
        for a in detect_collusion(deposits):
            if await _sealed_project(conn, a.project_id, call.now, cache):
                out.append(
                    {"project_ref": a.project_id, "bidders": len(a.bidder_ids), "sealed": True}
                )
            else:
                out.append(
                    {
                        "project_ref": a.project_id,
                        "payer_account": a.payer_account,
                        "org_ids": [int(b) for b in a.bidder_ids],
                        "bank_refs": list(a.bank_refs),
                        "sealed": False,
                    }
                )
    return out
