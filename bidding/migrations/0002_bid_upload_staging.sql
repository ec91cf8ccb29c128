-- The staging area of bid uploads: a sealed envelope's chunks as they stream in, each
-- committed on its own (no transaction stays open while the server waits for the client).
-- When the whole envelope is in and inspected, one short transaction moves the chunks into
-- the vault (blob_chunks), writes the bid, its receipt and the audit entry, and deletes the
-- upload's rows here. An upload that is refused, aborted or cut off has its rows deleted at
-- once; one abandoned by a crash is swept once it has been idle longer than
-- `bidding.upload_idle_max_s` (at start and on each new upload).
--
-- What is here: the envelope bytes exactly as the bidder's client sealed them (ciphertext,
-- the same bytes the vault keeps), and who is uploading to which tender. Never plaintext.
--
-- UNLOGGED: staged bytes are disposable by definition, so they are not written to the WAL
-- (the move into blob_chunks is, once); a PostgreSQL crash empties these tables, and the
-- uploads in flight are then refused with `upload_expired` and sent again.

CREATE UNLOGGED TABLE bid_uploads (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tender_id     bigint NOT NULL REFERENCES tenders (id),
    org_id        bigint NOT NULL REFERENCES organisations (id),
    submitted_by  bigint NOT NULL REFERENCES users (id),
    started_at    timestamptz NOT NULL,
    -- the injected clock's reading at the last chunk staged: the sweep's measure of idleness
    touched_at    timestamptz NOT NULL,
    size_bytes    bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    chunk_count   integer NOT NULL DEFAULT 0 CHECK (chunk_count >= 0)
);
CREATE INDEX bid_uploads_touched ON bid_uploads (touched_at);

CREATE UNLOGGED TABLE bid_upload_chunks (
    upload_id     bigint NOT NULL REFERENCES bid_uploads (id) ON DELETE CASCADE,
    seq           integer NOT NULL CHECK (seq >= 0),
    data          bytea NOT NULL,
    PRIMARY KEY (upload_id, seq)
);
-- Ciphertext does not compress (as blob_chunks).
ALTER TABLE bid_upload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
