-- The lottery seed of a capped lot (A8; issue 15 item 5): drawn by the service when the lot
-- is first started, sealed to the server's auction key (the reserve's, a key file outside the
-- database), and committed in the lot's log (``SeedCommitted``: hex SHA-256 of the seed)
-- before ``LotStarted``, so before any bid. The seed leaves the box only for the draw, which
-- publishes it in ``CapResolved.seed_hex``. One seed per lot: a start the rules refuse keeps
-- it for the next start.
CREATE TABLE auction_lottery_seeds (
    lot_id       bigint PRIMARY KEY REFERENCES auction_lots (id),
    commitment   text NOT NULL CHECK (commitment ~ '^[0-9a-f]{64}$'),
    sealed_box   bytea NOT NULL,
    key_id       text NOT NULL,
    created_at   timestamptz NOT NULL
);
