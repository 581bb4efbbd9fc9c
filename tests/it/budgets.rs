//! Budgets at authorization: a subject's budgets and those above it cap it together, exactly,
//! under any concurrency; soft budgets only alert; periods start over at their boundaries; holds
//! count while open and give back what they do not charge.

use chrono::{Duration, TimeZone, Utc};
use credit_ledger::api::convert::timestamp;
use credit_ledger::clock::Clock as _;
use credit_ledger::journal::verify::{verify, Violation};
use credit_ledger::ledger::EventData;
use credit_ledger::proto as p;
use credit_ledger::proto::usage_client::UsageClient;
use sqlx::Executor as _;
use tonic::transport::Channel;
use tonic::Code;

use crate::helpers::{by_id, metadata, reason, Backend, TestApp};

pub(crate) fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

struct Budget<'a> {
    subject: &'a str,
    limit: &'a str,
    period: p::BudgetPeriod,
    hard: bool,
    alerts: Vec<u32>,
    meter: &'a str,
}

fn hard<'a>(subject: &'a str, limit: &'a str) -> Budget<'a> {
    Budget {
        subject,
        limit,
        period: p::BudgetPeriod::None,
        hard: true,
        alerts: Vec::new(),
        meter: "",
    }
}

async fn create(app: &TestApp, account: &str, b: Budget<'_>) -> p::Budget {
    app.budgets()
        .await
        .create_budget(p::CreateBudgetRequest {
            idempotency_key: key(),
            account: Some(by_id(account)),
            subject: b.subject.into(),
            meter: b.meter.into(),
            limit: b.limit.into(),
            period: b.period as i32,
            time_zone: String::new(),
            hard: b.hard,
            alerts: b.alerts,
            ..Default::default()
        })
        .await
        .expect("budget created")
        .into_inner()
        .budget
        .unwrap()
}

pub(crate) async fn get(app: &TestApp, account: &str, budget: &p::Budget) -> p::Budget {
    app.budgets()
        .await
        .get_budget(p::GetBudgetRequest {
            account: Some(by_id(account)),
            budget_id: budget.budget_id.clone(),
        })
        .await
        .expect("budget")
        .into_inner()
        .budget
        .unwrap()
}

/// spent, held, remaining.
fn counts(b: &p::Budget) -> (&str, &str, &str) {
    (&b.spent, &b.held, &b.remaining)
}

