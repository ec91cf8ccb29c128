-- Several server processes over one database (issue 15 items 3-4). Each live lot (and quota
-- session) is owned by the process holding its session-level advisory lock on one of its
-- writer connections; PostgreSQL releases the lock when that connection ends (a killed
-- process's socket closes) and another process takes the lot over. This table is the
-- address book, not the truth: it names the process (node) behind a writer connection's
-- backend pid, so that a command for a lot can be forwarded to its owner (LISTEN channel
-- ``sunlit_node_<node_id>``). Who owns a lot is read from pg_locks and joined here on the
-- backend pid — never from a row that could go stale.
CREATE TABLE auction_nodes (
    node_id        text PRIMARY KEY CHECK (node_id ~ '^[0-9a-f]{16}$'),
    host           text NOT NULL DEFAULT '' CHECK (length(host) <= 200),
    os_pid         integer NOT NULL,
    backend_pids   integer[] NOT NULL DEFAULT '{}',
    started_at     timestamptz NOT NULL,
    beat_at        timestamptz NOT NULL
);
CREATE INDEX auction_nodes_backends ON auction_nodes USING gin (backend_pids);
