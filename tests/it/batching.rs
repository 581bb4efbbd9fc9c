//! A regression guard for group commit that times nothing: debits queued together are written
//! by one batch, in a number of statements that does not grow with how many there are. Were the
//! executor to go back to a transaction per request, 300 debits would take hundreds.
//!
//! The test runs on a current-thread runtime: every submit enqueues its command before the test
//! task yields, so the executor's loop deterministically finds all of them queued at once.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use credit_ledger::clock::ManualClock;
use credit_ledger::executor::{Executor, ExecutorConfig};
use credit_ledger::ledger::*;
use credit_ledger::store::Store;

use crate::helpers::{Backend, Database};

/// Load (accounts, lots, idempotency) plus one write per table touched.
const STATEMENTS_PER_BATCH_MAX: u64 = 9;

async fn queued_debits_commit_as_one_batch(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = Store::connect(&db.database_url(), 2, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
    ));
    let config = ExecutorConfig {
        queue_capacity: 1_000,
        batch_size_max: 512,
        workers: 1,
        linger: std::time::Duration::ZERO,
        limits: Limits::default(),
    };
    let (executor, task) = Executor::spawn(store.clone(), clock, config);
    let account = open_funded_account(&executor).await;
    for debits in [10usize, 300] {
        let entries_before = store.count("entries").await.unwrap();
        let before = store.batch_statements();
        let calls = (0..debits).map(|i| {
            executor.submit(Command::Debit(Debit {
                idempotency_key: format!("d-{debits}-{i}"),
                account_id: account,
                quantity: Quantity::parse("quantity", "1").unwrap(),
                meter: String::new(),
                reference: String::new(),
            }))
        });
        for result in futures::future::join_all(calls).await {
            assert!(matches!(result, Ok(Outcome::Debited { .. })), "{result:?}");
        }
        let used = store.batch_statements() - before;
        assert!(
            used <= STATEMENTS_PER_BATCH_MAX,
            "{debits} debits took {used} statements"
        );
        let written = store.count("entries").await.unwrap() - entries_before;
        assert_eq!(written, debits as i64);
    }
    drop(executor);
    task.await.unwrap();
}

async fn open_funded_account(executor: &Executor) -> AccountId {
    let created = executor
        .submit(Command::CreateAccount(CreateAccount {
            idempotency_key: "create".into(),
            external_id: "batched".into(),
            unit: "CREDIT".into(),
            unit_scale: 0,
            credit_line_limit: Default::default(),
            credit_line_price: Money::ZERO,
            currency: "USD".into(),
            low_balance: Default::default(),
        }))
        .await
        .unwrap();
    let Outcome::Account(account) = created else {
        panic!("not an account: {created:?}")
    };
    executor
        .submit(Command::Grant(Grant {
            idempotency_key: "fund".into(),
            account_id: account.id,
            kind: LotKind::Paid,
            quantity: Quantity::parse("quantity", "1000000").unwrap(),
            price: Money::parse("price", "100").unwrap(),
            currency: "USD".into(),
            priority: 0,
            effective_at: None,
            expires_at: None,
            scope: Vec::new(),
            reference: String::new(),
        }))
        .await
        .unwrap();
    account.id
}

#[tokio::test]
async fn sqlite_queued_debits_commit_as_one_batch() {
    queued_debits_commit_as_one_batch(Backend::Sqlite).await
}

#[tokio::test]
async fn postgres_queued_debits_commit_as_one_batch() {
    queued_debits_commit_as_one_batch(Backend::Postgres).await
}
