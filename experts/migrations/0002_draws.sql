-- Panel draws (评标专家抽取): the committed record, the sealed seed, the drawn order, the
-- members called from it, and the outbox of summons messages.
--
-- record_json is the canonical JSON of the committed draw record, byte for byte what is
-- published; its record_hash was written to the audit log before the draw ran. The secret
-- seed is stored AES-GCM sealed (seed_enc) until the result is fixed, then revealed
-- (seed_revealed) — in the row and in the audit log.

CREATE TABLE expert_draws (
    id                  bigint PRIMARY KEY,
    request_id          text NOT NULL UNIQUE,
    tender_ref          text NOT NULL CHECK (tender_ref ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    tenderee_org_id     bigint NOT NULL REFERENCES organisations (id),
    bidder_org_ids      bigint[] NOT NULL DEFAULT '{}',
    supervising_org_ids bigint[] NOT NULL DEFAULT '{}',
    requested_by        bigint NOT NULL REFERENCES users (id),
    status              text NOT NULL CHECK (status IN ('committed', 'drawn', 'full', 'short', 'fixed')),
    pool_version        bigint NOT NULL,
    evaluation_date     date NOT NULL,
    evaluation_time     text NOT NULL CHECK (evaluation_time ~ '^[0-9]{2}:[0-9]{2}$'),
    evaluation_place    text NOT NULL,
    evaluation_days     integer NOT NULL,
    lines               jsonb NOT NULL,   -- [{"line", "code", "count", "reserve", "candidates"}]
    exclusion_count     integer NOT NULL,
    record_json         text NOT NULL,
    record_hash         text NOT NULL UNIQUE CHECK (record_hash ~ '^[0-9a-f]{64}$'),
    seed_enc            bytea NOT NULL,
    seed_revealed       bytea CHECK (seed_revealed IS NULL OR length(seed_revealed) = 32),
    beacon_source       text,
    beacon_round        bigint,
    beacon_value        bytea,
    result              jsonb,
    short_lines         jsonb NOT NULL DEFAULT '[]'::jsonb,
    answer_within_s     integer NOT NULL CHECK (answer_within_s BETWEEN 60 AND 604800),
    committed_at        timestamptz NOT NULL,
    drawn_at            timestamptz,
    fixed_at            timestamptz,
    version             integer NOT NULL DEFAULT 1,
    CHECK ((status = 'committed') = (result IS NULL)),
    CHECK ((status = 'fixed') = (seed_revealed IS NOT NULL))
);
CREATE SEQUENCE expert_draw_id_seq OWNED BY expert_draws.id;
CREATE INDEX expert_draws_tender ON expert_draws (tender_ref);

-- Everyone called from a draw's order, in the order called. ``position`` is the 0-based
-- place in the line's drawn order: 0 … count-1 the panel, then the replacements.
-- A member ``replaced`` after sitting has their scores void (RULES T19): the evaluation
-- reads this status.
CREATE TABLE expert_draw_members (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    draw_id         bigint NOT NULL REFERENCES expert_draws (id),
    line            integer NOT NULL CHECK (line >= 0),
    position        integer NOT NULL CHECK (position >= 0),
    expert_id       text NOT NULL REFERENCES experts (expert_id),
    status          text NOT NULL CHECK (status IN ('summoned', 'confirmed', 'declined',
                                                    'timed_out', 'replaced')),
    called_at       timestamptz NOT NULL,
    answer_due_at   timestamptz NOT NULL,
    answered_at     timestamptz,
    replaced_at     timestamptz,
    reason          text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    token_hash      bytea UNIQUE,
    token_used_at   timestamptz,
    -- for the cooldown and the yearly cap of later draws
    tenderee_code   text NOT NULL,
    drawn_on        date NOT NULL,
    UNIQUE (draw_id, line, position),
    UNIQUE (draw_id, expert_id)
);
CREATE INDEX expert_draw_members_expert ON expert_draw_members (expert_id, drawn_on);

-- The summons outbox: written in the use case's transaction, delivered after it commits
-- (no network inside a transaction). The one-time answer token is minted at delivery and
-- only its hash is kept (on the member row).
CREATE TABLE expert_messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id       bigint NOT NULL REFERENCES expert_draw_members (id),
    kind            text NOT NULL CHECK (kind IN ('summons')),
    params          jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    claimed_at      timestamptz,
    sent_at         timestamptz,
    channel         text,
    provider_ref    text,
    last_error      text
);
CREATE INDEX expert_messages_pending ON expert_messages (id) WHERE status IN ('pending', 'sending');
