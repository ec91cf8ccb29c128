"""Money going out: refund instructions (payouts) and their reissue, the batch file for the
bank and its answers, and money in suspense (挂账) returned to its payer."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, StringConstraints

from trading.errors import Conflict
from trading.ledger import settlement, store
from trading.ledger.model import PayoutPurpose
from web.api import Body, Call, Id, Query
from web.ledger.common import (
    READERS,
    STAFF,
    CommandBody,
    CommandId,
    Text,
    _command_id,
    _read_upload,
    _sealed_project,
    route,
)
from web.ledger.render import payout_json, suspense_json


class ReissueBody(Body):
    payout_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/-]{1,128}$")]
    payee_account: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    payee_name: Text | None = None
    command_id: CommandId | None = None


class StateQuery(Query):
    state: Annotated[str, StringConstraints(max_length=40)] | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000


class PayoutQuery(StateQuery):
    batch_id: Id | None = None


@route(
    "GET",
    "/ledger/payouts",
    summary="Refund instructions (pending, posted, voided)",
    tag="ledger",
    roles=READERS,
    query=PayoutQuery,
)
async def list_payouts(call: Call) -> list[dict[str, Any]]:
    q: PayoutQuery = call.query
    cache: dict[str, bool] = {}
    out = []
    async with call.pool.acquire() as conn:
        for r in await store.list_payouts(conn, state=q.state, batch_id=q.batch_id, limit=q.limit):
            p = store.payout_from_row(r)
            sealed = p.purpose is PayoutPurpose.DEPOSIT_REFUND and await _sealed_project(
                conn, p.project_id, call.now, cache
            )
            out.append(payout_json(p, sealed=sealed) | {"batch_id": r["batch_id"]})
    return out


@route(
    "POST",
    "/ledger/payouts/reissue",
    summary="Issue again a refund the bank rejected (optionally to a corrected account)",
    tag="ledger",
    roles=STAFF,
    body=ReissueBody,
)
async def reissue(call: Call) -> dict[str, Any]:
    b: ReissueBody = call.body
    async with call.pool.acquire() as conn:
        p = await settlement.reissue_payout(
            conn,
            call.audit,
            call.actor,
            call.now,
            payout_id=b.payout_id,
            command_id=_command_id(call, b.command_id, "reissue"),
            payee_account=b.payee_account,
            payee_name=b.payee_name,
        )
    return payout_json(p)


@route(
    "POST",
    "/ledger/refund-batches",
    summary="Put every waiting refund instruction into a batch for the bank",
    tag="ledger",
    roles=STAFF,
    status=201,
)
async def create_batch(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        batch = await settlement.create_refund_batch(conn, call.audit, call.actor, call.now)
    if batch is None:
        raise Conflict(
            "there are no refund instructions waiting for a batch",
            "没有待发送的退款指令",
            code="no_refunds_to_batch",
        )
    return {
        "id": batch.id,
        "file_id": batch.file_id,
        "lines": len(batch.payouts),
        "total_fen": batch.total_fen,
        "csv": f"/api/v1/ledger/refund-batches/{batch.id}.csv",
        "payout_ids": [p.id for p in batch.payouts],
    }


@route(
    "GET",
    "/ledger/refund-batches",
    summary="Refund batches sent to the bank",
    tag="ledger",
    roles=READERS,
)
async def list_batches(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        return await store.list_batches(conn)


@route(
    "GET",
    "/ledger/refund-batches/{batch_id}.csv",
    summary="The bank batch file (CSV) of refund instructions",
    tag="ledger",
    roles=STAFF,
    produces=("text/csv",),
)
async def batch_csv(call: Call) -> web.Response:
    batch_id = call.path_int("batch_id")
    async with call.pool.acquire() as conn:
        text = await settlement.refund_batch_csv(conn, batch_id)
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="refund-batch-{batch_id}.csv"'},
    )


@route(
    "POST",
    "/ledger/payout-results",
    summary="Upload the bank's answers to a batch (CSV): paid → posted, rejected → voided",
    tag="ledger",
    roles=STAFF,
    raw_body=True,
    body_content_type="text/csv",
)
async def upload_payout_results(call: Call) -> dict[str, Any]:
    text = await _read_upload(call)
    async with call.pool.acquire() as conn:
        payouts = await settlement.confirm_payouts_csv(conn, call.audit, call.actor, call.now, text)
    return {"payouts": [payout_json(p) for p in payouts]}


@route(
    "GET",
    "/ledger/suspense",
    summary="Money that matched nothing (挂账)",
    tag="ledger",
    roles=READERS,
    query=StateQuery,
)
async def list_suspense(call: Call) -> list[dict[str, Any]]:
    q: StateQuery = call.query
    out = []
    cache: dict[str, bool] = {}
    async with call.pool.acquire() as conn:
        for s in await store.list_suspense(conn, state=q.state, limit=q.limit):
            d = (
                await store.get_deposit_by_sub_account(conn, s.sub_account)
                if s.sub_account
                else None
            )
            sealed = d is not None and await _sealed_project(conn, d.project_id, call.now, cache)
            out.append(suspense_json(s, sealed=sealed))
    return out


@route(
    "POST",
    "/ledger/suspense/{bank_ref:.+}/return",
    summary="Return money in suspense to its payer (a refund instruction)",
    tag="ledger",
    roles=STAFF,
    body=CommandBody,
)
async def return_suspense(call: Call) -> dict[str, Any]:
    b: CommandBody = call.body
    async with call.pool.acquire() as conn:
        p = await settlement.return_suspense(
            conn,
            call.audit,
            call.actor,
            call.now,
            bank_ref=call.request.match_info["bank_ref"],
            command_id=_command_id(call, b.command_id, "return"),
        )
    return payout_json(p)
