"""Live auctions: land-use rights and licence plates sold by ascending auction, and quota
plates (Shanghai-style).

- ``auction.model``: lots, configuration, state, commands, events, the log's JSON codec;
- ``auction.rules``: the pure, event-sourced state machine of one lot
  (``decide``/``apply``/``rebuild``/``recover``);
- ``auction.quota``: the pure rules of a quota-plate session;
- ``auction.errors``: ``AuctionReason`` and ``AuctionRejected``.

The engine, its durable log and the websocket gateway are built on these; nothing here
does I/O, reads a clock or draws a random number.
"""
