"""The supervisor console (监督): read-only apart from supervision acts.

    /supervisor             the audit log newest first, filtered and paged; verify the chain
    /supervisor/alerts      supervision alerts; acknowledge one (where the supervision API is)
    /supervisor/ledger      the deposit ledger's trial balance
    /supervisor/complaints  complaints about a tender's result: accept, refuse, decide

Statistics and the bad-behaviour register have their slots in the console's menu (their
pages belong to the supervision work).
"""

from __future__ import annotations

from typing import Any

from trading.context import Role
from web.pages.consoles import js_text
from web.pages.render import N_, PageCtx, page

SUPERVISOR = {Role.SUPERVISOR}

MENU: tuple[tuple[str, str], ...] = (
    ("/supervisor", N_("Audit log")),
    ("/supervisor/alerts", N_("Alerts")),
    ("/supervisor/ledger", N_("Trial balance")),
    ("/supervisor/complaints", N_("Complaints")),
    ("/public/statistics", N_("Statistics")),
    ("/public/bad-behaviour", N_("Bad-behaviour register")),
)


def _ctx(p: PageCtx) -> dict[str, Any]:
    return {"js_text": js_text(p), "console_menu": MENU}


@page("/supervisor", "supervisor/audit.html", roles=SUPERVISOR)
async def supervisor_home(p: PageCtx) -> dict[str, Any]:
    return _ctx(p)


@page("/supervisor/alerts", "supervisor/alerts.html", roles=SUPERVISOR)
async def supervisor_alerts(p: PageCtx) -> dict[str, Any]:
    return _ctx(p)


@page("/supervisor/ledger", "supervisor/ledger.html", roles=SUPERVISOR)
async def supervisor_ledger(p: PageCtx) -> dict[str, Any]:
    return _ctx(p)


@page("/supervisor/complaints", "supervisor/complaints.html", roles=SUPERVISOR)
async def supervisor_complaints(p: PageCtx) -> dict[str, Any]:
    return _ctx(p)
