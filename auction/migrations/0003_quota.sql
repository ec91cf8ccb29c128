-- Quota-plate sessions (额度拍卖, RULES A9): one session sells ``quota`` identical plates to
-- tens of thousands of bidders. Issue 15 items 1, 2, 5.

-- A session. ``config`` is the rules' configuration (auction.quota_service.config_to_dict);
-- the log replays against it. ``result`` is the
-- result document, written once at the close; the settlement of deposits walks the bidders
-- in org id order from ``settle_cursor`` (resumable) until ``settled_at``.
CREATE TABLE quota_sessions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    config           jsonb NOT NULL,
    deposit_fen      bigint NOT NULL CHECK (deposit_fen >= 0),
    created_by       bigint REFERENCES users (id),
    created_at       timestamptz NOT NULL,
    closed_at        timestamptz,
    result           jsonb,
    settle_cursor    bigint NOT NULL DEFAULT 0,
    settled_at       timestamptz
);
CREATE INDEX quota_sessions_unsettled ON quota_sessions (id) WHERE settled_at IS NULL;

-- A session's log: auction.quota events (bidder_admitted, quota_bid_accepted, quota_closed),
-- gapless seq per session, written only by the quota engine's group-commit writer. Append-only.
CREATE TABLE quota_events (
    session_id  bigint NOT NULL REFERENCES quota_sessions (id),
    seq         integer NOT NULL CHECK (seq > 0),
    at          timestamptz NOT NULL,
    type        text NOT NULL,
    paddle      text,
    bid_id      text,
    data        jsonb NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE UNIQUE INDEX quota_events_bid_id ON quota_events (session_id, paddle, bid_id)
    WHERE bid_id IS NOT NULL;

CREATE TRIGGER quota_events_append_only BEFORE UPDATE OR DELETE ON quota_events
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER quota_events_no_truncate BEFORE TRUNCATE ON quota_events
    FOR EACH STATEMENT EXECUTE FUNCTION sunlit_refuse_change();

-- Applicants (报名): one row per organisation and session. ``paddle`` (竞买号, 8 digits) is
-- given once the ledger confirms the deposit (never a staff flag); ``settlement`` is what the
-- close did with the deposit (converted, refund_due, held, unpaid), written by the chunk
-- that settled this bidder.
CREATE TABLE quota_bidders (
    session_id   bigint NOT NULL REFERENCES quota_sessions (id),
    org_id       bigint NOT NULL REFERENCES organisations (id),
    applied_at   timestamptz NOT NULL,
    paddle       text CHECK (paddle ~ '^[0-9]{8}$'),
    admitted_at  timestamptz,
    settlement   text CHECK (settlement IN ('converted', 'refund_due', 'held', 'unpaid')),
    PRIMARY KEY (session_id, org_id),
    UNIQUE (session_id, paddle)
);
CREATE INDEX quota_bidders_waiting ON quota_bidders (session_id, org_id) WHERE paddle IS NULL;
