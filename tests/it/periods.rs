//! Closed periods: after a month is closed nothing is booked effective inside it (a late
//! effect is booked at the start of the open period, its own time kept), months close in
//! order and once, and the trial balance read from the last snapshot equals the one read from
//! the whole journal, for random workloads with random closes.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use credit_ledger::clock::Clock as _;
use credit_ledger::journal::balance::{balance_as_of, balance_as_of_in_full};
use credit_ledger::journal::close::{close_month, snapshot_hash};
use credit_ledger::journal::for_each_entry;
use credit_ledger::journal::margin::{margin_report, margin_report_in_full};
use credit_ledger::journal::revenue::{revenue_report, revenue_report_in_full};
use credit_ledger::journal::trial_balance::{trial_balance, trial_balance_in_full};
use credit_ledger::journal::verify::{verify, verify_with, Violation};
use credit_ledger::ledger::{AccountId, Entry, EntryKind};
use credit_ledger::proto as p;
use credit_ledger::store::EntryFilter;

use crate::helpers::{by_id, Backend, Rng, TestApp};
use crate::tieout::{publish_prices, tokens, METER};

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

async fn entries(app: &TestApp) -> Vec<Entry> {
    let mut reader = app.store.journal_reader().await.unwrap();
    let mut all = Vec::new();
    for_each_entry(&mut reader, &EntryFilter::default(), |e| {
        all.push(e.entry.clone())
    })
    .await
    .unwrap();
    reader.finish().await.unwrap();
    all
}

async fn top_up_expiring(app: &TestApp, account: &str, key: &str, expires_at: DateTime<Utc>) {
    let request = p::TopUpRequest {
        idempotency_key: key.into(),
        account: Some(by_id(account)),
        quantity: "100".into(),
        price: "10".into(),
        currency: "USD".into(),
        expires_at: Some(credit_ledger::api::convert::timestamp(expires_at)),
        ..Default::default()
    };
    app.credits().await.top_up(request).await.unwrap();
}

