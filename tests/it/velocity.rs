//! Velocity limits: budgets over a rolling window. A burst beyond the window is refused with the
//! time at which it fits, and accepted at that time; a hold counts at its authorization and gives
//! back what it does not capture; the limit's terms are checked like any other input.

use chrono::{DateTime, Duration, Utc};
use credit_ledger::clock::Clock as _;
use credit_ledger::proto as p;
use tonic::Code;

use crate::budgets::{authorize, debit, get, key};
use crate::helpers::{by_id, metadata, reason, Backend, TestApp};

fn limit_request(
    account: &str,
    subject: &str,
    limit: &str,
    seconds: u32,
) -> p::CreateBudgetRequest {
    p::CreateBudgetRequest {
        idempotency_key: key(),
        account: Some(by_id(account)),
        subject: subject.into(),
        limit: limit.into(),
        period: p::BudgetPeriod::Rolling as i32,
        window_seconds: seconds,
        hard: true,
        ..Default::default()
    }
}

async fn create(app: &TestApp, request: p::CreateBudgetRequest) -> p::Budget {
    app.budgets()
        .await
        .create_budget(request)
        .await
        .expect("velocity limit created")
        .into_inner()
        .budget
        .unwrap()
}

/// The refusal is the limit's, and names the time the same request fits (empty: never).
fn limited(status: &tonic::Status, limit: &p::Budget, retry_at: Option<DateTime<Utc>>) {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(status), "VELOCITY_LIMITED", "{status:?}");
    assert_eq!(metadata(status, "budget_id"), limit.budget_id);
    assert_eq!(metadata(status, "subject"), limit.subject);
    assert_eq!(metadata(status, "limit"), limit.limit);
    assert_eq!(
        metadata(status, "window_seconds"),
        limit.window_seconds.to_string()
    );
    let expected = retry_at.map(|t| t.to_rfc3339()).unwrap_or_default();
    assert_eq!(metadata(status, "retry_at"), expected, "{status:?}");
}

/// At most 100 in any 60 s and at most 5 requests: a burst past either is refused until the
/// moment enough of the window has gone, and that moment is exactly when it is accepted.
async fn a_burst_is_refused_until_its_retry_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("bursty", 0).await;
    app.top_up(&account, "1000", "100", "pay").await;
    let limit = create(&app, {
        let mut r = limit_request(&account, "key:k1", "100", 60);
        r.max_requests = Some(5);
        r
    })
    .await;
    assert_eq!(
        (limit.period, limit.window_seconds, limit.max_requests),
        (p::BudgetPeriod::Rolling as i32, 60, Some(5))
    );
    let t0 = app.clock.now();
    debit(&app, &account, "key:k1", "60").await.unwrap();
    app.clock.advance(Duration::seconds(30));
    // A subject under the limit's counts in it.
    debit(&app, &account, "key:k1/agent:a", "40").await.unwrap();
    app.clock.advance(Duration::seconds(10));
    let refused = debit(&app, &account, "key:k1", "1").await.unwrap_err();
    limited(&refused, &limit, Some(t0 + Duration::seconds(60)));
    assert_eq!(
        (metadata(&refused, "spent"), metadata(&refused, "requests")),
        ("100".to_string(), "2".to_string())
    );
    // 61 fits only once both spends have left the window.
    let refused = authorize(&app, &account, "key:k1", "61").await.unwrap_err();
    limited(&refused, &limit, Some(t0 + Duration::seconds(90)));
    // More than the limit never fits; other subjects are not limited.
    let never = debit(&app, &account, "key:k1", "101").await.unwrap_err();
    limited(&never, &limit, None);
    debit(&app, &account, "key:k2", "500").await.unwrap();
    // The refusals reserved and charged nothing.
    let balance = app.balance(&account).await;
    assert_eq!(
        (balance.available.as_str(), balance.held.as_str()),
        ("400", "0")
    );
    let standing = get(&app, &account, &limit).await;
    assert_eq!(
        (
            standing.spent.as_str(),
            standing.remaining.as_str(),
            standing.requests
        ),
        ("100", "0", 2)
    );
    assert_eq!(
        standing.resets_at,
        Some(credit_ledger::api::convert::timestamp(
            t0 + Duration::seconds(60)
        ))
    );

    // At the retry time the request is accepted.
    app.clock.advance(Duration::seconds(20));
    assert_eq!(app.clock.now(), t0 + Duration::seconds(60));
    debit(&app, &account, "key:k1", "1").await.unwrap();
    // The requests cap: three more fit (5 in the window), a sixth waits for the 40 to go.
    for _ in 0..3 {
        debit(&app, &account, "key:k1", "1").await.unwrap();
    }
    let refused = debit(&app, &account, "key:k1", "1").await.unwrap_err();
    limited(&refused, &limit, Some(t0 + Duration::seconds(90)));
    assert_eq!(metadata(&refused, "requests"), "5");
    app.clock.advance(Duration::seconds(30));
    debit(&app, &account, "key:k1", "1").await.unwrap();
    let standing = get(&app, &account, &limit).await;
    assert_eq!((standing.spent.as_str(), standing.requests), ("5", 5));
}

