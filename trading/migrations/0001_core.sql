-- The shared core: parties, users and sessions, the audit log, timed events, server keys.

CREATE TABLE organisations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind          text NOT NULL CHECK (kind IN ('centre', 'tenderee', 'agency', 'bidder',
                                               'supervisor_dept', 'bank', 'other')),
    credit_code   text NOT NULL UNIQUE CHECK (credit_code ~ '^[0-9A-HJ-NPQRTUWXY]{18}$'),
    region        text NOT NULL DEFAULT '',
    platform_affiliate boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL
);

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9_.-]{2,39}$'),
    full_name     text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 100),
    role          text NOT NULL CHECK (role IN ('bidder', 'staff', 'expert', 'supervisor',
                                               'custodian', 'admin')),
    org_id        bigint REFERENCES organisations (id),
    password_hash text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL
);

CREATE TABLE sessions (
    token_hash    bytea PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Public signing keys (Ed25519) registered by a party; they identify what it submits.
CREATE TABLE party_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id        bigint REFERENCES organisations (id),
    user_id       bigint NOT NULL REFERENCES users (id),
    algorithm     text NOT NULL CHECK (algorithm IN ('ed25519', 'x25519')),
    public_key    bytea NOT NULL CHECK (length(public_key) = 32),
    label         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    UNIQUE (algorithm, public_key)
);

-- The server's own signing keys (public halves only; the private key stays in the data dir).
CREATE TABLE server_keys (
    key_id        text PRIMARY KEY,
    public_key    bytea NOT NULL CHECK (length(public_key) = 32),
    created_at    timestamptz NOT NULL
);

-- The audit log: append-only, hash-chained. seq is assigned under a lock as last + 1, so a gap
-- means a removed entry.
CREATE TABLE audit_log (
    seq            bigint PRIMARY KEY,
    at             timestamptz NOT NULL,
    actor_user_id  bigint,
    actor_name     text NOT NULL,
    actor_role     text NOT NULL,
    actor_org_id   bigint,
    action         text NOT NULL,
    object_type    text NOT NULL,
    object_id      text NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    client_addr    text NOT NULL DEFAULT '',
    request_id     text NOT NULL DEFAULT '',
    payload_digest text NOT NULL,
    detail         jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash      text NOT NULL,
    hash           text NOT NULL UNIQUE
);
CREATE INDEX audit_object ON audit_log (object_type, object_id, seq);
CREATE INDEX audit_actor ON audit_log (actor_user_id, seq);
CREATE INDEX audit_at ON audit_log (at);

CREATE TABLE audit_checkpoints (
    seq           bigint PRIMARY KEY,
    head_hash     text NOT NULL,
    signed_at     timestamptz NOT NULL,
    key_id        text NOT NULL REFERENCES server_keys (key_id),
    signature     bytea NOT NULL CHECK (length(signature) = 64)
);

CREATE FUNCTION sunlit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();

-- Timed events: PostgreSQL holds every scheduled time; the scheduler only wakes them.
CREATE TABLE timed_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL,
    ref           text NOT NULL,
    due_at        timestamptz NOT NULL,
    payload       jsonb NOT NULL DEFAULT '{}'::jsonb,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'done', 'failed', 'cancelled')),
    created_at    timestamptz NOT NULL,
    ran_at        timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
CREATE UNIQUE INDEX timed_events_one_pending ON timed_events (kind, ref) WHERE status = 'pending';
CREATE INDEX timed_events_due ON timed_events (due_at) WHERE status = 'pending';

CREATE FUNCTION sunlit_timed_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sunlit_timed_events', NEW.id::text);
    RETURN NEW;
END $$;
CREATE TRIGGER timed_events_notify AFTER INSERT ON timed_events
    FOR EACH ROW EXECUTE FUNCTION sunlit_timed_event_notify();

-- Supervision alerts (电子监察): raised by any package, read by supervisors.
CREATE TABLE alerts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL,
    severity      text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    object_type   text NOT NULL,
    object_id     text NOT NULL,
    message_en    text NOT NULL,
    message_zh    text NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}'::jsonb,
    raised_at     timestamptz NOT NULL,
    dedup_key     text UNIQUE
);

-- Notices to parties (deadline changes, summons, …); a channel delivers them.
CREATE TABLE notices (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id        bigint REFERENCES organisations (id),
    user_id       bigint REFERENCES users (id),
    subject       text NOT NULL,
    body          text NOT NULL,
    object_type   text NOT NULL DEFAULT '',
    object_id     text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL
);
CREATE INDEX notices_org ON notices (org_id, id);
