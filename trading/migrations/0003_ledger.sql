-- The deposit ledger (保证金账簿): double-entry accounts and transfers, deposits, the bank's
-- messages, suspense, payouts and reconciliations. See trading/ledger/ and docs/ledger.md.
--
-- The rules live in Python (trading/ledger/rules.py); the constraints below repeat the ones a
-- bug could break so that the database itself refuses a wrong balance.

-- Accounts with their four running sums (fen). The sums are a cache of the transfers: the
-- journal (ledger_transfers) explains every one of them.
CREATE TABLE ledger_accounts (
    id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._:/-]{1,128}$'),
    kind            text NOT NULL CHECK (kind IN ('bank', 'deposit_held', 'refunds_payable', 'forfeited',
                                                  'price_receivable', 'interest_expense', 'suspense')),
    project_id      text,
    bidder_id       text,
    debits_pending  bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted   bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted  bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    created_at      timestamptz NOT NULL,
    CONSTRAINT ledger_deposit_account_has_owner
        CHECK (kind <> 'deposit_held' OR (project_id IS NOT NULL AND bidder_id IS NOT NULL)),
    -- AccountFlags by kind (model._KIND_FLAGS): these may never be debited beyond their credits
    CONSTRAINT ledger_debits_must_not_exceed_credits
        CHECK (kind NOT IN ('deposit_held', 'refunds_payable', 'forfeited', 'suspense')
               OR debits_pending + debits_posted <= credits_posted),
    CONSTRAINT ledger_credits_must_not_exceed_debits
        CHECK (kind <> 'interest_expense' OR credits_pending + credits_posted <= debits_posted)
);

-- Transfers: append-only. A post or void names its pending transfer; UNIQUE (pending_id) makes
-- "settled exactly once" a fact the database enforces.
CREATE TABLE ledger_transfers (
    seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                text NOT NULL UNIQUE CHECK (id ~ '^[A-Za-z0-9._:/-]{1,128}$'),
    debit_account_id  text NOT NULL REFERENCES ledger_accounts (id),
    credit_account_id text NOT NULL REFERENCES ledger_accounts (id),
    amount_fen        bigint NOT NULL CHECK (amount_fen > 0 AND amount_fen <= 1000000000000000),
    code              text NOT NULL,
    flags             integer NOT NULL CHECK (flags >= 0),
    pending_id        text UNIQUE REFERENCES ledger_transfers (id),
    reference         text NOT NULL DEFAULT '' CHECK (length(reference) <= 256),
    created_at        timestamptz NOT NULL,
    CHECK (debit_account_id <> credit_account_id),
    CHECK ((pending_id IS NULL) = (flags & 12 = 0))  -- POST_PENDING (4) or VOID_PENDING (8)
);
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account_id, seq);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account_id, seq);

CREATE TRIGGER ledger_transfers_append_only BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION sunlit_refuse_change();
CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION sunlit_refuse_change();

