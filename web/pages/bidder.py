"""The bidder's portal: my tenders and auctions; one tender's registration, deposit
instructions and state, documents, questions, objections; sealing and submitting a bid in
the browser with its receipt checked in the page; replace and withdraw; the opening record,
my result, and objections during the candidates' publicity.

    /bidder                  my tenders (registered), tenders open for registration, my paddles
    /bidder/tenders/{id}     one tender, from the bidder's side
    /bidder/receipts         check a signed receipt (and an envelope file) in the page

Every figure on these pages comes from the JSON API through ``PageCtx.api`` (the same
route, role and scope checks as over HTTP); every write is the page's script calling the
API with the CSRF header. Sealing happens in the browser (web/static/js/bidder/seal.js):
the organisation's private key is read from a local file and never sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trading.context import Role
from trading.errors import DomainError
from web import keys
from web.pages.render import PageCtx, page

BIDDER = {Role.BIDDER}
TENDER_LIMIT = 50
"""The newest tenders looked at for "my tenders" (each costs one in-process API call)."""

OPTIONAL = frozenset(
    {
        "opening_record_not_ready",
        "no_concluded_report",
        "not_registered",
        "tender_not_found",
        "bids_not_frozen",
        "not_in_frozen_set",
    }
)
"""Refusals that only mean "not yet" or "not for you" for one section of a page."""


async def _maybe(p: PageCtx, path: str, **query: Any) -> Any:
    """An API read whose "not yet" refusal leaves its section empty (None); anything else
    — 401, 403 on the whole page, a server fault — is the page's refusal."""
    try:
        return await p.api(path, **query)
    except DomainError as err:
        if err.code in OPTIONAL:
            return None
        raise


def _now(p: PageCtx) -> datetime:
    return p.app[keys.CLOCK].now()


def _at(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _before(value: str | None, now: datetime) -> bool:
    at = _at(value)
    return at is not None and now < at


@page("/bidder", "bidder/index.html", roles=BIDDER)
async def bidder_home(p: PageCtx) -> dict[str, Any]:
    """My tenders: those my organisation registered for, with the deposit's and the bid's
    state; tenders still open for registration; my auction paddles."""
    now = _now(p)
    tenders = await p.api("/tenders", limit=200)
    tenders = sorted(tenders, key=lambda t: t["id"], reverse=True)[:TENDER_LIMIT]
    deposits = {d["project_ref"]: d for d in await p.api("/ledger/deposits/mine")}
    mine, open_ = [], []
    for t in tenders:
        if t["state"] == "cancelled":
            continue
        status = await p.api(f"/tenders/{t['id']}/bid")
        row = {
            "tender": t,
            "status": status,
            "deposit": deposits.get(t["project_ref"]),
        }
        if status["registered"]:
            mine.append(row)
        elif t["state"] == "published" and _before(t["bid_deadline_at"], now):
            open_.append(row)
    paddles = await p.api("/auctions/me/paddles")
    return {"mine": mine, "open": open_, "paddles": paddles}


@page(r"/bidder/tenders/{tender_id:\d{1,18}}", "bidder/tender.html", roles=BIDDER)
async def bidder_tender(p: PageCtx) -> dict[str, Any]:
    tid = int(p.request.match_info["tender_id"])
    now = _now(p)
    tender = await p.api(f"/tenders/{tid}")
    status = await p.api(f"/tenders/{tid}/bid")
    deposit = next(
        (
            d
            for d in await p.api("/ledger/deposits/mine")
            if d["project_ref"] == tender["project_ref"]
        ),
        None,
    )
    registered = status["registered"]
    before_deadline = tender["state"] == "published" and _before(tender["bid_deadline_at"], now)
    award = await _maybe(p, f"/tenders/{tid}/award")
    publicity = (award or {}).get("publicity") or {}
    user = p.user
    assert user is not None
    return {
        "tender": tender,
        "status": status,
        "deposit": deposit,
        "registered": registered,
        "before_deadline": before_deadline,
        "may_submit": registered and before_deadline,
        "documents": (await _maybe(p, f"/tenders/{tid}/documents")) if registered else None,
        "questions": await _maybe(p, f"/tenders/{tid}/questions") or [],
        "clarifications": await _maybe(p, f"/tenders/{tid}/clarifications") or [],
        "objections": await _maybe(p, f"/tenders/{tid}/objections") or [],
        "record": await _maybe(p, f"/tenders/{tid}/opening-record/public"),
        "eval_clarifications": await _maybe(p, f"/tenders/{tid}/evaluation/clarifications/mine") or [],
        "award": award,
        "in_publicity": bool(award)
        and award["state"] == "publicity"
        and _before(publicity.get("ends_at"), now),
        "org_id": user.org_id,
        "server_key": await p.api("/bidding/server-key"),
        "page_data": {
            "tender_id": tid,
            "org_id": user.org_id,
            "opening_public_key": tender["opening_public_key"],
            "opening_key_id": tender["opening_key_id"],
            "max_bid_bytes": tender.get("max_bid_bytes"),
            "status": status,
        },
    }


@page("/bidder/receipts", "bidder/receipts.html", roles=BIDDER)
async def receipt_check(p: PageCtx) -> dict[str, Any]:
    """Check a receipt kept from the command line (or anywhere) against the server's key."""
    return {"server_key": await p.api("/bidding/server-key")}
