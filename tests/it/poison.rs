//! One command never fails its batch: commands the store refuses, or that make the engine
//! panic, are isolated, everything queued with them commits, and only they are answered, with an
//! error a retry will not change (never UNAVAILABLE).
//!
//! The tests run on a current-thread runtime, so every command is queued before the executor's
//! loop runs and all of them land in one batch (as in `batching.rs`).

use chrono::{TimeZone, Utc};
use credit_ledger::executor::ExecError;
use credit_ledger::ledger::*;
use credit_ledger::store::Store;
use rust_decimal::Decimal;

use crate::helpers::{refuse_entries, Backend, ExecutorRig};

fn debit(account: AccountId, key: String, reference: &str) -> Command {
    Command::Debit(Debit {
        idempotency_key: key,
        account_id: account,
        quantity: Quantity::parse("quantity", "1").unwrap(),
        meter: String::new(),
        reference: reference.into(),
        usage: None,
        subject: String::new(),
    })
}

async fn posted(store: &Store, account: AccountId) -> Decimal {
    let book = store
        .account_book(account, Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap())
        .await
        .unwrap()
        .expect("the account exists");
    book.balance(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap())
        .posted
        .get()
}

async fn poisoned_commands_fail_alone_and_their_neighbours_commit(backend: Backend) {
    let rig = ExecutorRig::start(backend).await;
    let accounts = [
        rig.funded_account("a", "1000").await,
        rig.funded_account("b", "1000").await,
        rig.funded_account("c", "1000").await,
    ];
    refuse_entries(&rig.store, backend, "poison", "poison").await;
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
    rig.stop().await;
}

/// A hold whose reservation names a lot that does not exist is a damaged row; the engine panics
/// on it. Only the command that touches it fails, INTERNAL; the rest of its batch commits.
async fn an_engine_panic_fails_only_its_command(backend: Backend) {
    let rig = ExecutorRig::start(backend).await;
    let a = rig.funded_account("a", "1000").await;
    let b = rig.funded_account("b", "1000").await;
    let authorized = rig
        .executor
        .submit(Command::Authorize(Authorize {
            idempotency_key: "hold".into(),
            account_id: a,
            quantity: Quantity::parse("quantity", "5").unwrap(),
            ttl_ms: None,
            meter: String::new(),
            reference: String::new(),
            usage: None,
            subject: String::new(),
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
    sqlx::query("UPDATE holds SET reserved = $1 WHERE CAST(id AS TEXT) = $2")
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
    rig.stop().await;
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
