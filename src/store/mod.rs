//! The database behind one contract. Both stores keep the same tables and keys, each in the
//! types that suit it: PostgreSQL in native `uuid`, `numeric`, `timestamptz` and `boolean`
//! columns, SQLite in text and integers. One code path through sqlx's `Any` driver serves both,
//! with values crossing it as text and integers (`sql::Kind`); what differs between SQLite and
//! PostgreSQL (connection setup, migrations, casts, how a batch takes its locks) lives in
//! `sqlite.rs` and `postgres.rs`.

pub mod admin;
pub mod audit;
mod batch;
pub mod journal;
mod keys;
pub mod naive;
mod periods;
mod postgres;
mod prices;
mod reads;
mod rows;
mod sql;
mod sqlite;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Any, AnyPool, Transaction};

pub use batch::{Basis, Batch, BatchConnection};
pub use journal::{EntryFilter, JournalEntry, JournalReader};
pub use periods::{PeriodClose, PeriodLine};
pub use postgres::BATCH_BEGIN as POSTGRES_BATCH_BEGIN;
pub use rows::StoredEvent;

use crate::config::DatabaseUrl;
pub use crate::config::Dialect;

/// Everything that differs between SQLite and PostgreSQL, said once per dialect in `sqlite.rs`
/// and `postgres.rs`; the rest of the store asks [`ops`] and never matches on the dialect.
struct DialectOps {
    /// Fits the pool to the dialect and gives the URL to connect to.
    pub pool_options: fn(AnyPoolOptions, &str) -> (AnyPoolOptions, String),
    pub migrator: fn() -> sqlx::migrate::Migrator,
    /// How a batch's transaction begins.
    pub begin_batch: &'static str,
    /// Whether a batch applied to carried state runs its lookups before its transaction begins
    /// (SQLite: the transaction takes the write lock, which waits for the batch before) rather
    /// than inside it (PostgreSQL: nothing is locked until the batch confirms its accounts).
    pub lookups_before_transaction: bool,
    /// How a read-only view of one moment begins.
    pub begin_snapshot: &'static str,
    /// Appended to the query that loads a batch's accounts: locks them, in id order.
    pub lock_accounts: &'static str,
    /// Taken before a batch that writes events: makes event seq follow commit order.
    pub lock_events: Option<&'static str>,
    /// Whether a batch's inserts go as one statement (each a data-modifying CTE) or one each.
    pub write_in_one_statement: bool,
    /// `SELECT <one expression per column> FROM <the JSON rows in $param>`, ready for an INSERT
    /// and an ON CONFLICT clause after it, each value cast to its column's kind.
    pub select_json_rows: fn(&[sql::Kind], usize) -> String,
    /// A column expression of a kind read as the driver carries it (text or an integer).
    pub read: fn(&str, sql::Kind) -> String,
    /// Placeholder `$n` cast to a column of a kind.
    pub param: fn(usize, sql::Kind) -> String,
}

fn ops(dialect: Dialect) -> &'static DialectOps {
    match dialect {
        Dialect::Sqlite => &sqlite::OPS,
        Dialect::Postgres => &postgres::OPS,
    }
}

/// A storage failure, classified by what the executor should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or the connection broke: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A batch's connection or transaction could not be had: nothing of the batch was sent.
    /// Retry later; a connection kept across batches that died while idle fails so on its first
    /// use, and is worth one retry at once on a fresh one.
    #[error("the batch could not begin: {0}")]
    NotBegun(#[source] sqlx::Error),
    /// A unique constraint refused a write (another instance got there first).
    #[error("constraint {constraint} violated")]
    UniqueViolation { constraint: String },
    /// A row the store wrote could not be read back (the store is damaged), or the engine
    /// failed on the batch's data: retrying the same batch will not help.
    #[error("corrupt row: {0:#}")]
    Corrupt(anyhow::Error),
    /// The database refused a statement for the data it carried (a data exception such as an
    /// encoding error or a value out of range, or a constraint other than a unique one).
    #[error("refused by the database: {0}")]
    Refused(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl StoreError {
    /// Whether a retry of the same work can succeed: the database was unreachable or busy.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::NotBegun(_))
    }

    /// Whether the database refused the data itself.
    pub fn is_content(&self) -> bool {
        matches!(self, StoreError::Refused(_))
    }

    /// The same error met before any of a batch's data was sent (taking a connection, BEGIN):
    /// whatever its code, it cannot be about a command, so a retry is the answer. (A database
    /// that refuses connections answers 55000, for one.)
    pub fn before_any_data(self) -> StoreError {
        match self {
            StoreError::Unavailable(e) | StoreError::Refused(e) | StoreError::Other(e) => {
                StoreError::NotBegun(e)
            }
            other => other,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::UniqueViolation {
                constraint: db.constraint().unwrap_or(db.message()).to_string(),
            },
            sqlx::Error::Database(db) if sqlite::is_busy(db.as_ref()) => {
                StoreError::Unavailable(error)
            }
            sqlx::Error::Database(db) if postgres::is_unavailable(db.as_ref()) => {
                StoreError::Unavailable(error)
            }
            sqlx::Error::Database(db)
                if sqlite::is_refused(db.as_ref()) || postgres::is_refused(db.as_ref()) =>
            {
                StoreError::Refused(error)
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error),
            _ => StoreError::Other(error),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// PostgreSQL's long reads (exports, reports), on native connections opened on first use:
    /// sqlx's Any driver copies every row into a row of its own, column by column, which cost
    /// an export a quarter of its time. A pool of their own also keeps a long export from
    /// holding a connection the write path needs.
    reads: Option<PgPool>,
    dialect: Dialect,
    /// Statements the batch path has run, so a test can hold it to a bound that does not grow
    /// with the batch.
    statements: Arc<AtomicU64>,
}

impl Store {
    /// Connects (creating an SQLite file on first start) without touching the schema.
    pub async fn connect(
        url: &DatabaseUrl,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let dialect = url.dialect();
        let options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout);
        let (options, connect_to) = (ops(dialect).pool_options)(options, url.as_str());
        let pool = options
            .connect(&connect_to)
            .await
            .with_context(|| format!("connecting to {}", url.redacted()))?;
        let reads = match dialect {
            Dialect::Postgres => Some(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(acquire_timeout)
                    .connect_lazy(&connect_to)
                    .with_context(|| format!("connecting to {}", url.redacted()))?,
            ),
            Dialect::Sqlite => None,
        };
        Ok(Store {
            pool,
            reads,
            dialect,
            statements: Arc::default(),
        })
    }

    /// Applies the dialect's migrations; safe to run on every start.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        (ops(self.dialect).migrator)()
            .run(&self.pool)
            .await
            .context("applying migrations")
    }

    /// A read-only view of one moment, for reads that page through much of the store (the
    /// audit, exports, reports).
    pub async fn snapshot(&self) -> StoreResult<Transaction<'static, Any>> {
        Ok(self
            .pool
            .begin_with(ops(self.dialect).begin_snapshot)
            .await?)
    }

    /// How many statements batches have run through this store (loads and writes; not BEGIN or
    /// COMMIT).
    pub fn batch_statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// The columns as a SELECT list in this store's dialect (see `sql::select_list`).
    fn columns(&self, columns: &[sql::Column]) -> String {
        sql::select_list(self.dialect, columns, "")
    }

    /// Placeholder `$n` for a value of a column of `kind`, in this store's dialect.
    fn param(&self, n: usize, kind: sql::Kind) -> String {
        sql::param(self.dialect, n, kind)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(reads) = &self.reads {
            reads.close().await;
        }
    }
}
