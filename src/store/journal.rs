//! Reads of the journal for listings, exports and reports: entries (postings included), filtered
//! by account, effective time and kind, in sequence order. Periods are always of effective time;
//! the sequence only orders the entries. A listing reads a page at a time. An export or a report
//! reads through a [`JournalReader`], one read-only snapshot, so a long export sees one state of
//! the store while instances keep writing: it streams the period's entries from one query, so
//! the database plans and sorts the period once, and only the rows in flight are in memory.

use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt as _, TryStreamExt as _};
use sqlx::any::{AnyArguments, AnyRow};
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
    /// Only entries recorded at or after the one with this sequence number.
    pub from_seq: Option<i64>,
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
    /// Every entry `query` selects, in sequence order, streamed from one statement.
    pub fn stream<'r>(
        &'r mut self,
        query: &'r EntryQuery,
    ) -> BoxStream<'r, StoreResult<JournalEntry>> {
        stream_entries(&mut self.tx, query)
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

/// Every entry `query` selects, in sequence order, streamed on `conn`.
pub(super) fn stream_entries<'r>(
    conn: &'r mut AnyConnection,
    query: &'r EntryQuery,
) -> BoxStream<'r, StoreResult<JournalEntry>> {
    let Some(bounds_sql) = &query.bounds else {
        let rows = bind_all(select(&query.sql), query.values.clone()).fetch(conn);
        return rows.map(|row| journal_entry(&row?)).boxed();
    };
    // (connection, the last seq read and the last to read, whether the last page was read)
    let start = (conn, None::<(i64, i64)>, false);
    futures::stream::try_unfold(start, move |(conn, bounds, done)| async move {
        if done {
            return Ok::<_, StoreError>(None);
        }
        let (after, last) = match bounds {
            Some(bounds) => bounds,
            None => {
                let row = bind_all(select(bounds_sql), query.values.clone())
                    .fetch_one(&mut *conn)
                    .await?;
                let first = row.try_get::<Option<i64>, _>("first")?;
                let last = row.try_get::<Option<i64>, _>("last")?;
                match (first, last) {
                    (Some(first), Some(last)) => (first - 1, last),
                    _ => return Ok(None),
                }
            }
        };
        let mut values = query.values.clone();
        values.extend([Value::Int(after), Value::Int(last)]);
        let row = bind_all(select(&query.sql), values)
            .fetch_one(&mut *conn)
            .await?;
        let Some(read) = row.try_get::<Option<i64>, _>("last_seq")? else {
            return Ok(None);
        };
        let entries = unpack(&row);
        Ok(Some((entries, (conn, Some((read, last)), read >= last))))
    })
    .map_ok(futures::stream::iter)
    .try_flatten()
    .boxed()
}

/// The statement that streams what a filter selects (see [`JournalReader::stream`]).
///
/// On SQLite, for a period of all accounts, it reads pages of `PACKED_ENTRIES` (256) entries packed
/// into one row as a JSON array of arrays, by ranges of `seq` between the first and the last
/// entry of the period. sqlx's SQLite driver steps a statement on a thread of its own and hands
/// every row across to the runtime, and that hand-off, not SQLite, was most of the time of a long
/// read (an export of 100,000 entries spent more of its time in futex waits and contended frees
/// than in everything else): one row per page pays it once per page. And a range of `seq` is
/// read in order from the table itself, where one statement ordered by `seq` over a range of
/// effective times had SQLite sort the whole period first.
#[derive(Debug, Clone)]
pub struct EntryQuery {
    /// The statement; with `bounds`, one page's (its last two parameters: after which `seq`,
    /// and up to which).
    sql: String,
    values: Vec<Value>,
    /// SQLite's pages: the statement of the first and last `seq` the filter selects (`first`,
    /// `last`).
    bounds: Option<String>,
}

/// Entries per page of SQLite's packed stream.
const PACKED_ENTRIES: u32 = 256;

/// The columns of a streamed entry, in the order a packed one lists them.
fn stream_columns() -> impl Iterator<Item = &'static str> {
    ["seq", "account_external_id"]
        .into_iter()
        .chain(ENTRY_COLUMNS.iter().map(|c| c.name))
}

