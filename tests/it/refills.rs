//! Refills: auto top-up end to end (one request below the threshold, none while it is open,
//! fulfilled by a TopUp under its id exactly once, failures backing off then turning it off, the
//! monthly cap) and recurring grants (once per period whatever the sweepers, rollover up to its
//! cap, both books tied).

use chrono::{Duration, TimeZone, Utc};
use credit_ledger::clock::Clock as _;
use credit_ledger::journal::verify::verify;
use credit_ledger::ledger::EventData;
use credit_ledger::proto as p;
use rust_decimal::Decimal;
use tonic::Code;

use crate::budgets::{debit, key};
use crate::helpers::{by_id, metadata, reason, Backend, TestApp};
use crate::journal::journal;

async fn refill_events(app: &TestApp, account: &str) -> Vec<EventData> {
    let events = app
        .store
        .events_after(0, Some(account.parse().unwrap()), 1_000)
        .await
        .unwrap();
    (events.into_iter())
        .map(|e| e.event.data)
        .filter(|d| d.kind().starts_with("top_up_") || d.kind().starts_with("recurring_"))
        .collect()
}

/// The amounts of the requests raised so far, in order.
async fn requested(app: &TestApp, account: &str) -> Vec<String> {
    (refill_events(app, account).await.into_iter())
        .filter_map(|e| match e {
            EventData::TopUpRequested { amount, .. } => Some(amount.to_string()),
            _ => None,
        })
        .collect()
}

async fn set_auto(app: &TestApp, account: &str, cap: &str) -> p::AutoTopUp {
    app.refills()
        .await
        .set_auto_top_up(p::SetAutoTopUpRequest {
            idempotency_key: key(),
            account: Some(by_id(account)),
            enabled: true,
            threshold: "20".into(),
            target: "100".into(),
            monthly_cap: cap.into(),
        })
        .await
        .expect("auto top-up set")
        .into_inner()
        .auto_top_up
        .unwrap()
}

async fn get_auto(app: &TestApp, account: &str) -> p::AutoTopUp {
    app.refills()
        .await
        .get_auto_top_up(p::GetAutoTopUpRequest {
            account: Some(by_id(account)),
        })
        .await
        .expect("auto top-up")
        .into_inner()
        .auto_top_up
        .unwrap()
}

/// The open request's id and amount.
async fn open_request(app: &TestApp, account: &str) -> (String, String) {
    let open = get_auto(app, account)
        .await
        .open_request
        .expect("a request is open");
    (open.request_id, open.amount)
}

/// The billing system's side: it charged for the request and tops up under its id.
async fn fulfil(app: &TestApp, account: &str, request_id: &str, quantity: &str) -> p::Lot {
    app.top_up(account, quantity, "1", request_id).await
}

async fn fail(
    app: &TestApp,
    account: &str,
    request_id: &str,
) -> Result<p::AutoTopUp, tonic::Status> {
    app.refills()
        .await
        .report_top_up_failure(p::ReportTopUpFailureRequest {
            idempotency_key: key(),
            account: Some(by_id(account)),
            request_id: request_id.into(),
            reason: "card_declined".into(),
        })
        .await
        .map(|r| r.into_inner().auto_top_up.unwrap())
}

async fn available(app: &TestApp, account: &str) -> String {
    app.balance(account).await.available
}

