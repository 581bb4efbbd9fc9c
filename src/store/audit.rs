//! Reads for `credit-ledger verify`: every account, every entry (postings included) and every lot,
//! in pages by keyset inside one read-only snapshot. An audit of a big store therefore holds one
//! page in memory, and it sees one consistent state of the store even while instances keep
//! writing. A row that cannot be parsed comes back as a [`CorruptRow`] for the report instead of
//! ending the audit; only a row whose key cannot be read at all is an error.

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::journal::EntryQuery;
use super::rows::*;
use super::sql::{select, Kind};
use super::{EntryFilter, JournalEntry, PeriodLine, Store, StoreError, StoreResult};
use crate::ledger::{Account, AccountId, Entry, Hold, HoldStatus, Lot};

/// A stored row that could be read but is not a valid domain value: its table, its key as
/// stored, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRow {
    pub table: &'static str,
    pub key: String,
    pub error: String,
}

/// One audited row: the domain value, or why the stored row is not one.
pub type Audited<T> = Result<T, CorruptRow>;

/// An account row with its key as stored; the entry and lot pages are bounded by these keys.
#[derive(Debug)]
pub struct AuditAccount {
    pub key: String,
    pub account: Audited<Account>,
}

/// An entry with its postings, and the stored keys that order it, which are known even when the
/// rest of the row is corrupt.
#[derive(Debug)]
pub struct AuditEntry {
    pub account_key: String,
    pub account_seq: i64,
    pub entry: Audited<Entry>,
}

/// A lot with the stored keys that order it.
#[derive(Debug)]
pub struct AuditLot {
    pub account_key: String,
    pub key: String,
    pub lot: Audited<Lot>,
}

/// Where the next entry page starts: just after this (account, account_seq).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryCursor {
    pub account_key: String,
    pub account_seq: i64,
}

/// Where the next lot page starts: just after this (account, lot id), or at the account's first
/// lot when there is no lot id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotCursor {
    pub account_key: String,
    pub lot_key: Option<String>,
}

/// How many rows each audited table holds, counted inside the same snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableTotals {
    pub accounts: u64,
    pub entries: u64,
    pub lots: u64,
}

/// A read-only snapshot of the store that the audit pages through.
pub struct AuditReader {
    tx: Transaction<'static, Any>,
    store: Store,
}

impl Store {
    /// Opens the audit's snapshot ([`Store::snapshot`]).
    pub async fn audit_reader(&self) -> StoreResult<AuditReader> {
        Ok(AuditReader {
            tx: self.snapshot().await?,
            store: self.clone(),
        })
    }
}

fn stored_key(row: &AnyRow, column: &str) -> StoreResult<String> {
    Ok(row.try_get::<String, _>(column)?)
}

fn audited<T>(table: &'static str, key: &str, parsed: StoreResult<T>) -> Audited<T> {
    parsed.map_err(|error| CorruptRow {
        table,
        key: key.to_string(),
        error: error.to_string(),
    })
}

