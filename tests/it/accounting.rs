//! The worked example of `docs/accounting.md`, run through the real server on both stores: the
//! summary exports and the revenue roll-forward it shows must be exactly what the service
//! produces, so the document cannot drift from the code.

use chrono::{DateTime, TimeZone, Utc};
use credit_ledger::proto as p;

use crate::helpers::{by_id, Backend, TestApp};
use crate::journal::{export, journal, ts};

const DOC: &str = include_str!("../../docs/accounting.md");

fn at(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, hour, 0, 0).unwrap()
}

/// The fenced block that follows `<!-- name -->` in the document.
fn block(name: &str) -> String {
    let marker = format!("<!-- {name} -->");
    let after = DOC
        .split_once(&marker)
        .unwrap_or_else(|| panic!("docs/accounting.md has no {marker}"))
        .1;
    let body = after.split_once("```").expect("a fenced block").1;
    let body = body.split_once('\n').expect("the fence's line").1;
    body.split_once("```")
        .expect("the closing fence")
        .0
        .to_string()
}

/// The example's story, step by step at its own times.
async fn story(app: &TestApp) -> String {
    app.clock.set(at(1, 5, 9));
    let acme = by_id(&app.account("acme", 0).await);
    let top_up = p::TopUpRequest {
        idempotency_key: "order-1".into(),
        account: Some(acme.clone()),
        quantity: "300".into(),
        price: "10.00".into(),
        currency: "USD".parse().unwrap(),
        expires_at: Some(ts(at(3, 1, 0))),
        reference: "order 1".into(),
        ..Default::default()
    };
    app.credits().await.top_up(top_up).await.unwrap();
    let grant = p::GrantCreditsRequest {
        idempotency_key: "welcome".into(),
        account: Some(acme.clone()),
        quantity: "50".into(),
        expires_at: Some(ts(at(2, 1, 0))),
        reference: "welcome bonus".into(),
        ..Default::default()
    };
    app.credits().await.grant_credits(grant).await.unwrap();
    app.clock.set(at(1, 12, 10));
    app.debit(acme.clone(), "80", "job-1").await.unwrap();
    app.clock.set(at(1, 20, 10));
    app.debit(acme.clone(), "100", "job-2").await.unwrap();
    app.clock.set(at(2, 10, 10));
    let account_id = match acme.r#ref.clone() {
        Some(p::account_ref::Ref::AccountId(id)) => id,
        other => panic!("{other:?}"),
    };
    let hold = app
        .authorize(&account_id, "70", "stream-1", 60_000)
        .await
        .unwrap();
    app.capture(&hold.hold_id, "40", "stream-1-done", true)
        .await
        .unwrap();
    app.clock.set(at(2, 15, 10));
    let second = p::TopUpRequest {
        idempotency_key: "order-2".into(),
        account: Some(acme.clone()),
        quantity: "100".into(),
        price: "5.00".into(),
        currency: "USD".parse().unwrap(),
        priority: 1,
        reference: "order 2".into(),
        ..Default::default()
    };
    let lot = app.credits().await.top_up(second).await.unwrap();
    app.clock.set(at(2, 20, 10));
    let void = p::VoidGrantRequest {
        idempotency_key: "refund-2".into(),
        account: Some(acme.clone()),
        lot_id: lot.into_inner().lot.unwrap().lot_id,
        reason: "customer asked for a refund".into(),
        release_holds: false,
    };
    app.credits().await.void_grant(void).await.unwrap();
    app.clock.set(at(3, 1, 0) + chrono::Duration::minutes(5));
    let swept = app.sweep().await;
    assert_eq!(swept.lots_expired, 1);
    account_id
}

fn summary_request(book: p::Book) -> p::ExportJournalRequest {
    p::ExportJournalRequest {
        from: Some(ts(at(1, 1, 0))),
        to: Some(ts(at(4, 1, 0))),
        book: book as i32,
        format: p::ExportFormat::Csv as i32,
        summary: true,
        by_customer: false,
    }
}

/// The roll-forward of each month as the document's table shows it.
async fn roll_forward(app: &TestApp) -> String {
    let mut table =
        String::from("month    opening     top_ups  usage       breakage    refunds  closing\n");
    for month in 1..=3 {
        let request = p::GetRevenueReportRequest {
            from: Some(ts(at(month, 1, 0))),
            to: Some(ts(at(month + 1, 1, 0))),
            account: None,
        };
        let report = journal(app)
            .await
            .get_revenue_report(request)
            .await
            .unwrap()
            .into_inner();
        let t = report.currencies[0].total.clone().unwrap();
        assert!(t.ties);
        table.push_str(&format!(
            "2026-{month:02}  {:<11} {:<8} {:<11} {:<11} {:<8} {}\n",
            t.opening_deferred,
            t.top_ups,
            t.recognized_usage,
            t.breakage,
            t.refunds,
            t.closing_deferred
        ));
    }
    table
}

async fn the_worked_example_is_what_the_service_does(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    story(&app).await;
    let money = export(&app, summary_request(p::Book::Money)).await.unwrap();
    let quantity = export(&app, summary_request(p::Book::Quantity))
        .await
        .unwrap();
    let roll = roll_forward(&app).await;
    assert_eq!(
        money,
        block("worked-example-money"),
        "money summary:\n{money}"
    );
    assert_eq!(
        quantity,
        block("worked-example-quantity"),
        "quantity summary:\n{quantity}"
    );
    assert_eq!(
        roll,
        block("worked-example-roll-forward"),
        "roll-forward:\n{roll}"
    );
}

crate::both_stores!(the_worked_example_is_what_the_service_does);
