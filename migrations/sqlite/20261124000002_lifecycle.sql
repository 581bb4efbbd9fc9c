-- The credit lifecycle: low-balance thresholds (with the credit a percentage is of) and the level
-- last reported, the credit line's
-- running spend and the end of a postpaid term on accounts; commitments; and the events outbox.

ALTER TABLE accounts ADD COLUMN low_balance_kind  TEXT NOT NULL DEFAULT 'none';
ALTER TABLE accounts ADD COLUMN low_balance_value TEXT NOT NULL DEFAULT '0';
ALTER TABLE accounts ADD COLUMN low_balance_base  TEXT NOT NULL DEFAULT '0';
ALTER TABLE accounts ADD COLUMN alert_level       TEXT NOT NULL DEFAULT 'ok';
ALTER TABLE accounts ADD COLUMN credit_line_spent TEXT NOT NULL DEFAULT '0';
ALTER TABLE accounts ADD COLUMN credit_line_until INTEGER;

-- What the sweeper looks for: active lots past their expiry, open holds past their TTL. Partial,
-- so the hot path's lot and hold updates pay for them only on rows that can become due (a lot
-- without an expiry, a closed hold, is never in them).
CREATE INDEX lots_due ON lots (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;
CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'open';

CREATE TABLE commitments (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    term_start       INTEGER NOT NULL,
    term_end         INTEGER NOT NULL,
    quantity         TEXT NOT NULL,
    price            TEXT NOT NULL,
    minimum_spend    TEXT NOT NULL,
    currency         TEXT NOT NULL,
    lot_id           TEXT,
    spent_at_start   TEXT NOT NULL,
    used_at_start    TEXT NOT NULL,
    consumed         TEXT NOT NULL,
    shortfall        TEXT NOT NULL,
    true_up_entry_id TEXT,
    notified         INTEGER NOT NULL,
    reference        TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX commitments_account ON commitments (account_id, status);
CREATE INDEX commitments_due ON commitments (status, term_end);

-- The outbox. `seq` is the subscribers' cursor; SQLite has one writer, so seq order is commit
-- order. AUTOINCREMENT: a seq is never reused.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    payload     TEXT NOT NULL
);
CREATE INDEX events_account ON events (account_id, seq);
