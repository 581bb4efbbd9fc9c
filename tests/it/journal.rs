//! The journal through the real server: a scenario over two months (top-ups at odd prices drawn
//! in thirds, a promotional grant, debits, a hold captured in two steps, a void), then the
//! detail export against the trial balance, the summary export's carried rounding, the revenue
//! roll-forward against the lots, past balances, entry listings, the CLI export and refusals.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use credit_ledger::clock::Clock;
use credit_ledger::journal::export::{ExportSpec, Format, GlCodes};
use credit_ledger::journal::exporter::export_to;
use credit_ledger::ledger::Book;
use credit_ledger::proto::{self as p, journal_client::JournalClient};
use rust_decimal::Decimal;
use tonic::transport::Channel;
use tonic::Code;

use crate::helpers::{by_id, Backend, TestApp};

pub(crate) fn d(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|_| panic!("not a decimal: {s:?}"))
}

pub(crate) fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub(crate) fn utc(y: i32, m: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, day, 0, 0, 0).unwrap()
}

pub(crate) async fn journal(app: &TestApp) -> JournalClient<Channel> {
    JournalClient::connect(app.addr.clone())
        .await
        .expect("connect")
}

/// The posted balance GetBalance gave at a moment of the scenario.
struct Seen {
    at: DateTime<Utc>,
    account: String,
    posted: Decimal,
}

struct Scenario {
    alice: String,
    bob: String,
    seen: Vec<Seen>,
}

async fn see(app: &TestApp, account: &str, seen: &mut Vec<Seen>) {
    let balance = app.balance(account).await;
    seen.push(Seen {
        at: app.clock.now(),
        account: account.to_string(),
        posted: d(&balance.posted),
    });
}

async fn debit(app: &TestApp, account: &str, quantity: &str, key: &str, reference: &str) {
    let request = p::DebitRequest {
        idempotency_key: key.into(),
        account: Some(by_id(account)),
        quantity: quantity.into(),
        reference: reference.into(),
        ..Default::default()
    };
    app.usage().await.debit(request).await.expect("debit");
}

/// January: alice buys 3 credits for 10.00 and draws them in thirds (and halves, by a hold),
/// gets 5 promotional credits; bob buys twice and has the second lot voided. February: both
/// buy and draw again. The clock moves an hour between operations.
async fn scenario(app: &TestApp) -> Scenario {
    let mut seen = Vec::new();
    let hour = Duration::hours(1);
    let alice = app.account("alice", 2).await;
    let bob = app.account("bob", 0).await;
    app.top_up(&alice, "3", "10.00", "a-pay-1").await;
    app.clock.advance(hour);
    debit(app, &alice, "1", "a-use-1", "job \"x\", part 1\nline 2").await;
    see(app, &alice, &mut seen).await;
    app.clock.advance(hour);
    let grant = p::GrantCreditsRequest {
        idempotency_key: "a-promo".into(),
        account: Some(by_id(&alice)),
        quantity: "5".into(),
        reference: "welcome".into(),
        ..Default::default()
    };
    app.credits()
        .await
        .grant_credits(grant)
        .await
        .expect("grant");
    app.clock.advance(hour);
    let hold = app.authorize(&alice, "6", "a-hold", 0).await.expect("hold");
    app.capture(&hold.hold_id, "5.5", "a-cap-1", false)
        .await
        .expect("capture");
    app.capture(&hold.hold_id, "0.25", "a-cap-2", true)
        .await
        .expect("capture");
    see(app, &alice, &mut seen).await;
    app.clock.advance(hour);
    app.top_up(&bob, "10", "7.77", "b-pay-1").await;
    debit(app, &bob, "3", "b-use-1", "").await;
    let second = app.top_up(&bob, "5", "1", "b-pay-2").await;
    app.clock.advance(hour);
    let void = p::VoidGrantRequest {
        idempotency_key: "b-refund".into(),
        account: Some(by_id(&bob)),
        lot_id: second.lot_id,
        reason: "refund".into(),
        release_holds: false,
    };
    app.credits().await.void_grant(void).await.expect("void");
    see(app, &bob, &mut seen).await;

    app.clock
        .set(Utc.with_ymd_and_hms(2026, 2, 10, 9, 0, 0).unwrap());
    app.top_up(&alice, "7", "10.00", "a-pay-2").await;
    debit(app, &alice, "2", "a-use-2", "").await;
    app.clock.advance(hour);
    debit(app, &bob, "1", "b-use-2", "").await;
    see(app, &alice, &mut seen).await;
    see(app, &bob, &mut seen).await;
    Scenario { alice, bob, seen }
}

