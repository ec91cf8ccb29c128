"""Live auctions over HTTP: staff create, schedule, admit, start, pause, resume, close, seal
and reveal the reserve, decide a capped lot; everyone lists lots and reads results; the
winner downloads the confirmation (成交确认书). The stream itself is ``web.auction_ws``.

The engine (``auction.engine``) is a resource of the app: started after the database (it
rebuilds every live lot from its log and recovers from an outage), stopped before it.
Lots open by the timed event ``auction.start``; countdowns run on the engine's own timer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, Field

from auction import protocol, service, store
from auction.engine import Engine, EngineHooks, EngineSettings
from auction.errors import AuctionReason, AuctionRejected
from auction.model import (
    MAX_AMOUNT_FEN,
    MAX_PADDLE_LEN,
    AcceptCap,
    CapPolicy,
    Close,
    Command,
    CountdownPolicy,
    DecideByCriterion,
    DrawLottery,
    LotState,
    Pause,
    Reinstate,
    Resume,
    RevealReserve,
    SealReserve,
    Start,
    Suspend,
    event_from_dict,
)
from auction.ownership import Cluster
from auction.protocol import public_event_dict
from auction.reserve import ReserveKey
from auction.rules import public_view
from auction.store import PgLogStore
from trading.calendar import EventContext, EventRegistry
from trading.conduct.model import Door
from trading.context import Role
from trading.errors import Forbidden
from web import keys
from web.api import Api, Body, Call, Count32, Cursor, FreeText, Id, Query
from web.api import Text as Line
from web.auction_quota import QUOTA_ROUTER
from web.auction_ws import ENGINE, GATEWAY, Gateway, GatewaySettings, api_ws
from web.register import refuse_if_banned

log = logging.getLogger("sunlit.auction")

RESERVE_KEY = web.AppKey("auction_reserve_key", ReserveKey)
CLUSTER = web.AppKey("auction_cluster", Cluster)
"""This process among the others over the database (quota sessions forward through it too)."""

STAFF = {Role.STAFF, Role.ADMIN}
Fen = Annotated[int, Field(ge=1, le=MAX_AMOUNT_FEN)]
Title = Line(200, min_length=1, strip=True)
Text = FreeText(500, min_length=1, strip=True)
Paddle = Line(MAX_PADDLE_LEN, min_length=1)
Description = FreeText(5000)


# -- bodies and queries ---------------------------------------------------------------------------


class LandLotBody(Body):
    title: Title
    description: Description = ""
    starting_price_fen: Fen
    increment_fen: Fen
    deposit_fen: Fen
    listing_starts_at: AwareDatetime
    listing_ends_at: AwareDatetime
    countdown_s: Annotated[int, Field(ge=1, le=86_400)] = 240
    listing_quiet_s: Annotated[int, Field(ge=0, le=30 * 86_400)] = 3600
    min_listing_days: Annotated[int, Field(ge=0, le=365)] = 10
    price_cap_fen: Fen | None = None
    cap_policy: CapPolicy = CapPolicy.LOTTERY
    allow_self_raise: bool = False
    outage_policy: CountdownPolicy = CountdownPolicy.RESUME_FULL
    resume_policy: Literal["resume_full", "resume_remaining"] = "resume_full"
    min_deposit_pct: Annotated[int, Field(ge=0, le=100)] = 20


class PlateLotBody(Body):
    title: Title
    """The plate, e.g. 浙E·88888."""
    description: Description = ""
    starting_price_fen: Fen
    increment_fen: Fen
    deposit_fen: Fen
    price_cap_fen: Fen | None = None


class PlateSessionBody(Body):
    title: Title
    starts_at: AwareDatetime
    countdown_s: Annotated[int, Field(ge=1, le=86_400)] = 60
    allow_self_raise: bool = False
    outage_policy: CountdownPolicy = CountdownPolicy.RESUME_FULL
    resume_policy: Literal["resume_full", "resume_remaining"] = "resume_full"
    lots: Annotated[list[PlateLotBody], Field(min_length=1, max_length=1000)]


class AdmitBody(Body):
    org_id: Id


class AdmitManyBody(Body):
    org_ids: Annotated[list[Id], Field(min_length=1, max_length=1000)]


class ReasonBody(Body):
    reason: Text


class SuspendBody(Body):
    paddle: Paddle
    reason: Text


class PaddleBody(Body):
    paddle: Paddle


class ReserveBody(Body):
    reserve_fen: Fen


class CriterionBody(Body):
    winner: Paddle
    note: Text


class BidBody(Body):
    bid_id: Line(64, min_length=1)
    amount_fen: Fen


class LotListQuery(Query):
    kind: Literal["land", "plate"] | None = None
    session_id: Id | None = None
    closed: bool | None = None
    after_id: Cursor = 0
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class EventsQuery(Query):
    after_seq: Count32 = 0
    """A lot's log numbers its events in an ``integer`` column."""
    limit: Annotated[int, Field(ge=1, le=1000)] = 200


