-- A command that writes an entry keeps its idempotency record (the request's hash and the
-- outcome a retry is answered with) in that entry's row, not in a row of its own: a debit writes
-- one row. Commands that write no entry (opening an account, authorizing, releasing) keep theirs
-- in `idempotency`; a lookup reads both. Keys stay unique per account through this index, and
-- across the two tables because every writer of an account's keys holds the account's lock when
-- it looks them up. The key leads, as in `idempotency`.

ALTER TABLE entries ADD COLUMN request_hash TEXT;
ALTER TABLE entries ADD COLUMN outcome TEXT;

CREATE UNIQUE INDEX entries_idempotency ON entries (idempotency_key, account_id)
    WHERE outcome IS NOT NULL;
