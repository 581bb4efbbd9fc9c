-- Rating. An account's price book (empty: the default book) and, per meter, what its rated
-- charges left below the unit's scale (`rating_carry`, a JSON object; empty when nothing). A
-- hold authorized by usage pins the price version its captures are rated at. A rated entry
-- keeps how it was rated (`rating`, JSON: meter, usage, book, version, value, carries); null
-- for every other entry, whose hash is unchanged.
ALTER TABLE accounts ADD COLUMN price_book TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN rating_carry TEXT NOT NULL DEFAULT '';
ALTER TABLE holds ADD COLUMN price_book TEXT;
ALTER TABLE holds ADD COLUMN price_version bigint;
ALTER TABLE entries ADD COLUMN rating TEXT;