/// RFC 4180 as the export writes it: quoted fields may hold commas, quotes and newlines.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        row.is_empty() && field.is_empty(),
        "the export ends with a newline"
    );
    rows
}

/// Rows as maps from the header's column names.
pub(crate) fn records(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut rows = parse_csv(text).into_iter();
    let header = rows.next().expect("a header");
    rows.map(|row| {
        assert_eq!(row.len(), header.len());
        header.iter().cloned().zip(row).collect()
    })
    .collect()
}

pub(crate) fn amount(record: &BTreeMap<String, String>, column: &str) -> Decimal {
    match record[column].as_str() {
        "" => Decimal::ZERO,
        text => d(text),
    }
}

pub(crate) async fn export(
    app: &TestApp,
    request: p::ExportJournalRequest,
) -> Result<String, tonic::Status> {
    let mut stream = journal(app)
        .await
        .export_journal(request)
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await? {
        bytes.extend(chunk.data);
    }
    Ok(String::from_utf8(bytes).expect("UTF-8"))
}

fn export_request(book: p::Book, summary: bool, by_customer: bool) -> p::ExportJournalRequest {
    p::ExportJournalRequest {
        from: Some(ts(utc(2026, 1, 1))),
        to: Some(ts(utc(2026, 3, 1))),
        book: book as i32,
        format: p::ExportFormat::Csv as i32,
        summary,
        by_customer,
    }
}

async fn trial_balance(app: &TestApp, detail: bool) -> Vec<p::TrialBalanceBook> {
    let request = p::GetTrialBalanceRequest {
        as_of: None,
        detail,
    };
    let response = journal(app).await.get_trial_balance(request).await;
    response.expect("trial balance").into_inner().books
}

/// (ledger account, unit) → (debits, credits).
type Sums = BTreeMap<(String, String), (Decimal, Decimal)>;

async fn detail_export_sums_to_the_trial_balance_and_books_balance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    scenario(&app).await;
    let books = trial_balance(&app, true).await;
    for (book, proto_book) in [
        (Book::Money, p::Book::Money),
        (Book::Quantity, p::Book::Quantity),
    ] {
        let csv = export(&app, export_request(proto_book, false, false))
            .await
            .unwrap();
        let mut exported = Sums::new();
        for r in records(&csv) {
            assert_eq!(r["book"], book.as_str());
            assert!(r["debit"].is_empty() != r["credit"].is_empty(), "{r:?}");
            let sums = exported
                .entry((r["ledger_account"].clone(), r["unit_or_currency"].clone()))
                .or_default();
            sums.0 += amount(&r, "debit");
            sums.1 += amount(&r, "credit");
        }
        let trial = books
            .iter()
            .find(|b| b.book == proto_book as i32)
            .expect("both books");
        let balanced: Sums = trial
            .lines
            .iter()
            .map(|l| {
                let key = (l.ledger_account.clone(), l.unit.clone());
                (key, (d(&l.debits), d(&l.credits)))
            })
            .collect();
        assert_eq!(exported, balanced, "{book:?}");
        assert!(!trial.totals.is_empty());
        for total in &trial.totals {
            assert_eq!(d(&total.balance), Decimal::ZERO, "{total:?}");
            assert_eq!(d(&total.debits), d(&total.credits));
        }
    }
    // Collapsed, lots are one line per unit and the totals are the same.
    for book in trial_balance(&app, false).await {
        assert!(book
            .lines
            .iter()
            .all(|l| !l.ledger_account.starts_with("lot:")));
        assert!(book.totals.iter().all(|t| d(&t.balance).is_zero()));
    }
    let quantity = &trial_balance(&app, false).await[0];
    assert!(quantity.lines.iter().any(|l| l.ledger_account == "lots"));
    // The reference with a comma, quotes and a newline came back whole.
    let csv = export(&app, export_request(p::Book::Money, false, false))
        .await
        .unwrap();
    assert!(records(&csv)
        .iter()
        .any(|r| r["reference"] == "job \"x\", part 1\nline 2"));
    // JSON Lines carries the same lines.
    let mut request = export_request(p::Book::Money, false, false);
    request.format = p::ExportFormat::JsonLines as i32;
    let jsonl = export(&app, request).await.unwrap();
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(lines.len(), records(&csv).len());
    assert!(lines
        .iter()
        .all(|l| l["debit"].is_null() != l["credit"].is_null()));
}

