"""The quota-plate session in the auction room (额度拍卖, A9; issue 15 item 1).

``/auctions/quota`` lists the sessions; ``/auctions/quota/{id}`` is one session's room: 报名
with the deposit's virtual sub-account (admitted by the ledger once the bank's notification
confirms it — applying again then gives the paddle), the published cutoff (最低成交价) and
bid count once a second, the halves' countdown against the server's clock, the window of the
second half and the revisions left, a bid form with a confirmation, and the result after the
close. The script (``web/static/js/quota.js``) speaks the quota frames of the auction
websocket (docs/auction.md): ``subscribe`` → ``quota_snapshot``, ``bid`` → ``ack`` /
``error``, ``quota_status``, ``quota_closed``. Nothing here shows another bidder's price
while the session runs; after the close the page shows the cutoff, the average and the
reader's own outcome.
"""

from __future__ import annotations

from typing import Any

from trading.context import Role
from web.pages.auction import DEPOSIT_STATE_LABELS
from web.pages.render import N_, PageCtx, page

HALF_LABELS: dict[str, str] = {
    "before": N_("Not started"), "first": N_("First half: one bid, at most the warning price"),
    "second": N_("Second half: revise within the window"), "ended": N_("Ended"),
}


@page("/auctions/quota", "auctions_quota/list.html")
async def quota_sessions(p: PageCtx) -> dict[str, Any]:
    sessions = await p.api("/auctions/quota", limit=100)
    return {"sessions": sessions}


@page("/auctions/quota/{session_id}", "auctions_quota/room.html")
async def quota_room(p: PageCtx) -> dict[str, Any]:
    session_id = p.request.match_info["session_id"]
    if not session_id.isdigit():
        session_id = "0"
    session = await p.api(f"/auctions/quota/{int(session_id)}")
    is_bidder = p.user is not None and p.user.role is Role.BIDDER
    js_text = {"half." + k: p._(v) for k, v in HALF_LABELS.items()} | {
        "dep." + k: p._(v) for k, v in DEPOSIT_STATE_LABELS.items()
    } | {
        "connected": p._("Live"), "reconnecting": p._("Connection lost; reconnecting…"),
        "watching": p._("Watching (log in as a bidder to bid)"),
        "confirm_bid": p._("Bid %(amount)s yuan in %(title)s as paddle %(paddle)s?"),
        "confirm_revise": p._("Revise your bid to %(amount)s yuan in %(title)s as paddle %(paddle)s?"),
        "bid_ok": p._("Bid accepted"), "amount_format": p._("Amount in yuan, at most two decimals"),
        "deposit_due": p._("Pay the deposit to this sub-account before the start"),
        "admitted": p._("Admitted: your paddle is"), "not_admitted": p._("Not admitted yet: the deposit is not confirmed"),
        "apply_again": p._("Check my deposit again"),
        "sub_account": p._("Sub-account (虚拟子账号)"), "required": p._("Deposit (yuan)"),
        "deposit_state": p._("Deposit state"), "due": p._("Due by"),
        "seconds": p._("s"), "to_first": p._("Bidding opens in"), "to_second": p._("First half ends in"),
        "to_end": p._("Session ends in"), "ended": p._("Ended"),
        "window_none": p._("No window in the first half: at most the warning price"),
        "won": p._("You won a plate at %(amount)s yuan"), "lost": p._("Your bid did not win"),
        "no_bid": p._("You placed no bid"), "no_winner": p._("No plate was sold"),
        "result_wait": p._("The session has closed; the result is being written…"),
        "stream_ack": p._("Your bid"), "revision": p._("revision"),
    }
    return {"session": session, "live": session.get("live") or {}, "config": session.get("config") or {},
            "is_bidder": is_bidder, "js_text": js_text, "half_labels": HALF_LABELS}
