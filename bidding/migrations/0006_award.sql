-- After the evaluation report: the award procedure of a tender (publicity of the candidates,
-- award, contract, failure and re-tender), objections to the candidates (异议), complaints to
-- the supervisor (投诉), the signed award decisions, and the contract. Savings (节支率) are
-- computed from three integers kept here: budget, control price and award amount.
--
-- Decisions, contracts and passed-over candidates are history: never updated, never deleted
-- (a declined award records its decline in its own columns, once).

CREATE TABLE award_procedures (
    tender_id              bigint PRIMARY KEY REFERENCES tenders (id),
    state                  text NOT NULL CHECK (state IN ('concluded', 'publicity', 'awarded',
                                                          'contracted', 'failed')),
    version                integer NOT NULL DEFAULT 1,
    report_id              bigint,
    concluded_at           timestamptz NOT NULL,
    candidates             jsonb NOT NULL CHECK (jsonb_typeof(candidates) = 'array'
                                                 AND jsonb_array_length(candidates) <= 3),
    rejected               jsonb NOT NULL DEFAULT '[]',
    publicity_due_at       timestamptz NOT NULL,
    publicity_published_at timestamptz,
    publicity_ends_at      timestamptz,
    publicity_notice_id    bigint,
    award_id               bigint,
    awarded_rank           integer,
    awarded_at             timestamptz,
    contract_due_at        timestamptz,
    budget_fen             bigint CHECK (budget_fen IS NULL OR budget_fen > 0),
    control_price_fen      bigint CHECK (control_price_fen IS NULL OR control_price_fen > 0),
    award_fen              bigint CHECK (award_fen IS NULL OR award_fen >= 0),
    failed_at              timestamptz,
    failure_reason         text,
    retender_id            bigint REFERENCES tenders (id),
    created_at             timestamptz NOT NULL,
    CHECK (publicity_ends_at IS NULL OR publicity_ends_at >= publicity_published_at + interval '3 days'),
    CHECK (state <> 'awarded' OR (award_id IS NOT NULL AND awarded_at IS NOT NULL)),
    CHECK (state <> 'failed' OR failed_at IS NOT NULL)
);
CREATE INDEX award_procedures_state ON award_procedures (state);

-- Candidates passed over (W8): why, by whom, when.
CREATE TABLE award_passed_over (
    tender_id     bigint NOT NULL REFERENCES award_procedures (tender_id),
    rank          integer NOT NULL CHECK (rank BETWEEN 1 AND 3),
    org_id        bigint NOT NULL REFERENCES organisations (id),
    reason        text NOT NULL CHECK (reason IN ('gave_up', 'cannot_perform', 'ineligible')),
    note          text NOT NULL CHECK (length(note) BETWEEN 1 AND 2000),
    decided_by    bigint REFERENCES users (id),
    decided_at    timestamptz NOT NULL,
    PRIMARY KEY (tender_id, rank)
);

-- Each award made (W9): the signed award notice; a later decline is recorded once.
CREATE TABLE award_decisions (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tender_id         bigint NOT NULL REFERENCES award_procedures (tender_id),
    rank              integer NOT NULL CHECK (rank BETWEEN 1 AND 3),
    bid_id            bigint NOT NULL REFERENCES bids (id),
    org_id            bigint NOT NULL REFERENCES organisations (id),
    price_fen         bigint NOT NULL CHECK (price_fen >= 0),
    reason            text CHECK (reason IS NULL OR reason IN ('gave_up', 'cannot_perform', 'ineligible')),
    note              text NOT NULL DEFAULT '',
    awarded_by        bigint REFERENCES users (id),
    awarded_at        timestamptz NOT NULL,
    document          text NOT NULL,
    signature         bytea NOT NULL CHECK (length(signature) = 64),
    key_id            text NOT NULL,
    public_notice_id  bigint,
    declined_at       timestamptz,
    decline_reason    text CHECK (decline_reason IS NULL OR decline_reason IN ('gave_up', 'cannot_perform', 'ineligible')),
    decline_note      text,
    forfeit_requested boolean NOT NULL DEFAULT false,
    CHECK ((declined_at IS NULL) = (decline_reason IS NULL))
);
CREATE UNIQUE INDEX award_decisions_one_live ON award_decisions (tender_id) WHERE declined_at IS NULL;

CREATE TABLE award_contracts (
    tender_id     bigint PRIMARY KEY REFERENCES award_procedures (tender_id),
    award_id      bigint NOT NULL UNIQUE REFERENCES award_decisions (id),
    org_id        bigint NOT NULL REFERENCES organisations (id),
    amount_fen    bigint NOT NULL CHECK (amount_fen >= 0),
    -- W11 (IR 58): the bond is at most 10 % of the contract price, whatever the code says
    bond_fen      bigint NOT NULL CHECK (bond_fen >= 0 AND bond_fen * 10 <= amount_fen),
    signed_at     timestamptz NOT NULL,
    recorded_by   bigint REFERENCES users (id),
    recorded_at   timestamptz NOT NULL,
    late          boolean NOT NULL
);

CREATE TABLE award_objections (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tender_id     bigint NOT NULL REFERENCES award_procedures (tender_id),
    org_id        bigint NOT NULL REFERENCES organisations (id),
    submitted_by  bigint NOT NULL REFERENCES users (id),
    text          text NOT NULL CHECK (length(text) BETWEEN 1 AND 10000),
    received_at   timestamptz NOT NULL,
    answer_due_at timestamptz NOT NULL,
    answer        text CHECK (answer IS NULL OR length(answer) BETWEEN 1 AND 10000),
    answered_by   bigint REFERENCES users (id),
    answered_at   timestamptz,
    CHECK ((answer IS NULL) = (answered_at IS NULL))
);
CREATE INDEX award_objections_open ON award_objections (tender_id) WHERE answered_at IS NULL;

CREATE TABLE award_complaints (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tender_id       bigint NOT NULL REFERENCES award_procedures (tender_id),
    org_id          bigint NOT NULL REFERENCES organisations (id),
    submitted_by    bigint NOT NULL REFERENCES users (id),
    text            text NOT NULL CHECK (length(text) BETWEEN 1 AND 10000),
    known_at        timestamptz NOT NULL,
    received_at     timestamptz NOT NULL,
    accept_due_at   timestamptz NOT NULL,
    state           text NOT NULL CHECK (state IN ('received', 'accepted', 'refused', 'decided')),
    suspends_award  boolean NOT NULL DEFAULT false,
    accepted_at     timestamptz,
    decide_due_at   timestamptz,
    refused_at      timestamptz,
    decided_at      timestamptz,
    outcome         text CHECK (outcome IS NULL OR outcome IN ('upheld', 'dismissed')),
    note            text,
    acted_by        bigint REFERENCES users (id),
    CHECK (known_at <= received_at)
);
CREATE INDEX award_complaints_tender ON award_complaints (tender_id, state);

CREATE TRIGGER award_passed_over_append_only BEFORE UPDATE OR DELETE ON award_passed_over
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER award_contracts_append_only BEFORE UPDATE OR DELETE ON award_contracts
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER award_decisions_never_deleted BEFORE DELETE ON award_decisions
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
