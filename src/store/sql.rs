//! Small helpers for SQL built at run time: columns that say how they keep their values, `$n`
//! placeholders (understood by both PostgreSQL and sqlx's SQLite driver) cast to the column's
//! type where the dialect needs it, IN lists padded to a power of two, and multi-row inserts that
//! send all their rows as one JSON parameter, so a busy server prepares a handful of statement
//! shapes rather than one per batch size.
//!
//! Values cross sqlx's `Any` driver as text and integers: an id or an amount as its text, a time
//! as microseconds since the epoch, a flag as 0 or 1. Each dialect says how a column of each
//! [`Kind`] is read into that shape and how a bound value is cast back (`ops`): PostgreSQL keeps
//! native `uuid`, `numeric`, `timestamptz` and `boolean` columns, SQLite keeps text and integers.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

use super::{ops, Dialect, StoreResult};

/// How a column keeps its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    Int,
    Bool,
    /// A UUID, crossing the driver as its hyphenated lower-case text.
    Id,
    /// An exact decimal, crossing the driver as its text with its scale as written.
    Amount,
    /// An instant, crossing the driver as microseconds since the Unix epoch.
    Time,
}

/// A column of one of the ledger's tables.
#[derive(Debug, Clone, Copy)]
pub(super) struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

pub(super) const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

/// The columns' names, for an INSERT's column list.
pub(super) fn names(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns as a SELECT list, each read in the shape the driver carries and named as itself;
/// `qualifier` (e.g. `"e."`) goes before each column.
pub(super) fn select_list(dialect: Dialect, columns: &[Column], qualifier: &str) -> String {
    columns
        .iter()
        .map(|c| {
            let expr = (ops(dialect).read)(&format!("{qualifier}{}", c.name), c.kind);
            format!("{expr} AS {}", c.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Placeholder `$n` for a value compared with or written to a column of `kind`.
pub(super) fn param(dialect: Dialect, n: usize, kind: Kind) -> String {
    (ops(dialect).param)(n, kind)
}

/// A lookup, planned afresh with its parameters on every execution (an unnamed statement). A
/// cached generic plan is made once, often while a table is still nearly empty, and then kept:
/// on a fresh PostgreSQL database it turned primary-key lookups of holds into sequential scans
/// that grew with every hold. Writes stay prepared; their plan does not depend on table sizes.
pub(super) fn select<DB: sqlx::Database + sqlx::database::HasStatementCache>(
    sql: &str,
) -> Query<'_, DB, DB::Arguments<'_>> {
    sqlx::query(sql).persistent(false)
}

/// A lookup on the batch path, prepared and kept on both stores: SQLite's planner does not cache
/// plans by table size, and PostgreSQL plans it once inside a batch's transaction, with
/// sequential scans off (see `postgres.rs`).
pub(super) fn lookup(sql: &str) -> Query<'_, Any, AnyArguments<'_>> {
    sqlx::query(sql)
}

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

/// `$start, $start+1, …` for `count` values of a column of `kind`.
pub(super) fn placeholders(dialect: Dialect, start: usize, count: usize, kind: Kind) -> String {
    (start..start + count)
        .map(|i| param(dialect, i, kind))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Pads an IN list to the next power of two by repeating its last value, which changes nothing
/// in the result but bounds the number of distinct statements.
pub(super) fn padded(values: &[String]) -> Vec<String> {
    let mut padded = values.to_vec();
    if let Some(last) = values.last() {
        padded.resize(values.len().next_power_of_two(), last.clone());
    }
    padded
}

/// Rows bound for one table, with what follows the VALUES (e.g. an ON CONFLICT clause).
pub(super) struct RowSet<'a> {
    pub table: &'a str,
    pub columns: &'a [Column],
    pub suffix: String,
    pub rows: Vec<Vec<Value>>,
}

impl RowSet<'_> {
    /// `INSERT … SELECT … FROM <the rows in $param>`: the rows travel as one JSON array of arrays
    /// that the database unpacks (`jsonb_array_elements` on PostgreSQL, `json_each` on SQLite),
    /// so each table has one prepared statement whatever the batch size.
    fn insert_sql(&self, dialect: Dialect, param: usize) -> String {
        let kinds: Vec<Kind> = self.columns.iter().map(|c| c.kind).collect();
        format!(
            "INSERT INTO {} ({}) {}{}",
            self.table,
            names(self.columns),
            (ops(dialect).select_json_rows)(&kinds, param),
            self.suffix
        )
    }

    /// The rows as one JSON array of arrays, written straight into text (no tree of values in
    /// between: a batch's payload is built once per write).
    fn payload(self) -> String {
        serde_json::to_string(&self.rows).expect("texts and integers serialize")
    }
}

/// Writes every non-empty row set. On PostgreSQL they go as one statement (each insert a
/// data-modifying CTE), so a batch's writes cost one round trip; SQLite runs in-process, where a
/// statement each costs nothing extra.
/// Returns how many statements that took.
pub(super) async fn write_all(
    conn: &mut AnyConnection,
    dialect: Dialect,
    sets: Vec<RowSet<'_>>,
) -> StoreResult<u64> {
    let sets: Vec<RowSet<'_>> = sets.into_iter().filter(|s| !s.rows.is_empty()).collect();
    if sets.is_empty() {
        return Ok(0);
    }
    if !ops(dialect).write_in_one_statement {
        let count = sets.len() as u64;
        for set in sets {
            let sql = set.insert_sql(dialect, 1);
            sqlx::query(&sql)
                .bind(set.payload())
                .execute(&mut *conn)
                .await?;
        }
        return Ok(count);
    }
    let parts: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, set)| format!("w{i} AS ({})", set.insert_sql(dialect, i + 1)))
        .collect();
    let sql = format!("WITH {} SELECT 1", parts.join(", "));
    let mut query = sqlx::query(&sql);
    for set in sets {
        query = query.bind(set.payload());
    }
    query.execute(conn).await?;
    Ok(1)
}

/// A value in a payload: a JSON string, number or null.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Text(v) | Value::OptText(Some(v)) => s.serialize_str(v),
            Value::Int(v) | Value::OptInt(Some(v)) => s.serialize_i64(*v),
            Value::OptText(None) | Value::OptInt(None) => s.serialize_none(),
        }
    }
}
