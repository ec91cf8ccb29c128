-- The ledger's journal at batch speed (issue 17), and the bank's currency in its own column.
--
-- Every invariant of 0003 stays; two are now checked once per statement instead of once per
-- row (a batch of transfers is one INSERT), which is where a batch spent most of its time:
--
-- 1. A transfer's id is 1-128 characters of A-Z a-z 0-9 . _ : / - : the same set of strings
--    as the regular expression it replaces, tested without the regex engine.
-- 2. A transfer's two accounts exist: a statement-level trigger checks every new row against
--    ledger_accounts in one join, instead of two foreign-key look-ups per row. Accounts are
--    never deleted and never renamed (refused below), so what the check saw stays true.

ALTER TABLE ledger_transfers DROP CONSTRAINT ledger_transfers_id_check;
ALTER TABLE ledger_transfers ADD CONSTRAINT ledger_transfers_id_check CHECK (
    length(id) BETWEEN 1 AND 128
    AND ltrim(id, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/-') = ''
);

ALTER TABLE ledger_transfers
    DROP CONSTRAINT ledger_transfers_debit_account_id_fkey,
    DROP CONSTRAINT ledger_transfers_credit_account_id_fkey;

CREATE FUNCTION ledger_transfers_accounts_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_transfers n
               WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = n.debit_account_id)
                  OR NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = n.credit_account_id)) THEN
        RAISE EXCEPTION 'a transfer names an account that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_transfers_accounts_exist AFTER INSERT ON ledger_transfers
    REFERENCING NEW TABLE AS new_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_transfers_accounts_exist();

CREATE FUNCTION ledger_accounts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.id IS DISTINCT FROM OLD.id OR NEW.kind IS DISTINCT FROM OLD.kind THEN
        RAISE EXCEPTION 'ledger accounts are never deleted, renamed or re-kinded'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE TRIGGER ledger_accounts_keep BEFORE DELETE OR UPDATE OF id, kind ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_accounts_keep();

-- The bank's currency (ISO 4217), only when the bank sent one (a message without it is CNY
-- and is signed without it). It was kept inside the outcome until now.
ALTER TABLE ledger_notifications ADD COLUMN currency text CHECK (currency ~ '^[A-Z]{3}$');
UPDATE ledger_notifications SET currency = outcome ->> 'currency', outcome = outcome - 'currency'
    WHERE outcome ? 'currency';

-- UNIQUE (pending_id) as a partial index: the same rule (a pending transfer is settled once),
-- without an index entry for the three transfers in four that settle nothing.
ALTER TABLE ledger_transfers DROP CONSTRAINT ledger_transfers_pending_id_key;
CREATE UNIQUE INDEX ledger_transfers_pending_id_key ON ledger_transfers (pending_id)
    WHERE pending_id IS NOT NULL;

-- Accounts are rewritten by every batch: room in each page keeps those updates HOT.
ALTER TABLE ledger_accounts SET (fillfactor = 50);
