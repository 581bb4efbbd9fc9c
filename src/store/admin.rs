//! Databases made and dropped whole, for the load generator's fresh database per scenario.

use anyhow::Context as _;
use sqlx::{Connection, Executor};

/// Creates database `name` on the PostgreSQL server that `admin_url` connects to.
pub async fn create_postgres_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .context("connecting to PostgreSQL")?;
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    Ok(())
}

/// Drops database `name` there, closing whatever is still connected to it.
pub async fn drop_postgres_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await?;
    Ok(())
}

/// Rows inserted and updated in the database `url` names since it was made, as PostgreSQL's
/// statistics count them (flushed by each session at its end, so read this once the sessions
/// that wrote are closed).
pub async fn postgres_rows_written(url: &str) -> anyhow::Result<u64> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let row: (i64, i64) = sqlx::query_as(
        "SELECT tup_inserted, tup_updated FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await?;
    Ok((row.0 + row.1).max(0) as u64)
}
