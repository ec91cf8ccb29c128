"""Projects and deposits: deposit terms and their dates, opening a bidder's deposit (its
virtual sub-account), reading deposits, guarantees, refunds, forfeiture and conversion."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from trading.context import Role
from trading.errors import ValidationFailed
from trading.ledger import service, store
from trading.ledger.model import ForfeitCause, Guarantee, ProjectKind, RefundCause
from web.api import Body, Call, Id
from web.ledger.common import (
    ANYONE,
    READERS,
    STAFF,
    CommandBody,
    CommandId,
    Fen,
    ProjectRef,
    _command_id,
    _project_ref,
    route,
)
from web.ledger.render import deposit_json, terms_json


class ProjectBody(Body):
    project_ref: ProjectRef
    kind: ProjectKind
    required_fen: Fen
    deadline_at: datetime
    opening_at: datetime | None = None
    interest_rate_bp: Annotated[int, Field(ge=0, le=10_000)] = 0
    accept_guarantees: bool = True
    estimate_fen: Fen | None = None
    works: bool = False
    starting_price_fen: Fen | None = None
    land: bool = False


class DatesBody(Body):
    deadline_at: datetime
    opening_at: datetime | None = None


class OpenDepositBody(Body):
    org_id: Id | None = None
    """Staff open a deposit for a bidder; a bidder opens its own (omit, or its own org id)."""


class GuaranteeBody(Body):
    ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/-]{1,128}$")]
    issuer: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    amount_fen: Fen
    valid_until: datetime


class RefundBody(Body):
    cause: RefundCause
    cause_at: datetime
    """When the cause happened: the withdrawal, the result, the contract."""
    command_id: CommandId | None = None


class RefundAllBody(RefundBody):
    exclude_org_ids: Annotated[list[Id], Field(max_length=10_000)] = []


class ForfeitBody(Body):
    cause: ForfeitCause
    note: Annotated[str, StringConstraints(max_length=2000)]
    cause_at: datetime | None = None
    command_id: CommandId | None = None


@route(
    "POST",
    "/ledger/projects",
    summary="Register a project's deposit terms (T14 ≤ 2 %, A7 ≥ 20 %)",
    tag="deposits",
    roles=STAFF,
    body=ProjectBody,
    status=201,
)
async def register_project(call: Call) -> dict[str, Any]:
    b: ProjectBody = call.body
    async with call.pool.acquire() as conn:
        terms = await service.register_project(
            conn,
            call.audit,
            call.actor,
            call.now,
            project_ref=b.project_ref,
            kind=b.kind,
            required_fen=b.required_fen,
            deadline_at=b.deadline_at,
            opening_at=b.opening_at,
            interest_rate_bp=b.interest_rate_bp,
            accept_guarantees=b.accept_guarantees,
            estimate_fen=b.estimate_fen,
            works=b.works,
            starting_price_fen=b.starting_price_fen,
            land=b.land,
        )
    return terms_json(terms)


@route(
    "GET", "/ledger/projects", summary="Projects with deposit terms", tag="deposits", roles=ANYONE
)
async def list_projects(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        return [terms_json(t) for t in await store.list_projects(conn)]


@route(
    "GET",
    "/ledger/projects/{project_ref}",
    summary="A project's deposit terms",
    tag="deposits",
    roles=ANYONE,
)
async def get_project(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return terms_json(await service.get_terms(conn, _project_ref(call)))


@route(
    "POST",
    "/ledger/projects/{project_ref}/dates",
    summary="Move a project's deadline and opening (before the deadline)",
    tag="deposits",
    roles=STAFF,
    body=DatesBody,
)
async def amend_dates(call: Call) -> dict[str, Any]:
    b: DatesBody = call.body
    async with call.pool.acquire() as conn:
        terms = await service.amend_project_dates(
            conn,
            call.audit,
            call.actor,
            call.now,
            project_ref=_project_ref(call),
            deadline_at=b.deadline_at,
            opening_at=b.opening_at,
        )
    return terms_json(terms)


@route(
    "POST",
    "/ledger/projects/{project_ref}/deposits",
    summary="Open a bidder's deposit: its virtual sub-account (虚拟子账号), the amount and the deadline",
    tag="deposits",
    roles={Role.BIDDER, Role.STAFF, Role.ADMIN},
    body=OpenDepositBody,
    status=201,
)
async def open_deposit(call: Call) -> dict[str, Any]:
    b: OpenDepositBody = call.body
    org_id = b.org_id if b.org_id is not None else call.actor.org_id
    if org_id is None:
        raise ValidationFailed(
            "give the bidder's org_id", "请提供投标人的 org_id", code="org_id_required"
        )
    call.require_org(org_id)
    ref = _project_ref(call)
    async with call.pool.acquire() as conn:
        d = await service.open_deposit(conn, call.audit, call.actor, call.now, ref, org_id)
        terms = await service.get_terms(conn, ref)
    return deposit_json(d, terms, call.actor, call.now)


@route(
    "GET",
    "/ledger/projects/{project_ref}/deposits",
    summary="Every deposit of a project (payers sealed until a tender's opening)",
    tag="deposits",
    roles=READERS,
)
async def list_deposits(call: Call) -> list[dict[str, Any]]:
    ref = _project_ref(call)
    async with call.pool.acquire() as conn:
        terms = await service.get_terms(conn, ref)
        deposits = await store.list_deposits(conn, project_id=ref)
    return [deposit_json(d, terms, call.actor, call.now) for d in deposits]


@route(
    "GET",
    "/ledger/projects/{project_ref}/deposits/{org_id}",
    summary="One bidder's deposit and whether it is admitted",
    tag="deposits",
    roles=ANYONE,
)
async def get_deposit(call: Call) -> dict[str, Any]:
    ref, org_id = _project_ref(call), call.path_int("org_id")
    call.require_org(org_id)
    async with call.pool.acquire() as conn:
        terms = await service.get_terms(conn, ref)
        d = await service.get_deposit(conn, ref, org_id)
    return deposit_json(d, terms, call.actor, call.now)


@route(
    "GET",
    "/ledger/deposits/mine",
    summary="My organisation's deposits",
    tag="deposits",
    roles={Role.BIDDER},
)
async def my_deposits(call: Call) -> list[dict[str, Any]]:
    if call.actor.org_id is None:
        return []
    out = []
    async with call.pool.acquire() as conn:
        for d in await store.list_deposits(conn, bidder_id=service.bidder_id(call.actor.org_id)):
            out.append(
                deposit_json(d, await service.get_terms(conn, d.project_id), call.actor, call.now)
            )
    return out


@route(
    "POST",
    "/ledger/projects/{project_ref}/deposits/{org_id}/guarantee",
    summary="Confirm a deposit by a bank guarantee or e-guarantee (D7)",
    tag="deposits",
    roles=STAFF,
    body=GuaranteeBody,
)
async def guarantee(call: Call) -> dict[str, Any]:
    b: GuaranteeBody = call.body
    ref, org_id = _project_ref(call), call.path_int("org_id")
    async with call.pool.acquire() as conn:
        d = await service.confirm_guarantee(
            conn,
            call.audit,
            call.actor,
            call.now,
            project_ref=ref,
            org_id=org_id,
            guarantee=Guarantee(b.ref, b.issuer, b.amount_fen, b.valid_until),
        )
        terms = await service.get_terms(conn, ref)
    return deposit_json(d, terms, call.actor, call.now)


@route(
    "POST",
    "/ledger/projects/{project_ref}/deposits/{org_id}/refund",
    summary="Refund one deposit (withdrawn before the deadline, auction lost, contract signed: with interest)",
    tag="deposits",
    roles=STAFF,
    body=RefundBody,
)
async def refund(call: Call) -> dict[str, Any]:
    b: RefundBody = call.body
    ref, org_id = _project_ref(call), call.path_int("org_id")
    async with call.pool.acquire() as conn:
        d = await service.request_refund(
            conn,
            call.audit,
            call.actor,
            call.now,
            project_ref=ref,
            org_id=org_id,
            cause=b.cause,
            cause_at=b.cause_at,
            command_id=_command_id(call, b.command_id, "refund"),
        )
        terms = await service.get_terms(conn, ref)
    return deposit_json(d, terms, call.actor, call.now)


@route(
    "POST",
    "/ledger/projects/{project_ref}/refunds",
    summary="After the result: refund every confirmed deposit except the excluded (the auction's winner)",
    tag="deposits",
    roles=STAFF,
    body=RefundAllBody,
)
async def refund_all(call: Call) -> dict[str, Any]:
    b: RefundAllBody = call.body
    ref = _project_ref(call)
    async with call.pool.acquire() as conn:
        done = await service.refund_all(
            conn,
            call.audit,
            call.actor,
            call.now,
            project_ref=ref,
            cause=b.cause,
            cause_at=b.cause_at,
            command_id=_command_id(call, b.command_id, "refunds"),
            exclude_org_ids=b.exclude_org_ids,
        )
        terms = await service.get_terms(conn, ref)
    return {k: [deposit_json(d, terms, call.actor, call.now) for d in v] for k, v in done.items()}


@route(
    "POST",
    "/ledger/projects/{project_ref}/deposits/{org_id}/forfeit",
    summary="Ask to forfeit a deposit, with cause and reason (D6): a second staff member must approve",
    tag="deposits",
    roles=STAFF,
    body=ForfeitBody,
)
async def forfeit(call: Call) -> dict[str, Any]:
    b: ForfeitBody = call.body
    ref, org_id = _project_ref(call), call.path_int("org_id")
    async with call.pool.acquire() as conn:
        d = await service.request_forfeit(
            conn,
            call.audit,
            call.actor,
            call.now,
            project_ref=ref,
            org_id=org_id,
            cause=b.cause,
            note=b.note,
            cause_at=b.cause_at or call.now,
            command_id=_command_id(call, b.command_id, "forfeit"),
        )
        terms = await service.get_terms(conn, ref)
    return deposit_json(d, terms, call.actor, call.now)


async def _deposit_command(
    call: Call, use_case: Callable[..., Awaitable[Any]], label: str
) -> dict[str, Any]:
    """One deposit, one command (approve or reject a forfeiture, convert): the same shape."""
    b: CommandBody = call.body
    ref, org_id = _project_ref(call), call.path_int("org_id")
    async with call.pool.acquire() as conn:
        d = await use_case(
            conn,
            call.audit,
            call.actor,
            call.now,
            project_ref=ref,
            org_id=org_id,
            command_id=_command_id(call, b.command_id, label),
        )
        terms = await service.get_terms(conn, ref)
    return deposit_json(d, terms, call.actor, call.now)


@route(
    "POST",
    "/ledger/projects/{project_ref}/deposits/{org_id}/forfeit/approve",
    summary="Approve a forfeiture (a second staff member, not the one who asked)",
    tag="deposits",
    roles=STAFF,
    body=CommandBody,
)
async def approve_forfeit(call: Call) -> dict[str, Any]:
    return await _deposit_command(call, service.approve_forfeit, "approve")


@route(
    "POST",
    "/ledger/projects/{project_ref}/deposits/{org_id}/forfeit/reject",
    summary="Reject a forfeiture: the deposit is confirmed again",
    tag="deposits",
    roles=STAFF,
    body=CommandBody,
)
async def reject_forfeit(call: Call) -> dict[str, Any]:
    return await _deposit_command(call, service.reject_forfeit, "reject")


@route(
    "POST",
    "/ledger/projects/{project_ref}/deposits/{org_id}/convert",
    summary="Convert an auction winner's deposit into part of the price (A7)",
    tag="deposits",
    roles=STAFF,
    body=CommandBody,
)
async def convert(call: Call) -> dict[str, Any]:
    return await _deposit_command(call, service.convert, "convert")
