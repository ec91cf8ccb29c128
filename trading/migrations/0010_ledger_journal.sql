-- The journal's write path, second step (issue 17): every invariant of 0003 and 0009 stays,
-- checked for less. Measured per 2,000-transfer batch in docs/benchmarks-ledger.md.
--
-- 1. Ids are 1-128 characters of A-Z a-z 0-9 . _ : / - (the same set of strings as before).
--    0003's pattern with its bound ({1,128}) makes a large automaton: about 8 µs a row; 0009's
--    ltrim over the 66 allowed characters about 3 µs. An unbounded class with the length
--    checked apart costs a tenth of that. The accounts' id check matters as much as the
--    journal's: PostgreSQL checks every CHECK of a row it rewrites, and every batch rewrites
--    the sums of each account it touches.
ALTER TABLE ledger_transfers DROP CONSTRAINT ledger_transfers_id_check;
ALTER TABLE ledger_transfers ADD CONSTRAINT ledger_transfers_id_check
    CHECK (length(id) BETWEEN 1 AND 128 AND id ~ '^[A-Za-z0-9._:/-]+$');
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_id_check;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_id_check
    CHECK (length(id) BETWEEN 1 AND 128 AND id ~ '^[A-Za-z0-9._:/-]+$');

-- 2. A post or void names a pending transfer that exists. The foreign key checked it row by
--    row, each check taking a KEY SHARE lock on the pending transfer (a write to its page);
--    transfers are never updated, deleted or truncated (0003's triggers refuse it), so what
--    the check sees stays true without a lock, and it joins the statement trigger that checks
--    the accounts (now each account named once, not twice per row).
ALTER TABLE ledger_transfers DROP CONSTRAINT ledger_transfers_pending_id_fkey;

DROP TRIGGER ledger_transfers_accounts_exist ON ledger_transfers;
DROP FUNCTION ledger_transfers_accounts_exist();

CREATE FUNCTION ledger_transfers_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each account once (a batch names a few hundred, each many times).
    IF EXISTS (SELECT 1 FROM (SELECT debit_account_id FROM new_transfers
                              UNION SELECT credit_account_id FROM new_transfers) n (id)
               WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = n.id)) THEN
        RAISE EXCEPTION 'a transfer names an account that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM new_transfers n
               WHERE n.pending_id IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM ledger_transfers p WHERE p.id = n.pending_id)) THEN
        RAISE EXCEPTION 'a transfer settles a pending transfer that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_transfers_exist AFTER INSERT ON ledger_transfers
    REFERENCING NEW TABLE AS new_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_transfers_exist();

-- 3. An account's history (GET /ledger/transfers?account_id=…) reads two indexes, by debit
--    and by credit account, in seq order: two index entries for every transfer. Two accounts,
--    bank and refunds_payable, are a leg of most transfers (money comes in through the bank,
--    every refund and payout goes through refunds payable and the bank): their history is the
--    journal itself read in seq order and filtered, as its plan already was, and their
--    entries were three quarters of these indexes in the deposit life. The indexes keep every
--    other account (trading.ledger.store.accounts.list_transfers reads them; the list of the
--    two is ``DENSE_ACCOUNTS`` there and must match this one).
DROP INDEX ledger_transfers_debit;
DROP INDEX ledger_transfers_credit;
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account_id, seq)
    WHERE debit_account_id NOT IN ('bank', 'refunds_payable');
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account_id, seq)
    WHERE credit_account_id NOT IN ('bank', 'refunds_payable');
