-- Deposit admission flags: until the ledger confirms a deposit, staff may record that a
-- bidder's deposit (or guarantee) is confirmed for a project, with a note.
CREATE TABLE admission_flags (
    org_id        bigint NOT NULL REFERENCES organisations (id),
    project_ref   text NOT NULL CHECK (project_ref ~ '^[a-z_]+:[0-9]+$'),
    confirmed_by  bigint NOT NULL REFERENCES users (id),
    confirmed_at  timestamptz NOT NULL,
    note          text NOT NULL DEFAULT '',
    PRIMARY KEY (org_id, project_ref)
);
