-- Budgets. An account's budgets live on its row (`budgets`, a JSON array, empty when none), so
-- a batch locks, versions and carries them with the account. `budgets_reset_at` is when the
-- earliest of their periods ends: the sweeper starts those periods over (and raises their
-- events) for accounts nobody touches. A hold keeps who it is for (`subject`) and the budgets
-- it was authorized against (`budgets`, a JSON array of ids, empty when none).
ALTER TABLE accounts ADD COLUMN budgets TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN budgets_reset_at INTEGER;
CREATE INDEX accounts_budgets_due ON accounts (budgets_reset_at) WHERE budgets_reset_at IS NOT NULL;
ALTER TABLE holds ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE holds ADD COLUMN budgets TEXT NOT NULL DEFAULT '';
