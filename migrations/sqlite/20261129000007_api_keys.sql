-- API keys: a public prefix that names the key, the SHA-256 of the whole key (never the key
-- itself), its role, and for an account-scoped key the one account it may read.
CREATE TABLE api_keys (
    prefix      TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    role        TEXT NOT NULL,
    name        TEXT NOT NULL,
    account_id  TEXT,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
