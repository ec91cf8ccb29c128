"""Deposit ledger endpoints (保证金): deposit terms, virtual sub-accounts, the bank's signed
notifications and answers, refunds, forfeitures, conversions, the refund batch file,
reconciliation, and the supervisors' reads (accounts, transfers, trial balance).

The bank is not a user: its endpoints under ``/bank`` are public and authenticated by the
Ed25519 signature of each message (keys in ``ledger_bank_keys``: ``SUNLIT_BANK_PUBLIC_KEY``
at start, ``POST /ledger/bank-keys``, or the demo's key pair).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from crypto.signing import verify
from trading.calendar import EventRegistry
from trading.context import Actor, Role
from trading.errors import Conflict, NotFound, ValidationFailed
from trading.ledger import bank, reconciling, service, settlement, store
from trading.ledger.errors import LedgerReason
from trading.ledger.model import (
    AMOUNT_MAX_FEN,
    Account,
    Deposit,
    DepositTerms,
    ForfeitCause,
    Guarantee,
    NotificationOutcome,
    Payout,
    PayoutPurpose,
    ProjectKind,
    RefundCause,
    SuspenseItem,
    TransferFlags,
    TrialBalance,
)
from trading.ledger.reconcile import format_fen
from trading.ledger.rules.payers import detect_collusion
from web import keys
from web.api import Api, Body, Call, Query
from web.core import decode_key

STAFF = {Role.STAFF, Role.ADMIN}
READERS = {Role.STAFF, Role.ADMIN, Role.SUPERVISOR}
ANYONE = set(Role) - {Role.SYSTEM, Role.ANONYMOUS}
UPLOAD_MAX_BYTES = 64 * 1024 * 1024
"""Largest statement or result file accepted (a 100,000-line statement is about 8 MB)."""

Fen = Annotated[int, Field(ge=1, le=AMOUNT_MAX_FEN)]
ProjectRef = Annotated[str, StringConstraints(pattern=r"^[a-z_]+:[0-9]{1,18}$", max_length=40)]
CommandId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/-]{1,80}$")]
Text = Annotated[str, StringConstraints(max_length=200)]

api_ledger = Api()
route = api_ledger.route


# == bodies and queries =========================================================================


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
    org_id: Annotated[int, Field(ge=1)] | None = None
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
    exclude_org_ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=10_000)] = []


class ForfeitBody(Body):
    cause: ForfeitCause
    note: Annotated[str, StringConstraints(max_length=2000)]
    cause_at: datetime | None = None
    command_id: CommandId | None = None


class CommandBody(Body):
    command_id: CommandId | None = None


class ReissueBody(Body):
    payout_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/-]{1,128}$")]
    payee_account: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    payee_name: Text | None = None
    command_id: CommandId | None = None


class BankKeyBody(Body):
    public_key: Annotated[str, StringConstraints(min_length=43, max_length=64)]
    label: Annotated[str, StringConstraints(max_length=100)] = ""


class CalendarBody(Body):
    day: date
    working: bool
    note: Annotated[str, StringConstraints(max_length=200)] = ""


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


class AccountQuery(Query):
    after_id: Annotated[str, StringConstraints(max_length=140)] = ""
    kind: Annotated[str, StringConstraints(max_length=40)] | None = None
    project_ref: Annotated[str, StringConstraints(max_length=40)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class TransferQuery(Query):
    after_seq: Annotated[int, Field(ge=0)] = 0
    account_id: Annotated[str, StringConstraints(max_length=140)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class StateQuery(Query):
    state: Annotated[str, StringConstraints(max_length=40)] | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000


class PayoutQuery(StateQuery):
    batch_id: Annotated[int, Field(ge=1)] | None = None


class StatementQuery(Query):
    from_on: date | None = None
    to_on: date | None = None
    date_tolerance_days: Annotated[int, Field(ge=0, le=31)] = 1


class CollusionQuery(Query):
    project_ref: ProjectRef | None = None


# == rendering ==================================================================================


def terms_json(t: DepositTerms) -> dict[str, Any]:
    return {
        "project_ref": t.project_id,
        "project_no": t.project_no,
        "kind": t.kind.value,
        "required_fen": t.required_fen,
        "required_yuan": format_fen(t.required_fen),
        "deadline_at": t.deadline_at,
        "opening_at": t.opening_at,
        "payers_sealed_until": t.unsealed_at,
        "interest_rate_bp": t.interest_rate_bp,
        "accept_guarantees": t.accept_guarantees,
        "estimate_fen": t.estimate_fen,
        "works": t.works,
        "starting_price_fen": t.starting_price_fen,
        "land": t.land,
    }


def deposit_json(d: Deposit, terms: DepositTerms, actor: Actor, now: datetime) -> dict[str, Any]:
    shown = service.visible_deposit(d, terms, actor, now)
    sealed = shown is not d and d.payer_account is not None
    return {
        "project_ref": d.project_id,
        "org_id": int(d.bidder_id),
        "bidder_no": d.bidder_no,
        "sub_account": d.sub_account,
        "account_id": d.account_id,
        "state": d.state.value,
        "admitted": d.state.value == "confirmed",
        "form": d.form.value if d.form else None,
        "required_fen": terms.required_fen,
        "amount_fen": d.amount_fen,
        "deadline_at": terms.deadline_at,
        "bank_ref": d.bank_ref,
        "payer_account": service.SEALED if sealed else shown.payer_account,
        "payer_name": service.SEALED if sealed else shown.payer_name,
        "payers_sealed_until": terms.unsealed_at if sealed else None,
        "received_at": d.received_at,
        "guarantee": store.guarantee_json(d.guarantee),
        "refund_cause": d.refund_cause.value if d.refund_cause else None,
        "refund_due_on": d.refund_due_on,
        "interest_fen": d.interest_fen,
        "payout_id": d.payout_id,
        "forfeit": store.forfeit_json(d.forfeit),
        "version": d.version,
    }


def account_json(a: Account) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind.value,
        "project_ref": a.project_id,
        "org_id": int(a.bidder_id) if a.bidder_id and a.bidder_id.isdigit() else a.bidder_id,
        "debits_pending": a.debits_pending,
        "debits_posted": a.debits_posted,
        "credits_pending": a.credits_pending,
        "credits_posted": a.credits_posted,
        "net_debit_fen": a.debits_posted - a.credits_posted,
    }


def trial_balance_json(tb: TrialBalance) -> dict[str, Any]:
    return {
        "balanced": tb.balanced,
        "net_fen": tb.net_fen,
        "debits_posted": tb.debits_posted,
        "credits_posted": tb.credits_posted,
        "debits_pending": tb.debits_pending,
        "credits_pending": tb.credits_pending,
        "by_kind": {k.value: v for k, v in tb.by_kind().items()},
        "rows": [
            {
                "account_id": r.account_id,
                "kind": r.kind.value,
                "debits_posted": r.debits_posted,
                "credits_posted": r.credits_posted,
                "debits_pending": r.debits_pending,
                "credits_pending": r.credits_pending,
                "net_debit_fen": r.net_debit_fen,
            }
            for r in tb.rows
        ],
    }


def outcome_json(o: NotificationOutcome) -> dict[str, Any]:
    return store.outcome_json(o) | {"replayed": o.replayed}


def payout_json(p: Payout, *, sealed: bool = False) -> dict[str, Any]:
    body = store.payout_json(p)
    if sealed:
        body |= {"payee_account": service.SEALED, "payee_name": service.SEALED}
    return body


def suspense_json(s: SuspenseItem, *, sealed: bool = False) -> dict[str, Any]:
    return {
        "bank_ref": s.bank_ref,
        "reason": s.reason.value,
        "amount_fen": s.amount_fen,
        "sub_account": s.sub_account,
        "payer_account": service.SEALED if sealed else s.payer_account,
        "payer_name": service.SEALED if sealed else s.payer_name,
        "value_at": s.value_at,
        "state": s.state.value,
        "payout_id": s.payout_id,
    }


def _command_id(call: Call, given: str | None, what: str) -> str:
    """The client's command id, else one made from the request id: a retry that repeats
    ``X-Request-Id`` is then answered with the first answer."""
    return given or f"{what}-{call.actor.request_id}"


def _project_ref(call: Call) -> str:
    ref = call.request.match_info["project_ref"]
    service._check_ref(ref)
    return ref


async def _sealed_project(
    conn: Any, project_ref: str | None, now: datetime, cache: dict[str, bool]
) -> bool:
    if not project_ref:
        return False
    if project_ref not in cache:
        terms = await store.get_project(conn, project_ref)
        cache[project_ref] = terms is not None and service.is_sealed(terms, now)
    return cache[project_ref]


async def _read_upload(call: Call) -> str:
    """A streamed CSV upload, bounded by ``UPLOAD_MAX_BYTES``, as UTF-8 text."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in call.request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > UPLOAD_MAX_BYTES:
            raise ValidationFailed(
                f"the file is larger than {UPLOAD_MAX_BYTES} bytes",
                f"文件超过 {UPLOAD_MAX_BYTES} 字节",
                code="body_too_large",
                status_hint=413,
            )
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "the file must be UTF-8 text (CSV)",
            "文件须为 UTF-8 编码的 CSV 文本",
            code="invalid_encoding",
        ) from None


