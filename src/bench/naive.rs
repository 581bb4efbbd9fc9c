//! The baseline to beat: a debit done the way typical ledgers do it, straight on PostgreSQL with
//! one transaction per request — `SELECT … FOR UPDATE` on the balance row, `UPDATE` it, `INSERT`
//! the entry, `COMMIT`. It lives here, in the bench, and never in the service.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use rust_decimal::Decimal;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

use super::load::{drive, Picker, Rng, Timing};
use super::report::Tally;
use super::scenarios::START_BALANCE;

const SCHEMA: &str = "
    CREATE TABLE naive_balances (account_id BIGINT PRIMARY KEY, balance NUMERIC NOT NULL);
    CREATE TABLE naive_entries (
        id BIGSERIAL PRIMARY KEY,
        account_id BIGINT NOT NULL,
        amount NUMERIC NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );";

pub async fn setup(url: &str, accounts: usize, connections: u32) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .connect(url)
        .await
        .context("naive-sql pool")?;
    sqlx::raw_sql(SCHEMA).execute(&pool).await?;
    sqlx::query("INSERT INTO naive_balances SELECT g, $1::numeric FROM generate_series(0, $2) g")
        .bind(START_BALANCE)
        .bind(accounts as i64 - 1)
        .execute(&pool)
        .await?;
    Ok(pool)
}

async fn debit_once(
    pool: &PgPool,
    account: i64,
    amount: &str,
    key: String,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT balance::text AS balance FROM naive_balances WHERE account_id = $1 FOR UPDATE",
    )
    .bind(account)
    .fetch_one(&mut *tx)
    .await?;
    let balance: String = row.try_get("balance")?;
    let (balance, amount_value): (Decimal, Decimal) = (
        balance
            .parse()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        amount
            .parse()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
    );
    if balance < amount_value {
        return Err(sqlx::Error::RowNotFound);
    }
    sqlx::query("UPDATE naive_balances SET balance = balance - $2::numeric WHERE account_id = $1")
        .bind(account)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO naive_entries (account_id, amount, idempotency_key) VALUES ($1, $2::numeric, $3)")
        .bind(account)
        .bind(amount)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

pub async fn run(
    pool: PgPool,
    picker: Arc<Picker>,
    acked: Arc<Vec<AtomicU64>>,
    amount: String,
    concurrency: usize,
    timing: Timing,
) -> Tally {
    drive(concurrency, timing, move |worker, seq| {
        let (pool, acked, amount) = (pool.clone(), acked.clone(), amount.clone());
        let index = picker.pick(&mut Rng::new(((worker as u64) << 40) ^ seq));
        async move {
            match debit_once(&pool, index as i64, &amount, format!("n-{worker}-{seq}")).await {
                Ok(()) => {
                    acked[index].fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(error) => Err(match error {
                    sqlx::Error::Database(e) => {
                        e.code().map_or("database".into(), |c| c.to_string())
                    }
                    other => format!("{other:?}").chars().take(24).collect(),
                }),
            }
        }
    })
    .await
}

/// Every balance must equal the start minus the acknowledged debits. The naive path commits
/// before it answers, so nothing is unknown here unless a commit's answer was lost, which this
/// loopback run does not see.
pub async fn check_books(
    pool: &PgPool,
    acked: &[AtomicU64],
    amount: &str,
) -> anyhow::Result<String> {
    let (start, amount): (Decimal, Decimal) = (START_BALANCE.parse()?, amount.parse()?);
    let rows = sqlx::query(
        "SELECT account_id, balance::text AS balance FROM naive_balances ORDER BY account_id",
    )
    .fetch_all(pool)
    .await?;
    let mut total = 0;
    for row in rows {
        let (id, balance): (i64, String) = (row.try_get("account_id")?, row.try_get("balance")?);
        let n = acked[id as usize].load(Ordering::Relaxed);
        total += n;
        let expected = start - amount * Decimal::from(n);
        if balance.parse::<Decimal>()? != expected {
            bail!("BOOKS DO NOT BALANCE: naive account {id} has {balance}, expected {expected}");
        }
    }
    Ok(format!("ok ({} accounts, {total} charges)", acked.len()))
}
