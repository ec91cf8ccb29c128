-- The deposit ledger's system accounts (trading/ledger/model.py SYSTEM_ACCOUNTS) exist from the
-- start, so that no use case has to create them on the way.
INSERT INTO ledger_accounts (id, kind, created_at) VALUES
    ('bank', 'bank', now()),
    ('refunds_payable', 'refunds_payable', now()),
    ('forfeited', 'forfeited', now()),
    ('price_receivable', 'price_receivable', now()),
    ('interest_expense', 'interest_expense', now()),
    ('suspense', 'suspense', now())
ON CONFLICT (id) DO NOTHING;
