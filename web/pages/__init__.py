"""Pages for people: server-rendered (aiohttp-jinja2) in Simplified Chinese or English, whose
small ES-module scripts call the same JSON API and websocket everyone else uses. Nothing here
decides anything; docs/pages.md has the page map, the security model and the i18n workflow.

    web/pages/session.py   cookies (the project's own session token, HttpOnly) and CSRF
    web/pages/render.py    language, user, role check, API sub-requests, templates, CSP
    web/pages/site.py      login, logout, the language switch, home, audit, auctions
    web/pages/public.py    public notices, tender details, auction calendar and results
    web/pages/custodian.py the custodian's key-share hand-in

Modules here are imported lazily by ``setup`` so that ``web.api`` may import
``web.pages.session`` without a cycle.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

PAGE_MODULES: tuple[str, ...] = ("web.pages.site", "web.pages.public", "web.pages.auction", "web.pages.custodian",
                                  "web.pages.staff", "web.pages.expert", "web.pages.supervisor", "web.pages.statistics",
                                  "web.pages.bidder", "web.pages.quota")
"""Modules declaring pages with ``@page``; P2/P3's portals append theirs here."""


def setup(app: Any, api: Any, registry: Any) -> None:
    from web.pages import render
    from web.pages.notfound import html_not_found

    render.setup_envs(app)
    app.on_response_prepare.append(render.security_headers)
    app.middlewares.append(html_not_found)  # an unknown page path: an HTML 404 (not under /api/)
    for name in PAGE_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    seen: set[tuple[str, str]] = set()
    for pg in render.PAGES:
        if (pg.method, pg.path) in seen:
            continue
        seen.add((pg.method, pg.path))
        app.router.add_route(pg.method, pg.path, render.wrap(pg))
    app.router.add_static("/static", render.STATIC_DIR, append_version=True, name="static")
