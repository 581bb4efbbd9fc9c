//! Reads of the journal for listings, exports and reports: entries (postings included), filtered
//! by account, effective time and kind, a page at a time in sequence order. Periods are always
//! of effective time; the sequence only orders the pages. An export or a report reads through a
//! [`JournalReader`], one read-only snapshot, so a long export sees one state of the store while
//! instances keep writing, and never holds more than one page in memory.

use chrono::{DateTime, Utc};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row, Transaction};

use super::rows::*;
use super::sql::{padded, param, placeholders, select, select_list, Kind, Value};
use super::{Dialect, Store, StoreError, StoreResult};
use crate::ledger::{AccountId, Entry, EntryKind};

/// Which entries a page holds. Times are of `effective_at`: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFilter {
    pub account_id: Option<AccountId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// All kinds when empty.
    pub kinds: Vec<EntryKind>,
    pub newest_first: bool,
}

/// An entry as the journal lists it: its global sequence number and its customer's external id
/// (empty if the account row is missing, which `verify` reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub seq: i64,
    pub external_id: String,
    pub entry: Entry,
}

/// A read-only snapshot of the store that exports and reports page through.
pub struct JournalReader {
    tx: Transaction<'static, Any>,
    dialect: Dialect,
}

impl Store {
    /// Opens a snapshot ([`Store::snapshot`]) to page through.
    pub async fn journal_reader(&self) -> StoreResult<JournalReader> {
        Ok(JournalReader {
            tx: self.snapshot().await?,
            dialect: self.dialect,
        })
    }

    /// One page of entries (at most `limit`) after the entry with sequence `after` in the
    /// filter's order; from the start when `None`.
    pub async fn list_entries(
        &self,
        filter: &EntryFilter,
        after: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<JournalEntry>> {
        let mut conn = self.pool.acquire().await?;
        entries_page(&mut conn, self.dialect, filter, after, limit).await
    }
}

impl JournalReader {
    /// Like [`Store::list_entries`], inside the snapshot.
    pub async fn entries(
        &mut self,
        filter: &EntryFilter,
        after: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<JournalEntry>> {
        entries_page(&mut self.tx, self.dialect, filter, after, limit).await
    }

    /// How many entries the filter selects (for a progress line).
    pub async fn count_entries(&mut self, filter: &EntryFilter) -> StoreResult<u64> {
        let (clauses, values) = where_clauses(self.dialect, filter);
        let sql = format!(
            "SELECT COUNT(*) AS n FROM entries e WHERE {}",
            clauses.join(" AND ")
        );
        let row = bind_all(select(&sql), values)
            .fetch_one(&mut *self.tx)
            .await?;
        let n = row.try_get::<i64, _>("n")?;
        u64::try_from(n).map_err(|e| StoreError::Corrupt(anyhow::anyhow!("COUNT(*) is {n}: {e}")))
    }

    /// Ends the snapshot (it wrote nothing).
    pub async fn finish(self) -> StoreResult<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// The filter as SQL conditions on `entries e`, with their values in placeholder order. Always
/// at least one condition, so callers can join them after a WHERE.
fn where_clauses(dialect: Dialect, filter: &EntryFilter) -> (Vec<String>, Vec<Value>) {
    let mut clauses = vec!["1 = 1".to_string()];
    let mut values = Vec::new();
    if let Some(account) = filter.account_id {
        values.push(Value::Text(account.to_string()));
        clauses.push(format!(
            "e.account_id = {}",
            param(dialect, values.len(), Kind::Id)
        ));
    }
    if let Some(from) = filter.from {
        values.push(Value::Int(micros(from)));
        clauses.push(format!(
            "e.effective_at >= {}",
            param(dialect, values.len(), Kind::Time)
        ));
    }
    if let Some(to) = filter.to {
        values.push(Value::Int(micros(to)));
        clauses.push(format!(
            "e.effective_at < {}",
            param(dialect, values.len(), Kind::Time)
        ));
    }
    if !filter.kinds.is_empty() {
        let kinds: Vec<String> = filter.kinds.iter().map(|k| k.as_str().into()).collect();
        let kinds = padded(&kinds);
        clauses.push(format!(
            "e.kind IN ({})",
            placeholders(dialect, values.len() + 1, kinds.len(), Kind::Text)
        ));
        values.extend(kinds.into_iter().map(Value::Text));
    }
    (clauses, values)
}

fn bind_all<'q>(
    mut query: Query<'q, Any, AnyArguments<'q>>,
    values: Vec<Value>,
) -> Query<'q, Any, AnyArguments<'q>> {
    for value in values {
        query = match value {
            Value::Text(v) => query.bind(v),
            Value::OptText(v) => query.bind(v),
            Value::Int(v) => query.bind(v),
            Value::OptInt(v) => query.bind(v),
        };
    }
    query
}

async fn entries_page(
    conn: &mut AnyConnection,
    dialect: Dialect,
    filter: &EntryFilter,
    after: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<JournalEntry>> {
    let (mut clauses, mut values) = where_clauses(dialect, filter);
    let (direction, past) = match filter.newest_first {
        true => ("DESC", "<"),
        false => ("ASC", ">"),
    };
    if let Some(after) = after {
        values.push(Value::Int(after));
        clauses.push(format!("e.seq {past} ${}", values.len()));
    }
    values.push(Value::Int(i64::from(limit)));
    let sql = format!(
        "SELECT e.seq, a.external_id AS account_external_id, {} FROM entries e \
         LEFT JOIN accounts a ON a.id = e.account_id WHERE {} ORDER BY e.seq {direction} LIMIT ${}",
        select_list(dialect, ENTRY_COLUMNS, "e."),
        clauses.join(" AND "),
        values.len()
    );
    let rows = bind_all(select(&sql), values).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            Ok(JournalEntry {
                seq: row.try_get::<i64, _>("seq")?,
                external_id: row
                    .try_get::<Option<String>, _>("account_external_id")?
                    .unwrap_or_default(),
                entry: entry_from_row(row)?,
            })
        })
        .collect()
}