impl EntryQuery {
    pub fn new(dialect: Dialect, filter: &EntryFilter) -> EntryQuery {
        let (clauses, values) = where_clauses(dialect, filter);
        let direction = match filter.newest_first {
            true => "DESC",
            false => "ASC",
        };
        let select = |clauses: &[String]| {
            format!(
                "SELECT e.seq, a.external_id AS account_external_id, {} FROM entries e \
                 LEFT JOIN accounts a ON a.id = e.account_id WHERE {}",
                select_list(dialect, ENTRY_COLUMNS, "e."),
                clauses.join(" AND "),
            )
        };
        let paged = dialect == Dialect::Sqlite && !filter.newest_first;
        if paged && filter.account_id.is_none() {
            let bounds = format!(
                "SELECT MIN(e.seq + 0) AS first, MAX(e.seq + 0) AS last FROM entries e WHERE {}",
                clauses.join(" AND ")
            );
            // `+`: the effective times filter the pages' rows, read by `seq`, and do not pick
            // the index.
            let mut page: Vec<String> = (clauses.iter())
                .map(|c| c.replace("e.effective_at", "+e.effective_at"))
                .collect();
            let n = values.len();
            page.push(format!("e.seq > ${} AND e.seq <= ${}", n + 1, n + 2));
            let columns: Vec<&str> = stream_columns().collect();
            let sql = format!(
                "SELECT json_group_array(json_array({})) AS entries, MAX(s.seq) AS last_seq \
                 FROM ({} ORDER BY e.seq LIMIT {PACKED_ENTRIES}) AS s",
                columns.join(", "),
                select(&page),
            );
            return EntryQuery {
                sql,
                values,
                bounds: Some(bounds),
            };
        }
        let sql = format!("{} ORDER BY e.seq {direction}", select(&clauses));
        EntryQuery {
            sql,
            values,
            bounds: None,
        }
    }
}

/// One packed row's entries, in `seq` order.
fn unpack(row: &AnyRow) -> Vec<StoreResult<JournalEntry>> {
    let text = match row.try_get::<String, _>("entries") {
        Ok(text) => text,
        Err(e) => return vec![Err(e.into())],
    };
    let rows: Vec<Vec<serde_json::Value>> = match serde_json::from_str(&text) {
        Ok(rows) => rows,
        Err(e) => {
            let e = anyhow::anyhow!("a packed chunk of entries: {e}");
            return vec![Err(StoreError::Corrupt(e))];
        }
    };
    let names: Vec<&str> = stream_columns().collect();
    let mut entries: Vec<StoreResult<JournalEntry>> = (rows.iter())
        .map(|values| {
            journal_entry(&Packed {
                names: &names,
                values,
            })
        })
        .collect();
    entries.sort_by_key(|e| e.as_ref().map_or(i64::MIN, |e| e.seq));
    entries
}

/// An entry packed as a JSON array, its values in `names` order.
struct Packed<'a> {
    names: &'a [&'a str],
    values: &'a [serde_json::Value],
}

impl Packed<'_> {
    fn value(&self, column: &str) -> StoreResult<&serde_json::Value> {
        (self.names.iter().position(|n| *n == column))
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| StoreError::Corrupt(anyhow::anyhow!("column {column}: not packed")))
    }
}

impl Fields for Packed<'_> {
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        match self.value(column)? {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::String(s) => Ok(Some(s.clone())),
            other => Err(StoreError::Corrupt(anyhow::anyhow!(
                "column {column}: {other} is not text"
            ))),
        }
    }

    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        match self.value(column)? {
            serde_json::Value::Null => Ok(None),
            value => value.as_i64().map(Some).ok_or_else(|| {
                StoreError::Corrupt(anyhow::anyhow!("column {column}: {value} is not a number"))
            }),
        }
    }
}

impl JournalReader {
    /// The statement that streams what `filter` selects from this reader's store.
    pub fn query(&self, filter: &EntryFilter) -> EntryQuery {
        EntryQuery::new(self.dialect, filter)
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
    if let Some(from_seq) = filter.from_seq {
        values.push(Value::Int(from_seq));
        clauses.push(format!("e.seq >= ${}", values.len()));
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
    rows.iter().map(journal_entry).collect()
}

fn journal_entry(row: &impl Fields) -> StoreResult<JournalEntry> {
    Ok(JournalEntry {
        seq: int(row, "seq")?,
        external_id: row.opt_text("account_external_id")?.unwrap_or_default(),
        entry: entry_from_row(row)?,
    })
}
