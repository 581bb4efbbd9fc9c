//! The ledger through a real gRPC client: a first session, the drawdown order, expiry, holds
//! under concurrency, restart and a database outage.

use chrono::Duration;
use credit_ledger::proto as p;
use prost_types::Timestamp;
use tonic::Code;

use crate::helpers::{by_external, by_id, pg_admin, reason, Backend, TestApp};

async fn top_up_authorize_capture_balance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("acme", 2).await;
    app.top_up(&account, "100", "10.00", "pay-1").await;
    let hold = app
        .usage()
        .await
        .authorize(p::AuthorizeRequest {
            idempotency_key: "auth-1".into(),
            account: Some(by_external("acme")),
            quantity: "30".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hold.available, "70");
    let hold_id = hold.hold.unwrap().hold_id;
    let capture = app.capture(&hold_id, "12.5", "cap-1", true).await.unwrap();
    assert_eq!(
        (capture.charged.as_str(), capture.released.as_str()),
        ("12.5", "17.5")
    );
    assert_eq!(capture.hold.unwrap().status, p::HoldStatus::Captured as i32);
    let balance = app.balance(&account).await;
    assert_eq!(
        (
            balance.available.as_str(),
            balance.posted.as_str(),
            balance.held.as_str()
        ),
        ("87.5", "87.5", "0")
    );
}

fn at(app: &TestApp, hours: i64) -> Option<Timestamp> {
    let t = credit_ledger::clock::Clock::now(&app.clock) + Duration::hours(hours);
    Some(credit_ledger::api::convert::timestamp(t))
}

async fn grant(
    app: &TestApp,
    account: &str,
    key: &str,
    priority: i32,
    expires_in_hours: Option<i64>,
) -> String {
    let request = p::GrantCreditsRequest {
        idempotency_key: key.into(),
        account: Some(by_id(account)),
        quantity: "10".into(),
        priority,
        expires_at: expires_in_hours.and_then(|h| at(app, h)),
        ..Default::default()
    };
    app.credits()
        .await
        .grant_credits(request)
        .await
        .unwrap()
        .into_inner()
        .lot
        .unwrap()
        .lot_id
}

async fn drawdown_order_across_priority_expiry_and_kind(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("order", 0).await;
    let paid_forever = app.top_up(&account, "10", "1", "paid-forever").await.lot_id;
    let promo_forever = grant(&app, &account, "promo-forever", 0, None).await;
    let promo_later = grant(&app, &account, "promo-48h", 0, Some(48)).await;
    let promo_soon = grant(&app, &account, "promo-24h", 0, Some(24)).await;
    let low_priority = grant(&app, &account, "promo-p1-1h", 1, Some(1)).await;
    let debit = app.debit(by_id(&account), "45", "big").await.unwrap();
    let order: Vec<(String, String)> = debit
        .draws
        .into_iter()
        .map(|d| (d.lot_id, d.quantity))
        .collect();
    let expected = [
        (promo_soon, "10"),
        (promo_later, "10"),
        (promo_forever, "10"),
        (paid_forever, "10"),
        (low_priority, "5"),
    ];
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(l, q)| (l, q.to_string()))
        .collect();
    assert_eq!(order, expected);
}

async fn expired_lot_is_never_used(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("expiring", 0).await;
    grant(&app, &account, "short", 0, Some(1)).await;
    assert_eq!(app.balance(&account).await.available, "10");
    app.clock.advance(Duration::hours(1));
    let refused = app.debit(by_id(&account), "1", "late").await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "INSUFFICIENT_CREDIT");
    assert_eq!(app.balance(&account).await.available, "0");
}

async fn expired_hold_frees_credit_and_cannot_be_captured(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("holds", 0).await;
    app.top_up(&account, "100", "5", "pay").await;
    let hold = app.authorize(&account, "60", "a", 1_000).await.unwrap();
    assert_eq!(app.balance(&account).await.available, "40");
    app.clock.advance(Duration::milliseconds(1_000));
    assert_eq!(app.balance(&account).await.available, "100");
    let late = app
        .capture(&hold.hold_id, "1", "c", false)
        .await
        .unwrap_err();
    assert_eq!(
        (late.code(), reason(&late).as_str()),
        (Code::FailedPrecondition, "HOLD_EXPIRED")
    );
    assert_eq!(app.balance(&account).await.available, "100");
}

