-- The keys of the PostgreSQL schema, kept here too so both stores run the same statements:
-- a lookup by a key other than the account goes through a directory table of its own
-- (an account's external id, a hold's account, an account creation's idempotency key), and the
-- holds and commitments are upserted by (id, account_id), lots by (account_id, id). SQLite keeps
-- its text and integer types.
-- (`accounts.external_id` keeps its inline UNIQUE: dropping it would rebuild the table under the
-- foreign keys that point at it; the directory's key says the same.)

CREATE TABLE account_external_ids (
    external_id TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL
);
INSERT INTO account_external_ids (external_id, account_id) SELECT external_id, id FROM accounts;

CREATE TABLE hold_accounts (
    hold_id    TEXT PRIMARY KEY,
    account_id TEXT NOT NULL
);
INSERT INTO hold_accounts (hold_id, account_id) SELECT id, account_id FROM holds;

CREATE TABLE account_creations (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
INSERT INTO account_creations (key, request_hash, outcome, created_at)
SELECT key, request_hash, outcome, created_at FROM idempotency WHERE scope = 'create_account';
DELETE FROM idempotency WHERE scope = 'create_account';
ALTER TABLE idempotency RENAME COLUMN scope TO account_id;

CREATE UNIQUE INDEX lots_account_id_key ON lots (account_id, id);
CREATE UNIQUE INDEX holds_id_account_key ON holds (id, account_id);
CREATE UNIQUE INDEX commitments_id_account_key ON commitments (id, account_id);
