-- The default verify reads the last closed month's snapshot a page of accounts at a time
-- (period = ?, account_id in a range, in account and line order). With an index on the period
-- alone, SQLite read the month's every line and sorted them for each page.
DROP INDEX period_lines_period;
CREATE INDEX period_lines_period ON period_lines (period, account_id, line);
