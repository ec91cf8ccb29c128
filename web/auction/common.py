"""What the auction endpoints share: app keys, request bodies and queries, the route table
(``api_auction``) and the helpers that answer with a lot's live state or run a staff command."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, Field

from auction import service
from auction.engine import Engine
from auction.model import MAX_AMOUNT_FEN, MAX_PADDLE_LEN, CapPolicy, Command, CountdownPolicy
from auction.ownership import Cluster
from auction.reserve import ReserveKey
from auction.rules import public_view
from trading.context import Role
from web.api import Api, Body, Call, Count32, Cursor, FreeText, Id, Query
from web.api import Text as Line
from web.auction_ws import ENGINE

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
    custodians: Annotated[list[Id], Field(min_length=2, max_length=255)] | None = None
    """User ids of custodians (role custodian, each with a registered X25519 key) among whom
    the reserve's key is split, as a tender's opening key is; none: the server's key."""
    threshold_k: Annotated[int, Field(ge=2, le=255)] | None = None
    """How many of the custodians' shares open the reserve (2 ≤ k ≤ n)."""


class ShareBody(Body):
    share: Line(2000, min_length=1, strip=True)
    """An opened key share, ``S1-<k>-<x>-<hex>`` (or its bytes as base64url)."""


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
