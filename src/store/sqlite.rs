//! What is particular to SQLite: the file is created on first start, runs in WAL mode with full
//! fsync at commit (an acknowledged mutation survives a crash), and waits on a busy lock rather
//! than failing at once.

use sqlx::any::AnyPoolOptions;
use sqlx::error::DatabaseError;
use sqlx::Executor;

pub(super) fn pool_options(options: AnyPoolOptions, url: &str) -> (AnyPoolOptions, String) {
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

/// SQLITE_BUSY and SQLITE_LOCKED: another writer holds the database; the batch can be retried.
pub(super) fn is_busy(error: &dyn DatabaseError) -> bool {
    matches!(
        error.code().as_deref(),
        Some("5") | Some("6") | Some("517") | Some("262")
    )
}
