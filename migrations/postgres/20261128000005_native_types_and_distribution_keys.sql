-- Native types, and keys that can be distributed by account.
--
-- Amounts become `numeric` (exact, with the scale they were written with: '1.50' reads back
-- '1.50'), times `timestamptz` (microseconds, as before), ids `uuid`, the commitment's flag
-- `boolean`. Finance can SUM a column and a BI tool can read the tables as they are.
--
-- Every customer-side table (one with an account_id, and accounts itself) has keys and unique
-- constraints that include the account, so each can be distributed by it (Citus requires that
-- of every primary key, unique constraint and foreign key of a distributed table). A hold's id
-- leads its key, the account second: a batch finds the holds its commands name by their ids and
-- account, and a generic plan by a key that the account leads filtered every hold of the hot
-- account for them instead of probing the ids (measured: authorize-capture 5x slower). What is
-- looked up by another key lives in a directory table keyed by that key alone: an account's
-- external id (`account_external_ids`), a hold's account (`hold_accounts`, for captures and
-- releases that name only the hold), and the idempotency records of account creations
-- (`account_creations`, whose retries come before the account is known).

-- The foreign keys go while their columns change type, and come back after.
ALTER TABLE lots DROP CONSTRAINT lots_account_id_fkey;
ALTER TABLE holds DROP CONSTRAINT holds_account_id_fkey;
ALTER TABLE commitments DROP CONSTRAINT commitments_account_id_fkey;

-- Directory tables.
CREATE TABLE account_external_ids (
    external_id TEXT COLLATE "C" PRIMARY KEY,
    account_id  uuid NOT NULL
);
INSERT INTO account_external_ids (external_id, account_id) SELECT external_id, id::uuid FROM accounts;
ALTER TABLE accounts DROP CONSTRAINT accounts_external_id_key;

CREATE TABLE hold_accounts (
    hold_id    uuid PRIMARY KEY,
    account_id uuid NOT NULL
);
INSERT INTO hold_accounts (hold_id, account_id) SELECT id::uuid, account_id::uuid FROM holds;

CREATE TABLE account_creations (
    key          TEXT COLLATE "C" PRIMARY KEY,
    request_hash TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    created_at   timestamptz NOT NULL
);
INSERT INTO account_creations (key, request_hash, outcome, created_at)
SELECT key, request_hash, outcome, TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 microsecond'
FROM idempotency WHERE scope = 'create_account';
DELETE FROM idempotency WHERE scope = 'create_account';

-- Defaults given only to fill the columns when they were added would not cast.
ALTER TABLE accounts
    ALTER COLUMN low_balance_value DROP DEFAULT,
    ALTER COLUMN low_balance_base DROP DEFAULT,
    ALTER COLUMN credit_line_spent DROP DEFAULT;

ALTER TABLE accounts
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN credit_line_limit TYPE numeric USING credit_line_limit::numeric,
    ALTER COLUMN credit_line_used TYPE numeric USING credit_line_used::numeric,
    ALTER COLUMN credit_line_held TYPE numeric USING credit_line_held::numeric,
    ALTER COLUMN credit_line_price TYPE numeric USING credit_line_price::numeric,
    ALTER COLUMN created_at TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 microsecond',
    ALTER COLUMN low_balance_value TYPE numeric USING low_balance_value::numeric,
    ALTER COLUMN low_balance_base TYPE numeric USING low_balance_base::numeric,
    ALTER COLUMN credit_line_spent TYPE numeric USING credit_line_spent::numeric,
    ALTER COLUMN credit_line_until TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + credit_line_until * INTERVAL '1 microsecond';

ALTER TABLE lots
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN account_id TYPE uuid USING account_id::uuid,
    ALTER COLUMN granted TYPE numeric USING granted::numeric,
    ALTER COLUMN remaining TYPE numeric USING remaining::numeric,
    ALTER COLUMN held TYPE numeric USING held::numeric,
    ALTER COLUMN effective_at TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + effective_at * INTERVAL '1 microsecond',
    ALTER COLUMN expires_at TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + expires_at * INTERVAL '1 microsecond',
    ALTER COLUMN cost_basis TYPE numeric USING cost_basis::numeric,
    ALTER COLUMN money_deferred TYPE numeric USING money_deferred::numeric,
    ALTER COLUMN created_at TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 microsecond';
-- Listings and the audit read an account's lots in id order: the account leads this key. A batch
-- loads an account's active lots by a partial index (spent lots leave it), and the lots its
-- commands name by their ids, through an index that the ids lead.
ALTER TABLE lots DROP CONSTRAINT lots_pkey, ADD PRIMARY KEY (account_id, id);
DROP INDEX lots_account_status;
CREATE INDEX lots_account_active ON lots (account_id) WHERE status = 'active';
CREATE INDEX lots_id ON lots (id);

ALTER TABLE holds
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN account_id TYPE uuid USING account_id::uuid,
    ALTER COLUMN authorized TYPE numeric USING authorized::numeric,
    ALTER COLUMN captured TYPE numeric USING captured::numeric,
    ALTER COLUMN expires_at TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + expires_at * INTERVAL '1 microsecond',
    ALTER COLUMN created_at TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 microsecond';
