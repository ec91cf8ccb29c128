"""The key custodian's page (密钥保管人): the tenders whose opening key they hold a share of,
and, once an opening session has started, the hand-in of their share from the browser; and
the auction lots whose reserve key they hold a share of (issue 15 item 5), handed in the
same way once bidding has ended (``GET/POST /auctions/lots/{id}/reserve/shares…``).

The share is sealed to the custodian's X25519 key (``crypto.sealedbox``: X25519, HKDF-SHA-256,
AES-256-GCM, the tender's context bound in). The page's script fetches the sealed share
(``GET /tenders/{id}/shares/mine``), opens it with WebCrypto using the private key file the
custodian picks with ``<input type=file>`` — the key never leaves the page — and hands in
the share text (``POST /tenders/{id}/shares``), exactly as ``sunlit bid share`` does."""

from __future__ import annotations

from typing import Any

from trading.context import Role
from web.pages.render import N_, PageCtx, page

TENDER_STATE_LABELS: dict[str, str] = {
    "opening": N_("opening in progress"), "opened": N_("opened"), "failed": N_("failed"),
}
LOT_PHASE_LABELS: dict[str, str] = {
    "awaiting_reserve": N_("awaiting the reserve's custodians"), "closed": N_("closed"),
}
WATCHED_STATES = ("opening", "published", "closed", "opened")
TENDERS_MAX = 100


@page("/custodian", "custodian.html", roles={Role.CUSTODIAN})
async def custodian_home(p: PageCtx) -> dict[str, Any]:
    assert p.user is not None
    mine: list[dict[str, Any]] = []
    for state in WATCHED_STATES:
        for t in await p.api("/tenders", state=state, limit=TENDERS_MAX):
            status = await p.api(f"/tenders/{t['id']}/opening")
            me = next((c for c in status.get("custodians") or [] if c["user_id"] == p.user.id), None)
            if me is not None:
                mine.append({"tender": t, "status": status, "me": me})
    lots = await p.api("/auctions/reserve/mine")
    js_text = {
        "choose_key": p._("Choose your private key file first."),
        "bad_key": p._("This file is not a 32-byte X25519 private key (base64url, base64 or hex)."),
        "wrong_key": p._("The sealed share does not open with this key: is it your key for this tender?"),
        "no_x25519": p._("This browser lacks X25519 in WebCrypto; use a current Chromium, Firefox or Safari, or the CLI."),
        "opening": p._("Opening the share in this page…"), "handing_in": p._("Handing in…"),
        "handed_in": p._("Share %(position)s handed in: %(received)s of %(needed)s needed; state %(state)s."),
        "opened": p._("The bids are opened."),
        "revealed": p._("The reserve is revealed and the lot has closed."),
    } | {"state." + k: p._(v) for k, v in (TENDER_STATE_LABELS | LOT_PHASE_LABELS).items()}
    return {"tenders": mine, "lots": lots, "lot_phases": LOT_PHASE_LABELS, "js_text": js_text}
