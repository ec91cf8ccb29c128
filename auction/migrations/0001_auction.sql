-- Live auctions: sessions of plate lots, lots, each lot's append-only event log, paddles
-- (竞买号) per admission scope, sealed reserve prices, and the engine's heartbeat.

-- A plate session: many plate lots with one common start.
CREATE TABLE auction_sessions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    starts_at     timestamptz NOT NULL,
    countdown_s   integer NOT NULL CHECK (countdown_s > 0),
    status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'scheduled')),
    created_by    bigint REFERENCES users (id),
    created_at    timestamptz NOT NULL,
    scheduled_at  timestamptz
);

-- A lot. ``config`` is auction.model.config_to_dict (lot_id = this id as text); the rules
-- replay its log against it. The result columns are written once, when the close is settled.
CREATE TABLE auction_lots (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id     bigint REFERENCES auction_sessions (id),
    kind           text NOT NULL CHECK (kind IN ('land', 'plate')),
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description    text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    config         jsonb NOT NULL,
    status         text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'scheduled', 'closed')),
    created_by     bigint REFERENCES users (id),
    created_at     timestamptz NOT NULL,
    scheduled_at   timestamptz,
    outcome        text CHECK (outcome IN ('sold', 'no_sale', 'cancelled')),
    basis          text,
    winner_paddle  text,
    winner_org_id  bigint REFERENCES organisations (id),
    price_fen      bigint CHECK (price_fen > 0),
    reserve_fen    bigint CHECK (reserve_fen > 0),
    closed_at      timestamptz,
    settled_at     timestamptz,
    CHECK ((kind = 'plate') = (session_id IS NOT NULL))
);
CREATE INDEX auction_lots_session ON auction_lots (session_id, id);
CREATE INDEX auction_lots_unsettled ON auction_lots (id) WHERE settled_at IS NULL;

-- Each lot's log: the events of auction.model, gapless seq per lot, written only by the
-- engine's group-commit writer (many rows per INSERT). Append-only.
CREATE TABLE auction_events (
    lot_id    bigint NOT NULL REFERENCES auction_lots (id),
    seq       integer NOT NULL CHECK (seq > 0),
    at        timestamptz NOT NULL,
    type      text NOT NULL,
    public    boolean NOT NULL,
    paddle    text,
    bid_id    text,
    data      jsonb NOT NULL,
    PRIMARY KEY (lot_id, seq)
);
-- A bidder's bid id is used once per lot: the engine answers a repeat with the first answer.
CREATE UNIQUE INDEX auction_events_bid_id ON auction_events (lot_id, paddle, bid_id) WHERE bid_id IS NOT NULL;

CREATE TRIGGER auction_events_append_only BEFORE UPDATE OR DELETE ON auction_events
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER auction_events_no_truncate BEFORE TRUNCATE ON auction_events
    FOR EACH STATEMENT EXECUTE FUNCTION sunlit_refuse_change();

-- Paddles (竞买号): one per organisation per admission scope ('lot:<id>' for a land lot,
-- 'session:<id>' for a plate session), given only once the deposit is confirmed (A6).
-- Who holds which paddle is shown to staff at the close and to the public in the result.
CREATE TABLE auction_paddles (
    scope        text NOT NULL CHECK (scope ~ '^(lot|session):[0-9]+$'),
    org_id       bigint NOT NULL REFERENCES organisations (id),
    paddle       text NOT NULL CHECK (paddle ~ '^[0-9]{6}$'),
    admitted_at  timestamptz NOT NULL,
    admitted_by  bigint REFERENCES users (id),
    PRIMARY KEY (scope, org_id),
    UNIQUE (scope, paddle)
);

-- Reserve prices (底价), sealed: the amount and the salt of its commitment, encrypted to the
-- server's reserve key (a key file outside the database). The lot's log names the one that
-- counts (ReserveSealed carries its commitment); an entry the log refused stays unused. The
-- salt is published with the result so anyone can check the commitment.
CREATE TABLE auction_reserves (
    lot_id         bigint NOT NULL REFERENCES auction_lots (id),
    commitment     text NOT NULL CHECK (commitment ~ '^[0-9a-f]{64}$'),
    sealed_box     bytea NOT NULL,
    key_id         text NOT NULL,
    entered_by     bigint REFERENCES users (id),
    entered_at     timestamptz NOT NULL,
    revealed_at    timestamptz,
    revealed_fen   bigint,
    revealed_salt  bytea,
    PRIMARY KEY (lot_id, commitment)
);

-- The engine's heartbeat: after a crash, the last beat is when the outage began.
CREATE TABLE auction_engine (
    id        smallint PRIMARY KEY CHECK (id = 1),
    beat_at   timestamptz NOT NULL
);