/// A ledger account as reports name it (every lot as `lots`, every credit line as
/// `credit_lines`), from its spelling in a detail line.
fn collapsed(ledger_account: &str) -> String {
    ledger_account
        .parse::<credit_ledger::ledger::LedgerAccount>()
        .map(|a| a.collapsed().to_string())
        .unwrap_or_else(|_| ledger_account.to_string())
}

/// Exact nets from the detail export, keyed like the summary: (period, ledger account,
/// currency, customer).
fn exact_groups(detail: &str, by_customer: bool) -> BTreeMap<Vec<String>, Decimal> {
    let mut groups = BTreeMap::new();
    for r in records(detail) {
        let mut key = vec![
            r["effective_at"][..7].to_string(),
            collapsed(&r["ledger_account"]),
            r["unit_or_currency"].clone(),
        ];
        if by_customer {
            key.push(r["external_id"].clone());
        }
        *groups.entry(key).or_insert(Decimal::ZERO) += amount(&r, "debit") - amount(&r, "credit");
    }
    groups
}

async fn summary_export_balances_each_period_and_carries_remainders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    scenario(&app).await;
    let detail = export(&app, export_request(p::Book::Money, false, false))
        .await
        .unwrap();
    for by_customer in [false, true] {
        let exact = exact_groups(&detail, by_customer);
        let summary = export(&app, export_request(p::Book::Money, true, by_customer)).await;
        let lines = records(&summary.unwrap());
        // Every group with movement has a line; a carried remainder may add a line of a cent.
        assert!(lines.len() >= exact.len());
        let mut per_period: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
        let mut per_account: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
        for r in &lines {
            let (debit, credit) = (amount(r, "debit"), amount(r, "credit"));
            assert!(
                debit.scale() <= 2 && credit.scale() <= 2,
                "USD at cents: {r:?}"
            );
            for column in ["debit", "credit"] {
                let text = r[column].as_str();
                assert!(
                    text.is_empty() || text == amount(r, column).normalize().to_string(),
                    "one spelling, no trailing zeros: {r:?}"
                );
            }
            let mut key = vec![
                r["period"].clone(),
                r["ledger_account"].clone(),
                r["unit_or_currency"].clone(),
            ];
            if by_customer {
                key.push(r["external_id"].clone());
            }
            let exact = exact.get(&key).copied().unwrap_or_default();
            assert!(
                ((debit - credit) - exact).abs() < d("0.02"),
                "{r:?} vs {exact}"
            );
            let sums = per_period.entry(r["period"].clone()).or_default();
            sums.0 += debit;
            sums.1 += credit;
            let account = per_account.entry(r["ledger_account"].clone()).or_default();
            account.0 += debit - credit;
            account.1 += exact;
        }
        // Each ledger account's rounded total over the periods stays within a cent of exact.
        for (account, (rounded, exact)) in per_account {
            assert!(
                (rounded - exact).abs() <= d("0.01"),
                "{account}: {rounded} vs {exact}"
            );
        }
        assert_eq!(
            per_period.keys().collect::<Vec<_>>(),
            ["2026-01", "2026-02"]
        );
        for (period, (debits, credits)) in per_period {
            assert_eq!(debits, credits, "{period}, by customer: {by_customer}");
        }
    }
    // The quantity book is summarized without rounding: each line is its exact net.
    let detail = export(&app, export_request(p::Book::Quantity, false, false)).await;
    let exact = exact_groups(&detail.unwrap(), false);
    let summary = export(&app, export_request(p::Book::Quantity, true, false)).await;
    let lines = records(&summary.unwrap());
    assert_eq!(lines.len(), exact.len());
    for r in &lines {
        let key = vec![
            r["period"].clone(),
            r["ledger_account"].clone(),
            r["unit_or_currency"].clone(),
        ];
        assert_eq!(
            amount(r, "debit") - amount(r, "credit"),
            exact[&key],
            "{r:?}"
        );
    }
    assert!(lines.iter().any(|r| r["ledger_account"] == "lots"));
}

