"""Live auctions: land-use rights and licence plates sold by ascending auction, and quota
plates (Shanghai-style).

- ``auction.model``: lots, configuration, state, commands, events, the log's JSON codec;
- ``auction.rules``: the pure, event-sourced state machine of one lot
  (``decide``/``apply``/``rebuild``/``recover``);
- ``auction.quota``: the pure rules of a quota-plate session;
- ``auction.errors``: ``AuctionReason``, ``AuctionRejected``, ``StreamReason``, ``EngineUnavailable``;
- ``auction.protocol``: the websocket protocol without a socket (frames in, operations out);

those are pure: no I/O, no clock, no randomness. On them:

- ``auction.engine``: live lots in memory, one writer, a group-commit log, its own timers;
- ``auction.store``: every SQL statement (``PgLogStore`` for the engine);
- ``auction.service``: the use cases (create, schedule, admit, seal the reserve, settle, results);
- ``auction.reserve``: the sealed reserve price; ``auction.demo``: demo auctions;
- ``auction.testing``: an in-memory store for tests.

The HTTP API and the websocket gateway are ``web.auction`` and ``web.auction_ws``;
``docs/auction.md`` tells the whole story.
"""