async fn auto_top_up_requests_once_and_is_fulfilled_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("auto", 0).await;
    app.top_up(&account, "100", "10", "first").await;
    set_auto(&app, &account, "250").await;
    debit(&app, &account, "", "85").await.unwrap();
    // Below the threshold: one request, for what reaches the target.
    assert_eq!(requested(&app, &account).await, ["85"]);
    let (request_id, amount) = open_request(&app, &account).await;
    assert_eq!(amount, "85");
    // Further below while it is open: no second request.
    debit(&app, &account, "", "5").await.unwrap();
    assert_eq!(requested(&app, &account).await, ["85"]);
    // The billing system charges and tops up under the request's id; a replay credits nothing.
    let lot = fulfil(&app, &account, &request_id, "85").await;
    let again = fulfil(&app, &account, &request_id, "85").await;
    assert_eq!(lot.lot_id, again.lot_id);
    assert_eq!(available(&app, &account).await, "95");
    let fulfilled: Vec<_> = (refill_events(&app, &account).await.into_iter())
        .filter(|e| matches!(e, EventData::TopUpFulfilled { .. }))
        .collect();
    assert_eq!(fulfilled.len(), 1);
    assert!(get_auto(&app, &account).await.open_request.is_none());
    // A failure reported on a request that is no longer open changes nothing.
    let late = fail(&app, &account, &request_id).await.unwrap_err();
    assert_eq!(
        (late.code(), reason(&late).as_str()),
        (Code::FailedPrecondition, "TOP_UP_REQUEST_NOT_OPEN")
    );
    let requests = app
        .refills()
        .await
        .list_top_up_requests(p::ListTopUpRequestsRequest {
            account: Some(by_id(&account)),
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (
            requests[0].state,
            requests[0].credited.as_str(),
            requests[0].lot_id.as_str()
        ),
        (
            p::AutoTopUpRequestState::Fulfilled as i32,
            "85",
            lot.lot_id.as_str()
        )
    );
    assert!(verify(&app.store).await.unwrap().is_clean());
}

/// Failures back off (1 hour, then 4) and the third in a row turns auto top-up off; setting it
/// again starts over; the monthly cap bounds what is requested until the next month.
async fn failures_back_off_then_disable_and_the_cap_holds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("failing", 0).await;
    app.top_up(&account, "100", "10", "first").await;
    set_auto(&app, &account, "250").await;
    debit(&app, &account, "", "86").await.unwrap();
    let t0 = app.clock.now();
    let (first, amount) = open_request(&app, &account).await;
    assert_eq!(amount, "86");
    let after = fail(&app, &account, &first).await.unwrap();
    assert_eq!(after.failures, 1);
    assert_eq!(
        after.retry_at,
        Some(credit_ledger::api::convert::timestamp(
            t0 + Duration::hours(1)
        ))
    );
    // Nothing is requested before the wait is over, even as the balance falls; then the
    // sweeper raises the next request, for the balance as it is then.
    debit(&app, &account, "", "1").await.unwrap();
    app.clock.advance(Duration::hours(1) - Duration::seconds(1));
    app.sweep().await;
    assert_eq!(requested(&app, &account).await, ["86"]);
    app.clock.advance(Duration::seconds(1));
    app.sweep().await;
    assert_eq!(requested(&app, &account).await, ["86", "87"]);
    // A top-up under another key fulfils nothing.
    let (second, _) = open_request(&app, &account).await;
    app.top_up(&account, "1", "1", &key()).await;
    assert_eq!(open_request(&app, &account).await.0, second);
    let t1 = app.clock.now();
    let after = fail(&app, &account, &second).await.unwrap();
    assert_eq!(after.failures, 2);
    assert_eq!(
        after.retry_at,
        Some(credit_ledger::api::convert::timestamp(
            t1 + Duration::hours(4)
        ))
    );
    app.clock.advance(Duration::hours(4));
    app.sweep().await;
    assert_eq!(requested(&app, &account).await, ["86", "87", "86"]);
    let (third, _) = open_request(&app, &account).await;
    let after = fail(&app, &account, &third).await.unwrap();
    assert_eq!(
        (after.failures, after.retry_at, after.enabled),
        (3, None, false)
    );
    // Off: nothing more, by the sweeper or the balance.
    app.clock.advance(Duration::days(1));
    app.sweep().await;
    debit(&app, &account, "", "1").await.unwrap();
    assert_eq!(requested(&app, &account).await.len(), 3);
    let failed: Vec<_> = (refill_events(&app, &account).await.into_iter())
        .filter_map(|e| match e {
            EventData::TopUpFailed { retry_at, .. } => Some(retry_at),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[2], None);
    assert!(app.clock.now() < t0 + Duration::days(14), "still January");

    // Set again: a request at once (the balance is below), within the cap (nothing counted
    // yet: failed requests give their amount back).
    let auto = set_auto(&app, &account, "250").await;
    assert_eq!((auto.failures, auto.enabled), (0, true));
    let (request_id, amount) = open_request(&app, &account).await;
    assert_eq!(amount, "87");
    fulfil(&app, &account, &request_id, "87").await;
    assert_eq!(available(&app, &account).await, "100");
    debit(&app, &account, "", "90").await.unwrap();
    let (request_id, amount) = open_request(&app, &account).await;
    assert_eq!(amount, "90");
    fulfil(&app, &account, &request_id, "90").await;
    // 177 requested this month: the cap leaves 73 of the 90 wanted.
    debit(&app, &account, "", "90").await.unwrap();
    let (request_id, amount) = open_request(&app, &account).await;
    assert_eq!(amount, "73");
    assert_eq!(get_auto(&app, &account).await.requested_this_month, "250");
    fulfil(&app, &account, &request_id, "73").await;
    debit(&app, &account, "", "70").await.unwrap();
    assert!(
        get_auto(&app, &account).await.open_request.is_none(),
        "the cap is reached"
    );
    // A new month, a new allowance of requests.
    let february = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    app.clock.advance(february - app.clock.now());
    debit(&app, &account, "", "1").await.unwrap();
    let (_, amount) = open_request(&app, &account).await;
    assert_eq!(amount, "88");
    assert!(verify(&app.store).await.unwrap().is_clean());
}

