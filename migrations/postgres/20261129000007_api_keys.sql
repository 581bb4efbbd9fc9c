-- API keys: a public prefix that names the key, the SHA-256 of the whole key (never the key
-- itself), its role, and for an account-scoped key the one account it may read. A reference
-- table, not a customer-side one: no foreign key to the accounts (the command that creates a
-- key checks the account exists).
CREATE TABLE api_keys (
    prefix      TEXT COLLATE "C" PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    role        TEXT NOT NULL,
    name        TEXT NOT NULL,
    account_id  uuid,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
