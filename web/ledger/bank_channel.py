"""The bank's endpoints under ``/bank`` (public, authenticated by the Ed25519 signature of
each message): notifications of money received or reversed, the message sequence, and the
answers to refund instructions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from crypto.signing import verify
from trading.context import Actor, Role
from trading.errors import ValidationFailed
from trading.ledger import bank, service, settlement, store
from trading.ledger.errors import LedgerReason
from web.api import Body, Call
from web.ledger.common import route
from web.ledger.render import outcome_json, payout_json


class NotificationIn(Body):
    """The bank's message, as it signed it (see ``trading.ledger.bank``)."""

    seq: int
    bank_ref: Annotated[str, StringConstraints(max_length=200)]
    kind: Annotated[str, StringConstraints(max_length=20)]
    sub_account: Annotated[str, StringConstraints(max_length=64)]
    amount_fen: int
    value_at: Annotated[str, StringConstraints(max_length=40)]
    payer_account: Annotated[str, StringConstraints(max_length=200)] = ""
    payer_name: Annotated[str, StringConstraints(max_length=400)] = ""
    reverses_ref: Annotated[str, StringConstraints(max_length=200)] | None = None
    currency: Annotated[str, StringConstraints(max_length=3)] | None = None
    """ISO 4217; absent means CNY. Another currency is held aside, never booked."""


class NotificationBody(Body):
    notification: NotificationIn
    signature: Annotated[str, StringConstraints(max_length=200)]


class PayoutResultIn(Body):
    payout_id: Annotated[str, StringConstraints(max_length=200)]
    status: Literal["paid", "rejected"]
    bank_ref: Annotated[str, StringConstraints(max_length=200)]
    value_time: Annotated[str, StringConstraints(max_length=40)]
    failure: Annotated[str, StringConstraints(max_length=500)] = ""


class PayoutResultsBody(Body):
    results: Annotated[list[PayoutResultIn], Field(min_length=1, max_length=10_000)]
    signature: Annotated[str, StringConstraints(max_length=200)]


@route(
    "POST",
    "/bank/notifications",
    summary="The bank's signed notification of money received (到账通知) or a reversal",
    tag="bank",
    roles=None,
    body=NotificationBody,
)
async def bank_notification(call: Call) -> dict[str, Any]:
    b: NotificationBody = call.body
    n = bank.notification_from_json(b.notification.model_dump())
    actor = Actor(None, "bank", Role.SYSTEM, None, call.actor.client_addr, call.actor.request_id)
    async with call.pool.acquire() as conn:
        outcome = await service.receive_notification(
            conn, call.audit, actor, call.now, n, bank.decode_signature(b.signature)
        )
    return outcome_json(outcome)


@route(
    "GET",
    "/bank/sequence",
    summary="The number of the last bank message processed (the next must be one more)",
    tag="bank",
    roles=None,
)
async def bank_sequence(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return {"last_seq": await store.last_seq(conn)}


@route(
    "POST",
    "/bank/payout-results",
    summary="The bank's signed answers to refund instructions (paid or rejected)",
    tag="bank",
    roles=None,
    body=PayoutResultsBody,
)
async def bank_payout_results(call: Call) -> dict[str, Any]:
    b: PayoutResultsBody = call.body
    items = [r.model_dump() for r in b.results]
    signature = bank.decode_signature(b.signature)
    async with call.pool.acquire() as conn:
        trusted = await store.bank_keys(conn)
        message = bank.payout_results_message(items)
        if not any(verify(k, signature, message) for k in trusted):
            raise LedgerReason.NOTIFICATION_BAD_SIGNATURE.reject("payout results")
        results, problems = bank.payout_results_from_json(items)
        if problems:
            raise ValidationFailed(
                "; ".join(problems[:20]),
                "；".join(problems[:20]),
                code="payout_results_invalid",
                details={"errors": [{"problem": p} for p in problems]},
            )
        actor = Actor(
            None, "bank", Role.SYSTEM, None, call.actor.client_addr, call.actor.request_id
        )
        payouts = await settlement.confirm_payouts(conn, call.audit, actor, call.now, results)
    return {"payouts": [payout_json(p) for p in payouts]}