pub(crate) async fn debit(
    app: &TestApp,
    account: &str,
    subject: &str,
    quantity: &str,
) -> Result<p::DebitResponse, tonic::Status> {
    app.usage()
        .await
        .debit(p::DebitRequest {
            idempotency_key: key(),
            account: Some(by_id(account)),
            quantity: quantity.into(),
            subject: subject.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

pub(crate) async fn authorize(
    app: &TestApp,
    account: &str,
    subject: &str,
    quantity: &str,
) -> Result<p::Hold, tonic::Status> {
    app.usage()
        .await
        .authorize(p::AuthorizeRequest {
            idempotency_key: key(),
            account: Some(by_id(account)),
            quantity: quantity.into(),
            subject: subject.into(),
            ttl_ms: 86_400_000,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().hold.unwrap())
}

fn refused_by(status: &tonic::Status, budget: &p::Budget) {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(status), "BUDGET_EXCEEDED");
    assert_eq!(
        metadata(status, "budget_id"),
        budget.budget_id,
        "{status:?}"
    );
    assert_eq!(metadata(status, "subject"), budget.subject);
    assert_eq!(metadata(status, "limit"), budget.limit);
}

async fn budget_events(app: &TestApp, account: &str) -> Vec<EventData> {
    let events = app
        .store
        .events_after(0, Some(account.parse().unwrap()), 1_000)
        .await
        .unwrap();
    events
        .into_iter()
        .map(|e| e.event.data)
        .filter(|d| d.kind().starts_with("budget_"))
        .collect()
}

/// 400 authorizations of 1 for `budget`'s subject at once, spread over `clients`; each refusal
/// must be that budget's. Returns how many were granted.
async fn authorize_400(
    clients: &[UsageClient<Channel>],
    account: &str,
    budget: &p::Budget,
) -> usize {
    let calls = (0..400).map(|i| {
        let mut usage = clients[i % clients.len()].clone();
        let request = p::AuthorizeRequest {
            idempotency_key: format!("auth-{i}"),
            account: Some(by_id(account)),
            quantity: "1".into(),
            subject: budget.subject.clone(),
            ..Default::default()
        };
        tokio::spawn(async move { usage.authorize(request).await })
    });
    let mut granted = 0;
    for result in futures::future::join_all(calls).await {
        match result.unwrap() {
            Ok(_) => granted += 1,
            Err(status) => refused_by(&status, budget),
        }
    }
    granted
}

/// 400 authorizations of 1 at once, on an account with 1,000 available and a key budget of 100:
/// exactly 100 hold, the rest are refused by the budget, and the wallet holds exactly 100.
async fn concurrent_authorizations_stop_at_a_hard_budget(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("capped", 0).await;
    app.top_up(&account, "1000", "100", "pay").await;
    let budget = create(&app, &account, hard("team:a/key:k1", "100")).await;
    let usage = app.usage().await;
    let granted = authorize_400(&[usage], &account, &budget).await;
    assert_eq!(granted, 100);
    assert_eq!(
        counts(&get(&app, &account, &budget).await),
        ("0", "100", "0")
    );
    let balance = app.balance(&account).await;
    assert_eq!(
        (balance.held.as_str(), balance.available.as_str()),
        ("100", "900")
    );
    // Another key of the same account is not capped by it.
    authorize(&app, &account, "team:a/key:k2", "5")
        .await
        .unwrap();
    // One refusal event for the period, however many refusals.
    let events = budget_events(&app, &account).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        matches!(&events[0], EventData::BudgetExceeded { requested, .. } if requested.to_string() == "1")
    );
}

/// A team's budget smaller than its keys' together caps them together; each key is also held
/// to its own; a meter's budget counts only that meter.
async fn a_team_budget_caps_its_keys_together(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("team", 0).await;
    app.top_up(&account, "1000", "100", "pay").await;
    let team = create(&app, &account, hard("team:research", "150")).await;
    let k1 = create(&app, &account, hard("team:research/key:k1", "100")).await;
    create(&app, &account, hard("team:research/key:k2", "100")).await;
    debit(&app, &account, "team:research/key:k1", "100")
        .await
        .unwrap();
    let refused = debit(&app, &account, "team:research/key:k2", "60")
        .await
        .unwrap_err();
    refused_by(&refused, &team);
    assert_eq!(
        (
            metadata(&refused, "spent"),
            metadata(&refused, "held"),
            metadata(&refused, "requested")
        ),
        ("100".to_string(), "0".to_string(), "60".to_string())
    );
    assert_eq!(
        metadata(&refused, "resets_at"),
        "",
        "a budget without period never resets"
    );
    debit(&app, &account, "team:research/key:k2", "50")
        .await
        .unwrap();
    // The key's own budget is the more specific one, and it is full too.
    refused_by(
        &debit(&app, &account, "team:research/key:k1", "1")
            .await
            .unwrap_err(),
        &k1,
    );
    // "team:researchers" is not under "team:research"; the account as a whole is not capped.
    debit(&app, &account, "team:researchers", "200")
        .await
        .unwrap();
    debit(&app, &account, "", "100").await.unwrap();
    assert_eq!(counts(&get(&app, &account, &team).await), ("150", "0", "0"));

    // A budget for one meter.
    let chat = create(
        &app,
        &account,
        Budget {
            meter: "chat",
            ..hard("user:7", "10")
        },
    )
    .await;
    let charge = |meter: &'static str, quantity: &'static str| {
        let account = account.clone();
        let app = &app;
        async move {
            app.usage()
                .await
                .debit(p::DebitRequest {
                    idempotency_key: key(),
                    account: Some(by_id(&account)),
                    quantity: quantity.into(),
                    subject: "user:7".into(),
                    meter: meter.into(),
                    ..Default::default()
                })
                .await
        }
    };
    charge("embed", "50").await.unwrap();
    charge("chat", "10").await.unwrap();
    refused_by(&charge("chat", "1").await.unwrap_err(), &chat);

    // Listing one subject's path shows the budgets that apply to it.
    let listed = app
        .budgets()
        .await
        .list_budgets(p::ListBudgetsRequest {
            account: Some(by_id(&account)),
            subject: "team:research/key:k1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .budgets;
    let mut subjects: Vec<&str> = listed.iter().map(|b| b.subject.as_str()).collect();
    subjects.sort();
    assert_eq!(subjects, ["team:research", "team:research/key:k1"]);
}

/// A soft budget never refuses, and raises each alert once per period.
async fn soft_budgets_alert_once_per_crossing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("soft", 0).await;
    app.top_up(&account, "100", "10", "pay").await;
    let budget = create(
        &app,
        &account,
        Budget {
            hard: false,
            alerts: vec![100, 50],
            ..hard("key:k1", "10")
        },
    )
    .await;
    assert_eq!(budget.alerts, [50, 100]);
    for quantity in ["3", "3", "3", "3", "5"] {
        debit(&app, &account, "key:k1", quantity).await.unwrap();
    }
    assert_eq!(
        counts(&get(&app, &account, &budget).await),
        ("17", "0", "0")
    );
    let alerts: Vec<(u32, String)> = budget_events(&app, &account)
        .await
        .into_iter()
        .map(|e| match e {
            EventData::BudgetAlert { percent, spent, .. } => (percent, spent.to_string()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(alerts, [(50, "6".to_string()), (100, "12".to_string())]);
}

/// A daily budget starts over at midnight (UTC here): what was refused before it is accepted
/// after. The sweeper starts the period of an account nobody touches, with its event.
async fn a_period_reset_frees_the_budget(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("daily", 0).await;
    app.top_up(&account, "100", "10", "pay").await;
    let budget = create(
        &app,
        &account,
        Budget {
            period: p::BudgetPeriod::Day,
            alerts: vec![100],
            ..hard("key:k1", "10")
        },
    )
    .await;
    let midnight = Utc.with_ymd_and_hms(2026, 1, 16, 0, 0, 0).unwrap();
    assert_eq!(budget.resets_at, Some(timestamp(midnight)));
    debit(&app, &account, "key:k1", "10").await.unwrap();
    let refused = debit(&app, &account, "key:k1", "1").await.unwrap_err();
    refused_by(&refused, &budget);
    assert_eq!(metadata(&refused, "resets_at"), midnight.to_rfc3339());
    app.clock
        .advance(midnight - app.clock.now() - Duration::seconds(1));
    refused_by(
        &debit(&app, &account, "key:k1", "1").await.unwrap_err(),
        &budget,
    );
    // Nothing is due before midnight.
    assert_eq!(app.sweep().await.budgets_reset, 0);
    app.clock.advance(Duration::seconds(1));
    // Read at midnight, the budget already stands at its new period.
    let read = get(&app, &account, &budget).await;
    assert_eq!(counts(&read), ("0", "0", "10"));
    assert_eq!(read.period_start, Some(timestamp(midnight)));
    assert_eq!(
        read.resets_at,
        Some(timestamp(midnight + Duration::days(1)))
    );
    // The sweeper starts it over, once.
    assert_eq!(app.sweep().await.budgets_reset, 1);
    assert_eq!(app.sweep().await.budgets_reset, 0);
    debit(&app, &account, "key:k1", "10").await.unwrap();
    let kinds: Vec<&str> = budget_events(&app, &account)
        .await
        .iter()
        .map(|e| e.kind())
        .collect();
    // Each period: its 100% alert and one refusal; between them, the reset.
    assert_eq!(
        kinds,
        [
            "budget_alert",
            "budget_exceeded",
            "budget_reset",
            "budget_alert"
        ]
    );
    match &budget_events(&app, &account).await[2] {
        EventData::BudgetReset {
            ended,
            spent,
            period_start,
            ..
        } => assert_eq!(
            (*ended, spent.to_string(), *period_start),
            (midnight, "10".into(), midnight)
        ),
        other => panic!("{other:?}"),
    }
}

/// A hold counts against its budgets while it is open, whatever period it was authorized in;
/// what it captures counts as spent in the period of the capture; a release, an expiry or the
/// final capture gives back the rest. A refusal reserves nothing.
async fn holds_count_while_open_and_across_a_reset(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("holder", 0).await;
    app.top_up(&account, "100", "10", "pay").await;
    let budget = create(
        &app,
        &account,
        Budget {
            period: p::BudgetPeriod::Day,
            ..hard("key:k1", "10")
        },
    )
    .await;
    let hold = authorize(&app, &account, "key:k1", "6").await.unwrap();
    assert_eq!(hold.budget_ids, std::slice::from_ref(&budget.budget_id));
    assert_eq!(hold.subject, "key:k1");
    refused_by(
        &authorize(&app, &account, "key:k1", "5").await.unwrap_err(),
        &budget,
    );
    // The refusal held nothing, in the budget or the wallet.
    assert_eq!(counts(&get(&app, &account, &budget).await), ("0", "6", "4"));
    assert_eq!(app.balance(&account).await.held, "6");
    // Past midnight the hold still counts.
    app.clock.advance(Duration::hours(12));
    refused_by(
        &debit(&app, &account, "key:k1", "5").await.unwrap_err(),
        &budget,
    );
    // Its capture is spent in the new period; the final capture gives the rest back.
    app.capture(&hold.hold_id, "4", "cap", true).await.unwrap();
    assert_eq!(counts(&get(&app, &account, &budget).await), ("4", "0", "6"));
    debit(&app, &account, "key:k1", "6").await.unwrap();
    app.clock.advance(Duration::days(1));
    // A release gives back all of it; so does an expiry.
    let released = authorize(&app, &account, "key:k1", "7").await.unwrap();
    app.usage()
        .await
        .release(p::ReleaseRequest {
            idempotency_key: key(),
            hold_id: released.hold_id,
        })
        .await
        .unwrap();
    let expiring = app
        .usage()
        .await
        .authorize(p::AuthorizeRequest {
            idempotency_key: key(),
            account: Some(by_id(&account)),
            quantity: "8".into(),
            subject: "key:k1".into(),
            ttl_ms: 1_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(expiring.into_inner().hold.is_some());
    assert_eq!(counts(&get(&app, &account, &budget).await), ("0", "8", "2"));
    // `verify` holds each budget's held to its open holds' claims (invariant 7).
    let report = verify(&app.store).await.unwrap();
    assert!(report.violations.is_empty(), "{report}");
    let tamper = |from: &str, to: &str| {
        format!("UPDATE accounts SET budgets = replace(budgets, '\"held\":\"{from}\"', '\"held\":\"{to}\"')")
    };
    app.store
        .pool()
        .execute(tamper("8", "9").as_str())
        .await
        .unwrap();
    let report = verify(&app.store).await.unwrap();
    assert!(
        matches!(&report.violations[..], [Violation::BudgetHeld { row, open_holds, .. }]
            if row.to_string() == "9" && open_holds.to_string() == "8"),
        "{report}"
    );
    app.store
        .pool()
        .execute(tamper("9", "8").as_str())
        .await
        .unwrap();
    app.clock.advance(Duration::seconds(2));
    assert_eq!(app.sweep().await.holds_expired, 1);
    assert_eq!(
        counts(&get(&app, &account, &budget).await),
        ("0", "0", "10")
    );
    // A capture beyond its hold counts in full.
    let small = authorize(&app, &account, "key:k1", "2").await.unwrap();
    app.usage()
        .await
        .capture(p::CaptureRequest {
            idempotency_key: key(),
            hold_id: small.hold_id,
            quantity: "5".into(),
            r#final: true,
            overage: p::CaptureOverage::DrawAvailable as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(counts(&get(&app, &account, &budget).await), ("5", "0", "5"));
}

/// Budgets are created, changed, read and deleted; what is malformed is refused naming its
/// field, and changes nothing.
async fn budgets_are_managed_and_malformed_ones_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("managed", 2).await;
    app.top_up(&account, "100", "10", "pay").await;
    let mut budgets = app.budgets().await;
    let request =
        |subject: &str, limit: &str, zone: &str, alerts: Vec<u32>| p::CreateBudgetRequest {
            idempotency_key: key(),
            account: Some(by_id(&account)),
            subject: subject.into(),
            limit: limit.into(),
            time_zone: zone.into(),
            alerts,
            hard: true,
            period: p::BudgetPeriod::Month as i32,
            ..Default::default()
        };
    for (bad, field) in [
        (request("team//key", "10", "", vec![]), "subject"),
        (request(" key", "10", "", vec![]), "subject"),
        (request("key:1", "10.001", "", vec![]), "limit"),
        (request("key:1", "-1", "", vec![]), "limit"),
        (request("key:1", "10", "Mars/Olympus", vec![]), "time_zone"),
        (request("key:1", "10", "", vec![0]), "alerts"),
        (request("key:1", "10", "", vec![101]), "alerts"),
    ] {
        let status = budgets.create_budget(bad).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert_eq!(metadata(&status, "field"), field, "{status:?}");
    }
    let bad_subject = debit(&app, &account, "a b", "1").await.unwrap_err();
    assert_eq!(metadata(&bad_subject, "field"), "subject");

    let paris = budgets
        .create_budget(request("key:1", "10.5", "Europe/Paris", vec![80]))
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    // A month in Paris starts at local midnight on the first: 23:00 UTC in winter.
    assert_eq!(
        paris.period_start,
        Some(timestamp(
            Utc.with_ymd_and_hms(2025, 12, 31, 23, 0, 0).unwrap()
        ))
    );
    assert_eq!(paris.time_zone, "Europe/Paris");
    let again = budgets
        .create_budget(request("key:1", "99", "", vec![]))
        .await
        .unwrap_err();
    assert_eq!(
        (again.code(), reason(&again).as_str()),
        (Code::AlreadyExists, "BUDGET_EXISTS")
    );

    debit(&app, &account, "key:1", "10").await.unwrap();
    refused_by(
        &debit(&app, &account, "key:1", "1").await.unwrap_err(),
        &paris,
    );
    let raised = budgets
        .update_budget(p::UpdateBudgetRequest {
            idempotency_key: key(),
            account: Some(by_id(&account)),
            budget_id: paris.budget_id.clone(),
            limit: "20".into(),
            hard: true,
            alerts: vec![50],
            max_requests: None,
        })
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    assert_eq!((raised.limit.as_str(), raised.spent.as_str()), ("20", "10"));
    debit(&app, &account, "key:1", "1").await.unwrap();
    let deleted = budgets
        .delete_budget(p::DeleteBudgetRequest {
            idempotency_key: key(),
            account: Some(by_id(&account)),
            budget_id: paris.budget_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(deleted.into_inner().budget.unwrap().spent, "11");
    let gone = budgets
        .get_budget(p::GetBudgetRequest {
            account: Some(by_id(&account)),
            budget_id: paris.budget_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (gone.code(), reason(&gone).as_str()),
        (Code::NotFound, "BUDGET_NOT_FOUND")
    );
    debit(&app, &account, "key:1", "50").await.unwrap();
}

crate::both_stores!(
    concurrent_authorizations_stop_at_a_hard_budget,
    a_team_budget_caps_its_keys_together,
    soft_budgets_alert_once_per_crossing,
    a_period_reset_frees_the_budget,
    holds_count_while_open_and_across_a_reset,
    budgets_are_managed_and_malformed_ones_refused,
);

/// The same 400 authorizations through two server instances on one PostgreSQL database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_stop_at_a_hard_budget_together() {
    let first = TestApp::spawn(Backend::Postgres).await;
    let second = TestApp::start(first.db.same(), first.clock.clone()).await;
    let account = first.account("shared", 0).await;
    first.top_up(&account, "1000", "100", "pay").await;
    let budget = create(&first, &account, hard("key:k1", "100")).await;
    let clients = [first.usage().await, second.usage().await];
    let granted = authorize_400(&clients, &account, &budget).await;
    assert_eq!(granted, 100);
    assert_eq!(
        counts(&get(&second, &account, &budget).await),
        ("0", "100", "0")
    );
    assert_eq!(second.balance(&account).await.available, "900");
}
