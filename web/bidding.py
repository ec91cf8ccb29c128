"""Sealed tendering over HTTP: tenders, tender documents, registration, streaming upload
of sealed bids with signed receipts, the frozen set and inclusion proofs, the opening
session (custodians' key shares) and the signed opening record.

Timed events: ``tender.deadline`` (freeze the set, or fail the tender) and
``tender.opening`` (start the opening session). At start, the staged bid uploads a crash
abandoned (idle past ``upload_idle_max_s``) are swept. Settings come from ``config.extra``
(``bidding.<name>``) or the environment (``SUNLIT_BIDDING_<NAME>``); see
:func:`settings_from`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from typing import Annotated, Any

from aiohttp import web
from pydantic import AwareDatetime, Field

from bidding import rules, store
from bidding.errors import BidReason, BidRejected, not_found
from bidding.evaluation.model import (
    EvaluationMethod,
)
from bidding.model import (
    DEFAULT_DEPOSIT_INTEREST_BP,
    DEFAULT_MIN_BIDDERS,
    MAX_AMOUNT_FEN,
    BiddingSettings,
    Category,
    OpeningMode,
    Procedure,
    TenderDraft,
    TenderState,
)
from bidding.service import deposits, opening, submission, tenders
from bidding.service import public as public_notices
from bidding.service.common import load_tender
from bidding.service.tenders import tender_summary
from bidding.vault import iter_blob, sweep_abandoned_uploads
from crypto.keys import b64url_encode
from trading import admission
from trading.calendar import EventContext, EventRegistry
from trading.conduct.model import Door
from trading.config import Config
from trading.config import settings_from as config_settings
from trading.context import Role
from web import collusion, keys
from web.api import Api, Body, Call, Cursor, FreeText, Id, Query, Text
from web.evaluation import MethodBody
from web.register import refuse_if_banned

__all__ = ["BIDDING_SETTINGS", "api_bidding", "settings_from", "setup"]

BIDDING_SETTINGS = web.AppKey("bidding_settings", BiddingSettings)

STAFF = {Role.STAFF, Role.ADMIN}
ANYONE = set(Role) - {Role.SYSTEM, Role.ANONYMOUS}
READERS_OF_ALL = {Role.STAFF, Role.ADMIN, Role.SUPERVISOR}
UPLOAD_PIECE_BYTES = 64 * 1024

Text200 = Text(200, min_length=1, strip=True)
Reason500 = FreeText(500, min_length=1, strip=True)
Code = Text(60, min_length=1, strip=True)


def settings_from(config: Config, environ: dict[str, str] | None = None) -> BiddingSettings:
    """``config.extra['bidding.<field>']`` wins over ``SUNLIT_BIDDING_<FIELD>``; ints only."""
    return config_settings(BiddingSettings, config.extra, key="bidding.", env="SUNLIT_BIDDING_",
                           environ=environ, skip={"min_period_days"})  # fmt: skip


class TenderBody(MethodBody):
    """A new tender: its terms, its custodians, and (inherited) its evaluation terms."""

    code: Code
    project_name: Text200
    category: Category = Category.WORKS
    procedure: Procedure = Procedure.OPEN
    lots: Annotated[list[Text(200)], Field(max_length=100)]
    estimated_price_fen: Annotated[int, Field(ge=1, le=MAX_AMOUNT_FEN)]
    deposit_fen: Annotated[int, Field(ge=0, le=MAX_AMOUNT_FEN)]
    bid_deadline_at: AwareDatetime
    opening_at: AwareDatetime
    place: Text(200, strip=True) = ""
    min_bidders: Annotated[int, Field(ge=DEFAULT_MIN_BIDDERS, le=1000)] = DEFAULT_MIN_BIDDERS
    """At least 3 (T7: BL 28)."""
    min_period_days: Annotated[int, Field(ge=1, le=365)] | None = None
    opening_mode: OpeningMode = OpeningMode.CUSTODIANS
    custodians: Annotated[list[Id], Field(min_length=2, max_length=255)]
    threshold_k: Annotated[int, Field(ge=2, le=255)]
    """Shares needed to open: at least 2 (no one custodian opens alone), at most the custodians."""
    max_bid_bytes: Annotated[int, Field(ge=1, le=2**42)] | None = None
    evaluation_method: EvaluationMethod = EvaluationMethod.LOWEST_PRICE
    """The evaluation terms are optional here (the tender's default is the lowest price); fixed
    at publication (bidding.evaluation)."""
    deposit_interest_rate_bp: Annotated[int, Field(ge=0, le=10_000)] = DEFAULT_DEPOSIT_INTEREST_BP
    """D5: the annual rate (basis points) the deposits earn until refunded after the contract."""


class TenderQuery(Query):
    state: TenderState | None = None
    after_id: Cursor = 0
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class DocumentQuery(Query):
    name: Text200


class DatesBody(Body):
    bid_deadline_at: AwareDatetime
    opening_at: AwareDatetime
    reason: Reason500


class CancelBody(Body):
    reason: Reason500


class RetenderBody(Body):
    code: Code
    bid_deadline_at: AwareDatetime
    opening_at: AwareDatetime


class ShareBody(Body):
    share: Text(2000, min_length=1, strip=True)


api_bidding = Api()
route = api_bidding.route


def _settings(call: Call) -> BiddingSettings:
    return call.app[BIDDING_SETTINGS]


def _sees_drafts(call: Call) -> bool:
    return call.actor.role in READERS_OF_ALL


def _tender_json(tender: Any) -> dict[str, Any]:
    return tender_summary(tender)


@route(
    "POST",
    "/tenders",
    summary="Create a draft tender (deposit ≤ 2 % of the estimate, custodians k of n)",
    tag="tenders",
    roles=STAFF,
    body=TenderBody,
    status=201,
)
async def create_tender(call: Call) -> dict[str, Any]:
    b: TenderBody = call.body
    settings = _settings(call)
    draft = TenderDraft(
        code=b.code,
        project_name=b.project_name,
        category=b.category,
        procedure=b.procedure,
        lots=tuple(b.lots),
        estimated_price_fen=b.estimated_price_fen,
        deposit_fen=b.deposit_fen,
        bid_deadline_at=b.bid_deadline_at,
        opening_at=b.opening_at,
        place=b.place,
        custodian_user_ids=tuple(b.custodians),
        threshold_k=b.threshold_k,
        max_bid_bytes=b.max_bid_bytes or settings.default_max_bid_bytes,
        min_bidders=b.min_bidders,
        min_period_days=b.min_period_days,
        opening_mode=b.opening_mode,
        evaluation=b.spec(),
        deposit_interest_rate_bp=b.deposit_interest_rate_bp,
    )
    async with call.pool.acquire() as conn:
        tender = await tenders.create_tender(
            conn, call.audit, call.actor, call.now, draft, settings
        )
    return _tender_json(tender)


@route(
    "GET",
    "/tenders",
    summary="List tenders (drafts only for staff and supervisors)",
    tag="tenders",
    roles=ANYONE,
    query=TenderQuery,
)
async def list_tenders(call: Call) -> list[dict[str, Any]]:
    q: TenderQuery = call.query
    visible = [s for s in TenderState if _sees_drafts(call) or s is not TenderState.DRAFT]
    states = [s.value for s in visible if q.state is None or s is q.state]
    async with call.pool.acquire() as conn:
        found = await store.list_tenders(conn, states=states, after_id=q.after_id, limit=q.limit)
    return [_tender_json(t) for t in found]


async def _visible_tender(call: Call, conn: Any, tender_id: int) -> Any:
    tender = await load_tender(conn, tender_id)
    if tender.state is TenderState.DRAFT and not _sees_drafts(call):
        raise not_found("tender", "招标项目", tender_id, "tender_not_found")  # as if unknown
    return tender


def _custodians_visible(call: Call, tender: Any) -> bool:
    """Who holds the opening key is not told to bidders before the opening session (they
    are the people a bribe would be aimed at); staff and supervisors always see it."""
    return (
        _sees_drafts(call)
        or call.actor.role is Role.CUSTODIAN
        or tender.state in (TenderState.OPENING, TenderState.OPENED)
    )


@route(
    "GET",
    "/tenders/{tender_id}",
    summary="One tender, with its custodians and date changes",
    tag="tenders",
    roles=ANYONE,
)
async def get_tender(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        tender = await _visible_tender(call, conn, call.path_int("tender_id"))
        custodians = await store.list_custodians(conn, tender.id)
        changes = await store.date_changes(conn, tender.id)
        documents = await store.list_documents(conn, tender.id)
    out = _tender_json(tender)
    out["custodians"] = (
        [
            {
                "user_id": c.user_id,
                "username": c.username,
                "position": c.position,
                "key_id": c.key_id,
            }
            for c in custodians
        ]
        if _custodians_visible(call, tender)
        else None
    )
    out["date_changes"] = changes
    out["documents"] = [
        {"id": d.id, "name": d.name, "sha256": d.sha256, "size_bytes": d.size_bytes}
        for d in documents
    ]
    return out


@route(
    "POST",
    "/tenders/{tender_id}/documents",
    summary="Attach a tender document to a draft (raw body; ?name=)",
    tag="tenders",
    roles=STAFF,
    query=DocumentQuery,
    raw_body=True,
    status=201,
)
async def add_document(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        doc = await tenders.add_document(
            conn,
            call.audit,
            call.actor,
            call.now,
            tender_id=call.path_int("tender_id"),
            name=call.query.name,
            source=call.request.content.iter_chunked(UPLOAD_PIECE_BYTES),
            content_length=call.request.content_length,
            settings=_settings(call),
        )
    return {
        "id": doc.id,
        "tender_id": doc.tender_id,
        "name": doc.name,
        "sha256": doc.sha256,
        "size_bytes": doc.size_bytes,
        "uploaded_at": doc.uploaded_at,
    }


async def _may_read_documents(call: Call, conn: Any, tender_id: int) -> None:
    if _sees_drafts(call):
        return
    if call.actor.role is Role.BIDDER and call.actor.org_id is not None:
        if await store.get_registration(conn, tender_id, call.actor.org_id) is not None:
            return
    raise BidRejected(
        BidReason.NOT_REGISTERED,
        "register for the tender to download its documents",
        "报名后方可下载招标文件",
    )


@route(
    "GET",
    "/tenders/{tender_id}/documents",
    summary="The tender documents (registered bidders, staff)",
    tag="tenders",
    roles=ANYONE,
)
async def list_documents(call: Call) -> list[dict[str, Any]]:
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        await _visible_tender(call, conn, tender_id)
        await _may_read_documents(call, conn, tender_id)
        docs = await store.list_documents(conn, tender_id)
    return [
        {
            "id": d.id,
            "name": d.name,
            "sha256": d.sha256,
            "size_bytes": d.size_bytes,
            "uploaded_at": d.uploaded_at,
        }
        for d in docs
    ]


@route(
    "GET",
    "/tenders/{tender_id}/documents/{document_id}",
    summary="Download a tender document",
    tag="tenders",
    roles=ANYONE,
    produces=("application/octet-stream",),
)
async def download_document(call: Call) -> web.StreamResponse:
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        await _visible_tender(call, conn, tender_id)
        await _may_read_documents(call, conn, tender_id)
        # every download is recorded (who, which version and its hash, when: W1)
        doc, version = await public_notices.record_download(
            conn, call.audit, call.actor, call.now,
            tender_id=tender_id, document_id=call.path_int("document_id"),
        )
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": "attachment; filename*=UTF-8''"
                + urllib.parse.quote(doc.name),
                "X-Content-SHA256": doc.sha256,
                "X-Document-Version": str(version),
            }
        )
        response.content_length = doc.size_bytes
        await response.prepare(call.request)
        async for chunk in iter_blob(conn, doc.blob_id):
            await response.write(chunk)
        await response.write_eof()
    return response


@route(
    "POST",
    "/tenders/{tender_id}/publish",
    summary="Publish: make the opening key, split it among the custodians (T1: ≥ 20 days to the deadline)",
    tag="tenders",
    roles=STAFF,
)
async def publish(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        tender = await tenders.publish_tender(
            conn, call.audit, call.actor, call.now, call.path_int("tender_id")
        )
    return _tender_json(tender)


@route(
    "PATCH",
    "/tenders/{tender_id}/dates",
    summary="Change the bid deadline and opening time (staff, before the deadline; audited and notified)",
    tag="tenders",
    roles=STAFF,
    body=DatesBody,
)
async def change_dates(call: Call) -> dict[str, Any]:
    b: DatesBody = call.body
    async with call.pool.acquire() as conn:
        tender = await tenders.change_dates(
            conn,
            call.audit,
            call.actor,
            call.now,
            call.path_int("tender_id"),
            bid_deadline_at=b.bid_deadline_at,
            opening_at=b.opening_at,
            reason=b.reason,
        )
    return _tender_json(tender)


@route(
    "POST",
    "/tenders/{tender_id}/cancel",
    summary="Cancel a tender before its deadline",
    tag="tenders",
    roles=STAFF,
    body=CancelBody,
)
async def cancel(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        tender = await tenders.cancel_tender(
            conn,
            call.audit,
            call.actor,
            call.now,
            call.path_int("tender_id"),
            reason=call.body.reason,
        )
    return _tender_json(tender)


@route(
    "POST",
    "/tenders/{tender_id}/retender",
    summary="Re-tender a failed tender (T7): a new linked draft",
    tag="tenders",
    roles=STAFF,
    body=RetenderBody,
    status=201,
)
async def retender(call: Call) -> dict[str, Any]:
    b: RetenderBody = call.body
    async with call.pool.acquire() as conn:
        tender = await tenders.retender(
            conn,
            call.audit,
            call.actor,
            call.now,
            call.path_int("tender_id"),
            code=b.code,
            bid_deadline_at=b.bid_deadline_at,
            opening_at=b.opening_at,
            settings=_settings(call),
        )
    return _tender_json(tender)


@route(
    "POST",
    "/tenders/{tender_id}/registrations",
    summary="Register my organisation for a tender (not the platform or its affiliates: T13)",
    tag="bids",
    roles={Role.BIDDER},
    status=201,
)
async def register(call: Call) -> dict[str, Any]:
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        await refuse_if_banned(conn, call.actor.org_id, call.now, Door.TENDER_REGISTRATION)  # S2
        reg, created = await tenders.register_bidder(
            conn, call.audit, call.actor, call.now, tender_id
        )
        confirmed = await admission.is_deposit_confirmed(
            conn, org_id=reg.org_id, project_ref=f"tender:{tender_id}"
        )
        found = await deposits.terms_and_deposit(
            conn, await load_tender(conn, tender_id), reg.org_id
        )
    deposit = None
    if found is not None:
        terms, d = found
        deposit = {
            "sub_account": d.sub_account,
            "required_fen": terms.required_fen,
            "deadline_at": terms.deadline_at,
            "state": d.state.value,
        }
    return {
        "tender_id": reg.tender_id,
        "org_id": reg.org_id,
        "registered_at": reg.registered_at,
        "new": created,
        "deposit_confirmed": confirmed,
        "project_ref": f"tender:{tender_id}",
        "deposit": deposit,
    }


@route(
    "GET",
    "/tenders/{tender_id}/registrations",
    summary="Registered bidders (staff, supervisors)",
    tag="bids",
    roles=STAFF,
)
async def registrations(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        await load_tender(conn, call.path_int("tender_id"))
        regs = await store.list_registrations(conn, call.path_int("tender_id"))
    return [r.__dict__ for r in regs]


@route(
    "PUT",
    "/tenders/{tender_id}/bid",
    summary="Submit or replace my sealed bid: stream the envelope (application/octet-stream); signed receipt",
    tag="bids",
    roles={Role.BIDDER},
    raw_body=True,
    status=201,
)
async def put_bid(call: Call) -> dict[str, Any]:
    ctype = call.request.content_type
    if ctype != "application/octet-stream":
        raise BidRejected(BidReason.UNSUPPORTED_MEDIA_TYPE, f"got {ctype or 'no Content-Type'}")
    async with call.pool.acquire() as conn:  # S2: a banned bidder is refused before a byte is read
        await refuse_if_banned(conn, call.actor.org_id, call.now, Door.BID_SUBMISSION)
    # The pool, not a connection: the use case holds one only while a statement runs, never
    # while it waits for the next piece of the body.
    signed = await submission.submit_bid(
        call.pool,
        call.audit,
        call.actor,
        call.clock,
        tender_id=call.path_int("tender_id"),
        source=call.request.content.iter_chunked(UPLOAD_PIECE_BYTES),
        content_length=call.request.content_length,
        settings=_settings(call),
    )
    return signed.as_json()


@route(
    "DELETE",
    "/tenders/{tender_id}/bid",
    summary="Withdraw my bid before the deadline; signed receipt",
    tag="bids",
    roles={Role.BIDDER},
)
async def withdraw_bid(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        signed = await submission.withdraw_bid(
            conn, call.audit, call.actor, call.clock, tender_id=call.path_int("tender_id")
        )
    return signed.as_json()


@route(
    "GET",
    "/tenders/{tender_id}/bid",
    summary="My bid: current, history, every receipt",
    tag="bids",
    roles={Role.BIDDER},
)
async def my_bid(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await submission.bid_status(conn, call.actor, call.path_int("tender_id"))


@route(
    "GET",
    "/tenders/{tender_id}/bid/proof",
    summary="The proof that my bid is in the set frozen at the deadline (RFC 6962 audit path)",
    tag="bids",
    roles={Role.BIDDER},
)
async def my_proof(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await submission.proof_of_inclusion(conn, call.actor, call.path_int("tender_id"))


@route(
    "GET",
    "/tenders/{tender_id}/bid-tree",
    summary="The signed tree head of the frozen set (public)",
    tag="bids",
    roles=None,
)
async def bid_tree(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return (await opening.get_tree_head(conn, call.path_int("tender_id"))).as_json()


@route(
    "GET",
    "/tenders/{tender_id}/opening",
    summary="The opening session: shares in, whose are missing (T9)",
    tag="opening",
    roles=ANYONE,
)
async def opening_status(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        tender = await _visible_tender(call, conn, call.path_int("tender_id"))
        status = await opening.opening_status(conn, tender.id)
    if not _custodians_visible(call, tender):
        status["custodians"], status["missing"] = None, None
    return status


@route(
    "GET",
    "/tenders/{tender_id}/shares/mine",
    summary="My sealed key share (custodians, once the opening has started; every attempt audited)",
    tag="opening",
    roles={Role.CUSTODIAN},
)
async def my_sealed_share(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await opening.sealed_share(
            conn, call.audit, call.actor, call.now, call.path_int("tender_id")
        )


@route(
    "POST",
    "/tenders/{tender_id}/shares",
    summary="Hand in my opened key share; with k shares the bids are opened and the record returned",
    tag="opening",
    roles={Role.CUSTODIAN},
    body=ShareBody,
)
async def hand_in_share(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        result = await opening.hand_in_share(
            conn,
            call.audit,
            call.actor,
            call.now,
            call.path_int("tender_id"),
            call.body.share,
            _settings(call),
            call.app.get(keys.EVALUATION_KEYS),  # web.panels: kept wrapped for the panel
        )
        if "record" in result:  # the opening completed: S3 collusion signals, one alert each
            await collusion.raise_signals(conn, call.now, call.path_int("tender_id"), collusion.settings_from_env())
        return result


@route(
    "GET",
    "/tenders/{tender_id}/opening-record",
    summary="The signed opening record, in full (staff, supervisors)",
    tag="opening",
    roles=STAFF,
)
async def full_record(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return (
            await opening.get_opening_record(conn, call.path_int("tender_id"), public=False)
        ).as_json()


@route(
    "GET",
    "/tenders/{tender_id}/opening-record/public",
    summary="The signed public view of the opening record (no confidential fields: T11)",
    tag="opening",
    roles=None,
)
async def public_record(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return (
            await opening.get_opening_record(conn, call.path_int("tender_id"), public=True)
        ).as_json()


@route(
    "GET",
    "/bidding/server-key",
    summary="The server's public key that signs receipts, tree heads and records",
    tag="opening",
    roles=None,
)
async def server_key(call: Call) -> dict[str, Any]:
    return {
        "key_id": call.audit.key_id,
        "algorithm": "Ed25519",
        "public_key_hex": call.audit.public_key.hex(),
        "public_key": b64url_encode(call.audit.public_key),
    }


async def _sweep_staged_uploads(app: web.Application) -> AsyncIterator[None]:
    """What a crash left in the bid-upload staging area goes at start (once idle past the
    bound: another process may share the database and be receiving an upload right now);
    each new upload sweeps again, so younger leftovers go once they age."""
    async with app[keys.POOL].acquire() as conn:
        await sweep_abandoned_uploads(
            conn, app[keys.CLOCK].now(), app[BIDDING_SETTINGS].upload_idle_max_s
        )
    yield


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    app[BIDDING_SETTINGS] = settings_from(app[keys.CONFIG])
    api.endpoints.extend(api_bidding.endpoints)
    app.cleanup_ctx.append(_sweep_staged_uploads)

    async def on_deadline(ctx: EventContext) -> None:
        await opening.freeze_bids(ctx.conn, app[keys.AUDIT], ctx.now, int(ctx.event.ref))

    async def on_opening(ctx: EventContext) -> None:
        await opening.start_opening(ctx.conn, app[keys.AUDIT], ctx.now, int(ctx.event.ref))

    registry.register(rules.DEADLINE_EVENT, on_deadline)
    registry.register(rules.OPENING_EVENT, on_opening)