/// A hold counts what it authorizes at its authorization; its final capture or its release
/// gives back what it did not take, while its moment is in the window.
async fn a_hold_counts_at_its_authorization(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("holding", 0).await;
    app.top_up(&account, "1000", "100", "pay").await;
    let limit = create(&app, limit_request(&account, "key:k1", "10", 60)).await;
    let t0 = app.clock.now();
    let first = authorize(&app, &account, "key:k1", "8").await.unwrap();
    assert_eq!(first.budget_ids, std::slice::from_ref(&limit.budget_id));
    limited(
        &authorize(&app, &account, "key:k1", "3").await.unwrap_err(),
        &limit,
        Some(t0 + Duration::seconds(60)),
    );
    app.clock.advance(Duration::seconds(5));
    app.capture(&first.hold_id, "2", "cap-1", true)
        .await
        .unwrap();
    assert_eq!(get(&app, &account, &limit).await.spent, "2");
    let second = authorize(&app, &account, "key:k1", "8").await.unwrap();
    limited(
        &debit(&app, &account, "key:k1", "1").await.unwrap_err(),
        &limit,
        Some(t0 + Duration::seconds(60)),
    );
    app.usage()
        .await
        .release(p::ReleaseRequest {
            idempotency_key: key(),
            hold_id: second.hold_id.clone(),
        })
        .await
        .unwrap();
    let standing = get(&app, &account, &limit).await;
    assert_eq!((standing.spent.as_str(), standing.requests), ("2", 2));
    debit(&app, &account, "key:k1", "8").await.unwrap();
    // Past the window, nothing counts.
    app.clock.advance(Duration::seconds(60));
    let standing = get(&app, &account, &limit).await;
    assert_eq!((standing.spent.as_str(), standing.requests), ("0", 0));
    assert_eq!(standing.resets_at, None);
    debit(&app, &account, "key:k1", "10").await.unwrap();
}

/// A velocity limit is hard, alert-free and 1 s to a day long; only it caps requests; one per
/// subject, meter and window.
async fn velocity_limit_terms_are_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("terms", 0).await;
    let mut budgets = app.budgets().await;
    let base = || limit_request(&account, "key:k1", "10", 60);
    let calendar = || p::CreateBudgetRequest {
        period: p::BudgetPeriod::Day as i32,
        window_seconds: 0,
        ..base()
    };
    for (bad, field) in [
        (
            p::CreateBudgetRequest {
                hard: false,
                ..base()
            },
            "hard",
        ),
        (
            p::CreateBudgetRequest {
                alerts: vec![50],
                ..base()
            },
            "alerts",
        ),
        (
            p::CreateBudgetRequest {
                window_seconds: 0,
                ..base()
            },
            "window_seconds",
        ),
        (
            p::CreateBudgetRequest {
                window_seconds: 86_401,
                ..base()
            },
            "window_seconds",
        ),
        (
            p::CreateBudgetRequest {
                window_seconds: 60,
                ..calendar()
            },
            "window_seconds",
        ),
        (
            p::CreateBudgetRequest {
                max_requests: Some(3),
                ..calendar()
            },
            "max_requests",
        ),
    ] {
        let status = budgets.create_budget(bad).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert_eq!(metadata(&status, "field"), field, "{status:?}");
    }
    let minute = create(&app, base()).await;
    let again = budgets.create_budget(base()).await.unwrap_err();
    assert_eq!(
        (again.code(), reason(&again).as_str()),
        (Code::AlreadyExists, "BUDGET_EXISTS")
    );
    // Another window on the same subject is another limit.
    create(&app, limit_request(&account, "key:k1", "100", 3600)).await;
    let update = |hard: bool, max_requests: Option<u32>| p::UpdateBudgetRequest {
        idempotency_key: key(),
        account: Some(by_id(&account)),
        budget_id: minute.budget_id.clone(),
        limit: "20".into(),
        hard,
        alerts: Vec::new(),
        max_requests,
    };
    let soft = budgets
        .update_budget(update(false, None))
        .await
        .unwrap_err();
    assert_eq!(
        (soft.code(), metadata(&soft, "field")),
        (Code::InvalidArgument, "hard".to_string())
    );
    let updated = budgets
        .update_budget(update(true, Some(7)))
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    assert_eq!(
        (
            updated.limit.as_str(),
            updated.max_requests,
            updated.window_seconds
        ),
        ("20", Some(7), 60)
    );
}

crate::both_stores!(
    a_burst_is_refused_until_its_retry_time,
    a_hold_counts_at_its_authorization,
    velocity_limit_terms_are_checked,
);
