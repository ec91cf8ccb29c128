"""Live auctions: land-use rights and licence plates sold by ascending auction, and quota
plates (Shanghai-style).

- ``auction.model``: lots, configuration, state, commands, events, the log's JSON codec;
- ``auction.rules``: the pure, event-sourced state machine of one lot
  (``decide``/``apply``/``rebuild``/``recover``);
- ``auction.quota``: the pure rules of a quota-plate session;
- ``auction.errors``: ``AuctionReason``, ``AuctionRejected``, ``StreamReason``, ``EngineUnavailable``;
- ``auction.protocol``: the websocket protocol without a socket (frames in, operations out);

those are pure: no I/O, no clock, no randomness. On them:

- ``auction.engine``: live lots in memory, one writer, a group-commit log, its own timers —
  one ``Engine`` with collaborators it owns (not base classes): ``auction.writer`` (the
  group-commit writer, shared with the quota engine), ``auction.timers``,
  ``auction.following`` (claims, forwarding to the owner, catch-up, takeover),
  ``auction.fanout`` (watchers, resume), ``auction.bid_ids`` (each bid id's one answer),
  ``auction.admissions``; ``auction.lot_log``: the log's rows and the store's interface;
- ``auction.quota_engine``, ``auction.quota_store``, ``auction.quota_service``: quota sessions;
- ``auction.ownership``: several processes over one database (``Cluster``, ``QuotaRouter``);
- ``auction.store``: every SQL statement (``PgLogStore`` for the engine);
- ``auction.service``: the use cases (create, schedule, admit, seal the reserve, the
  custodians' shares, settle, results);
- ``auction.reserve`` (and ``auction.reserve_store``): the sealed reserve price and its key
  split among custodians; ``auction.deposits``: the deposits through the ledger;
  ``auction.verify``: the offline replay of an exported log; ``auction.demo``: demo auctions;
- ``auction.testing``: an in-memory store for tests.

The HTTP API and the websocket gateway are ``web.auction`` and ``web.auction_ws``;
``docs/auction.md`` tells the whole story.
"""
