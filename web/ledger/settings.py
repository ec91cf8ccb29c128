"""What staff set up: the bank keys the ledger trusts, and the holidays and adjusted working
days (调休) that refund deadlines count."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import StringConstraints

from trading.context import Role
from trading.ledger import service, store
from web.api import Body, Call
from web.core import decode_key
from web.ledger.common import ANYONE, READERS, STAFF, route


class BankKeyBody(Body):
    public_key: Annotated[str, StringConstraints(min_length=43, max_length=64)]
    label: Annotated[str, StringConstraints(max_length=100)] = ""


class CalendarBody(Body):
    day: date
    working: bool
    note: Annotated[str, StringConstraints(max_length=200)] = ""


@route(
    "POST",
    "/ledger/bank-keys",
    summary="Trust a bank public key (Ed25519) for signed bank messages",
    tag="bank",
    roles={Role.ADMIN},
    body=BankKeyBody,
    status=201,
)
async def add_bank_key(call: Call) -> dict[str, Any]:
    b: BankKeyBody = call.body
    async with call.pool.acquire() as conn:
        key_id = await service.register_bank_key(
            conn, call.audit, call.actor, call.now, decode_key(b.public_key), b.label
        )
    return {"key_id": key_id}


@route(
    "GET", "/ledger/bank-keys", summary="The bank keys the ledger trusts", tag="bank", roles=READERS
)
async def bank_keys(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        rows = await store.list_bank_keys(conn)
    return [{**r, "public_key": bytes(r["public_key"]).hex()} for r in rows]


@route(
    "POST",
    "/ledger/calendar",
    summary="A public holiday or an adjusted working day (调休) for refund deadlines",
    tag="ledger",
    roles=STAFF,
    body=CalendarBody,
    status=201,
)
async def set_day(call: Call) -> dict[str, Any]:
    b: CalendarBody = call.body
    async with call.pool.acquire() as conn:
        await service.set_calendar_day(
            conn, call.audit, call.actor, call.now, day=b.day, working=b.working, note=b.note
        )
    return {"day": b.day, "working": b.working, "note": b.note}


@route(
    "GET",
    "/ledger/calendar",
    summary="Holidays and adjusted working days",
    tag="ledger",
    roles=ANYONE,
)
async def get_days(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        return await store.list_calendar_days(conn)
