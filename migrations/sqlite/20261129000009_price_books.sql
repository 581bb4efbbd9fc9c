-- Price books: each version is published whole and never changed; its prices are one row per
-- meter, dimension and unit. Read whole into every server's memory.
CREATE TABLE price_versions (
    book         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    effective_at INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    -- A retried publish with the same key gets this version back rather than a new one.
    idempotency_key TEXT NOT NULL,
    PRIMARY KEY (book, version),
    UNIQUE (book, idempotency_key)
);

CREATE TABLE prices (
    book      TEXT NOT NULL,
    version   INTEGER NOT NULL,
    meter     TEXT NOT NULL,
    dimension TEXT NOT NULL,
    unit      TEXT NOT NULL,
    block     INTEGER NOT NULL CHECK (block > 0),
    price     TEXT NOT NULL,
    -- The upstream cost of a block, in currency; both or neither.
    cost      TEXT,
    currency  TEXT,
    PRIMARY KEY (book, version, meter, dimension, unit),
    FOREIGN KEY (book, version) REFERENCES price_versions (book, version),
    CHECK ((cost IS NULL) = (currency IS NULL))
);
