//! What is particular to SQLite: the file is created on first start, runs in WAL mode with full
//! fsync at commit (an acknowledged mutation survives a crash), and waits on a busy lock rather
//! than failing at once.

use sqlx::any::AnyPoolOptions;
use sqlx::error::DatabaseError;
use sqlx::Executor;

use super::sql::Kind;
use super::DialectOps;

pub(super) static OPS: DialectOps = DialectOps {
    pool_options,
    migrator: || sqlx::migrate!("migrations/sqlite"),
    // The write lock up front, so a batch never has to upgrade a read lock (and fail) halfway.
    begin_batch: "BEGIN IMMEDIATE",
    // In WAL mode a deferred transaction fixes its snapshot at its first read and keeps it to
    // the end, without blocking writers.
    lookups_before_transaction: true,
    begin_snapshot: "BEGIN",
    // One writer at a time: BEGIN IMMEDIATE is the lock.
    lock_accounts: "",
    lock_events: None,
    // In-process: a statement each costs nothing extra.
    write_in_one_statement: false,
    select_json_rows,
    read,
    param,
};

/// `json_each` unpacks the rows; the `WHERE true` lets an ON CONFLICT clause follow. Every kind
/// is kept as the driver carries it.
fn select_json_rows(kinds: &[Kind], param: usize) -> String {
    let columns: Vec<String> = (0..kinds.len())
        .map(|i| format!("json_extract(r.value, '$[{i}]')"))
        .collect();
    format!(
        "SELECT {} FROM json_each(${param}) AS r WHERE true",
        columns.join(", ")
    )
}

fn read(column: &str, _: Kind) -> String {
    column.to_string()
}

fn param(n: usize, _: Kind) -> String {
    format!("${n}")
}

fn pool_options(options: AnyPoolOptions, url: &str) -> (AnyPoolOptions, String) {
    let url = if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    };
    let options = options.after_connect(|conn, _meta| {
        Box::pin(async move {
            conn.execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                 PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
            )
            .await?;
            Ok(())
        })
    });
    (options, url)
}

/// The primary result code (the low byte of an extended one), if the error is SQLite's.
fn primary_code(error: &dyn DatabaseError) -> Option<i64> {
    error.code()?.parse::<i64>().ok().map(|code| code & 0xff)
}

/// What a retry can cure: SQLITE_BUSY and SQLITE_LOCKED (another writer holds the database),
/// SQLITE_IOERR, SQLITE_FULL and SQLITE_CANTOPEN (the disk).
pub(super) fn is_busy(error: &dyn DatabaseError) -> bool {
    is_sqlite(error) && matches!(primary_code(error), Some(5 | 6 | 10 | 13 | 14))
}

/// The data itself was refused: SQLITE_TOOBIG, SQLITE_CONSTRAINT (including a trigger's
/// RAISE(ABORT)), SQLITE_MISMATCH, SQLITE_RANGE.
pub(super) fn is_refused(error: &dyn DatabaseError) -> bool {
    is_sqlite(error) && matches!(primary_code(error), Some(18 | 19 | 20 | 25))
}

fn is_sqlite(error: &dyn DatabaseError) -> bool {
    error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
}
