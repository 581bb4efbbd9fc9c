-- Who caused each entry: the prefix of the API key of the call that wrote it, empty when the
-- call carried no key or the sweeper wrote it. Entries written before are left empty, and their
-- hashes stay valid: an empty actor is not part of an entry's hash.
ALTER TABLE entries ADD COLUMN actor TEXT NOT NULL DEFAULT '';
