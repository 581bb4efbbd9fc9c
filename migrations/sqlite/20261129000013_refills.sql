-- Refills. An account's auto top-up (`auto_top_up`: its settings, its open request and its
-- month's count, a JSON object, empty when never set) and its recurring grants
-- (`recurring_grants`, a JSON array, empty when none) live on its row, so the batch that takes
-- the balance below the threshold raises the request, and the sweep that posts a period's
-- allowance does it, under the account's lock. What the sweeper next has to do on the row itself
-- (a budget period to start over, an auto top-up to wake after a failure's wait, a recurring
-- grant's next period) is one time, `due_at`, which the budgets' `budgets_reset_at` becomes.
ALTER TABLE accounts ADD COLUMN auto_top_up TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN recurring_grants TEXT NOT NULL DEFAULT '';
DROP INDEX accounts_budgets_due;
ALTER TABLE accounts RENAME COLUMN budgets_reset_at TO due_at;
CREATE INDEX accounts_due ON accounts (due_at) WHERE due_at IS NOT NULL;
