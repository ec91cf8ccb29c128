"""An HTML 404 page for an unknown page path, in the reader's language (issue 13: pages for
people). Under ``/api/`` (and for ``/static/`` files and every method but GET and HEAD) an
unknown path stays the API's problem+json, which ``web.app``'s middleware writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from web.pages.render import N_, open_ctx

NOT_FOUND_TEXT = N_("There is no page at this address; check the link, or start from the home page.")
KEEP_PROBLEM = ("/api/", "/static/")


@web.middleware
async def html_not_found(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if request.method not in ("GET", "HEAD") or request.path.startswith(KEEP_PROBLEM):
            raise
        p = await open_ctx(request)
        return p.render("error.html", {"status": 404, "code": "page_not_found", "message": p._(NOT_FOUND_TEXT),
                                       "home_link": True}, status=404)