-- Failures that depend on the ledger's state, recorded so that a retry of the same id gets the
-- same first answer (TigerBeetle's idempotency).
CREATE TABLE ledger_transfer_failures (
    id                text PRIMARY KEY,
    debit_account_id  text NOT NULL,
    credit_account_id text NOT NULL,
    amount_fen        bigint NOT NULL,
    code              text NOT NULL,
    flags             integer NOT NULL,
    pending_id        text,
    reference         text NOT NULL,
    result            text NOT NULL,
    created_at        timestamptz NOT NULL
);

-- Deposit terms per project ("tender:12", "lot:7"). project_no is part of each sub-account number.
CREATE SEQUENCE ledger_project_no_seq MINVALUE 1 MAXVALUE 999999;
CREATE TABLE ledger_projects (
    project_id         text PRIMARY KEY CHECK (project_id ~ '^[A-Za-z0-9._:/-]{1,128}$'),
    project_no         integer NOT NULL UNIQUE CHECK (project_no >= 0 AND project_no < 1000000),
    kind               text NOT NULL CHECK (kind IN ('tender', 'auction')),
    required_fen       bigint NOT NULL CHECK (required_fen > 0),
    deadline_at        timestamptz NOT NULL,
    opening_at         timestamptz,
    interest_rate_bp   integer NOT NULL CHECK (interest_rate_bp BETWEEN 0 AND 10000),
    accept_guarantees  boolean NOT NULL,
    estimate_fen       bigint,
    works              boolean NOT NULL,
    starting_price_fen bigint,
    land               boolean NOT NULL,
    created_at         timestamptz NOT NULL
);

-- One deposit per (bidder, project): the aggregate the lifecycle drives; version for optimistic
-- concurrency, the row lock (FOR UPDATE) for use cases.
CREATE TABLE ledger_deposits (
    no                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    project_id         text NOT NULL REFERENCES ledger_projects (project_id),
    bidder_id          text NOT NULL,
    bidder_no          integer NOT NULL CHECK (bidder_no >= 0),
    sub_account        text NOT NULL UNIQUE,
    account_id         text NOT NULL UNIQUE REFERENCES ledger_accounts (id),
    state              text NOT NULL CHECK (state IN ('awaiting', 'confirmed', 'refund_pending', 'refunded',
                                                      'forfeit_pending', 'forfeited', 'converted')),
    form               text CHECK (form IN ('cash', 'guarantee')),
    amount_fen         bigint NOT NULL DEFAULT 0 CHECK (amount_fen >= 0),
    bank_ref           text,
    payer_account      text,
    payer_account_norm text,
    payer_name         text,
    received_at        timestamptz,
    guarantee          jsonb,
    refund_cause       text,
    refund_due_on      date,
    interest_fen       bigint NOT NULL DEFAULT 0 CHECK (interest_fen >= 0),
    payout_id          text,
    forfeit            jsonb,
    version            integer NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (project_id, bidder_id),
    UNIQUE (project_id, bidder_no)
);
CREATE INDEX ledger_deposits_payer ON ledger_deposits (payer_account_norm) WHERE payer_account_norm IS NOT NULL;
CREATE INDEX ledger_deposits_refund_due ON ledger_deposits (refund_due_on) WHERE state = 'refund_pending';

CREATE TABLE ledger_guarantees (
    ref        text PRIMARY KEY,
    project_id text NOT NULL,
    bidder_id  text NOT NULL
);

-- The bank: its public keys, the last message number, every message (keyed by the bank's
-- reference of the movement) with the outcome it had, and the movements of the bank account.
CREATE TABLE ledger_bank_keys (
    key_id      text PRIMARY KEY,
    public_key  bytea NOT NULL UNIQUE CHECK (length(public_key) = 32),
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

CREATE TABLE ledger_bank_state (
    id        integer PRIMARY KEY CHECK (id = 1),
    last_seq  bigint NOT NULL CHECK (last_seq >= 0)
);
INSERT INTO ledger_bank_state (id, last_seq) VALUES (1, 0);

CREATE TABLE ledger_notifications (
    bank_ref      text PRIMARY KEY,
    seq           bigint NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('credit', 'reversal')),
    sub_account   text NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    value_at      timestamptz NOT NULL,
    payer_account text NOT NULL,
    payer_name    text NOT NULL,
    reverses_ref  text,
    signature     bytea NOT NULL,
    outcome       jsonb NOT NULL,
    received_at   timestamptz NOT NULL
);

CREATE TABLE ledger_bank_movements (
    transfer_id text PRIMARY KEY REFERENCES ledger_transfers (id),
    bank_ref    text NOT NULL,
    amount_fen  bigint NOT NULL CHECK (amount_fen <> 0),
    value_on    date NOT NULL
);
CREATE INDEX ledger_bank_movements_value_on ON ledger_bank_movements (value_on);

-- Money that matched nothing, until it is returned or reversed.
CREATE TABLE ledger_suspense (
    no            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    bank_ref      text PRIMARY KEY,
    reason        text NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    sub_account   text NOT NULL,
    payer_account text NOT NULL,
    payer_name    text NOT NULL,
    value_at      timestamptz NOT NULL,
    state         text NOT NULL CHECK (state IN ('open', 'return_pending', 'returned', 'reversed')),
    payout_id     text,
    created_at    timestamptz NOT NULL
);

-- Refund instructions (one line of a bank batch each), backed by a pending PAYOUT transfer of
-- the same id.
CREATE TABLE ledger_refund_batches (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    lines       integer NOT NULL,
    total_fen   bigint NOT NULL
);

CREATE TABLE ledger_payouts (
    no            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id            text PRIMARY KEY REFERENCES ledger_transfers (id),
    purpose       text NOT NULL CHECK (purpose IN ('deposit_refund', 'suspense_return')),
    payee_account text NOT NULL,
    payee_name    text NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    due_on        date NOT NULL,
    project_id    text,
    bidder_id     text,
    source_ref    text,
    state         text NOT NULL CHECK (state IN ('pending', 'posted', 'voided')),
    bank_ref      text,
    batch_id      bigint REFERENCES ledger_refund_batches (id),
    created_at    timestamptz NOT NULL,
    settled_at    timestamptz
);
CREATE INDEX ledger_payouts_unbatched ON ledger_payouts (no) WHERE state = 'pending' AND batch_id IS NULL;

-- Use cases keyed by a client-chosen command id: the same command again answers the first
-- answer; the same id for something else is refused.
CREATE TABLE ledger_commands (
    command_id  text PRIMARY KEY,
    fingerprint text NOT NULL,
    answer      jsonb NOT NULL,
    created_at  timestamptz NOT NULL
);

-- Days that differ from Monday-to-Friday (public holidays, adjusted working days 调休).
CREATE TABLE ledger_calendar_days (
    day      date PRIMARY KEY,
    working  boolean NOT NULL,
    note     text NOT NULL DEFAULT ''
);

-- Each imported bank statement and what reconciling it found.
CREATE TABLE ledger_reconciliations (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    statement_sha256  text NOT NULL,
    from_on           date,
    to_on             date,
    lines             integer NOT NULL,
    matched           integer NOT NULL,
    differences       integer NOT NULL,
    missing_in_ledger integer NOT NULL,
    missing_in_bank   integer NOT NULL,
    to_suspense_fen   bigint NOT NULL,
    report            jsonb NOT NULL,
    imported_at       timestamptz NOT NULL,
    imported_by       text NOT NULL
);
