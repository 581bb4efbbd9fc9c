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
