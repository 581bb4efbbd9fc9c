-- The ledger's schema. Amounts are exact decimal strings (TEXT), times are microseconds since
-- the Unix epoch (BIGINT), ids are UUID strings: the same representation as the SQLite schema,
-- so both stores share one code path. Identifiers compare bytewise (COLLATE "C"): they are
-- not words, and a locale's collation would make every index probe on them several times
-- slower. Every customer-side row carries account_id so the tables can be distributed by it.
-- There is no row that every entry updates. Entries and postings are the per-operation rows:
-- they carry no foreign keys (a check per row that the batch, holding the account's lock,
-- already guarantees), and `verify` proves them against the accounts.

CREATE TABLE accounts (
    id                TEXT COLLATE "C" PRIMARY KEY,
    external_id       TEXT COLLATE "C" NOT NULL,
    unit              TEXT NOT NULL,
    unit_scale        BIGINT NOT NULL,
    status            TEXT NOT NULL,
    credit_line_limit TEXT NOT NULL,
    credit_line_used  TEXT NOT NULL,
    credit_line_held  TEXT NOT NULL,
    credit_line_price TEXT NOT NULL,
    currency          TEXT NOT NULL,
    open_holds        BIGINT NOT NULL,
    entry_seq         BIGINT NOT NULL,
    last_hash         TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    CONSTRAINT accounts_external_id_key UNIQUE (external_id)
);

CREATE TABLE lots (
    id             TEXT COLLATE "C" PRIMARY KEY,
    account_id     TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL,
    priority       BIGINT NOT NULL,
    granted        TEXT NOT NULL,
    remaining      TEXT NOT NULL,
    held           TEXT NOT NULL,
    effective_at   BIGINT NOT NULL,
    expires_at     BIGINT,
    scope          TEXT COLLATE "C" NOT NULL,
    cost_basis     TEXT NOT NULL,
    money_deferred TEXT NOT NULL,
    currency       TEXT NOT NULL,
    reference      TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX lots_account_status ON lots (account_id, status);

CREATE TABLE holds (
    id          TEXT COLLATE "C" PRIMARY KEY,
    account_id  TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    status      TEXT NOT NULL,
    authorized  TEXT NOT NULL,
    captured    TEXT NOT NULL,
    reserved    TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    meter       TEXT NOT NULL,
    reference   TEXT NOT NULL
);
CREATE INDEX holds_account_open ON holds (account_id, status, expires_at);

CREATE TABLE entries (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT COLLATE "C" NOT NULL UNIQUE,
    account_id      TEXT COLLATE "C" NOT NULL,
    account_seq     BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    effective_at    BIGINT NOT NULL,
    recorded_at     BIGINT NOT NULL,
    idempotency_key TEXT COLLATE "C" NOT NULL,
    reference       TEXT NOT NULL,
    lot_id          TEXT COLLATE "C",
    hold_id         TEXT COLLATE "C",
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL,
    CONSTRAINT entries_account_seq_key UNIQUE (account_id, account_seq)
);
CREATE INDEX entries_effective ON entries (effective_at);

CREATE TABLE postings (
    entry_id       TEXT COLLATE "C" NOT NULL,
    idx            BIGINT NOT NULL,
    account_id     TEXT COLLATE "C" NOT NULL,
    book           TEXT NOT NULL,
    ledger_account TEXT NOT NULL,
    side           TEXT NOT NULL,
    amount         TEXT NOT NULL,
    unit           TEXT NOT NULL,
    lot_id         TEXT COLLATE "C",
    PRIMARY KEY (entry_id, idx)
);

-- Results of successful mutations by idempotency key; scope is the account id (or
-- 'create_account'), so keys are unique per account and live beside its other rows. The key
-- leads the primary key: a hot account has millions of keys under one scope, and a lookup must
-- probe by key whatever plan the statistics of the moment suggest.
CREATE TABLE idempotency (
    scope        TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    request_hash TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (key, scope)
);