async fn revenue_report(
    app: &TestApp,
    period: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> p::GetRevenueReportResponse {
    let request = p::GetRevenueReportRequest {
        from: period.map(|(from, _)| ts(from)),
        to: period.map(|(_, to)| ts(to)),
        account: None,
    };
    let response = journal(app).await.get_revenue_report(request).await;
    response.expect("revenue report").into_inner()
}

fn usd(report: &p::GetRevenueReportResponse) -> &p::RevenueReport {
    assert_eq!(report.currencies.len(), 1);
    assert_eq!(report.currencies[0].currency, "USD");
    &report.currencies[0]
}

pub(crate) fn rolls_forward(line: &p::RevenueLine) {
    let closing = d(&line.opening_deferred) + d(&line.top_ups)
        - d(&line.recognized_usage)
        - d(&line.breakage)
        - d(&line.refunds)
        - d(&line.adjustments)
        + d(&line.other);
    assert_eq!(closing, d(&line.closing_deferred), "{line:?}");
    assert_eq!(d(&line.closing_deferred), d(&line.lots_deferred_at_close));
    assert!(line.ties, "{line:?}");
}

async fn money_deferred_on_lots(app: &TestApp, account: &str) -> Decimal {
    let request = p::ListLotsRequest {
        account: Some(by_id(account)),
        include_inactive: true,
        ..Default::default()
    };
    let lots = app
        .credits()
        .await
        .list_lots(request)
        .await
        .unwrap()
        .into_inner();
    lots.lots.iter().map(|l| d(&l.money_deferred)).sum()
}

async fn revenue_rolls_forward_across_months_and_ties_to_the_lots(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = scenario(&app).await;
    let january = revenue_report(&app, Some((utc(2026, 1, 1), utc(2026, 2, 1)))).await;
    let february = revenue_report(&app, Some((utc(2026, 2, 1), utc(2026, 3, 1)))).await;
    // The clock is in February: the default period is January.
    assert_eq!(revenue_report(&app, None).await, january);
    let (jan, feb) = (usd(&january), usd(&february));
    assert_eq!(jan.customers.len(), 2);
    let total = jan.total.as_ref().unwrap();
    assert_eq!(d(&total.opening_deferred), Decimal::ZERO);
    assert_eq!(d(&total.top_ups), d("18.77"));
    assert_eq!(d(&total.refunds), d("1"));
    for (j, f) in jan.customers.iter().zip(&feb.customers) {
        assert_eq!(j.account_id, f.account_id);
        assert_eq!(j.closing_deferred, f.opening_deferred, "{}", j.external_id);
        rolls_forward(j);
        rolls_forward(f);
    }
    let (jan_total, feb_total) = (jan.total.as_ref().unwrap(), feb.total.as_ref().unwrap());
    assert_eq!(
        d(&jan_total.closing_deferred),
        d(&feb_total.opening_deferred)
    );
    rolls_forward(jan_total);
    rolls_forward(feb_total);
    for account in [&s.alice, &s.bob] {
        let line = feb
            .customers
            .iter()
            .find(|c| &c.account_id == account)
            .unwrap();
        assert_eq!(
            d(&line.closing_deferred),
            money_deferred_on_lots(&app, account).await
        );
    }
    // Alice's three thirds: 10.00 recognized as 3.33333333 + … over January's draws.
    let alice = jan
        .customers
        .iter()
        .find(|c| c.account_id == s.alice)
        .unwrap();
    assert_eq!(alice.external_id, "alice");
    assert!(d(&alice.recognized_usage) > d("3.33"));
}

async fn past_balances_match_what_get_balance_said_then(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = scenario(&app).await;
    for seen in &s.seen {
        let request = p::GetBalanceRequest {
            account: Some(by_id(&seen.account)),
            as_of: Some(ts(seen.at)),
        };
        let past = app
            .usage()
            .await
            .get_balance(request)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(d(&past.posted), seen.posted, "at {}", seen.at);
        assert_eq!(d(&past.held), Decimal::ZERO);
        let on_lots: Decimal = past.lots.iter().map(|l| d(&l.remaining)).sum();
        assert_eq!(on_lots - d(&past.credit_line_used), seen.posted);
    }
    let before = p::GetBalanceRequest {
        account: Some(by_id(&s.alice)),
        as_of: Some(ts(utc(2026, 1, 1))),
    };
    let empty = app
        .usage()
        .await
        .get_balance(before)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d(&empty.posted), Decimal::ZERO);
    assert!(empty.lots.is_empty());
    let future = p::GetBalanceRequest {
        account: Some(by_id(&s.alice)),
        as_of: Some(ts(app.clock.now() + Duration::days(1))),
    };
    let refused = app.usage().await.get_balance(future).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(field_of(&refused), "as_of");
}