class ConfirmationQuery(Query):
    format: Literal["json", "html"] = "json"


api_auction = Api()
route = api_auction.route


def _engine(call: Call) -> Engine:
    return call.app[ENGINE]


async def _live(engine: Engine, lot_id: int) -> dict[str, Any]:
    state = await engine.committed_state(lot_id)
    return {**public_view(state), "server_time": engine.now()}


def _with_live(lot: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    """The lot with its live state. ``listing_ends_at`` is the listing's end as it stands —
    a pause moves it later by the pause's length (issue 16 item 9) — and
    ``listing_ends_at_original`` the end the lot was created with."""
    lot["live"] = live
    lot["listing_ends_at_original"] = lot["listing_ends_at"]
    if live is not None and live.get("listing_ends_at") is not None:
        lot["listing_ends_at"] = live["listing_ends_at"]
    return lot


async def _lot_response(call: Call, lot_id: int) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        lot = await service.get_lot(conn, lot_id)
    return _with_live(lot, await _live(_engine(call), lot_id))


async def _staff_command(
    call: Call, lot_id: int, command: Command, action: str, payload: dict[str, Any]
) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        await service.get_lot(conn, lot_id)
    decision = await _engine(call).execute(lot_id, command)
    async with call.pool.acquire() as conn:
        await service.record_action(
            conn,
            call.audit,
            call.actor,
            call.now,
            lot_id=lot_id,
            action=action,
            payload=payload,
            seq=decision.state.seq,
        )
    return await _lot_response(call, lot_id)


# -- creating and scheduling -----------------------------------------------------------------------


@route(
    "POST",
    "/auctions/lots",
    summary="Create a land lot (土地使用权: listing, then a timed phase)",
    tag="auctions",
    roles=STAFF,
    body=LandLotBody,
    status=201,
)
async def create_land_lot(call: Call) -> dict[str, Any]:
    b: LandLotBody = call.body
    options = b.model_dump(
        include={
            "countdown_s",
            "listing_quiet_s",
            "min_listing_days",
            "price_cap_fen",
            "cap_policy",
            "allow_self_raise",
            "outage_policy",
            "resume_policy",
            "min_deposit_pct",
        }
    )
    async with call.pool.acquire() as conn:
        lot = await service.create_land_lot(
            conn,
            call.audit,
            call.actor,
            call.now,
            title=b.title,
            description=b.description,
            starting_price_fen=b.starting_price_fen,
            increment_fen=b.increment_fen,
            deposit_fen=b.deposit_fen,
            listing_starts_at=b.listing_starts_at,
            listing_ends_at=b.listing_ends_at,
            options=options,
        )
    return lot


@route(
    "POST",
    "/auctions/sessions",
    summary="Create a plate session (号牌: many lots, one common start)",
    tag="auctions",
    roles=STAFF,
    body=PlateSessionBody,
    status=201,
)
async def create_session(call: Call) -> dict[str, Any]:
    b: PlateSessionBody = call.body
    async with call.pool.acquire() as conn:
        return await service.create_plate_session(
            conn,
            call.audit,
            call.actor,
            call.now,
            title=b.title,
            starts_at=b.starts_at,
            countdown_s=b.countdown_s,
            lots=[lot.model_dump() for lot in b.lots],
            options={
                "allow_self_raise": b.allow_self_raise,
                "outage_policy": b.outage_policy,
                "resume_policy": b.resume_policy,
            },
        )


@route(
    "POST",
    "/auctions/lots/{lot_id}/schedule",
    summary="Publish a land lot: its listing opens by itself at its time",
    tag="auctions",
    roles=STAFF,
)
async def schedule_lot(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await service.schedule_lot(
            conn, call.audit, call.actor, call.now, lot_id=call.path_int("lot_id")
        )


@route(
    "POST",
    "/auctions/sessions/{session_id}/schedule",
    summary="Publish a plate session: every lot starts together at its time",
    tag="auctions",
    roles=STAFF,
)
async def schedule_session(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await service.schedule_session(
            conn, call.audit, call.actor, call.now, session_id=call.path_int("session_id")
        )


# -- admission ----------------------------------------------------------------------------------------


async def _admit(call: Call, scope: str, org_ids: list[int]) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        await refuse_if_banned(conn, org_ids, call.now, Door.AUCTION_APPLICATION)  # S2
        admitted = await service.admit(
            conn, call.audit, call.actor, call.now, scope=scope, org_ids=org_ids
        )
    for a in admitted:
        _engine(call).note_admission(scope, a["org_id"], a["paddle"])
    return admitted


@route(
    "POST",
    "/auctions/lots/{lot_id}/admissions",
    summary="Admit a bidder to a land lot once its deposit is confirmed; returns its paddle (竞买号)",
    tag="auctions",
    roles=STAFF,
    body=AdmitBody,
    status=201,
)
async def admit_to_lot(call: Call) -> dict[str, Any]:
    (admitted,) = await _admit(call, f"lot:{call.path_int('lot_id')}", [call.body.org_id])
    return admitted


@route(
    "POST",
    "/auctions/sessions/{session_id}/admissions",
    summary="Admit bidders to a plate session (one paddle each for all its plates); all or nothing",
    tag="auctions",
    roles=STAFF,
    body=AdmitManyBody,
    status=201,
)
async def admit_to_session(call: Call) -> dict[str, Any]:
    admitted = await _admit(call, f"session:{call.path_int('session_id')}", call.body.org_ids)
    return {"admitted": admitted}


@route(
    "GET",
    "/auctions/me/paddles",
    summary="My organisation's paddles (a bidder's own)",
    tag="auctions",
    roles={Role.BIDDER},
)
async def my_paddles(call: Call) -> list[dict[str, Any]]:
    if call.actor.org_id is None:
        return []
    async with call.pool.acquire() as conn:
        rows = await store.org_paddles(conn, call.actor.org_id)
        out = []
        for r in rows:
            out.append(
                {
                    "scope": r["scope"],
                    "paddle": r["paddle"],
                    "admitted_at": r["admitted_at"],
                    "lot_ids": await service.scope_lot_ids(conn, r["scope"]),
                }
            )
    return out


# -- running a lot --------------------------------------------------------------------------------------


@route(
    "POST",
    "/auctions/lots/{lot_id}/start",
    summary="Start a lot now (from its scheduled time on)",
    tag="auctions",
    roles=STAFF,
)
async def start_lot(call: Call) -> dict[str, Any]:
    lot_id = call.path_int("lot_id")
    seeds = await _seed_commitments(call.app, [lot_id], call.now)
    commitment = seeds.get(lot_id)
    return await _staff_command(
        call,
        lot_id,
        Start(seed_commitment=commitment),
        "auction.lot.start",
        {} if commitment is None else {"seed_commitment": commitment},
    )


async def _seed_commitments(
    app: web.Application, lot_ids: list[int], now: datetime
) -> dict[int, str]:
    """The lottery seeds' commitments of the lots about to start (A8), stored and committed
    on a connection of their own before the start is logged: a start that the scheduler's
    transaction later rolls back must not leave a commitment in the log without its seed."""
    async with app[keys.POOL].acquire() as conn:
        return await service.lottery_seed_commitments(conn, app[RESERVE_KEY], lot_ids, now)


@route(
    "POST",
    "/auctions/sessions/{session_id}/start",
    summary="Start every lot of a plate session now",
    tag="auctions",
    roles=STAFF,
)
async def start_session(call: Call) -> dict[str, Any]:
    session_id = call.path_int("session_id")
    async with call.pool.acquire() as conn:
        session = await service.get_session(conn, session_id)
    engine = _engine(call)
    now = engine.now()
    lot_ids = [lot["id"] for lot in session["lots"]]
    seeds = await _seed_commitments(call.app, lot_ids, now)
    outcomes = await asyncio.gather(
        *(engine.execute(i, Start(seed_commitment=seeds.get(i)), now=now) for i in lot_ids),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    for error in refused:
        if not isinstance(error, AuctionRejected):
            raise error
    if len(refused) == len(lot_ids):
        raise refused[0]
    async with call.pool.acquire() as conn, conn.transaction():
        await call.audit.append(
            conn,
            actor=call.actor,
            action="auction.session.start",
            object_type="auction_session",
            object_id=session_id,
            at=call.now,
            payload={"lots": lot_ids},
        )
    return {
        "session_id": session_id,
        "started": len(lot_ids) - len(refused),
        "refused": [
            {"code": e.code, "message": e.message_en}
            for e in refused
            if isinstance(e, AuctionRejected)
        ],
    }


@route(
    "POST",
    "/auctions/lots/{lot_id}/pause",
    summary="Pause a lot, with a reason",
    tag="auctions",
    roles=STAFF,
    body=ReasonBody,
)
async def pause_lot(call: Call) -> dict[str, Any]:
    reason = call.body.reason
    return await _staff_command(
        call, call.path_int("lot_id"), Pause(reason=reason), "auction.lot.pause", {"reason": reason}
    )


@route(
    "POST",
    "/auctions/lots/{lot_id}/resume",
    summary="Resume a paused lot (countdown by the lot's policy)",
    tag="auctions",
    roles=STAFF,
)
async def resume_lot(call: Call) -> dict[str, Any]:
    return await _staff_command(call, call.path_int("lot_id"), Resume(), "auction.lot.resume", {})


@route(
    "POST",
    "/auctions/lots/{lot_id}/close",
    summary="Terminate a lot (终止), with a reason: before it starts or while paused",
    tag="auctions",
    roles=STAFF,
    body=ReasonBody,
)
async def close_lot(call: Call) -> dict[str, Any]:
    reason = call.body.reason
    return await _staff_command(
        call,
        call.path_int("lot_id"),
        Close(reason=reason),
        "auction.lot.cancel",
        {"reason": reason},
    )


@route(
    "POST",
    "/auctions/lots/{lot_id}/suspensions",
    summary="Suspend a paddle from a lot, with a reason",
    tag="auctions",
    roles=STAFF,
    body=SuspendBody,
)
async def suspend(call: Call) -> dict[str, Any]:
    b: SuspendBody = call.body
    return await _staff_command(
        call,
        call.path_int("lot_id"),
        Suspend(paddle=b.paddle, reason=b.reason),
        "auction.bidder.suspend",
        {"paddle": b.paddle, "reason": b.reason},
    )


@route(
    "POST",
    "/auctions/lots/{lot_id}/reinstatements",
    summary="Reinstate a suspended paddle",
    tag="auctions",
    roles=STAFF,
    body=PaddleBody,
)
async def reinstate(call: Call) -> dict[str, Any]:
    paddle = call.body.paddle
    return await _staff_command(
        call,
        call.path_int("lot_id"),
        Reinstate(paddle=paddle),
        "auction.bidder.reinstate",
        {"paddle": paddle},
    )


@route(
    "POST",
    "/auctions/lots/{lot_id}/reserve",
    summary="Enter the reserve price (底价): sealed at once, witnessed by supervision, revealed only at the close",
    tag="auctions",
    roles=STAFF,
    body=ReserveBody,
    status=201,
)
async def enter_reserve(call: Call) -> dict[str, Any]:
    lot_id = call.path_int("lot_id")
    engine = _engine(call)
    await engine.ensure(lot_id)
    async with call.pool.acquire() as conn:
        sealed = await service.enter_reserve(
            conn,
            call.audit,
            call.actor,
            call.now,
            lot_id=lot_id,
            reserve_fen=call.body.reserve_fen,
            key=call.app[RESERVE_KEY],
        )
    decision = await engine.execute(lot_id, SealReserve(commitment=sealed.commitment))
    async with call.pool.acquire() as conn:
        await service.record_action(
            conn,
            call.audit,
            call.actor,
            call.now,
            lot_id=lot_id,
            action="auction.reserve.seal",
            payload={"commitment": sealed.commitment},
            seq=decision.state.seq,
        )
    return {
        "lot_id": lot_id,
        "commitment": sealed.commitment,
        "key_id": sealed.key_id,
        "seq": decision.state.seq,
    }


@route(
    "POST",
    "/auctions/lots/{lot_id}/reserve/reveal",
    summary="Reveal the sealed reserve and close the lot (done by itself when bidding ends)",
    tag="auctions",
    roles=STAFF,
)
async def reveal_reserve(call: Call) -> dict[str, Any]:
    lot_id = call.path_int("lot_id")
    engine = _engine(call)
    state = await engine.committed_state(lot_id)
    if state.reserve_commitment is None:
        raise AuctionRejected(AuctionReason.WRONG_PHASE, "no reserve is sealed for this lot")
    async with call.pool.acquire() as conn:
        fen, salt = await service.open_reserve(
            conn, call.app[RESERVE_KEY], lot_id=lot_id, commitment=state.reserve_commitment
        )
    return await _staff_command(
        call,
        lot_id,
        RevealReserve(reserve_fen=fen, salt=salt),
        "auction.reserve.reveal",
        {"commitment": state.reserve_commitment},
    )


@route(
    "POST",
    "/auctions/lots/{lot_id}/cap/decision",
    summary="Price cap reached: enter the winner by the second criterion (A8)",
    tag="auctions",
    roles=STAFF,
    body=CriterionBody,
)
async def decide_by_criterion(call: Call) -> dict[str, Any]:
    b: CriterionBody = call.body
    return await _staff_command(
        call,
        call.path_int("lot_id"),
        DecideByCriterion(winner=b.winner, note=b.note),
        "auction.cap.decide",
        {"paddle": b.winner, "note": b.note},
    )


@route(
    "POST",
    "/auctions/lots/{lot_id}/cap/lottery",
    summary="Price cap reached: draw the winner by lottery among those who accepted the cap (A8)",
    tag="auctions",
    roles=STAFF,
)
async def draw_lottery(call: Call) -> dict[str, Any]:
    """The seed is the one committed before bidding opened (``seed_committed`` in the log),
    opened from its sealed box and published in ``cap_resolved``. Only a lot started before
    commitments existed (no commitment in its log) draws a fresh seed here."""
    lot_id = call.path_int("lot_id")
    state = await _engine(call).committed_state(lot_id)
    if state.seed_commitment is None:
        seed = secrets.token_bytes(32)
    else:
        async with call.pool.acquire() as conn:
            seed = await service.open_lottery_seed(
                conn, call.app[RESERVE_KEY], lot_id=lot_id, commitment=state.seed_commitment
            )
    return await _staff_command(
        call,
        lot_id,
        DrawLottery(seed=seed),
        "auction.cap.lottery",
        {"seed_hex": seed.hex(), "seed_commitment": state.seed_commitment},
    )


# -- bidding over HTTP (the websocket is the usual way) -------------------------------------------------


async def _paddle(call: Call, lot_id: int) -> str:
    if call.actor.org_id is None:
        raise AuctionRejected(AuctionReason.NOT_ADMITTED)
    paddle = await _engine(call).paddle_for(lot_id, call.actor.org_id)
    if paddle is None:
        raise AuctionRejected(
            AuctionReason.NOT_ADMITTED, "no paddle on this lot: is your deposit confirmed?"
        )
    return paddle


@route(
    "POST",
    "/auctions/lots/{lot_id}/bids",
    summary="Place a bid (HTTP; answered once durable; the same bid_id answers the same)",
    tag="auctions",
    roles={Role.BIDDER},
    body=BidBody,
    status=201,
)
async def place_bid(call: Call) -> dict[str, Any]:
    lot_id = call.path_int("lot_id")
    b: BidBody = call.body
    paddle = await _paddle(call, lot_id)
    async with call.pool.acquire() as conn:  # S2
        await refuse_if_banned(conn, call.actor.org_id, call.now, Door.AUCTION_BID)
    event = await _engine(call).place_bid(lot_id, paddle, b.bid_id, b.amount_fen)
    return {
        "lot_id": lot_id,
        "bid_id": b.bid_id,
        "paddle": paddle,
        "seq": event.seq,
        "at": event.at,
        "amount_fen": event.amount_fen,
        "countdown_ends_at": event.countdown_ends_at,
    }


@route(
    "POST",
    "/auctions/lots/{lot_id}/cap/accept",
    summary="Accept the capped price (A8), as a bidder",
    tag="auctions",
    roles={Role.BIDDER},
)
async def accept_cap(call: Call) -> dict[str, Any]:
    lot_id = call.path_int("lot_id")
    decision = await _engine(call).execute(lot_id, AcceptCap(paddle=await _paddle(call, lot_id)))
    return {
        "lot_id": lot_id,
        "seq": decision.state.seq,
        "cap_candidates": list(decision.state.cap_candidates),
    }


# -- reading --------------------------------------------------------------------------------------------


@route(
    "GET",
    "/auctions/lots",
    summary="Lots, with their live state when running",
    tag="auctions",
    roles=None,
    query=LotListQuery,
)
async def list_lots(call: Call) -> list[dict[str, Any]]:
    q: LotListQuery = call.query
    async with call.pool.acquire() as conn:
        lots = await service.list_lots(
            conn,
            kind=q.kind,
            session_id=q.session_id,
            closed=q.closed,
            after_id=q.after_id,
            limit=q.limit,
        )
    engine = _engine(call)
    for lot in lots:
        _with_live(lot, engine.snapshot(lot["id"]))
    return lots


@route(
    "GET",
    "/auctions/lots/{lot_id}",
    summary="One lot and its live state",
    tag="auctions",
    roles=None,
)
async def get_lot(call: Call) -> dict[str, Any]:
    return await _lot_response(call, call.path_int("lot_id"))


@route(
    "GET",
    "/auctions/sessions/{session_id}",
    summary="A plate session and its lots",
    tag="auctions",
    roles=None,
)
async def get_session(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        session = await service.get_session(conn, call.path_int("session_id"))
    engine = _engine(call)
    for lot in session["lots"]:
        _with_live(lot, engine.snapshot(lot["id"]))
    return session


@route(
    "GET",
    "/auctions/sessions/{session_id}/results",
    summary="An ended plate session (staff, supervisors): each plate's result and what became of "
    "each deposit — converted into the first plate its bidder won, refund due (by when), refunded",
    tag="auctions",
    roles={*STAFF, Role.SUPERVISOR},
)
async def session_results(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await service.session_results(conn, call.path_int("session_id"))


@route(
    "GET",
    "/auctions/lots/{lot_id}/events",
    summary="A lot's public event log, page by sequence",
    tag="auctions",
    roles=None,
    query=EventsQuery,
)
async def lot_events(call: Call) -> dict[str, Any]:
    lot_id = call.path_int("lot_id")
    q: EventsQuery = call.query
    async with call.pool.acquire() as conn:
        await service.get_lot(conn, lot_id)
        rows = await store.events_page(
            conn, lot_id, after_seq=q.after_seq, limit=q.limit, public_only=True
        )
    events = [public_event_dict(event_from_dict(r["data"])) for r in rows]
    return {
        "lot_id": lot_id,
        "events": events,
        "next_after_seq": rows[-1]["seq"] if rows else q.after_seq,
    }


@route(
    "GET",
    "/auctions/lots/{lot_id}/result",
    summary="The result of a closed lot: winner (identity revealed), price, reserve with its proof, bids",
    tag="auctions",
    roles=None,
)
async def lot_result(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await service.result(conn, call.path_int("lot_id"))


@route(
    "GET",
    "/auctions/results",
    summary="Closed lots and their results",
    tag="auctions",
    roles=None,
    query=LotListQuery,
)
async def results(call: Call) -> list[dict[str, Any]]:
    q: LotListQuery = call.query
    async with call.pool.acquire() as conn:
        return await service.list_lots(
            conn,
            kind=q.kind,
            session_id=q.session_id,
            closed=True,
            after_id=q.after_id,
            limit=q.limit,
        )


@route(
    "GET",
    "/auctions/engine",
    summary="The auction engine's figures: lots and watchers held, flushes, rows per flush, commit times",
    tag="auctions",
    roles=STAFF,
)
async def engine_stats(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        nodes = [dict(r) for r in await store.nodes(conn)]
    return {
        **_engine(call).stats(),
        **call.app[GATEWAY].stats(),
        "cluster": {**call.app[CLUSTER].stats(), "nodes": nodes},
    }


@route(
    "GET",
    "/auctions/lots/{lot_id}/bidders",
    summary="Who held which paddle (staff, once the lot is closed)",
    tag="auctions",
    roles=STAFF,
)
async def lot_bidders(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await service.bidders(conn, call.path_int("lot_id"))


@route(
    "GET",
    "/auctions/lots/{lot_id}/confirmation",
    summary="The signed confirmation (成交确认书) of a sold lot: for the winner and staff",
    tag="auctions",
    roles={Role.BIDDER, *STAFF},
    query=ConfirmationQuery,
    produces=("application/json", "text/html"),
)
async def confirmation(call: Call) -> Any:
    lot_id = call.path_int("lot_id")
    async with call.pool.acquire() as conn:
        doc = await service.confirmation(conn, call.audit, call.now, lot_id=lot_id)
    winner = doc["confirmation"]["winner"]
    if call.actor.role == Role.BIDDER and call.actor.org_id != winner["org_id"]:
        raise Forbidden(
            "only the winner downloads the confirmation",
            "仅竞得人可下载成交确认书",
            code="not_the_winner",
        )
    if call.query.format == "html":
        return web.Response(text=_confirmation_html(doc), content_type="text/html", charset="utf-8")
    return doc


@route(
    "GET",
    "/auctions/lots/{lot_id}/log",
    summary="A lot's whole log, signed, once it has ended: replay it offline (sunlit verify-auction)",
    tag="auctions",
    roles={Role.BIDDER, Role.SUPERVISOR, *STAFF},
)
async def lot_log(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await service.export_log(conn, call.audit, call.now, lot_id=call.path_int("lot_id"))


def _confirmation_html(doc: dict[str, Any]) -> str:
    c = doc["confirmation"]
    e = html.escape
    rows = [
        ("标的 Lot", f"{c['lot']['id']} — {c['lot']['title']}"),
        ("竞得人 Winner", f"{c['winner']['name']} ({c['winner']['credit_code']})"),
        ("竞买号 Paddle", c["winner"]["paddle"]),
        ("成交价 Price", f"{c['price_yuan']} 元"),
        ("保证金转作价款 Deposit applied", f"{service.yuan(c['deposit_applied_fen'])} 元"),
        ("尚需支付 Balance due", f"{service.yuan(c['balance_due_fen'])} 元"),
        ("成交时间 Closed at", c["closed_at"]),
        ("日志 Log", f"seq {c['log_seq']}, SHA-256 {c['log_sha256']}"),
        ("签发 Issued", c["issued_at"]),
    ]
    body = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows)
    return (
        "<!doctype html><html lang=zh><meta charset=utf-8><title>成交确认书</title>"
        "<h1>成交确认书 <small>Auction confirmation</small></h1>"
        f"<table>{body}</table>"
        f"<p>Ed25519 signature ({e(doc['key_id'])}): <code>{e(doc['signature'])}</code></p>"
        "<p>The JSON form (?format=json) carries the signed document; verify it with the server's public key.</p>"
        "</html>"
    )


# -- wiring -----------------------------------------------------------------------------------------------


def _reserve_key_path(app: web.Application) -> Path:
    config = app[keys.CONFIG]
    raw = config.extra.get("auction_reserve_key") or os.environ.get("SUNLIT_AUCTION_RESERVE_KEY")
    return Path(raw) if raw else config.data_dir / "keys" / "auction-reserve-x25519.key"


def _engine_settings(extra: dict[str, str]) -> EngineSettings:
    """``EngineSettings`` from config.extra (``auction_<name>``) or ``SUNLIT_AUCTION_<NAME>``."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(EngineSettings):
        raw = extra.get(f"auction_{f.name}") or os.environ.get(f"SUNLIT_AUCTION_{f.name.upper()}")
        if raw:
            values[f.name] = float(raw) if f.type == "float" else int(raw)
    return EngineSettings(**values)


async def _engine_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = app[keys.POOL]
    audit = app[keys.AUDIT]
    clock = app[keys.CLOCK]
    key = ReserveKey.load_or_create(_reserve_key_path(app))
    app[RESERVE_KEY] = key

    async def reveal(lot_id: int, commitment: str) -> tuple[int, bytes]:
        async with pool.acquire() as conn:
            return await service.open_reserve(conn, key, lot_id=lot_id, commitment=commitment)

    async def closed(lot_id: int, state: LotState) -> None:
        async with pool.acquire() as conn:
            await service.settle(conn, audit, clock.now(), lot_id=lot_id, state=state, key=key)

    # several processes may share the database: each lot is owned by one (auction.ownership)
    cluster = Cluster(app[keys.DSN], pool, clock)
    log_store = PgLogStore(app[keys.DSN], pool, node_id=cluster.node_id)
    settings = _engine_settings(app[keys.CONFIG].extra)
    hooks = EngineHooks(reveal_reserve=reveal, lot_closed=closed)
    engine = Engine(
        log_store, clock, settings=settings, hooks=hooks, wire=protocol.ws_text, peers=cluster
    )
    cluster.attach(engine)
    app[ENGINE] = engine
    app[CLUSTER] = cluster
    _expose_metrics(app, engine, cluster)
    await cluster.start()
    try:
        await engine.start()
    except BaseException:
        await cluster.stop()
        raise
    try:
        yield
    finally:
        await app[GATEWAY].close_all()
        await engine.stop()
        await cluster.stop()


def _expose_metrics(app: web.Application, engine: Engine, cluster: Cluster) -> None:
    """What to watch across processes (docs/operations.md): lots owned and followed here,
    takeovers, commands forwarded to another process's lot and their retries."""
    metrics = app.get(keys.METRICS)
    if metrics is None:
        return
    metrics.add("sunlit_auction_lots_owned", "Live lots this process owns (judges, logs, times)",
                lambda: engine.stats()["lots_owned"])
    metrics.add("sunlit_auction_lots_followed", "Lots this process follows from another's log",
                lambda: engine.stats()["lots_followed"])
    metrics.add("sunlit_auction_watchers", "Watchers of lots on this process",
                lambda: engine.stats()["watchers"])
    metrics.add("sunlit_auction_takeovers", "Lots this process took over from a process that died",
                lambda: engine.takeovers, kind="counter")
    metrics.add("sunlit_auction_forwarded", "Commands sent to the process owning the lot",
                lambda: engine.forwarded, kind="counter")
    metrics.add("sunlit_auction_forward_retries", "Forwarded commands asked again (owner changing over)",
                lambda: engine.forward_retries, kind="counter")
    metrics.add("sunlit_auction_calls_served", "Commands other processes forwarded to this one",
                lambda: cluster.calls_served, kind="counter")
    metrics.add("sunlit_auction_listen_reconnects", "Times the LISTEN connection was made again",
                lambda: cluster.relistens, kind="counter")

    def quota(figure: str) -> Callable[[], float | None]:
        def read() -> float | None:
            router = app.get(QUOTA_ROUTER)  # set up after this engine (web.auction_quota)
            if router is None:
                return None
            return float(len(router.engine.session_ids())) if figure == "owned" else getattr(router, figure)

        return read

    metrics.add("sunlit_auction_quota_sessions_owned", "Quota sessions this process owns", quota("owned"))
    metrics.add("sunlit_auction_quota_forwarded", "Quota commands sent to the owning process",
                quota("forwarded"), kind="counter")
    metrics.add("sunlit_auction_quota_takeovers", "Quota sessions taken over from a process that died",
                quota("takeovers"), kind="counter")


async def _close_clients(app: web.Application) -> None:
    await app[GATEWAY].close_all()


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    api.endpoints.extend(api_auction.endpoints)
    api.endpoints.extend(api_ws.endpoints)
    app[GATEWAY] = Gateway(app, GatewaySettings.from_config(app[keys.CONFIG].extra))
    app.cleanup_ctx.append(_engine_ctx)
    app.on_shutdown.append(_close_clients)

    async def on_start(ctx: EventContext) -> None:
        """``auction.start``: open the lot, or every lot of the session, at its time."""
        engine = app[ENGINE]
        lot_ids = await service.scope_lot_ids(ctx.conn, ctx.event.ref)
        seeds = await _seed_commitments(app, lot_ids, ctx.now)
        outcomes = await asyncio.gather(
            *(engine.execute(i, Start(seed_commitment=seeds.get(i)), now=ctx.now) for i in lot_ids),
            return_exceptions=True,
        )
        for lot_id, outcome in zip(lot_ids, outcomes, strict=True):
            if isinstance(outcome, AuctionRejected) and outcome.reason in (
                AuctionReason.WRONG_PHASE,
                AuctionReason.CLOSED,
                AuctionReason.PAUSED,
            ):
                log.info(
                    "lot already started or closed", extra={"lot_id": lot_id, "code": outcome.code}
                )
            elif isinstance(outcome, BaseException):
                raise outcome

    registry.register(service.START_EVENT, on_start)
