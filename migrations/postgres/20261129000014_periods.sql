-- Closed periods. `books_closed` holds one row ('books'): the end of the last closed period.
-- Every batch reads it in its transaction, and an entry effective before it is booked at it instead, its
-- own time kept in `entries.original_effective_at`. `period_closes` keeps one row per closed
-- month, hash-chained to the month before and to the last entry it covers; `period_lines`
-- keeps the month's snapshot: per customer, book, ledger account, unit or currency and lot,
-- the debits and credits of every posting effective before the month's end (`line` numbers a
-- customer's lines of the month).
CREATE TABLE books_closed (
    name         TEXT PRIMARY KEY CHECK (name = 'books'),
    closed_until timestamptz
);
INSERT INTO books_closed (name, closed_until) VALUES ('books', NULL);
CREATE TABLE period_closes (
    period       TEXT COLLATE "C" PRIMARY KEY,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    closed_at    timestamptz NOT NULL,
    status       TEXT NOT NULL,
    last_seq     BIGINT NOT NULL,
    last_hash    TEXT NOT NULL,
    lines        BIGINT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE TABLE period_lines (
    account_id     uuid NOT NULL,
    period         TEXT COLLATE "C" NOT NULL,
    line           BIGINT NOT NULL,
    book           TEXT NOT NULL,
    ledger_account TEXT NOT NULL,
    unit           TEXT NOT NULL,
    lot_id         uuid,
    debits         NUMERIC NOT NULL,
    credits        NUMERIC NOT NULL,
    PRIMARY KEY (account_id, period, line)
);
CREATE INDEX period_lines_period ON period_lines (period);
ALTER TABLE entries ADD COLUMN original_effective_at timestamptz;
