-- A panel drawn for a tender (issue 12): the draw names the tender it was requested from.
--
-- ``tender_id`` is the bidding package's tender id, or NULL for a draw requested by a free
-- reference (``tender_ref``) as before. There is no foreign key: the expert package does not
-- depend on the bidding package's tables (the web layer joins them); the record's own
-- ``request.tender_id`` ("tender:<id>") names it inside the hashed, published record too.
-- A tender may have several draws (a short draw is followed by a new one); the latest is its
-- panel.
ALTER TABLE expert_draws ADD COLUMN tender_id bigint;
CREATE INDEX expert_draws_tender_id ON expert_draws (tender_id, id) WHERE tender_id IS NOT NULL;
