"""Public pages, no login: the home page with the latest notices, the notices list (search,
filters, paging), a notice, a tender's public record, the auction calendar and results.

Everything shown here is what the public API shows (``GET /api/v1/public/...``): the page
fetches it through ``PageCtx.api`` and renders it on the server, so a reader without script
sees it all."""

from __future__ import annotations

from typing import Any

from web.pages.render import PageCtx, page


@page("/", "index.html")
async def home(p: PageCtx) -> dict[str, Any]:
    notices = await p.api("/public/notices", limit=10)
    return {"notices": notices["items"] if isinstance(notices, dict) else []}


@page("/auctions", "auctions.html")
async def auction_room(p: PageCtx) -> dict[str, Any]:
    return {}
