"""Public pages, no login: the home page with the latest notices, the notices list (search,
filters, paging), a notice, a tender's public record, the auction calendar and results.

Everything shown here is what the public API shows (``GET /api/v1/public/notices``, the
opening record's public view, ``/auctions/lots`` and ``/auctions/results``): the page fetches
it through ``PageCtx.api`` and renders it on the server, so a reader without script sees it
all. A tender's page is the tender's own public notices, in order (docs/bidding.md §11): the
tender notice (dates, documents), amendments and clarifications, the opening record, the
candidates' publicity, the result or the failure.

An auction lot without a sale is shown as 流拍 / "No sale", never with a winner or a price
(its highest bid, if any, did not reach the reserve: it is not a sale price).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from trading.errors import ValidationFailed
from web.pages.render import N_, PageCtx, page

NOTICE_PAGE_SIZE = 20
TENDER_NOTICES_MAX = 100
NOTICE_FILTERS = ("kind", "category", "region", "published_from", "published_to", "q")

OUTCOME_LABELS: dict[str, str] = {
    "sold": N_("Sold"), "no_sale": N_("No sale (流拍)"), "cancelled": N_("Terminated"),
}
PHASE_LABELS: dict[str, str] = {
    "scheduled": N_("Scheduled"), "listing": N_("Listing"), "countdown": N_("Countdown bidding"),
    "paused": N_("Paused"), "cap_reached": N_("Price cap reached"), "awaiting_reserve": N_("Awaiting the reserve"),
    "closed": N_("Closed"), "draft": N_("Draft"), "open": N_("Open"),
}
LOT_KIND_LABELS: dict[str, str] = {"land": N_("Land use right"), "plate": N_("Licence plate")}
ENTRY_OUTCOME_LABELS: dict[str, str] = {
    "opened": N_("Opened"), "failed": N_("Could not be opened"), "withdrawn": N_("Withdrawn"),
    "revoked": N_("Revoked"), "late": N_("Late"),
}


def _labels() -> dict[str, Any]:
    return {"outcome_labels": OUTCOME_LABELS, "phase_labels": PHASE_LABELS, "lot_kind_labels": LOT_KIND_LABELS,
            "entry_outcome_labels": ENTRY_OUTCOME_LABELS}


@page("/", "index.html")
async def home(p: PageCtx) -> dict[str, Any]:
    notices = await p.api("/public/notices", limit=10)
    return {"notices": notices["items"]}


def _filters(p: PageCtx) -> dict[str, str]:
    return {k: p.request.query[k].strip() for k in NOTICE_FILTERS if p.request.query.get(k, "").strip()}


@page("/notices", "notices.html")
async def notices_list(p: PageCtx) -> dict[str, Any]:
    """The notices, newest first, NOTICE_PAGE_SIZE a page; the filters are the API's
    (``NoticeQuery``), and a wrong one is said in the page, above an empty list."""
    filters = _filters(p)
    cursor = p.request.query.get("cursor") or None
    error = None
    try:
        result = await p.api("/public/notices", **filters, cursor=cursor, limit=NOTICE_PAGE_SIZE)
    except ValidationFailed as err:
        result = {"items": [], "next": None}
        error = err.message_zh if p.lang == "zh" else err.message_en
    next_query = None
    if result.get("next") is not None:
        next_query = {**filters, "cursor": str(result["next"])}
    return {
        "items": result["items"], "filters": filters, "next_query": next_query, "error": error,
        "paged": cursor is not None, "first_query": filters,
        "kinds": ["tender", "amendment", "clarification", "opening_record", "candidates", "award_result",
                  "failed", "re_tender"],
        "categories": ["works", "goods", "services"],
    }


@page(r"/notices/{notice_id:\d{1,18}}", "notice.html")
async def notice_detail(p: PageCtx) -> dict[str, Any]:
    notice = await p.api(f"/public/notices/{p.request.match_info['notice_id']}")
    return {"n": notice, **_labels()}


@page(r"/tenders/{tender_id:\d{1,18}}", "tender.html")
async def tender_public(p: PageCtx) -> dict[str, Any]:
    """A tender's public record, made of its public notices (oldest first)."""
    tender_id = p.request.match_info["tender_id"]
    result = await p.api("/public/notices", tender_id=tender_id, limit=TENDER_NOTICES_MAX)
    notices = list(reversed(result["items"]))
    if not notices:
        from trading.errors import NotFound

        raise NotFound(f"no public notice of tender {tender_id}", f"招标项目 {tender_id} 尚无公开公告",
                       code="tender_not_found")
    full = [await p.api(f"/public/notices/{n['id']}") for n in notices]
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n in full:
        by_kind[n["kind"]].append(n)
    announce = (by_kind.get("re_tender") or by_kind.get("tender") or [None])[-1]
    facts = dict(announce["data"]) if announce else {}
    for n in full:  # the latest dates: amendments and clarifications move them
        for key in ("bid_deadline_at", "opening_at"):
            if n["kind"] in ("amendment", "clarification") and n["data"].get(key):
                facts[key] = n["data"][key]
    documents = list(facts.get("documents", []))
    for n in by_kind.get("clarification", []) + by_kind.get("amendment", []):
        documents.extend(d for d in n["data"].get("documents", []) if d.get("name"))
    return {
        "tender_id": tender_id, "notices": full, "announce": announce, "facts": facts, "documents": documents,
        "changes": by_kind.get("amendment", []) + by_kind.get("clarification", []),
        "opening": (by_kind.get("opening_record") or [None])[-1],
        "candidates": (by_kind.get("candidates") or [None])[-1],
        "award": (by_kind.get("award_result") or [None])[-1],
        "failed": (by_kind.get("failed") or [None])[-1],
        **_labels(),
    }


@page("/auctions/calendar", "auction_calendar.html")
async def auction_calendar(p: PageCtx) -> dict[str, Any]:
    """Lots to come and under way (by start time, grouped by day) and the results of the
    closed ones, newest first."""
    open_lots = await p.api("/auctions/lots", closed="false", limit=500)
    closed = await p.api("/auctions/results", limit=500)
    open_lots.sort(key=lambda lot: (lot.get("opens_at") or "", lot["id"]))
    days: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for lot in open_lots:
        days[(lot.get("opens_at") or "")[:10] or "—"].append(lot)
    closed.sort(key=lambda lot: ((lot.get("result") or {}).get("closed_at") or "", lot["id"]), reverse=True)
    return {"days": sorted(days.items()), "results": closed, **_labels()}


@page(r"/auctions/results/{lot_id:\d{1,18}}", "auction_result.html")
async def auction_result(p: PageCtx) -> dict[str, Any]:
    result = await p.api(f"/auctions/lots/{p.request.match_info['lot_id']}/result")
    return {"r": result, **_labels()}
