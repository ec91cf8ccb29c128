-- D5 (IR 57): a tender's deposits are refunded after the contract with the bank's interest for
-- the period. The annual rate, in basis points, per tender; by default the demand-deposit
-- benchmark rate (0.35 %). Fixed with the tender's other terms once published.
ALTER TABLE tenders
    ADD COLUMN deposit_interest_rate_bp integer NOT NULL DEFAULT 35
        CHECK (deposit_interest_rate_bp BETWEEN 0 AND 10000);