ALTER TABLE holds DROP CONSTRAINT holds_pkey, ADD PRIMARY KEY (id, account_id);
-- A batch loads an account's open holds past their expiry: by account first, whatever the
-- sweeper has left due elsewhere (a plan by `holds_due` reads every due hold of every account).
DROP INDEX holds_account_open;
CREATE INDEX holds_account_open ON holds (account_id, expires_at) WHERE status = 'open';

-- An entry is keyed by its place in its account's chain; `seq`, the journal's global order,
-- stays an identity with an index of its own.
ALTER TABLE entries
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN account_id TYPE uuid USING account_id::uuid,
    ALTER COLUMN effective_at TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + effective_at * INTERVAL '1 microsecond',
    ALTER COLUMN recorded_at TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + recorded_at * INTERVAL '1 microsecond',
    ALTER COLUMN lot_id TYPE uuid USING lot_id::uuid,
    ALTER COLUMN hold_id TYPE uuid USING hold_id::uuid;
ALTER TABLE entries
    DROP CONSTRAINT entries_pkey,
    DROP CONSTRAINT entries_id_key,
    DROP CONSTRAINT entries_account_seq_key,
    ADD PRIMARY KEY (account_id, account_seq),
    ADD CONSTRAINT entries_id_key UNIQUE (id, account_id);
CREATE INDEX entries_seq ON entries (seq);

ALTER TABLE idempotency RENAME COLUMN scope TO account_id;
ALTER TABLE idempotency
    ALTER COLUMN account_id TYPE uuid USING account_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 microsecond';

ALTER TABLE commitments
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN account_id TYPE uuid USING account_id::uuid,
    ALTER COLUMN term_start TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + term_start * INTERVAL '1 microsecond',
    ALTER COLUMN term_end TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + term_end * INTERVAL '1 microsecond',
    ALTER COLUMN quantity TYPE numeric USING quantity::numeric,
    ALTER COLUMN price TYPE numeric USING price::numeric,
    ALTER COLUMN minimum_spend TYPE numeric USING minimum_spend::numeric,
    ALTER COLUMN lot_id TYPE uuid USING lot_id::uuid,
    ALTER COLUMN spent_at_start TYPE numeric USING spent_at_start::numeric,
    ALTER COLUMN used_at_start TYPE numeric USING used_at_start::numeric,
    ALTER COLUMN consumed TYPE numeric USING consumed::numeric,
    ALTER COLUMN shortfall TYPE numeric USING shortfall::numeric,
    ALTER COLUMN true_up_entry_id TYPE uuid USING true_up_entry_id::uuid,
    ALTER COLUMN notified TYPE boolean USING notified <> 0,
    ALTER COLUMN created_at TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 microsecond';
ALTER TABLE commitments DROP CONSTRAINT commitments_pkey, ADD PRIMARY KEY (id, account_id);

-- The outbox keeps `seq`, the subscribers' cursor, as its global order (see its comment in the
-- lifecycle migration), indexed on its own.
ALTER TABLE events
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN account_id TYPE uuid USING account_id::uuid,
    ALTER COLUMN occurred_at TYPE timestamptz
        USING TIMESTAMPTZ 'epoch' + occurred_at * INTERVAL '1 microsecond';
ALTER TABLE events
    DROP CONSTRAINT events_pkey,
    DROP CONSTRAINT events_id_key,
    ADD PRIMARY KEY (account_id, seq),
    ADD CONSTRAINT events_id_key UNIQUE (id, account_id);
DROP INDEX events_account;
CREATE INDEX events_seq ON events (seq);

ALTER TABLE lots ADD CONSTRAINT lots_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE holds ADD CONSTRAINT holds_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE commitments ADD CONSTRAINT commitments_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES accounts (id);

-- An entry's postings as rows, for finance and BI tools: the version 1 text the entry keeps
-- (`1;` then `book,ledger_account,side,amount,unit,lot_id` per posting, see
-- src/ledger/codec/postings.rs) unpacked, with amounts as numeric. A later version of the
-- encoding replaces this view in the same migration.
CREATE VIEW postings AS
SELECT e.account_id,
       e.id AS entry_id,
       e.seq AS entry_seq,
       e.kind AS entry_kind,
       e.effective_at,
       (p.ordinality - 1)::bigint AS idx,
       split_part(p.posting, ',', 1) AS book,
       split_part(p.posting, ',', 2) AS ledger_account,
       split_part(p.posting, ',', 3) AS side,
       split_part(p.posting, ',', 4)::numeric AS amount,
       split_part(p.posting, ',', 5) AS unit,
       NULLIF(split_part(p.posting, ',', 6), '')::uuid AS lot_id
FROM entries e
CROSS JOIN LATERAL unnest(string_to_array(substr(e.postings, 3), ';'))
    WITH ORDINALITY AS p (posting, ordinality)
WHERE e.postings LIKE '1;%';
