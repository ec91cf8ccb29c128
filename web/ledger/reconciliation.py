"""Reconciliation with the bank (D9): importing the daily statement and reading what each
import found."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import Field

from trading.errors import NotFound
from trading.ledger import reconciling, store
from web.api import Call, Query
from web.ledger.common import READERS, STAFF, _read_upload, route


class StatementQuery(Query):
    from_on: date | None = None
    to_on: date | None = None
    date_tolerance_days: Annotated[int, Field(ge=0, le=31)] = 1


@route(
    "POST",
    "/ledger/reconciliations",
    summary="Import the bank's daily statement (CSV) and reconcile it (D9)",
    tag="ledger",
    roles=STAFF,
    raw_body=True,
    body_content_type="text/csv",
    query=StatementQuery,
    status=201,
)
async def reconcile(call: Call) -> dict[str, Any]:
    q: StatementQuery = call.query
    text = await _read_upload(call)
    async with call.pool.acquire() as conn:
        return await reconciling.reconcile_statement(
            conn,
            call.audit,
            call.actor,
            call.now,
            text,
            from_on=q.from_on,
            to_on=q.to_on,
            date_tolerance_days=q.date_tolerance_days,
        )


@route(
    "GET",
    "/ledger/reconciliations",
    summary="Statements imported and what they found",
    tag="ledger",
    roles=READERS,
)
async def list_reconciliations(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        return await store.list_reconciliations(conn)


@route(
    "GET",
    "/ledger/reconciliations/{rid}",
    summary="One reconciliation with its unmatched lines and differences",
    tag="ledger",
    roles=READERS,
)
async def get_reconciliation(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        r = await store.get_reconciliation(conn, call.path_int("rid"))
    if r is None:
        raise NotFound("no such reconciliation", "无此对账记录", code="reconciliation_not_found")
    return r
