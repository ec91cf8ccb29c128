"""Reading lots, sessions, events and results; staff views; exports (the confirmation, the signed
log)."""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

from auction import service, store
from auction.model import event_from_dict
from auction.protocol import public_event_dict
from trading.context import Role
from trading.errors import Forbidden
from web.api import Call
from web.auction.common import (
    CLUSTER,
    STAFF,
    ConfirmationQuery,
    EventsQuery,
    LotListQuery,
    _engine,
    _lot_response,
    _with_live,
    route,
)
from web.auction_ws import GATEWAY

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
