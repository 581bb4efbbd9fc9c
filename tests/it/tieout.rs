//! The books close: a random workload (top-ups, grants, debits, holds and captures, releases,
//! voids, adjustments, prepaid and postpaid commitments, expiries by the sweeper) over several
//! simulated months, then everything finance reads must tie, to the last decimal:
//!
//! - the detail export of each book, summed per ledger account, equals the trial balance;
//! - each month's revenue roll-forward opens where the previous one closed, rolls forward, and
//!   closes at the sum of the lots' deferred revenue (from the postings, and at the end from the
//!   lot rows themselves);
//! - the summary export's rounded lines balance every month, for all customers and per customer;
//! - the balance rebuilt for a past month end equals what GetBalance said at that moment;
//! - each month's margin report has, per currency, the month's `revenue_usage` and
//!   `cost_of_revenue` postings as its revenue and cost (a third of the debits and holds are in
//!   tokens, priced with upstream costs, so there is cost to report);
//! - `verify` finds nothing.
//!
//! The workload is seeded, so a failure reproduces.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Utc};
use credit_ledger::clock::Clock;
use credit_ledger::journal::verify::verify;
use credit_ledger::proto as p;
use rust_decimal::Decimal;
use tonic::Code;

use crate::helpers::{by_id, Backend, Rng, TestApp};
use crate::journal::{amount, d, export, journal, records, rolls_forward, ts, utc};

struct Customer {
    id: String,
    scale: u32,
}

/// The workload's memory: open holds to capture or release, and the balances seen at month ends.
#[derive(Default)]
struct Seen {
    /// Open holds of any customer: id, quantity authorized, the account's unit scale, and
    /// whether it was authorized in tokens (then it is captured in tokens).
    holds: Vec<(String, String, u32, bool)>,
    month_ends: Vec<(DateTime<Utc>, String, Decimal)>,
}

/// A refusal the workload may meet (not enough credit, a hold or lot no longer usable, a second
/// postpaid term); anything else fails the test.
fn expected<T>(result: Result<T, tonic::Status>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(status)
            if matches!(
                status.code(),
                Code::FailedPrecondition | Code::ResourceExhausted
            ) =>
        {
            None
        }
        Err(status) => panic!("unexpected refusal: {status:?}"),
    }
}

async fn customers(app: &TestApp) -> Vec<Customer> {
    let mut customers = Vec::new();
    for (i, scale) in [2u32, 0, 2, 4].into_iter().enumerate() {
        let request = p::CreateAccountRequest {
            idempotency_key: format!("create-{i}"),
            external_id: format!("customer-{i}"),
            unit: "CREDIT".parse().unwrap(),
            unit_scale: scale,
            // One customer may also draw on a plain credit line.
            credit_line_limit: if i == 2 { "300".into() } else { String::new() },
            credit_line_price: if i == 2 {
                "0.013".into()
            } else {
                String::new()
            },
            ..Default::default()
        };
        let account = app.accounts().await.create_account(request).await.unwrap();
        customers.push(Customer {
            id: account.into_inner().account.unwrap().account_id,
            scale,
        });
    }
    // Refills: a paid monthly plan whose unspent credit rolls over up to a cap, a promotional
    // weekly allowance that does not roll over, and auto top-up (fulfilled by the top-ups below).
    let mut refills = app.refills().await;
    for (customer, period, price, cap) in [
        (1, p::GrantPeriod::Month, "12.5", "150"),
        (3, p::GrantPeriod::Week, "", ""),
    ] {
        let kind = match price {
            "" => p::LotKind::Promotional,
            _ => p::LotKind::Paid,
        };
        let request = p::CreateRecurringGrantRequest {
            idempotency_key: format!("plan-{customer}"),
            account: Some(by_id(&customers[customer].id)),
            quantity: "400".into(),
            period: period as i32,
            kind: kind as i32,
            price: price.into(),
            currency: if price.is_empty() { "" } else { "USD" }.into(),
            rollover_cap: cap.into(),
            ..Default::default()
        };
        refills.create_recurring_grant(request).await.unwrap();
    }
    let request = p::SetAutoTopUpRequest {
        idempotency_key: "auto".into(),
        account: Some(by_id(&customers[0].id)),
        enabled: true,
        threshold: "50".into(),
        target: "300".into(),
        monthly_cap: "900".into(),
    };
    refills.set_auto_top_up(request).await.unwrap();
    customers
}

