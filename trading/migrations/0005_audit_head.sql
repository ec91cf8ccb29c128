-- Signed heads of the audit chain (issue 16, item 4). The server signs (seq, head hash,
-- signed_at) within a second of appends, at start and at shutdown, and keeps each signed head
-- here and in <data dir>/audit/head.json. An edit re-hashed after the last checkpoint, or a
-- truncated tail, no longer matches a signed head. Append-only like the log itself; a
-- truncation of audit_log does not touch this table (and the file is outside the database).
CREATE TABLE audit_heads (
    seq           bigint PRIMARY KEY,
    head_hash     text NOT NULL,
    signed_at     timestamptz NOT NULL,
    key_id        text NOT NULL REFERENCES server_keys (key_id),
    signature     bytea NOT NULL CHECK (length(signature) = 64)
);

CREATE TRIGGER audit_heads_append_only BEFORE UPDATE OR DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION sunlit_refuse_change();
