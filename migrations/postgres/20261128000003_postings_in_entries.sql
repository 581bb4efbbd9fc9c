-- An entry's postings move into the entry's own row, as the compact text of version 1
-- (src/ledger/codec/postings.rs): `1;` then `book,ledger_account,side,amount,unit,lot_id` per
-- posting, in order, separated by `;`. A debit writes one row where it wrote five.

ALTER TABLE entries ADD COLUMN postings TEXT NOT NULL DEFAULT '1;';

UPDATE entries e
SET postings = '1;' || p.encoded
FROM (
    SELECT entry_id,
           string_agg(
               book || ',' || ledger_account || ',' || side || ',' || amount || ',' || unit
                   || ',' || COALESCE(lot_id, ''),
               ';' ORDER BY idx
           ) AS encoded
    FROM postings
    GROUP BY entry_id
) p
WHERE p.entry_id = e.id;

DROP TABLE postings;

ALTER TABLE entries ALTER COLUMN postings DROP DEFAULT;
