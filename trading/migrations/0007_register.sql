-- The bad-behaviour register (不良行为记录, RULES S1, S2): findings against an organisation
-- or an expert of the pool, each approved by a second person, published, never deleted
-- (revoked with a reason instead). Periods are China dates, both ends inclusive.

CREATE TABLE conduct_findings (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_kind         text NOT NULL CHECK (subject_kind IN ('organisation', 'expert')),
    org_id               bigint REFERENCES organisations (id),
    -- an expert of the pool (experts.expert_id; the experts package's table comes later)
    expert_id            text CHECK (expert_id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    subject_name         text NOT NULL CHECK (length(subject_name) BETWEEN 1 AND 200),
    credit_code          text NOT NULL DEFAULT '' CHECK (length(credit_code) <= 18),
    conduct              text NOT NULL CHECK (length(conduct) BETWEEN 1 AND 2000),
    legal_basis          text NOT NULL CHECK (length(legal_basis) BETWEEN 1 AND 500),
    decision_sha256      text NOT NULL CHECK (decision_sha256 ~ '^[0-9a-f]{64}$'),
    decision_ref         text NOT NULL DEFAULT '' CHECK (length(decision_ref) <= 100),
    starts_on            date NOT NULL,
    ends_on              date NOT NULL,
    state                text NOT NULL CHECK (state IN ('proposed', 'approved', 'revoke_proposed', 'revoked')),
    recorded_by          bigint NOT NULL REFERENCES users (id),
    recorded_at          timestamptz NOT NULL,
    approved_by          bigint REFERENCES users (id),
    approved_at          timestamptz,
    revoke_reason        text CHECK (revoke_reason IS NULL OR length(revoke_reason) BETWEEN 1 AND 2000),
    revoke_requested_by  bigint REFERENCES users (id),
    revoke_requested_at  timestamptz,
    revoked_by           bigint REFERENCES users (id),
    revoked_at           timestamptz,
    version              integer NOT NULL DEFAULT 1,
    CHECK (ends_on >= starts_on),
    CHECK ((subject_kind = 'organisation') = (org_id IS NOT NULL)),
    CHECK ((subject_kind = 'expert') = (expert_id IS NOT NULL)),
    -- four eyes, held by the database too
    CHECK (approved_by IS NULL OR approved_by <> recorded_by),
    CHECK (revoked_by IS NULL OR revoked_by <> revoke_requested_by)
);
CREATE INDEX conduct_findings_org ON conduct_findings (org_id) WHERE org_id IS NOT NULL;
CREATE INDEX conduct_findings_expert ON conduct_findings (expert_id) WHERE expert_id IS NOT NULL;
CREATE INDEX conduct_findings_credit_code ON conduct_findings (credit_code);
CREATE INDEX conduct_findings_live ON conduct_findings (ends_on) WHERE state IN ('approved', 'revoke_proposed');

CREATE TRIGGER conduct_findings_no_delete BEFORE DELETE ON conduct_findings
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER conduct_findings_no_truncate BEFORE TRUNCATE ON conduct_findings
    FOR EACH STATEMENT EXECUTE FUNCTION sunlit_refuse_change();