async fn auto_top_up_inputs_are_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("checked", 2).await;
    let mut refills = app.refills().await;
    let request = |threshold: &str, target: &str, cap: &str| p::SetAutoTopUpRequest {
        idempotency_key: key(),
        account: Some(by_id(&account)),
        enabled: true,
        threshold: threshold.into(),
        target: target.into(),
        monthly_cap: cap.into(),
    };
    for (bad, field) in [
        (request("20", "20", ""), "target"),
        (request("20", "10", ""), "target"),
        (request("-1", "10", ""), "threshold"),
        (request("1.001", "10", ""), "threshold"),
        (request("1", "10", "0"), "monthly_cap"),
        (request("1", "10", "x"), "monthly_cap"),
    ] {
        let status = refills.set_auto_top_up(bad).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert_eq!(metadata(&status, "field"), field, "{status:?}");
    }
    let unset = refills
        .get_auto_top_up(p::GetAutoTopUpRequest {
            account: Some(by_id(&account)),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&unset), "AUTO_TOP_UP_NOT_SET");
    let bad_id = fail(&app, &account, "not-a-uuid").await.unwrap_err();
    assert_eq!(bad_id.code(), Code::InvalidArgument);
}

async fn create_grant(app: &TestApp, account: &str, cap: &str) -> p::RecurringGrantResponse {
    app.refills()
        .await
        .create_recurring_grant(p::CreateRecurringGrantRequest {
            idempotency_key: key(),
            account: Some(by_id(account)),
            quantity: "1000".into(),
            period: p::GrantPeriod::Month as i32,
            kind: p::LotKind::Paid as i32,
            price: "50".into(),
            currency: "USD".into(),
            rollover_cap: cap.into(),
            ..Default::default()
        })
        .await
        .expect("recurring grant created")
        .into_inner()
}

/// (rolled over, expired, lot granted) of each period posted so far.
async fn posted(app: &TestApp, account: &str) -> Vec<(String, String, String)> {
    (refill_events(app, account).await.into_iter())
        .filter_map(|e| match e {
            EventData::RecurringGrantPosted {
                rolled_over,
                expired,
                quantity,
                ..
            } => Some((
                rolled_over.to_string(),
                expired.to_string(),
                quantity.to_string(),
            )),
            _ => None,
        })
        .collect()
}

/// The money book's balance of a ledger account (debits − credits), in USD.
async fn money_balance(app: &TestApp, ledger_account: &str) -> Decimal {
    let books = journal(app)
        .await
        .get_trial_balance(p::GetTrialBalanceRequest {
            as_of: None,
            detail: false,
        })
        .await
        .unwrap()
        .into_inner()
        .books;
    let money = books
        .iter()
        .find(|b| b.book == p::Book::Money as i32)
        .unwrap();
    (money.lines.iter())
        .find(|l| l.ledger_account == ledger_account)
        .map_or(Decimal::ZERO, |l| l.balance.parse().unwrap())
}

