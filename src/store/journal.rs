//! Reads of the journal for listings, exports and reports: entries (postings included), filtered
//! by account, effective time and kind, in sequence order. Periods are always of effective time;
//! the sequence only orders the entries. A listing reads a page at a time. An export or a report
//! reads through a [`JournalReader`], one read-only snapshot, so a long export sees one state of
//! the store while instances keep writing: it streams the period's entries from one query, so
//! the database plans and sorts the period once, and only the rows in flight are in memory.

use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt as _, TryStreamExt as _};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Database, Encode, Postgres, Row, Transaction, Type};

use super::rows::*;
use super::sql::{padded, param, placeholders, select, select_list, Kind, Value};
use super::{ops, Dialect, Store, StoreError, StoreResult};
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
    snapshot: Snapshot,
    dialect: Dialect,
}

/// The snapshot's transaction: on PostgreSQL, on a native connection of the reads pool.
enum Snapshot {
    Any(Transaction<'static, Any>),
    Postgres(Transaction<'static, Postgres>),
}

impl Store {
    /// Opens a snapshot ([`Store::snapshot`]) to page through.
    pub async fn journal_reader(&self) -> StoreResult<JournalReader> {
        let snapshot = match &self.reads {
            Some(reads) => {
                let begin = ops(self.dialect).begin_snapshot;
                Snapshot::Postgres(reads.begin_with(begin).await?)
            }
            None => Snapshot::Any(self.snapshot().await?),
        };
        Ok(JournalReader {
            snapshot,
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
        match &mut self.snapshot {
            Snapshot::Any(tx) => stream_entries(tx, query),
            Snapshot::Postgres(tx) => decoded_in_chunks(
                bind_all(select(&query.sql), query.values.clone()).fetch(&mut **tx),
            ),
        }
    }

    /// How many entries the filter selects (for a progress line).
    pub async fn count_entries(&mut self, filter: &EntryFilter) -> StoreResult<u64> {
        let (clauses, values) = where_clauses(self.dialect, filter);
        let sql = format!(
            "SELECT COUNT(*) AS n FROM entries e WHERE {}",
            clauses.join(" AND ")
        );
        let n = match &mut self.snapshot {
            Snapshot::Any(tx) => int(
                &bind_all(select(&sql), values).fetch_one(&mut **tx).await?,
                "n",
            )?,
            Snapshot::Postgres(tx) => int(
                &bind_all(select(&sql), values).fetch_one(&mut **tx).await?,
                "n",
            )?,
        };
        u64::try_from(n).map_err(|e| StoreError::Corrupt(anyhow::anyhow!("COUNT(*) is {n}: {e}")))
    }

    /// Ends the snapshot (it wrote nothing).
    pub async fn finish(self) -> StoreResult<()> {
        match self.snapshot {
            Snapshot::Any(tx) => tx.rollback().await?,
            Snapshot::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// Every entry `query` selects, in sequence order, streamed on `conn`.
pub(super) fn stream_entries<'r>(
    conn: &'r mut AnyConnection,
    query: &'r EntryQuery,
) -> BoxStream<'r, StoreResult<JournalEntry>> {
    let Some(bounds_sql) = &query.bounds else {
        return decoded_in_chunks(bind_all(select(&query.sql), query.values.clone()).fetch(conn));
    };
    // (connection, the last seq read and the last to read, whether the last page was read)
    let start = (conn, None::<(i64, i64)>, false);
    let pages = futures::stream::try_unfold(start, move |(conn, bounds, done)| async move {
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
        let packed = row.try_get::<String, _>("entries")?;
        Ok(Some((packed, (conn, Some((read, last)), read >= last))))
    })
    .map_ok(|packed| move || unpack(&packed));
    decoded_pages(pages)
}

/// Rows decoded together on a thread of their own, off the read: as many as a packed page.
const DECODED_TOGETHER: usize = PACKED_ENTRIES as usize;

/// A driver's rows as entries, decoded `DECODED_TOGETHER` at a time apart from the read.
fn decoded_in_chunks<'r, R: Fields + Send + 'static>(
    rows: BoxStream<'r, Result<R, sqlx::Error>>,
) -> BoxStream<'r, StoreResult<JournalEntry>> {
    let pages = (rows.chunks(DECODED_TOGETHER))
        .map(|rows| Ok(move || (rows.into_iter()).map(|row| journal_entry(&row?)).collect()));
    decoded_pages(pages)
}

/// The entries of each page in turn, every page decoded by its own `decode` on a blocking
/// thread while the next page is read.
fn decoded_pages<'r, D>(
    pages: impl futures::Stream<Item = StoreResult<D>> + Send + 'r,
) -> BoxStream<'r, StoreResult<JournalEntry>>
where
    D: FnOnce() -> Vec<StoreResult<JournalEntry>> + Send + 'static,
{
    pages
        .map_ok(decoded_apart)
        .try_buffered(2)
        .map_ok(futures::stream::iter)
        .try_flatten()
        .boxed()
}

/// Runs `decode` on a blocking thread, so that the stream reads the next rows meanwhile (its
/// consumer, on a core of its own, writes out the ones before).
async fn decoded_apart(
    decode: impl FnOnce() -> Vec<StoreResult<JournalEntry>> + Send + 'static,
) -> StoreResult<Vec<StoreResult<JournalEntry>>> {
    match tokio::task::spawn_blocking(decode).await {
        Ok(entries) => Ok(entries),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down.
        Err(_) => Err(StoreError::Unavailable(sqlx::Error::WorkerCrashed)),
    }
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

/// One packed page's entries, in `seq` order.
fn unpack(packed: &str) -> Vec<StoreResult<JournalEntry>> {
    let rows: Vec<Vec<PackedValue>> = match serde_json::from_str(packed) {
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
    values: &'a [PackedValue<'a>],
}

/// One value of a packed entry: SQLite's null, integer or text, the text borrowed from the page
/// unless JSON escaped it.
enum PackedValue<'a> {
    Null,
    Int(i64),
    Text(std::borrow::Cow<'a, str>),
    /// Anything else (a real, say), which no entry column holds.
    Other,
}

impl<'de> serde::Deserialize<'de> for PackedValue<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PackedVisitor)
    }
}

struct PackedVisitor;

impl<'de> serde::de::Visitor<'de> for PackedVisitor {
    type Value = PackedValue<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a null, an integer or a text")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(PackedValue::Null)
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(PackedValue::Int(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v).map(PackedValue::Int).map_err(E::custom)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(PackedValue::Other)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(PackedValue::Other)
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(PackedValue::Text(std::borrow::Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PackedValue::Text(std::borrow::Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(PackedValue::Text(std::borrow::Cow::Owned(v)))
    }
}

impl Packed<'_> {
    fn value(&self, column: &str) -> StoreResult<&PackedValue<'_>> {
        (self.names.iter().position(|n| *n == column))
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| StoreError::Corrupt(anyhow::anyhow!("column {column}: not packed")))
    }
}

impl Fields for Packed<'_> {
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        match self.value(column)? {
            PackedValue::Null => Ok(None),
            PackedValue::Text(s) => Ok(Some(s.to_string())),
            _ => Err(StoreError::Corrupt(anyhow::anyhow!(
                "column {column}: not text"
            ))),
        }
    }

    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        match self.value(column)? {
            PackedValue::Null => Ok(None),
            PackedValue::Int(n) => Ok(Some(*n)),
            _ => Err(StoreError::Corrupt(anyhow::anyhow!(
                "column {column}: not a number"
            ))),
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

/// Binds `values` in order, on either driver.
fn bind_all<'q, DB: Database>(
    mut query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    values: Vec<Value>,
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    String: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
{
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A packed page of one entry whose reference is `reference` (any JSON value).
    fn page(reference: serde_json::Value) -> String {
        let id = "0193a7a0-0000-7000-8000-000000000001";
        let account = "0193a7a0-0000-7000-8000-000000000002";
        let entry = serde_json::json!([
            7, "cust-1", id, account, 1, "debit", 1_000_000, 1_000_001, "key-1", reference, null,
            null, "", "h1", "1;", "actor", null, null
        ]);
        serde_json::Value::Array(vec![entry]).to_string()
    }

    #[test]
    fn a_packed_entry_reads_escaped_text_as_it_was_written() {
        let reference = "say \"hi\"\n\tthen \\ bye ✓";
        let entries = unpack(&page(reference.into()));
        let [Ok(e)] = &entries[..] else {
            panic!("one entry: {entries:?}");
        };
        assert_eq!((e.seq, e.external_id.as_str()), (7, "cust-1"));
        assert_eq!(e.entry.reference, reference);
        assert_eq!(e.entry.idempotency_key, "key-1");
        assert_eq!(e.entry.effective_at.timestamp_micros(), 1_000_000);
    }

    #[test]
    fn a_packed_entry_with_a_number_for_text_is_corrupt() {
        let entries = unpack(&page(serde_json::json!(3)));
        let [Err(StoreError::Corrupt(e))] = &entries[..] else {
            panic!("one corrupt entry: {entries:?}");
        };
        assert!(e.to_string().contains("reference"), "{e}");
        let entries = unpack("[[1, 2");
        assert!(matches!(&entries[..], [Err(StoreError::Corrupt(_))]));
    }
}
