-- Statistics (RULES S5; docs/statistics.md): each closed trade once (stat_trades, the
-- roll-up's idempotency key and the per-tender chart), and the monthly aggregates a request
-- sums instead of scanning trades. Written only by trading.statistics.store.record_trades
-- (and the deposits roll-up); amounts in fen.

CREATE TABLE stat_trades (
    trade_ref    text PRIMARY KEY CHECK (length(trade_ref) BETWEEN 1 AND 100),
    category     text NOT NULL CHECK (category IN ('construction', 'procurement', 'land', 'plates', 'other')),
    kind         text NOT NULL CHECK (kind IN ('sale', 'purchase')),
    outcome      text NOT NULL CHECK (outcome IN ('done', 'failed')),
    closed_on    date NOT NULL,
    region       text NOT NULL DEFAULT '' CHECK (length(region) <= 20),
    amount_fen   bigint NOT NULL DEFAULT 0 CHECK (amount_fen >= 0),
    start_fen    bigint CHECK (start_fen IS NULL OR start_fen > 0),
    budget_fen   bigint CHECK (budget_fen IS NULL OR budget_fen > 0),
    recorded_at  timestamptz NOT NULL
);
CREATE INDEX stat_trades_kind_closed ON stat_trades (kind, closed_on DESC);

CREATE TABLE stat_month (
    month              date NOT NULL CHECK (extract(day FROM month) = 1),
    category           text NOT NULL,
    region             text NOT NULL,
    trades             bigint NOT NULL DEFAULT 0,
    amount_fen         numeric(38, 0) NOT NULL DEFAULT 0,
    failed             bigint NOT NULL DEFAULT 0,
    sales              bigint NOT NULL DEFAULT 0,
    sale_start_fen     numeric(38, 0) NOT NULL DEFAULT 0,
    sale_final_fen     numeric(38, 0) NOT NULL DEFAULT 0,
    premium_sum        numeric(40, 12) NOT NULL DEFAULT 0,
    premium_max        numeric(40, 12),
    purchases          bigint NOT NULL DEFAULT 0,
    budgeted           bigint NOT NULL DEFAULT 0,
    budget_fen         numeric(38, 0) NOT NULL DEFAULT 0,
    budgeted_award_fen numeric(38, 0) NOT NULL DEFAULT 0,
    PRIMARY KEY (month, category, region)
);

CREATE TABLE stat_premium_hist (
    month     date NOT NULL,
    category  text NOT NULL,
    region    text NOT NULL,
    bucket    integer NOT NULL CHECK (bucket BETWEEN -10 AND 30),
    lots      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (month, category, region, bucket)
);

-- Deposits by the month of their refund or forfeiture, and the ones held now (month NULL is
-- not allowed in a key: held deposits sit under '0001-01-01'); rebuilt by the timed roll-up.
CREATE TABLE stat_deposits (
    month        date NOT NULL,
    state        text NOT NULL CHECK (state IN ('held', 'refunded_on_time', 'refunded_late', 'forfeited')),
    deposits     bigint NOT NULL,
    amount_fen   numeric(38, 0) NOT NULL,
    PRIMARY KEY (month, state)
);

CREATE TABLE stat_rollup (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    rolled_at    timestamptz
);
INSERT INTO stat_rollup (singleton, rolled_at) VALUES (true, NULL);
