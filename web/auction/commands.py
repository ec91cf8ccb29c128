"""Staff commands to a live lot or session (start, pause, close, the reserve, the criterion, the
lottery) and bidding over HTTP."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime
from typing import Any

from aiohttp import web

from auction import service
from auction.errors import AuctionReason, AuctionRejected
from auction.model import (
    AcceptCap,
    Close,
    DecideByCriterion,
    DrawLottery,
    Pause,
    Phase,
    Reinstate,
    Resume,
    RevealReserve,
    SealReserve,
    Start,
    Suspend,
)
from trading.conduct.model import Door
from trading.context import Role
from trading.errors import Conflict
from web import keys
from web.api import Call
from web.auction.common import (
    RESERVE_KEY,
    STAFF,
    BidBody,
    CriterionBody,
    PaddleBody,
    ReasonBody,
    ReserveBody,
    ShareBody,
    SuspendBody,
    _engine,
    _staff_command,
    route,
)
from web.register import refuse_if_banned

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
    summary="Enter the reserve price (底价): sealed at once (to the server's key, or to a key split among custodians), witnessed by supervision, revealed only at the close",
    tag="auctions",
    roles=STAFF,
    body=ReserveBody,
    status=201,
)
async def enter_reserve(call: Call) -> dict[str, Any]:
    lot_id = call.path_int("lot_id")
    engine = _engine(call)
    await engine.ensure(lot_id)
    if (await engine.committed_state(lot_id)).highest_fen is not None:
        raise Conflict(  # a reserve fixed after a bid was seen: the verifier refuses such a log
            "the reserve is entered before the first bid",
            "底价须在首次出价前录入",
            code="reserve_after_first_bid",
        )
    async with call.pool.acquire() as conn:
        sealed = await service.enter_reserve(
            conn,
            call.audit,
            call.actor,
            call.now,
            lot_id=lot_id,
            reserve_fen=call.body.reserve_fen,
            key=call.app[RESERVE_KEY],
            custodian_user_ids=call.body.custodians or (),
            threshold_k=call.body.threshold_k,
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
        "held_by": "custodians" if call.body.custodians else "server",
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


# -- a reserve held by custodians (issue 15 item 5) --------------------------------------------------


@route(
    "GET",
    "/auctions/lots/{lot_id}/reserve/custody",
    summary="Who holds the reserve's key (custodians, k of n) and whose share is still missing",
    tag="auctions",
    roles=STAFF | {Role.SUPERVISOR, Role.CUSTODIAN},
)
async def reserve_custody(call: Call) -> dict[str, Any]:
    lot_id = call.path_int("lot_id")
    state = await _engine(call).committed_state(lot_id)
    async with call.pool.acquire() as conn:
        await service.get_lot(conn, lot_id)
        status = await service.custody_status(
            conn, lot_id=lot_id, commitment=state.reserve_commitment
        )
    return {**status, "phase": state.phase.value}


@route(
    "GET",
    "/auctions/reserve/mine",
    summary="The lots whose reserve key I hold a share of (custodians), with each lot's phase",
    tag="auctions",
    roles={Role.CUSTODIAN},
)
async def my_reserve_custody(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        rows = await service.my_custody(conn, call.actor)
    engine = _engine(call)
    out = []
    for row in rows:
        state = await engine.committed_state(row["lot_id"])
        if state.reserve_commitment == row["commitment"]:  # an entry the log refused is unused
            out.append({**row, "phase": state.phase.value})
    return out


async def _my_share_of(call: Call) -> dict[str, Any]:
    """The service's ``lot_id``, ``commitment`` and ``awaiting`` for a custodian's share of
    the lot's reserve key; 409 closed once the reserve is revealed."""
    lot_id = call.path_int("lot_id")
    state = await _engine(call).committed_state(lot_id)
    if state.phase is Phase.CLOSED:
        raise AuctionRejected(AuctionReason.CLOSED, "the lot has closed: its reserve is revealed")
    awaiting = state.phase is Phase.AWAITING_RESERVE
    return {"lot_id": lot_id, "commitment": state.reserve_commitment, "awaiting": awaiting}


@route(
    "GET",
    "/auctions/lots/{lot_id}/reserve/shares/mine",
    summary="My sealed share of the reserve's key (custodians, once bidding has ended; every fetch audited)",
    tag="auctions",
    roles={Role.CUSTODIAN},
)
async def my_reserve_share(call: Call) -> dict[str, Any]:
    share_of = await _my_share_of(call)
    async with call.pool.acquire() as conn:
        return await service.my_sealed_share(conn, call.audit, call.actor, call.now, **share_of)


@route(
    "POST",
    "/auctions/lots/{lot_id}/reserve/shares",
    summary="Hand in my opened share of the reserve's key; with k shares the reserve is revealed and the lot closes",
    tag="auctions",
    roles={Role.CUSTODIAN},
    body=ShareBody,
)
async def hand_in_reserve_share(call: Call) -> dict[str, Any]:
    share_of = await _my_share_of(call)
    lot_id, engine = share_of["lot_id"], _engine(call)
    async with call.pool.acquire() as conn:
        result = await service.hand_in_share(
            conn, call.audit, call.actor, call.now, **share_of, share_text=call.body.share
        )
    reveal = result.pop("reveal")
    if reveal is not None:
        fen, salt = reveal
        try:
            await engine.execute(lot_id, RevealReserve(reserve_fen=fen, salt=salt))
        except AuctionRejected as err:  # closed meanwhile by another hand-in: nothing to do
            if err.reason is not AuctionReason.CLOSED:
                raise
    after = await engine.committed_state(lot_id)
    return {
        **result,
        "phase": after.phase.value,
        "outcome": None if after.outcome is None else after.outcome.value,
    }


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
