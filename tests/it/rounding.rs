//! Rounding never leaks: ten thousand drawdowns of 0.000001 from a lot bought for 0.01 recognize
//! exactly 0.01, in the journal, in the revenue report and in the summary export rounded to
//! cents; and at a price that does not divide, the last draw takes exactly what is left.

use chrono::TimeZone;
use credit_ledger::ledger::entry::ledger_account as gl;
use credit_ledger::ledger::{Book, Money, Quantity, Side};
use credit_ledger::proto as p;
use futures::future::join_all;
use rust_decimal::Decimal;

use crate::engine::{debit, q, Harness};
use crate::helpers::{by_id, Backend, TestApp};
use crate::journal::{amount, d, export, journal, records, ts};

const DRAWS: usize = 10_000;

async fn ten_thousand_micro_draws_recognize_exactly_one_cent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("micro", 6).await;
    let lot = app.top_up(&account, "0.01", "0.01", "pay").await;
    // 50 callers at a time on one connection, so the draws land in batches of many, as in
    // service.
    let usage = app.usage().await;
    for chunk in (0..DRAWS).collect::<Vec<_>>().chunks(50) {
        let draws = chunk.iter().map(|i| {
            let mut usage = usage.clone();
            let request = p::DebitRequest {
                idempotency_key: format!("draw-{i}"),
                account: Some(by_id(&account)),
                quantity: "0.000001".into(),
                ..Default::default()
            };
            async move { usage.debit(request).await }
        });
        for result in join_all(draws).await {
            result.expect("debit");
        }
    }
    let refused = app.debit(by_id(&account), "0.000001", "one-too-many").await;
    assert!(refused.is_err(), "the lot is used up");

    let entries = app
        .store
        .account_entries(account.parse().unwrap())
        .await
        .unwrap();
    let recognized: Decimal = entries
        .iter()
        .flat_map(|e| &e.postings)
        .filter(|p| {
            p.book == Book::Money && p.ledger_account == gl::REVENUE_USAGE && p.side == Side::Credit
        })
        .map(|p| p.amount)
        .sum();
    assert_eq!(recognized, d("0.01"));
    let stored = app
        .store
        .lot(lot.account_id.parse().unwrap(), lot.lot_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.remaining, stored.money_deferred),
        (Quantity::ZERO, Money::ZERO)
    );

    let month = (
        chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        chrono::Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap(),
    );
    let report = journal(&app)
        .await
        .get_revenue_report(p::GetRevenueReportRequest {
            from: Some(ts(month.0)),
            to: Some(ts(month.1)),
            account: None,
        })
        .await
        .unwrap()
        .into_inner();
    let total = report.currencies[0].total.clone().unwrap();
    assert_eq!(d(&total.recognized_usage), d("0.01"));
    assert_eq!(d(&total.closing_deferred), Decimal::ZERO);

    let summary = export(
        &app,
        p::ExportJournalRequest {
            from: Some(ts(month.0)),
            to: Some(ts(month.1)),
            book: p::Book::Money as i32,
            format: p::ExportFormat::Csv as i32,
            summary: true,
            by_customer: false,
        },
    )
    .await
    .unwrap();
    let lines = records(&summary);
    let line = |account: &str| {
        lines
            .iter()
            .find(|r| r["ledger_account"] == account)
            .unwrap_or_else(|| panic!("no {account} line in {summary}"))
    };
    assert_eq!(amount(line("revenue_usage"), "credit"), d("0.01"));
    assert_eq!(amount(line("cash_clearing"), "debit"), d("0.01"));
    let deferred = line("deferred_revenue");
    assert_eq!(
        amount(deferred, "debit") - amount(deferred, "credit"),
        Decimal::ZERO
    );
}

/// A price the quantity does not divide: each 0.000001 of a 0.01 lot bought for 0.03333333 is
/// worth 0.000003333333, which the money scale (8 digits) cannot hold. Each draw's share is
/// rounded half-even from what the lot still defers, and the last draw takes exactly the rest,
/// so the draws recognize exactly what was paid.
#[test]
fn micro_draws_at_an_awkward_price_recognize_exactly_what_was_paid() {
    let mut h = Harness::new(Default::default());
    let a = h.open_account(6, "0", "0");
    let lot = h.top_up(a, "0.01", "0.03333333");
    for i in 0..DRAWS {
        let key = format!("draw-{i}");
        h.ok(&debit(&key, a, q("0.000001")));
        if i % 500 == 499 {
            h.next_batch(1);
        }
    }
    h.next_batch(1);
    let recognized: Decimal = h
        .store
        .entries
        .iter()
        .flat_map(|e| &e.postings)
        .filter(|p| p.ledger_account == gl::REVENUE_USAGE)
        .map(|p| p.amount)
        .sum();
    assert_eq!(recognized, d("0.03333333"));
    assert!(h.store.lots[&lot].money_deferred.is_zero());
}

crate::both_stores!(ten_thousand_micro_draws_recognize_exactly_one_cent);