async fn list_all(app: &TestApp, mut request: p::ListEntriesRequest) -> Vec<p::JournalEntry> {
    let mut all = Vec::new();
    loop {
        let page = journal(app)
            .await
            .list_entries(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(page.entries.len() <= request.page_size as usize);
        all.extend(page.entries);
        if page.next_page_token.is_empty() {
            return all;
        }
        request.page_token = page.next_page_token;
    }
}

async fn entries_page_in_both_orders_and_filter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = scenario(&app).await;
    let request = |order: p::EntryOrder| p::ListEntriesRequest {
        order: order as i32,
        page_size: 2,
        ..Default::default()
    };
    let oldest = list_all(&app, request(p::EntryOrder::OldestFirst)).await;
    let mut newest = list_all(&app, request(p::EntryOrder::NewestFirst)).await;
    // Alice: 2 top-ups, grant, 2 debits, 2 captures; bob: 2 top-ups, 2 debits, void.
    assert_eq!(oldest.len(), 12);
    assert!(oldest.windows(2).all(|w| w[0].seq < w[1].seq));
    newest.reverse();
    assert_eq!(oldest, newest);
    let first = &oldest[0];
    assert_eq!(first.kind, p::EntryKind::TopUp as i32);
    assert_eq!(first.external_id, "alice");
    assert_eq!(first.account_seq, 1);
    assert_eq!(first.postings.len(), 4);
    assert!(!first.hash.is_empty() && !first.lot_id.is_empty());

    let mut of_bob = request(p::EntryOrder::OldestFirst);
    of_bob.account = Some(crate::helpers::by_external("bob"));
    let bob = list_all(&app, of_bob).await;
    assert_eq!(bob.len(), 5);
    assert!(bob.iter().all(|e| e.account_id == s.bob));

    let mut debits = request(p::EntryOrder::NewestFirst);
    debits.kinds = vec![p::EntryKind::Debit as i32, p::EntryKind::Void as i32];
    let found = list_all(&app, debits).await;
    let kinds: Vec<i32> = found.iter().map(|e| e.kind).collect();
    let (debit, void) = (p::EntryKind::Debit as i32, p::EntryKind::Void as i32);
    assert_eq!(kinds, [debit, debit, void, debit, debit]);

    let mut february = request(p::EntryOrder::OldestFirst);
    february.from = Some(ts(utc(2026, 2, 1)));
    february.to = Some(ts(utc(2026, 3, 1)));
    let found = list_all(&app, february).await;
    assert_eq!(found.len(), 3);
    assert!(found
        .iter()
        .all(|e| e.effective_at.unwrap().seconds >= utc(2026, 2, 1).timestamp()));
}

