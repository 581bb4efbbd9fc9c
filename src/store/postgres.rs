//! What is particular to PostgreSQL: a batch locks its accounts with `SELECT … FOR UPDATE` in id
//! order, so several instances can serve one database without deadlocking; and the SQLSTATEs
//! that mean "the server is going away or refusing us", which the executor treats as retryable.

use sqlx::any::AnyPoolOptions;
use sqlx::error::DatabaseError;

use super::DialectOps;

pub(super) static OPS: DialectOps = DialectOps {
    pool_options,
    migrator: || sqlx::migrate!("migrations/postgres"),
    // A batch's lookups are prepared once per connection and planned once (a generic plan), so
    // a batch spends no time parsing and planning them. Sequential scans are off inside the
    // batch: every lookup has an index, and a generic plan made while a table was still nearly
    // empty once turned key lookups into scans of the whole table. One round trip with BEGIN.
    begin_batch: BATCH_BEGIN,
    begin_snapshot: "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    lock_accounts: " FOR UPDATE",
    lock_events: Some(LOCK_EVENTS),
    // A batch's writes cost one round trip.
    write_in_one_statement: true,
    select_json_rows,
};

/// How a batch's transaction begins on PostgreSQL (public so a test can hold the planner to it).
pub const BATCH_BEGIN: &str =
    "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan";

fn pool_options(options: AnyPoolOptions, url: &str) -> (AnyPoolOptions, String) {
    (options, url.to_string())
}

/// `jsonb_array_elements` unpacks the rows, integers cast back from text.
fn select_json_rows(integer: &[bool], param: usize) -> String {
    let columns: Vec<String> = integer
        .iter()
        .enumerate()
        .map(|(i, &int)| match int {
            true => format!("(r->>{i})::bigint"),
            false => format!("r->>{i}"),
        })
        .collect();
    format!(
        "SELECT {} FROM jsonb_array_elements(${param}::jsonb) AS r",
        columns.join(", ")
    )
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
