//! One command never fails its batch: commands the store refuses, or that make the engine
//! panic, are isolated, everything queued with them commits, and only they are answered, with an
//! error a retry will not change (never UNAVAILABLE).
//!
//! The tests run on a current-thread runtime, so every command is queued before the executor's
//! loop runs and all of them land in one batch (as in `batching.rs`).

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use credit_ledger::clock::ManualClock;
use credit_ledger::executor::{ExecError, Executor, ExecutorConfig};
use credit_ledger::ledger::*;
use credit_ledger::store::Store;
use rust_decimal::Decimal;
use sqlx::Executor as _;

use crate::helpers::{Backend, Database};

struct Rig {
    store: Store,
    executor: Executor,
    task: tokio::task::JoinHandle<()>,
    _db: Database,
}

async fn rig(backend: Backend) -> Rig {
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
    Rig {
        store,
        executor,
        task,
        _db: db,
    }
}

async fn funded_account(executor: &Executor, name: &str) -> AccountId {
    let created = executor
        .submit(Command::CreateAccount(CreateAccount {
            idempotency_key: format!("create-{name}"),
            external_id: name.into(),
            unit: "CREDIT".into(),
            unit_scale: 0,
            credit_line_limit: Decimal::ZERO,
            credit_line_price: Money::ZERO,
            currency: "USD".into(),
            low_balance: LowBalance::None,
        }))
        .await
        .unwrap();
    let Outcome::Account(account) = created else {
        panic!("not an account: {created:?}")
    };
    executor
        .submit(Command::Grant(Grant {
            idempotency_key: format!("fund-{name}"),
            account_id: account.id,
            kind: LotKind::Paid,
            quantity: Quantity::parse("quantity", "1000").unwrap(),
            price: Money::parse("price", "10").unwrap(),
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

fn debit(account: AccountId, key: String, reference: &str) -> Command {
    Command::Debit(Debit {
        idempotency_key: key,
        account_id: account,
        quantity: Quantity::parse("quantity", "1").unwrap(),
        meter: String::new(),
        reference: reference.into(),
    })
}

/// A trigger that refuses any entry whose reference is `poison`, as a store would refuse a value
/// it cannot hold: SQLite's RAISE(ABORT) is a constraint failure, PostgreSQL's is a check
/// violation (class 23).
async fn install_poison_trigger(store: &Store, backend: Backend) {
    let pool = store.pool();
    match backend {
        Backend::Sqlite => {
            pool.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON entries WHEN NEW.reference = 'poison' \
                 BEGIN SELECT RAISE(ABORT, 'poison'); END",
            )
            .await
            .unwrap();
        }
        Backend::Postgres => {
            pool.execute(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
                 IF NEW.reference = 'poison' THEN \
                 RAISE EXCEPTION 'poison' USING ERRCODE = 'check_violation'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql",
            )
            .await
            .unwrap();
            pool.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON entries FOR EACH ROW \
                 EXECUTE FUNCTION poison()",
            )
            .await
            .unwrap();
        }
    }
}

async fn posted(store: &Store, account: AccountId) -> Decimal {
    let book = store
        .account_book(account, Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap())
        .await
        .unwrap()
        .expect("the account exists");
    book.balance(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap())
        .posted
}

async fn poisoned_commands_fail_alone_and_their_neighbours_commit(backend: Backend) {
    let rig = rig(backend).await;
    let accounts = [
        funded_account(&rig.executor, "a").await,
        funded_account(&rig.executor, "b").await,
        funded_account(&rig.executor, "c").await,
    ];
    install_poison_trigger(&rig.store, backend).await;
    let entries_before = rig.store.count("entries").await.unwrap();
    // 60 debits over three accounts; the first, a middle and the last command are poisoned,
    // one of them on an account whose other debits must still go through.
    let poisoned = [0usize, 31, 59];
    let commands: Vec<Command> = (0..60)
        .map(|i| {
            let reference = if poisoned.contains(&i) {
                "poison"
            } else {
                "ok"
            };
            debit(accounts[i % 3], format!("d-{i}"), reference)
        })
        .collect();
    let calls = commands.iter().cloned().map(|c| rig.executor.submit(c));
    let results = futures::future::join_all(calls).await;
    for (i, result) in results.iter().enumerate() {
        match poisoned.contains(&i) {
            true => assert!(
                matches!(result, Err(ExecError::Unstorable)),
                "poisoned command {i}: {result:?}"
            ),
            false => assert!(
                matches!(result, Ok(Outcome::Debited { .. })),
                "neighbour {i}: {result:?}"
            ),
        }
    }
    let written = rig.store.count("entries").await.unwrap() - entries_before;
    assert_eq!(written, 57, "every neighbour committed, no offender did");
    for (n, account) in accounts.iter().enumerate() {
        let charged = (0..60)
            .filter(|i| i % 3 == n && !poisoned.contains(i))
            .count();
        assert_eq!(
            posted(&rig.store, *account).await,
            Decimal::from(1000 - charged as i64)
        );
    }
    // The same request is refused again, the same way: an obedient client stops retrying.
    let again = rig.executor.submit(commands[31].clone()).await;
    assert!(matches!(again, Err(ExecError::Unstorable)), "{again:?}");
    drop(rig.executor);
    rig.task.await.unwrap();
}

/// A hold whose reservation names a lot that does not exist is a damaged row; the engine panics
/// on it. Only the command that touches it fails, INTERNAL; the rest of its batch commits.
async fn an_engine_panic_fails_only_its_command(backend: Backend) {
    let rig = rig(backend).await;
    let a = funded_account(&rig.executor, "a").await;
    let b = funded_account(&rig.executor, "b").await;
    let authorized = rig
        .executor
        .submit(Command::Authorize(Authorize {
            idempotency_key: "hold".into(),
            account_id: a,
            quantity: Quantity::parse("quantity", "5").unwrap(),
            ttl_ms: None,
            meter: String::new(),
            reference: String::new(),
        }))
        .await
        .unwrap();
    let Outcome::Authorized { hold, .. } = authorized else {
        panic!("not a hold: {authorized:?}")
    };
    let damaged = format!(
        "[{{\"lot_id\":\"{}\",\"quantity\":\"5\"}}]",
        uuid::Uuid::new_v4()
    );
    sqlx::query("UPDATE holds SET reserved = $1 WHERE id = $2")
        .bind(damaged)
        .bind(hold.id.to_string())
        .execute(rig.store.pool())
        .await
        .unwrap();
    let entries_before = rig.store.count("entries").await.unwrap();
    let mut commands: Vec<Command> = (0..20)
        .map(|i| debit(if i % 2 == 0 { a } else { b }, format!("d-{i}"), "ok"))
        .collect();
    commands.insert(
        7,
        Command::Release(Release {
            idempotency_key: "release".into(),
            hold_id: hold.id,
        }),
    );
    let calls = commands.iter().cloned().map(|c| rig.executor.submit(c));
    let results = futures::future::join_all(calls).await;
    for (i, result) in results.iter().enumerate() {
        match i {
            7 => assert!(
                matches!(result, Err(ExecError::Internal)),
                "the damaged hold's release: {result:?}"
            ),
            _ => assert!(
                matches!(result, Ok(Outcome::Debited { .. })),
                "neighbour {i}: {result:?}"
            ),
        }
    }
    assert_eq!(
        rig.store.count("entries").await.unwrap() - entries_before,
        20
    );
    assert_eq!(posted(&rig.store, a).await, Decimal::from(990));
    assert_eq!(posted(&rig.store, b).await, Decimal::from(990));
    drop(rig.executor);
    rig.task.await.unwrap();
}

#[tokio::test]
async fn sqlite_poisoned_commands_fail_alone_and_their_neighbours_commit() {
    poisoned_commands_fail_alone_and_their_neighbours_commit(Backend::Sqlite).await
}

#[tokio::test]
async fn postgres_poisoned_commands_fail_alone_and_their_neighbours_commit() {
    poisoned_commands_fail_alone_and_their_neighbours_commit(Backend::Postgres).await
}

#[tokio::test]
async fn sqlite_an_engine_panic_fails_only_its_command() {
    an_engine_panic_fails_only_its_command(Backend::Sqlite).await
}

#[tokio::test]
async fn postgres_an_engine_panic_fails_only_its_command() {
    an_engine_panic_fails_only_its_command(Backend::Postgres).await
}

/// The report that opened issue 8, replayed through the real server: six debits whose key or
/// reference holds a NUL, among 294 valid debits on another account. The six are refused at the
/// door, INVALID_ARGUMENT, and every valid debit goes through, on both stores.
async fn nul_requests_among_valid_ones_fail_alone(backend: Backend) {
    use credit_ledger::proto as p;

    let app = crate::helpers::TestApp::spawn(backend).await;
    let valid = app.account("valid", 0).await;
    let other = app.account("other", 0).await;
    app.top_up(&valid, "1000", "10", "fund-valid").await;
    app.top_up(&other, "1000", "10", "fund-other").await;
    let usage = app.usage().await;
    let calls = (0..300).map(|i| {
        let mut usage = usage.clone();
        let poisoned = i % 50 == 7;
        let (account, key, reference) = match (poisoned, i % 2) {
            (true, 0) => (&other, format!("bad\u{0}{i}"), String::new()),
            (true, _) => (&other, format!("bad-{i}"), "ref\u{0}".to_string()),
            (false, _) => (&valid, format!("ok-{i}"), format!("request {i}")),
        };
        let request = p::DebitRequest {
            idempotency_key: key,
            account: Some(crate::helpers::by_id(account)),
            quantity: "1".into(),
            reference,
            ..Default::default()
        };
        async move { (poisoned, usage.debit(request).await) }
    });
    let mut refused = 0;
    for (poisoned, result) in futures::future::join_all(calls).await {
        match (poisoned, result) {
            (false, Ok(_)) => {}
            (true, Err(status)) => {
                assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
                refused += 1;
            }
            (poisoned, result) => panic!("poisoned={poisoned}: {result:?}"),
        }
    }
    assert_eq!(refused, 6);
    assert_eq!(app.balance(&valid).await.posted, "706");
    assert_eq!(app.balance(&other).await.posted, "1000");
}

crate::both_stores!(nul_requests_among_valid_ones_fail_alone);
