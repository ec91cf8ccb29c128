"""Live auctions over HTTP: staff create, schedule, admit, start, pause, resume, close, seal
and reveal the reserve, decide a capped lot; everyone lists lots and reads results; the
winner downloads the confirmation (成交确认书). The stream itself is ``web.auction_ws``.

The engine (``auction.engine``) is a resource of the app: started after the database (it
rebuilds every live lot from its log and recovers from an outage), stopped before it.
Lots open by the timed event ``auction.start``; countdowns run on the engine's own timer.

Layout: ``common`` (app keys, bodies, the route table ``api_auction``), ``lots`` (create,
schedule, admit), ``commands`` (staff commands, bidding over HTTP), ``reading`` (lots,
results, exports) and ``wiring`` (the engine resource and ``setup``). The route modules are
imported here in that order: it is the order of the routes and of the OpenAPI document.
"""

from __future__ import annotations

# isort: off
from web.auction.common import CLUSTER, RESERVE_KEY, api_auction
from web.auction import lots  # noqa: F401  (registers its routes)
from web.auction import commands  # noqa: F401
from web.auction import reading  # noqa: F401
from web.auction.wiring import setup

# isort: on

__all__ = ["CLUSTER", "RESERVE_KEY", "api_auction", "setup"]
