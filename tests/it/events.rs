//! Events through `Events.Subscribe`: each kind arrives once, a subscription resumed from a
//! cursor misses nothing and repeats nothing, and a batch that rolls back emits nothing.

use std::time::Duration as StdDuration;

use chrono::Duration;
use credit_ledger::api::convert::timestamp;
use credit_ledger::clock::Clock;
use credit_ledger::proto as p;
use sqlx::Executor as _;
use tokio_stream::StreamExt;
use tonic::Streaming;

use crate::helpers::{by_id, Backend, TestApp};

async fn subscribe(app: &TestApp, request: p::SubscribeRequest) -> Streaming<p::Event> {
    app.events()
        .await
        .subscribe(request)
        .await
        .expect("subscribe")
        .into_inner()
}

/// Reads exactly `n` events, then checks that nothing more arrives for a while.
async fn take(stream: &mut Streaming<p::Event>, n: usize) -> Vec<p::Event> {
    let mut events = Vec::new();
    while events.len() < n {
        let next = tokio::time::timeout(StdDuration::from_secs(10), stream.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events arrived: {events:?}", events.len()));
        events.push(next.expect("stream open").expect("event"));
    }
    events
}

async fn nothing_more(stream: &mut Streaming<p::Event>) {
    let extra = tokio::time::timeout(StdDuration::from_millis(300), stream.next()).await;
    assert!(extra.is_err(), "unexpected event: {extra:?}");
}

fn kind(e: &p::Event) -> p::EventKind {
    p::EventKind::try_from(e.kind).unwrap()
}

async fn account_with_threshold(app: &TestApp, external_id: &str, threshold: &str) -> String {
    let response = app
        .accounts()
        .await
        .create_account(p::CreateAccountRequest {
            idempotency_key: format!("create-{external_id}"),
            external_id: external_id.into(),
            unit: "CREDIT".parse().unwrap(),
            low_balance: Some(p::LowBalanceThreshold {
                threshold: Some(p::low_balance_threshold::Threshold::Absolute(
                    threshold.into(),
                )),
            }),
            ..Default::default()
        })
        .await
        .expect("account");
    response.into_inner().account.unwrap().account_id
}

async fn debit(app: &TestApp, account: &str, quantity: &str, key: &str) {
    app.debit(by_id(account), quantity, key)
        .await
        .expect("debit");
}

/// Drives one account through low balance, a hold's expiry, depletion and a lot's expiry, and a
/// second through a commitment's notice; returns the two account ids.
async fn eventful_day(app: &TestApp) -> (String, String) {
    let spender = account_with_threshold(app, "spender", "5").await;
    app.top_up(&spender, "10", "10.00", "pay").await;
    debit(app, &spender, "6", "d1").await; // available 4: low balance
    debit(app, &spender, "1", "d2").await; // 3: still low, no new event
    app.authorize(&spender, "1", "hold", 1_000)
        .await
        .expect("hold"); // 2
    app.clock.advance(Duration::seconds(2));
    debit(app, &spender, "2", "d3").await; // hold expires (3), then 1
    debit(app, &spender, "1", "d4").await; // 0: depleted
    let promo = p::GrantCreditsRequest {
        idempotency_key: "promo".into(),
        account: Some(by_id(&spender)),
        quantity: "3".into(),
        expires_at: Some(timestamp(app.clock.now() + Duration::hours(1))),
        ..Default::default()
    };
    app.credits()
        .await
        .grant_credits(promo)
        .await
        .expect("grant");
    app.top_up(&spender, "10", "10.00", "pay-2").await; // 13: fine again

    let committed = app.account("committed", 0).await;
    let commitment = p::CreateCommitmentRequest {
        idempotency_key: "commit".into(),
        account: Some(by_id(&committed)),
        kind: p::CommitmentKind::Prepaid as i32,
        quantity: "10".into(),
        price: "1.00".into(),
        term_end: Some(timestamp(app.clock.now() + Duration::days(2))),
        ..Default::default()
    };
    app.credits()
        .await
        .create_commitment(commitment)
        .await
        .expect("commitment");
    app.clock.advance(Duration::hours(2));
    // The promotional lot expires (10 left, still fine); the term ends within the notice.
    let report = app.sweep().await;
    assert_eq!((report.lots_expired, report.notices), (1, 1), "{report:?}");
    assert_eq!(app.sweep().await, Default::default());
    (spender, committed)
}

async fn each_event_kind_arrives_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut all = subscribe(&app, p::SubscribeRequest::default()).await;
    let (spender, committed) = eventful_day(&app).await;
    let events = take(&mut all, 6).await;
    nothing_more(&mut all).await;
    let kinds: Vec<(p::EventKind, &str)> = events
        .iter()
        .map(|e| (kind(e), e.account_id.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (p::EventKind::LowBalance, spender.as_str()),
            (p::EventKind::HoldExpired, spender.as_str()),
            (p::EventKind::Depleted, spender.as_str()),
            (p::EventKind::LowBalanceRecovered, spender.as_str()),
            (p::EventKind::LotExpired, spender.as_str()),
            (p::EventKind::CommitmentEnding, committed.as_str()),
        ]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    match &events[0].detail {
        Some(p::event::Detail::LowBalance(low)) => {
            assert_eq!((low.available.as_str(), low.threshold.as_str()), ("4", "5"))
        }
        other => panic!("{other:?}"),
    }
    match &events[1].detail {
        Some(p::event::Detail::HoldExpired(hold)) => assert_eq!(hold.released, "1"),
        other => panic!("{other:?}"),
    }
    // Depleted, then 3 granted (still low: no event), then 10 more: back above 5.
    match &events[3].detail {
        Some(p::event::Detail::LowBalanceRecovered(r)) => {
            assert_eq!((r.available.as_str(), r.threshold.as_str()), ("13", "5"))
        }
        other => panic!("{other:?}"),
    }
    match &events[4].detail {
        Some(p::event::Detail::LotExpired(lot)) => {
            assert_eq!((lot.quantity.as_str(), lot.money.as_str()), ("3", "0"))
        }
        other => panic!("{other:?}"),
    }

    // Filters: one account, some kinds.
    let mut filtered = subscribe(
        &app,
        p::SubscribeRequest {
            account: Some(by_id(&spender)),
            kinds: vec![
                p::EventKind::Depleted as i32,
                p::EventKind::LotExpired as i32,
            ],
            ..Default::default()
        },
    )
    .await;
    let only = take(&mut filtered, 2).await;
    nothing_more(&mut filtered).await;
    assert_eq!(
        only.iter().map(kind).collect::<Vec<_>>(),
        vec![p::EventKind::Depleted, p::EventKind::LotExpired]
    );
}

async fn resumed_subscription_misses_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut first = subscribe(&app, p::SubscribeRequest::default()).await;
    let spender = account_with_threshold(&app, "resumer", "5").await;
    app.top_up(&spender, "10", "10.00", "pay").await;
    debit(&app, &spender, "6", "d1").await;
    let seen = take(&mut first, 1).await;
    drop(first);
    // While nobody listens: depletion, then another crossing after a top-up.
    debit(&app, &spender, "4", "d2").await;
    app.top_up(&spender, "10", "10.00", "pay-2").await;
    debit(&app, &spender, "7", "d3").await;
    let mut resumed = subscribe(
        &app,
        p::SubscribeRequest {
            after_seq: seen[0].seq,
            ..Default::default()
        },
    )
    .await;
    let rest = take(&mut resumed, 3).await;
    // And what happens after resuming arrives live.
    debit(&app, &spender, "3", "d4").await;
    let live = take(&mut resumed, 1).await;
    nothing_more(&mut resumed).await;
    let resumed_kinds: Vec<_> = seen.iter().chain(&rest).chain(&live).map(kind).collect();
    assert_eq!(
        resumed_kinds,
        vec![
            p::EventKind::LowBalance,
            p::EventKind::Depleted,
            p::EventKind::LowBalanceRecovered,
            p::EventKind::LowBalance,
            p::EventKind::Depleted,
        ]
    );
    // Exactly what a subscription from the start sees.
    let mut replay = subscribe(&app, p::SubscribeRequest::default()).await;
    let everything = take(&mut replay, 5).await;
    nothing_more(&mut replay).await;
    let ids = |events: Vec<&p::Event>| {
        events
            .iter()
            .map(|e| e.event_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(everything.iter().collect()),
        ids(seen.iter().chain(&rest).chain(&live).collect())
    );
    // `from_now` starts after the newest.
    let mut from_now = subscribe(
        &app,
        p::SubscribeRequest {
            from_now: true,
            ..Default::default()
        },
    )
    .await;
    nothing_more(&mut from_now).await;
}

/// A trigger makes the batch's entry insert fail, so the whole batch rolls back: the event the
/// debit would have raised must not exist. Once the trigger is gone the retried debit raises it,
/// once.
async fn rolled_back_batch_emits_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let spender = account_with_threshold(&app, "doomed", "5").await;
    app.top_up(&spender, "10", "10.00", "pay").await;
    let drop = crate::helpers::refuse_entries(&app.store, backend, "boom", "boom").await;
    let request = p::DebitRequest {
        idempotency_key: "doomed".into(),
        account: Some(by_id(&spender)),
        quantity: "8".into(),
        reference: "boom".into(),
        ..Default::default()
    };
    let failed = app.usage().await.debit(request.clone()).await.unwrap_err();
    // The store refused the debit's data: its own answer, not a retryable one.
    assert_eq!(failed.code(), tonic::Code::InvalidArgument, "{failed:?}");
    assert_eq!(crate::helpers::reason(&failed), "UNSTORABLE_REQUEST");
    assert_eq!(app.store.count("events").await.unwrap(), 0);
    assert_eq!(app.balance(&spender).await.available, "10");
    let mut events = subscribe(&app, p::SubscribeRequest::default()).await;
    nothing_more(&mut events).await;

    app.store.pool().execute(drop.as_str()).await.unwrap();
    app.usage()
        .await
        .debit(request)
        .await
        .expect("retried debit");
    let raised = take(&mut events, 1).await;
    nothing_more(&mut events).await;
    assert_eq!(kind(&raised[0]), p::EventKind::LowBalance);
    assert_eq!(app.store.count("events").await.unwrap(), 1);
}

crate::both_stores!(
    each_event_kind_arrives_once,
    resumed_subscription_misses_nothing,
    rolled_back_batch_emits_nothing,
);
