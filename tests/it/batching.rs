//! A regression guard for group commit that times nothing: debits queued together are written
//! by one batch, in a number of statements that does not grow with how many there are. Were the
//! executor to go back to a transaction per request, 300 debits would take hundreds.
//!
//! The test runs on a current-thread runtime: every submit enqueues its command before the test
//! task yields, so the executor's loop deterministically finds all of them queued at once.

use credit_ledger::ledger::*;

use crate::helpers::{Backend, ExecutorRig};

/// A batch of debits: three lookups (accounts, lots, idempotency), then the writes. PostgreSQL
/// sends every table's rows in one statement; SQLite, in-process, one per table (accounts, lots,
/// entries with their postings and idempotency records). BEGIN and COMMIT come on top, once each.
fn statements_per_batch_max(backend: Backend) -> u64 {
    match backend {
        Backend::Postgres => 3 + 1,
        Backend::Sqlite => 3 + 3,
    }
}

async fn queued_debits_commit_as_one_batch(backend: Backend) {
    let rig = ExecutorRig::start(backend).await;
    let (store, executor) = (&rig.store, &rig.executor);
    let account = rig.funded_account("batched", "1000000").await;
    for debits in [10usize, 300] {
        let entries_before = store.count("entries").await.unwrap();
        let records_before = store.count("idempotency").await.unwrap();
        let before = store.batch_statements();
        let calls = (0..debits).map(|i| {
            executor.submit(Command::Debit(Debit {
                idempotency_key: format!("d-{debits}-{i}"),
                account_id: account,
                quantity: Quantity::parse("quantity", "1").unwrap(),
                meter: String::new(),
                reference: String::new(),
                usage: None,
                subject: String::new(),
            }))
        });
        for result in futures::future::join_all(calls).await {
            assert!(matches!(result, Ok(Outcome::Debited { .. })), "{result:?}");
        }
        let used = store.batch_statements() - before;
        assert!(
            used <= statements_per_batch_max(backend),
            "{debits} debits took {used} statements"
        );
        let written = store.count("entries").await.unwrap() - entries_before;
        assert_eq!(written, debits as i64);
        // Each debit's idempotency record is kept in its entry: no row of its own.
        let records = store.count("idempotency").await.unwrap() - records_before;
        assert_eq!(records, 0);
    }
    // And a retry is still answered from it, exactly.
    let retry = || {
        executor.submit(Command::Debit(Debit {
            idempotency_key: "d-300-7".into(),
            account_id: account,
            quantity: Quantity::parse("quantity", "1").unwrap(),
            meter: String::new(),
            reference: String::new(),
            usage: None,
            subject: String::new(),
        }))
    };
    let (first, second) = (retry().await.unwrap(), retry().await.unwrap());
    assert_eq!(first, second);
    assert_eq!(store.count("entries").await.unwrap(), 1 + 10 + 300);
    let changed = Command::Debit(Debit {
        idempotency_key: "d-300-7".into(),
        account_id: account,
        quantity: Quantity::parse("quantity", "2").unwrap(),
        meter: String::new(),
        reference: String::new(),
        usage: None,
        subject: String::new(),
    });
    assert!(matches!(
        executor.submit(changed).await,
        Err(credit_ledger::executor::ExecError::Ledger(
            LedgerError::IdempotencyConflict { .. }
        ))
    ));
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

/// A batch's lookups on PostgreSQL are prepared and planned once, generically, possibly while
/// the tables hold a row or two; inside a batch the planner must still choose their indexes, or
/// a lookup would scan the whole table once it has grown. (Outside a batch's settings, these
/// same statistics make PostgreSQL choose sequential scans.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batch_lookups_plan_index_scans_on_tiny_tables() {
    use credit_ledger::store::POSTGRES_BATCH_BEGIN;
    use sqlx::{Executor, Row};

    let rig = ExecutorRig::start(Backend::Postgres).await;
    rig.funded_account("tiny", "10").await;
    let mut conn = rig.store.pool().acquire().await.unwrap();
    conn.execute("ANALYZE").await.unwrap();
    conn.execute(POSTGRES_BATCH_BEGIN).await.unwrap();
    // Each lookup's shape, as a batch of 32 commands on one account sends it ($1 to $32 the
    // batch's keys or ids, $33 the account), and the index it must be found by. (With many keys
    // and one account, a lookup that also offered the account to an index was planned by an
    // index of entries that leads with the account: every entry of the hot account, every batch.
    // It still is, by the primary key, without `account_id || ''`.)
    let keys = (1..=32)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let ids = (1..=32)
        .map(|i| format!("${i}::uuid"))
        .collect::<Vec<_>>()
        .join(", ");
    let lookups = [
        (
            "SELECT id FROM accounts WHERE id IN ($33::uuid) ORDER BY id FOR UPDATE".to_string(),
            "accounts_pkey",
        ),
        (
            "SELECT id FROM lots WHERE account_id IN ($33::uuid) AND status = 'active'".to_string(),
            "lots_account_active",
        ),
        // Either partial index of open holds will do: neither reads a closed hold, and the
        // sweeper keeps the due ones few.
        (
            "SELECT id FROM holds WHERE account_id IN ($33::uuid) AND status = 'open' \
             AND expires_at <= now()"
                .to_string(),
            "holds_account_open|holds_due",
        ),
        (
            format!(
                "SELECT key FROM idempotency WHERE key IN ({keys}) AND account_id IN ($33::uuid)"
            ),
            "idempotency_pkey",
        ),
        (
            format!(
                "SELECT id FROM entries WHERE idempotency_key IN ({keys}) \
                 AND account_id || '' IN ($33) AND outcome IS NOT NULL"
            ),
            "entries_idempotency",
        ),
        (
            format!("SELECT key FROM account_creations WHERE key IN ({keys})"),
            "account_creations_pkey",
        ),
        (
            format!("SELECT account_id FROM hold_accounts WHERE hold_id IN ({ids})"),
            "hold_accounts_pkey",
        ),
        (
            format!("SELECT id FROM holds WHERE account_id IN ($33::uuid) AND id IN ({ids})"),
            "holds_pkey",
        ),
        (
            format!("SELECT id FROM lots WHERE id IN ({ids}) AND status <> 'active'"),
            "lots_id",
        ),
    ];
    let types = vec!["text"; 33].join(", ");
    // Values that are ids where the lookup wants ids, and keys that look the same elsewhere.
    let values = (1..=33)
        .map(|i| format!("'{}'", uuid::Uuid::from_u128(i)))
        .collect::<Vec<_>>()
        .join(", ");
    for (n, (lookup, index)) in lookups.iter().enumerate() {
        conn.execute(format!("PREPARE q{n}({types}) AS {lookup}").as_str())
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN EXECUTE q{n}({values})"))
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(0))
            .collect();
        let plan = plan.join("\n");
        assert!(!plan.contains("Seq Scan"), "{lookup}:\n{plan}");
        // Ids are probed, not filtered out of an account's every row.
        assert!(
            !plan
                .lines()
                .any(|line| line.contains("Filter") && line.contains("(id = ANY")),
            "{lookup} probes its ids:\n{plan}"
        );
        assert!(
            index.split('|').any(|index| plan.contains(index)),
            "{lookup} by {index}:\n{plan}"
        );
    }
    conn.execute("ROLLBACK").await.unwrap();
    drop(conn);
    rig.stop().await;
}
