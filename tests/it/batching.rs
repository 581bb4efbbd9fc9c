//! A regression guard for group commit that times nothing: debits queued together are written
//! by one batch, in a number of statements that does not grow with how many there are. Were the
//! executor to go back to a transaction per request, 300 debits would take hundreds.
//!
//! The test runs on a current-thread runtime: every submit enqueues its command before the test
//! task yields, so the executor's loop deterministically finds all of them queued at once.

use credit_ledger::ledger::*;

use crate::helpers::{Backend, ExecutorRig};

/// Load (accounts, lots, idempotency) plus one write per table touched.
const STATEMENTS_PER_BATCH_MAX: u64 = 9;

async fn queued_debits_commit_as_one_batch(backend: Backend) {
    let rig = ExecutorRig::start(backend).await;
    let (store, executor) = (&rig.store, &rig.executor);
    let account = rig.funded_account("batched", "1000000").await;
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
    rig.stop().await;
}

#[tokio::test]
async fn sqlite_queued_debits_commit_as_one_batch() {
    queued_debits_commit_as_one_batch(Backend::Sqlite).await
}

#[tokio::test]
async fn postgres_queued_debits_commit_as_one_batch() {
    queued_debits_commit_as_one_batch(Backend::Postgres).await
}