# == the bank (public, signed) ==================================================================


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


# == projects and deposits ======================================================================


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


# == payouts, batches, suspense =================================================================


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


# == reconciliation =============================================================================


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


# == supervision: accounts, transfers, trial balance, collusion =================================


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


@route("GET", "/ledger/accounts/{account_id}", summary="One account", tag="ledger", roles=READERS)
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


# == bank keys and the calendar =================================================================


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


# == setup ======================================================================================


async def _bank_key_from_env(app: web.Application) -> AsyncIterator[None]:
    """``SUNLIT_BANK_PUBLIC_KEY`` (hex or base64url): trusted from the start."""
    text = os.environ.get("SUNLIT_BANK_PUBLIC_KEY", "").strip()
    if text:
        async with app[keys.POOL].acquire() as conn:
            await service.register_bank_key(
                conn,
                app[keys.AUDIT],
                Actor.system("config"),
                app[keys.CLOCK].now(),
                decode_key(text),
                "SUNLIT_BANK_PUBLIC_KEY",
            )
    yield


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    api.endpoints.extend(api_ledger.endpoints)
    registry.register(service.REFUND_DUE, service.on_refund_due)
    registry.register(service.UNSEAL, service.on_unseal)
    app.cleanup_ctx.append(_bank_key_from_env)