/// A lot that expired on January 20th and is swept after January is closed: its expiry is
/// booked on February 1st, its own time kept, so January's books stay as closed.
async fn a_late_effect_is_booked_in_the_open_period(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("late", 0).await;
    top_up_expiring(&app, &account, "lot", utc(2026, 1, 20)).await;
    app.debit(by_id(&account), "30", "spend").await.unwrap();
    app.clock.advance(utc(2026, 2, 3) - app.clock.now());

    let january = close_month(&app.store, "2026-01", app.clock.now())
        .await
        .unwrap();
    assert_eq!(january.end, utc(2026, 2, 1));
    assert!(january.closed && january.prev_hash.is_empty() && january.lines > 0);
    let before = trial_balance(
        &app.store,
        utc(2026, 2, 1) - Duration::microseconds(1),
        true,
    )
    .await
    .unwrap();
    app.sweep().await;
    let expiry = (entries(&app).await.into_iter())
        .find(|e| e.kind == EntryKind::Expiry)
        .expect("the expiry was posted");
    assert_eq!(expiry.effective_at, utc(2026, 2, 1));
    assert_eq!(expiry.original_effective_at, Some(utc(2026, 1, 20)));
    // The detail export shows both times: it is February's breakage.
    let csv = crate::journal::export(
        &app,
        p::ExportJournalRequest {
            from: Some(crate::journal::ts(utc(2026, 2, 1))),
            to: Some(crate::journal::ts(utc(2026, 3, 1))),
            book: p::Book::Money as i32,
            format: p::ExportFormat::Csv as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let lines = crate::journal::records(&csv);
    let breakage = (lines.iter())
        .find(|l| l["ledger_account"] == "revenue_breakage")
        .expect("the breakage is February's");
    assert_eq!(breakage["effective_at"], "2026-02-01T00:00:00.000000Z");
    assert_eq!(
        breakage["original_effective_at"],
        "2026-01-20T00:00:00.000000Z"
    );
    // January as closed is January still; the expiry is February's.
    let after = trial_balance(
        &app.store,
        utc(2026, 2, 1) - Duration::microseconds(1),
        true,
    )
    .await
    .unwrap();
    assert_eq!(before, after);
    let now = app.clock.now();
    assert_eq!(
        trial_balance(&app.store, now, true).await.unwrap(),
        trial_balance_in_full(&app.store, now, true).await.unwrap()
    );

    // Once, and in order; never a month that has not ended.
    let again = close_month(&app.store, "2026-01", app.clock.now())
        .await
        .unwrap();
    assert_eq!(again, january);
    let early = close_month(&app.store, "2026-02", app.clock.now())
        .await
        .unwrap_err();
    assert!(early.to_string().contains("has not ended"), "{early}");
    app.clock.advance(utc(2026, 4, 2) - app.clock.now());
    let skipped = close_month(&app.store, "2026-03", app.clock.now())
        .await
        .unwrap_err();
    assert!(skipped.to_string().contains("2026-02"), "{skipped}");
    let february = close_month(&app.store, "2026-02", app.clock.now())
        .await
        .unwrap();
    assert_eq!(february.prev_hash, january.hash);
    assert!(february.last_seq >= january.last_seq);
    let report = verify(&app.store).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}

/// Random work over five months on three customers, each month closed after it ends at a
/// random moment (or not yet); at random times and at every closed month's end, the trial
/// balance from the last snapshot equals the one from the whole journal, in detail and not.
async fn reports_from_snapshots_equal_the_whole_journal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let accounts = [
        app.account("c0", 0).await,
        app.account("c1", 2).await,
        app.account("c2", 4).await,
    ];
    publish_prices(&app).await;
    let mut rng = Rng(0x5eed_c105e);
    let mut closed_through = 0u32; // months after 2025-12 closed: 1 = January
    let mut holds: Vec<String> = Vec::new();
    let mut checks = 0;
    for n in 0..260 {
        app.clock
            .advance(Duration::minutes(20 + rng.below(30 * 60) as i64));
        let now = app.clock.now();
        let account = &accounts[rng.below(3) as usize];
        let key = format!("op-{n}");
        match rng.below(12) {
            0 | 1 => {
                let expires = now + Duration::hours(12 + rng.below(24 * 20) as i64);
                top_up_expiring(&app, account, &key, expires).await;
            }
            2 | 3 => {
                let _ = app
                    .debit(by_id(account), &format!("{}", 1 + rng.below(9)), &key)
                    .await;
            }
            4 => {
                // Rated, with an upstream cost: what the margin report reads.
                let request = p::DebitRequest {
                    idempotency_key: key,
                    account: Some(by_id(account)),
                    meter: METER.into(),
                    usage: tokens(&mut rng),
                    ..Default::default()
                };
                let _ = app.usage().await.debit(request).await;
            }
            8 => {
                // Free credit: its use is promotional cost in the margin report.
                let request = p::GrantCreditsRequest {
                    idempotency_key: key,
                    account: Some(by_id(account)),
                    quantity: "20".into(),
                    ..Default::default()
                };
                app.credits().await.grant_credits(request).await.unwrap();
            }
            5 => {
                if let Ok(hold) = app.authorize(account, "5", &key, 0).await {
                    holds.push(hold.hold_id);
                }
            }
            6 => {
                if let Some(hold) = holds.pop() {
                    let _ = app.capture(&hold, "3", &key, true).await;
                }
            }
            7 => {
                app.sweep().await;
            }
            _ => {
                // Maybe close the next month that has ended.
                let month = closed_through + 1;
                let (year, m) = (2026 + (month as i32 - 1) / 12, (month - 1) % 12 + 1);
                let end = match m {
                    12 => utc(year + 1, 1, 1),
                    m => utc(year, m + 1, 1),
                };
                if end <= now && rng.below(2) == 0 {
                    let period = format!("{year:04}-{m:02}");
                    close_month(&app.store, &period, now).await.unwrap();
                    closed_through = month;
                }
            }
        }
        if rng.below(6) == 0 {
            let at = app.clock.now() - Duration::hours(rng.below(24 * 40) as i64);
            let from = at - Duration::hours(rng.below(24 * 45) as i64);
            reports_agree(&app, &accounts, from, at, &format!("step {n}")).await;
            verify_agrees(&app, &format!("step {n}")).await;
            checks += 1;
        }
    }
    assert!(closed_through >= 3, "only {closed_through} months closed");
    assert!(checks > 20);
    for close in app.store.period_closes().await.unwrap() {
        for at in [close.end - Duration::microseconds(1), close.end] {
            reports_agree(&app, &accounts, close.start, at, &close.period).await;
        }
    }
    let late = (entries(&app).await.into_iter())
        .filter(|e| e.original_effective_at.is_some())
        .count();
    assert!(late > 0, "the workload booked no late effect");
    assert!(app.clock.now().month() >= 5);
    let report = verify(&app.store).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}

/// The sweeper closes each month a day after it ends, in order and once, with two sweepers at
/// once; a month not yet a day old stays open.
async fn auto_close_run(app: &TestApp, other: Option<&TestApp>) {
    let account = app.account("auto-closed", 0).await;
    top_up_expiring(app, &account, "lot", utc(2026, 3, 10)).await;
    app.debit(by_id(&account), "10", "spend").await.unwrap();
    let sweep_both = || async {
        let (a, b) = match other {
            None => futures::future::join(app.sweep(), app.sweep()).await,
            Some(other) => futures::future::join(app.sweep(), other.sweep()).await,
        };
        a.periods_closed + b.periods_closed
    };
    // The first close is the last month a day over: December, before the store's first entry.
    app.clock
        .advance(utc(2026, 2, 1) + Duration::hours(23) - app.clock.now());
    assert_eq!(
        sweep_both().await,
        1,
        "December only: January is not a day over"
    );
    app.clock.advance(Duration::hours(1));
    assert_eq!(sweep_both().await, 1);
    assert_eq!(sweep_both().await, 0);
    let closes = app.store.period_closes().await.unwrap();
    let periods: Vec<(&str, bool)> = closes
        .iter()
        .map(|c| (c.period.as_str(), c.closed))
        .collect();
    assert_eq!(periods, [("2025-12", true), ("2026-01", true)]);
    // Two months later, February and March close in order; the lot's expiry, swept in the same
    // run before the closes, is March's.
    app.clock.advance(utc(2026, 4, 2) - app.clock.now());
    assert_eq!(sweep_both().await, 2);
    let closes = app.store.period_closes().await.unwrap();
    let periods: Vec<&str> = closes.iter().map(|c| c.period.as_str()).collect();
    assert_eq!(periods, ["2025-12", "2026-01", "2026-02", "2026-03"]);
    for pair in closes.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let expiry = (entries(app).await.into_iter())
        .find(|e| e.kind == EntryKind::Expiry)
        .expect("the expiry was posted");
    assert_eq!(expiry.effective_at, utc(2026, 3, 10));
    assert_eq!(expiry.original_effective_at, None);
    let report = verify(&app.store).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}

async fn the_sweeper_closes_each_month_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    auto_close_run(&app, None).await;
}

