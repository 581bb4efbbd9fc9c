//! Small helpers for SQL built at run time: `$n` placeholders (understood by both PostgreSQL and
//! sqlx's SQLite driver) and multi-row inserts in power-of-two chunks, so a busy server prepares a
//! handful of statement shapes rather than one per batch size.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

use super::StoreResult;

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

pub(super) fn bind<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    value: Value,
) -> Query<'q, Any, AnyArguments<'q>> {
    match value {
        Value::Text(v) => query.bind(v),
        Value::OptText(v) => query.bind(v),
        Value::Int(v) => query.bind(v),
        Value::OptInt(v) => query.bind(v),
    }
}

/// `$start, $start+1, …` for `count` values.
pub(super) fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|i| format!("${i}"))
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

const CHUNK_ROWS_MAX: usize = 512;

/// Inserts `rows` into `table` with `suffix` (e.g. an ON CONFLICT clause) after the VALUES.
pub(super) async fn insert_rows(
    conn: &mut AnyConnection,
    table: &str,
    columns: &[&str],
    suffix: &str,
    rows: Vec<Vec<Value>>,
) -> StoreResult<()> {
    let mut rows = rows.into_iter().peekable();
    let mut left = rows.len();
    while rows.peek().is_some() {
        let chunk = largest_power_of_two_at_most(left.min(CHUNK_ROWS_MAX));
        left -= chunk;
        let tuples: Vec<String> = (0..chunk)
            .map(|r| format!("({})", placeholders(r * columns.len() + 1, columns.len())))
            .collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {}{suffix}",
            columns.join(", "),
            tuples.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for row in rows.by_ref().take(chunk) {
            for value in row {
                query = bind(query, value);
            }
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

fn largest_power_of_two_at_most(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.leading_zeros())
}
