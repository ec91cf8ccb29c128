"""The auction room (网上竞价大厅): every reader watches; a bidder applies (报名: opens its
deposit sub-account for the lot or plate session), is admitted by staff once the deposit is
confirmed, and bids as its paddle.

The page renders the lots as the API lists them; the script then follows them live over
``/api/v1/auctions/ws`` (docs/auction.md, the websocket protocol): one subscription per lot
shown, the countdown from ``countdown_ends_at`` against the server's clock (the offset from
each frame's ``server_time``), a reconnect that resumes each lot from the last ``seq`` seen.
Bids go over the same socket; the engine judges them — the page only proposes amounts.
"""

from __future__ import annotations

from typing import Any

from trading.context import Role
from web.pages.public import LOT_KIND_LABELS, OUTCOME_LABELS, PHASE_LABELS
from web.pages.render import N_, PageCtx, page

ROOM_LOTS_MAX = 500
EVENT_LABELS: dict[str, str] = {
    "lot_started": N_("The lot opened"), "countdown_started": N_("The timed phase began"),
    "lot_paused": N_("Paused by staff"), "lot_resumed": N_("Resumed"), "cap_reached": N_("Price cap reached"),
    "lot_closed": N_("Closed"), "outage_policy_applied": N_("Resumed after an outage"),
}
DEPOSIT_STATE_LABELS: dict[str, str] = {
    "awaiting": N_("Awaiting payment"), "confirmed": N_("Confirmed"), "refund_pending": N_("Refund pending"),
    "refunded": N_("Refunded"), "forfeit_pending": N_("Forfeit pending approval"), "forfeited": N_("Forfeited"),
    "converted": N_("Converted to the price"),
}


@page("/auctions", "auctions.html")
async def auction_room(p: PageCtx) -> dict[str, Any]:
    lots = await p.api("/auctions/lots", closed="false", limit=ROOM_LOTS_MAX)
    lots.sort(key=lambda lot: (lot.get("session_id") or 0, lot["id"]))
    selected = p.request.query.get("lot", "")
    is_bidder = p.user is not None and p.user.role is Role.BIDDER
    js_text = {
        "phase." + k: p._(v) for k, v in PHASE_LABELS.items()
    } | {
        "outcome." + k: p._(v) for k, v in OUTCOME_LABELS.items()
    } | {
        "connected": p._("Live"), "reconnecting": p._("Connection lost; reconnecting…"),
        "resumed": p._("Reconnected; %(n)s missed events caught up"), "watching": p._("Watching (log in as a bidder to bid)"),
        "confirm_bid": p._("Bid %(amount)s yuan on %(lot)s as paddle %(paddle)s?"),
        "bid_ok": p._("Bid accepted"), "you_lead": p._("You lead"), "no_paddle": p._("You hold no paddle on this lot."),
        "amount_format": p._("Amount in yuan, at most two decimals"),
        "apply": p._("Apply (报名)"), "deposit_due": p._("Pay the deposit to this sub-account"),
        "deposit_ok": p._("Deposit confirmed; staff admit you and give you a paddle"),
        "admitted": p._("Admitted: your paddle is"), "deposit_state": p._("Deposit state"),
        "sub_account": p._("Sub-account (虚拟子账号)"), "required": p._("Deposit (yuan)"), "due": p._("Due by"),
        "min_next": p._("Next minimum bid"), "countdown_none": "—", "paddle": p._("Paddle"),
        "seconds": p._("s"), "no_sale": p._("No sale (流拍)"), "sold_to": p._("Sold to paddle"),
        "enter": p._("Enter"), "stream_bid": p._("bid"), "closed": p._("Closed"),
    } | {"dep." + k: p._(v) for k, v in DEPOSIT_STATE_LABELS.items()} | {
        "ev." + k: p._(v) for k, v in EVENT_LABELS.items()}
    return {"lots": lots, "selected": selected, "is_bidder": is_bidder, "js_text": js_text,
            "phase_labels": PHASE_LABELS, "lot_kind_labels": LOT_KIND_LABELS}