/// Every report that can start from a snapshot equals the same report read from the journal's
/// first entry: the trial balance as of `at` (in detail and not), the revenue roll-forward and
/// the margin report of [from, at), for all customers and each, and each customer's balance as
/// of `at`.
async fn reports_agree(
    app: &TestApp,
    accounts: &[String],
    from: DateTime<Utc>,
    at: DateTime<Utc>,
    context: &str,
) {
    let store = &app.store;
    for detail in [false, true] {
        assert_eq!(
            trial_balance(store, at, detail).await.unwrap(),
            trial_balance_in_full(store, at, detail).await.unwrap(),
            "{context}: trial balance as of {at}, detail {detail}"
        );
    }
    let ids: Vec<Option<AccountId>> = std::iter::once(None)
        .chain(accounts.iter().map(|a| Some(a.parse().unwrap())))
        .collect();
    for id in &ids {
        assert_eq!(
            revenue_report(store, from, at, *id).await.unwrap(),
            revenue_report_in_full(store, from, at, *id).await.unwrap(),
            "{context}: revenue [{from}, {at}) of {id:?}"
        );
    }
    assert_eq!(
        margin_report(store, from, at).await.unwrap(),
        margin_report_in_full(store, from, at).await.unwrap(),
        "{context}: margin [{from}, {at})"
    );
    for id in ids.into_iter().flatten() {
        assert_eq!(
            balance_as_of(store, id, at).await.unwrap(),
            balance_as_of_in_full(store, id, at).await.unwrap(),
            "{context}: balance of {id} as of {at}"
        );
    }
}

