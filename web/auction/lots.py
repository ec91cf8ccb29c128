"""Endpoints that create and schedule land lots and plate sessions, and admit bidders (paddles)."""

from __future__ import annotations

from typing import Any

from auction import service, store
from trading.conduct.model import Door
from trading.context import Role
from web.api import Call
from web.auction.common import (
    STAFF,
    AdmitBody,
    AdmitManyBody,
    LandLotBody,
    PlateSessionBody,
    _engine,
    route,
)
from web.register import refuse_if_banned

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
