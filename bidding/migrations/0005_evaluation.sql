-- The evaluation: the method on the tender (fixed at publication, T16), the control price
-- and the budget (W3), the members' signed score sheets, the panel's below-cost findings
-- (W5), written clarifications (W6), the report and the members' signatures on it (T17).

ALTER TABLE tenders
    ADD COLUMN evaluation_method  text NOT NULL DEFAULT 'lowest_price'
        CHECK (evaluation_method IN ('lowest_price', 'comprehensive')),
    ADD COLUMN criteria           jsonb NOT NULL DEFAULT '[]'::jsonb
        CHECK (jsonb_typeof(criteria) = 'array'),
    ADD COLUMN price_benchmark    text NOT NULL DEFAULT 'lowest'
        CHECK (price_benchmark IN ('lowest', 'mean')),
    ADD COLUMN points_per_percent numeric(5, 2) NOT NULL DEFAULT 1.00
        CHECK (points_per_percent >= 0 AND points_per_percent <= 100),
    ADD COLUMN control_price_fen  bigint CHECK (control_price_fen IS NULL OR control_price_fen > 0),
    ADD COLUMN budget_fen         bigint CHECK (budget_fen IS NULL OR budget_fen > 0),
    ADD COLUMN trim_extremes      boolean NOT NULL DEFAULT false;

-- T16: whatever the code above does, the terms of the evaluation do not change once the
-- tender has left the draft state.
CREATE FUNCTION sunlit_tender_method_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state <> 'draft' AND (
        NEW.evaluation_method IS DISTINCT FROM OLD.evaluation_method
        OR NEW.criteria IS DISTINCT FROM OLD.criteria
        OR NEW.price_benchmark IS DISTINCT FROM OLD.price_benchmark
        OR NEW.points_per_percent IS DISTINCT FROM OLD.points_per_percent
        OR NEW.control_price_fen IS DISTINCT FROM OLD.control_price_fen
        OR NEW.budget_fen IS DISTINCT FROM OLD.budget_fen
        OR NEW.trim_extremes IS DISTINCT FROM OLD.trim_extremes
    ) THEN
        RAISE EXCEPTION 'the evaluation terms of tender % are fixed at publication', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER tenders_method_fixed BEFORE UPDATE ON tenders
    FOR EACH ROW EXECUTE FUNCTION sunlit_tender_method_fixed();

CREATE TABLE evaluations (
    tender_id      bigint PRIMARY KEY REFERENCES tenders (id),
    state          text NOT NULL CHECK (state IN ('evaluating', 'reported', 'concluded')),
    version        integer NOT NULL DEFAULT 1,
    started_by     bigint REFERENCES users (id),
    started_at     timestamptz NOT NULL,
    reported_at    timestamptz,
    concluded_at   timestamptz
);

-- A member's score sheet, as the member signed it with their own registered Ed25519 key.
-- A new revision supersedes the last; nothing is deleted. Void-ness (a replaced member,
-- T19) is decided from the panel when the report is generated, not stored.
CREATE TABLE evaluation_sheets (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tender_id      bigint NOT NULL REFERENCES evaluations (tender_id),
    expert_id      text NOT NULL,
    user_id        bigint NOT NULL REFERENCES users (id),
    revision       integer NOT NULL CHECK (revision >= 1),
    document       text NOT NULL,
    sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    signature      bytea NOT NULL CHECK (length(signature) = 64),
    public_key     bytea NOT NULL CHECK (length(public_key) = 32),
    submitted_at   timestamptz NOT NULL,
    UNIQUE (tender_id, expert_id, revision)
);

CREATE TABLE evaluation_findings (
    tender_id      bigint NOT NULL REFERENCES evaluations (tender_id),
    bid_id         bigint NOT NULL REFERENCES bids (id),
    accepted       boolean NOT NULL,
    reason         text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    expert_id      text NOT NULL,
    recorded_at    timestamptz NOT NULL,
    PRIMARY KEY (tender_id, bid_id)
);

-- W6 (IR 52): asked by the panel in writing; answered in writing by the bidder, never
-- changing the price (there is no price column) or the substance.
CREATE TABLE evaluation_clarifications (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tender_id      bigint NOT NULL REFERENCES evaluations (tender_id),
    bid_id         bigint NOT NULL REFERENCES bids (id),
    org_id         bigint NOT NULL REFERENCES organisations (id),
    question       text NOT NULL CHECK (length(question) BETWEEN 1 AND 2000),
    asked_by       text NOT NULL,
    asked_at       timestamptz NOT NULL,
    answer         text CHECK (answer IS NULL OR length(answer) BETWEEN 1 AND 5000),
    answered_by    bigint REFERENCES users (id),
    answered_at    timestamptz
);
CREATE INDEX evaluation_clarifications_tender ON evaluation_clarifications (tender_id, id);

CREATE TABLE evaluation_reports (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tender_id            bigint NOT NULL UNIQUE REFERENCES evaluations (tender_id),
    document             text NOT NULL,
    sha256               text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    signature            bytea NOT NULL CHECK (length(signature) = 64),
    public_document      text NOT NULL,
    public_signature     bytea NOT NULL CHECK (length(public_signature) = 64),
    key_id               text NOT NULL,
    failed               boolean NOT NULL,
    created_at           timestamptz NOT NULL,
    signing_deadline_at  timestamptz NOT NULL,
    conclusion           text,
    conclusion_signature bytea CHECK (conclusion_signature IS NULL OR length(conclusion_signature) = 64),
    concluded_at         timestamptz
);

CREATE TABLE evaluation_report_signatures (
    report_id      bigint NOT NULL REFERENCES evaluation_reports (id),
    expert_id      text NOT NULL,
    user_id        bigint NOT NULL REFERENCES users (id),
    document       text NOT NULL,
    sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    signature      bytea NOT NULL CHECK (length(signature) = 64),
    public_key     bytea NOT NULL CHECK (length(public_key) = 32),
    dissent        text CHECK (dissent IS NULL OR length(dissent) BETWEEN 1 AND 5000),
    signed_at      timestamptz NOT NULL,
    PRIMARY KEY (report_id, expert_id)
);

-- What is signed is never changed nor deleted.
CREATE TRIGGER evaluation_sheets_append_only BEFORE UPDATE OR DELETE ON evaluation_sheets
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER evaluation_report_signatures_append_only
    BEFORE UPDATE OR DELETE ON evaluation_report_signatures
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER evaluation_reports_never_deleted BEFORE DELETE ON evaluation_reports
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