async fn cli_export_writes_the_same_csv_as_the_rpc(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    scenario(&app).await;
    let dir = tempfile::tempdir().unwrap();
    for (summary, by_customer) in [(false, false), (true, true)] {
        let rpc = export(&app, export_request(p::Book::Money, summary, by_customer)).await;
        let spec = ExportSpec::new(
            utc(2026, 1, 1),
            utc(2026, 3, 1),
            Book::Money,
            Format::Csv,
            summary,
            by_customer,
        )
        .unwrap();
        let path = dir.path().join(format!("journal-{summary}.csv"));
        let stats = export_to(
            &app.db.database_url(),
            &spec,
            &GlCodes::default(),
            Some(&path),
        )
        .await
        .expect("the CLI export");
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written, rpc.unwrap());
        assert_eq!(stats.rows as usize, records(&written).len());
    }
    // GL codes rename the money accounts.
    let gl = GlCodes(BTreeMap::from([("deferred_revenue".into(), "2400".into())]));
    let spec = ExportSpec::new(
        utc(2026, 1, 1),
        utc(2026, 3, 1),
        Book::Money,
        Format::Csv,
        false,
        false,
    )
    .unwrap();
    let path = dir.path().join("coded.csv");
    export_to(&app.db.database_url(), &spec, &gl, Some(&path))
        .await
        .unwrap();
    let coded = records(&std::fs::read_to_string(&path).unwrap());
    assert!(coded.iter().any(|r| r["ledger_account"] == "2400"));
    assert!(coded
        .iter()
        .all(|r| r["ledger_account"] != "deferred_revenue"));
}

/// The field a refusal's BadRequest names.
fn field_of(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    let violations = status
        .get_details_bad_request()
        .expect("a BadRequest")
        .field_violations;
    violations[0].field.clone()
}

async fn bad_requests_name_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut empty = export_request(p::Book::Money, false, false);
    empty.to = empty.from;
    let mut format = export_request(p::Book::Money, false, false);
    format.format = 99;
    let mut book = export_request(p::Book::Money, false, false);
    book.book = 7;
    let mut missing = export_request(p::Book::Money, false, false);
    missing.from = None;
    let by_customer = export_request(p::Book::Money, false, true);
    for (request, field) in [
        (empty, "to"),
        (format, "format"),
        (book, "book"),
        (missing, "from"),
        (by_customer, "by_customer"),
    ] {
        let refused = export(&app, request).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{field}");
        assert_eq!(field_of(&refused), field);
    }
    let mut client = journal(&app).await;
    let half_period = p::GetRevenueReportRequest {
        from: Some(ts(utc(2026, 1, 1))),
        ..Default::default()
    };
    let refused = client.get_revenue_report(half_period).await.unwrap_err();
    assert_eq!(
        (refused.code(), field_of(&refused)),
        (Code::InvalidArgument, "to".into())
    );
    let backwards = p::GetRevenueReportRequest {
        from: Some(ts(utc(2026, 2, 1))),
        to: Some(ts(utc(2026, 1, 1))),
        account: None,
    };
    let refused = client.get_revenue_report(backwards).await.unwrap_err();
    assert_eq!(
        (refused.code(), field_of(&refused)),
        (Code::InvalidArgument, "to".into())
    );
    for (request, field) in [
        (
            p::ListEntriesRequest {
                page_token: "not-a-seq".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            p::ListEntriesRequest {
                kinds: vec![0],
                ..Default::default()
            },
            "kinds",
        ),
        (
            p::ListEntriesRequest {
                order: 5,
                ..Default::default()
            },
            "order",
        ),
    ] {
        let refused = client.list_entries(request).await.unwrap_err();
        assert_eq!(
            (refused.code(), field_of(&refused)),
            (Code::InvalidArgument, field.into())
        );
    }
}

crate::both_stores!(
    detail_export_sums_to_the_trial_balance_and_books_balance,
    summary_export_balances_each_period_and_carries_remainders,
    revenue_rolls_forward_across_months_and_ties_to_the_lots,
    past_balances_match_what_get_balance_said_then,
    entries_page_in_both_orders_and_filter,
    cli_export_writes_the_same_csv_as_the_rpc,
    bad_requests_name_the_field,
);
