"""After the evaluation report, over HTTP: candidate publicity (T18), objections to the
candidates, complaints and the supervisor's acts on them (W12), the award (W8, W9), a
winner's decline and the forfeiture of its deposit (D6), the contract (W10, W11) with the
refund of every deposit (D5), the failed tender and its re-tender draft (W7).

Crossings wired here (domain packages never import each other):

- ``bidding.evaluation``'s ``concluded_result`` → :func:`concluded` (the award reads the
  concluded report through it);
- ``trading.ledger``'s use cases → :class:`LedgerDeposits` (refund all after the contract;
  ask and approve a forfeiture), called inside the award's own transactions.

Timed events: ``award.sweep`` (the award watch: starts the procedure of each newly
concluded report and arms its deadlines; scheduled at start, then every
``sweep_interval_s``), ``award.publicity_due``, ``award.objection_due``,
``award.complaint_accept_due``, ``award.complaint_decide_due``, ``award.contract_due`` —
each raises one supervision alert when its step is overdue. Settings: ``config.extra``
(``award.<name>``) or ``SUNLIT_AWARD_<NAME>``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any

import asyncpg
from aiohttp import web
from pydantic import AwareDatetime, Field, StringConstraints

from bidding.award import rules
from bidding.award import service as award
from bidding.award.model import AwardSettings, ComplaintOutcome, PassReason, Result, result_from
from bidding.model import MAX_AMOUNT_FEN, Tender
from trading.audit import AuditLog
from trading.calendar import EventContext, EventRegistry
from trading.calendar import events as calendar
from trading.config import Config
from trading.config import settings_from as config_settings
from trading.context import Actor, Role
from trading.errors import DomainError
from trading.ledger import service as ledger
from trading.ledger import store as ledger_store
from trading.ledger.model import DepositState, ForfeitCause, RefundCause
from web import keys
from web.api import Api, Body, Call
from web.bidding import BIDDING_SETTINGS

__all__ = ["AWARD_SETTINGS", "LedgerDeposits", "api_award", "concluded", "settings_from", "setup"]

log = logging.getLogger("sunlit.award")

AWARD_SETTINGS = web.AppKey("award_settings", AwardSettings)

STAFF = {Role.STAFF, Role.ADMIN}
SUPERVISOR = {Role.SUPERVISOR}
BIDDER = {Role.BIDDER}
ANYONE = set(Role) - {Role.SYSTEM, Role.ANONYMOUS}
READERS_OF_ALL = {Role.STAFF, Role.ADMIN, Role.SUPERVISOR}

Text = Annotated[str, StringConstraints(min_length=1, max_length=10_000, strip_whitespace=True)]
Note = Annotated[str, StringConstraints(max_length=2000, strip_whitespace=True)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True)]


def settings_from(config: Config, environ: dict[str, str] | None = None) -> AwardSettings:
    """``config.extra['award.<field>']`` wins over ``SUNLIT_AWARD_<FIELD>``."""
    return config_settings(AwardSettings, config.extra, key="award.", env="SUNLIT_AWARD_", environ=environ)


# ---------------------------------------------------------------------------- crossings


async def concluded(conn: asyncpg.Connection, tender_id: int) -> Result | None:
    """The concluded evaluation result of the tender (G1's ``concluded_result``), or
    ``None`` until it is concluded (or on a build without the evaluation)."""
    try:
        from bidding.evaluation.service import concluded_result
    except ImportError:
        return None
    found = await concluded_result(conn, tender_id)
    return result_from(found) if found is not None else None


def _deposit_json(d: Any) -> dict[str, Any]:
    return {
        "org_id": int(d.bidder_id),
        "state": d.state.value,
        "amount_fen": d.amount_fen,
        "interest_fen": d.interest_fen,
        "refund_due_on": d.refund_due_on.isoformat() if d.refund_due_on else None,
    }


class LedgerDeposits:
    """The award's ``Deposits`` port on the deposit ledger's existing use cases."""

    async def refund_after_contract(
        self, conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, *,
        tender: Tender, signed_at: datetime,
    ) -> dict[str, Any]:
        if await ledger_store.get_project(conn, tender.project_ref) is None:
            return {"refunded": [], "left": []}  # a tender without a deposit
        done = await ledger.refund_all(
            conn, audit, actor, now, project_ref=tender.project_ref,
            cause=RefundCause.CONTRACT_SIGNED, cause_at=signed_at,
            command_id=f"award-tender{tender.id}-contract",
        )
        return {k: [_deposit_json(d) for d in v] for k, v in done.items()}

    async def request_forfeit(
        self, conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, *,
        tender: Tender, org_id: int, note: str,
    ) -> bool:
        if await ledger_store.get_project(conn, tender.project_ref) is None:
            return False
        d = await ledger_store.get_deposit(conn, tender.project_ref, ledger.bidder_id(org_id))
        if d is None or d.state is not DepositState.CONFIRMED:
            return False
        await ledger.request_forfeit(
            conn, audit, actor, now, project_ref=tender.project_ref, org_id=org_id,
            cause=ForfeitCause.REFUSED_TO_SIGN, note=note, cause_at=now,
            command_id=f"award-tender{tender.id}-forfeit-{org_id}",
        )
        return True

    async def approve_forfeit(
        self, conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, *,
        tender: Tender, org_id: int,
    ) -> dict[str, Any]:
        d = await ledger.approve_forfeit(
            conn, audit, actor, now, project_ref=tender.project_ref, org_id=org_id,
            command_id=f"award-tender{tender.id}-forfeit-{org_id}-approve",
        )
        return _deposit_json(d)


DEPOSITS = LedgerDeposits()


# ---------------------------------------------------------------------------- bodies


class ObjectionBody(Body):
    text: Text


class AnswerBody(Body):
    answer: Text


class ComplaintBody(Body):
    text: Text
    known_at: AwareDatetime | None = None
    """When the complainant knew of the matter (default: the latest published step)."""


class AcceptBody(Body):
    suspend_award: bool = False
    note: Note = ""


class RefuseBody(Body):
    reason: Text


class DecideBody(Body):
    outcome: ComplaintOutcome
    decision: Text


class AwardBody(Body):
    rank: Annotated[int, Field(ge=1, le=3)] = 1
    reason: PassReason | None = None
    note: Note = ""


class DeclineBody(Body):
    reason: PassReason
    note: Note
    forfeit_deposit: bool = False


class ContractBody(Body):
    amount_fen: Annotated[int, Field(ge=0, le=MAX_AMOUNT_FEN)]
    performance_bond_fen: Annotated[int, Field(ge=0, le=MAX_AMOUNT_FEN)] = 0
    signed_at: AwareDatetime | None = None


class FailureBody(Body):
    retender_code: Code | None = None
    bid_deadline_at: AwareDatetime | None = None
    opening_at: AwareDatetime | None = None


api_award = Api()
route = api_award.route


def _settings(call: Call) -> AwardSettings:
    return call.app[AWARD_SETTINGS]


async def _status(call: Call, conn: asyncpg.Connection, tender_id: int) -> dict[str, Any]:
    full = call.actor.role in READERS_OF_ALL
    return await award.status(conn, tender_id, org_id=call.actor.org_id, full=full)


@route(
    "GET",
    "/tenders/{tender_id}/award",
    summary="The procedure after the report: candidates, publicity, objections, complaints, award, "
    "contract, savings rate (a bidder sees its own objections and complaints)",
    tag="award",
    roles=ANYONE,
)
async def get_award(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await _status(call, conn, call.path_int("tender_id"))


@route(
    "POST",
    "/tenders/{tender_id}/award/publicity",
    summary="Publish the candidates (T18: within 3 days of the report, for at least 3 days)",
    tag="award",
    roles=STAFF,
)
async def publish(call: Call) -> dict[str, Any]:
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        result = await concluded(conn, tender_id)
        await award.publish_candidates(
            conn, call.audit, call.actor, call.now, tender_id, result, _settings(call)
        )
        return await _status(call, conn, tender_id)


@route(
    "POST",
    "/tenders/{tender_id}/award/objections",
    summary="A bidder objects to the candidates during their publicity (suspends the award until answered)",
    tag="award",
    roles=BIDDER,
    body=ObjectionBody,
    status=201,
)
async def object_(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        o = await award.object_to_candidates(
            conn, call.audit, call.actor, call.now, call.path_int("tender_id"), call.body.text,
            _settings(call),
        )
    return o.__dict__


@route(
    "POST",
    "/tenders/{tender_id}/award/objections/{objection_id}/answer",
    summary="Answer an objection in writing (IR 54: within 3 days)",
    tag="award",
    roles=STAFF,
    body=AnswerBody,
)
async def answer(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        o = await award.answer_objection(
            conn, call.audit, call.actor, call.now, call.path_int("tender_id"),
            call.path_int("objection_id"), call.body.answer,
        )
    return o.__dict__


@route(
    "POST",
    "/tenders/{tender_id}/award/complaints",
    summary="A bidder complains to the supervisor (W12: within 10 days of knowing)",
    tag="award",
    roles=BIDDER,
    body=ComplaintBody,
    status=201,
)
async def complain(call: Call) -> dict[str, Any]:
    b: ComplaintBody = call.body
    async with call.pool.acquire() as conn:
        c = await award.complain(
            conn, call.audit, call.actor, call.now, call.path_int("tender_id"), b.text, b.known_at
        )
    return c.__dict__


@route(
    "POST",
    "/tenders/{tender_id}/award/complaints/{complaint_id}/accept",
    summary="Supervisor: accept a complaint (3 working days), optionally suspending the award",
    tag="award",
    roles=SUPERVISOR,
    body=AcceptBody,
)
async def accept(call: Call) -> dict[str, Any]:
    b: AcceptBody = call.body
    async with call.pool.acquire() as conn:
        c = await award.accept_complaint(
            conn, call.audit, call.actor, call.now, call.path_int("tender_id"),
            call.path_int("complaint_id"), suspend_award=b.suspend_award, note=b.note,
        )
    return c.__dict__


@route(
    "POST",
    "/tenders/{tender_id}/award/complaints/{complaint_id}/refuse",
    summary="Supervisor: refuse a complaint, with the reason (3 working days)",
    tag="award",
    roles=SUPERVISOR,
    body=RefuseBody,
)
async def refuse(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        c = await award.refuse_complaint(
            conn, call.audit, call.actor, call.now, call.path_int("tender_id"),
            call.path_int("complaint_id"), reason=call.body.reason,
        )
    return c.__dict__


@route(
    "POST",
    "/tenders/{tender_id}/award/complaints/{complaint_id}/decide",
    summary="Supervisor: decide an accepted complaint in writing (30 working days); ends a suspension",
    tag="award",
    roles=SUPERVISOR,
    body=DecideBody,
)
async def decide(call: Call) -> dict[str, Any]:
    b: DecideBody = call.body
    async with call.pool.acquire() as conn:
        c = await award.decide_complaint(
            conn, call.audit, call.actor, call.now, call.path_int("tender_id"),
            call.path_int("complaint_id"), outcome=b.outcome, decision=b.decision,
        )
    return c.__dict__


@route(
    "POST",
    "/tenders/{tender_id}/award",
    summary="Award to the first candidate, or a lower one with a recorded reason (W8); notices to all (W9)",
    tag="award",
    roles=STAFF,
    body=AwardBody,
    status=201,
)
async def make_award(call: Call) -> dict[str, Any]:
    b: AwardBody = call.body
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        await award.award(
            conn, call.audit, call.actor, call.now, tender_id, rank=b.rank, reason=b.reason,
            note=b.note, settings=_settings(call),
        )
        return await _status(call, conn, tender_id)


@route(
    "GET",
    "/tenders/{tender_id}/award/notice",
    summary="The signed award notice (中标通知书) of the current award",
    tag="award",
    roles=ANYONE,
)
async def notice(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return (await award.award_notice(conn, call.path_int("tender_id"))).as_json()


@route(
    "POST",
    "/tenders/{tender_id}/award/decline",
    summary="The winner gave up (refused to sign), cannot perform or is ineligible: the award lapses (W8); "
    "forfeit_deposit asks the forfeiture (D6)",
    tag="award",
    roles=STAFF,
    body=DeclineBody,
)
async def decline(call: Call) -> dict[str, Any]:
    b: DeclineBody = call.body
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        await award.decline_award(
            conn, call.audit, call.actor, call.now, tender_id, reason=b.reason, note=b.note,
            forfeit_deposit=b.forfeit_deposit, deposits=DEPOSITS, settings=_settings(call),
        )
        return await _status(call, conn, tender_id)


@route(
    "POST",
    "/tenders/{tender_id}/award/forfeit/approve",
    summary="A second staff member approves forfeiting the declining winner's deposit (D6)",
    tag="award",
    roles=STAFF,
)
async def approve(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await award.approve_forfeit(
            conn, call.audit, call.actor, call.now, call.path_int("tender_id"), deposits=DEPOSITS
        )


@route(
    "POST",
    "/tenders/{tender_id}/contract",
    summary="Record the contract (W10: the winning price, 30 days; W11: bond ≤ 10 %); refunds every "
    "deposit with interest (D5)",
    tag="award",
    roles=STAFF,
    body=ContractBody,
    status=201,
)
async def contract(call: Call) -> dict[str, Any]:
    b: ContractBody = call.body
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        _, refunds = await award.record_contract(
            conn, call.audit, call.actor, call.now, tender_id, amount_fen=b.amount_fen,
            bond_fen=b.performance_bond_fen, signed_at=b.signed_at, deposits=DEPOSITS,
            settings=_settings(call),
        )
        return {**await _status(call, conn, tender_id), "refunds": refunds}


@route(
    "POST",
    "/tenders/{tender_id}/award/failure",
    summary="W7: no valid candidate (or too few bids): the tender fails, a linked re-tender draft is "
    "made, FAILED and RE_TENDER notices published",
    tag="award",
    roles=STAFF,
    body=FailureBody,
    status=201,
)
async def failure(call: Call) -> dict[str, Any]:
    b: FailureBody = call.body
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        result = await concluded(conn, tender_id)
        _, draft = await award.declare_failed(
            conn, call.audit, call.actor, call.now, tender_id, result=result,
            retender_code=b.retender_code, bid_deadline_at=b.bid_deadline_at,
            opening_at=b.opening_at, settings=_settings(call),
            bidding_settings=call.app[BIDDING_SETTINGS],
        )
        return {**await _status(call, conn, tender_id), "retender": {"id": draft.id, "code": draft.code,
                                                                     "state": draft.state}}


# ---------------------------------------------------------------------------- timed events


async def _schedule_sweep(app: web.Application) -> AsyncIterator[None]:
    """The award watch runs at start (catching up on reports concluded while down), then
    every ``sweep_interval_s``."""
    now = app[keys.CLOCK].now()
    async with app[keys.POOL].acquire() as conn:
        await calendar.schedule(conn, kind=rules.SWEEP, ref="all", due_at=now, now=now)
    yield


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    app[AWARD_SETTINGS] = settings_from(app[keys.CONFIG])
    api.endpoints.extend(api_award.endpoints)
    app.cleanup_ctx.append(_schedule_sweep)

    async def on_sweep(ctx: EventContext) -> None:
        settings = app[AWARD_SETTINGS]
        await calendar.schedule(
            ctx.conn, kind=rules.SWEEP, ref="all",
            due_at=ctx.now + timedelta(seconds=settings.sweep_interval_s), now=ctx.now,
        )

        async def one(conn: asyncpg.Connection, tender_id: int) -> Result | None:
            try:
                async with conn.transaction():  # a savepoint: one tender's fault spares the rest
                    return await concluded(conn, tender_id)
            except DomainError as err:
                log.warning("award watch: no result", extra={"tender_id": tender_id, "code": err.code})
                return None

        await award.watch(ctx.conn, app[keys.AUDIT], ctx.now, settings, one)

    async def on_publicity_due(ctx: EventContext) -> None:
        await award.on_publicity_due(ctx.conn, ctx.now, int(ctx.event.ref))

    async def on_objection_due(ctx: EventContext) -> None:
        await award.on_objection_due(ctx.conn, ctx.now, int(ctx.event.ref))

    async def on_accept_due(ctx: EventContext) -> None:
        await award.on_complaint_accept_due(ctx.conn, ctx.now, int(ctx.event.ref))

    async def on_decide_due(ctx: EventContext) -> None:
        await award.on_complaint_decide_due(ctx.conn, ctx.now, int(ctx.event.ref))

    async def on_contract_due(ctx: EventContext) -> None:
        await award.on_contract_due(ctx.conn, ctx.now, int(ctx.event.ref))

    registry.register(rules.SWEEP, on_sweep)
    registry.register(rules.PUBLICITY_DUE, on_publicity_due)
    registry.register(rules.OBJECTION_DUE, on_objection_due)
    registry.register(rules.COMPLAINT_ACCEPT_DUE, on_accept_due)
    registry.register(rules.COMPLAINT_DECIDE_DUE, on_decide_due)
    registry.register(rules.CONTRACT_DUE, on_contract_due)