/// `Journal.ClosePeriod` closes in order and refuses precisely: a malformed month is
/// INVALID_ARGUMENT naming `month`; one not ended, one out of order, FAILED_PRECONDITION.
async fn months_close_through_the_api(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.close_after_ms = 0).await;
    let mut journal = crate::journal::journal(&app).await;
    let close = |month: &str| p::ClosePeriodRequest {
        month: month.into(),
    };
    for bad in ["2026-13", "2026-1", "26-01", "", "1969-12", "２０２６-01"] {
        let status = journal.close_period(close(bad)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{bad:?}");
        assert_eq!(
            crate::helpers::metadata(&status, "field"),
            "month",
            "{bad:?}"
        );
    }
    let early = journal.close_period(close("2026-01")).await.unwrap_err();
    assert_eq!(
        (early.code(), crate::helpers::reason(&early).as_str()),
        (tonic::Code::FailedPrecondition, "PERIOD_NOT_ENDED")
    );
    let december = journal
        .close_period(close("2025-12"))
        .await
        .unwrap()
        .into_inner();
    assert!(december.closed && december.prev_hash.is_empty());
    app.clock.advance(utc(2026, 3, 2) - app.clock.now());
    let skipped = journal.close_period(close("2026-02")).await.unwrap_err();
    assert_eq!(crate::helpers::reason(&skipped), "PERIOD_OUT_OF_ORDER");
    assert_eq!(crate::helpers::metadata(&skipped, "next"), "2026-01");
    let january = journal
        .close_period(close("2026-01"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(january.prev_hash, december.hash);
    let listed = journal
        .list_closed_periods(p::ListClosedPeriodsRequest {})
        .await
        .unwrap()
        .into_inner()
        .periods;
    assert_eq!(listed, [december, january]);
}

crate::both_stores!(
    months_close_through_the_api,
    a_late_effect_is_booked_in_the_open_period,
    reports_from_snapshots_equal_the_whole_journal,
    the_sweeper_closes_each_month_once,
    verify_finds_a_tampered_snapshot,
    verify_checks_from_the_last_snapshot,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_close_each_month_once() {
    let first = TestApp::spawn(Backend::Postgres).await;
    let second = TestApp::start(first.db.same(), first.clock.clone()).await;
    auto_close_run(&first, Some(&second)).await;
}

/// The default verify (from the last snapshot on, once a month is closed) is clean, and sums to
/// the same trial balance as `--full`, which walks every entry.
async fn verify_agrees(app: &TestApp, context: &str) {
    let quick = verify_with(&app.store, false).await.unwrap();
    let full = verify_with(&app.store, true).await.unwrap();
    assert!(quick.is_clean(), "{context}: {quick}");
    assert!(full.is_clean(), "{context}: {full}");
    assert_eq!(quick.trial_balance, full.trial_balance, "{context}");
    assert_eq!(full.since, None);
    let closed = app.store.period_closes().await.unwrap();
    assert_eq!(
        quick.since,
        closed.last().map(|c| c.period.clone()),
        "{context}"
    );
    assert!(quick.checked.entries <= full.checked.entries, "{context}");
}

/// Once January is closed, the default verify reads only what was recorded from the first entry
/// effective after it: it still finds an altered entry since the close, a broken link from the
/// closed month into the open one, and a lot that disagrees with the snapshot plus the postings
/// since; an entry altered inside January is left to `--full`.
async fn verify_checks_from_the_last_snapshot(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.close_after_ms = 0).await;
    let account = app.account("stepwise", 0).await;
    top_up_expiring(&app, &account, "lot", utc(2027, 1, 1)).await;
    app.debit(by_id(&account), "10", "jan-1").await.unwrap();
    app.clock.advance(utc(2026, 1, 20) - app.clock.now());
    app.debit(by_id(&account), "4", "jan-2").await.unwrap();
    app.clock
        .advance(utc(2026, 2, 1) + Duration::hours(1) - app.clock.now());
    app.debit(by_id(&account), "5", "feb-1").await.unwrap();
    app.clock.advance(Duration::days(2));
    close_month(&app.store, "2026-01", app.clock.now())
        .await
        .unwrap();
    app.debit(by_id(&account), "7", "feb-2").await.unwrap();
    verify_agrees(&app, "clean").await;
    let quick = verify_with(&app.store, false).await.unwrap();
    assert_eq!(quick.checked.entries, 2, "{quick}");
    assert!(quick
        .to_string()
        .contains("2026-01 (the last closed month)"));

    let all = entries(&app).await;
    let entry = |key: &str| all.iter().find(|e| e.idempotency_key == key).unwrap();
    let id_of = |key: &str| entry(key).id.to_string();
    let pool = app.store.pool().clone();
    let set = |column: &'static str, value: String, id: String| {
        let pool = pool.clone();
        async move {
            sqlx::query(&format!(
                "UPDATE entries SET {column} = '{value}' WHERE id = '{id}'"
            ))
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    let found = |report: &credit_ledger::journal::verify::Report, what: &str| {
        report.violations.iter().any(|v| match v {
            Violation::HashMismatch { .. } => what == "hash",
            Violation::BrokenLink { .. } => what == "link",
            Violation::LotRow { .. } | Violation::LotQuantity { .. } => what == "lot",
            _ => false,
        })
    };

    // Inside the closed month: only --full reads it.
    set("reference", "altered".into(), id_of("jan-1")).await;
    assert!(verify_with(&app.store, false).await.unwrap().is_clean());
    assert!(found(&verify_with(&app.store, true).await.unwrap(), "hash"));
    set(
        "reference",
        entry("jan-1").reference.clone(),
        id_of("jan-1"),
    )
    .await;

    // The last entry of January, re-hashed: the first entry after it no longer links to it.
    let jan_2 = entry("jan-2");
    set("hash", "0".repeat(64), id_of("jan-2")).await;
    let quick = verify_with(&app.store, false).await.unwrap();
    assert!(found(&quick, "link"), "{quick}");
    set("hash", jan_2.hash.clone(), id_of("jan-2")).await;
    assert!(verify_with(&app.store, false).await.unwrap().is_clean());

    // An entry since the close.
    set("reference", "altered".into(), id_of("feb-2")).await;
    let quick = verify_with(&app.store, false).await.unwrap();
    assert!(found(&quick, "hash"), "{quick}");
    set(
        "reference",
        entry("feb-2").reference.clone(),
        id_of("feb-2"),
    )
    .await;
    assert!(verify_with(&app.store, false).await.unwrap().is_clean());

    // A lot whose row no longer agrees with January's snapshot and February's postings.
    sqlx::query("UPDATE lots SET remaining = '12345'")
        .execute(&pool)
        .await
        .unwrap();
    let quick = verify_with(&app.store, false).await.unwrap();
    assert!(found(&quick, "lot"), "{quick}");
}

/// `verify` proves the closed months: a changed snapshot line (or its head) breaks its hash; a
/// line changed with its hash made to match breaks the chain to the month after, and on the last
/// month only `--full`, which recomputes the snapshots from the journal, finds it.
async fn verify_finds_a_tampered_snapshot(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.close_after_ms = 0).await;
    let account = app.account("audited", 0).await;
    top_up_expiring(&app, &account, "lot", utc(2026, 2, 10)).await;
    app.debit(by_id(&account), "10", "spend").await.unwrap();
    app.clock.advance(utc(2026, 2, 5) - app.clock.now());
    app.debit(by_id(&account), "5", "more").await.unwrap();
    app.clock.advance(utc(2026, 3, 5) - app.clock.now());
    app.sweep().await;
    close_month(&app.store, "2026-01", app.clock.now())
        .await
        .unwrap();
    close_month(&app.store, "2026-02", app.clock.now())
        .await
        .unwrap();
    for full in [false, true] {
        let report = verify_with(&app.store, full).await.unwrap();
        assert!(report.is_clean(), "{report:?}");
    }
    let pool = app.store.pool().clone();
    let tamper = |period: &'static str, debits: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query(&format!(
                "UPDATE period_lines SET debits = '{debits}' WHERE period = '{period}' AND line = 1"
            ))
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    let original: Vec<_> = app.store.period_lines("2026-01").await.unwrap();
    tamper("2026-01", "999").await;
    let report = verify_with(&app.store, false).await.unwrap();
    assert!(
        (report.violations.iter())
            .any(|v| matches!(v, Violation::SnapshotHash { period, .. } if period == "2026-01")),
        "{report:?}"
    );
    // Made to hash again: the month after no longer names it.
    let mut closes = app.store.period_closes().await.unwrap();
    let lines = app.store.period_lines("2026-01").await.unwrap();
    assert_ne!(lines, original);
    closes[0].hash = snapshot_hash(&closes[0], &lines);
    sqlx::query(&format!(
        "UPDATE period_closes SET hash = '{}' WHERE period = '2026-01'",
        closes[0].hash
    ))
    .execute(&pool)
    .await
    .unwrap();
    let report = verify_with(&app.store, false).await.unwrap();
    assert!(
        (report.violations.iter())
            .any(|v| matches!(v, Violation::SnapshotChain { period, .. } if period == "2026-02")),
        "{report:?}"
    );
    // The last month, tampered and re-hashed: only the recomputation finds it.
    tamper("2026-02", "777").await;
    let lines = app.store.period_lines("2026-02").await.unwrap();
    let rehashed = snapshot_hash(&closes[1], &lines);
    sqlx::query(&format!(
        "UPDATE period_closes SET hash = '{rehashed}' WHERE period = '2026-02'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let quick = verify_with(&app.store, false).await.unwrap();
    assert!(
        !(quick.violations.iter()).any(|v| matches!(v, Violation::SnapshotLines { .. })),
        "{quick:?}"
    );
    let full = verify_with(&app.store, true).await.unwrap();
    assert!(
        (full.violations.iter())
            .any(|v| matches!(v, Violation::SnapshotLines { period, .. } if period == "2026-02")),
        "{full:?}"
    );
}
