//! What is particular to PostgreSQL: a batch locks its accounts with `SELECT … FOR UPDATE` in id
//! order, so several instances can serve one database without deadlocking; and the SQLSTATEs
//! that mean "the server is going away or refusing us", which the executor treats as retryable.

use sqlx::error::DatabaseError;

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

/// Serializes the commits of batches that write events from here to their COMMIT, so events'
/// seq (an identity, handed out at insert) follows commit order and a subscriber's cursor never
/// skips an event that commits late. Only batches with events take it.
pub(super) const LOCK_EVENTS: &str = "SELECT pg_advisory_xact_lock(7216403)";