/// Sweeps with two sweepers at once: `others` are more instances on the same database.
async fn sweep_twice(app: &TestApp, others: &[&TestApp]) {
    match others {
        [] => {
            futures::future::join(app.sweep(), app.sweep()).await;
        }
        [other, ..] => {
            futures::future::join(app.sweep(), other.sweep()).await;
        }
    }
}

/// A monthly paid allowance of 1000 for 50 with a rollover cap of 300: granted at creation, then
/// once at each month's start whatever the sweepers; the newest unspent credit rolls over up to
/// the cap, the rest expires as breakage, and the books tie.
async fn recurring_grant_run(app: &TestApp, others: &[&TestApp]) {
    let account = app.account("subscriber", 0).await;
    let created = create_grant(app, &account, "300").await;
    let grant = created.grant.unwrap();
    assert_eq!(
        (grant.periods_granted, grant.rollover_cap.as_str()),
        (1, "300")
    );
    assert_eq!(created.lot.unwrap().quantity_granted, "1000");
    assert_eq!(
        money_balance(app, "deferred_revenue").await,
        Decimal::from(-50)
    );
    debit(app, &account, "", "600").await.unwrap();
    // Nothing more before the month ends, however often the sweepers run.
    sweep_twice(app, others).await;
    assert_eq!(posted(app, &account).await.len(), 1);

    let february = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 1).unwrap();
    app.clock.advance(february - app.clock.now());
    sweep_twice(app, others).await;
    sweep_twice(app, others).await;
    let periods = posted(app, &account).await;
    assert_eq!(periods.len(), 2, "{periods:?}");
    // 400 left: 300 rolls over, 100 expires (and February's allowance lasts until April).
    assert_eq!(periods[1], ("300".into(), "100".into(), "1000".into()));
    assert_eq!(available(app, &account).await, "1300");
    // Paid 100: 30 recognized as usage, 5 as breakage, 15 still deferred with the rolled-over
    // credit (not new revenue), and 50 deferred for February's allowance.
    assert_eq!(
        money_balance(app, "revenue_usage").await,
        Decimal::from(-30)
    );
    assert_eq!(
        money_balance(app, "revenue_breakage").await,
        Decimal::from(-5)
    );
    assert_eq!(
        money_balance(app, "deferred_revenue").await,
        Decimal::from(-65)
    );
    assert_eq!(
        money_balance(app, "cash_clearing").await,
        Decimal::from(100)
    );

    debit(app, &account, "", "200").await.unwrap();
    let march = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 1).unwrap();
    app.clock.advance(march - app.clock.now());
    sweep_twice(app, others).await;
    let periods = posted(app, &account).await;
    assert_eq!(periods.len(), 3, "{periods:?}");
    // January's last 100 expire with their lot (it lasted one period more); of February's 1000,
    // 300 roll over and 700 expire.
    assert_eq!(periods[2], ("300".into(), "700".into(), "1000".into()));
    assert_eq!(available(app, &account).await, "1300");
    let report = verify(&app.store).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    let grants = app
        .refills()
        .await
        .list_recurring_grants(p::ListRecurringGrantsRequest {
            account: Some(by_id(&account)),
        })
        .await
        .unwrap()
        .into_inner()
        .grants;
    assert_eq!(grants[0].periods_granted, 3);
    assert_eq!(
        grants[0].next_at,
        Some(credit_ledger::api::convert::timestamp(
            Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap()
        ))
    );
}

async fn a_recurring_grant_is_posted_once_per_period(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    recurring_grant_run(&app, &[]).await;
}

crate::both_stores!(
    auto_top_up_requests_once_and_is_fulfilled_once,
    failures_back_off_then_disable_and_the_cap_holds,
    auto_top_up_inputs_are_checked,
    a_recurring_grant_is_posted_once_per_period,
);

/// The same with a second server instance's sweeper on the same PostgreSQL database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_post_a_recurring_grant_once_per_period() {
    let first = TestApp::spawn(Backend::Postgres).await;
    let second = TestApp::start(first.db.same(), first.clock.clone()).await;
    recurring_grant_run(&first, &[&second]).await;
}