/// The open auto top-up request of `account`, if any: a top-up under its id fulfils it.
async fn open_request(app: &TestApp, account: &str) -> Option<String> {
    let request = p::GetAutoTopUpRequest {
        account: Some(by_id(account)),
    };
    match app.refills().await.get_auto_top_up(request).await {
        Ok(answer) => (answer.into_inner().auto_top_up?.open_request).map(|r| r.request_id),
        Err(_) => None,
    }
}

fn expiry(rng: &mut Rng, now: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    (rng.below(2) == 0).then(|| ts(now + Duration::hours(24 + rng.below(60 * 24) as i64)))
}

/// One random operation on one customer.
async fn step(app: &TestApp, rng: &mut Rng, c: &Customer, seen: &mut Seen, n: usize) {
    let key = format!("op-{n}");
    let now = app.clock.now();
    let account = Some(by_id(&c.id));
    let (credits, usage) = (app.credits().await, app.usage().await);
    match rng.below(100) {
        0..=14 => {
            let key = open_request(app, &c.id).await.unwrap_or(key);
            let request = p::TopUpRequest {
                idempotency_key: key,
                account,
                quantity: rng.amount(800, c.scale),
                price: rng.amount(300, 2),
                currency: "USD".parse().unwrap(),
                priority: rng.below(3) as i32,
                expires_at: expiry(rng, now),
                ..Default::default()
            };
            expected(credits.clone().top_up(request).await);
        }
        15..=22 => {
            let request = p::GrantCreditsRequest {
                idempotency_key: key,
                account,
                quantity: rng.amount(100, c.scale),
                expires_at: expiry(rng, now),
                ..Default::default()
            };
            expected(credits.clone().grant_credits(request).await);
        }
        23..=52 => {
            let rated = rng.below(3) == 0;
            let request = p::DebitRequest {
                idempotency_key: key,
                account,
                quantity: match rated {
                    true => String::new(),
                    false => rng.amount(120, c.scale),
                },
                meter: if rated { METER.into() } else { String::new() },
                usage: if rated {
                    tokens(rng)
                } else {
                    Default::default()
                },
                ..Default::default()
            };
            expected(usage.clone().debit(request).await);
        }
        53..=64 => {
            let rated = rng.below(3) == 0;
            let request = p::AuthorizeRequest {
                idempotency_key: key,
                account,
                quantity: match rated {
                    true => String::new(),
                    false => rng.amount(80, c.scale),
                },
                ttl_ms: 3_600_000 * (1 + rng.below(72)),
                meter: if rated { METER.into() } else { String::new() },
                usage: if rated {
                    tokens(rng)
                } else {
                    Default::default()
                },
                ..Default::default()
            };
            if let Some(r) = expected(usage.clone().authorize(request).await) {
                let hold = r.into_inner().hold.unwrap();
                seen.holds
                    .push((hold.hold_id, hold.quantity_authorized, c.scale, rated));
            }
        }
        65..=76 if !seen.holds.is_empty() => {
            let (hold, authorized, scale, rated) = seen
                .holds
                .swap_remove(rng.below(seen.holds.len() as u64) as usize);
            let part = Decimal::new(1 + rng.below(100) as i64, 2);
            let quantity = (d(&authorized) * part)
                .round_dp(scale)
                .max(Decimal::new(1, scale));
            let request = p::CaptureRequest {
                idempotency_key: key,
                hold_id: hold.clone(),
                quantity: match rated {
                    true => String::new(),
                    false => quantity.to_string(),
                },
                r#final: rng.below(2) == 0,
                overage: rng.below(3) as i32,
                usage: if rated {
                    tokens(rng)
                } else {
                    Default::default()
                },
            };
            let captured = expected(usage.clone().capture(request).await);
            if let Some(r) = captured {
                if r.into_inner().hold.unwrap().status == p::HoldStatus::Open as i32 {
                    seen.holds.push((hold, authorized, scale, rated));
                }
            }
        }
        77..=80 if !seen.holds.is_empty() => {
            let (hold, _, _, _) = seen
                .holds
                .swap_remove(rng.below(seen.holds.len() as u64) as usize);
            let request = p::ReleaseRequest {
                idempotency_key: key,
                hold_id: hold,
            };
            expected(usage.clone().release(request).await);
        }
        81..=84 => {
            let lots = credits
                .clone()
                .list_lots(p::ListLotsRequest {
                    account: account.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .lots;
            if lots.is_empty() {
                return;
            }
            let lot = &lots[rng.below(lots.len() as u64) as usize];
            let request = p::VoidGrantRequest {
                idempotency_key: key,
                account,
                lot_id: lot.lot_id.clone(),
                reason: "refund".into(),
                release_holds: rng.below(2) == 0,
            };
            expected(credits.clone().void_grant(request).await);
        }
        85..=89 => {
            let direction = match rng.below(2) {
                0 => p::AdjustDirection::Credit,
                _ => p::AdjustDirection::Debit,
            };
            let request = p::AdjustRequest {
                idempotency_key: key,
                account,
                direction: direction as i32,
                quantity: rng.amount(30, c.scale),
                reason: "support".into(),
                ..Default::default()
            };
            expected(credits.clone().adjust(request).await);
        }
        90..=93 => {
            let postpaid = rng.below(2) == 0;
            let request = p::CreateCommitmentRequest {
                idempotency_key: key,
                account,
                kind: if postpaid {
                    p::CommitmentKind::Postpaid
                } else {
                    p::CommitmentKind::Prepaid
                } as i32,
                quantity: rng.amount(500, c.scale),
                price: if postpaid {
                    format!("0.0{}", 1 + rng.below(9))
                } else {
                    rng.amount(200, 2)
                },
                minimum_spend: if postpaid {
                    rng.amount(40, 2)
                } else {
                    String::new()
                },
                term_end: Some(ts(now + Duration::days(7 + rng.below(50) as i64))),
                ..Default::default()
            };
            expected(credits.clone().create_commitment(request).await);
        }
        _ => {
            app.sweep().await;
        }
    }
}

/// The meter the workload's usage in tokens is of.
pub(crate) const METER: &str = "chat:large";

/// Up to 40,000 input and 20,000 output tokens: at the prices below, up to 0.3 credits, often
/// less than a unit of the coarser accounts, and so carried.
pub(crate) fn tokens(rng: &mut Rng) -> std::collections::HashMap<String, String> {
    [
        ("input_tokens", rng.below(40_001)),
        ("output_tokens", rng.below(20_001)),
    ]
    .map(|(d, n)| (d.to_string(), n.to_string()))
    .into()
}

/// The default book: prices in CREDIT and upstream costs in USD, the currency of the top-ups.
pub(crate) async fn publish_prices(app: &TestApp) {
    let price = |dimension: &str, price: &str, cost: &str| p::Price {
        meter: METER.into(),
        dimension: dimension.into(),
        unit: "CREDIT".into(),
        block: 1_000_000,
        price: price.into(),
        cost: cost.into(),
        currency: "USD".into(),
    };
    let mut pricing = p::pricing_client::PricingClient::new(app.channel().await);
    pricing
        .publish_price_version(p::PublishPriceVersionRequest {
            idempotency_key: "prices".into(),
            prices: vec![
                price("input_tokens", "2.5", "0.37"),
                price("output_tokens", "10", "1.13"),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn workload(app: &TestApp, seed: u64) -> Vec<Customer> {
    let mut rng = Rng(seed);
    let customers = customers(app).await;
    publish_prices(app).await;
    let mut seen = Seen::default();
    for n in 0..700 {
        let before = app.clock.now();
        app.clock
            .advance(Duration::minutes(30 + rng.below(9 * 60) as i64));
        let now = app.clock.now();
        if now.month() != before.month() {
            // Stop at the month end to see the balances as they were then.
            let month_end = utc(now.year(), now.month(), 1);
            app.clock.set(month_end);
            for c in &customers {
                let posted = d(&app.balance(&c.id).await.posted);
                seen.month_ends.push((month_end, c.id.clone(), posted));
            }
            app.clock.set(now);
        }
        let c = &customers[rng.below(customers.len() as u64) as usize];
        step(app, &mut rng, c, &mut seen, n).await;
    }
    // The plans end with the workload: the reports below stop at its last month.
    for (i, c) in customers.iter().enumerate() {
        let mut refills = app.refills().await;
        let list = p::ListRecurringGrantsRequest {
            account: Some(by_id(&c.id)),
        };
        for grant in refills
            .list_recurring_grants(list)
            .await
            .unwrap()
            .into_inner()
            .grants
        {
            assert!(grant.periods_granted > 1, "{grant:?}");
            let request = p::DeleteRecurringGrantRequest {
                idempotency_key: format!("plan-end-{i}"),
                account: Some(by_id(&c.id)),
                grant_id: grant.grant_id,
            };
            refills.delete_recurring_grant(request).await.unwrap();
        }
    }
    // Long after the last operation: every lot with an expiry, every hold and every term is due.
    app.clock.set(utc(2026, 11, 1));
    app.sweep().await;
    past_balances_tie(app, &seen).await;
    customers
}

async fn past_balances_tie(app: &TestApp, seen: &Seen) {
    assert!(
        seen.month_ends.len() >= 16,
        "{} month ends",
        seen.month_ends.len()
    );
    for (at, account, posted) in &seen.month_ends {
        let request = p::GetBalanceRequest {
            account: Some(by_id(account)),
            as_of: Some(ts(*at)),
        };
        let then = app.usage().await.get_balance(request).await.unwrap();
        assert_eq!(d(&then.into_inner().posted), *posted, "{account} at {at}");
    }
}

fn request(book: p::Book, summary: bool, by_customer: bool) -> p::ExportJournalRequest {
    p::ExportJournalRequest {
        from: Some(ts(utc(2026, 1, 1))),
        to: Some(ts(utc(2026, 11, 2))),
        book: book as i32,
        format: p::ExportFormat::Csv as i32,
        summary,
        by_customer,
    }
}

/// (ledger account, unit) → (debits, credits).
type Sums = BTreeMap<(String, String), (Decimal, Decimal)>;

async fn detail_exports_equal_the_trial_balance(app: &TestApp) {
    let trial = journal(app)
        .await
        .get_trial_balance(p::GetTrialBalanceRequest {
            as_of: None,
            detail: true,
        })
        .await
        .unwrap()
        .into_inner();
    for book in [p::Book::Money, p::Book::Quantity] {
        let csv = export(app, request(book, false, false)).await.unwrap();
        let mut exported = Sums::new();
        for r in records(&csv) {
            let sums = exported
                .entry((r["ledger_account"].clone(), r["unit_or_currency"].clone()))
                .or_default();
            sums.0 += amount(&r, "debit");
            sums.1 += amount(&r, "credit");
        }
        let lines = &trial.books.iter().find(|b| b.book == book as i32).unwrap();
        let balances: Sums = lines
            .lines
            .iter()
            .map(|l| {
                (
                    (l.ledger_account.clone(), l.unit.clone()),
                    (d(&l.debits), d(&l.credits)),
                )
            })
            .collect();
        assert_eq!(exported, balances, "{book:?}");
        for total in &lines.totals {
            assert!(d(&total.balance).is_zero(), "{total:?}");
        }
    }
}

async fn revenue_rolls_forward_month_by_month(app: &TestApp, customers: &[Customer]) {
    let mut previous: Option<BTreeMap<String, Decimal>> = None;
    for month in 1..=10 {
        let (from, to) = (utc(2026, month, 1), utc(2026, month + 1, 1));
        let report = journal(app)
            .await
            .get_revenue_report(p::GetRevenueReportRequest {
                from: Some(ts(from)),
                to: Some(ts(to)),
                account: None,
            })
            .await
            .unwrap()
            .into_inner();
        let mut closing = BTreeMap::new();
        for currency in &report.currencies {
            rolls_forward(currency.total.as_ref().unwrap());
            for line in &currency.customers {
                rolls_forward(line);
                let opening = previous
                    .as_ref()
                    .and_then(|p| p.get(&line.account_id).copied())
                    .unwrap_or_default();
                assert_eq!(
                    d(&line.opening_deferred),
                    opening,
                    "month {month}: {line:?}"
                );
                closing.insert(line.account_id.clone(), d(&line.closing_deferred));
            }
        }
        previous = Some(closing);
    }
    // The last closing is what the lots defer now.
    let closing = previous.unwrap();
    for c in customers {
        let mut on_lots = Decimal::ZERO;
        let mut page_token = String::new();
        loop {
            let page = app
                .credits()
                .await
                .list_lots(p::ListLotsRequest {
                    account: Some(by_id(&c.id)),
                    include_inactive: true,
                    page_size: 1_000,
                    page_token,
                })
                .await
                .unwrap()
                .into_inner();
            on_lots += page
                .lots
                .iter()
                .map(|l| d(&l.money_deferred))
                .sum::<Decimal>();
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        let reported = closing.get(&c.id).copied().unwrap_or_default();
        assert_eq!(reported, on_lots, "customer {}", c.id);
    }
}

/// Each month's margin report: per currency, revenue and cost are the month's `revenue_usage`
/// and `cost_of_revenue` postings (from the detail export), and each cut adds up to the total.
async fn margins_tie_month_by_month(app: &TestApp) {
    let csv = export(app, request(p::Book::Money, false, false))
        .await
        .unwrap();
    // (month, currency) → (revenue_usage credits − debits, cost_of_revenue debits − credits).
    let mut posted: BTreeMap<(String, String), (Decimal, Decimal)> = BTreeMap::new();
    for r in records(&csv) {
        let month = r["effective_at"][..7].to_string();
        let sums = posted
            .entry((month, r["unit_or_currency"].clone()))
            .or_default();
        let net_credit = amount(&r, "credit") - amount(&r, "debit");
        match r["ledger_account"].as_str() {
            "revenue_usage" => sums.0 += net_credit,
            "cost_of_revenue" => sums.1 -= net_credit,
            _ => {}
        }
    }
    let mut cost_seen = Decimal::ZERO;
    for month in 1..=10 {
        let (from, to) = (utc(2026, month, 1), utc(2026, month + 1, 1));
        let report = journal(app)
            .await
            .get_margin_report(p::GetMarginReportRequest {
                from: Some(ts(from)),
                to: Some(ts(to)),
            })
            .await
            .unwrap()
            .into_inner();
        let period = format!("2026-{month:02}");
        for currency in &report.currencies {
            let total = currency.total.as_ref().unwrap();
            let (revenue, cost) = posted
                .get(&(period.clone(), currency.currency.clone()))
                .copied()
                .unwrap_or_default();
            assert_eq!(d(&total.revenue), revenue, "{period} {total:?}");
            assert_eq!(d(&total.cost), cost, "{period} {total:?}");
            assert_eq!(d(&total.margin), revenue - cost, "{period}");
            cost_seen += cost;
            for lines in [
                &currency.by_customer,
                &currency.by_meter,
                &currency.by_customer_and_meter,
            ] {
                let revenue: Decimal = lines.iter().map(|l| d(&l.revenue)).sum();
                let cost: Decimal = lines.iter().map(|l| d(&l.cost)).sum();
                assert_eq!(
                    (revenue, cost),
                    (d(&total.revenue), d(&total.cost)),
                    "{period}"
                );
            }
        }
    }
    assert!(
        cost_seen > Decimal::ZERO,
        "the workload posted no upstream cost"
    );
}

async fn summary_lines_balance_every_month(app: &TestApp) {
    for by_customer in [false, true] {
        let csv = export(app, request(p::Book::Money, true, by_customer))
            .await
            .unwrap();
        let mut months: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
        for r in records(&csv) {
            let month = months.entry(r["period"].clone()).or_default();
            month.0 += amount(&r, "debit");
            month.1 += amount(&r, "credit");
        }
        assert!(months.len() >= 6, "{months:?}");
        for (period, (debits, credits)) in months {
            assert_eq!(debits, credits, "{period} by customer: {by_customer}");
        }
    }
}

async fn the_books_close(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let customers = workload(&app, 0x5eed_1ed6_e700_0001).await;
    let entries = app.store.count("entries").await.unwrap();
    assert!(
        entries > 300,
        "a workload worth the name: {entries} entries"
    );
    for kind in [
        "expiry",
        "void",
        "adjustment",
        "capture",
        "true_up",
        "top_up",
    ] {
        let sql = format!("SELECT COUNT(*) AS n FROM entries WHERE kind = '{kind}'");
        let n: i64 = sqlx::Row::get(
            &sqlx::query(&sql).fetch_one(app.store.pool()).await.unwrap(),
            "n",
        );
        assert!(n > 0, "the workload posted no {kind} entry");
    }
    detail_exports_equal_the_trial_balance(&app).await;
    revenue_rolls_forward_month_by_month(&app, &customers).await;
    summary_lines_balance_every_month(&app).await;
    margins_tie_month_by_month(&app).await;
    let report = verify(&app.store).await.unwrap();
    assert!(report.violations.is_empty(), "{report}");
}

crate::both_stores!(the_books_close);
