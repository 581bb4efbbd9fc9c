//! The bench's baseline to beat, a debit done the way typical ledgers do it: straight on
//! PostgreSQL with one transaction per request — `SELECT … FOR UPDATE` on the balance row,
//! `UPDATE` it, `INSERT` the entry, `COMMIT`. Its own two tables, in the bench's scratch
//! database; the service never uses it. It lives in the store because it speaks SQL.

use anyhow::Context as _;
use rust_decimal::Decimal;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

const SCHEMA: &str = "
    CREATE TABLE naive_balances (account_id BIGINT PRIMARY KEY, balance NUMERIC NOT NULL);
    CREATE TABLE naive_entries (
        id BIGSERIAL PRIMARY KEY,
        account_id BIGINT NOT NULL,
        amount NUMERIC NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );";

/// Why one naive debit failed, short enough for the bench's error tally.
pub type NaiveError = String;

#[derive(Clone)]
pub struct NaiveLedger {
    pool: PgPool,
}

impl NaiveLedger {
    /// Creates the tables and `accounts` balances of `start` each, numbered from 0.
    pub async fn setup(
        url: &str,
        accounts: usize,
        start: &str,
        connections: u32,
    ) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .connect(url)
            .await
            .context("naive-sql pool")?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        sqlx::query(
            "INSERT INTO naive_balances SELECT g, $1::numeric FROM generate_series(0, $2) g",
        )
        .bind(start)
        .bind(accounts as i64 - 1)
        .execute(&pool)
        .await?;
        Ok(NaiveLedger { pool })
    }

    /// One debit of `amount` in its own transaction; refused when the balance is short.
    pub async fn debit(
        &self,
        account: i64,
        amount: Decimal,
        key: String,
    ) -> Result<(), NaiveError> {
        self.debit_once(account, amount, key)
            .await
            .map_err(|error| match error {
                sqlx::Error::Database(e) => e.code().map_or("database".into(), |c| c.to_string()),
                sqlx::Error::RowNotFound => "insufficient".into(),
                other => format!("{other:?}").chars().take(24).collect(),
            })
    }

    async fn debit_once(&self, account: i64, amount: Decimal, key: String) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT balance::text AS balance FROM naive_balances WHERE account_id = $1 FOR UPDATE",
        )
        .bind(account)
        .fetch_one(&mut *tx)
        .await?;
        let balance: Decimal = row
            .try_get::<String, _>("balance")?
            .parse()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        if balance < amount {
            return Err(sqlx::Error::RowNotFound);
        }
        let amount = amount.to_string();
        sqlx::query(
            "UPDATE naive_balances SET balance = balance - $2::numeric WHERE account_id = $1",
        )
        .bind(account)
        .bind(&amount)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO naive_entries (account_id, amount, idempotency_key) \
             VALUES ($1, $2::numeric, $3)",
        )
        .bind(account)
        .bind(&amount)
        .bind(key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Every balance, by account number.
    pub async fn balances(&self) -> anyhow::Result<Vec<(i64, Decimal)>> {
        let rows = sqlx::query(
            "SELECT account_id, balance::text AS balance FROM naive_balances ORDER BY account_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let balance: String = row.try_get("balance")?;
                Ok((row.try_get("account_id")?, balance.parse()?))
            })
            .collect()
    }
}
