//! What is particular to PostgreSQL: statements are planned with their parameters; a batch locks its accounts with `SELECT … FOR UPDATE` in id
//! order, so several instances can serve one database without deadlocking; and the SQLSTATEs
//! that mean "the server is going away or refusing us", which the executor treats as retryable.

use sqlx::any::AnyPoolOptions;
use sqlx::error::DatabaseError;
use sqlx::Executor;

/// Plans every statement with its parameters and the table's current size. A cached generic
/// plan is made once, often while a table is still nearly empty, and then kept: on a fresh
/// database it turned primary-key lookups of holds into sequential scans that grew with every
/// hold. Planning each execution costs a little CPU; a stale plan cost milliseconds a batch.
pub(super) fn pool_options(options: AnyPoolOptions) -> AnyPoolOptions {
    options.after_connect(|conn, _meta| {
        Box::pin(async move {
            conn.execute("SET plan_cache_mode = force_custom_plan")
                .await?;
            Ok(())
        })
    })
}

/// Appended to the accounts query of a batch.
pub(super) const LOCK_ACCOUNTS: &str = " FOR UPDATE";

/// Class 08 (connection exception), 57P01-57P03 (admin shutdown, crash shutdown, cannot connect
/// now), 53300 (too many connections), 40001/40P01 (serialization failure, deadlock).
pub(super) fn is_unavailable(error: &dyn DatabaseError) -> bool {
    let Some(code) = error.code() else {
        return false;
    };
    code.starts_with("08")
        || matches!(
            code.as_ref(),
            "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01"
        )
}
