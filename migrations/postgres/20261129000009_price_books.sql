-- Price books: each version is published whole and never changed; its prices are one row per
-- meter, dimension and unit. Reference tables, read whole into every server's memory (rating
-- never reads them on the hot path), keyed by the book.
CREATE TABLE price_versions (
    book         TEXT COLLATE "C" NOT NULL,
    version      bigint NOT NULL,
    effective_at timestamptz NOT NULL,
    published_at timestamptz NOT NULL,
    -- A retried publish with the same key gets this version back rather than a new one.
    idempotency_key TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (book, version),
    UNIQUE (book, idempotency_key)
);

CREATE TABLE prices (
    book      TEXT COLLATE "C" NOT NULL,
    version   bigint NOT NULL,
    meter     TEXT COLLATE "C" NOT NULL,
    dimension TEXT COLLATE "C" NOT NULL,
    unit      TEXT COLLATE "C" NOT NULL,
    block     bigint NOT NULL CHECK (block > 0),
    price     numeric NOT NULL CHECK (price >= 0),
    -- The upstream cost of a block, in currency; both or neither.
    cost      numeric CHECK (cost >= 0),
    currency  TEXT COLLATE "C",
    PRIMARY KEY (book, version, meter, dimension, unit),
    FOREIGN KEY (book, version) REFERENCES price_versions (book, version),
    CHECK ((cost IS NULL) = (currency IS NULL))
);
