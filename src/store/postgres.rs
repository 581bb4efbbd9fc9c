//! What is particular to PostgreSQL: a batch locks its accounts with `SELECT … FOR UPDATE` in id
//! order, so several instances can serve one database without deadlocking; and the SQLSTATEs
//! that mean "the server is going away or refusing us", which the executor treats as retryable.

use sqlx::any::AnyPoolOptions;
use sqlx::error::DatabaseError;

use super::sql::Kind;
use super::DialectOps;

pub(super) static OPS: DialectOps = DialectOps {
    pool_options,
    migrator: || sqlx::migrate!("migrations/postgres"),
    // A batch's lookups are prepared once per connection and planned once (a generic plan), so
    // a batch spends no time parsing and planning them. Sequential scans are off inside the
    // batch: every lookup has an index, and a generic plan made while a table was still nearly
    // empty once turned key lookups into scans of the whole table. One round trip with BEGIN.
    begin_batch: BATCH_BEGIN,
    lookups_before_transaction: false,
    begin_snapshot: "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    lock_accounts: " FOR UPDATE",
    lock_events: Some(LOCK_EVENTS),
    // A batch's writes cost one round trip.
    write_in_one_statement: true,
    select_json_rows,
    read,
    param,
};

/// How a batch's transaction begins on PostgreSQL (public so a test can hold the planner to it).
pub const BATCH_BEGIN: &str = "BEGIN; SET LOCAL enable_seqscan = off; \
     SET LOCAL plan_cache_mode = force_generic_plan; LOCK TABLE books_closed IN ROW SHARE MODE";

fn pool_options(options: AnyPoolOptions, url: &str) -> (AnyPoolOptions, String) {
    (options, url.to_string())
}

/// `jsonb_array_elements` unpacks the rows, each value cast to its column's type.
fn select_json_rows(kinds: &[Kind], param: usize) -> String {
    let columns: Vec<String> = kinds
        .iter()
        .enumerate()
        .map(|(i, &kind)| cast(&format!("(r->>{i})"), kind))
        .collect();
    format!(
        "SELECT {} FROM jsonb_array_elements(${param}::jsonb) AS r",
        columns.join(", ")
    )
}

/// A value the driver carries (text, or an integer for times and flags) as a column of `kind`.
/// A time is the epoch plus its microseconds: exact, where `to_timestamp` goes through a float.
fn cast(value: &str, kind: Kind) -> String {
    match kind {
        Kind::Text => value.to_string(),
        Kind::Int => format!("{value}::int8"),
        Kind::Bool => format!("{value}::int8 <> 0"),
        Kind::Id => format!("{value}::uuid"),
        Kind::Amount => format!("{value}::numeric"),
        Kind::Time => format!("(TIMESTAMPTZ 'epoch' + {value}::int8 * INTERVAL '1 microsecond')"),
    }
}

fn param(n: usize, kind: Kind) -> String {
    match kind {
        Kind::Text | Kind::Int => format!("${n}"),
        kind => cast(&format!("${n}"), kind),
    }
}

/// A column as the driver carries it: ids and amounts as text (a numeric's text keeps the scale
/// it was written with), times as microseconds since the epoch, flags as 0 or 1.
fn read(column: &str, kind: Kind) -> String {
    match kind {
        Kind::Text | Kind::Int => column.to_string(),
        Kind::Bool => format!("{column}::int4::int8"),
        Kind::Id | Kind::Amount => format!("{column}::text"),
        Kind::Time => format!("(EXTRACT(EPOCH FROM {column}) * 1000000)::int8"),
    }
}

/// What a retry can cure: class 08 (connection exception), 40 (transaction rollback:
/// serialization failure, deadlock), 53 (insufficient resources: disk full, out of memory, too
/// many connections), 55 (object not in prerequisite state: lock not available, a database
/// that does not allow connections), 57 (operator intervention: shutdown, cannot connect now,
/// query cancelled) and 58 (system error: I/O).
pub(super) fn is_unavailable(error: &dyn DatabaseError) -> bool {
    sqlstate(error).is_some_and(|code| {
        ["08", "40", "53", "55", "57", "58"]
            .iter()
            .any(|class| code.starts_with(class))
    })
}

/// The data itself was refused: class 22 (data exception: invalid encoding, value out of range,
/// string too long) or 23 (integrity constraint violation; unique ones are told apart first).
pub(super) fn is_refused(error: &dyn DatabaseError) -> bool {
    sqlstate(error).is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
}

/// The SQLSTATE of an error PostgreSQL sent; `None` for anyone else's (SQLite's numeric codes
/// would otherwise match a class by their first digits, as 531 would class 53).
fn sqlstate(error: &dyn DatabaseError) -> Option<&str> {
    error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .map(|pg| pg.code())
}

/// Serializes the commits of batches that write events from here to their COMMIT, so events'
/// seq (an identity, handed out at insert) follows commit order and a subscriber's cursor never
/// skips an event that commits late. Only batches with events take it.
const LOCK_EVENTS: &str = "SELECT pg_advisory_xact_lock(7216403)";