async fn concurrent_authorizations_never_overspend(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("hot", 0).await;
    app.top_up(&account, "100", "100", "pay").await;
    let usage = app.usage().await;
    let calls = (0..200).map(|i| {
        let mut usage = usage.clone();
        let account = account.clone();
        tokio::spawn(async move {
            usage
                .authorize(p::AuthorizeRequest {
                    idempotency_key: format!("auth-{i}"),
                    account: Some(by_id(&account)),
                    quantity: "1".into(),
                    ..Default::default()
                })
                .await
        })
    });
    let results = futures::future::join_all(calls).await;
    let mut granted = 0;
    for result in results {
        match result.unwrap() {
            Ok(_) => granted += 1,
            Err(status) => assert_eq!(reason(&status), "INSUFFICIENT_CREDIT", "{status:?}"),
        }
    }
    assert_eq!(granted, 100);
    let balance = app.balance(&account).await;
    assert_eq!(
        (balance.available.as_str(), balance.held.as_str()),
        ("0", "100")
    );
}

async fn restart_keeps_balances_lots_and_holds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("durable", 2).await;
    app.top_up(&account, "50", "5", "pay-a").await;
    grant(&app, &account, "promo", 0, Some(72)).await;
    let hold = app
        .authorize(&account, "15.25", "before", 3_600_000)
        .await
        .unwrap();
    let lots = |app: &TestApp| {
        let account = account.clone();
        let addr = app.addr.clone();
        async move {
            let mut credits = p::credits_client::CreditsClient::connect(addr)
                .await
                .unwrap();
            let request = p::ListLotsRequest {
                account: Some(by_id(&account)),
                include_inactive: true,
                ..Default::default()
            };
            credits.list_lots(request).await.unwrap().into_inner().lots
        }
    };
    let (balance_before, lots_before) = (app.balance(&account).await, lots(&app).await);
    let app = app.restart().await;
    assert_eq!(app.balance(&account).await, balance_before);
    assert_eq!(lots(&app).await, lots_before);
    let capture = app
        .capture(&hold.hold_id, "15.25", "after", false)
        .await
        .unwrap();
    assert_eq!(capture.charged, "15.25");
    assert_eq!(app.balance(&account).await.available, "44.75");
}

crate::both_stores!(
    top_up_authorize_capture_balance,
    drawdown_order_across_priority_expiry_and_kind,
    expired_lot_is_never_used,
    expired_hold_frees_credit_and_cannot_be_captured,
    concurrent_authorizations_never_overspend,
    restart_keeps_balances_lots_and_holds,
);

/// PostgreSQL refuses and drops the service's connections mid-run: calls fail UNAVAILABLE,
/// nothing is half-written, and once the database is back the same service answers again;
/// retrying every call with its key then applies each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_unavailable_and_recovers() {
    use sqlx::Executor;
    let app = TestApp::spawn(Backend::Postgres).await;
    let name = app.db.pg_name.clone().unwrap();
    let account = app.account("outage", 0).await;
    app.top_up(&account, "1000", "10", "pay").await;
    let debit = |i: usize| p::DebitRequest {
        idempotency_key: format!("debit-{i}"),
        account: Some(by_id(&account)),
        quantity: "1".into(),
        ..Default::default()
    };
    let usage = app.usage().await;
    let run = |range: std::ops::Range<usize>| {
        let calls = range.map(|i| {
            let (mut usage, request) = (usage.clone(), debit(i));
            tokio::spawn(async move { usage.debit(request).await })
        });
        futures::future::join_all(calls)
    };
    let first = run(0..40);
    let mut admin = pg_admin().await;
    admin
        .execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false").as_str())
        .await
        .unwrap();
    admin
        .execute(
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
            .as_str(),
        )
        .await
        .unwrap();
    let mut failed: Vec<usize> = Vec::new();
    for (i, result) in first.await.into_iter().enumerate() {
        if let Err(status) = result.unwrap() {
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
            failed.push(i);
        }
    }
    let during = app.usage().await.debit(debit(40)).await.unwrap_err();
    assert_eq!(during.code(), Code::Unavailable);
    failed.push(40);
    admin
        .execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true").as_str())
        .await
        .unwrap();
    // The same service, not restarted, answers again; retries with the same keys are safe.
    for result in run(0..41).await {
        result.unwrap().expect("debit after recovery");
    }
    let balance = app.balance(&account).await;
    assert_eq!(
        balance.available, "959",
        "41 debits of 1 applied exactly once"
    );
    let entries = app.store.count("entries").await.unwrap();
    assert_eq!(entries, 42, "one top-up and 41 debits, none twice");
}

