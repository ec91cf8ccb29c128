"""The staff console (工作人员): tenders (create, edit, publish, documents, questions and
clarifications, the opening room, the panel draw, the evaluation, the award), deposits and
auctions. Each page is a shell whose script drives the JSON API; the page itself checks the
role as the API does (staff and admins; a supervisor reads, as the API lets them) and reads
the tender through the API, so a page never shows what the API would refuse.

    /staff                      tenders, and a new draft
    /staff/tenders/{tender_id}  one tender, from draft to contract
    /staff/deposits             deposits, unmatched money, refunds due, forfeitures to approve
    /staff/auctions             lots: publish, start, pause, resume, terminate
"""

from __future__ import annotations

from typing import Any

from trading.context import Role
from web.pages.consoles import js_text, path_id
from web.pages.render import PageCtx, page

STAFF = {Role.STAFF, Role.ADMIN}


@page("/staff", "staff/index.html", roles=STAFF)
async def staff_home(p: PageCtx) -> dict[str, Any]:
    return {"js_text": js_text(p), "section": "tenders"}


@page("/staff/tenders/{tender_id}", "staff/tender.html", roles=STAFF)
async def staff_tender(p: PageCtx) -> dict[str, Any]:
    tender = await p.api(f"/tenders/{path_id(p, 'tender_id')}")  # 404 for an unknown tender
    return {"js_text": js_text(p), "tender": tender, "section": "tenders"}


@page("/staff/deposits", "staff/deposits.html", roles=STAFF)
async def staff_deposits(p: PageCtx) -> dict[str, Any]:
    return {"js_text": js_text(p), "section": "deposits"}


@page("/staff/auctions", "staff/auctions.html", roles=STAFF)
async def staff_auctions(p: PageCtx) -> dict[str, Any]:
    return {"js_text": js_text(p), "section": "auctions"}
