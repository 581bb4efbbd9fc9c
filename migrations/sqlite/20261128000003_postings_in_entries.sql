-- An entry's postings move into the entry's own row, as the compact text of version 1
-- (src/ledger/codec/postings.rs): `1;` then `book,ledger_account,side,amount,unit,lot_id` per
-- posting, in order, separated by `;`. A debit writes one row where it wrote five.

ALTER TABLE entries ADD COLUMN postings TEXT NOT NULL DEFAULT '1;';

UPDATE entries
SET postings = '1;' || (
    SELECT group_concat(
               book || ',' || ledger_account || ',' || side || ',' || amount || ',' || unit
                   || ',' || COALESCE(lot_id, ''),
               ';' ORDER BY idx
           )
    FROM postings p
    WHERE p.entry_id = entries.id
)
WHERE EXISTS (SELECT 1 FROM postings p WHERE p.entry_id = entries.id);

DROP TABLE postings;