/// On shutdown, health says NOT_SERVING for the grace period while calls are still answered;
/// then the listener closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_keeps_serving_through_the_grace_period_with_health_not_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

    let mut app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.shutdown_grace_ms = 3_000;
    })
    .await;
    let account = app.account("graceful", 0).await;
    let channel = app.channel().await;
    let mut health = HealthClient::new(channel.clone());
    let status = || async {
        let request = HealthCheckRequest::default();
        let answer = HealthClient::new(channel.clone()).check(request).await;
        answer.map(|r| r.into_inner().status())
    };
    assert_eq!(status().await.unwrap(), ServingStatus::Serving);
    app.signal_shutdown();
    let mut seen = false;
    for _ in 0..100 {
        if status().await.unwrap() == ServingStatus::NotServing {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(seen, "health never said NOT_SERVING");
    // Still inside the grace period: calls are answered.
    app.top_up(&account, "5", "1", "during-grace").await;
    assert_eq!(app.balance(&account).await.available, "5");
    app.shutdown().await;
    let after = health.check(HealthCheckRequest::default()).await;
    assert!(after.is_err(), "the listener should be closed: {after:?}");
}

/// The executor keeps its batch connections between batches. PostgreSQL ending their sessions
/// while they are idle must cost no call an UNAVAILABLE once the database takes connections
/// again: a batch on a dead kept connection fails at BEGIN, before anything was sent, and runs
/// again at once on a fresh one. (A carried batch recovers by running the ordinary way; here
/// the batch before failed, so the next one is an ordinary one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_connections_that_died_while_idle_cost_no_call() {
    use credit_ledger::ledger::{Command, Debit, Quantity};

    let rig = crate::helpers::ExecutorRig::start(Backend::Postgres).await;
    let account = rig.funded_account("idle", "100").await;
    let debit = |key: String| {
        Command::Debit(Debit {
            idempotency_key: key,
            account_id: account,
            quantity: Quantity::parse("quantity", "1").unwrap(),
            meter: String::new(),
            reference: String::new(),
            usage: None,
            subject: String::new(),
        })
    };
    let name = rig.pg_name().expect("a PostgreSQL database");
    let mut admin = pg_admin().await;
    let sql = |sql: String| async move {
        let mut admin = pg_admin().await;
        sqlx::query(&sql).execute(&mut admin).await.unwrap();
    };
    for round in 0..3 {
        // Both of the loop's connections have been used and are kept.
        for i in 0..2 {
            let answer = rig
                .executor
                .submit(debit(format!("warm-{round}-{i}")))
                .await;
            answer.unwrap();
        }
        sql(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
        let ended: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(&name)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert!(!ended.is_empty());
        let refused = rig.executor.submit(debit(format!("down-{round}"))).await;
        assert!(refused.is_err(), "{refused:?}");
        sql(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await;
        let answer = rig.executor.submit(debit(format!("back-{round}"))).await;
        assert!(answer.is_ok(), "round {round}: {answer:?}");
    }
    rig.stop().await;
}
