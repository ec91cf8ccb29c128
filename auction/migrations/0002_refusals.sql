-- Refused bid ids (issue 16, item 7): a bidder's (paddle, bid_id) that the rules refused is
-- answered with the same refusal for ever, after a restart too — refusals are durable like
-- acceptances. Written by the engine's group-commit writer in the same statement as the
-- events of the same flush; the bidder hears the refusal only once it is here. ``answer``
-- is auction.engine.refusal_to_dict: {code, message_en, message_zh, details}. Append-only.
CREATE TABLE auction_refusals (
    lot_id      bigint NOT NULL REFERENCES auction_lots (id),
    paddle      text NOT NULL,
    bid_id      text NOT NULL,
    amount_fen  bigint NOT NULL,
    at          timestamptz NOT NULL,
    code        text NOT NULL,
    answer      jsonb NOT NULL,
    PRIMARY KEY (lot_id, paddle, bid_id)
);

CREATE TRIGGER auction_refusals_append_only BEFORE UPDATE OR DELETE ON auction_refusals
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER auction_refusals_no_truncate BEFORE TRUNCATE ON auction_refusals
    FOR EACH STATEMENT EXECUTE FUNCTION sunlit_refuse_change();