impl AuditReader {
    /// The open holds that count against budgets, on accounts `first_account` to
    /// `last_account` inclusive: what each budget's `held` must add up to.
    pub async fn budget_holds(
        &mut self,
        first_account: &str,
        last_account: &str,
    ) -> StoreResult<Vec<Audited<Hold>>> {
        let store = &self.store;
        let sql = format!(
            "SELECT {} FROM holds WHERE status = '{}' AND budgets <> '' \
             AND account_id >= {} AND account_id <= {} ORDER BY account_id, id",
            store.columns(HOLD_COLUMNS),
            HoldStatus::Open,
            store.param(1, Kind::Id),
            store.param(2, Kind::Id),
        );
        let rows = select(&sql)
            .bind(first_account.to_string())
            .bind(last_account.to_string())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|row| {
                let key = stored_key(row, "id")?;
                Ok(audited("holds", &key, hold_from_row(row)))
            })
            .collect()
    }

    /// Accounts in id order after `after` (from the start when `None`), at most `limit`.
    pub async fn accounts(
        &mut self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AuditAccount>> {
        let after = after.map(str::to_string);
        let rows = self.store.account_rows(&mut *self.tx, after, limit).await?;
        rows.iter()
            .map(|row| {
                let key = stored_key(row, "id")?;
                let account = audited("accounts", &key, account_from_row(row));
                Ok(AuditAccount { key, account })
            })
            .collect()
    }

    /// Entries with their postings in (account, account_seq) order, strictly after `after` and
    /// on accounts up to `last_account` inclusive, at most `limit`.
    pub async fn entries(
        &mut self,
        after: &EntryCursor,
        last_account: &str,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let store = &self.store;
        let sql = format!(
            "SELECT {} FROM entries \
             WHERE (account_id, account_seq) > ({account}, $2) AND account_id <= {last} \
             ORDER BY account_id, account_seq LIMIT $4",
            store.columns(ENTRY_COLUMNS),
            account = store.param(1, Kind::Id),
            last = store.param(3, Kind::Id),
        );
        let rows = select(&sql)
            .bind(after.account_key.clone())
            .bind(after.account_seq)
            .bind(last_account.to_string())
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|row| {
                let key = stored_key(row, "id")?;
                Ok(AuditEntry {
                    account_key: stored_key(row, "account_id")?,
                    account_seq: row.try_get::<i64, _>("account_seq")?,
                    entry: audited("entries", &key, entry_from_row(row)),
                })
            })
            .collect()
    }

    /// Lots in (account, id) order, strictly after `after` and on accounts up to `last_account`
    /// inclusive, at most `limit`.
    pub async fn lots(
        &mut self,
        after: &LotCursor,
        last_account: &str,
        limit: u32,
    ) -> StoreResult<Vec<AuditLot>> {
        let store = &self.store;
        let columns = store.columns(LOT_COLUMNS);
        let account = store.param(1, Kind::Id);
        let rows = match &after.lot_key {
            Some(lot) => {
                let sql = format!(
                    "SELECT {columns} FROM lots \
                     WHERE (account_id, id) > ({account}, {}) AND account_id <= {} \
                     ORDER BY account_id, id LIMIT $4",
                    store.param(2, Kind::Id),
                    store.param(3, Kind::Id),
                );
                select(&sql)
                    .bind(after.account_key.clone())
                    .bind(lot.clone())
                    .bind(last_account.to_string())
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.tx)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {columns} FROM lots WHERE account_id >= {account} \
                     AND account_id <= {} ORDER BY account_id, id LIMIT $3",
                    store.param(2, Kind::Id),
                );
                select(&sql)
                    .bind(after.account_key.clone())
                    .bind(last_account.to_string())
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.tx)
                    .await?
            }
        };
        rows.iter()
            .map(|row| {
                let key = stored_key(row, "id")?;
                Ok(AuditLot {
                    account_key: stored_key(row, "account_id")?,
                    lot: audited("lots", &key, lot_from_row(row)),
                    key,
                })
            })
            .collect()
    }

    /// The first entry (by sequence) effective at or after `cut`: where the entries after a
    /// closed month begin in the order they were recorded. `None` when there are none.
    pub async fn first_seq_effective_from(
        &mut self,
        cut: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        // `seq + 0`: a bare MIN(seq) is planned as a walk of the sequence from the first entry
        // (both stores), not as the range of effective times it is.
        let sql = format!(
            "SELECT MIN(seq + 0) AS first FROM entries WHERE effective_at >= {}",
            self.store.param(1, Kind::Time)
        );
        let row = select(&sql)
            .bind(micros(cut))
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("first")?)
    }

    /// The stored hash of an account's entry at `account_seq`, if there is one.
    pub async fn entry_hash(
        &mut self,
        account_id: AccountId,
        account_seq: i64,
    ) -> StoreResult<Option<String>> {
        let sql = format!(
            "SELECT hash FROM entries WHERE account_id = {} AND account_seq = $2",
            self.store.param(1, Kind::Id)
        );
        let row = select(&sql)
            .bind(account_id.to_string())
            .bind(account_seq)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|row| text(&row, "hash")).transpose()
    }

    /// Every entry recorded from `from_seq` on, in sequence order, as one stream.
    pub fn entries_from<'r>(
        &'r mut self,
        query: &'r EntryQuery,
    ) -> BoxStream<'r, StoreResult<JournalEntry>> {
        super::journal::stream_entries(&mut self.tx, query)
    }

    /// The statement [`AuditReader::entries_from`] streams.
    pub fn entries_from_query(&self, from_seq: i64) -> EntryQuery {
        let filter = EntryFilter {
            from_seq: Some(from_seq),
            ..EntryFilter::default()
        };
        EntryQuery::new(self.store.dialect, &filter)
    }

    /// The lines of `period`'s snapshot on accounts `first_account` to `last_account` inclusive.
    pub async fn period_lines(
        &mut self,
        period: &str,
        first_account: &str,
        last_account: &str,
    ) -> StoreResult<Vec<PeriodLine>> {
        let store = &self.store;
        let sql = format!(
            "SELECT {} FROM period_lines WHERE account_id >= {} AND account_id <= {} \
             AND period = $3 ORDER BY account_id, line",
            store.columns(super::periods::LINE_COLUMNS),
            store.param(1, Kind::Id),
            store.param(2, Kind::Id),
        );
        let rows = select(&sql)
            .bind(first_account.to_string())
            .bind(last_account.to_string())
            .bind(period.to_string())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(super::periods::line_from_row).collect()
    }

    /// Counts the audited tables, so rows no page reached (say, entries of an account that does
    /// not exist) are reported rather than silently skipped.
    pub async fn totals(&mut self) -> StoreResult<TableTotals> {
        let mut counts = [0u64; 3];
        for (count, table) in counts.iter_mut().zip(["accounts", "entries", "lots"]) {
            let sql = format!("SELECT COUNT(*) AS n FROM {table}");
            let row = select(&sql).fetch_one(&mut *self.tx).await?;
            let n = row.try_get::<i64, _>("n")?;
            *count = u64::try_from(n).map_err(|e| {
                StoreError::Corrupt(anyhow::anyhow!("COUNT(*) of {table} is {n}: {e}"))
            })?;
        }
        let [accounts, entries, lots] = counts;
        Ok(TableTotals {
            accounts,
            entries,
            lots,
        })
    }

    /// Ends the snapshot; the audit wrote nothing, so this is a rollback.
    pub async fn finish(self) -> StoreResult<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}
