-- An account's version, raised by every batch that changes anything in its book. A batch that
-- the executor applied to the state the previous batch left (while that one was committing) is
-- written only if the versions of its accounts, read under their row locks, are the ones it
-- was applied to; otherwise it is applied again from the store.
ALTER TABLE accounts ADD COLUMN version bigint NOT NULL DEFAULT 0;
