-- Refused quota bid ids (issue 17, the optional item): a bidder's (paddle, bid_id) that the
-- quota rules refused is answered with the same refusal for ever, after a restart too —
-- like a lot's (0002_refusals.sql). Written by the quota engine's group-commit writer in
-- the same statement as the events of the same flush; the bidder hears the refusal only
-- once it is here. ``answer`` is auction.lot_log.refusal_to_dict: {code, message_en,
-- message_zh, details}. Append-only.
CREATE TABLE quota_refusals (
    session_id  bigint NOT NULL REFERENCES quota_sessions (id),
    paddle      text NOT NULL,
    bid_id      text NOT NULL,
    amount_fen  bigint NOT NULL,
    at          timestamptz NOT NULL,
    code        text NOT NULL,
    answer      jsonb NOT NULL,
    PRIMARY KEY (session_id, paddle, bid_id)
);

CREATE TRIGGER quota_refusals_append_only BEFORE UPDATE OR DELETE ON quota_refusals
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER quota_refusals_no_truncate BEFORE TRUNCATE ON quota_refusals
    FOR EACH STATEMENT EXECUTE FUNCTION sunlit_refuse_change();
